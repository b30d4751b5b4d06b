"""The vocabulary of MoGen-Synth: which movement primitives each body part can perform, and their parameters.

A stage gives every one of the seven body parts (``annotation.parts.PARTS``) one ``Primitive``: a catalogue
name (``raise_forward``, ``nod``, ``walk``, ...) plus continuous parameters. Arms and legs share one
catalogue per limb kind; a primitive is always described from the limb's own point of view, so the left
and the right arm run the same code (the right one mirrored, see ``primitives``).

Some leg primitives are not free: walking, side-stepping, turning, jumping and squatting are whole-body
movements chosen by the trajectory, which then fixes both legs (``COUPLED_LEGS``). Everything else moves
independently, so a stage's part texts say things its overall text does not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from annotation.parts import PARTS

#: Which catalogue a body part draws from.
PART_KIND: dict[str, str] = {
    "head": "head",
    "spine": "spine",
    "left_arm": "arm",
    "right_arm": "arm",
    "left_leg": "leg",
    "right_leg": "leg",
    "trajectory": "trajectory",
}

#: The primitive names of each kind; the first is the neutral one (the part does nothing).
CATALOGUE: dict[str, tuple[str, ...]] = {
    "head": ("still", "nod", "shake", "turn", "look_up", "look_down", "tilt"),
    "spine": ("still", "bend_forward", "lean_back", "lean_side", "twist", "sway"),
    "arm": ("rest", "raise_forward", "raise_side", "overhead", "wave", "punch", "circle", "swing"),
    "leg": ("stand", "step", "kick", "knee_lift", "squat", "walk", "side_step", "turn_step", "jump"),
    "trajectory": ("stand", "walk", "side_step", "turn", "jump", "squat"),
}

NEUTRAL: dict[str, str] = {kind: names[0] for kind, names in CATALOGUE.items()}

#: Leg primitives that only occur as the legs' share of a trajectory primitive (trajectory -> legs).
COUPLED_LEGS: dict[str, str] = {
    "walk": "walk",
    "side_step": "side_step",
    "turn": "turn_step",
    "jump": "jump",
    "squat": "squat",
}

#: Leg primitives a standing subject performs with one leg while the other one carries the body.
FREE_LEG_PRIMITIVES: tuple[str, ...] = ("step", "kick", "knee_lift")

#: Primitives that move to a pose and hold it. Repeating one in the next stage would leave the part still
#: while its text says it moves, so the sampler never does that.
HELD: frozenset[tuple[str, str]] = frozenset(
    {
        ("head", "turn"),
        ("head", "look_up"),
        ("head", "look_down"),
        ("head", "tilt"),
        ("spine", "bend_forward"),
        ("spine", "lean_back"),
        ("spine", "lean_side"),
        ("spine", "twist"),
        ("arm", "raise_forward"),
        ("arm", "raise_side"),
        ("arm", "overhead"),
    }
)

#: The directions a primitive takes (the first is the default). ``left``/``right`` are the subject's own and
#: swap under mirroring; ``side`` for a limb means "out to that limb's own side" and does not.
DIRECTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("head", "turn"): ("left", "right"),
    ("head", "tilt"): ("left", "right"),
    ("spine", "lean_side"): ("left", "right"),
    ("spine", "twist"): ("left", "right"),
    ("arm", "circle"): ("forward", "backward"),
    ("leg", "step"): ("forward", "side", "backward"),
    ("leg", "kick"): ("forward", "side", "backward"),
    ("leg", "walk"): ("forward", "backward"),
    ("leg", "side_step"): ("left", "right"),
    ("leg", "turn_step"): ("left", "right"),
    ("leg", "jump"): ("up", "forward"),
    ("trajectory", "walk"): ("forward", "backward"),
    ("trajectory", "side_step"): ("left", "right"),
    ("trajectory", "turn"): ("left", "right"),
    ("trajectory", "jump"): ("up", "forward"),
}

#: Arm primitives that hold the hand above the shoulder.
RAISED_ARMS: tuple[str, ...] = ("raise_forward", "raise_side", "overhead", "wave")

#: Pairs of (kind, primitive) never performed together, because the motion would contradict a text: a
#: raised arm on a torso bent deeply forward points at the floor.
INCOMPATIBLE: frozenset[frozenset[tuple[str, str]]] = frozenset(
    frozenset({("spine", "bend_forward"), ("arm", name)}) for name in RAISED_ARMS
)

_SWAP = {"left": "right", "right": "left"}
_SWAP_PART = {
    "left_arm": "right_arm",
    "right_arm": "left_arm",
    "left_leg": "right_leg",
    "right_leg": "left_leg",
}


@dataclass(frozen=True)
class Primitive:
    """One body part's movement during one stage.

    ``amplitude`` in [0, 1] places the movement inside the primitive's range of angles (or distances);
    ``count`` is how many repetitions (pulses or cycles) fit in the stage, so the movement always ends
    where it started a cycle; ``speed`` is the resulting repetitions per second. ``phase`` (0 or 0.5)
    says which limb of a pair leads in an alternating movement (walking, swinging both arms).
    """

    name: str
    direction: str | None = None
    amplitude: float = 0.5
    speed: float = 0.0
    count: int = 1
    phase: float = 0.0

    @property
    def label(self) -> str:
        """``name`` or ``name:direction``, the compact label recorded in ``synth.json``."""
        return self.name if self.direction is None else f"{self.name}:{self.direction}"

    def mirrored(self) -> Primitive:
        """The same movement seen in a mirror: left and right directions swap."""
        return replace(self, direction=_SWAP.get(self.direction, self.direction)) if self.direction else self


def mirror_part(part: str) -> str:
    """The body part on the other side (``left_arm`` <-> ``right_arm``); midline parts map to themselves."""
    return _SWAP_PART.get(part, part)


def is_neutral(part: str, primitive: Primitive) -> bool:
    return primitive.name == NEUTRAL[PART_KIND[part]]


def is_held(part: str, primitive: Primitive) -> bool:
    return (PART_KIND[part], primitive.name) in HELD


@dataclass(frozen=True)
class StageSpec:
    """What every body part does in one stage, and how long the stage lasts (in frames)."""

    num_frames: int
    parts: tuple[tuple[str, Primitive], ...]
    #: Frames over which the stage's pose is blended in from the previous stage's last pose (at least;
    #: ``assemble`` lengthens the blend of a big change of pose, up to half the stage).
    blend_frames: int

    def __post_init__(self) -> None:
        if tuple(name for name, _ in self.parts) != PARTS:
            raise ValueError(f"a stage needs one primitive per part in the order {PARTS}")

    def __getitem__(self, part: str) -> Primitive:
        return dict(self.parts)[part]

    @property
    def primitives(self) -> dict[str, Primitive]:
        return dict(self.parts)

    def labels(self) -> list[str]:
        """One label per part, in ``PARTS`` order."""
        return [p.label for _, p in self.parts]

    def mirrored(self) -> StageSpec:
        """The stage of the mirrored motion: limbs trade sides and left/right directions swap."""
        mapping = self.primitives
        parts = tuple((part, mapping[mirror_part(part)].mirrored()) for part in PARTS)
        return replace(self, parts=parts)


def compatible(primitives: dict[str, Primitive]) -> bool:
    """Whether no two parts perform an ``INCOMPATIBLE`` pair."""
    kinds = {(PART_KIND[part], p.name) for part, p in primitives.items()}
    return not any(pair <= kinds for pair in INCOMPATIBLE)


def stage_spec(num_frames: int, primitives: dict[str, Primitive], blend_frames: int) -> StageSpec:
    """A ``StageSpec`` from a part -> primitive mapping (any order)."""
    return StageSpec(num_frames, tuple((part, primitives[part]) for part in PARTS), blend_frames)
