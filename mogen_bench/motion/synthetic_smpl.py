"""A synthetic SMPL body model for tests and demos: structurally an SMPL model, free of the SMPL licence.

The real SMPL files are licensed and cannot ship with the project, yet the smplx path of
``mogen_bench.motion.smpl`` (and anything that skins a mesh) should run in CI. This module builds a model
with SMPL's array names, shapes and kinematic tree, so ``smpl.load_smpl_model`` and smplx treat it like the
real one:

- ``v_template`` ``(6890, 3)``: SMPL's vertex count (smplx picks extra keypoints from fixed vertex ids up to
  6889, so fewer vertices would fail inside smplx). A small octahedron of 6 vertices around each of the 24
  joints, a tube of 9-vertex rings along each of the 23 bones and a cap on the 5 end bones (head, hands,
  feet): a stick figure, not a human surface.
- ``J_regressor`` ``(24, 6890)``: each joint is the mean of its octahedron, so ``J_regressor @ v_template``
  is exactly ``smpl.SMPL_NEUTRAL_REST_JOINTS`` (up to float rounding) and the smplx joints of this model with
  zero betas equal ``smpl.smpl_joints_builtin``.
- ``weights`` ``(6890, 24)``: octahedron and cap vertices follow their joint; a bone's tube follows the
  parent joint, blending half-way into the child over the last fifth of the bone.
- ``shapedirs`` ``(6890, 3, num_betas)``: betas move the joints. Component 0 scales the body about the
  pelvis (+1 = 5% larger), 1 stretches it vertically (+1 = 5% taller), 2 widens it (+1 = 5% wider), and the
  rest are fixed small smooth per-joint displacements (at most 5 mm per unit). Every vertex moves with its
  joint (tubes interpolate between their two joints), so the mesh stays attached.
- ``posedirs`` ``(6890, 3, 207)``: zeros. Pose blend shapes move only vertices, never joints.
- ``f`` (SMPL's key for faces) ``(F, 3)`` and ``kintree_table`` ``(2, 24)`` (``-1`` as the root's parent).

Everything is deterministic (no random numbers), so tests can pin golden values on it.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Literal

import numpy as np

from annotation.files import atomic_writer
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.smpl import (
    GENDERS,
    SMPL_NEUTRAL_REST_JOINTS,
    SMPL_NUM_VERTICES,
    SMPL_PARENTS,
)

__all__ = ["synthetic_smpl_arrays", "write_synthetic_smpl_model"]

_JOINT_RADIUS = 0.015  # octahedron around each joint (m)
_TUBE_RADIUS = 0.04  # bone tubes (m)
_RING = 9  # vertices per tube ring
_NUM_POSE_BASIS = 207  # 23 joints x 9 rotation-matrix entries, as in SMPL
_CHILD_BLEND_START = 0.8  # tube skinning starts blending into the child joint here (fraction of the bone)


def _shape_displacements(rest: np.ndarray, num_betas: int) -> np.ndarray:
    """Per-joint displacement ``(num_betas, 24, 3)`` of one unit of each shape coefficient."""
    rel = rest - rest[0]
    out = np.zeros((num_betas, 24, 3))
    for k in range(num_betas):
        if k == 0:
            out[k] = 0.05 * rel
        elif k == 1:
            out[k, :, 1] = 0.05 * rel[:, 1]
        elif k == 2:
            out[k, :, 0] = 0.05 * rel[:, 0]
        else:
            j = np.arange(24)[:, None]
            axis = np.arange(3)[None, :]
            out[k] = 0.005 * np.sin(1.3 * k * (j + 1) + 0.7 * (axis + 1) * k)
    return out


def _perpendicular_basis(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    least = np.zeros(3)
    least[np.argmin(np.abs(direction))] = 1.0
    u = np.cross(direction, least)
    u /= np.linalg.norm(u)
    return u, np.cross(direction, u)


def synthetic_smpl_arrays(
    num_betas: int = 10, *, rest_joints: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The synthetic model's arrays (float64), keyed as in an SMPL model file (see the module docstring).

    ``rest_joints`` ``(24, 3)`` replaces the built-in neutral skeleton (``smpl.SMPL_NEUTRAL_REST_JOINTS``).
    """
    if not isinstance(num_betas, int) or num_betas < 1:
        raise MogenBenchError(f"num_betas must be a positive integer, got {num_betas!r}", field="num_betas")
    rest = np.asarray(SMPL_NEUTRAL_REST_JOINTS if rest_joints is None else rest_joints, dtype=np.float64)
    if rest.shape != (24, 3) or not np.isfinite(rest).all():
        raise MogenBenchError(
            f"rest_joints must be 24 finite 3D points, got shape {rest.shape}", field="rest_joints"
        )
    parents = SMPL_PARENTS
    bones = [(parents[j], j) for j in range(1, 24)]
    has_child = {p for p, _ in bones}
    leaves = [j for j in range(24) if j not in has_child]  # feet, head, hands: 10, 11, 15, 22, 23

    num_joint_verts = 6 * 24
    num_rings = (SMPL_NUM_VERTICES - num_joint_verts - len(leaves)) // _RING
    assert num_joint_verts + len(leaves) + num_rings * _RING == SMPL_NUM_VERTICES
    # Rings per bone in proportion to its length, at least two (a tube needs two rings).
    lengths = np.array([np.linalg.norm(rest[c] - rest[p]) for p, c in bones])
    rings = np.maximum(2, np.floor(lengths / lengths.sum() * num_rings).astype(int))
    rings[np.argmax(lengths)] += num_rings - rings.sum()

    displacement = _shape_displacements(rest, num_betas)  # (K, 24, 3)
    vertices: list[np.ndarray] = []
    shape_dirs: list[np.ndarray] = []  # (3, K) per vertex
    weights = np.zeros((SMPL_NUM_VERTICES, 24))
    regressor = np.zeros((24, SMPL_NUM_VERTICES))
    faces: list[tuple[int, int, int]] = []

    # Octahedra: their centroid is the joint exactly, which makes the regressed joints the rest joints.
    octahedron = _JOINT_RADIUS * np.concatenate([np.eye(3), -np.eye(3)])
    for j in range(24):
        first = len(vertices)
        for corner in octahedron:
            vertices.append(rest[j] + corner)
            shape_dirs.append(displacement[:, j, :].T)
        weights[first : first + 6, j] = 1.0
        regressor[j, first : first + 6] = 1.0 / 6.0
        # Octahedron faces: +x,+y,+z corners are 0,1,2; -x,-y,-z are 3,4,5.
        for a in (0, 3):
            for b in (1, 4):
                for c in (2, 5):
                    faces.append((first + a, first + b, first + c))

    # Tubes along the bones, following the parent joint.
    ring_starts: dict[int, int] = {}
    for (p, c), n in zip(bones, rings, strict=True):
        direction = rest[c] - rest[p]
        direction = direction / np.linalg.norm(direction)
        u, w = _perpendicular_basis(direction)
        ring_starts[c] = len(vertices) + (n - 1) * _RING  # the last ring, for caps
        for i in range(n):
            t = i / (n - 1)
            centre = (1 - t) * rest[p] + t * rest[c]
            blend = 0.5 * max(0.0, (t - _CHILD_BLEND_START) / (1 - _CHILD_BLEND_START))
            for k in range(_RING):
                angle = 2 * math.pi * k / _RING
                index = len(vertices)
                vertices.append(centre + _TUBE_RADIUS * (math.cos(angle) * u + math.sin(angle) * w))
                shape_dirs.append(((1 - t) * displacement[:, p, :] + t * displacement[:, c, :]).T)
                weights[index, p] = 1.0 - blend
                weights[index, c] += blend
                if i + 1 < n:
                    a, b = index, index - k + (k + 1) % _RING
                    faces.append((a, b, b + _RING))
                    faces.append((a, b + _RING, a + _RING))

    # Caps close the end bones with one apex vertex just beyond the end joint.
    for leaf in leaves:
        p = parents[leaf]
        direction = (rest[leaf] - rest[p]) / np.linalg.norm(rest[leaf] - rest[p])
        apex = len(vertices)
        vertices.append(rest[leaf] + _TUBE_RADIUS * direction)
        shape_dirs.append(displacement[:, leaf, :].T)
        weights[apex, leaf] = 1.0
        last = ring_starts[leaf]
        for k in range(_RING):
            faces.append((last + k, last + (k + 1) % _RING, apex))

    assert len(vertices) == SMPL_NUM_VERTICES
    kintree = np.stack([np.asarray(parents, dtype=np.int64), np.arange(24, dtype=np.int64)])
    return {
        "v_template": np.asarray(vertices),
        "f": np.asarray(faces, dtype=np.int64),
        "J_regressor": regressor,
        "weights": weights,
        "posedirs": np.zeros((SMPL_NUM_VERTICES, 3, _NUM_POSE_BASIS)),
        "shapedirs": np.asarray(shape_dirs),
        "kintree_table": kintree,
    }


