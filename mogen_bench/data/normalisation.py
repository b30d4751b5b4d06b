"""Normalisation statistics of a prepared dataset, computed the way HumanML3D makes ``Mean.npy``/``Std.npy``.

HumanML3D (``cal_mean_variance``) takes the per-dimension mean and standard deviation over every frame,
then replaces the std of each feature group by the group's average: root angular velocity ``[0]``, root
planar velocity ``[1:3]``, root height ``[3]``, the ric, rot and velocity blocks, and the foot contacts.
Averaging within a group keeps the relative scale of the joints inside a block (a wrist moves more than a
hip) while putting the blocks on comparable footing. For ``smpl-rot6d-135`` (TEACH-style) the groups are
root height, root planar velocity and the 6D rotations.

The statistics here are computed from the ``train`` split only, so no test frame leaks into training;
sources that ship their own statistics (HumanML3D's ``Mean.npy``/``Std.npy``) keep them bit for bit.
These are the *training* statistics. Evaluators carry their own, separate statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.part_slices import feature_blocks

#: Standard deviations below this count as zero (a constant dimension), so dividing by them stays finite.
STD_FLOOR = 1e-8


def feature_groups(representation: str, dims: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each group whose std is averaged, covering all ``dims`` dimensions."""
    if representation in ("humanml3d-263", "kit-251"):
        joints = 22 if representation == "humanml3d-263" else 21
        blocks = feature_blocks(joints)
        groups = [(0, 1), (1, 3), (3, 4)]
        groups += [(b.start, b.stop) for b in (blocks.ric, blocks.rot, blocks.vel, blocks.contact)]
    elif representation == "smpl-rot6d-135":
        groups = [(0, 1), (1, 3), (3, 135)]
    else:
        groups = [(0, dims)]
    if groups[-1][1] != dims:
        raise MogenBenchError(f"{representation} has {groups[-1][1]} dims, the features have {dims}")
    return groups


@dataclass
class RunningMoments:
    """Per-dimension mean and variance over many motions in float64, merged motion by motion (Chan et al.)."""

    dims: int
    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def add(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=np.float64).reshape(-1, self.dims)
        n = frames.shape[0]
        if n == 0:
            return
        mean = frames.mean(axis=0)
        m2 = ((frames - mean) ** 2).sum(axis=0)
        if self.count == 0:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    def std(self) -> np.ndarray:
        """Population std (numpy's default ``ddof=0``, as ``cal_mean_variance`` uses)."""
        return np.sqrt(self.m2 / self.count)


def grouped_statistics(moments: RunningMoments, representation: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` float32 with the std averaged within each feature group, floored at ``STD_FLOOR``."""
    if moments.count == 0:
        raise MogenBenchError(
            "no training frames to compute normalisation statistics from",
            field="train split",
            fix="check that the input has motions in the train split (see the skipped items)",
        )
    std = moments.std()
    for start, end in feature_groups(representation, moments.dims):
        std[start:end] = std[start:end].mean()
    std = np.maximum(std, STD_FLOOR)
    return moments.mean.astype(np.float32), std.astype(np.float32)
