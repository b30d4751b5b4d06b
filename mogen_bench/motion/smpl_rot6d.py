"""The ``smpl-rot6d-135`` representation (TEACH-style): SMPL parameters <-> 135 numbers per frame.

A frame holds

    [0]       root height: the up component of SMPL's ``transl``
    [1:3]     root planar velocity (x, z) in the body's heading frame, metres *per frame*
    [3:9]     pelvis global orientation in continuous 6D, with frame 0's heading removed from the sequence
    [9:135]   21 body joints' local rotations in continuous 6D (SMPL joints 1..21, in SMPL order)

World frame. Features live in the project's world, that of HumanML3D: y up, a body with heading 0 faces +z,
and +x is then the body's left (SMPL's left hip sits at +x in its rest pose). SMPL's own model axes are the
same (rest pose upright along +y, facing +z), so with ``up_axis="y"`` the parameters are used as they are.
Data whose world is z-up (AMASS, and, judging by its visualiser, HuMMan-MoGen's ``smpl_on_ground``: see
below) is read with ``up_axis="z"``: the world is first turned by the proper rotation ``(x, y, z) -> (-x, z,
y)``, which is HumanML3D's AMASS conversion (its axis swap followed by negating x). The turn about the
vertical it includes makes no difference to the features, which do not depend on the heading.
``rot6d_to_smpl(..., up_axis=...)`` turns the result back into the same world.

HuMMan-MoGen's up axis is not stated in its README. Its ``humman_mogen/tools/visualizer_3d.py`` draws the
ground as a box spanning x and y with its top face at z = 0 and spins the turntable about z, which suggests
z-up data; ``prepare`` should check this on real files (e.g. the mean of ``transl`` along each axis) rather
than trust it. The default here stays ``"y"``, the project's own convention.

Heading. The heading of a pelvis rotation ``R`` (in the y-up world) is the angle ``atan2(h_x, h_z)`` of
``h = P(R e_z)``, the body's forward axis projected onto the ground plane (``P`` drops the y component).
For ``R = Ry(yaw) Rx(pitch) Rz(roll)`` with ``|pitch| < 90 deg`` it is exactly ``yaw``. When the forward axis
is within about 0.06 deg of vertical (``|P(R e_z)| < 1e-3``: lying flat on the front or back), the projection
says nothing, and ``h = -(R e_z)_y P(R e_y)`` is used instead: where the head points when face down, and the
opposite when lying on the back, i.e. the direction the body faced before it tipped over.

Canonicalisation. ``Ry(-heading(R_0))`` multiplies every frame's pelvis orientation, so frame 0 faces +z;
positions are not stored, only their differences, so the translation is in effect rotated the same way and
frame 0's planar position becomes the origin when the features are turned back into parameters. The features
of a sequence are therefore unchanged by any rotation of the whole sequence about the vertical axis and by
any planar shift. (SMPL rotates about the pelvis joint ``J_0(betas)``, not the origin, so rotating a body
about the vertical changes ``transl`` by a constant planar offset as well; planar differences and the height
do not see it, which is why the features need no betas.)

Velocity. ``v_t = transl_t - transl_{t-1}`` for ``t >= 1`` and ``v_0 = 0`` (TEACH pads frame 0 with zeros
too), rotated by ``Ry(-heading_t)`` into frame ``t``'s heading frame and stored as ``(x, z)``: a body walking
straight ahead at 1 m per frame gives ``(0, 1)`` in every frame whatever way it faces. The numbers are per
frame, so they scale with ``1 / fps``: resample to the dataset's frame rate (``mogen_bench.motion.resample``)
before computing features, and compare or normalise features only at one frame rate.

Height. ``transl``'s up component, as in TEACH. It is not the pelvis joint's height, which adds the rest
pelvis offset ``J_0(betas)`` (not rotated by the global orientation); that offset is a per-subject constant.

Joints. Only the pelvis and the 21 body joints (SMPL joints 0..21) are kept; SMPL's two hand joints (22, 23,
the last 6 numbers of a 69-d ``body_pose``) are dropped, and ``rot6d_to_smpl`` gives them zero rotation. A
63-d ``body_pose`` (SMPL-H / SMPL-X body) is accepted too. Betas are not part of the features.

Differences from TEACH's ``Globalvelandy`` (``teach/transforms/rots2rfeats/globvelandy.py``), which is z-up:
TEACH removes the z component of frame 0's axis-angle plus pi/2 (an approximate heading) and rotates the
velocities once by that, so its velocities are in the canonical world frame, not the body's heading frame;
and its 6D is pytorch3d's (the first two *rows* of the matrix) where ours is the first two *columns*
(``rotations.matrix_to_cont6d``). TEACH's statistics and checkpoints do not apply to these features.

Features that did not come from ``smpl_to_rot6d`` (a model's output) are accepted by ``rot6d_to_smpl``: the
6D is Gram-Schmidt-orthonormalised, ``v_0`` is ignored, and frame 0's pelvis heading is kept as it is.
``canonicalize_rot6d`` maps any features onto the ones ``smpl_to_rot6d`` can produce.
"""