def write_synthetic_smpl_model(
    path: str | os.PathLike,
    *,
    gender: str = "neutral",
    num_betas: int = 10,
    fmt: Literal["npz", "pkl"] = "npz",
) -> Path:
    """Write the synthetic model and return the file's path.

    ``path`` is a folder (created if needed; the file is ``SMPL_{GENDER}.npz``, or ``.pkl``, inside it, as
    ``smpl.load_smpl_model`` looks for it) or a file name ending in ``.npz`` / ``.pkl``. ``fmt="pkl"`` writes
    a pickle of the same numpy arrays, the layout smplx's own loader reads
    (``smplx.SMPL(model_path=folder)`` or ``smplx.create(parent_folder, model_type="smpl")`` with the file in
    ``parent_folder/smpl/``); it is meant for exercising that path, since loading pickles needs
    ``allow_pickle=True``. Written to a temporary file and renamed, so no half-written model is left behind.
    """
    if fmt not in ("npz", "pkl"):
        raise MogenBenchError(f"unknown model format {fmt!r}", field="fmt", fix="use 'npz' or 'pkl'")
    if not isinstance(gender, str) or gender.lower() not in GENDERS:
        raise MogenBenchError(
            f"unknown SMPL gender {gender!r}", field="gender", fix=f"use one of {', '.join(GENDERS)}"
        )
    path = Path(path)
    if path.suffix.lower() in (".npz", ".pkl"):
        fmt = "npz" if path.suffix.lower() == ".npz" else "pkl"
        file = path
    else:
        file = path / f"SMPL_{gender.upper()}.{fmt}"
    arrays = synthetic_smpl_arrays(num_betas)
    with atomic_writer(file) as handle:
        if fmt == "npz":
            np.savez_compressed(handle, **arrays)
        else:
            pickle.dump(arrays, handle, protocol=4)
    return file
