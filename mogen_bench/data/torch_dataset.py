"""Training data over a prepared dataset: a torch ``Dataset`` of cropped, normalised motions and their texts.

``MotionDataset(folder, "train", MotionDataConfig())`` follows the official HumanML3D loader
(``text-to-motion`` ``Text2MotionDatasetV2``) where it has a rule, and extends it to staged rows:

- features are z-normalised with the dataset's statistics from ``dataset.json``: ``(x - mean) / std``;
- a motion longer than ``max_frames`` (196) is cut to a random window of ``max_frames`` frames; with
  ``unit_crop`` the length is also cut to a multiple of ``unit_length`` (4) with the official coin toss
  (``single``, ``single``, ``double``: a third of the time one unit fewer). The rule serves the T2M
  evaluator's 4-frame units; ``text-to-motion`` and MDM apply it in every loader, FineMoGen's loader
  (``mogen`` ``Crop(196)``) never does. It is off by default, as in FineMoGen; turn it on to reproduce
  the T2M loaders;
- a row with captions (HumanML3D-style) gives one caption chosen at random, as the official loader does;
- a row with stages (HuMMan-MoGen) carries every stage that overlaps the crop, with its bounds shifted
  to the crop and clipped to it, and all eight texts (overall + seven parts). Its ``caption`` is the
  overall texts of those stages joined by ``stage_joiner`` (one stage: its overall text);
- a caption row gets one stage covering the crop whose overall text is the caption (the project's rule
  that a caption is a one-stage annotation), so models see the same stage structure for both kinds.

Randomness is a counter-based hash of ``(seed, epoch, index, draw)``: the same as seeding a generator
per item, but vectorised over a batch and independent of the worker, the batch or the order an item is
loaded in, so runs repeat exactly and ``num_workers`` does not change a single number.

Reading is lazy: features stay in the split's flat buffer (memory-mapped where the format allows) and
only the crops of a batch are copied; texts stay in Arrow and become Python objects only for the rows
of a batch. The Parquet shards must be decoded once per open (their nested lists cannot be mapped);
``feature_cache`` keeps a raw float32 copy of a split's features in a cache folder, keyed by the shard
checksums in ``dataset.json``, so later opens map it in milliseconds.

``collate_motions`` pads a list of items into a batch, with a padding mask and a per-frame stage index.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from annotation.parts import TEXT_FIELDS
from mogen_bench.data.info import INFO_FILE, DatasetInfo
from mogen_bench.data.reader import PreparedDataset, read_shard
from mogen_bench.errors import MogenBenchError

#: The columns read for texts and lengths; ``features`` is read separately (or not at all, with a cache).
TEXT_COLUMNS = ("motion_id", "num_frames", "stages", "captions")
#: Where ``feature_cache="auto"`` keeps its files unless ``$MOGEN_BENCH_CACHE`` names another cache root.
DEFAULT_CACHE = Path.home() / ".cache" / "mogen-bench" / "features"


@dataclass
class MotionDataConfig:
    """How items are cut from a split. The defaults are FineMoGen's setup on HumanML3D (196-frame crops)."""

    #: Longest motion an item holds; longer ones are cut to a random window (HumanML3D pads to 196).
    max_frames: int = 196
    #: Z-normalise with ``dataset.json``'s mean / std; off gives the stored features unchanged.
    normalise: bool = True
    #: Random window start; off starts every crop at frame 0 (deterministic evaluation).
    random_crop: bool = True
    #: Cut the length to a multiple of ``unit_length`` with the official coin toss (evaluation loader).
    unit_crop: bool = False
    unit_length: int = 4
    #: One random caption per access (official); off always takes the first one.
    random_caption: bool = True
    #: Base seed; item randomness is derived from (seed, epoch, index).
    seed: int = 0
    #: Separator of the stage overall texts that make a staged row's ``caption``.
    stage_joiner: str = " "
    #: Folder for the raw-feature cache, ``"auto"`` ($MOGEN_BENCH_CACHE/features, else
    #: ~/.cache/mogen-bench/features), or ``None`` / ``""`` to decode the Parquet shards at every open.
    feature_cache: str | None = "auto"

    def __post_init__(self) -> None:
        for name in ("max_frames", "unit_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MogenBenchError(
                    f"{name} must be a whole number >= 1, got {value!r}",
                    field=name,
                    fix=f"set {name} to a positive frame count (HumanML3D: max_frames 196, unit_length 4)",
                )


