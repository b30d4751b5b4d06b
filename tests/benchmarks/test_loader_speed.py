"""Speed of opening a prepared dataset and iterating one epoch, vs the official HumanML3D loader's pattern.

Goal (issue): with 30,000 motions, ``PreparedDataset`` + ``MotionDataset`` + ``DataLoader`` over one
epoch must be at least 10x faster than the official pattern (``text-to-motion`` ``Text2MotionDatasetV2``:
one ``np.load`` per motion file and one caption file per motion, all at start-up, then a per-item
crop, normalisation and padding) on the same synthetic data in the official folder layout.

The default run uses 300 motions so it stays quick as a plain test; measure the goal with

    MOGEN_BENCH_LOADER_N=30000 python -m pytest tests/benchmarks/test_loader_speed.py --benchmark-enable -s

(about 4 GB per copy of the data under the temporary folder, removed afterwards). ``test_goal_ratio``
runs only when that variable is set: it times each pipeline in a fresh process, prints wall and CPU
times and checks the ratio when N >= 10,000. Both sides read files that were just written, so both
read from the page cache where memory allows.

Measured at N=30,000 (2 shared cores, 24 GB, other jobs running; one fresh process each, wall / CPU):
official pattern 134 s / 72.5 s; ours with the feature cache 9.7 s / 6.0 s (13.8x / 12.2x); ours
decoding the Parquet shards at open 35 s / 22.6 s (3.8x / 3.2x). At N=8,000 after the writer stopped
dictionary-encoding and compressing the features: official 15.1 s / 9.9 s, cache 0.88 s / 0.57 s
(17.2x / 17.3x), decoding at open 14.0 s / 10.8 s. The goal therefore needs the raw feature cache
(``MotionDataConfig.feature_cache``, on by default as ``"auto"``): decoding the shards' nested float
lists runs at about 150 MB/s, so without it opening alone costs about as much as the official start-up;
the first open of a split pays that once to build the cache.
"""

from __future__ import annotations

import codecs
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from mogen_bench.data.batching import LengthBucketSampler
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.schema import Caption, MotionRecord
from mogen_bench.data.torch_dataset import MotionDataConfig, MotionDataset, collate_motions
from mogen_bench.data.writer import prepare_dataset

N = int(os.environ.get("MOGEN_BENCH_LOADER_N", "300"))
DIMS, MIN_LEN, MAX_LEN, BATCH = 263, 40, 196, 32
WORDS = ["walk/VERB", "forward/ADV", "turn/VERB", "left/ADJ", "arm/NOUN", "jump/VERB", "slowly/ADV"]


