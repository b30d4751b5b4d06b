"""``dataset.json``: what a prepared dataset is, where it came from and how to check it.

It is written last, so a folder with a ``dataset.json`` is a complete dataset; its shard table
(``shards``: rows, bytes, sha256 per file) is what ``mogen-bench data verify`` checks the Parquet files
against, and its ``inputs`` checksum and ``options`` are what makes re-running ``prepare`` a no-op.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from annotation.files import atomic_write_text, read_user_json
from mogen_bench.data.schema import SCHEMA_VERSION
from mogen_bench.errors import MogenBenchError

DATASET_FORMAT = "mogen-bench-dataset"
INFO_FILE = "dataset.json"


@dataclass
class DatasetInfo:
    """The contents of ``dataset.json``."""

    name: str
    source: str
    representation: str
    fps: float
    dims: int
    num_joints: int
    part_slices: dict[str, list[int]]
    splits: dict[str, dict]
    shards: dict[str, dict]
    normalisation: dict
    inputs: dict
    options: dict
    split_rule: str
    skipped: list[dict] = field(default_factory=list)
    #: Facts the source reported per motion, counted: e.g. ``{"up_axis": {"z": 6264}}``.
    source_notes: dict = field(default_factory=dict)
    tool: dict = field(default_factory=dict)
    created: str = ""
    format: str = DATASET_FORMAT
    schema_version: int = SCHEMA_VERSION

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.normalisation["mean"], dtype=np.float32)

    @property
    def std(self) -> np.ndarray:
        return np.asarray(self.normalisation["std"], dtype=np.float32)

    @property
    def num_motions(self) -> int:
        return sum(s["motions"] for s in self.splits.values())

    def shard_files(self, split: str | None = None) -> list[str]:
        """Shard file names (relative to the dataset folder), in order, of one split or all."""
        names = [n for n, s in self.shards.items() if split is None or s["split"] == split]
        return sorted(names)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def write(self, folder: Path) -> Path:
        return atomic_write_text(Path(folder) / INFO_FILE, self.to_json())


def read_info(folder: str | Path) -> DatasetInfo:
    """The ``dataset.json`` of a prepared dataset folder; a clear error if it is not one."""
    folder = Path(folder)
    path = folder / INFO_FILE
    if not folder.is_dir():
        raise MogenBenchError(
            "no such dataset folder", file=str(folder), fix="run `mogen-bench prepare ...` to make one"
        )
    if not path.is_file():
        raise MogenBenchError(
            "not a prepared dataset (no dataset.json)",
            file=str(folder),
            fix="give the --out folder of `mogen-bench prepare` (an interrupted prepare leaves none)",
        )
    raw = read_user_json(path, "a dataset.json file", fix="re-run prepare with --force")
    if not isinstance(raw, dict) or raw.get("format") != DATASET_FORMAT:
        raise MogenBenchError(
            f"not a mogen-bench dataset description (format is not {DATASET_FORMAT!r})",
            file=str(path),
            field="format",
        )
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise MogenBenchError(
            f"schema version {raw.get('schema_version')} is not the supported {SCHEMA_VERSION}",
            file=str(path),
            field="schema_version",
            fix="re-run `mogen-bench prepare ... --force` with this version of mogen-bench",
        )
    required = [f.name for f in fields(DatasetInfo) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in raw]
    if missing:
        raise MogenBenchError(
            f"missing fields: {', '.join(missing)}",
            file=str(path),
            field=missing[0],
            fix="re-run `mogen-bench prepare ... --force`",
        )
    known = {f.name for f in fields(DatasetInfo)}
    return DatasetInfo(**{k: v for k, v in raw.items() if k in known})