# --------------------------------------------------------------------------- per-item randomness
_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 whose every output bit depends on every input bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def item_uniforms(seed: int, epoch: int, indices: np.ndarray, draws: int) -> np.ndarray:
    """``(len(indices), draws)`` uniform numbers in [0, 1), a pure function of (seed, epoch, index, draw)."""
    with np.errstate(over="ignore"):
        key = _mix64(np.array([seed & _MASK64], np.uint64) + _GOLDEN)
        key = _mix64(key ^ np.uint64(epoch & _MASK64))
        per_item = _mix64(key ^ np.asarray(indices, dtype=np.int64).astype(np.uint64))
        bits = _mix64(per_item[:, None] + _GOLDEN * np.arange(1, draws + 1, dtype=np.uint64))
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def crop_windows(
    num_frames: np.ndarray, u_start: np.ndarray, u_coin: np.ndarray, config: MotionDataConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``(start, length)`` of each item's crop, from its frame count and two uniform numbers."""
    num_frames = np.asarray(num_frames, dtype=np.int64)
    length = np.minimum(num_frames, config.max_frames)
    if config.unit_crop:
        unit = config.unit_length
        units = length // unit
        # Official: coin = choice(['single', 'single', 'double']); 'double' drops one more unit. A motion of
        # one unit keeps it (the official code would make an empty crop), one shorter than a unit keeps all.
        units = np.where((u_coin < 1.0 / 3.0) & (units > 1), units - 1, units)
        length = np.where(units > 0, units * unit, length)
    if config.random_crop:
        # Uniform over the num_frames - length + 1 possible starts (official: randint(0, len - m_len)).
        start = np.minimum((u_start * (num_frames - length + 1)).astype(np.int64), num_frames - length)
    else:
        start = np.zeros_like(length)
    return start, length


def clip_stages(stages: list[dict], start: int, length: int) -> list[dict]:
    """Stages shifted to the crop ``[start, start + length)`` and clipped to it; those outside are dropped."""
    clipped = []
    for stage in stages:
        begin = max(stage["start_frame"], start) - start
        end = min(stage["end_frame"], start + length) - start
        if end > begin:
            clipped.append({**stage, "start_frame": begin, "end_frame": end})
    return clipped


# --------------------------------------------------------------------------- texts, lazily per batch
def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concat(arange(s, s + c) for s, c in zip(starts, counts))`` without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - counts - starts, counts)


class _ListColumn:
    """A ``list<struct>`` text column as row offsets + struct fields, for batched ``take``."""

    def __init__(self, column: pa.ChunkedArray):
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        valid = ~array.is_null().to_numpy(zero_copy_only=False)
        # ``offsets`` follows the array's own slice and indexes ``values`` absolutely; ``flatten()`` would
        # not do here, it drops the children of null rows and so shifts the positions.
        offsets = array.offsets.to_numpy().astype(np.int64)
        self.counts = np.where(valid, np.diff(offsets), 0)
        self.starts = offsets[:-1]
        self.values = array.values

    def field(self, name: str) -> pa.Array:
        return self.values.field(name)