class SyntheticCorpus:
    """N smooth random motions of 40..196 frames with three captions each, made from one seed."""

    def __init__(self, count: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        # Windows of one random walk: smooth like motion features (and as hard to compress), cheap to make.
        self.bank = np.cumsum(rng.normal(0, 0.05, (4096, DIMS)), axis=0).astype(np.float32)
        self.lengths = rng.integers(MIN_LEN, MAX_LEN + 1, count)
        self.starts = rng.integers(0, len(self.bank) - MAX_LEN, count)
        self.ids = [f"{i:06d}" for i in range(count)]
        self.mean = self.bank.mean(axis=0)
        self.std = self.bank.std(axis=0) + 1e-3

    def motion(self, i: int) -> np.ndarray:
        return self.bank[self.starts[i] : self.starts[i] + self.lengths[i]]

    def captions(self, i: int) -> list[tuple[str, list[str]]]:
        out = []
        for k in range(3):
            tokens = ["a/DET", "person/NOUN", *(WORDS[(i + k + j) % len(WORDS)] for j in range(6))]
            out.append((f"a person does motion {i} in way {k}.", tokens))
        return out


def write_official_layout(corpus: SyntheticCorpus, root: Path) -> Path:
    """The official layout: ``new_joint_vecs/<id>.npy``, ``texts/<id>.txt``, ``train.txt``, Mean/Std."""
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    for i, motion_id in enumerate(corpus.ids):
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", corpus.motion(i))
        lines = [f"{text}#{' '.join(tokens)}#0.0#0.0\n" for text, tokens in corpus.captions(i)]
        (root / "texts" / f"{motion_id}.txt").write_text("".join(lines))
    (root / "train.txt").write_text("".join(f"{m}\n" for m in corpus.ids))
    np.save(root / "Mean.npy", corpus.mean)
    np.save(root / "Std.npy", corpus.std)
    return root


class CorpusSource:
    """The corpus as a ``mogen_bench.data.source.Source``: every motion in train, statistics shipped."""

    name = "synthetic-loader-bench"
    representation = "humanml3d-263"
    fps = 20.0

    def __init__(self, corpus: SyntheticCorpus, root: Path):
        self.corpus, self.root = corpus, root

    def check(self) -> None:
        pass

    def input_files(self) -> list[Path]:
        return []

    def options(self) -> dict:
        return {"motions": len(self.corpus.ids)}

    def split_rule(self) -> str:
        return "every motion in train"

    def statistics(self):
        return self.corpus.mean, self.corpus.std

    def expected_items(self) -> int:
        return len(self.corpus.ids)

    def items(self):
        for i, motion_id in enumerate(self.corpus.ids):
            captions = [Caption(text, tuple(tokens)) for text, tokens in self.corpus.captions(i)]
            yield MotionRecord(
                motion_id, "train", motion_id, self.corpus.motion(i), self.fps, captions=captions
            )


# --------------------------------------------------------------------------- the official pattern
class OfficialPatternDataset(torch.utils.data.Dataset):
    """A faithful miniature of ``Text2MotionDatasetV2`` (text-to-motion ``data/dataset.py``) without GloVe.

    Start-up: read the id list, then per id ``np.load`` the features and read and parse the caption file
    into a dict. Per item: one random caption, the unit-length coin toss, a random window, ``(x - mean)
    / std`` and zero-padding to 196 frames; batches come from ``default_collate``. The official code pads
    with float64 zeros (``np.zeros`` default), which makes its batches float64; this miniature pads in
    float32, so it is, if anything, faster than the original.
    """

    def __init__(self, root: Path, max_motion_length: int = 196, unit_length: int = 4):
        self.max_motion_length, self.unit_length = max_motion_length, unit_length
        self.mean, self.std = np.load(root / "Mean.npy"), np.load(root / "Std.npy")
        with codecs.open(str(root / "train.txt"), "r") as handle:
            id_list = [line.strip() for line in handle.readlines()]
        data_dict, names, lengths = {}, [], []
        for name in id_list:
            motion = np.load(root / "new_joint_vecs" / f"{name}.npy")
            if not 40 <= len(motion) < 200:
                continue
            text_data = []
            with codecs.open(str(root / "texts" / f"{name}.txt")) as handle:
                for line in handle.readlines():
                    parts = line.strip().split("#")
                    f_tag, to_tag = float(parts[2]), float(parts[3])
                    f_tag = 0.0 if np.isnan(f_tag) else f_tag
                    to_tag = 0.0 if np.isnan(to_tag) else to_tag
                    if f_tag == 0.0 and to_tag == 0.0:
                        text_data.append({"caption": parts[0], "tokens": parts[1].split(" ")})
            data_dict[name] = {"motion": motion, "length": len(motion), "text": text_data}
            names.append(name)
            lengths.append(len(motion))
        pairs = sorted(zip(names, lengths, strict=True), key=lambda x: x[1])
        self.name_list, self.length_list = zip(*pairs, strict=True)
        self.data_dict = data_dict

    def __len__(self) -> int:
        return len(self.data_dict)

    def __getitem__(self, item: int):
        data = self.data_dict[self.name_list[item]]
        motion, m_length = data["motion"], data["length"]
        text = random.choice(data["text"])
        coin = np.random.choice(["single", "single", "double"])
        units = m_length // self.unit_length - (1 if coin == "double" else 0)
        m_length = units * self.unit_length
        start = random.randint(0, len(motion) - m_length)
        motion = (motion[start : start + m_length] - self.mean) / self.std
        if m_length < self.max_motion_length:
            padding = np.zeros((self.max_motion_length - m_length, motion.shape[1]), motion.dtype)
            motion = np.concatenate([motion, padding], axis=0)
        return text["caption"], motion, m_length


def official_epoch(root: Path) -> int:
    """Open the official layout and iterate one epoch; returns how many motions it yielded."""
    random.seed(0)
    np.random.seed(0)
    dataset = OfficialPatternDataset(root)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=0, collate_fn=default_collate)
    seen = 0
    for _captions, motions, lengths in loader:
        seen += len(lengths)
        assert motions.shape[1:] == (MAX_LEN, DIMS)
    return seen


