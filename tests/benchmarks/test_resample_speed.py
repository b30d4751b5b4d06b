"""Speed of frame-rate conversion (``resample.resample_smpl``, ``resample.resample_rotations``), 30 to 20 fps.

Goal: resample a batch of 256 motions x 300 frames (10 s at 30 fps) to 20 fps (200 frames) in one call;
no target time is set yet, so compare runs over time:

    python -m pytest tests/benchmarks/test_resample_speed.py --benchmark-enable

With benchmarks disabled (the default run) each test executes once, on a batch of 8 motions, as an ordinary
test.
"""

from __future__ import annotations

import torch

from mogen_bench.motion.resample import num_resampled_frames, resample_rotations, resample_smpl

from .test_smpl_speed import random_smpl_params

BATCH, FRAMES = 256, 300
SOURCE_FPS, TARGET_FPS = 30, 20
SMALL_BATCH = 8  # when the benchmark fixture is disabled
TARGET_FRAMES = 200


def test_target_frame_count():
    assert num_resampled_frames(FRAMES, SOURCE_FPS, TARGET_FPS) == TARGET_FRAMES


def test_resample_smpl_batch(benchmark):
    batch = BATCH if benchmark.enabled else SMALL_BATCH
    params = random_smpl_params(batch, FRAMES)
    out = benchmark(resample_smpl, params, SOURCE_FPS, TARGET_FPS)
    assert out["global_orient"].shape == (batch, TARGET_FRAMES, 3)
    assert out["body_pose"].shape == (batch, TARGET_FRAMES, 69)
    assert out["transl"].shape == (batch, TARGET_FRAMES, 3)
    assert out["betas"].shape == (batch, 10)  # no frame axis: unchanged


def test_resample_rotations_batch(benchmark):
    batch = BATCH if benchmark.enabled else SMALL_BATCH
    rng = torch.Generator().manual_seed(0)
    quaternions = torch.nn.functional.normalize(torch.randn(batch, FRAMES, 24, 4, generator=rng), dim=-1)
    out = benchmark(resample_rotations, quaternions, SOURCE_FPS, TARGET_FPS)
    assert out.shape == (batch, TARGET_FRAMES, 24, 4)
