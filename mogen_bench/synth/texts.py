"""Texts of MoGen-Synth stages, written from the primitives that made the motion.

Each body part's text is one of several paraphrase templates of its primitive, filled with the side
(``left``/``right``, the subject's own), the direction, and words for the parameters: how far
(``slightly``/``deeply``), how fast (``slowly``/``quickly``), how often (``twice``). A part that does
nothing gets a neutral text, "stays" if it was already at rest and "returns" if the previous stage had
moved it, never an empty one. The overall text summarises the stage from at most three of its moving
parts (the trajectory first), so the part texts always say more than it does.

Templates never use "left" or "right" other than as sides or directions, so a mirrored copy's texts are
the originals with the two words swapped (``mirror_text``), which equals the texts of the mirrored
primitives.
"""

from __future__ import annotations

import re

import numpy as np

from mogen_bench.synth.catalogue import PART_KIND, Primitive, StageSpec, is_neutral
from mogen_bench.synth.primitives import timing

#: Part-text templates per (kind, primitive). Neutral primitives have ``stay`` and ``return`` variants.
PART_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("head", "still/stay"): (
        "The head stays still, facing forward.",
        "Keep the head steady and look straight ahead.",
        "The head remains in a neutral position.",
    ),
    ("head", "still/return"): (
        "The head returns to a neutral position.",
        "Bring the head back to face forward.",
        "The head moves back to look straight ahead.",
    ),
    ("head", "nod"): (
        "Nod the head up and down{how}{count}.",
        "The head nods{how}{count}.",
        "Move the head down and up{how}{count}.",
    ),
    ("head", "shake"): (
        "Shake the head from side to side{how}{count}.",
        "The head shakes left and right{how}{count}.",
        "Turn the head side to side as if saying no{how}{count}.",
    ),
    ("head", "turn"): (
        "Turn the head to the {dir}{how}.",
        "The head turns {dir}{how}.",
        "Look to the {dir} by turning the head{how}.",
    ),
    ("head", "look_up"): (
        "Tilt the head back and look up{how}.",
        "The head tilts upward{how}.",
        "Raise the chin and look up{how}.",
    ),
    ("head", "look_down"): (
        "Lower the head and look down{how}.",
        "The head bends down{how}.",
        "Drop the chin and look at the floor{how}.",
    ),
    ("head", "tilt"): (
        "Tilt the head to the {dir} side{how}.",
        "The head leans toward the {dir} shoulder{how}.",
        "Bend the neck sideways to the {dir}{how}.",
    ),
    ("spine", "still/stay"): (
        "Keep the spine straight and upright.",
        "The torso stays upright and still.",
        "The back remains straight.",
    ),
    ("spine", "still/return"): (
        "Straighten the torso back to upright.",
        "The spine returns to an upright position.",
        "Bring the upper body back to vertical.",
    ),
    ("spine", "bend_forward"): (
        "Bend the upper body forward{how}.",
        "The torso bends forward at the waist{how}.",
        "Lean the trunk forward{how}.",
    ),
    ("spine", "lean_back"): (
        "Lean the upper body backward{how}.",
        "The torso arches back{how}.",
        "Arch the back backward{how}.",
    ),
    ("spine", "lean_side"): (
        "Lean the upper body to the {dir}{how}.",
        "The torso bends sideways to the {dir}{how}.",
        "Tilt the trunk toward the {dir} side{how}.",
    ),
    ("spine", "twist"): (
        "Twist the upper body to the {dir}{how}.",
        "The torso rotates toward the {dir}{how}.",
        "Turn the chest and shoulders to the {dir}{how}.",
    ),
    ("spine", "sway"): (
        "Sway the upper body from side to side{how}{count}.",
        "The torso rocks left and right{how}{count}.",
        "Swing the trunk sideways back and forth{how}{count}.",
    ),
    ("arm", "rest/stay"): (
        "Keep the {side} arm relaxed by the side of the body.",
        "The {side} arm hangs down at the side.",
        "The {side} arm stays down and relaxed.",
    ),
    ("arm", "rest/return"): (
        "Lower the {side} arm back to the side of the body.",
        "The {side} arm comes back down to the side.",
        "Bring the {side} arm down and let it hang.",
    ),
    ("arm", "raise_forward"): (
        "Raise the {side} arm forward{how}.",
        "Lift the {side} arm up in front of the body{how}.",
        "The {side} arm rises forward{how}.",
    ),
    ("arm", "raise_side"): (
        "Raise the {side} arm out to the side{how}.",
        "Lift the {side} arm sideways{how}.",
        "The {side} arm rises out to the {side} side{how}.",
    ),
    ("arm", "overhead"): (
        "Raise the {side} arm straight above the head.",
        "Lift the {side} arm overhead.",
        "The {side} arm reaches up over the head.",
    ),
    ("arm", "wave"): (
        "Wave the {side} hand above the shoulder{how}{count}.",
        "The {side} arm is raised and waves from side to side{how}{count}.",
        "Raise the {side} arm and wave{how}{count}.",
    ),
    ("arm", "punch"): (
        "Punch forward with the {side} fist{how}{count}.",
        "The {side} arm throws a punch forward{how}{count}.",
        "Jab forward with the {side} hand{how}{count}.",
    ),
    ("arm", "circle"): (
        "Circle the {side} arm {dir}{how}{count}.",
        "The {side} arm circles {dir}{how}{count}.",
        "Rotate the {side} arm {dir} around the shoulder{how}{count}.",
    ),
    ("arm", "swing"): (
        "Swing the {side} arm back and forth{how}{count}.",
        "The {side} arm swings forward and backward{how}{count}.",
        "Let the {side} arm swing to the front and back{how}{count}.",
    ),
    ("leg", "stand/stay"): (
        "The {side} leg stands still, supporting the body.",
        "Keep the {side} foot planted on the ground.",
        "The {side} leg stays straight on the floor.",
    ),
    ("leg", "stand/return"): (
        "Put the {side} foot back down and stand on it.",
        "The {side} leg returns to a standing position.",
        "Bring the {side} leg back to stand straight.",
    ),
    ("leg", "step"): (
        "Step the {side} foot {dir} and back{how}{count}.",
        "The {side} leg takes a small step {dir} and returns{how}{count}.",
        "Tap the {side} foot {dir}{how}{count}.",
    ),
    ("leg", "kick"): (
        "Kick the {side} leg {dir}{how}{count}.",
        "The {side} leg kicks {dir}{how}{count}.",
        "Swing the {side} foot {dir} in a kick{how}{count}.",
    ),
    ("leg", "knee_lift"): (
        "Lift the {side} knee up{how}{count}.",
        "The {side} knee rises toward the chest{how}{count}.",
        "Raise the {side} leg with the knee bent{how}{count}.",
    ),
    ("leg", "squat"): (
        "Bend the {side} knee to squat down and straighten it again{count}.",
        "The {side} leg bends{how} at the knee in a squat{count}.",
        "Bend the {side} leg to lower the body, then stand up{count}.",
    ),
    ("leg", "walk"): (
        "Step {dir} with the {side} leg, alternating with the other leg{how}.",
        "The {side} leg walks {dir}{how}{lead}.",
        "Take steps {dir}, the {side} leg swinging through in turn{lead}.",
    ),
    ("leg", "side_step"): (
        "Step sideways to the {dir} with the {side} leg{lead}.",
        "The {side} leg moves in side steps to the {dir}{lead}.",
        "Shuffle the {side} foot to the {dir}{lead}.",
    ),
    ("leg", "turn_step"): (
        "The {side} foot takes small steps while the body turns {dir}.",
        "Step the {side} foot around to turn to the {dir}.",
        "Lift and place the {side} foot to pivot to the {dir}.",
    ),
    ("leg", "jump"): (
        "Bend the {side} knee and push off the ground to jump{count}.",
        "The {side} leg crouches, pushes off and lands again{count}.",
        "Spring up from the {side} leg and land on it{count}.",
    ),
    ("trajectory", "stand/stay"): (
        "The pelvis stays in place.",
        "The body remains in the same spot.",
        "Stand in place without moving the pelvis.",
    ),
    ("trajectory", "stand/return"): (
        "Stop and stay in place.",
        "The pelvis comes to rest and stays in place.",
        "The body stops moving and stands in place.",
    ),
    ("trajectory", "walk"): (
        "Walk {dir}{how} for {steps} steps.",
        "The pelvis travels {dir} while walking{how}.",
        "Move {dir} by walking{how}.",
    ),
    ("trajectory", "side_step"): (
        "Shuffle sideways to the {dir}{how}.",
        "The pelvis moves to the {dir} with side steps{how}.",
        "Take side steps to the {dir}{how}.",
    ),
    ("trajectory", "turn"): (
        "Turn to the {dir}{amount}.",
        "The pelvis rotates to the {dir}{amount}.",
        "Turn the body to the {dir} on the spot{amount}.",
    ),
    ("trajectory", "jump"): (
        "Jump {dir}{count}.",
        "The pelvis rises and falls as the body jumps {dir}{count}.",
        "Leap {dir} and land{count}.",
    ),
    ("trajectory", "squat"): (
        "Lower the pelvis into a squat and rise back up{count}.",
        "The pelvis moves down and up{count}.",
        "Squat down{how} and stand back up{count}.",
    ),
}

