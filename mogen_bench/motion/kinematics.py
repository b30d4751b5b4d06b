"""Forward and inverse kinematics over a ``Skeleton``, batched over motions and frames.

These follow HumanML3D's ``common/skeleton.py`` exactly, because its features are defined by them:

- bone offsets are ``|joint - parent| * raw_offset`` (bone length times the published rest direction);
- every chain restarts from the root rotation, including the arm chains that start at spine3, so a
  collar's rotation is relative to the pelvis heading (FK and IK agree on this);
- inverse kinematics gives each bone the shortest-arc rotation from its rest direction (no twist), and the
  root rotation turns the body's forward direction to +z, with frame 0 forced to the identity.

Loops run over the joints of the tree (at most 24), never over frames or motions. Inverse kinematics and
the retargeting of ``guo_features`` work on one contiguous tensor per coordinate, ``(3, ..., T, J)`` (see the
component helpers of ``rotations``): elementwise work on those runs vectorised, where tensors with a last
dimension of 3 or 4 run strided loops.
"""

from __future__ import annotations

import functools
import itertools

import torch
import torch.nn.functional as F

from mogen_bench.motion.rotations import (
    Quat,
    _qbetween_components,
    _qmul_conj_components,
    cont6d_to_matrix,
    qbetween,
    qmul,
    qrot,
)
from mogen_bench.motion.skeletons import Skeleton

FORWARD = (0.0, 0.0, 1.0)


def raw_offsets(skeleton: Skeleton, like: torch.Tensor) -> torch.Tensor:
    """The skeleton's unit rest directions ``(J, 3)`` in ``like``'s dtype and device."""
    return torch.tensor(skeleton.raw_offsets, dtype=like.dtype, device=like.device)


def bone_offsets(skeleton: Skeleton, joints: torch.Tensor) -> torch.Tensor:
    """Offsets ``(..., J, 3)`` of a pose ``(..., J, 3)``: each bone's length along its rest direction."""
    parents = list(skeleton.parents)
    parents[0] = 0  # the root's raw offset is zero, so its "bone" contributes nothing
    lengths = torch.linalg.vector_norm(joints - joints[..., parents, :], dim=-1, keepdim=True)
    return lengths * raw_offsets(skeleton, joints)


def offsets_from_lengths(skeleton: Skeleton, lengths: torch.Tensor) -> torch.Tensor:
    """Offsets ``(..., J, 3)`` from bone lengths ``(..., J)`` (entry 0, the root, is ignored)."""
    return lengths[..., None] * raw_offsets(skeleton, lengths)


def forward_kinematics(
    skeleton: Skeleton, rotations: torch.Tensor, root_positions: torch.Tensor, offsets: torch.Tensor
) -> torch.Tensor:
    """Joint positions ``(..., J, 3)`` from local quaternions ``(..., J, 4)`` and root positions ``(..., 3)``.

    ``offsets`` ``(..., J, 3)`` broadcasts against the batch (one skeleton for all frames, or one per motion).
    """
    return _forward(skeleton, rotations, root_positions, offsets, compose=qmul, apply=qrot, rotation_ndim=1)


def forward_kinematics_cont6d(
    skeleton: Skeleton, cont6d: torch.Tensor, root_positions: torch.Tensor, offsets: torch.Tensor
) -> torch.Tensor:
    """As ``forward_kinematics`` with local rotations in continuous 6D ``(..., J, 6)``."""
    return _forward(
        skeleton,
        cont6d_to_matrix(cont6d),
        root_positions,
        offsets,
        compose=torch.matmul,
        apply=lambda m, v: (m @ v[..., None])[..., 0],
        rotation_ndim=2,
    )


