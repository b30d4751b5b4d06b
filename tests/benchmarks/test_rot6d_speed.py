"""Speed of the ``smpl-rot6d-135`` representation (``smpl_rot6d.smpl_to_rot6d`` and ``rot6d_to_smpl``).

Goal: features of a batch of 256 motions x 196 frames and the SMPL parameters back, each in one call; no
target time is set yet, so compare runs over time:

    python -m pytest tests/benchmarks/test_rot6d_speed.py --benchmark-enable

With benchmarks disabled (the default run) each test executes once, on a batch of 8 motions, as an ordinary
test.
"""

from __future__ import annotations

from mogen_bench.motion.smpl_rot6d import SMPL_ROT6D_DIMS, rot6d_to_smpl, smpl_to_rot6d

from .test_smpl_speed import random_smpl_params

BATCH, FRAMES = 256, 196
SMALL_BATCH = 8  # when the benchmark fixture is disabled


def _params(benchmark):
    batch = BATCH if benchmark.enabled else SMALL_BATCH
    params = random_smpl_params(batch, FRAMES)
    return batch, params["global_orient"], params["body_pose"], params["transl"]


def test_smpl_to_rot6d_batch(benchmark):
    batch, global_orient, body_pose, transl = _params(benchmark)
    features = benchmark(smpl_to_rot6d, global_orient, body_pose, transl)
    assert features.shape == (batch, FRAMES, SMPL_ROT6D_DIMS)


def test_rot6d_to_smpl_batch(benchmark):
    batch, global_orient, body_pose, transl = _params(benchmark)
    features = smpl_to_rot6d(global_orient, body_pose, transl)
    params = benchmark(rot6d_to_smpl, features)
    assert params["global_orient"].shape == (batch, FRAMES, 3)
    assert params["body_pose"].shape == (batch, FRAMES, 69)
    assert params["transl"].shape == (batch, FRAMES, 3)