from __future__ import annotations

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.rotations import (
    axis_angle_to_matrix,
    cont6d_to_matrix,
    matrix_to_axis_angle,
    matrix_to_cont6d,
)
from mogen_bench.motion.tensors import floating_tensor
from mogen_bench.motion.up_axis import UpAxis, up_to_y_matrix

__all__ = [
    "BODY_JOINTS",
    "HEIGHT",
    "NUM_JOINTS",
    "ROTATIONS",
    "SMPL_ROT6D_DIMS",
    "VELOCITY",
    "canonicalize_rot6d",
    "heading_angle",
    "heading_matrix",
    "rot6d_to_smpl",
    "smpl_to_rot6d",
    "yaw_matrix",
]

#: Joints in the features: the pelvis and SMPL's 21 body joints.
NUM_JOINTS = 22
BODY_JOINTS = 21
SMPL_ROT6D_DIMS = 1 + 2 + NUM_JOINTS * 6  # 135
HEIGHT = slice(0, 1)
VELOCITY = slice(1, 3)
ROTATIONS = slice(3, SMPL_ROT6D_DIMS)


# Below this length of the projected forward axis the heading comes from the head direction instead
# (the forward axis is then within asin(1e-3) ~ 0.057 deg of vertical).
_FORWARD_DEGENERATE = 1e-3

# ----------------------------------------------------------------------------------------- input checks


def _tensor(func: str, name: str, value: object, expected: str) -> torch.Tensor:
    return floating_tensor(func, name, value, expected, copy=True)


def _shape_error(func: str, name: str, expected: str, shape: tuple[int, ...], fix: str) -> MogenBenchError:
    return MogenBenchError(
        f"{func}() expects {name} of shape {expected}, got shape {tuple(shape)}", field=name, fix=fix
    )


def _up_to_y(up_axis: str, like: torch.Tensor) -> torch.Tensor:
    return up_to_y_matrix(up_axis, like)


# ------------------------------------------------------------------------------------------- heading