def our_epoch(folder: Path, feature_cache: Path | None) -> int:
    """Open the prepared dataset, iterate one epoch of length-bucketed batches; returns the motions seen."""
    config = MotionDataConfig(
        unit_crop=True, feature_cache=None if feature_cache is None else str(feature_cache)
    )
    dataset = MotionDataset(PreparedDataset(folder), "train", config)
    sampler = LengthBucketSampler(dataset.crop_lengths, BATCH, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions, num_workers=0)
    seen = 0
    for batch in loader:
        seen += len(batch["lengths"])
        assert batch["features"].shape[-1] == DIMS
    return seen


# --------------------------------------------------------------------------- fixtures and benchmarks
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader_speed")
    corpus = SyntheticCorpus(N)
    official = write_official_layout(corpus, root / "HumanML3D")
    prepared = prepare_dataset(CorpusSource(corpus, root / "in"), root / "prepared").folder
    cache = root / "cache"
    started = time.perf_counter()
    MotionDataset(prepared, "train", MotionDataConfig(feature_cache=str(cache)))  # builds the cache
    build = time.perf_counter() - started
    yield {"official": official, "prepared": prepared, "cache": cache, "cache_build_s": build}
    shutil.rmtree(root, ignore_errors=True)  # up to ~12 GB at N=30000: never leave it behind


def _once(benchmark, function, *args):
    gc.collect()
    return benchmark.pedantic(function, args=args, rounds=1, iterations=1, warmup_rounds=0)


def test_official_pattern(benchmark, data):
    assert _once(benchmark, official_epoch, data["official"]) == N


def test_ours_decoding_parquet(benchmark, data):
    assert _once(benchmark, our_epoch, data["prepared"], None) == N


def test_ours_with_feature_cache(benchmark, data):
    assert _once(benchmark, our_epoch, data["prepared"], data["cache"]) == N


# Runs one pipeline in a fresh interpreter, so neither inherits the other's heap or its garbage; imports
# (torch, pyarrow's Parquet reader) are done before the clock starts, as they are for any training run.
CHILD = """
import json, resource, sys, time
from pathlib import Path
import pyarrow.dataset  # noqa: F401  (imported lazily by the first Parquet read)
from tests.benchmarks.test_loader_speed import official_epoch, our_epoch
which, official, prepared, cache = sys.argv[1:5]
run = {
    "official": lambda: official_epoch(Path(official)),
    "parquet": lambda: our_epoch(Path(prepared), None),
    "cache": lambda: our_epoch(Path(prepared), Path(cache)),
}[which]
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
seen = run()
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"seen": seen, "wall": wall, "cpu": cpu}))
"""


def _child(which: str, data: dict) -> dict:
    repo = Path(__file__).resolve().parents[2]
    arguments = [str(data[k]) for k in ("official", "prepared", "cache")]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, which, *arguments], cwd=repo, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    "MOGEN_BENCH_LOADER_N" not in os.environ, reason="a measurement: set MOGEN_BENCH_LOADER_N (e.g. 30000)"
)
def test_goal_ratio(data):
    """Each pipeline once in its own process; the 10x goal is checked at the issue's scale only.

    The check uses CPU time (user + system) because wall time on a shared machine also measures the
    neighbours; both are printed. Our pipeline's Parquet reads are multi-threaded, so CPU time can only
    count against it.
    """
    runs = {
        "official": "official pattern",
        "parquet": "ours, Parquet decoded at open",
        "cache": "ours, cache",
    }
    timings = {}
    for which in runs:
        timings[which] = _child(which, data)
        assert timings[which]["seen"] == N
    base = timings["official"]
    print(f"\nN={N}: feature cache built in {data['cache_build_s']:.2f} s")
    for which, name in runs.items():
        wall, cpu = timings[which]["wall"], timings[which]["cpu"]
        wall_ratio, cpu_ratio = base["wall"] / wall, base["cpu"] / cpu
        print(f"  {name:30s} wall {wall:7.2f} s ({wall_ratio:5.1f}x)  cpu {cpu:7.2f} s ({cpu_ratio:5.1f}x)")
    if N >= 10_000:
        assert base["cpu"] / timings["cache"]["cpu"] >= 10.0
