"""Mirroring: involution, golden values, agreement with extracting features of mirrored joints, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import (
    HUMANML3D_SPEC,
    HUMANML3D_TARGET_BONE_LENGTHS,
    KIT_SPEC,
    extract_features,
    recover_from_ric,
    recover_from_rot,
    recover_root,
    uniform_skeleton,
)
from mogen_bench.motion.kinematics import forward_kinematics
from mogen_bench.motion.mirror import feature_mirror_map, mirror_features, mirror_joints
from mogen_bench.motion.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_cont6d,
    qinv,
    qrot,
)
from mogen_bench.motion.skeletons import KIT21, SMPL22, SMPL24

from .conftest import shared_sample_dir

BLOCKS = {"root": slice(0, 4), "ric": slice(4, 67), "rot": slice(67, 193), "vel": slice(193, 259)}
REFLECT = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))


@pytest.fixture(scope="module")
def clip():
    """Released clip 012314 in float64: its features (170 frames) and its joints with all 171 frames."""
    sample = shared_sample_dir()
    features = torch.from_numpy(np.load(sample / "new_joint_vecs" / "012314.npy")).double()
    joints = torch.from_numpy(np.load(sample / "new_joints" / "012314.npy")).double()
    # new_joints stops one frame short; the last feature frame's velocities give the missing frame.
    heading, _ = recover_root(features)
    last = joints[-1] + qrot(qinv(heading[-1])[None], features[-1, 193:259].reshape(22, 3))
    return features, torch.cat([joints, last[None]], dim=0)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _symmetric_lengths(lengths: torch.Tensor, skeleton) -> torch.Tensor:
    """Bone lengths averaged with the other side's: a skeleton that is its own mirror image."""
    return (lengths + lengths[list(skeleton.mirror_permutation())]) / 2


@pytest.mark.parametrize("skeleton", [SMPL22, SMPL24, KIT21])
def test_mirroring_joints_twice_is_the_identity(skeleton):
    joints = _randn(2, 5, skeleton.num_joints, 3)
    assert torch.equal(mirror_joints(mirror_joints(joints, skeleton), skeleton), joints)
    array = np.random.default_rng(0).normal(size=(7, skeleton.num_joints, 3)).astype(np.float32)
    twice = mirror_joints(mirror_joints(array, skeleton), skeleton)
    assert isinstance(twice, np.ndarray) and twice.dtype == np.float32 and np.array_equal(twice, array)


@pytest.mark.parametrize("spec", [HUMANML3D_SPEC, KIT_SPEC])
def test_mirroring_features_twice_is_the_identity(spec):
    features = _randn(3, 11, spec.dims)
    assert torch.equal(mirror_features(mirror_features(features, spec), spec), features)
    source, sign = feature_mirror_map(spec)
    assert sorted(source) == list(range(spec.dims)) and set(sign) == {-1.0, 1.0}


def test_mirror_joints_golden_values():
    joints = torch.zeros(22, 3, dtype=torch.float64)
    joints[1] = _f64(0.1, 0.9, 0.05)  # left hip, on the subject's left (+x)
    joints[2] = _f64(-0.11, 0.91, 0.04)  # right hip
    joints[15] = _f64(0.02, 1.6, 0.1)  # head, a little left of the midline
    mirrored = mirror_joints(joints)
    assert mirrored[1].tolist() == [0.11, 0.91, 0.04]
    assert mirrored[2].tolist() == [-0.1, 0.9, 0.05]
    assert mirrored[15].tolist() == [-0.02, 1.6, 0.1]


def test_mirror_features_golden_values():
    features = torch.zeros(263, dtype=torch.float64)
    features[0:4] = _f64(0.1, 0.2, 0.3, 0.9)  # root: turning speed, x and z velocity, height
    features[4:7] = _f64(0.1, -0.05, 0.02)  # ric of joint 1, the left hip
    features[193 + 3 * 20 : 193 + 3 * 21] = _f64(0.5, 0.1, -0.2)  # velocity of the left wrist
    features[259:263] = _f64(1.0, 1.0, 0.0, 1.0)  # contacts: left ankle, foot, right ankle, foot
    mirrored = mirror_features(features)
    assert mirrored[0:4].tolist() == [-0.1, -0.2, 0.3, 0.9]
    assert mirrored[7:10].tolist() == [-0.1, -0.05, 0.02]  # now the right hip's
    assert mirrored[4:7].tolist() == [0.0, 0.0, 0.0]
    assert mirrored[193 + 3 * 21 : 193 + 3 * 22].tolist() == [-0.5, 0.1, -0.2]  # now the right wrist's
    assert mirrored[259:263].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert torch.count_nonzero(mirrored) == torch.count_nonzero(features)


