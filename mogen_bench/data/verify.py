"""``mogen-bench data verify``: check a prepared dataset's shards against its ``dataset.json``.

Every shard listed must exist with the recorded size and sha256, open as Parquet with the row schema,
hold the recorded number of rows of its split, and have features whose frame count matches
``num_frames``. Shard files on disk that ``dataset.json`` does not list are reported too. Each problem
names its shard, so a corrupt or truncated file can be found and the dataset re-prepared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mogen_bench.data.info import DatasetInfo, read_info
from mogen_bench.data.schema import row_schema
from mogen_bench.data.source import file_sha256


@dataclass
class VerifyReport:
    folder: Path
    info: DatasetInfo
    problems: list[tuple[str, str]] = field(default_factory=list)  # (shard, what is wrong)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_shard(folder: Path, name: str, entry: dict, info: DatasetInfo) -> str | None:
    path = folder / name
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"size {size} bytes, dataset.json records {entry['bytes']} (truncated or replaced)"
    if file_sha256(path) != entry["sha256"]:
        return "sha256 differs from dataset.json (corrupt or modified)"
    try:
        table = pq.read_table(path, memory_map=True)
    except (OSError, pa.ArrowException) as exc:
        return f"not readable as Parquet: {exc}"
    if not table.schema.equals(row_schema(info.dims), check_metadata=False):
        return "columns do not match the row schema of this dataset"
    if table.num_rows != entry["rows"]:
        return f"{table.num_rows} rows, dataset.json records {entry['rows']}"
    splits = set(table.column("split").to_pylist())
    if splits != {entry["split"]}:
        return f"holds rows of split(s) {sorted(splits)}, expected only {entry['split']!r}"
    frames = pc.list_value_length(table.column("features")).to_numpy()
    if not np.array_equal(frames, table.column("num_frames").to_numpy()):
        return "num_frames does not match the length of features in some rows"
    return None


def verify_dataset(folder: str | Path) -> VerifyReport:
    """Check every shard of the dataset in ``folder``; problems are collected, not raised."""
    folder = Path(folder)
    info = read_info(folder)
    report = VerifyReport(folder, info)
    for name, entry in sorted(info.shards.items()):
        problem = _check_shard(folder, name, entry, info)
        report.checked += 1
        if problem:
            report.problems.append((name, problem))
    for split, summary in info.splits.items():
        rows = sum(info.shards[n]["rows"] for n in summary["shards"] if n in info.shards)
        if rows != summary["motions"]:
            report.problems.append(
                (split, f"shards hold {rows} rows, the split records {summary['motions']}")
            )
    listed = set(info.shards)
    for extra in sorted((folder / "data").glob("*.parquet")):
        name = f"data/{extra.name}"
        if name not in listed:
            report.problems.append((name, "not listed in dataset.json (left over from another run?)"))
    return report