#: Direction words per (kind, primitive, direction); directions not listed are used as they are.
DIRECTION_WORDS: dict[tuple[str, str], dict[str, str]] = {
    ("leg", "step"): {"side": "out to the side"},
    ("leg", "kick"): {"side": "out to the side"},
    ("leg", "jump"): {"up": "in place"},
    ("trajectory", "jump"): {"up": "in place"},
}

#: Words for the three amplitude tiers (small, medium, large); "" says nothing.
AMOUNT_WORDS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("head", "nod"): ("slightly", "", "deeply"),
    ("head", "shake"): ("slightly", "", "widely"),
    ("head", "turn"): ("a little", "", "all the way"),
    ("head", "look_up"): ("a little", "", "as far as possible"),
    ("head", "look_down"): ("a little", "", "as far as possible"),
    ("head", "tilt"): ("a little", "", "strongly"),
    ("spine", "bend_forward"): ("slightly", "", "deeply"),
    ("spine", "lean_back"): ("a little", "", "a lot"),
    ("spine", "lean_side"): ("a little", "", "a lot"),
    ("spine", "twist"): ("a little", "", "strongly"),
    ("spine", "sway"): ("gently", "", "widely"),
    ("arm", "raise_forward"): ("just above shoulder height", "", "high"),
    ("arm", "raise_side"): ("just above shoulder height", "", "high"),
    ("arm", "wave"): ("gently", "", "widely"),
    ("arm", "circle"): ("in small circles", "", "in big circles"),
    ("arm", "swing"): ("gently", "", "widely"),
    ("arm", "punch"): ("lightly", "", "hard"),
    ("leg", "step"): ("slightly", "", "far"),
    ("leg", "kick"): ("low", "", "high"),
    ("leg", "knee_lift"): ("a little", "", "high"),
    ("leg", "squat"): ("slightly", "", "deeply"),
    ("leg", "walk"): ("with short strides", "", "with long strides"),
    ("trajectory", "walk"): ("with short strides", "", "with long strides"),
    ("trajectory", "squat"): ("slightly", "", "deeply"),
}
SPEED_WORDS: tuple[str, str, str] = ("slowly", "", "quickly")
TURN_AMOUNTS: tuple[str, str, str] = (" slightly", " by a quarter turn", " until facing backward")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
COUNT_WORDS = {1: "once", 2: "twice"}
#: Repeated movements whose texts say "once" when done once (elsewhere a single repetition goes unsaid).
SAY_ONCE: frozenset[tuple[str, str]] = frozenset(
    {("arm", "punch"), ("leg", "step"), ("leg", "kick"), ("leg", "knee_lift"), ("trajectory", "jump")}
    | {("trajectory", "squat")}
)