@functools.cache
def _tree_levels(skeleton: Skeleton) -> tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...]:
    """Joints grouped by depth in the tree: (children, rotation-before index, parent) per level.

    The rotation a child's local rotation applies to is the root's for a chain's first bone (HumanML3D
    restarts every chain from the root rotation) and the parent's global rotation otherwise. Joints of
    one level depend only on earlier levels, so a level is computed in one batched step.
    """
    parents = skeleton.parents
    depth = [0] * skeleton.num_joints
    for chain in skeleton.chains:  # chains list parents before children
        for parent, child in itertools.pairwise(chain):
            depth[child] = depth[parent] + 1
    first_bones = {chain[1] for chain in skeleton.chains}
    levels: dict[int, list[tuple[int, int, int]]] = {}
    for child in range(1, skeleton.num_joints):
        before = 0 if child in first_bones else parents[child]
        levels.setdefault(depth[child], []).append((child, before, parents[child]))
    return tuple(tuple(zip(*levels[d], strict=True)) for d in sorted(levels))  # type: ignore[misc]


def _forward(skeleton, rotations, root_positions, offsets, compose, apply, rotation_ndim) -> torch.Tensor:
    rot_axis = rotations.ndim - 1 - rotation_ndim  # the joint axis, before the quaternion or matrix dims
    offsets = offsets.expand(*root_positions.shape[:-1], *offsets.shape[-2:])
    global_rotations: list[torch.Tensor | None] = [None] * skeleton.num_joints
    positions: list[torch.Tensor | None] = [None] * skeleton.num_joints
    global_rotations[0] = rotations.select(rot_axis, 0)
    positions[0] = root_positions
    for children, before, parents in _tree_levels(skeleton):
        local = rotations.index_select(rot_axis, torch.tensor(children, device=rotations.device))
        previous = torch.stack([global_rotations[i] for i in before], dim=rot_axis)
        composed = compose(previous, local)
        step = apply(composed, offsets[..., children, :])
        start = torch.stack([positions[i] for i in parents], dim=-2)
        placed = step + start
        for k, child in enumerate(children):
            global_rotations[child] = composed.select(rot_axis, k)
            positions[child] = placed[..., k, :]
    return torch.stack(positions, dim=-2)


def gaussian_smooth(x: torch.Tensor, sigma: float, dim: int = -2, truncate: float = 4.0) -> torch.Tensor:
    """Gaussian filter along ``dim`` with edge-replicating borders.

    Matches ``scipy.ndimage.gaussian_filter1d(x, sigma, axis=dim, mode='nearest')`` (kernel radius
    ``int(truncate * sigma + 0.5)``), which HumanML3D uses to smooth the facing direction.
    """
    radius = int(truncate * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    moved = x.movedim(dim, -1)
    shape = moved.shape
    flat = moved.reshape(-1, 1, shape[-1])
    # 'nearest' extends the edge values; replicate padding does the same, however short the signal.
    index = torch.arange(-radius, shape[-1] + radius, device=x.device).clamp(0, shape[-1] - 1)
    padded = flat[..., index]
    smoothed = F.conv1d(padded, kernel.flip(0).view(1, 1, -1))
    return smoothed.reshape(shape).movedim(-1, dim)


def facing_direction(
    joints: torch.Tensor,
    across_pairs: tuple[tuple[int, int], tuple[int, int]],
    smooth_sigma: float | None = None,
) -> torch.Tensor:
    """Unit horizontal forward direction ``(..., T, 3)`` of poses ``(..., T, J, 3)``.

    ``across`` is the sum of ``joints[a] - joints[b]`` over ``across_pairs`` (normalised), and forward is
    ``up x across``; with ``smooth_sigma`` it is Gaussian-smoothed over frames before normalising.
    """
    (a1, b1), (a2, b2) = across_pairs
    across = (joints[..., a1, :] - joints[..., b1, :]) + (joints[..., a2, :] - joints[..., b2, :])
    across = across / torch.linalg.vector_norm(across, dim=-1, keepdim=True)
    # up x across = (across_z, 0, -across_x) for up = +y; smoothing keeps the zero y at zero, so only the
    # horizontal components go through the filter.
    horizontal = torch.stack([across[..., 2], -across[..., 0]], dim=-1)
    if smooth_sigma:
        horizontal = gaussian_smooth(horizontal, smooth_sigma, dim=-2)
    forward = torch.stack([horizontal[..., 0], torch.zeros_like(horizontal[..., 0]), horizontal[..., 1]], -1)
    return forward / torch.linalg.vector_norm(forward, dim=-1, keepdim=True)


def inverse_kinematics(
    skeleton: Skeleton,
    joints: torch.Tensor,
    across_pairs: tuple[tuple[int, int], tuple[int, int]],
    smooth_sigma: float | None = None,
) -> torch.Tensor:
    """Local quaternions ``(..., T, J, 4)`` that ``forward_kinematics`` turns back into ``joints``.

    The root rotation takes the facing direction (see ``facing_direction``) to +z, and frame 0's root
    rotation is the identity, as in HumanML3D. Each bone gets the shortest-arc rotation from its rest
    direction to its direction in the data.
    """
    root, local = _inverse_kinematics_components(
        skeleton, joints.movedim(-1, 0).contiguous(), across_pairs, smooth_sigma
    )
    return torch.cat([root[..., None, :], torch.stack(local, dim=-1)], dim=-2)


@functools.cache
def _tree_indices(skeleton: Skeleton) -> tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...]]:
    """For joints 1..J-1: the parent, the joint whose rotation theirs is relative to (see ``_tree_levels``),
    and whether that is the root's (a chain's first bone)."""
    before = [0] * skeleton.num_joints
    for children, level_before, _ in _tree_levels(skeleton):
        for child, index in zip(children, level_before, strict=True):
            before[child] = index
    joints = range(1, skeleton.num_joints)
    return (
        tuple(skeleton.parents[c] for c in joints),
        tuple(before[c] for c in joints),
        tuple(before[c] == 0 for c in joints),
    )


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Increasing ``indices`` as ``(start, stop)`` slices of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


