"""``prepare``'s back end: a source's records -> Parquet shards + ``dataset.json``, atomically.

Everything is written into a hidden ``.<name>.partial-<id>`` folder beside the output and renamed into
place only when complete, with ``dataset.json`` written last; a crash or Ctrl-C therefore never leaves a
folder that looks like a finished dataset. Re-running on unchanged input with unchanged options finds the
same input checksum in the existing ``dataset.json`` and does nothing unless ``force`` is given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mogen_bench import __version__
from mogen_bench.data.info import INFO_FILE, DatasetInfo, read_info
from mogen_bench.data.normalisation import RunningMoments, grouped_statistics
from mogen_bench.data.schema import MotionRecord, Skipped, records_to_table
from mogen_bench.data.source import Source, file_sha256, inputs_checksum
from mogen_bench.data.splits import SPLITS
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.representations import get_representation

#: A shard is closed once its features reach this many bytes (the HF datasets default shard size is 500 MB).
DEFAULT_SHARD_BYTES = 256 << 20


@dataclass
class PrepareResult:
    info: DatasetInfo
    folder: Path
    reused: bool


def shard_name(split: str, index: int, count: int) -> str:
    return f"data/{split}-{index:05d}-of-{count:05d}.parquet"


class _ShardBuffer:
    """Records of one split waiting to become a shard."""

    def __init__(self, split: str, dims: int, max_bytes: int, folder: Path):
        self.split, self.dims, self.max_bytes, self.folder = split, dims, max_bytes, folder
        self.records: list[MotionRecord] = []
        self.bytes = 0
        self.parts: list[tuple[Path, int]] = []  # (temporary file, rows)
        self.motions = 0
        self.frames = 0

    def add(self, record: MotionRecord) -> None:
        self.records.append(record)
        self.bytes += record.features.size * 4
        self.motions += 1
        self.frames += record.num_frames
        if self.bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.records:
            return
        path = self.folder / f"{self.split}-part-{len(self.parts):05d}.parquet"
        table = records_to_table(self.records, self.dims)
        # Features are stored plain and uncompressed: float frames neither repeat (dictionary encoding
        # only costs) nor compress much, and decoding them is what opening a dataset spends its time on.
        others = [name for name in table.column_names if name != "features"]
        compression = {name: "zstd" for name in others} | {"features": "none"}
        pq.write_table(table, path, compression=compression, use_dictionary=others)
        self.parts.append((path, len(self.records)))
        self.records, self.bytes = [], 0


def _check_record(record: MotionRecord, dims: int, source: str) -> None:
    features = record.features
    if features.ndim != 2 or features.shape[1] != dims or features.shape[0] == 0:
        raise MogenBenchError(
            f"source {source} produced features of shape {features.shape} for {record.motion_id}, "
            f"expected (T>0, {dims})"
        )
    if record.split not in SPLITS:
        raise MogenBenchError(
            f"unknown split {record.split!r} for {record.motion_id}; expected one of {SPLITS}"
        )


def _fingerprint(source: Source) -> dict:
    checksum, count = inputs_checksum(source.root, source.input_files())
    return {"root": str(source.root), "files": count, "sha256": checksum}


def _same_input(folder: Path, info: DatasetInfo, source: Source, inputs: dict) -> bool:
    """Same source, input checksum, options and tool version, and every shard still there at its size.

    The size check is cheap and catches a deleted or truncated shard; ``data verify`` checks the hashes.
    """
    shards_intact = all(
        (folder / name).is_file() and (folder / name).stat().st_size == entry["bytes"]
        for name, entry in info.shards.items()
    )
    return (
        shards_intact
        and info.source == source.name
        and info.inputs.get("sha256") == inputs["sha256"]
        and info.options == source.options()
        and info.tool.get("version") == __version__
    )


def _remove_stale_partials(out: Path) -> None:
    # Our own leftovers of interrupted runs for this output; nothing else is touched.
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _check_replaceable(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise MogenBenchError("exists and is not a folder", file=str(out), fix="choose another --out")
    if (out / INFO_FILE).is_file():
        if not force:
            raise MogenBenchError(
                "holds a prepared dataset of other input or options, or with missing or damaged shards",
                file=str(out),
                fix="pass --force to replace it, or choose another --out",
            )
        return
    if any(out.iterdir()):
        raise MogenBenchError(
            "exists, is not empty and is not a prepared dataset; refusing to replace it",
            file=str(out),
            fix="choose an empty or new --out folder",
        )


def prepare_dataset(
    source: Source,
    out: str | Path,
    *,
    name: str | None = None,
    force: bool = False,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: Callable[[int], None] | None = None,
) -> PrepareResult:
    """Convert ``source`` into the prepared dataset ``out``; returns its info and whether it was reused.

    ``progress`` is called with the number of input items handled so far.
    """
    out = Path(out).absolute()
    source.check()
    representation = get_representation(source.representation)
    inputs = _fingerprint(source)
    if (out / INFO_FILE).is_file() and not force:
        with contextlib.suppress(MogenBenchError):
            existing = read_info(out)
            if _same_input(out, existing, source, inputs):
                return PrepareResult(existing, out, reused=True)
    _check_replaceable(out, force)
    _remove_stale_partials(out)

    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    (partial / "data").mkdir(parents=True)
    try:
        info = _write(source, representation, partial, name or out.name, inputs, max_shard_bytes, progress)
        _swap_into_place(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return PrepareResult(info, out, reused=False)


def _write(source, representation, folder: Path, name, inputs, max_shard_bytes, progress) -> DatasetInfo:
    dims = representation.dims
    buffers = {split: _ShardBuffer(split, dims, max_shard_bytes, folder / "data") for split in SPLITS}
    moments = RunningMoments(dims)
    skipped: list[Skipped] = []
    seen: set[str] = set()
    notes: dict[str, Counter] = {}
    for handled, item in enumerate(source.items(), start=1):
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            _check_record(item, dims, source.name)
            if item.motion_id in seen:
                raise MogenBenchError(f"source {source.name} produced motion id {item.motion_id} twice")
            seen.add(item.motion_id)
            for key, value in item.notes.items():
                notes.setdefault(key, Counter())[str(value)] += 1
            if item.split == "train":
                moments.add(item.features)
            buffers[item.split].add(item)
        if progress is not None:
            progress(handled)
    if not seen:
        reasons = Counter(s.reason for s in skipped).most_common(3)
        raise MogenBenchError(
            f"no usable motions in the {source.name} input ({len(skipped)} skipped: {reasons})",
            file=str(source.root),
            fix="see the reasons above; check that the folder holds the right dataset",
        )

    shipped = source.statistics()
    if shipped is not None:
        mean, std = (np.asarray(a) for a in shipped)  # JSON keeps every float32/float64 value exactly
        normalisation = {"computed_on": "source", "method": "shipped with the source"}
    else:
        mean, std = grouped_statistics(moments, source.representation)
        normalisation = {"computed_on": "train", "method": "per-dim mean, std averaged per feature group"}
    normalisation.update(mean=[float(v) for v in mean], std=[float(v) for v in std])

    shards: dict[str, dict] = {}
    splits: dict[str, dict] = {}
    for split, buffer in buffers.items():
        buffer.flush()
        if not buffer.parts:
            continue
        names = []
        for index, (path, rows) in enumerate(buffer.parts):
            final = shard_name(split, index, len(buffer.parts))
            os.replace(path, folder / final)
            shards[final] = {
                "split": split,
                "rows": rows,
                "bytes": (folder / final).stat().st_size,
                "sha256": file_sha256(folder / final),
            }
            names.append(final)
        splits[split] = {"motions": buffer.motions, "frames": buffer.frames, "shards": names}

    info = DatasetInfo(
        name=name,
        source=source.name,
        representation=source.representation,
        fps=float(source.fps),
        dims=dims,
        num_joints=representation.num_joints,
        part_slices={part: list(dims_) for part, dims_ in representation.part_slices.items()},
        splits=splits,
        shards=shards,
        normalisation=normalisation,
        inputs=inputs,
        options=source.options(),
        split_rule=source.split_rule(),
        skipped=[{"item": s.item, "reason": s.reason, "file": s.file} for s in skipped],
        source_notes={key: dict(sorted(counts.items())) for key, counts in notes.items()},
        tool={"name": "mogen-bench", "version": __version__},
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    info.write(folder)
    return info


def _swap_into_place(partial: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
        os.replace(partial, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, out)