class TextColumns:
    """Motion ids, frame counts, stages and captions of one split, read from Arrow per batch of rows."""

    def __init__(self, dataset: PreparedDataset, split: str):
        shards = dataset.info.shard_files(split)
        tables = [read_shard(dataset.folder / shard, TEXT_COLUMNS) for shard in shards]
        table = pa.concat_tables(tables) if tables else None
        if table is None or table.num_rows == 0:
            raise MogenBenchError(
                f"the {split} split has no motions",
                file=str(dataset.folder / INFO_FILE),
                field="splits",
                fix="choose a split with motions, or re-run prepare",
            )
        self.motion_ids: list[str] = table.column("motion_id").to_pylist()
        self.num_frames = table.column("num_frames").to_numpy().astype(np.int64)
        self._stages = _ListColumn(table.column("stages"))
        self._captions = _ListColumn(table.column("captions"))
        # Frame bounds as numpy once: cheap (two ints per stage) and needed for every staged item.
        self._stage_start = self._stages.field("start_frame").to_numpy(zero_copy_only=False).astype(np.int64)
        self._stage_end = self._stages.field("end_frame").to_numpy(zero_copy_only=False).astype(np.int64)

    def __len__(self) -> int:
        return len(self.num_frames)

    def captions(self, rows: np.ndarray, u: np.ndarray, random: bool) -> tuple[list, list]:
        """One caption per row (``None`` where a row has none) and its tokens, chosen by ``u`` in [0, 1)."""
        counts = self._captions.counts[rows]
        has = counts > 0
        if not has.any():
            return [None] * len(rows), [None] * len(rows)
        pick = np.floor(u * counts).astype(np.int64) if random else np.zeros(len(rows), np.int64)
        which = pa.array((self._captions.starts[rows] + np.minimum(pick, counts - 1))[has])
        texts = self._captions.field("text").take(which).to_pylist()
        tokens = self._captions.field("tokens").take(which).to_pylist()
        out_texts: list = [None] * len(rows)
        out_tokens: list = [None] * len(rows)
        for slot, text, token in zip(np.flatnonzero(has).tolist(), texts, tokens, strict=True):
            out_texts[slot], out_tokens[slot] = text, token
        return out_texts, out_tokens

    def all_texts(self) -> list[str]:
        """Every caption and every stage text (overall and parts) of the split, ``None``s left out."""
        captions = pa.array(_ranges(self._captions.starts, self._captions.counts))
        stages = pa.array(_ranges(self._stages.starts, self._stages.counts))
        columns = [self._captions.field("text").take(captions)]
        columns += [self._stages.field(name).take(stages) for name in TEXT_FIELDS]
        return [text for column in columns for text in column.drop_null().to_pylist()]

    def stages(self, rows: np.ndarray) -> list[list[dict] | None]:
        """Every stage of each row (``None`` where a row has none): bounds, the eight texts and tokens."""
        counts = self._stages.counts[rows]
        if not counts.any():
            return [None] * len(rows)
        which = _ranges(self._stages.starts[rows], counts)
        taken = pa.array(which)
        columns = {
            name: self._stages.field(name).take(taken).to_pylist() for name in (*TEXT_FIELDS, "tokens")
        }
        starts, ends = self._stage_start[which].tolist(), self._stage_end[which].tolist()
        out: list[list[dict] | None] = []
        position = 0
        for count in counts.tolist():
            if count == 0:
                out.append(None)
                continue
            row = []
            for k in range(position, position + count):
                stage = {"start_frame": starts[k], "end_frame": ends[k]}
                stage.update({name: values[k] for name, values in columns.items()})
                row.append(stage)
            out.append(row)
            position += count
        return out


# --------------------------------------------------------------------------- features and their cache
def cache_folder(setting: str | None) -> Path | None:
    """The feature-cache folder a ``feature_cache`` setting names (``None``: no cache)."""
    if setting is None or not str(setting).strip():
        return None
    if setting == "auto":
        root = os.environ.get("MOGEN_BENCH_CACHE")
        return Path(root).expanduser() / "features" if root else DEFAULT_CACHE
    return Path(setting).expanduser()


def feature_cache_file(folder: Path, info: DatasetInfo, split: str) -> Path | None:
    """The cache file of a split's features: named by the sha256 of its shards as ``dataset.json`` lists them.

    Content-addressed, so a re-prepared dataset gets a new file and a stale one is never read;
    ``None`` if the shards carry no checksums (nothing to key the cache on).
    """
    shards = info.shard_files(split)
    sums = [info.shards[name].get("sha256") for name in shards]
    if not shards or not all(sums):
        return None
    # The shards in row order: the same files in another order would be another row order.
    key = json.dumps({"split": split, "dims": info.dims, "shards": list(zip(shards, sums, strict=True))})
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return folder / f"{split}-{info.dims}d-{digest}.npy"


def _open_cached(path: Path, frames: int, dims: int) -> np.ndarray | None:
    try:
        flat = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if flat.dtype != np.float32 or flat.shape != (frames, dims):
        return None  # written by something else, or truncated: rebuild
    return flat