@pytest.mark.parametrize("spec", [HUMANML3D_SPEC, KIT_SPEC])
def test_rotations_are_conjugated_by_the_reflection(spec):
    j = spec.num_joints
    start = 4 + 3 * (j - 1)
    matrices = axis_angle_to_matrix(_randn(4, j - 1, 3))
    features = _randn(4, spec.dims, seed=1)
    features[:, start : start + 6 * (j - 1)] = matrix_to_cont6d(matrices).reshape(4, -1)
    mirrored = mirror_features(features, spec)[:, start : start + 6 * (j - 1)].reshape(4, j - 1, 6)
    perm = [p - 1 for p in spec.skeleton.mirror_permutation()[1:]]
    expected = matrix_to_cont6d(REFLECT @ matrices[:, perm] @ REFLECT)
    assert torch.equal(mirrored, expected)


def test_mirroring_swaps_the_released_foot_contacts(clip):
    features, _ = clip
    contacts = features[:, 259:263]
    assert (contacts[:, :2] != contacts[:, 2:]).any(dim=1).sum() == 66  # the swap is seen on 66 frames
    mirrored = mirror_features(features)[:, 259:263]
    assert torch.equal(mirrored, torch.cat([contacts[:, 2:], contacts[:, :2]], dim=1))


def test_extraction_commutes_with_mirroring_on_a_symmetric_skeleton(clip):
    _, joints = clip
    lengths = _symmetric_lengths(torch.tensor(HUMANML3D_TARGET_BONE_LENGTHS, dtype=torch.float64), SMPL22)
    joints = uniform_skeleton(joints, HUMANML3D_SPEC, lengths)  # the clip, refitted to that skeleton
    mirrored_first = extract_features(mirror_joints(joints), bone_lengths=lengths)
    mirrored_after = mirror_features(extract_features(joints, bone_lengths=lengths))
    assert (mirrored_first - mirrored_after).abs().max() <= 1e-12  # measured: 0.0 in float64


def test_extraction_nearly_commutes_with_mirroring_on_the_released_skeleton(clip):
    # HumanML3D's target skeleton is not symmetric (left and right bones differ by up to 8.6 mm), and
    # extraction refits every motion to it, so a mirrored clip is fitted to a slightly different skeleton
    # than the mirror of the original's. Measured in float64 (float32 alike), max / mean per block:
    # root 4.1e-2 / 1.3e-3, ric 7.8e-2 / 3.6e-3, rot 1.25e-1 / 4.2e-3, vel 4.0e-2 / 5.5e-4, the maxima
    # around a fast turn at frames 22-26; 1 of the 680 contacts differs.
    _, joints = clip
    mirrored_first = extract_features(mirror_joints(joints))
    mirrored_after = mirror_features(extract_features(joints))
    tolerances = {"root": (5e-2, 2e-3), "ric": (1e-1, 5e-3), "rot": (1.5e-1, 5e-3), "vel": (5e-2, 1e-3)}
    for name, block in BLOCKS.items():
        error = (mirrored_first[:, block] - mirrored_after[:, block]).abs()
        assert error.max() <= tolerances[name][0], (name, error.max().item())
        assert error.mean() <= tolerances[name][1], (name, error.mean().item())
    assert (mirrored_first[:, 259:] != mirrored_after[:, 259:]).sum() <= 1


def test_recovery_commutes_with_mirroring(clip):
    features, _ = clip
    recovered = recover_from_ric(mirror_features(features))
    assert (recovered - mirror_joints(recover_from_ric(features))).abs().max() <= 1e-12  # measured: 0.0
    # Forward kinematics of the mirrored 6D rotations, on a symmetric skeleton.
    lengths = _symmetric_lengths(torch.tensor(HUMANML3D_TARGET_BONE_LENGTHS, dtype=torch.float64), SMPL22)
    recovered = recover_from_rot(mirror_features(features), bone_lengths=lengths)
    expected = mirror_joints(recover_from_rot(features, bone_lengths=lengths))
    assert (recovered - expected).abs().max() <= 1e-12  # measured: 0.0