#: Overall-text phrases (third person, gerund) of moving primitives; ``{the_arm}`` becomes "the left arm"
#: or "both arms" (likewise ``{the_hand}``, ``{the_fist}``).
OVERALL_PHRASES: dict[tuple[str, str], tuple[str, str]] = {
    ("head", "nod"): ("nods", "nodding"),
    ("head", "shake"): ("shakes the head", "shaking the head"),
    ("head", "turn"): ("turns the head to the {dir}", "turning the head to the {dir}"),
    ("head", "look_up"): ("looks up", "looking up"),
    ("head", "look_down"): ("looks down", "looking down"),
    ("head", "tilt"): ("tilts the head to the {dir}", "tilting the head to the {dir}"),
    ("spine", "bend_forward"): ("bends forward", "bending forward"),
    ("spine", "lean_back"): ("leans back", "leaning back"),
    ("spine", "lean_side"): ("leans to the {dir}", "leaning to the {dir}"),
    ("spine", "twist"): ("twists the torso to the {dir}", "twisting the torso to the {dir}"),
    ("spine", "sway"): ("sways the upper body", "swaying the upper body"),
    ("arm", "raise_forward"): ("raises {the_arm} forward", "raising {the_arm} forward"),
    ("arm", "raise_side"): ("raises {the_arm} out to the side", "raising {the_arm} out to the side"),
    ("arm", "overhead"): ("lifts {the_arm} overhead", "lifting {the_arm} overhead"),
    ("arm", "wave"): ("waves {the_hand}", "waving {the_hand}"),
    ("arm", "punch"): ("punches with {the_fist}", "punching with {the_fist}"),
    ("arm", "circle"): ("circles {the_arm}", "circling {the_arm}"),
    ("arm", "swing"): ("swings {the_arm}", "swinging {the_arm}"),
    ("leg", "step"): ("steps {dir} with the {side} foot", "stepping {dir} with the {side} foot"),
    ("leg", "kick"): ("kicks {dir} with the {side} leg", "kicking {dir} with the {side} leg"),
    ("leg", "knee_lift"): ("lifts the {side} knee", "lifting the {side} knee"),
    ("trajectory", "walk"): ("walks {dir}", "walking {dir}"),
    ("trajectory", "side_step"): ("steps sideways to the {dir}", "stepping sideways to the {dir}"),
    ("trajectory", "turn"): ("turns to the {dir}", "turning to the {dir}"),
    ("trajectory", "turn_around"): ("turns around", "turning around"),
    ("trajectory", "jump"): ("jumps {dir}", "jumping {dir}"),
    ("trajectory", "squat"): ("squats down", "squatting down"),
}
SUBJECTS = ("A person", "Someone", "The person")
STILL_PREDICATES = ("stands still", "stands in place with the arms down", "stays still")
RETURN_PREDICATES = (
    "returns to a relaxed standing pose",
    "goes back to standing still",
    "relaxes back into a neutral stance",
)
#: Order in which moving parts are mentioned in an overall text.
OVERALL_PRIORITY = ("trajectory", "left_leg", "right_leg", "arms", "left_arm", "right_arm", "spine", "head")


