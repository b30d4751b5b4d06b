"""Left-right mirroring of motions, as HumanML3D builds its "M" files: negate x, swap left and right.

``mirror_joints`` mirrors joint positions ``(..., J, 3)``. ``mirror_features`` mirrors HumanML3D-style
feature vectors (263 / 251 dims) directly, without going back to joints. Reflecting the world through
the plane x = 0 (``M = diag(-1, 1, 1)``) and renaming each joint to its other side maps every block of a
feature vector to a signed copy of itself:

    root   the turning speed about y changes sign, and so does the x velocity; z velocity and height stay
    ric    joint j takes the position of its mirror joint, x negated
    rot    joint j takes the rotation ``M R M`` of its mirror joint; on the 6D columns ``(R e0, R e1)``
           that is ``(-M R e0, M R e1)``, i.e. signs (+, -, -, -, +, +)
    vel    as ric
    contact  the left and right foot contacts trade places

So feature mirroring is a fixed signed permutation of the dims (``feature_mirror_map``): exact, its own
inverse bit for bit, and one gather for any batch. On a left-right symmetric target skeleton it equals
``extract_features(mirror_joints(...))`` to rounding error. HumanML3D's own target skeleton is not
symmetric (its left and right bones differ by up to 8.6 mm), and extraction retargets every motion to
it, so on the released data the two differ a little: on clip 012314 by up to 0.12 in the 6D block,
around a fast turn (``tests/test_mirror.py`` measures it).
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import HUMANML3D_SPEC, GuoFeatureSpec
from mogen_bench.motion.part_slices import feature_blocks
from mogen_bench.motion.skeletons import SMPL22, Skeleton
from mogen_bench.motion.tensors import floating_tensor

Array = TypeVar("Array", torch.Tensor, np.ndarray)

#: Sign of each 6D component (first two rotation-matrix columns) under ``R -> M R M``.
CONT6D_MIRROR_SIGNS: tuple[float, ...] = (1.0, -1.0, -1.0, -1.0, 1.0, 1.0)
_POSITION_SIGNS = (-1.0, 1.0, 1.0)


def _as_tensor(value, name: str, expected: str) -> tuple[torch.Tensor, bool]:
    return floating_tensor("mirror", name, value, expected), isinstance(value, np.ndarray)


def _signed_gather(x: torch.Tensor, index: tuple[int, ...], signs: tuple[float, ...], dim: int):
    index_t = torch.tensor(index, device=x.device)
    signs_t = torch.tensor(signs, dtype=x.dtype, device=x.device)
    return x.index_select(dim, index_t) * signs_t


def mirror_joints(joints: Array, skeleton: Skeleton = SMPL22) -> Array:
    """Joint positions ``(..., J, 3)`` reflected through x = 0, each joint renamed to its other side."""
    tensor, as_numpy = _as_tensor(joints, "joints", f"(..., {skeleton.num_joints}, 3)")
    j = skeleton.num_joints
    if tensor.ndim < 2 or tuple(tensor.shape[-2:]) != (j, 3):
        raise MogenBenchError(
            f"joint positions must have shape (..., {j}, 3) for {skeleton.name}, got {tuple(tensor.shape)}",
            field="joints",
            fix=f"give {j} joints of the {skeleton.name} skeleton, or pass the skeleton they belong to",
        )
    perm = skeleton.mirror_permutation()
    mirrored = tensor.index_select(-2, torch.tensor(perm, device=tensor.device))
    mirrored = mirrored * torch.tensor(_POSITION_SIGNS, dtype=tensor.dtype, device=tensor.device)
    return mirrored.numpy() if as_numpy else mirrored


@cache
def feature_mirror_map(spec: GuoFeatureSpec = HUMANML3D_SPEC) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """``(source, sign)``: ``mirrored[..., i] = sign[i] * features[..., source[i]]`` for every dim ``i``."""
    perm = spec.skeleton.mirror_permutation()
    num_joints = spec.num_joints
    blocks = feature_blocks(num_joints)
    source: list[int] = []
    sign: list[float] = []
    # Root: angular velocity about y and x velocity flip; z velocity and height stay.
    source += [0, 1, 2, 3]
    sign += [-1.0, -1.0, 1.0, 1.0]
    # ric and rot hold joints 1..J-1 (the root sits on the midline, perm[0] == 0), vel holds 0..J-1.
    for joint in range(1, num_joints):
        source += [blocks.ric.start + 3 * (perm[joint] - 1) + k for k in range(3)]
        sign += _POSITION_SIGNS
    for joint in range(1, num_joints):
        source += [blocks.rot.start + 6 * (perm[joint] - 1) + k for k in range(6)]
        sign += CONT6D_MIRROR_SIGNS
    for joint in range(num_joints):
        source += [blocks.vel.start + 3 * perm[joint] + k for k in range(3)]
        sign += _POSITION_SIGNS
    # Contacts: the column of each foot joint reads the column of its mirror joint.
    contact_joints = (*spec.left_foot, *spec.right_foot)
    for joint in contact_joints:
        source.append(blocks.contact.start + contact_joints.index(perm[joint]))
        sign.append(1.0)
    assert len(source) == blocks.dims == spec.dims
    return tuple(source), tuple(sign)


def mirror_features(features: Array, spec: GuoFeatureSpec = HUMANML3D_SPEC) -> Array:
    """HumanML3D-style features ``(..., D)`` of the mirrored motion (D = 263, or 251 with ``KIT_SPEC``)."""
    tensor, as_numpy = _as_tensor(features, "features", f"(..., {spec.dims})")
    if tensor.ndim < 1 or tensor.shape[-1] != spec.dims:
        raise MogenBenchError(
            f"features must have shape (..., {spec.dims}) for {spec.skeleton.name}, "
            f"got {tuple(tensor.shape)}",
            field="features",
            fix=f"give {spec.dims}-dim HumanML3D-style features, "
            "or pass the GuoFeatureSpec they were made with",
        )
    source, sign = feature_mirror_map(spec)
    mirrored = _signed_gather(tensor, source, sign, dim=-1)
    return mirrored.numpy() if as_numpy else mirrored


@cache
def rot6d_mirror_map() -> tuple[tuple[int, ...], tuple[float, ...]]:
    """``(source, sign)`` for ``smpl-rot6d-135``: height stays, the heading-frame x velocity flips, and each
    joint's 6D rotation is conjugated by the reflection and moved to its mirror joint."""
    perm = SMPL22.mirror_permutation()
    source = [0, 1, 2]
    sign = [1.0, -1.0, 1.0]
    for joint in range(SMPL22.num_joints):
        source += [3 + 6 * perm[joint] + k for k in range(6)]
        sign += CONT6D_MIRROR_SIGNS
    return tuple(source), tuple(sign)


def mirror_rot6d(features: Array) -> Array:
    """``smpl-rot6d-135`` features ``(..., 135)`` of the mirrored motion."""
    tensor, as_numpy = _as_tensor(features, "features", "(..., 135)")
    if tensor.ndim < 1 or tensor.shape[-1] != 135:
        raise MogenBenchError(
            f"features must have shape (..., 135) for smpl-rot6d-135, got {tuple(tensor.shape)}",
            field="features",
            fix="give smpl-rot6d-135 features",
        )
    source, sign = rot6d_mirror_map()
    mirrored = _signed_gather(tensor, source, sign, dim=-1)
    return mirrored.numpy() if as_numpy else mirrored


__all__ = [
    "CONT6D_MIRROR_SIGNS",
    "feature_mirror_map",
    "mirror_features",
    "mirror_joints",
    "mirror_rot6d",
    "rot6d_mirror_map",
]
