"""Semantic checks of an ``Annotation``: stage frames, ordering, coverage and texts.

Format-level checks (JSON syntax, unknown or duplicate keys, the redundant ``num_frames`` key) belong
to the reader of each format; this module checks what every annotation must satisfy whatever it was
read from, and reports every problem with its stage index and field instead of stopping at the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from annotation.errors import AnnotationError, Problem
from annotation.model import Annotation, Stage
from annotation.parts import HUMMAN_KEYS, OVERALL


@dataclass(frozen=True)
class ValidationOptions:
    """What a caller tolerates. The defaults are the HuMMan-MoGen contract: every text present."""

    #: Body-part texts may be missing (``None`` or blank), as in HumanML3D-style whole-body captions.
    allow_missing_parts: bool = False
    #: The overall text may be missing (part-only annotations).
    allow_missing_overall: bool = False
    #: Stages must start at frame 0 and end at the motion's last frame.
    require_full_coverage: bool = True


def is_valid_frame(value: object) -> bool:
    """A frame index is a non-negative ``int`` (``bool`` is not a frame)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_missing_text(text: object) -> bool:
    """A text is missing when it is ``None`` or only whitespace (a non-string is wrong, not missing)."""
    return text is None or (isinstance(text, str) and not text.strip())


def describe_bad_frame(value: object) -> str:
    """Why ``value`` is not a frame index, phrased for an error message."""
    if isinstance(value, float) and math.isnan(value):
        return "is NaN"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be an integer, got {type(value).__name__} {value!r}"
    if value < 0:
        return f"is negative ({value!r})"
    return f"must be an integer, got {value!r}"


def check_annotation(
    annotation: Annotation, options: ValidationOptions | None = None, *, file: str | None = None
) -> list[Problem]:
    """Every problem with ``annotation``; an empty list means it is valid."""
    options = options or ValidationOptions()
    file = file if file is not None else _provenance_path(annotation)
    problems: list[Problem] = []

    def report(message: str, stage: int | None = None, field: str | None = None, fix: str | None = None):
        problems.append(Problem(message, file=file, stage=stage, field=field, fix=fix))

    if not annotation.stages:
        report("the annotation has no stages", fix="add at least one stage covering the motion")
        return problems
    if annotation.num_frames is not None and not (
        is_valid_frame(annotation.num_frames) and annotation.num_frames > 0
    ):
        report(
            f"the motion's frame count {describe_bad_frame(annotation.num_frames)}",
            field="num_frames",
            fix="give the motion's length as a positive integer",
        )
        return problems

    frames_ok = True
    for index, stage in enumerate(annotation.stages):
        frames_ok &= _check_stage_frames(stage, index, report)
        _check_stage_texts(stage, index, options, report)
    if frames_ok:
        _check_ordering(annotation, options, report)
    _check_clip(annotation, report)
    return problems


def assert_valid(annotation: Annotation, options: ValidationOptions | None = None) -> Annotation:
    """Return ``annotation`` if valid, else raise ``AnnotationError`` with every problem."""
    problems = check_annotation(annotation, options)
    if problems:
        raise AnnotationError(problems)
    return annotation


def _provenance_path(annotation: Annotation) -> str | None:
    return annotation.provenance.path if annotation.provenance else None


def _check_stage_frames(stage: Stage, index: int, report) -> bool:
    ok = True
    for name in ("start_frame", "end_frame"):
        value = getattr(stage, name)
        if not is_valid_frame(value):
            report(
                f"{name} {describe_bad_frame(value)}", index, name, "use a non-negative integer frame index"
            )
            ok = False
    if ok and stage.end_frame <= stage.start_frame:
        report(
            f"the stage is empty: end_frame ({stage.end_frame}) must be greater than "
            f"start_frame ({stage.start_frame})",
            index,
            "end_frame",
            "give the stage at least one frame, or delete it",
        )
        ok = False
    return ok


def _check_stage_texts(stage: Stage, index: int, options: ValidationOptions, report) -> None:
    for name, text in stage.texts.items():
        allowed_missing = options.allow_missing_overall if name == OVERALL else options.allow_missing_parts
        if is_missing_text(text):
            if not allowed_missing:
                what = "overall text" if name == OVERALL else f"text of body part {name!r}"
                report(
                    f"the {what} (HuMMan-MoGen key {HUMMAN_KEYS[name]!r}) is missing or blank",
                    index,
                    name,
                    "write a description for it",
                )
        elif not isinstance(text, str):
            report(
                f"text must be a string, got {type(text).__name__}",
                index,
                name,
                "write the description as a JSON string",
            )
    if stage.tokens is not None and not all(isinstance(t, str) for t in stage.tokens):
        report("tokens must be strings of the form word/POS", index, "tokens")


def _check_ordering(annotation: Annotation, options: ValidationOptions, report) -> None:
    stages = annotation.stages
    if options.require_full_coverage and stages[0].start_frame != 0:
        report(
            f"the first stage starts at frame {stages[0].start_frame}, not 0, so frames "
            f"0-{stages[0].start_frame - 1} have no stage",
            0,
            "start_frame",
            "start the first stage at frame 0",
        )
    for index in range(1, len(stages)):
        before, stage = stages[index - 1], stages[index]
        if stage.start_frame < before.start_frame:
            report(
                f"stages are out of order: this stage starts at frame {stage.start_frame}, before stage "
                f"{index - 1} (frame {before.start_frame})",
                index,
                "start_frame",
                "sort the stages by start_frame",
            )
        elif stage.start_frame > before.end_frame:
            report(
                f"gap of {stage.start_frame - before.end_frame} frames: stage {index - 1} ends at frame "
                f"{before.end_frame} (exclusive) but this stage starts at {stage.start_frame}",
                index,
                "start_frame",
                f"set start_frame to {before.end_frame} so the stages are contiguous",
            )
        elif stage.start_frame < before.end_frame:
            report(
                f"overlaps stage {index - 1}: that stage ends at frame {before.end_frame} (exclusive) but "
                f"this one starts at {stage.start_frame}",
                index,
                "start_frame",
                f"set start_frame to {before.end_frame} (end_frame is exclusive)",
            )
    if annotation.num_frames is None:
        return
    last = len(stages) - 1
    for index, stage in enumerate(stages):
        if stage.end_frame > annotation.num_frames:
            report(
                f"end_frame {stage.end_frame} is past the end of the motion ({annotation.num_frames} frames)",
                index,
                "end_frame",
                f"end the stage at frame {annotation.num_frames} at most (end_frame is exclusive)",
            )
            return
    if options.require_full_coverage and stages[last].end_frame < annotation.num_frames:
        report(
            f"the last stage ends at frame {stages[last].end_frame} but the motion has "
            f"{annotation.num_frames} frames, so the tail has no stage",
            last,
            "end_frame",
            f"end the last stage at frame {annotation.num_frames}",
        )


def _check_clip(annotation: Annotation, report) -> None:
    if annotation.clip is None:
        return
    start, end = annotation.clip
    if not (is_valid_frame(start) and is_valid_frame(end) and end > start):
        report(
            f"clip window {annotation.clip!r} is not a non-empty [start, end) frame interval", field="clip"
        )
    elif annotation.num_frames is not None and end - start != annotation.num_frames:
        report(
            f"clip window {annotation.clip!r} has {end - start} frames but num_frames is "
            f"{annotation.num_frames}",
            field="clip",
        )


__all__ = [
    "ValidationOptions",
    "assert_valid",
    "check_annotation",
    "describe_bad_frame",
    "is_missing_text",
    "is_valid_frame",
]