def _tier(value: float) -> int:
    return 0 if value < 1 / 3 else 1 if value < 2 / 3 else 2


def _speed_tier(kind: str, p: Primitive) -> int | None:
    t = timing(kind, p.name)
    if t.kind == "periodic":
        low, high = t.low, t.high
    elif t.kind == "pulse":
        low, high = 1 / t.high, 1 / t.low
    else:
        return None
    return _tier(float(np.clip((p.speed - low) / (high - low), 0, 1)))


def count_words(count: int) -> str:
    """``once``, ``twice``, ``three times`` ... ``ten times``, then ``many times``."""
    if count in COUNT_WORDS:
        return COUNT_WORDS[count]
    return f"{NUMBER_WORDS[count]} times" if count < len(NUMBER_WORDS) else "many times"


def _slots(part: str, p: Primitive) -> dict[str, str]:
    kind = PART_KIND[part]
    key = (kind, p.name)
    amount = AMOUNT_WORDS[key][_tier(p.amplitude)] if key in AMOUNT_WORDS else ""
    speed_tier = _speed_tier(kind, p)
    speed = SPEED_WORDS[speed_tier] if speed_tier is not None else ""
    # Two adverbs join with "and" ("slightly and quickly"); an adverb goes before a phrase ("quickly with
    # long strides").
    if " " in amount:
        how = " ".join(w for w in (speed, amount) if w)
    else:
        how = " and ".join(w for w in (amount, speed) if w)
    direction = p.direction or ""
    lead = ""
    if p.name in ("walk", "side_step") and kind == "leg":
        leads = p.phase == 0.0 if p.name == "walk" else p.direction == part.split("_")[0]
        if p.name == "walk":
            lead = ", taking the first step" if leads else ", stepping after the other leg"
        else:
            lead = ", leading the movement" if leads else ", following the other leg"
    return {
        "side": part.split("_")[0] if kind in ("arm", "leg") else "",
        "dir": DIRECTION_WORDS.get(key, {}).get(direction, direction),
        "how": f" {how}" if how else "",
        "count": f" {count_words(p.count)}" if p.count > 1 or key in SAY_ONCE else "",
        "steps": NUMBER_WORDS[min(2 * p.count, 10)],
        "amount": TURN_AMOUNTS[_tier(p.amplitude)],
        "lead": lead,
    }