def _write_cache(path: Path, flat: np.ndarray) -> None:
    """Save ``flat`` as ``.npy`` through a temporary file, so a crash never leaves a short cache file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.save(handle, flat, allow_pickle=False)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def split_features(dataset: PreparedDataset, split: str, frames: int, cache: Path | None) -> np.ndarray:
    """A split's features as one ``(frames, dims)`` float32 array: the cache mapped, or decoded shards."""
    path = feature_cache_file(cache, dataset.info, split) if cache is not None else None
    if path is not None and path.is_file():
        flat = _open_cached(path, frames, dataset.info.dims)
        if flat is not None:
            return flat
    flat = dataset.split(split).all_frames
    if flat.shape[0] != frames:
        raise MogenBenchError(
            f"{split} split: the features hold {flat.shape[0]} frames, num_frames adds up to {frames}",
            file=str(dataset.folder),
            field="num_frames",
            fix="run `mogen-bench data verify` and re-run prepare with --force",
        )
    if path is not None:
        try:
            _write_cache(path, flat)
        except OSError as exc:
            raise MogenBenchError(
                f"cannot write the feature cache: {exc}",
                file=str(path),
                field="feature_cache",
                fix="choose a writable folder with room for the split's features, or set feature_cache=None",
            ) from None
    return flat


