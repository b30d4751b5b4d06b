"""Shared test fixtures: the published HuMMan-MoGen example and helpers to build release-shaped folders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

# The feature cache of training datasets goes to a throwaway folder, never the user's ~/.cache.
os.environ.setdefault("MOGEN_BENCH_CACHE", tempfile.mkdtemp(prefix="mogen-bench-cache-"))

# The tests run tiny models whose ops are far too small to gain from intra-op threads, and on a busy
# machine torch's thread pool stalls each op by tens of milliseconds (a composed evaluation took 70 s
# with 2 threads under load, 4 s with one). Benchmarks set their own thread counts.
torch.set_num_threads(1)

FIXTURES = Path(__file__).parent / "fixtures"
HUMMAN_EXAMPLE = FIXTURES / "humman_mogen" / "annotations" / "p000459_a000011.json"
HUMMAN_EXAMPLE_FRAMES = 66


@pytest.fixture
def example_path() -> Path:
    return HUMMAN_EXAMPLE


@pytest.fixture
def example_stages() -> list[dict]:
    return json.loads(HUMMAN_EXAMPLE.read_text())


def write_smpl_npz(path: Path, num_frames: int) -> None:
    """A HuMMan-MoGen-shaped SMPL sequence (zeros are enough where only the length matters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        betas=np.zeros((num_frames, 10), np.float32),
        body_pose=np.zeros((num_frames, 69), np.float32),
        global_orient=np.zeros((num_frames, 3), np.float32),
        transl=np.zeros((num_frames, 3), np.float32),
    )


@pytest.fixture
def release_root(tmp_path: Path) -> Path:
    """A HuMMan-MoGen release root holding the published example and its (synthetic) motion."""
    root = tmp_path / "humman_release_v1.0_mogen"
    (root / "annotations").mkdir(parents=True)
    shutil.copy(HUMMAN_EXAMPLE, root / "annotations" / HUMMAN_EXAMPLE.name)
    write_smpl_npz(root / "smpl_on_ground" / "p000459_a000011.npz", HUMMAN_EXAMPLE_FRAMES)
    return root


def shared_sample_dir() -> Path:
    """The real HumanML3D sample (clip 012314 + statistics) in the project's shared folder.

    Found at ``$MOGEN_BENCH_SHARED/data/humanml3d_sample`` or ``../shared/data/humanml3d_sample`` beside the
    repository. Its data is not redistributed with the code, so outside CI the tests that need it skip when
    it is absent; under CI (``CI`` set) its absence is a failure, so those tests cannot silently vanish.
    """
    import os

    base = Path(os.environ.get("MOGEN_BENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    sample = base / "data" / "humanml3d_sample"
    if not sample.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the HumanML3D sample is missing under CI: {sample}")
        pytest.skip(f"the HumanML3D sample is not here: {sample} (set MOGEN_BENCH_SHARED)")
    return sample


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A prepared humanml3d-263 dataset of 28 learnable motions (captions and stages; tests/tiny_runs.py)."""
    from mogen_bench.data.writer import prepare_dataset
    from tests.record_source import RecordSource
    from tests.tiny_runs import _records

    root = tmp_path_factory.mktemp("tiny_dataset")
    source = RecordSource(root / "in", _records(), representation="humanml3d-263")
    return prepare_dataset(source, root / "ds").folder


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory) -> Path:
    """A tiny MDM trained 6 steps on ``tiny_dataset`` (checkpoints at steps 3 and 6)."""
    from tests.tiny_runs import _train

    out = tmp_path_factory.mktemp("tiny_runs") / "mdm"
    _train(tiny_dataset, out, "train.max_steps=6")
    return out
