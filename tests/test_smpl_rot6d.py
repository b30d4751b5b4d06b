"""The ``smpl-rot6d-135`` representation (``mogen_bench.motion.smpl_rot6d``): the heading definition, round
trips in both directions, golden velocities, invariance to a rotation of the whole sequence about the
vertical, the z-up world, and the errors a caller gets for bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.rotations import axis_angle_to_matrix, matrix_to_cont6d
from mogen_bench.motion.smpl_rot6d import (
    HEIGHT,
    ROTATIONS,
    SMPL_ROT6D_DIMS,
    VELOCITY,
    canonicalize_rot6d,
    heading_angle,
    heading_matrix,
    rot6d_to_smpl,
    smpl_to_rot6d,
    yaw_matrix,
)

# z-up -> y-up world, (x, y, z) -> (-x, z, y), as in the module.
C_Z_TO_Y = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def random_smpl(rng: np.random.Generator, lead: tuple[int, ...], frames: int) -> dict[str, np.ndarray]:
    """Random parameters: uniformly random rotations (any angle) and a wandering translation."""
    shape = (*lead, frames)
    n = int(np.prod(shape))
    global_orient = Rotation.random(n, random_state=rng).as_rotvec().reshape(*shape, 3)
    body_pose = Rotation.random(n * 23, random_state=rng).as_rotvec().reshape(*shape, 69)
    transl = np.cumsum(rng.normal(scale=0.05, size=(*shape, 3)), axis=-2) + rng.normal(size=(*lead, 1, 3))
    return {"global_orient": global_orient, "body_pose": body_pose, "transl": transl}


def ypr(yaw, pitch, roll) -> np.ndarray:
    """``Ry(yaw) Rx(pitch) Rz(roll)`` (intrinsic Y-X-Z Euler angles, radians)."""
    angles = np.stack(np.broadcast_arrays(yaw, pitch, roll), axis=-1)
    return Rotation.from_euler("YXZ", angles.reshape(-1, 3)).as_matrix().reshape(*angles.shape[:-1], 3, 3)


def wrap(angle):
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


# ------------------------------------------------------------------------------------------- heading


def test_heading_is_the_yaw_of_a_yaw_pitch_roll_decomposition():
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-np.pi, np.pi, 500)
    pitch = rng.uniform(-1.5, 1.5, 500)  # |pitch| < 90 deg
    roll = rng.uniform(-np.pi, np.pi, 500)
    got = heading_angle(ypr(yaw, pitch, roll))
    np.testing.assert_allclose(wrap(got - yaw), 0, atol=1e-12)


def test_heading_golden_values():
    # Identity faces +z: heading 0. A quarter turn about +y takes +z to +x: heading +pi/2.
    np.testing.assert_allclose(heading_angle(np.eye(3)), 0.0, atol=1e-15)
    np.testing.assert_allclose(heading_angle(yaw_matrix(np.array(math.pi / 2))), math.pi / 2, atol=1e-15)
    np.testing.assert_allclose(heading_angle(yaw_matrix(np.array(-3.0))), -3.0, atol=1e-15)
    # Ry(heading) e_z points along the projected forward axis.
    rot = ypr(0.7, 0.4, -0.3)
    forward = rot[:, 2] * np.array([1, 0, 1])
    np.testing.assert_allclose(heading_matrix(rot)[:, 2], forward / np.linalg.norm(forward), atol=1e-15)


@pytest.mark.parametrize("yaw", [0.0, 1.0, -2.5, math.pi])
def test_heading_lying_flat_is_the_direction_faced_before_tipping_over(yaw):
    # Face down (pitched forward 90 deg: the head points along the old forward) and on the back (pitched
    # back 90 deg: the feet point along it) keep the heading, and agree with the projection just before.
    for pitch in (math.pi / 2, -math.pi / 2, math.radians(89.99), -math.radians(89.99)):
        assert wrap(heading_angle(ypr(yaw, pitch, 0.0)) - yaw) == pytest.approx(0.0, abs=1e-9)
    # Face down and spun about the (now vertical) forward axis by `yaw`: the heading is where the head
    # points, -yaw (Rx(90) Rz(b) = Ry(-b) Rx(90), the gimbal lock of the yaw-pitch-roll angles).
    face_down = ypr(0.0, math.pi / 2, yaw)
    head = face_down[:, 1]
    assert wrap(heading_angle(face_down) - math.atan2(head[0], head[2])) == pytest.approx(0.0, abs=1e-12)
    assert wrap(heading_angle(face_down) + yaw) == pytest.approx(0.0, abs=1e-12)


def test_heading_matrix_is_the_yaw_of_the_heading_angle():
    rot = Rotation.random(50, random_state=np.random.default_rng(1)).as_matrix()
    np.testing.assert_allclose(heading_matrix(rot), yaw_matrix(heading_angle(rot)), atol=1e-14)
    # A yaw matrix is a rotation about +y.
    y = yaw_matrix(np.linspace(-3, 3, 7))
    np.testing.assert_allclose(y @ np.array([0.0, 1.0, 0.0]), np.tile([0.0, 1.0, 0.0], (7, 1)), atol=1e-15)
    np.testing.assert_allclose(np.linalg.det(y), 1.0)


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_features_to_smpl_to_features_is_exact(up_axis):
    rng = np.random.default_rng(2)
    features = smpl_to_rot6d(**random_smpl(rng, (2, 3), 40), up_axis=up_axis)
    assert features.shape == (2, 3, 40, SMPL_ROT6D_DIMS) and features.dtype == np.float64
    again = smpl_to_rot6d(**rot6d_to_smpl(features, up_axis=up_axis), up_axis=up_axis)
    np.testing.assert_allclose(again, features, atol=1e-6, rtol=0)
    assert np.abs(again - features).max() < 1e-10


def test_canonicalize_maps_any_features_onto_valid_ones_and_is_idempotent():
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(4, 25, SMPL_ROT6D_DIMS))
    once = canonicalize_rot6d(raw)
    np.testing.assert_allclose(canonicalize_rot6d(once), once, atol=1e-10)
    np.testing.assert_array_equal(once[..., 0, VELOCITY], 0.0)
    # Frame 0's pelvis faces +z, and the 6D numbers are the first two columns of rotation matrices.
    first = rot6d_to_smpl(once)["global_orient"][..., 0, :]
    np.testing.assert_allclose(heading_angle(axis_angle_to_matrix(first)), 0.0, atol=1e-12)
    cols = once[..., ROTATIONS].reshape(4, 25, 22, 2, 3)
    np.testing.assert_allclose(np.linalg.norm(cols, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose((cols[..., 0, :] * cols[..., 1, :]).sum(-1), 0.0, atol=1e-12)


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_smpl_to_features_to_smpl_reproduces_the_canonicalised_input(up_axis):
    rng = np.random.default_rng(4)
    params = random_smpl(rng, (3,), 30)
    out = rot6d_to_smpl(smpl_to_rot6d(**params, up_axis=up_axis), up_axis=up_axis)
    assert out["global_orient"].shape == (3, 30, 3)
    assert out["body_pose"].shape == (3, 30, 69) and out["transl"].shape == (3, 30, 3)

    c = np.eye(3) if up_axis == "y" else C_Z_TO_Y
    root = c @ axis_angle_to_matrix(params["global_orient"])  # in the y-up world
    undo = yaw_matrix(-heading_angle(root[:, 0]))[:, None]  # (3, 1, 3, 3)
    expected_root = c.T @ undo @ root
    transl = params["transl"] @ c.T
    transl = transl - transl[:, :1] * np.array([1.0, 0.0, 1.0])  # frame 0 at the planar origin
    expected_transl = (undo @ transl[..., None])[..., 0] @ c
    np.testing.assert_allclose(axis_angle_to_matrix(out["global_orient"]), expected_root, atol=1e-10)
    np.testing.assert_allclose(out["transl"], expected_transl, atol=1e-10)
    body_in = axis_angle_to_matrix(params["body_pose"][..., :63].reshape(3, 30, 21, 3))
    body_out = axis_angle_to_matrix(out["body_pose"][..., :63].reshape(3, 30, 21, 3))
    np.testing.assert_allclose(body_out, body_in, atol=1e-10)
    np.testing.assert_array_equal(out["body_pose"][..., 63:], 0.0)  # the hands are dropped


def test_a_63d_body_pose_gives_the_same_features_as_69d():
    params = random_smpl(np.random.default_rng(5), (), 12)
    full = smpl_to_rot6d(**params)
    params["body_pose"] = params["body_pose"][..., :63]
    np.testing.assert_array_equal(smpl_to_rot6d(**params), full)


# --------------------------------------------------------------------------------------- golden values


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_walking_straight_ahead_has_velocity_0_1_whatever_the_heading(up_axis):
    rng = np.random.default_rng(6)
    frames = 20
    for yaw in [np.full(frames, 0.3), np.full(frames, -2.8), np.cumsum(rng.uniform(-0.3, 0.3, frames))]:
        # Small pitch and roll do not change the heading; each step goes 1 unit along the current forward.
        rot = ypr(yaw, rng.uniform(-0.4, 0.4, frames), rng.uniform(-0.4, 0.4, frames))
        step = np.stack([np.sin(yaw), np.zeros(frames), np.cos(yaw)], axis=-1)
        transl = np.cumsum(step, axis=0) + np.array([3.0, 0.9, -1.0])
        c = np.eye(3) if up_axis == "y" else C_Z_TO_Y
        features = smpl_to_rot6d(
            Rotation.from_matrix(c.T @ rot).as_rotvec(), np.zeros((frames, 69)), transl @ c, up_axis=up_axis
        )
        np.testing.assert_allclose(features[1:, VELOCITY], np.tile([0.0, 1.0], (frames - 1, 1)), atol=1e-12)
        np.testing.assert_array_equal(features[0, VELOCITY], [0.0, 0.0])
        np.testing.assert_allclose(features[:, HEIGHT], 0.9, atol=1e-12)


def test_golden_frame_layout():
    # Identity pose facing +z, stepping +x (the body's left) by 0.1 and then -z (backwards) by 0.2.
    transl = np.array([[0.0, 0.95, 0.0], [0.1, 0.95, 0.0], [0.1, 1.0, -0.2]])
    body_pose = np.zeros((3, 69))
    body_pose[:, 3:6] = [0.0, 0.0, math.pi / 2]  # joint 2 (right hip) turned 90 deg about z
    features = smpl_to_rot6d(np.zeros((3, 3)), body_pose, transl)
    np.testing.assert_allclose(features[:, 0], [0.95, 0.95, 1.0], atol=1e-15)
    np.testing.assert_allclose(features[:, 1:3], [[0.0, 0.0], [0.1, 0.0], [0.0, -0.2]], atol=1e-15)
    identity6d = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    np.testing.assert_allclose(features[:, 3:9], np.tile(identity6d, (3, 1)), atol=1e-15)  # pelvis
    np.testing.assert_allclose(features[:, 9:15], np.tile(identity6d, (3, 1)), atol=1e-15)  # joint 1
    # Rz(90 deg): first column (0, 1, 0), second column (-1, 0, 0).
    np.testing.assert_allclose(features[:, 15:21], np.tile([0, 1, 0, -1, 0, 0], (3, 1)), atol=1e-15)


def test_frame_zero_heading_is_removed_from_the_whole_sequence():
    # A body turned 90 deg (facing +x) that then turns back to face +z: features see 0 then -90 deg.
    yaw = np.array([math.pi / 2, math.pi / 4, 0.0])
    go = Rotation.from_euler("y", yaw[:, None]).as_rotvec()
    features = smpl_to_rot6d(go, np.zeros((3, 69)), np.zeros((3, 3)))
    expected = matrix_to_cont6d(yaw_matrix(yaw - math.pi / 2))
    np.testing.assert_allclose(features[:, 3:9], expected, atol=1e-15)


# ------------------------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_rotating_the_whole_sequence_about_the_vertical_leaves_the_features_unchanged(up_axis):
    rng = np.random.default_rng(7)
    params = random_smpl(rng, (2,), 25)
    features = smpl_to_rot6d(**params, up_axis=up_axis)
    up = np.array([0.0, 1.0, 0.0]) if up_axis == "y" else np.array([0.0, 0.0, 1.0])
    for angle in (0.4, -2.0, math.pi):
        turn = Rotation.from_rotvec(angle * up).as_matrix()
        pelvis = rng.normal(scale=0.2, size=3)  # SMPL's J_0(betas): it turns about the pelvis joint
        root = turn @ axis_angle_to_matrix(params["global_orient"])
        transl = (params["transl"] + pelvis) @ turn.T - pelvis
        transl = transl + rng.normal(size=3) * (1 - up)  # and a planar shift
        turned = smpl_to_rot6d(Rotation.from_matrix(root.reshape(-1, 3, 3)).as_rotvec().reshape(2, 25, 3),
                               params["body_pose"], transl, up_axis=up_axis)  # fmt: skip
        np.testing.assert_allclose(turned, features, atol=1e-10)


def test_z_up_data_equals_the_same_motion_turned_into_the_y_up_world():
    params = random_smpl(np.random.default_rng(8), (), 15)
    z_up = smpl_to_rot6d(**params, up_axis="z")
    root = C_Z_TO_Y @ axis_angle_to_matrix(params["global_orient"])
    y_up = smpl_to_rot6d(
        Rotation.from_matrix(root).as_rotvec(), params["body_pose"], params["transl"] @ C_Z_TO_Y.T
    )
    np.testing.assert_allclose(z_up, y_up, atol=1e-12)
    # An AMASS-style upright body (model y -> world z) stands at the height of its z translation.
    upright = smpl_to_rot6d(
        np.array([[math.pi / 2, 0, 0]]), np.zeros((1, 69)), np.array([[5.0, 6.0, 0.9]]), up_axis="z"
    )
    assert upright[0, 0] == pytest.approx(0.9)


# ------------------------------------------------------------------------------------ types and errors


def test_torch_in_torch_out_float32_and_gradients():
    params = {
        k: torch.as_tensor(v, dtype=torch.float32)
        for k, v in random_smpl(np.random.default_rng(9), (2,), 10).items()
    }
    params["global_orient"][:, :3] = 0.0  # the zero rotation is a removable singularity
    params["global_orient"].requires_grad_(True)
    features = smpl_to_rot6d(**params)
    assert isinstance(features, torch.Tensor) and features.dtype == torch.float32
    features.sum().backward()
    assert torch.isfinite(params["global_orient"].grad).all()
    out = rot6d_to_smpl(features.detach())
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 for v in out.values())
    np.testing.assert_allclose(smpl_to_rot6d(**out).numpy(), features.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((5, 4)), np.zeros((5, 69)), np.zeros((5, 3))), r"global_orient of shape \(\.\.\., T, 3\)"),
        ((np.zeros((5, 3)), np.zeros((5, 72)), np.zeros((5, 3))), r"body_pose of shape \(\.\.\., T, 69\) or"),
        ((np.zeros((5, 3)), np.zeros((5, 69)), np.zeros((5, 2))), r"transl of shape \(\.\.\., T, 3\)"),
        ((np.zeros((5, 3)), np.zeros((4, 69)), np.zeros((5, 3))), r"same leading shape \(\.\.\., T\)"),
        ((np.zeros((0, 3)), np.zeros((0, 69)), np.zeros((0, 3))), r"\(\.\.\., T, 3\) with T >= 1"),
        ((np.zeros(3), np.zeros(69), np.zeros(3)), r"\(\.\.\., T, 3\)"),
        ((np.zeros((5, 3), int), np.zeros((5, 69)), np.zeros((5, 3))), "floating-point global_orient"),
        (([[0.0, 0.0, 0.0]], np.zeros((1, 69)), np.zeros((1, 3))), "torch tensor or numpy array"),
    ],
)
def test_bad_smpl_inputs_name_the_expected_shape(args, match):
    with pytest.raises(MogenBenchError, match=match):
        smpl_to_rot6d(*args)


def test_bad_features_and_up_axis_raise():
    with pytest.raises(MogenBenchError, match=r"\(\.\.\., T, 135\)"):
        rot6d_to_smpl(np.zeros((10, 134)))
    with pytest.raises(MogenBenchError, match=r"\(\.\.\., T, 135\) with T >= 1"):
        rot6d_to_smpl(np.zeros((0, 135)))
    with pytest.raises(MogenBenchError, match="up_axis must be 'y' or 'z'"):
        smpl_to_rot6d(np.zeros((2, 3)), np.zeros((2, 69)), np.zeros((2, 3)), up_axis="x")
    with pytest.raises(MogenBenchError, match=r"\(\.\.\., 3, 3\)"):
        heading_angle(np.zeros((3, 4)))
