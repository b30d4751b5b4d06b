"""Fast numpy/torch kinematics on quaternions for the generator: SMPL forward kinematics and conversions.

``builtin_joints`` computes exactly what ``motion.smpl.smpl_joints_builtin`` computes (the same built-in
neutral rest skeleton and SMPL kinematics; ``tests/test_synth.py`` checks agreement to 1e-9 m), but starts
from the unit quaternions the generator already holds and keeps every batched product contiguous. That
skips two conversions and makes it about 4x faster on a CPU, which matters because every sequence is posed
three times (original, mirror, and the HumanML3D export).
"""

from __future__ import annotations

import numpy as np
import torch

from mogen_bench.motion.smpl import SMPL_NEUTRAL_REST_JOINTS, SMPL_PARENTS

_OFFSETS = np.array(
    [SMPL_NEUTRAL_REST_JOINTS[j] - SMPL_NEUTRAL_REST_JOINTS[max(p, 0)] for j, p in enumerate(SMPL_PARENTS)]
)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions ``(..., 4)`` (w, x, y, z)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return np.stack(rows, axis=-1).reshape(*q.shape[:-1], 3, 3)


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` with angle in [0, pi] of unit quaternions ``(..., 4)``."""
    q = np.where(q[..., :1] < 0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(sin_half, q[..., :1])
    # angle / sin(angle / 2) -> 2 as the angle -> 0.
    scale = np.where(sin_half > 1e-8, angle / np.maximum(sin_half, 1e-300), 2.0)
    return q[..., 1:] * scale


def axis_angle_to_quaternion(axis_angle: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` of rotation vectors ``(..., 3)``."""
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    scale = np.where(angle > 1e-8, np.sin(angle / 2) / np.maximum(angle, 1e-300), 0.5)
    return np.concatenate([np.cos(angle / 2), axis_angle * scale], axis=-1)


def clamp_angle(q: np.ndarray, limit_radians: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., J, 4)`` whose rotation angle exceeds its joint's limit ``(J,)`` shortened to it."""
    q = np.where(q[..., :1] < 0, -q, q)
    # With w >= 0 the angle exceeds the limit exactly where w < cos(limit / 2); that is rare, so only
    # those entries are rebuilt.
    over = q[..., 0] < np.cos(np.asarray(limit_radians) / 2)
    if over.any():
        limit = np.broadcast_to(np.asarray(limit_radians), over.shape)[over][:, None]
        vector = q[over][:, 1:]
        axis = vector / np.maximum(np.linalg.norm(vector, axis=-1, keepdims=True), 1e-300)
        q = q.copy()
        q[over] = np.concatenate([np.cos(limit / 2), axis * np.sin(limit / 2)], axis=-1)
    return q


def builtin_joints(local: np.ndarray, transl: np.ndarray | None = None) -> np.ndarray:
    """Joint positions ``(N, 24, 3)`` of local rotations ``(N, 24, 4)`` (joint 0 = ``global_orient``) on the
    built-in SMPL neutral skeleton, shifted by ``transl`` ``(N, 3)``; as ``smpl_joints_builtin``."""
    n = local.shape[0]
    # Joint-major and contiguous, so every batched product below reads one block of memory.
    rotations = torch.from_numpy(np.ascontiguousarray(quaternion_to_matrix(np.swapaxes(local, 0, 1))))
    offsets = torch.from_numpy(_OFFSETS).to(rotations.dtype)
    positions = [torch.from_numpy(SMPL_NEUTRAL_REST_JOINTS.copy()).to(rotations.dtype)[0].expand(n, 3)]
    world = [rotations[0]]
    for j in range(1, 24):
        parent = SMPL_PARENTS[j]
        positions.append(positions[parent] + world[parent] @ offsets[j])
        world.append(torch.bmm(world[parent], rotations[j]))
    joints = torch.stack(positions, dim=1).numpy()
    return joints if transl is None else joints + transl[:, None, :]