def _statistics(info: DatasetInfo, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    where = str(folder / INFO_FILE)
    fix = "re-run `mogen-bench prepare ... --force`, or set normalise=False to train on raw features"
    normalisation = info.normalisation if isinstance(info.normalisation, dict) else {}
    for name in ("mean", "std"):
        values = normalisation.get(name)
        if not isinstance(values, list) or len(values) != info.dims:
            got = "nothing" if values is None else f"{len(values) if isinstance(values, list) else values!r}"
            raise MogenBenchError(
                f"normalisation statistics need {info.dims} values, found {got}",
                file=where,
                field=f"normalisation.{name}",
                fix=fix,
            )
    mean, std = info.mean, info.std
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise MogenBenchError(
            "normalisation statistics must be finite with every std > 0",
            file=where,
            field="normalisation.std",
            fix=fix,
        )
    return mean, std


# --------------------------------------------------------------------------- the dataset
class MotionDataset(torch.utils.data.Dataset):
    """The motions of one split as training items (see the module docstring for the rules).

    Items are dicts: ``features`` ``(T, dims)`` float32 tensor, ``length`` T, ``index``, ``motion_id``,
    ``crop_start`` (frame of the source motion where the crop begins), ``num_frames`` (of the source
    motion), ``caption``, ``tokens`` (``word/POS`` list or ``None``) and ``stages`` (dicts with
    ``start_frame``/``end_frame`` in crop frames, the eight texts ``overall``, ``head`` ... ``trajectory``
    and ``tokens``).

    Batches: ``DataLoader(dataset, batch_sampler=LengthBucketSampler(dataset.crop_lengths, ...),
    collate_fn=collate_motions)``. The loader fetches a batch with ``__getitems__``, which writes the
    crops straight into the padded batch (an item's ``features`` is a view of it).

    Features are opened in the constructor, so DataLoader workers forked afterwards share them; pickled
    (spawned workers) the dataset carries only its folder and re-opens the split on arrival (cheap with
    ``feature_cache``, a full decode without). Call ``set_epoch`` before each epoch so crops and captions
    change; workers copy the dataset when an epoch's iterator starts, so with ``persistent_workers`` they
    keep the epoch they started with.
    """

    def __init__(
        self,
        dataset: str | Path | PreparedDataset,
        split: str = "train",
        config: MotionDataConfig | None = None,
    ):
        self.config = config or MotionDataConfig()
        self.split = split
        self.epoch = 0
        self._open(dataset if isinstance(dataset, PreparedDataset) else PreparedDataset(dataset))

    def _open(self, dataset: PreparedDataset) -> None:
        self.dataset = dataset
        info = dataset.info
        if self.split not in info.splits:
            raise MogenBenchError(
                f"the dataset has no {self.split!r} split (it has {', '.join(info.splits) or 'none'})",
                file=str(dataset.folder / INFO_FILE),
                field="split",
                fix=f"choose one of: {', '.join(info.splits)}",
            )
        self.dims = info.dims
        self.mean, self.std = _statistics(info, dataset.folder) if self.config.normalise else (None, None)
        self.texts = TextColumns(dataset, self.split)
        self.lengths = self.texts.num_frames
        self._offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        cache = cache_folder(self.config.feature_cache)
        # A plain ndarray view of a memmap: slicing a ``np.memmap`` costs Python-level bookkeeping per crop.
        self._flat = split_features(dataset, self.split, int(self._offsets[-1]), cache).view(np.ndarray)

    def __getstate__(self) -> dict:
        # Never pickle the features: a spawned worker maps (or decodes) the split itself.
        return {
            "folder": str(self.dataset.folder),
            "split": self.split,
            "config": self.config,
            "epoch": self.epoch,
        }

    def __setstate__(self, state: dict) -> None:
        self.config, self.split, self.epoch = state["config"], state["split"], state["epoch"]
        self._open(PreparedDataset(state["folder"]))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def crop_lengths(self) -> np.ndarray:
        """Frames each item will hold (before ``unit_crop``): what ``LengthBucketSampler`` should group by."""
        return np.minimum(self.lengths, self.config.max_frames)

    @property
    def motion_ids(self) -> list[str]:
        return self.texts.motion_ids

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def normalise(self, features: np.ndarray | torch.Tensor):
        """Stored features -> model space (identity with ``normalise=False``)."""
        if self.mean is None:
            return features
        mean, std = (
            torch.from_numpy(a) if isinstance(features, torch.Tensor) else a for a in (self.mean, self.std)
        )
        return (features - mean) / std

    def denormalise(self, features: np.ndarray | torch.Tensor):
        """Model space -> stored features: ``x * std + mean`` (identity with ``normalise=False``)."""
        if self.mean is None:
            return features
        mean, std = (
            torch.from_numpy(a) if isinstance(features, torch.Tensor) else a for a in (self.mean, self.std)
        )
        return features * std + mean

    def _rows(self, indices: Sequence[int]) -> np.ndarray:
        rows = np.asarray(indices, dtype=np.int64).reshape(-1)
        count = len(self)
        if rows.size and (rows.min() < -count or rows.max() >= count):
            raise IndexError(f"index out of range for a split of {count} motions")
        return np.where(rows < 0, rows + count, rows)

    def __getitems__(self, indices: Sequence[int]) -> ItemBatch:
        """Items of a whole batch at once: the per-item work is vectorised, the copies are one per crop.

        The crops are normalised straight into one zero-padded ``(B, T, dims)`` buffer and the items'
        ``features`` are views of it, so ``collate_motions`` hands that buffer on without copying again.
        """
        rows = self._rows(indices)
        config = self.config
        u = item_uniforms(config.seed, self.epoch, rows, 3)
        starts, lengths = crop_windows(self.lengths[rows], u[:, 0], u[:, 1], config)
        padded = self._gather(rows, starts, lengths)
        captions, tokens = self.texts.captions(rows, u[:, 2], config.random_caption)
        all_stages = self.texts.stages(rows)

        items, views = [], []
        for slot, row in enumerate(rows.tolist()):
            start, length = int(starts[slot]), int(lengths[slot])
            caption, caption_tokens = captions[slot], tokens[slot]
            stages = all_stages[slot]
            if stages is not None:
                stages = clip_stages(stages, start, length)
                if caption is None:
                    overall = [s["overall"] for s in stages if s["overall"]]
                    caption = overall[0] if len(overall) == 1 else config.stage_joiner.join(overall)
                    caption_tokens = stages[0]["tokens"] if len(stages) == 1 else None
            else:
                # A caption is a one-stage annotation over the whole crop (annotation.humanml3d_text).
                stages = [
                    dict(_NO_TEXTS, start_frame=0, end_frame=length, overall=caption, tokens=caption_tokens)
                ]
            view = padded[slot, :length]
            views.append(view)
            items.append(
                {
                    "index": row,
                    "motion_id": self.texts.motion_ids[row],
                    "features": view,
                    "length": length,
                    "crop_start": start,
                    "num_frames": int(self.lengths[row]),
                    "caption": caption if caption is not None else "",
                    "tokens": caption_tokens,
                    "stages": stages,
                }
            )
        return ItemBatch(items, padded, views)

    def _gather(self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
        """The crops of a batch, normalised, in one zero-padded ``(B, max(lengths), dims)`` tensor."""
        # numpy's allocator, not torch's: it recycles and madvises big buffers for huge pages, which
        # makes a fresh batch buffer several times cheaper where page faults are dear (VMs).
        out = np.empty((len(rows), int(lengths.max(initial=0)), self.dims), np.float32)
        first = self._offsets[rows] + starts
        for slot, (begin, length) in enumerate(zip(first.tolist(), lengths.tolist(), strict=True)):
            source = self._flat[begin : begin + length]
            target = out[slot, :length]
            if self.mean is None:
                target[...] = source
            else:
                np.subtract(source, self.mean, out=target)
                np.divide(target, self.std, out=target)
            out[slot, length:] = 0.0
        return torch.from_numpy(out)


class ItemBatch(list):
    """The items of one ``__getitems__`` call, with their features already padded into one tensor.

    A plain list to everyone else; ``collate_motions`` uses ``padded`` when the items are still the
    ones it was made with (same order, features not replaced), and copies as for any list otherwise.
    """

    def __init__(self, items: list[dict], padded: torch.Tensor, views: list[torch.Tensor]):
        super().__init__(items)
        self._padded = padded
        self._views = views

    def padded(self) -> torch.Tensor | None:
        if len(self) != len(self._views):
            return None
        if any(item.get("features") is not view for item, view in zip(self, self._views, strict=True)):
            return None
        return self._padded


_NO_TEXTS = {**dict.fromkeys(TEXT_FIELDS), "tokens": None}


# --------------------------------------------------------------------------- batching
def collate_motions(items: Sequence[dict], pad_to: int | None = None) -> dict:
    """Pad items into a batch.

    Returns ``features`` ``(B, T, dims)`` zero-padded (zeros in model space, as the official loader pads
    after normalising), ``mask`` ``(B, T)`` bool (True on real frames), ``lengths`` ``(B,)`` long,
    ``stage_index`` ``(B, T)`` long (the stage each frame is in; -1 on padding), ``indices``, ``crop_starts``,
    ``captions``, ``tokens``, ``motion_ids``, ``stages`` (per item, as the items carry them) and
    ``part_texts``: per item ``{text field: [text of each stage]}`` over the eight fields. ``T`` is the
    longest item, or ``pad_to`` (for fixed-shape batches; it must fit every item).
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    count = len(items)
    lengths = np.fromiter((item["length"] for item in items), np.int64, count)
    longest = int(lengths.max())
    frames = longest if pad_to is None else int(pad_to)
    if frames < longest:
        raise ValueError(f"pad_to={pad_to} is shorter than the longest item ({longest} frames)")
    features = items.padded() if isinstance(items, ItemBatch) else None
    if features is None or features.shape[1] != frames:
        dims = items[0]["features"].shape[-1]
        buffer = np.zeros((count, frames, dims), np.float32)  # numpy's allocator: see _gather
        for slot, item in enumerate(items):
            buffer[slot, : item["length"]] = np.asarray(item["features"], dtype=np.float32)
        features = torch.from_numpy(buffer)

    # Frame -> stage: every stage's frames get its number within its item, all in one scatter.
    stage_lists = [item["stages"] for item in items]
    per_item = np.fromiter(map(len, stage_lists), np.int64, count)
    flat = [stage for stages in stage_lists for stage in stages]
    owner = np.repeat(np.arange(count), per_item)
    first = np.fromiter((stage["start_frame"] for stage in flat), np.int64, len(flat))
    last = np.fromiter((stage["end_frame"] for stage in flat), np.int64, len(flat))
    first = np.clip(first, 0, lengths[owner])
    spans = np.clip(last, first, lengths[owner]) - first
    number = np.arange(len(flat)) - np.repeat(np.cumsum(per_item) - per_item, per_item)
    stage_index = np.full((count, frames), -1, np.int64)
    stage_index[np.repeat(owner, spans), _ranges(first, spans)] = np.repeat(number, spans)

    texts = itemgetter(*TEXT_FIELDS)
    return {
        "features": features,
        "mask": torch.from_numpy(np.arange(frames)[None, :] < lengths[:, None]),
        "lengths": torch.from_numpy(lengths),
        "stage_index": torch.from_numpy(stage_index),
        "indices": torch.from_numpy(np.fromiter((item["index"] for item in items), np.int64, count)),
        "crop_starts": torch.from_numpy(np.fromiter((item["crop_start"] for item in items), np.int64, count)),
        "captions": [item["caption"] for item in items],
        "tokens": [item["tokens"] for item in items],
        "motion_ids": [item["motion_id"] for item in items],
        "stages": stage_lists,
        "part_texts": [
            dict(zip(TEXT_FIELDS, map(list, zip(*map(texts, stages), strict=True)), strict=True))
            if stages
            else {name: [] for name in TEXT_FIELDS}
            for stages in stage_lists
        ],
    }
