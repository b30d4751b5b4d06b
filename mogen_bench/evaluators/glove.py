"""The T2M evaluator's text input: GloVe word vectors plus a 15-way part-of-speech one-hot per token.

A re-implementation of Guo et al.'s ``utils/word_vectorizer.py`` (``WordVectorizer``) and of the token
padding in ``data/dataset.py`` (``Text2MotionDatasetV2.__getitem__``), reading the official files
``<dir>/our_vab_data.npy`` (vectors, ``(4199, 300)``), ``our_vab_words.pkl`` (list of words) and
``our_vab_idx.pkl`` (dict word -> row) without ``pickle.load`` (see ``safe_pickle``).

Tokens are HumanML3D's ``word/POS`` strings (spaCy universal POS, NOUN/VERB lemmatised). A token whose
word is in the vocabulary gets its vector, and the one-hot of its POS, unless the word is on one of the
official "VIP" lists, which override the POS with a special category. A word outside the vocabulary gets
the ``unk`` vector and the POS ``OTHER``, whatever its tag.

The POS list and the VIP word lists are the official ones. eval_protocol.md §3.3 gives the POS indices
and only the first words of each VIP list; the complete lists below are taken from the public copies
of ``utils/word_vectorizer.py`` in ``EricGuo5513/momask-codes`` and ``GuyTevet/motion-diffusion-model``
(identical; text-to-motion's own copy was not in the reference snapshot), including the duplicate
``dance`` in the action list, which changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluators.safe_pickle import safe_load

#: The 15 POS categories and their one-hot index (official ``POS_enumerator``).
POS_ENUMERATOR: dict[str, int] = {
    "VERB": 0,
    "NOUN": 1,
    "DET": 2,
    "ADP": 3,
    "NUM": 4,
    "AUX": 5,
    "PRON": 6,
    "ADJ": 7,
    "ADV": 8,
    "Loc_VIP": 9,
    "Body_VIP": 10,
    "Obj_VIP": 11,
    "Act_VIP": 12,
    "Desc_VIP": 13,
    "OTHER": 14,
}

# fmt: off
#: Words whose POS is replaced by a special category; checked in this order, the first list wins.
VIP_LISTS: dict[str, tuple[str, ...]] = {
    "Loc_VIP": (
        "left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
        "up", "down", "straight", "curve",
    ),
    "Body_VIP": (
        "arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
        "thigh",
    ),
    "Obj_VIP": (
        "stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball",
    ),
    "Act_VIP": (
        "walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
        "turn", "stumble", "dance", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel",
        "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread",
        "climb",
    ),
    "Desc_VIP": (
        "slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
        "angrily", "sadly",
    ),
}
# fmt: on

#: The official GloVe subset's file prefix, and the tokens it must hold.
PREFIX = "our_vab"
SPECIAL_WORDS = ("sos", "eos", "unk")
#: ``max_text_len`` of the official dataset options: at most 20 words, 22 tokens with sos/eos.
MAX_TEXT_LEN = 20
POS_DIM = len(POS_ENUMERATOR)

_VIP_OF_WORD: dict[str, str] = {}
for _category, _words in reversed(VIP_LISTS.items()):  # reversed, so the first list wins, as officially
    _VIP_OF_WORD.update(dict.fromkeys(_words, _category))


def pos_onehot(pos: str) -> np.ndarray:
    """The 15-d float32 one-hot of a POS tag or VIP category; unknown tags count as ``OTHER``."""
    out = np.zeros(POS_DIM, dtype=np.float32)
    out[POS_ENUMERATOR.get(pos, POS_ENUMERATOR["OTHER"])] = 1.0
    return out


def pad_tokens(tokens: Sequence[str], max_text_len: int = MAX_TEXT_LEN) -> tuple[list[str], int]:
    """Official sos/eos wrapping and ``unk`` padding: ``(max_text_len + 2 tokens, sent_len)``.

    Fewer than ``max_text_len`` words: ``sos + words + eos`` (``sent_len`` = that count) padded with
    ``unk/OTHER``; otherwise the first ``max_text_len`` words are kept and ``sent_len = max_text_len + 2``.
    ``sent_len`` is what the text GRU must run over (the ``cap_len`` pitfall: never the padded length).
    """
    tokens = list(tokens)
    if len(tokens) < max_text_len:
        tokens = ["sos/OTHER", *tokens, "eos/OTHER"]
        sent_len = len(tokens)
        tokens += ["unk/OTHER"] * (max_text_len + 2 - sent_len)
    else:
        tokens = ["sos/OTHER", *tokens[:max_text_len], "eos/OTHER"]
        sent_len = len(tokens)
    return tokens, sent_len


class WordVectorizer:
    """``word/POS`` token -> (300-d word vector, 15-d POS one-hot), as the official ``WordVectorizer``."""

    def __init__(
        self,
        vectors: np.ndarray,
        word2idx: Mapping[str, int],
        words: Sequence[str] | None = None,
        *,
        source: str = "<memory>",
    ) -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
            raise MogenBenchError(
                f"word vectors must be a 2-d float array, got {vectors.dtype} {vectors.shape}",
                file=source,
                field=f"{PREFIX}_data.npy",
                fix="use the official GloVe files (glove.zip)",
            )
        if not isinstance(word2idx, Mapping):
            raise MogenBenchError(
                f"the word index must be a dict word -> row, got {type(word2idx).__name__}",
                file=source,
                field=f"{PREFIX}_idx.pkl",
                fix="use the official GloVe files (glove.zip)",
            )
        words = list(word2idx) if words is None else list(words)
        vocab: dict[str, np.ndarray] = {}
        for word in words:
            row = word2idx.get(word) if isinstance(word, str) else None
            if row is None or isinstance(row, bool) or not isinstance(row, (int, np.integer)):
                raise MogenBenchError(
                    f"word {word!r} of the word list has no row in the word index",
                    file=source,
                    field=f"{PREFIX}_idx.pkl",
                    fix=f"{PREFIX}_words.pkl and {PREFIX}_idx.pkl must come from the same release",
                )
            if not 0 <= int(row) < vectors.shape[0]:
                raise MogenBenchError(
                    f"word {word!r} points at row {int(row)}, the vectors have {vectors.shape[0]} rows",
                    file=source,
                    field=f"{PREFIX}_data.npy",
                    fix=f"{PREFIX}_data.npy and {PREFIX}_idx.pkl must come from the same release",
                )
            vocab[word] = vectors[int(row)].astype(np.float32)
        missing = [w for w in SPECIAL_WORDS if w not in vocab]
        if missing:
            raise MogenBenchError(
                f"the vocabulary lacks the special tokens {missing}",
                file=source,
                field=f"{PREFIX}_words.pkl",
                fix="use the official GloVe subset, which holds sos, eos and unk",
            )
        self.word2vec = vocab
        self.word2idx = {w: int(word2idx[w]) for w in vocab}
        self.dim = int(vectors.shape[1])
        self.source = source

    @classmethod
    def from_dir(cls, glove_dir: str | Path, prefix: str = PREFIX) -> WordVectorizer:
        """Read ``<glove_dir>/<prefix>_data.npy``, ``_words.pkl`` and ``_idx.pkl`` (the official layout)."""
        glove_dir = Path(glove_dir)
        data_path = glove_dir / f"{prefix}_data.npy"
        try:
            vectors = np.load(data_path, allow_pickle=False)
        except FileNotFoundError as exc:
            raise MogenBenchError(
                "GloVe vectors not found",
                file=str(data_path),
                fix="unpack the official glove.zip and pass its folder",
            ) from exc
        except ValueError as exc:
            raise MogenBenchError(f"not a plain numpy array file: {exc}", file=str(data_path)) from exc
        words = safe_load(glove_dir / f"{prefix}_words.pkl")
        word2idx = safe_load(glove_dir / f"{prefix}_idx.pkl")
        if not isinstance(words, (list, tuple)):
            raise MogenBenchError(
                f"expected a list of words, got {type(words).__name__}",
                file=str(glove_dir / f"{prefix}_words.pkl"),
            )
        return cls(vectors, word2idx, words, source=str(glove_dir))

    def __len__(self) -> int:
        return len(self.word2vec)

    def __contains__(self, word: object) -> bool:
        return word in self.word2vec

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """``(word vector float32 (dim,), POS one-hot float32 (15,))`` of one ``word/POS`` token."""
        parts = token.split("/")
        if len(parts) != 2:
            raise MogenBenchError(
                f"token {token!r} is not of the form word/POS",
                field="tokens",
                fix="tokens come from HumanML3D texts: 'word/POS' separated by spaces",
            )
        word, pos = parts
        if word not in self.word2vec:
            return self.word2vec["unk"], pos_onehot("OTHER")
        return self.word2vec[word], pos_onehot(_VIP_OF_WORD.get(word, pos))

    def encode(
        self, tokens: Sequence[str], max_text_len: int = MAX_TEXT_LEN
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """One sentence -> ``(word_embs (L, dim), pos_onehot (L, 15), sent_len)``, L = max_text_len + 2."""
        padded, sent_len = pad_tokens(tokens, max_text_len)
        pairs = [self[t] for t in padded]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), sent_len

    def encode_batch(
        self, sentences: Sequence[Sequence[str]], max_text_len: int = MAX_TEXT_LEN
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Many sentences, in the given order: ``(B, L, dim)``, ``(B, L, 15)``, ``sent_lens (B,) int64``."""
        encoded = [self.encode(s, max_text_len) for s in sentences]
        if not encoded:
            length = max_text_len + 2
            empty = np.zeros((0, length, self.dim), np.float32), np.zeros((0, length, POS_DIM), np.float32)
            return (*empty, np.zeros(0, np.int64))
        return (
            np.stack([e[0] for e in encoded]),
            np.stack([e[1] for e in encoded]),
            np.array([e[2] for e in encoded], dtype=np.int64),
        )
