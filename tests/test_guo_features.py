"""HumanML3D features: agreement with the released clip 012314, invariances, batching and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion import guo_features
from mogen_bench.motion.guo_features import (
    HUMANML3D_SPEC,
    KIT_SPEC,
    extract_features,
    recover_from_ric,
    recover_from_rot,
    recover_root,
)
from mogen_bench.motion.kinematics import (
    bone_offsets,
    forward_kinematics,
    gaussian_smooth,
    inverse_kinematics,
)
from mogen_bench.motion.rotations import axis_angle_to_quaternion, qinv, qrot
from mogen_bench.motion.skeletons import KIT21, SMPL22

from .conftest import shared_sample_dir

BLOCKS = {"root": slice(0, 4), "ric": slice(4, 67), "rot": slice(67, 193), "vel": slice(193, 259)}


@pytest.fixture(scope="module")
def clip():
    sample = shared_sample_dir()
    features = torch.from_numpy(np.load(sample / "new_joint_vecs" / "012314.npy"))
    joints = torch.from_numpy(np.load(sample / "new_joints" / "012314.npy"))
    return features, joints


def _with_last_frame(features, joints):
    """new_joints has T-1 frames; the velocity block of the last feature frame gives the missing T-th."""
    heading, _ = recover_root(features)
    last = joints[-1] + qrot(qinv(heading[-1])[None], features[-1, 193:259].reshape(22, 3))
    return torch.cat([joints, last[None]], dim=0)


# recover_from_ric's three ways: the compiled kernel (where it builds), the torch code (GPUs, machines
# without a compiler) and the differentiable code (features that need a gradient).
RIC_RECOVERIES = {
    "dispatch": recover_from_ric,
    "torch ops": guo_features._recover_from_ric_torch,
    "differentiable": lambda features: guo_features._recover_from_ric_differentiable(features, 22),
}


@pytest.mark.parametrize("way", RIC_RECOVERIES)
def test_recover_from_ric_reproduces_the_released_joints(clip, way):
    features, joints = clip
    # measured: 2.4e-7 in float32 each way
    assert (RIC_RECOVERIES[way](features) - joints).abs().max() <= 1e-5


def test_recover_from_ric_in_float32_agrees_with_float64(clip):
    features, _ = clip
    recovered = recover_from_ric(features)
    assert recovered.dtype == torch.float32
    assert (recovered.double() - recover_from_ric(features.double())).abs().max() <= 1e-6  # measured: 2.6e-7


def test_recover_from_rot_reproduces_the_released_joints(clip):
    features, joints = clip
    assert (recover_from_rot(features) - joints).abs().max() <= 1e-5  # measured: 1.4e-6


@pytest.mark.parametrize(
    "dtype, tolerances",
    [
        # Measured maxima: float32 4.5e-7, 3.9e-6, 9.9e-6, 5.8e-6; float64 1.1e-7, 1.2e-6, 7.8e-6, 1.9e-6.
        (torch.float32, {"root": 1e-6, "ric": 1e-5, "rot": 2e-5, "vel": 1e-5}),
        (torch.float64, {"root": 1e-6, "ric": 5e-6, "rot": 2e-5, "vel": 5e-6}),
    ],
)
def test_extract_features_reproduces_the_released_features(clip, dtype, tolerances):
    features, joints = clip
    full = _with_last_frame(features.to(dtype), joints.to(dtype))
    extracted = extract_features(full)
    assert extracted.shape == features.shape == (170, 263) and extracted.dtype == dtype
    for name, block in BLOCKS.items():
        error = (extracted[:, block] - features[:, block].to(dtype)).abs().max().item()
        assert error <= tolerances[name], (name, error)
    assert torch.equal(extracted[:, 259:], features[:, 259:].to(dtype))  # foot contacts exactly


def test_features_ignore_where_the_motion_starts_and_faces(clip):
    features, joints = clip
    joints = _with_last_frame(features, joints).double()
    turn = axis_angle_to_quaternion(torch.tensor([0.0, 1.3, 0.0], dtype=torch.float64))
    moved = qrot(turn, joints) + torch.tensor([2.0, 0.4, -1.5], dtype=torch.float64)
    assert (extract_features(moved) - extract_features(joints)).abs().max() <= 1e-9


def test_features_are_retargeted_to_the_target_skeleton(clip):
    features, joints = clip
    joints = _with_last_frame(features, joints).double()
    # A taller person doing the same motion: every length scaled, so retargeting undoes it exactly.
    assert (extract_features(joints * 1.25) - extract_features(joints)).abs().max() <= 1e-9


def test_batch_equals_one_by_one(clip):
    features, joints = clip
    joints = _with_last_frame(features, joints).double()
    turn = axis_angle_to_quaternion(torch.tensor([0.0, -0.7, 0.0], dtype=torch.float64))
    batch = torch.stack([joints, qrot(turn, joints) * 0.9])
    extracted = extract_features(batch)
    assert extracted.shape == (2, 170, 263)
    assert torch.allclose(extracted[1], extract_features(batch[1]), atol=1e-12)
    recovered = recover_from_ric(extracted)
    assert torch.allclose(recovered[0], recover_from_ric(extracted[0]), atol=1e-12)


def test_recover_root_golden_values():
    features = torch.zeros(3, 263, dtype=torch.float64)
    features[:, 0] = math.pi / 4  # a quarter turn per frame (the feature is half the angle)
    features[:, 1:3] = torch.tensor([0.0, 1.0], dtype=torch.float64)  # one metre forward per frame
    features[:, 3] = 0.9
    heading, root = recover_root(features)
    expected_heading = [[1, 0, 0, 0], [math.cos(math.pi / 4), 0, math.sin(math.pi / 4), 0], [0, 0, 1, 0]]
    assert torch.allclose(heading, torch.tensor(expected_heading, dtype=torch.float64), atol=1e-12)
    # As the official code indexes it, the step into frame t is turned by frame t's heading:
    # step 1 by a quarter turn ((0, 0, 1) -> (-1, 0, 0)), step 2 by a half turn ((0, 0, 1) -> (0, 0, -1)).
    expected_root = torch.tensor([[0, 0.9, 0], [-1, 0.9, 0], [-1, 0.9, -1]], dtype=torch.float64)
    assert torch.allclose(root, expected_root, atol=1e-12)


def test_gaussian_smooth_matches_scipy():
    x = torch.randn(2, 37, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = gaussian_filter1d(x.numpy(), 20, axis=1, mode="nearest")
    assert np.abs(gaussian_smooth(x, 20, dim=1).numpy() - expected).max() < 1e-14
    expected = gaussian_filter1d(x.numpy(), 1.5, axis=2, mode="nearest")
    assert np.abs(gaussian_smooth(x, 1.5, dim=2).numpy() - expected).max() < 1e-14


def test_inverse_then_forward_kinematics_round_trip(clip):
    _, joints = clip
    joints = joints.double()
    rotations = inverse_kinematics(SMPL22, joints, HUMANML3D_SPEC.ik_across_pairs, smooth_sigma=20)
    rebuilt = forward_kinematics(SMPL22, rotations, joints[:, 0], bone_offsets(SMPL22, joints[0]))
    assert (rebuilt - joints).abs().max() <= 5e-6  # bone lengths in the float32 data vary by 1.2e-6
    assert torch.allclose(rotations[0, 0], torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))


def test_kit_needs_its_target_skeleton_and_then_gives_251_dims():
    rng = torch.Generator().manual_seed(3)
    lengths = torch.rand(21, generator=rng, dtype=torch.float64) * 200 + 100  # KIT is in millimetres
    rest = forward_kinematics(
        KIT21,
        torch.tensor([1.0, 0, 0, 0], dtype=torch.float64).expand(21, 4),
        torch.tensor([0.0, 900.0, 0.0], dtype=torch.float64),
        lengths[:, None] * torch.tensor(KIT21.raw_offsets, dtype=torch.float64),
    )
    walk = rest + torch.linspace(0, 100, 30, dtype=torch.float64)[:, None, None] * torch.tensor([0, 0, 1.0])
    with pytest.raises(MogenBenchError, match="no target skeleton is built in for kit-21"):
        extract_features(walk, KIT_SPEC)
    features = extract_features(walk, KIT_SPEC, bone_lengths=lengths)
    assert features.shape == (29, 251) and KIT_SPEC.dims == 251
    # With KIT's published face joints this rest pose faces -z, so extraction turns it half way round
    # about y after putting it on the floor with the frame-0 root above the origin.
    half_turn = axis_angle_to_quaternion(torch.tensor([0.0, math.pi, 0.0], dtype=torch.float64))
    floor = torch.tensor([0.0, rest[:, 1].min().item(), 0.0], dtype=torch.float64)
    expected = qrot(
        half_turn, walk[:-1] - walk[0, 0] * torch.tensor([1.0, 0, 1.0], dtype=torch.float64) - floor
    )
    assert torch.allclose(recover_from_ric(features, 21), expected, atol=1e-9)


@pytest.mark.parametrize(
    "joints, message",
    [
        (torch.zeros(10, 21, 3), r"shape \(\.\.\., T, 22, 3\), got \(10, 21, 3\)"),
        (torch.zeros(1, 22, 3), "at least 2 frames"),
        (torch.full((4, 22, 3), float("nan")), "NaN or inf"),
    ],
)
def test_bad_input(joints, message):
    with pytest.raises(MogenBenchError, match=message):
        extract_features(joints)


def test_bone_lengths_measured_from_a_released_clip_are_the_target_skeletons(clip):
    from mogen_bench.motion.guo_features import HUMANML3D_SPEC, measure_bone_lengths

    features, joints = clip
    target = torch.tensor(HUMANML3D_SPEC.target_bone_lengths, dtype=torch.float64)
    # From the released features (joints recovered) and from the released joints alike.
    for motion in (features, joints):
        measured = measure_bone_lengths(motion, HUMANML3D_SPEC)
        assert measured.shape == (22,) and measured[0] == 0
        torch.testing.assert_close(measured, target, atol=2e-6, rtol=0)
    # Extraction with measured lengths equals extraction with the built-in target.
    lengths = measure_bone_lengths(features, HUMANML3D_SPEC)
    full = _with_last_frame(features, joints).double()
    torch.testing.assert_close(
        extract_features(full, HUMANML3D_SPEC, bone_lengths=lengths),
        extract_features(full, HUMANML3D_SPEC),
        atol=1e-5,
        rtol=0,
    )
    with pytest.raises(MogenBenchError, match="cannot measure"):
        measure_bone_lengths(torch.zeros(5, 10), HUMANML3D_SPEC)
