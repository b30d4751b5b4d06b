"""What a model is asked to generate: one request per motion, a length and its stages with their texts.

Every model receives the same thing whatever the user typed: a caption is a one-stage annotation over the
whole motion (the project's rule, as in the training data), and a stages file (the HuMMan-MoGen
annotation format, validated by ``annotation``) gives several stages, each with an overall text and up to
seven part texts. Models that understand only one text per motion read ``request.caption``: the stages'
overall texts joined by a space, exactly as ``MotionDataset`` builds the caption of a staged row.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from annotation.model import Annotation, Stage
from mogen_bench.errors import MogenBenchError

#: How the overall texts of several stages become one caption (``MotionDataConfig.stage_joiner``).
STAGE_JOINER = " "


@dataclass(frozen=True)
class GenerationRequest:
    """One motion to generate: ``length`` frames cut into ``stages`` (contiguous, covering the motion)."""

    stages: tuple[Stage, ...]
    length: int

    @property
    def caption(self) -> str:
        overall = [stage.overall for stage in self.stages if stage.overall]
        return STAGE_JOINER.join(overall)

    def stage_of_frames(self) -> list[int]:
        """The stage index of every frame (what ``collate_motions`` calls ``stage_index``)."""
        index = []
        for number, stage in enumerate(self.stages):
            index.extend([number] * (stage.end_frame - stage.start_frame))
        return index


def _length(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MogenBenchError(
            f"{what} must be a whole number of frames >= 1, got {value!r}",
            field="length",
            fix="e.g. --length 120",
        )
    return value


def as_requests(
    conditions: Sequence[str | Annotation | Sequence[Stage]],
    lengths: int | Sequence[int | None] | None = None,
    max_frames: int | None = None,
) -> list[GenerationRequest]:
    """Requests from texts, annotations or stage lists, with one length each (or one for all).

    A text needs a length; stages bring their own (where the last stage ends), and a length given with
    them must agree. ``max_frames`` is the longest motion the model can make.
    """
    if isinstance(conditions, str | Annotation):
        conditions = [conditions]
    if not conditions:
        raise MogenBenchError(
            "nothing to generate: no text and no stages given",
            fix="give --text or --stages",
        )
    if lengths is None or isinstance(lengths, int):
        lengths = [lengths] * len(conditions)
    if len(lengths) != len(conditions):
        raise MogenBenchError(
            f"got {len(conditions)} conditions but {len(lengths)} lengths",
            field="length",
            fix="give one length per text, or one for all",
        )
    requests = []
    for number, (condition, length) in enumerate(zip(conditions, lengths, strict=True)):
        what = f"request {number}"
        if isinstance(condition, str):
            if not condition.strip():
                raise MogenBenchError(f"{what}: the text is empty", field="text", fix="give a description")
            if length is None:
                raise MogenBenchError(
                    f"{what}: a text needs a length", field="length", fix="e.g. --length 120"
                )
            length = _length(length, what)
            stages = (Stage(start_frame=0, end_frame=length, overall=condition),)
        else:
            stages = tuple(condition.stages if isinstance(condition, Annotation) else condition)
            if not stages:
                raise MogenBenchError(f"{what}: no stages", field="stages", fix="give at least one stage")
            if stages[0].start_frame != 0 or any(
                a.end_frame != b.start_frame for a, b in itertools.pairwise(stages)
            ):
                raise MogenBenchError(
                    f"{what}: stages must start at frame 0 and be contiguous",
                    field="stages",
                    fix="make each stage start where the previous one ends",
                )
            end = stages[-1].end_frame
            if length is not None and _length(length, what) != end:
                raise MogenBenchError(
                    f"{what}: --length {length} disagrees with the stages, which end at frame {end}",
                    field="length",
                    fix="leave out --length with --stages",
                )
            length = _length(end, what)
        if max_frames is not None and length > max_frames:
            raise MogenBenchError(
                f"{what}: {length} frames is longer than the model's maximum of {max_frames}",
                field="length",
                fix=f"ask for at most {max_frames} frames",
            )
        requests.append(GenerationRequest(stages=stages, length=length))
    return requests


def read_stages_file(path: str | Path, fps: float | None = None) -> Annotation:
    """A stages file in the HuMMan-MoGen annotation format (a JSON list of stages), validated.

    Part texts may be left out (``null`` or absent): a user describes only the parts they care about.
    """
    from annotation.humman_json import read_humman_json
    from annotation.validate import ValidationOptions

    return read_humman_json(path, fps=fps, options=ValidationOptions(allow_missing_parts=True))
