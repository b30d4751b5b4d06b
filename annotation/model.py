"""Typed model objects for fine-grained motion annotations: ``Stage``, ``Annotation`` and ``Provenance``.

A motion is cut into contiguous stages (``start_frame`` inclusive, ``end_frame`` exclusive); each stage
carries an overall text and one text per body part (canonical names from ``annotation.parts``). A text
is ``None`` where the source has none: HumanML3D captions, for example, describe only the whole body.
Objects are immutable; editing operations (``annotation.edit``) return new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from annotation.parts import PARTS, TEXT_FIELDS, resolve_text_field


@dataclass(frozen=True)
class Stage:
    """One stage of a motion: a frame interval and its eight texts (overall + seven body parts)."""

    start_frame: int = field(metadata={"description": "First frame of the stage (inclusive)."})
    end_frame: int = field(metadata={"description": "Frame after the last frame of the stage (exclusive)."})
    overall: str | None = field(
        default=None, metadata={"description": "What the whole body does in the stage."}
    )
    head: str | None = field(default=None, metadata={"description": "What the head does."})
    spine: str | None = field(default=None, metadata={"description": "What the spine and torso do."})
    left_arm: str | None = field(
        default=None, metadata={"description": "What the subject's own left arm does."}
    )
    right_arm: str | None = field(
        default=None, metadata={"description": "What the subject's own right arm does."}
    )
    left_leg: str | None = field(
        default=None, metadata={"description": "What the subject's own left leg does."}
    )
    right_leg: str | None = field(
        default=None, metadata={"description": "What the subject's own right leg does."}
    )
    trajectory: str | None = field(
        default=None, metadata={"description": "How the pelvis moves through space (the root trajectory)."}
    )
    #: ``word/POS`` tokens of the overall text where the source provides them (HumanML3D captions).
    tokens: tuple[str, ...] | None = field(default=None, metadata={"serialised": False})

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def texts(self) -> dict[str, str | None]:
        """All eight texts keyed by canonical field name, overall first."""
        return {name: getattr(self, name) for name in TEXT_FIELDS}

    @property
    def part_texts(self) -> dict[str, str | None]:
        """The seven body-part texts keyed by canonical part name."""
        return {name: getattr(self, name) for name in PARTS}

    def text(self, name: str) -> str | None:
        """The text of a field given by canonical or HuMMan name (``spine`` or ``stem``, ...)."""
        return getattr(self, resolve_text_field(name))

    def with_texts(self, texts: Mapping[str, str | None]) -> Stage:
        """A copy with some texts replaced; keys may be canonical or HuMMan names."""
        changes = {resolve_text_field(k): v for k, v in texts.items()}
        if "overall" in changes:
            changes["tokens"] = None  # tokens described the old overall text
        return replace(self, **changes)

    def with_frames(self, start_frame: int, end_frame: int) -> Stage:
        return replace(self, start_frame=start_frame, end_frame=end_frame)


@dataclass(frozen=True)
class Provenance:
    """Where an annotation came from, so a conversion can say what it was made of."""

    source: str  # "humman-mogen", "humanml3d", "edited", ...
    path: str | None = None
    sha256: str | None = None
    #: Serialisation details of a JSON file, kept so an unchanged annotation writes back byte for byte.
    json_style: JsonStyle | None = None


@dataclass(frozen=True)
class JsonStyle:
    """The layout of a JSON file as Python's ``json`` module would reproduce it."""

    indent: int | str | None = 4
    item_separator: str = ","
    key_separator: str = ": "
    ensure_ascii: bool = True
    trailing_newline: bool = False
    #: Order of the keys in the first stage (HuMMan spelling); later stages are written in the same order.
    key_order: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Annotation:
    """A motion's stages with their texts.

    ``num_frames`` is the length of the motion the stages cut up (``None`` if unknown, when the last
    stage's end is taken as the length). ``clip`` is set when this motion is a window ``[start, end)``
    of a longer source motion ``source_id``, as HumanML3D's timed captions are.
    """

    motion_id: str
    stages: tuple[Stage, ...]
    num_frames: int | None = None
    fps: float | None = None
    source_id: str | None = None
    clip: tuple[int, int] | None = None
    provenance: Provenance | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Accept any sequence of stages but store a tuple, so annotations stay hashable and immutable.
        if not isinstance(self.stages, tuple):
            object.__setattr__(self, "stages", tuple(self.stages))

    @property
    def length(self) -> int:
        """Frames in the motion: ``num_frames`` when known, else where the last stage ends."""
        if self.num_frames is not None:
            return self.num_frames
        return self.stages[-1].end_frame if self.stages else 0

    def replace(self, **changes) -> Annotation:
        return replace(self, **changes)
