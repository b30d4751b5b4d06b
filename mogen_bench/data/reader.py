"""Reading a prepared dataset: memory-mapped Parquet shards, one split at a time.

``PreparedDataset(folder).split("train")`` gives a ``MotionTable``: the features of every motion as one
flat float32 buffer mapped from the shards (zero-copy where Arrow allows) with row offsets, plus the
small columns (ids, lengths) as numpy arrays. Texts (stages, captions) stay in Arrow and become Python
objects only for the rows asked for, so opening a 30,000-motion dataset costs milliseconds, not a pass
over every motion.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from annotation.model import Stage
from mogen_bench.data.info import DatasetInfo, read_info
from mogen_bench.data.schema import Caption, caption_from_row, stage_from_row
from mogen_bench.errors import MogenBenchError


def read_shard(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """A shard (or some of its ``columns``) memory-mapped; an error naming it if missing or unreadable."""
    try:
        return pq.read_table(path, columns=None if columns is None else list(columns), memory_map=True)
    except FileNotFoundError:
        raise MogenBenchError(
            "shard listed in dataset.json is missing", file=str(path), fix="re-run prepare with --force"
        ) from None
    except (OSError, pa.ArrowException) as exc:
        raise MogenBenchError(
            f"cannot read Parquet shard: {exc}",
            file=str(path),
            fix="run `mogen-bench data verify` and re-run prepare with --force",
        ) from None


class MotionTable:
    """The motions of one split: ``len``, ``features(i)`` as a ``(T, dims)`` array view, texts per row."""

    def __init__(self, tables: list[pa.Table], dims: int, split: str):
        self.split = split
        self.dims = dims
        table = pa.concat_tables(tables) if tables else None
        self._table = table
        if table is None or table.num_rows == 0:
            self._flat = np.zeros((0, dims), np.float32)
            self._offsets = np.zeros(1, np.int64)
            self.lengths = np.zeros(0, np.int64)
            self.motion_ids: list[str] = []
            self.mirrored = np.zeros(0, bool)
            return
        self.lengths = table.column("num_frames").to_numpy().astype(np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        # One flat (frames, dims) array over all shards: a single copy per shard chunk at most.
        chunks = [chunk.flatten().flatten() for chunk in table.column("features").chunks]
        values = [c.to_numpy(zero_copy_only=False) for c in chunks]
        flat = values[0] if len(values) == 1 else np.concatenate(values)
        self._flat = flat.reshape(-1, dims)
        if self._flat.shape[0] != self._offsets[-1]:
            raise MogenBenchError(
                f"{split} split: num_frames adds up to {self._offsets[-1]} frames, "
                f"the features hold {self._flat.shape[0]}",
                field="num_frames",
                fix="re-run prepare with --force",
            )
        self.motion_ids = table.column("motion_id").to_pylist()
        self.mirrored = table.column("mirrored").to_numpy(zero_copy_only=False)

    def __len__(self) -> int:
        return len(self.lengths)

    def features(self, index: int) -> np.ndarray:
        """The ``(T, dims)`` float32 features of row ``index`` (a read-only view)."""
        return self._flat[self._offsets[index] : self._offsets[index + 1]]

    @property
    def all_frames(self) -> np.ndarray:
        """Every frame of the split as one ``(frames, dims)`` array (a view)."""
        return self._flat

    @cached_property
    def _stages(self) -> pa.ChunkedArray | None:
        return None if self._table is None else self._table.column("stages")

    @cached_property
    def _captions(self) -> pa.ChunkedArray | None:
        return None if self._table is None else self._table.column("captions")

    def stages(self, index: int) -> list[Stage] | None:
        rows = self._stages[index].as_py()
        return None if rows is None else [stage_from_row(r) for r in rows]

    def captions(self, index: int) -> list[Caption] | None:
        rows = self._captions[index].as_py()
        return None if rows is None else [caption_from_row(r) for r in rows]

    def column(self, name: str) -> list:
        """A whole small column as Python values (``source_id``, ``fps`` ...)."""
        return [] if self._table is None else self._table.column(name).to_pylist()


class PreparedDataset:
    """A prepared dataset folder: its ``info`` and its splits, opened lazily."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.info: DatasetInfo = read_info(self.folder)
        self._splits: dict[str, MotionTable] = {}

    @property
    def split_names(self) -> list[str]:
        return list(self.info.splits)

    def split(self, name: str) -> MotionTable:
        if name not in self.info.splits:
            raise MogenBenchError(
                f"the dataset has no {name!r} split (it has {', '.join(self.info.splits) or 'none'})",
                file=str(self.folder),
                field="split",
                fix=f"choose one of: {', '.join(self.info.splits)}",
            )
        if name not in self._splits:
            tables = [read_shard(self.folder / shard) for shard in self.info.shard_files(name)]
            self._splits[name] = MotionTable(tables, self.info.dims, name)
        return self._splits[name]