def _heading_sin_cos(rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sin`` and ``cos`` of the heading of y-up rotation matrices ``(..., 3, 3)`` (see the module doc)."""
    forward, head = rot[..., :, 2], rot[..., :, 1]
    projected = forward[..., [0, 2]]
    flat = torch.linalg.vector_norm(projected, dim=-1, keepdim=True) < _FORWARD_DEGENERATE
    fallback = -forward[..., 1:2] * head[..., [0, 2]]
    h = torch.where(flat, fallback, projected)
    # Both branches have length >= ~1e-3 where chosen, so the division is safe (and so are its gradients).
    h = h / torch.linalg.vector_norm(h, dim=-1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    return h[..., 0], h[..., 1]


def _yaw(sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    zero, one = torch.zeros_like(sin), torch.ones_like(sin)
    rows = [cos, zero, sin, zero, one, zero, -sin, zero, cos]
    return torch.stack(rows, dim=-1).reshape(*sin.shape, 3, 3)


def heading_angle(rotation: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Heading (radians, in ``(-pi, pi]``) of pelvis rotation matrices ``(..., 3, 3)`` in the y-up world.

    ``atan2(h_x, h_z)`` with ``h`` the forward axis ``R e_z`` projected onto the ground, or, when that is
    nearly vertical, the head axis as described in the module docstring. ``Ry(heading) e_z`` points along
    ``h``.
    """
    rot = _tensor("heading_angle", "rotation", rotation, "(..., 3, 3)")
    if rot.shape[-2:] != (3, 3):
        raise _shape_error("heading_angle", "rotation", "(..., 3, 3)", rot.shape, "pass rotation matrices")
    sin, cos = _heading_sin_cos(rot)
    angle = torch.atan2(sin, cos)
    return angle.numpy() if isinstance(rotation, np.ndarray) else angle


def yaw_matrix(angle: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about +y (the y-up world's vertical) by ``angle`` ``(...)`` rad."""
    a = _tensor("yaw_matrix", "angle", angle, "(...)")
    out = _yaw(torch.sin(a), torch.cos(a))
    return out.numpy() if isinstance(angle, np.ndarray) else out


def heading_matrix(rotation: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """``yaw_matrix(heading_angle(rotation))``, built from the heading's sine and cosine without an angle."""
    rot = _tensor("heading_matrix", "rotation", rotation, "(..., 3, 3)")
    if rot.shape[-2:] != (3, 3):
        raise _shape_error("heading_matrix", "rotation", "(..., 3, 3)", rot.shape, "pass rotation matrices")
    out = _yaw(*_heading_sin_cos(rot))
    return out.numpy() if isinstance(rotation, np.ndarray) else out


# ------------------------------------------------------------------------------------------- features


def smpl_to_rot6d(
    global_orient: torch.Tensor | np.ndarray,
    body_pose: torch.Tensor | np.ndarray,
    transl: torch.Tensor | np.ndarray,
    *,
    up_axis: UpAxis = "y",
) -> torch.Tensor | np.ndarray:
    """Features ``(..., T, 135)`` of SMPL axis-angle parameters.

    ``global_orient`` ``(..., T, 3)``, ``body_pose`` ``(..., T, 69)`` (SMPL; the two hand joints are dropped)
    or ``(..., T, 63)``, ``transl`` ``(..., T, 3)``, all with the same leading shape and ``T >= 1``;
    ``up_axis`` names the data's vertical axis. numpy in gives numpy out; the dtype is the inputs' common
    floating dtype.
    """
    func = "smpl_to_rot6d"
    go = _tensor(func, "global_orient", global_orient, "(..., T, 3)")
    bp = _tensor(func, "body_pose", body_pose, "(..., T, 69) or (..., T, 63)")
    tr = _tensor(func, "transl", transl, "(..., T, 3)")
    if go.ndim < 2 or go.shape[-1] != 3 or go.shape[-2] < 1:
        raise _shape_error(
            func, "global_orient", "(..., T, 3) with T >= 1", go.shape, "one axis-angle a frame"
        )
    if bp.ndim < 2 or bp.shape[-1] not in (63, 69):
        raise _shape_error(
            func, "body_pose", "(..., T, 69) or (..., T, 63)", bp.shape, "23 (SMPL) or 21 body joints x 3"
        )
    if tr.ndim < 2 or tr.shape[-1] != 3:
        raise _shape_error(func, "transl", "(..., T, 3)", tr.shape, "one translation a frame")
    lead = go.shape[:-1]
    for name, t in (("body_pose", bp), ("transl", tr)):
        if t.shape[:-1] != lead:
            raise MogenBenchError(
                f"{func}() needs global_orient, body_pose and transl with the same leading shape (..., T); "
                f"global_orient has {tuple(lead)}, {name} has {tuple(t.shape[:-1])}",
                field=name,
                fix="pass the same frames (and batch) for every parameter",
            )
    dtype = torch.promote_types(torch.promote_types(go.dtype, bp.dtype), tr.dtype)
    device = next((v.device for v in (global_orient, body_pose, transl) if isinstance(v, torch.Tensor)), None)
    go, bp, tr = (t.to(dtype=dtype, device=device) for t in (go, bp, tr))

    to_y = _up_to_y(up_axis, go)
    root = to_y @ axis_angle_to_matrix(go)  # (..., T, 3, 3)
    tr = tr @ to_y.T
    local = axis_angle_to_matrix(bp[..., : BODY_JOINTS * 3].reshape(*lead, BODY_JOINTS, 3))

    sin, cos = _heading_sin_cos(root)
    canonical = _yaw(sin[..., :1], cos[..., :1]).transpose(-1, -2) @ root
    velocity = torch.cat([torch.zeros_like(tr[..., :1, :]), tr[..., 1:, :] - tr[..., :-1, :]], dim=-2)
    # Ry(-heading_t) v, keeping x and z (y of a yaw rotation's output is v's own y, not stored).
    vx, vz = velocity[..., 0], velocity[..., 2]
    body_velocity = torch.stack([cos * vx - sin * vz, sin * vx + cos * vz], dim=-1)

    rotations = torch.cat([canonical[..., None, :, :], local], dim=-3)
    features = torch.cat(
        [tr[..., 1:2], body_velocity, matrix_to_cont6d(rotations).reshape(*lead, NUM_JOINTS * 6)], dim=-1
    )
    as_numpy = not any(isinstance(v, torch.Tensor) for v in (global_orient, body_pose, transl))
    return features.numpy() if as_numpy else features


def rot6d_to_smpl(
    features: torch.Tensor | np.ndarray, *, up_axis: UpAxis = "y"
) -> dict[str, torch.Tensor | np.ndarray]:
    """SMPL parameters of features ``(..., T, 135)``: ``global_orient`` ``(..., T, 3)``, ``body_pose``
    ``(..., T, 69)`` (hand joints zero) and ``transl`` ``(..., T, 3)``, axis-angle, in the ``up_axis`` world.

    Velocities are turned back into the world by each frame's heading and summed from frame 1 on, so frame 0
    stands at the planar origin (its stored velocity is ignored) at the stored height. For features of
    ``smpl_to_rot6d(p)`` this gives ``p`` with frame 0's heading removed and frame 0's planar position moved
    to the origin.
    """
    func = "rot6d_to_smpl"
    f = _tensor(func, "features", features, f"(..., T, {SMPL_ROT6D_DIMS})")
    if f.ndim < 2 or f.shape[-1] != SMPL_ROT6D_DIMS or f.shape[-2] < 1:
        raise _shape_error(
            func,
            "features",
            f"(..., T, {SMPL_ROT6D_DIMS}) with T >= 1",
            f.shape,
            "pass smpl-rot6d-135 features, one row of 135 numbers a frame",
        )
    lead = f.shape[:-1]
    rotations = cont6d_to_matrix(f[..., ROTATIONS].reshape(*lead, NUM_JOINTS, 6))
    canonical = rotations[..., 0, :, :]
    sin, cos = _heading_sin_cos(canonical)
    bx, bz = f[..., 1], f[..., 2]
    # Ry(heading_t) (bx, 0, bz); frame 0's velocity is dropped so frame 0 sits at the origin.
    steps = torch.stack([cos * bx + sin * bz, -sin * bx + cos * bz], dim=-1)
    steps = torch.cat([torch.zeros_like(steps[..., :1, :]), steps[..., 1:, :]], dim=-2)
    planar = torch.cumsum(steps, dim=-2)
    transl = torch.stack([planar[..., 0], f[..., 0], planar[..., 1]], dim=-1)

    from_y = _up_to_y(up_axis, f).T
    transl = transl @ from_y.T
    global_orient = matrix_to_axis_angle(from_y @ canonical)
    body = matrix_to_axis_angle(rotations[..., 1:, :, :]).reshape(*lead, BODY_JOINTS * 3)
    body_pose = torch.cat([body, torch.zeros_like(body[..., :6])], dim=-1)
    out = {"global_orient": global_orient, "body_pose": body_pose, "transl": transl}
    if isinstance(features, np.ndarray):
        return {k: v.numpy() for k, v in out.items()}
    return out


def canonicalize_rot6d(features: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Features ``(..., T, 135)`` made consistent: orthonormal 6D, ``v_0 = 0`` and frame 0 heading +z.

    ``smpl_to_rot6d(**rot6d_to_smpl(features))``; it leaves features from ``smpl_to_rot6d`` unchanged (up
    to rounding) and is idempotent.
    """
    params = rot6d_to_smpl(features)
    return smpl_to_rot6d(params["global_orient"], params["body_pose"], params["transl"])
