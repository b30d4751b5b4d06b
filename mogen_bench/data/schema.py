"""The row schema of a prepared dataset's Parquet shards, and the in-memory record a source produces.

One row is one motion (DESIGN.md, "Data contract"). ``features`` is a list of fixed-size float32 frames,
so a reader reaches the whole column as one flat, memory-mapped float32 buffer plus row offsets, and the
Hugging Face ``datasets`` Parquet loader reads it as ``Sequence(Sequence(float32, length=dims))``.
``stages`` carries the stage bounds and the nine texts (null where a source has none); ``captions``
carries whole-clip captions with their optional ``word/POS`` tokens (HumanML3D-style sources).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from annotation.model import Stage
from annotation.parts import TEXT_FIELDS

#: Bumped whenever the row schema or the meaning of a column changes.
SCHEMA_VERSION = 1

STAGE_TYPE = pa.struct(
    [
        pa.field("start_frame", pa.int32(), nullable=False),
        pa.field("end_frame", pa.int32(), nullable=False),
        *(pa.field(name, pa.string()) for name in TEXT_FIELDS),
        pa.field("tokens", pa.list_(pa.string())),
    ]
)

CAPTION_TYPE = pa.struct(
    [
        pa.field("text", pa.string(), nullable=False),
        pa.field("tokens", pa.list_(pa.string())),
        # The caption's window in the source clip, in seconds; 0.0 / 0.0 is the whole clip (HumanML3D's rule).
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
    ]
)


def row_schema(dims: int) -> pa.Schema:
    """The Arrow schema of a shard whose features have ``dims`` dimensions per frame."""
    return pa.schema(
        [
            pa.field("motion_id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("source_id", pa.string(), nullable=False),
            pa.field("mirrored", pa.bool_(), nullable=False),
            pa.field("fps", pa.float32(), nullable=False),
            pa.field("num_frames", pa.int32(), nullable=False),
            pa.field("features", pa.list_(pa.list_(pa.float32(), dims)), nullable=False),
            pa.field("stages", pa.list_(STAGE_TYPE)),
            pa.field("captions", pa.list_(CAPTION_TYPE)),
        ]
    )


@dataclass(frozen=True)
class Caption:
    """A whole-clip caption with its optional ``word/POS`` tokens and its window in the source clip."""

    text: str
    tokens: tuple[str, ...] | None = None
    start: float = 0.0
    end: float = 0.0


@dataclass
class MotionRecord:
    """One motion as a source hands it to the writer: features ``(T, dims)`` float32 and its texts."""

    motion_id: str
    split: str
    source_id: str
    features: np.ndarray
    fps: float
    mirrored: bool = False
    stages: Sequence[Stage] | None = None
    captions: Sequence[Caption] | None = None
    #: Free-form facts about the item for the dataset report (not stored in the row).
    notes: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class Skipped:
    """An input item a source did not turn into a row, and why; recorded in ``dataset.json``."""

    item: str
    reason: str
    file: str | None = None


def _stage_row(stage: Stage) -> dict:
    row = {"start_frame": stage.start_frame, "end_frame": stage.end_frame}
    row.update(stage.texts)
    row["tokens"] = list(stage.tokens) if stage.tokens is not None else None
    return row


def _caption_row(caption: Caption) -> dict:
    tokens = list(caption.tokens) if caption.tokens is not None else None
    return {"text": caption.text, "tokens": tokens, "start": caption.start, "end": caption.end}


def records_to_table(records: Sequence[MotionRecord], dims: int) -> pa.Table:
    """An Arrow table of ``records`` in the row schema; features go in as one flat buffer, not as lists."""
    schema = row_schema(dims)
    lengths = np.array([r.num_frames for r in records], dtype=np.int64)
    flat = (
        np.concatenate([np.ascontiguousarray(r.features, dtype=np.float32).reshape(-1) for r in records])
        if records
        else np.zeros(0, np.float32)
    )
    frames = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dims)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    features = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), frames, type=schema.field("features").type
    )
    columns = {
        "motion_id": pa.array([r.motion_id for r in records], pa.string()),
        "split": pa.array([r.split for r in records], pa.string()),
        "source_id": pa.array([r.source_id for r in records], pa.string()),
        "mirrored": pa.array([bool(r.mirrored) for r in records], pa.bool_()),
        "fps": pa.array([float(r.fps) for r in records], pa.float32()),
        "num_frames": pa.array(lengths, pa.int32()),
        "features": features,
        "stages": pa.array(
            [None if r.stages is None else [_stage_row(s) for s in r.stages] for r in records],
            schema.field("stages").type,
        ),
        "captions": pa.array(
            [None if r.captions is None else [_caption_row(c) for c in r.captions] for r in records],
            schema.field("captions").type,
        ),
    }
    return pa.Table.from_pydict(columns, schema=schema)


def stage_from_row(row: dict) -> Stage:
    """A ``Stage`` from one element of the ``stages`` column (as ``to_pylist`` gives it)."""
    tokens = row.get("tokens")
    texts = {name: row.get(name) for name in TEXT_FIELDS}
    return Stage(
        start_frame=int(row["start_frame"]),
        end_frame=int(row["end_frame"]),
        tokens=tuple(tokens) if tokens is not None else None,
        **texts,
    )


def caption_from_row(row: dict) -> Caption:
    """A ``Caption`` from one element of the ``captions`` column."""
    tokens = row.get("tokens")
    return Caption(
        text=row["text"],
        tokens=tuple(tokens) if tokens is not None else None,
        start=float(row["start"]),
        end=float(row["end"]),
    )
