"""Speed of SMPL forward kinematics without a body model (``smpl.smpl_joints_builtin``): batch vs one motion.

Goal: joint positions for a batch of 256 motions x 196 frames (about 50,000 SMPL poses) in one call, cheaper
per motion than one call per motion. Compare ``mean(batch) / 256`` with ``mean(one motion)``:

    python -m pytest tests/benchmarks/test_smpl_speed.py --benchmark-enable

With benchmarks disabled (the default run) each test executes once, on a batch of 8 motions, as an ordinary
test.
"""

from __future__ import annotations

import math

import torch

from mogen_bench.motion.smpl import smpl_joints_builtin

BATCH, FRAMES = 256, 196
SMALL_BATCH = 8  # when the benchmark fixture is disabled


def random_smpl_params(batch: int, frames: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random SMPL parameters: any root orientation, joint angles up to 0.5 rad a component, a root path
    and one body shape per motion (``smpl_joints_builtin`` ignores betas)."""
    rng = torch.Generator().manual_seed(seed)
    return {
        "global_orient": (torch.rand(batch, frames, 3, generator=rng) * 2 - 1) * math.pi,
        "body_pose": (torch.rand(batch, frames, 69, generator=rng) * 2 - 1) * 0.5,
        "transl": torch.randn(batch, frames, 3, generator=rng),
        "betas": torch.randn(batch, 10, generator=rng),
    }


def test_smpl_joints_batch(benchmark):
    batch = BATCH if benchmark.enabled else SMALL_BATCH
    params = random_smpl_params(batch, FRAMES)
    joints = benchmark(smpl_joints_builtin, params)
    assert joints.shape == (batch, FRAMES, 24, 3) and joints.dtype == torch.float32
    one = smpl_joints_builtin({key: value[1] for key, value in params.items()})
    assert torch.allclose(joints[1], one, atol=1e-6)


def test_smpl_joints_one_motion(benchmark):
    params = {key: value[0] for key, value in random_smpl_params(1, FRAMES).items()}
    joints = benchmark(smpl_joints_builtin, params)
    assert joints.shape == (FRAMES, 24, 3)