def _finish(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = text.replace(" ,", ",").replace(" .", ".")
    return text[0].upper() + text[1:]


def part_text(part: str, p: Primitive, previous: Primitive | None, rng: np.random.Generator) -> str:
    """The text of one body part in one stage (``previous``: the part's primitive in the stage before)."""
    kind = PART_KIND[part]
    name = p.name
    if is_neutral(part, p):
        moved = previous is not None and not is_neutral(part, previous)
        name = f"{name}/{'return' if moved else 'stay'}"
    templates = PART_TEMPLATES[(kind, name)]
    template = templates[int(rng.integers(len(templates)))]
    return _finish(template.format(**_slots(part, p)))


def _overall_items(stage: StageSpec) -> list[tuple[str, str, str]]:
    """``(priority key, present, gerund)`` of every moving part that an overall text may mention."""
    items = []
    prims = stage.primitives
    left, right = prims["left_arm"], prims["right_arm"]
    both_arms = (
        not is_neutral("left_arm", left) and left.name == right.name and left.direction == right.direction
    )
    for part, p in stage.parts:
        kind = PART_KIND[part]
        if is_neutral(part, p):
            continue
        key = (kind, p.name)
        if part == "trajectory" and p.name == "turn" and _tier(p.amplitude) == 2:
            key = ("trajectory", "turn_around")
        if key not in OVERALL_PHRASES:
            continue  # legs that follow the trajectory are described by it
        if both_arms and part == "right_arm":
            continue
        group = "arms" if both_arms and part == "left_arm" else part
        slots = _slots(part, p)
        side = slots["side"]
        slots.update(
            the_arm="both arms" if group == "arms" else f"the {side} arm",
            the_hand="both hands" if group == "arms" else f"the {side} hand",
            the_fist="both fists" if group == "arms" else f"the {side} fist",
        )
        present, gerund = (phrase.format(**slots) for phrase in OVERALL_PHRASES[key])
        items.append((group, present, gerund))
    items.sort(key=lambda item: OVERALL_PRIORITY.index(item[0]))
    return items


def overall_predicate(
    stage: StageSpec, previous: StageSpec | None, rng: np.random.Generator, max_extra: int = 2
) -> str:
    """What the whole body does, without the subject: "walks forward while waving the left hand".

    Besides the leading part at most ``max_extra`` other moving parts are mentioned.
    """
    items = _overall_items(stage)
    if not items:
        moved = previous is not None and any(not is_neutral(part, p) for part, p in previous.parts)
        choices = RETURN_PREDICATES if moved else STILL_PREDICATES
        return choices[int(rng.integers(len(choices)))]
    # The trajectory, when it moves, leads; otherwise any moving part may.
    first = 0 if items[0][0] == "trajectory" else int(rng.integers(len(items)))
    rest = [item for i, item in enumerate(items) if i != first]
    extra = min(int(rng.choice(3, p=(0.3, 0.45, 0.25))), max_extra)
    picked = sorted(rng.permutation(len(rest))[: min(extra, len(rest))].tolist())
    others = [rest[i] for i in picked]
    main = items[first][1]
    if not others:
        return main
    if rng.random() < 0.5:
        return f"{main} while {' and '.join(item[2] for item in others)}"
    return ", ".join([main] + [item[1] for item in others[:-1]]) + f" and {others[-1][1]}"


def overall_text(stage: StageSpec, previous: StageSpec | None, rng: np.random.Generator) -> str:
    subject = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
    return _finish(f"{subject} {overall_predicate(stage, previous, rng)}.")


def stage_texts(stage: StageSpec, previous: StageSpec | None, rng: np.random.Generator) -> dict[str, str]:
    """All nine texts of a stage, keyed by canonical field name."""
    texts = {"overall": overall_text(stage, previous, rng)}
    for part, p in stage.parts:
        texts[part] = part_text(part, p, previous[part] if previous else None, rng)
    return texts


def motion_caption(stages: tuple[StageSpec, ...], rng: np.random.Generator) -> str:
    """One whole-motion caption in HumanML3D's style: lower case, stages joined by "then"."""
    predicates = []
    for k, stage in enumerate(stages):
        # One extra part per stage at most, so a caption of several stages stays readable.
        predicates.append(overall_predicate(stage, stages[k - 1] if k else None, rng, max_extra=1))
    subject = SUBJECTS[int(rng.integers(len(SUBJECTS)))].lower()
    text = f"{subject} {predicates[0]}"
    for k, predicate in enumerate(predicates[1:], start=1):
        last = k == len(predicates) - 1 and k > 1
        connector = (
            ", and finally " if last else (", then ", " and then ", ", after that ")[int(rng.integers(3))]
        )
        text += connector + predicate
    return text + "."


_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def mirror_text(text: str) -> str:
    """``left`` <-> ``right`` (keeping capitalisation): the text of the mirrored motion."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        other = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return other.upper()
        return other.capitalize() if word[0].isupper() else other

    return _SIDE.sub(swap, text)