def test_kit_extraction_commutes_with_mirroring_on_a_symmetric_skeleton():
    # A KIT-ML motion (millimetres) on a symmetric skeleton: the root, spine and left leg stand still, so
    # the left foot is in contact throughout, while the arms, head and right leg swing.
    frames = 40
    rng = torch.Generator().manual_seed(5)
    lengths = _symmetric_lengths(torch.rand(21, generator=rng, dtype=torch.float64) * 200 + 100, KIT21)
    t = torch.linspace(0, 3, frames, dtype=torch.float64)[:, None, None]
    amplitude = torch.rand(21, 3, generator=rng, dtype=torch.float64) - 0.5
    amplitude[[0, 1, 2, 3, 5, 8, *range(11, 16)]] = 0.0
    rotations = axis_angle_to_quaternion(amplitude * torch.sin(2 * t + torch.arange(21)[:, None]))
    root = torch.tensor([0.0, 900.0, 0.0], dtype=torch.float64).expand(frames, 3)
    offsets = lengths[:, None] * torch.tensor(KIT21.raw_offsets, dtype=torch.float64)
    joints = forward_kinematics(KIT21, rotations, root, offsets)

    features = extract_features(joints, KIT_SPEC, bone_lengths=lengths)
    contacts = features[:, 247:251]
    assert contacts[:, :2].sum() < contacts[:, 2:].sum() == 2 * (frames - 1)  # "right_foot" = KIT left
    mirrored_first = extract_features(mirror_joints(joints, KIT21), KIT_SPEC, bone_lengths=lengths)
    mirrored_after = mirror_features(features, KIT_SPEC)
    assert (
        mirrored_first - mirrored_after
    ).abs().max() <= 1e-10  # measured: 2.3e-13 (millimetres; features up to 1.3e3)


def test_numpy_and_batches():
    features = np.random.default_rng(1).normal(size=(2, 9, 263)).astype(np.float32)
    mirrored = mirror_features(features)
    assert isinstance(mirrored, np.ndarray) and mirrored.dtype == np.float32 and mirrored.shape == (2, 9, 263)
    assert np.array_equal(mirrored[1], mirror_features(features[1]))
    assert np.array_equal(mirrored, mirror_features(torch.from_numpy(features)).numpy())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mirror_features(torch.zeros(5, 251)), r"shape \(\.\.\., 263\) for smpl-22, got \(5, 251\)"),
        (lambda: mirror_features(torch.zeros(5, 263), KIT_SPEC), r"shape \(\.\.\., 251\) for kit-21"),
        (
            lambda: mirror_joints(torch.zeros(4, 21, 3)),
            r"shape \(\.\.\., 22, 3\) for smpl-22, got \(4, 21, 3\)",
        ),
        (lambda: mirror_joints(torch.zeros(4, 22, 2)), r"shape \(\.\.\., 22, 3\)"),
        (
            lambda: mirror_features([0.0] * 263),
            r"needs features as a torch tensor or numpy array of shape \(\.\.\., 263\), got list",
        ),
        (
            lambda: mirror_joints(np.zeros((22, 3), dtype=np.int64)),
            "needs a floating-point joints, got dtype int64",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(MogenBenchError, match=message):
        call()


def test_rot6d_mirror_is_an_involution_and_matches_mirrored_smpl_parameters():
    from mogen_bench.motion.mirror import mirror_rot6d
    from mogen_bench.motion.rotations import axis_angle_to_matrix, matrix_to_axis_angle
    from mogen_bench.motion.smpl_rot6d import smpl_to_rot6d

    rng = torch.Generator().manual_seed(5)
    orient = torch.randn(12, 3, generator=rng, dtype=torch.float64) * 0.5
    pose = torch.randn(12, 69, generator=rng, dtype=torch.float64) * 0.3
    transl = torch.cumsum(torch.randn(12, 3, generator=rng, dtype=torch.float64) * 0.05, 0)
    features = smpl_to_rot6d(orient, pose, transl)
    assert torch.equal(mirror_rot6d(mirror_rot6d(features)), features)

    # Mirror the SMPL motion itself: reflect through x = 0 (R -> M R M, axis-angle (x, y, z) -> (x, -y, -z)),
    # swap left and right joints (SMPL's 24 joints; the pelvis is joint 0 of the pose, body_pose starts at 1).
    reflect = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    perm = SMPL24.mirror_permutation()

    def mirror_aa(aa):
        return matrix_to_axis_angle(reflect @ axis_angle_to_matrix(aa) @ reflect)

    body = pose.reshape(12, 23, 3)
    mirrored_body = mirror_aa(body[:, [perm[j] - 1 for j in range(1, 24)]]).reshape(12, 69)
    expected = smpl_to_rot6d(
        mirror_aa(orient), mirrored_body, transl * torch.tensor([-1.0, 1, 1], dtype=torch.float64)
    )
    assert torch.allclose(mirror_rot6d(features), expected, atol=1e-10)
