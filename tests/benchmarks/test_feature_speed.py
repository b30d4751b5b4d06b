"""Speed of HumanML3D feature extraction and recovery: batched torch vs the per-motion numpy baseline.

Goal (issue 3): a batch of 256 motions x 196 frames at least 20x faster per motion than a per-motion
numpy implementation of the published algorithm. Compare ``median(batch) / 256`` with ``median(numpy)``.
``test_recover_batch`` runs the compiled kernel where it builds (its ``extra_info`` says which ran) and
``test_recover_batch_torch_ops`` the portable torch code:

    python -m pytest tests/benchmarks/test_feature_speed.py --benchmark-enable
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mogen_bench import native
from mogen_bench.motion import guo_features
from mogen_bench.motion.guo_features import HUMANML3D_SPEC, extract_features, recover_from_ric
from mogen_bench.motion.kinematics import forward_kinematics
from mogen_bench.motion.rotations import axis_angle_to_quaternion

from . import numpy_reference

BATCH, FRAMES = 256, 196


def synthetic_motions(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    """Smooth random motions on the HumanML3D target skeleton: swinging joints and a wandering root."""
    rng = torch.Generator().manual_seed(seed)
    joints = HUMANML3D_SPEC.num_joints
    t = torch.arange(frames, dtype=torch.float64)[None, :, None, None] / 20.0
    amplitude = torch.rand(batch, 1, joints, 3, generator=rng, dtype=torch.float64) * 0.6
    frequency = torch.rand(batch, 1, joints, 3, generator=rng, dtype=torch.float64) * 2 + 0.5
    phase = torch.rand(batch, 1, joints, 3, generator=rng, dtype=torch.float64) * 2 * math.pi
    rotations = axis_angle_to_quaternion(amplitude * torch.sin(2 * math.pi * frequency * t + phase))
    speed = torch.rand(batch, 1, 1, generator=rng, dtype=torch.float64) * 0.05
    root = torch.zeros(batch, frames, 3, dtype=torch.float64)
    root[..., 1] = 0.9 + 0.02 * torch.sin(4 * t[0, :, 0, 0])
    root[..., 2] = speed[..., 0] * torch.arange(frames, dtype=torch.float64)
    offsets = torch.tensor(HUMANML3D_SPEC.target_bone_lengths, dtype=torch.float64)[:, None] * torch.tensor(
        HUMANML3D_SPEC.skeleton.raw_offsets, dtype=torch.float64
    )
    return forward_kinematics(HUMANML3D_SPEC.skeleton, rotations, root, offsets).float()


@pytest.fixture(scope="module")
def motions() -> torch.Tensor:
    return synthetic_motions(BATCH, FRAMES)


def test_numpy_baseline_agrees_with_the_batched_implementation():
    motions = synthetic_motions(2, 60, seed=1).double()
    batched = extract_features(motions).numpy()
    for index in range(2):
        reference = numpy_reference.process_file(motions[index].numpy())
        assert np.abs(reference - batched[index]).max() < 1e-10
        recovered = numpy_reference.recover_from_ric(reference)
        for recover in (recover_from_ric, guo_features._recover_from_ric_torch):
            assert np.abs(recovered - recover(torch.from_numpy(reference)).numpy()).max() < 1e-12


def test_chunked_extraction_equals_one_by_one(monkeypatch):
    # extract_features works through a batch in chunks of motions; per-motion bone lengths follow them.
    motions = synthetic_motions(5, 40, seed=2).double()
    scale = 1 + 0.1 * torch.arange(5, dtype=torch.float64)[:, None]
    lengths = torch.tensor(HUMANML3D_SPEC.target_bone_lengths, dtype=torch.float64) * scale
    monkeypatch.setattr(guo_features, "_CHUNK_ELEMENTS", 2 * 40 * HUMANML3D_SPEC.num_joints)
    chunked = extract_features(motions, bone_lengths=lengths)
    assert chunked.shape == (5, 39, 263)
    for index in range(5):
        alone = extract_features(motions[index], bone_lengths=lengths[index])
        assert torch.allclose(chunked[index], alone, atol=1e-12)


def test_chunked_recovery_equals_one_by_one(monkeypatch):
    # recover_from_ric works through a batch in chunks of motions (here 4, then the remaining 2); leading
    # dimensions are flattened into the batch and restored.
    features = extract_features(synthetic_motions(6, 40, seed=3))
    monkeypatch.setattr(guo_features, "_RECOVER_CHUNK_ELEMENTS", 4 * 39 * 21)
    chunked = guo_features._recover_from_ric_torch(features.reshape(2, 3, 39, 263))
    assert chunked.shape == (2, 3, 39, 22, 3)
    for index in range(6):
        alone = guo_features._recover_from_ric_torch(features[index])
        assert torch.equal(chunked.reshape(6, 39, 22, 3)[index], alone)


def test_extract_batch(benchmark, motions):
    torch.set_num_threads(torch.get_num_threads())
    features = benchmark(extract_features, motions)
    assert features.shape == (BATCH, FRAMES - 1, 263)


def test_extract_one_motion_numpy_baseline(benchmark, motions):
    motion = motions[0].double().numpy()
    features = benchmark(numpy_reference.process_file, motion)
    assert features.shape == (FRAMES - 1, 263)


def test_recover_batch(benchmark, motions):
    # The compiled kernel where it builds (benchmark.extra_info says which ran), else the torch ops.
    features = extract_features(motions[:BATCH])
    benchmark.extra_info["recover_ric kernel"] = native.status("recover_ric")
    joints = benchmark(recover_from_ric, features)
    assert joints.shape == (BATCH, FRAMES - 1, 22, 3)


def test_recover_batch_torch_ops(benchmark, motions):
    # The portable torch code that runs on GPUs and wherever the kernel cannot be built.
    features = extract_features(motions[:BATCH])
    joints = benchmark(guo_features._recover_from_ric_torch, features)
    assert joints.shape == (BATCH, FRAMES - 1, 22, 3)


def test_recover_one_motion_numpy_baseline(benchmark, motions):
    features = extract_features(motions[0]).double().numpy()
    joints = benchmark(numpy_reference.recover_from_ric, features)
    assert joints.shape == (FRAMES - 1, 22, 3)
