"""Editing operations on annotations; each returns a new, valid annotation or raises.

FineMoGen edits a motion by rewriting its fine-grained description and regenerating, so these
operations change texts and stage timing: set a part's text, split a stage at a frame, merge two
neighbours, change a stage's length, insert or delete a stage. Operations that change a stage's
length shift every later stage and change the motion's length by the same number of frames.
Stage indices are 0-based; negative indices count from the end, as in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from annotation.errors import AnnotationError, MogenBenchError, Problem
from annotation.model import Annotation, Stage
from annotation.parts import OVERALL, PARTS, TEXT_FIELDS, resolve_text_field
from annotation.validate import ValidationOptions, check_annotation, is_missing_text


def set_text(
    annotation: Annotation, stage: int, part: str, text: str | None, options: ValidationOptions | None = None
) -> Annotation:
    """Replace one text (``overall`` or a body part, canonical or HuMMan name) of one stage."""
    index = _stage_index(annotation, stage)
    field = _field(part)
    stages = list(annotation.stages)
    stages[index] = stages[index].with_texts({field: text})
    return _finish(annotation, stages, 0, options)


def split_stage(
    annotation: Annotation,
    stage: int,
    at_frame: int,
    texts: Mapping[str, str | None] | None = None,
    options: ValidationOptions | None = None,
) -> Annotation:
    """Split a stage at ``at_frame`` (absolute frame, becomes the first frame of the second half).

    Both halves keep the stage's texts; ``texts`` replaces some of the second half's.
    """
    index = _stage_index(annotation, stage)
    original = annotation.stages[index]
    if not original.start_frame < at_frame < original.end_frame:
        raise _edit_error(
            f"cannot split stage {index} [{original.start_frame}, {original.end_frame}) at frame {at_frame}",
            index,
            "start_frame",
            f"split at a frame strictly between {original.start_frame} and {original.end_frame}",
        )
    first = original.with_frames(original.start_frame, at_frame)
    second = original.with_frames(at_frame, original.end_frame)
    if texts:
        second = second.with_texts(_texts(texts))
    stages = [*annotation.stages[:index], first, second, *annotation.stages[index + 1 :]]
    return _finish(annotation, stages, 0, options)


def merge_stages(
    annotation: Annotation,
    stage: int,
    texts: Mapping[str, str | None] | None = None,
    options: ValidationOptions | None = None,
) -> Annotation:
    """Merge stage ``stage`` with the stage after it.

    Each text of the merged stage is the two texts joined by a space (one copy if they are equal);
    ``texts`` replaces some of them.
    """
    index = _stage_index(annotation, stage)
    if index + 1 >= len(annotation.stages):
        raise _edit_error(
            f"stage {index} is the last stage; there is no next stage to merge it with",
            index,
            None,
            f"merge stage {index - 1} with its next instead" if index > 0 else "nothing to merge",
        )
    a, b = annotation.stages[index], annotation.stages[index + 1]
    joined = {name: _join(a.texts[name], b.texts[name]) for name in TEXT_FIELDS}
    merged = Stage(a.start_frame, b.end_frame, **joined)
    if a.tokens is not None and b.tokens is not None and joined[OVERALL] == a.overall:
        merged = replace(merged, tokens=a.tokens)
    if texts:
        merged = merged.with_texts(_texts(texts))
    stages = [*annotation.stages[:index], merged, *annotation.stages[index + 2 :]]
    return _finish(annotation, stages, 0, options)


def set_stage_length(
    annotation: Annotation, stage: int, num_frames: int, options: ValidationOptions | None = None
) -> Annotation:
    """Give a stage ``num_frames`` frames, shifting later stages; the motion grows or shrinks to match."""
    index = _stage_index(annotation, stage)
    _check_length(num_frames, index)
    original = annotation.stages[index]
    delta = num_frames - original.num_frames
    stages = list(annotation.stages)
    stages[index] = original.with_frames(original.start_frame, original.start_frame + num_frames)
    stages[index + 1 :] = _shifted(stages[index + 1 :], delta)
    return _finish(annotation, stages, delta, options)


def insert_stage(
    annotation: Annotation,
    index: int,
    num_frames: int,
    texts: Mapping[str, str | None],
    options: ValidationOptions | None = None,
) -> Annotation:
    """Insert a new stage of ``num_frames`` frames before stage ``index`` (``len(stages)`` appends).

    Later stages shift by ``num_frames`` and the motion grows by as much.
    """
    count = len(annotation.stages)
    position = index + count if index < 0 else index
    if not 0 <= position <= count:
        raise _edit_error(
            f"cannot insert at position {index}: the annotation has {count} stages",
            None,
            None,
            f"insert at a position from 0 to {count} ({count} appends)",
        )
    _check_length(num_frames, position)
    if position < count:
        start = annotation.stages[position].start_frame
    else:  # append right after the last stage (stages are contiguous), not at an uncovered tail's end
        start = annotation.stages[-1].end_frame if count else annotation.length
    new = Stage(start, start + num_frames, **_texts(texts))
    stages = [*annotation.stages[:position], new, *_shifted(annotation.stages[position:], num_frames)]
    return _finish(annotation, stages, num_frames, options)


def delete_stage(annotation: Annotation, stage: int, options: ValidationOptions | None = None) -> Annotation:
    """Remove a stage; later stages shift back and the motion shrinks by its length."""
    index = _stage_index(annotation, stage)
    if len(annotation.stages) == 1:
        raise _edit_error(
            "cannot delete the only stage", index, None, "an annotation needs at least one stage"
        )
    removed = annotation.stages[index]
    stages = [*annotation.stages[:index], *_shifted(annotation.stages[index + 1 :], -removed.num_frames)]
    return _finish(annotation, stages, -removed.num_frames, options)


def _stage_index(annotation: Annotation, stage: int) -> int:
    count = len(annotation.stages)
    if isinstance(stage, bool) or not isinstance(stage, int) or not -count <= stage < count:
        raise _edit_error(
            f"stage {stage!r} does not exist; the annotation has {count} stage{'s' if count != 1 else ''}",
            None,
            None,
            f"give a stage index from 0 to {count - 1}" if count else "add a stage first",
        )
    return stage % count


def _field(part: str) -> str:
    try:
        return resolve_text_field(part)
    except ValueError as exc:
        raise MogenBenchError(str(exc), field="part") from None


def _texts(texts: Mapping[str, str | None]) -> dict[str, str | None]:
    return {_field(name): text for name, text in texts.items()}


def _join(first: str | None, second: str | None) -> str | None:
    if is_missing_text(first) or first == second:  # a blank text is missing: join nothing to it
        return second
    if is_missing_text(second):
        return first
    return f"{first.rstrip()} {second.lstrip()}"


def _check_length(num_frames: int, index: int | None) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise _edit_error(
            f"a stage needs at least one frame, got {num_frames!r}",
            index,
            "num_frames",
            "give a positive length",
        )


def _shifted(stages, delta: int) -> list[Stage]:
    return [s.with_frames(s.start_frame + delta, s.end_frame + delta) for s in stages]


def _finish(
    annotation: Annotation, stages: list[Stage], delta: int, options: ValidationOptions | None
) -> Annotation:
    num_frames = None if annotation.num_frames is None else annotation.num_frames + delta
    # A length change means a different motion, so it is no longer the source window it was cut from.
    clip = annotation.clip if delta == 0 else None
    edited = replace(annotation, stages=tuple(stages), num_frames=num_frames, clip=clip)
    problems = check_annotation(edited, options or _tolerated(annotation))
    if problems:
        raise AnnotationError(problems)
    return edited


def _tolerated(annotation: Annotation) -> ValidationOptions:
    """By default an edit may keep texts missing that were already missing, and nothing more."""
    return ValidationOptions(
        allow_missing_parts=any(is_missing_text(s.texts[p]) for s in annotation.stages for p in PARTS),
        allow_missing_overall=any(is_missing_text(s.overall) for s in annotation.stages),
    )


def _edit_error(message: str, stage: int | None, field: str | None, fix: str | None) -> AnnotationError:
    return AnnotationError([Problem(message, stage=stage, field=field, fix=fix)])
