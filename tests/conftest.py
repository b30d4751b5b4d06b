"""Shared test fixtures: the published HuMMan-MoGen example and helpers to build release-shaped folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

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
