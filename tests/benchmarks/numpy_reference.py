"""A per-motion numpy implementation of HumanML3D's ``process_file`` and ``recover_from_ric``: the baseline.

It processes one motion at a time, vectorised over frames and looping over the kinematic chains, the way
the published scripts run (they convert each file separately). It exists to measure the batched torch
implementation against, and doubles as an independent cross-check of its numbers.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mogen_bench.motion.guo_features import HUMANML3D_SPEC, GuoFeatureSpec


def qmul(a, b):
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def qinv(q):
    return q * np.array([1, -1, -1, -1], dtype=q.dtype)


def qrot(q, v):
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2 * (q[..., :1] * uv + np.cross(u, uv))


def qbetween(v0, v1):
    w = np.sqrt((v0**2).sum(-1, keepdims=True) * (v1**2).sum(-1, keepdims=True)) + (v0 * v1).sum(
        -1, keepdims=True
    )
    q = np.concatenate([w, np.cross(v0, v1)], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def normalize(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def quaternion_to_cont6d(q):
    w, x, y, z = np.moveaxis(q, -1, 0)
    col0 = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], -1)
    col1 = np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], -1)
    return np.concatenate([col0, col1], -1)


def _chains_and_raw(spec: GuoFeatureSpec):
    return spec.skeleton.chains, np.array(spec.skeleton.raw_offsets)


def offsets(spec, joints0):
    parents = spec.skeleton.parents
    raw = np.array(spec.skeleton.raw_offsets)
    out = np.zeros_like(raw)
    for i in range(1, len(parents)):
        out[i] = np.linalg.norm(joints0[i] - joints0[parents[i]]) * raw[i]
    return out


def inverse_kinematics(spec, joints, smooth):
    chains, raw = _chains_and_raw(spec)
    (a1, b1), (a2, b2) = spec.ik_across_pairs
    across = normalize((joints[:, a1] - joints[:, b1]) + (joints[:, a2] - joints[:, b2]))
    forward = np.cross(np.array([[0.0, 1.0, 0.0]]), across)
    if smooth:
        forward = gaussian_filter1d(forward, spec.facing_sigma, axis=0, mode="nearest")
    forward = normalize(forward)
    root = qbetween(forward, np.tile([0.0, 0.0, 1.0], (len(forward), 1)))
    root[0] = [1.0, 0.0, 0.0, 0.0]
    quats = np.zeros((*joints.shape[:-1], 4))
    quats[:, 0] = root
    for chain in chains:
        rotation = root
        for j in range(len(chain) - 1):
            u = np.tile(raw[chain[j + 1]], (len(joints), 1))
            v = normalize(joints[:, chain[j + 1]] - joints[:, chain[j]])
            local = qmul(qinv(rotation), qbetween(u, v))
            quats[:, chain[j + 1]] = local
            rotation = qmul(rotation, local)
    return quats


def forward_kinematics(spec, quats, root_pos, offs):
    chains, _ = _chains_and_raw(spec)
    joints = np.zeros((*quats.shape[:-1], 3))
    joints[:, 0] = root_pos
    for chain in chains:
        rotation = quats[:, 0]
        for i in range(1, len(chain)):
            rotation = qmul(rotation, quats[:, chain[i]])
            joints[:, chain[i]] = (
                qrot(rotation, np.tile(offs[chain[i]], (len(quats), 1))) + joints[:, chain[i - 1]]
            )
    return joints


def process_file(positions: np.ndarray, spec: GuoFeatureSpec = HUMANML3D_SPEC) -> np.ndarray:
    target = np.array(spec.target_bone_lengths)[:, None] * np.array(spec.skeleton.raw_offsets)
    source = offsets(spec, positions[0])
    i, j = spec.leg_joints
    scale = (np.abs(target[i]).max() + np.abs(target[j]).max()) / (
        np.abs(source[i]).max() + np.abs(source[j]).max()
    )
    positions = forward_kinematics(
        spec, inverse_kinematics(spec, positions, False), positions[:, 0] * scale, target
    )

    positions[:, :, 1] -= positions.min(axis=0).min(axis=0)[1]
    positions = positions - positions[0, 0] * np.array([1.0, 0.0, 1.0])
    (r_hip, l_hip), (r_sdr, l_sdr) = spec.facing_pairs
    p0 = positions[0]
    across = normalize((p0[r_hip] - p0[l_hip]) + (p0[r_sdr] - p0[l_sdr]))
    forward = normalize(np.cross(np.array([0.0, 1.0, 0.0]), across))
    positions = qrot(
        np.broadcast_to(qbetween(forward, np.array([0.0, 0.0, 1.0])), (*positions.shape[:-1], 4)), positions
    )
    global_positions = positions.copy()

    def contacts(foot):
        return ((positions[1:, foot] - positions[:-1, foot]) ** 2).sum(-1) < spec.contact_threshold

    feet_l, feet_r = contacts(list(spec.left_foot)), contacts(list(spec.right_foot))
    quats = inverse_kinematics(spec, positions, True)
    cont6d = quaternion_to_cont6d(quats)
    r_rot = quats[:, 0]
    velocity = qrot(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_velocity = qmul(r_rot[1:], qinv(r_rot[:-1]))
    local = positions.copy()
    local[..., 0] -= local[:, 0:1, 0]
    local[..., 2] -= local[:, 0:1, 2]
    local = qrot(np.repeat(r_rot[:, None], local.shape[1], axis=1), local)
    local_vel = qrot(
        np.repeat(r_rot[:-1, None], positions.shape[1], axis=1), global_positions[1:] - global_positions[:-1]
    )
    frames = len(positions) - 1
    return np.concatenate(
        [
            np.arcsin(r_velocity[:, 2:3]),
            velocity[:, [0, 2]],
            local[:-1, 0, 1:2],
            local[:-1, 1:].reshape(frames, -1),
            cont6d[:-1, 1:].reshape(frames, -1),
            local_vel.reshape(frames, -1),
            feet_l,
            feet_r,
        ],
        axis=-1,
    )


def recover_from_ric(data: np.ndarray, joints_num: int = 22) -> np.ndarray:
    angle = np.zeros(len(data))
    angle[1:] = np.cumsum(data[:-1, 0])
    heading = np.zeros((len(data), 4))
    heading[:, 0], heading[:, 2] = np.cos(angle), np.sin(angle)
    root = np.zeros((len(data), 3))
    root[1:, [0, 2]] = data[:-1, 1:3]
    root = np.cumsum(qrot(qinv(heading), root), axis=0)
    root[:, 1] = data[:, 3]
    local = data[:, 4 : 4 + (joints_num - 1) * 3].reshape(len(data), -1, 3)
    joints = qrot(np.repeat(qinv(heading)[:, None], joints_num - 1, axis=1), local)
    joints[..., 0] += root[:, None, 0]
    joints[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None], joints], axis=1)
