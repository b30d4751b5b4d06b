"""``word/POS`` tokens for MoGen-Synth captions, as HumanML3D's ``text_process.py`` writes them.

HumanML3D tags its captions with spaCy (``en_core_web_sm``): hyphens removed, tokens that are not purely
alphabetic dropped, NOUN and VERB tokens replaced by their lemma (except the word "left"), every token
followed by its universal POS tag. The synthetic captions come from a closed vocabulary of templates, so
the tags are written down here once, word by word, instead of running a tagger; a word outside the
vocabulary is a bug in the templates and raises ``KeyError`` (the tests generate many captions).
"""

from __future__ import annotations

import re

#: word -> (universal POS tag, lemma). Lemmas matter only for NOUN and VERB (HumanML3D keeps other words).
LEXICON: dict[str, tuple[str, str]] = {
    # determiners, pronouns, conjunctions, adpositions
    "a": ("DET", "a"),
    "the": ("DET", "the"),
    "both": ("DET", "both"),
    "someone": ("PRON", "someone"),
    "that": ("PRON", "that"),
    "and": ("CCONJ", "and"),
    "while": ("SCONJ", "while"),
    "to": ("ADP", "to"),
    "with": ("ADP", "with"),
    "in": ("ADP", "in"),
    "into": ("ADP", "into"),
    "after": ("ADP", "after"),
    "up": ("ADP", "up"),
    "out": ("ADP", "out"),
    # adverbs
    "then": ("ADV", "then"),
    "finally": ("ADV", "finally"),
    "still": ("ADV", "still"),
    "down": ("ADV", "down"),
    "back": ("ADV", "back"),
    "forward": ("ADV", "forward"),
    "backward": ("ADV", "backward"),
    "sideways": ("ADV", "sideways"),
    "around": ("ADV", "around"),
    "overhead": ("ADV", "overhead"),
    # adjectives
    "left": ("ADJ", "left"),
    "right": ("ADJ", "right"),
    "upper": ("ADJ", "upper"),
    "relaxed": ("ADJ", "relaxed"),
    "neutral": ("ADJ", "neutral"),
    # nouns
    "person": ("NOUN", "person"),
    "place": ("NOUN", "place"),
    "pose": ("NOUN", "pose"),
    "stance": ("NOUN", "stance"),
    "side": ("NOUN", "side"),
    "head": ("NOUN", "head"),
    "torso": ("NOUN", "torso"),
    "body": ("NOUN", "body"),
    "arm": ("NOUN", "arm"),
    "arms": ("NOUN", "arm"),
    "hand": ("NOUN", "hand"),
    "hands": ("NOUN", "hand"),
    "fist": ("NOUN", "fist"),
    "fists": ("NOUN", "fist"),
    "leg": ("NOUN", "leg"),
    "foot": ("NOUN", "foot"),
    "knee": ("NOUN", "knee"),
    # verbs
    "stands": ("VERB", "stand"),
    "standing": ("VERB", "stand"),
    "stays": ("VERB", "stay"),
    "returns": ("VERB", "return"),
    "goes": ("VERB", "go"),
    "relaxes": ("VERB", "relax"),
    "nods": ("VERB", "nod"),
    "nodding": ("VERB", "nod"),
    "shakes": ("VERB", "shake"),
    "shaking": ("VERB", "shake"),
    "turns": ("VERB", "turn"),
    "turning": ("VERB", "turn"),
    "looks": ("VERB", "look"),
    "looking": ("VERB", "look"),
    "tilts": ("VERB", "tilt"),
    "tilting": ("VERB", "tilt"),
    "bends": ("VERB", "bend"),
    "bending": ("VERB", "bend"),
    "leans": ("VERB", "lean"),
    "leaning": ("VERB", "lean"),
    "twists": ("VERB", "twist"),
    "twisting": ("VERB", "twist"),
    "sways": ("VERB", "sway"),
    "swaying": ("VERB", "sway"),
    "raises": ("VERB", "raise"),
    "raising": ("VERB", "raise"),
    "lifts": ("VERB", "lift"),
    "lifting": ("VERB", "lift"),
    "waves": ("VERB", "wave"),
    "waving": ("VERB", "wave"),
    "punches": ("VERB", "punch"),
    "punching": ("VERB", "punch"),
    "circles": ("VERB", "circle"),
    "circling": ("VERB", "circle"),
    "swings": ("VERB", "swing"),
    "swinging": ("VERB", "swing"),
    "steps": ("VERB", "step"),
    "stepping": ("VERB", "step"),
    "kicks": ("VERB", "kick"),
    "kicking": ("VERB", "kick"),
    "walks": ("VERB", "walk"),
    "walking": ("VERB", "walk"),
    "jumps": ("VERB", "jump"),
    "jumping": ("VERB", "jump"),
    "squats": ("VERB", "squat"),
    "squatting": ("VERB", "squat"),
}

#: After "to the", "left" and "right" name a direction (spaCy tags them NOUN there), else a side (ADJ).
_DIRECTION_NOUN = {"left", "right"}


def tokenize(caption: str) -> list[str]:
    """``word/POS`` tokens of a caption, as HumanML3D's ``process_text`` makes them."""
    words = [w for w in re.split(r"[\s,.;:!?]+", caption.replace("-", "").lower()) if w.isalpha()]
    tokens = []
    for i, word in enumerate(words):
        pos, lemma = LEXICON[word]
        if word in _DIRECTION_NOUN and i >= 2 and words[i - 2 : i] == ["to", "the"]:
            pos = "NOUN"
        # HumanML3D keeps "left" as written even where it would lemmatise it.
        token = lemma if pos in ("NOUN", "VERB") and word != "left" else word
        tokens.append(f"{token}/{pos}")
    return tokens