@functools.cache
def _paths_matrix(skeleton: Skeleton, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """0/1 matrix ``(J, J)``: ``steps @ paths`` sums, for every joint, the steps of the root and of the bones
    from the root down to it, over tensors ``(..., J)`` of one coordinate of every joint.

    This is forward kinematics' chain-by-chain accumulation ``position = step + position of the parent`` in
    one matrix product instead of a loop over tree levels gathering joint lists; the product adds exact
    zeros for the other joints, and visits the joints in index order (parents come before children in
    every skeleton here), so it gives the same sums up to the rounding of a fused multiply-add.
    """
    paths = torch.zeros(skeleton.num_joints, skeleton.num_joints, dtype=dtype, device=device)
    for joint in range(skeleton.num_joints):
        ancestor = joint
        while ancestor >= 0:
            paths[ancestor, joint] = 1
            ancestor = skeleton.parents[ancestor]
    return paths


def _norm_components(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.addcmul(torch.addcmul(x * x, y, y), z, z))


def _select_joints(x: torch.Tensor, joints: tuple[int, ...]) -> torch.Tensor:
    """``x[..., joints]`` for ``x`` ``(..., J)``: ``index_select`` on a 2D view, which takes a fast path that
    the same call on more dimensions (or advanced indexing) misses, by an order of magnitude."""
    index = torch.tensor(joints, device=x.device)
    return x.reshape(-1, x.shape[-1]).index_select(1, index).view(*x.shape[:-1], len(joints))


def _bones_components(skeleton: Skeleton, positions: torch.Tensor) -> torch.Tensor:
    """Joint minus parent ``(3, ..., J-1)`` for joints 1..J-1 of positions ``(3, ..., J)``."""
    return positions[..., 1:] - _select_joints(positions, _tree_indices(skeleton)[0])


def _place_along_bones(
    skeleton: Skeleton, positions: torch.Tensor, root: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Joints ``(3, ..., T, J)`` with the bone directions of ``positions`` ``(3, ..., T, J)`` and new lengths.

    The root goes to ``root`` ``(3, ..., T)``, and every other joint to its parent plus ``lengths[..., j]``
    (broadcasting against ``(..., T, J)``) along the bone's direction in ``positions``. This is
    ``forward_kinematics(inverse_kinematics(positions), root, offsets)`` for offsets of those lengths along
    the rest directions: each bone's global rotation is the shortest arc from its rest direction to its
    direction in the data (local rotations compose back to it), so it turns its offset onto that
    direction. Computed directly, without the rotations in between.
    """
    bones = _bones_components(skeleton, positions)
    steps = torch.empty_like(positions)
    # The unit direction first, then the length, as inverse then forward kinematics round them.
    torch.mul(bones / _norm_components(*bones), lengths[..., 1:], out=steps[..., 1:])
    steps[..., 0] = root
    return steps @ _paths_matrix(skeleton, positions.dtype, positions.device)


def _inverse_kinematics_components(
    skeleton: Skeleton,
    joints: torch.Tensor,
    across_pairs: tuple[tuple[int, int], tuple[int, int]],
    smooth_sigma: float | None = None,
) -> tuple[torch.Tensor, Quat]:
    """``inverse_kinematics`` of joints given by coordinate ``(3, ..., T, J)``.

    Returns the root rotations ``(..., T, 4)`` and the local rotations of joints 1..J-1 as quaternion
    components ``(..., T, J-1)`` each.
    """
    # The facing direction needs four joints in every frame: gather just those (a small tensor).
    (a1, b1), (a2, b2) = across_pairs
    used = sorted({a1, b1, a2, b2})
    at = {joint: k for k, joint in enumerate(used)}
    face_joints = _select_joints(joints, tuple(used)).movedim(0, -1)
    forward = facing_direction(face_joints, ((at[a1], at[b1]), (at[a2], at[b2])), smooth_sigma)
    target = torch.tensor(FORWARD, dtype=joints.dtype, device=joints.device).expand_as(forward)
    root = qbetween(forward, target)
    identity = torch.tensor((1.0, 0.0, 0.0, 0.0), dtype=joints.dtype, device=joints.device)
    root = torch.cat([identity.expand_as(root[..., :1, :]), root[..., 1:, :]], dim=-2)

    # Each bone's global rotation is the shortest arc from its rest direction to its direction in the data;
    # its local rotation is that relative to the rotation before it (the root's for a chain's first bone).
    bones = _bones_components(skeleton, joints)
    direction = bones / _norm_components(*bones)
    rest = raw_offsets(skeleton, joints)[1:].T  # (3, J-1): one row per coordinate
    arcs = _qbetween_components(tuple(rest), tuple(direction))
    if arcs is None:  # a bone against its rest direction, or of length zero: take qbetween's fallbacks
        arcs = qbetween(rest.T.expand(*direction.shape[1:], 3), direction.movedim(0, -1)).movedim(-1, 0)
    _, before, after_root = _tree_indices(skeleton)
    previous = _select_joints(arcs, tuple(max(b - 1, 0) for b in before))
    root_components = root.movedim(-1, 0)[..., None]
    for start, stop in _runs([k for k, first in enumerate(after_root) if first]):
        previous[..., start:stop] = root_components
    local = _qmul_conj_components(tuple(previous), tuple(arcs))
    return root, local


def heading_quaternion(angle: torch.Tensor) -> torch.Tensor:
    """Quaternions ``(cos a, 0, sin a, 0)``: a turn of ``2a`` about +y (HumanML3D's root angle ``a``)."""
    zeros = torch.zeros_like(angle)
    return torch.stack([torch.cos(angle), zeros, torch.sin(angle), zeros], dim=-1)


__all__ = [
    "bone_offsets",
    "facing_direction",
    "forward_kinematics",
    "forward_kinematics_cont6d",
    "gaussian_smooth",
    "heading_quaternion",
    "inverse_kinematics",
    "offsets_from_lengths",
    "raw_offsets",
]
