"""Vertical axes of motion data: the rotation to the project's y-up world, and detecting the axis from joints.

HumanML3D, SMPL's own body frame and everything downstream are y-up; AMASS (and so BABEL) is z-up, and
a release that does not say (HuMMan-MoGen) can be checked from the data. The z-up -> y-up rotation is
HumanML3D's: its ``raw_pose_processing`` swaps y and z and then negates x, which together are the proper
rotation ``(x, y, z) -> (-x, z, y)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError

UpAxis = Literal["y", "z"]
UP_AXES: tuple[str, ...] = ("y", "z")

Z_UP_TO_Y_UP = ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0))

#: SMPL joints used to find "up" in a motion: pelvis and head.
_PELVIS, _HEAD = 0, 15


def up_to_y_matrix(up_axis: str, like: torch.Tensor) -> torch.Tensor:
    """The rotation matrix taking the data's world (``up_axis`` up) to the y-up world."""
    if up_axis == "y":
        return torch.eye(3, dtype=like.dtype, device=like.device)
    if up_axis == "z":
        return torch.tensor(Z_UP_TO_Y_UP, dtype=like.dtype, device=like.device)
    raise MogenBenchError(
        f"up_axis must be 'y' or 'z', got {up_axis!r}",
        field="up_axis",
        fix="pass up_axis='y' for y-up data (HumanML3D, SMPL's own axes) or 'z' for z-up data (AMASS)",
    )


def points_to_y_up(points: torch.Tensor, up_axis: str) -> torch.Tensor:
    """Points ``(..., 3)`` rotated from the ``up_axis``-up world to the y-up world."""
    if up_axis == "y":
        return points
    return points @ up_to_y_matrix(up_axis, points).T


def detect_up_axis(joints: np.ndarray | torch.Tensor) -> tuple[str | None, float]:
    """The world axis a body stands along in SMPL joints ``(T, >=16, 3)``, and the share of frames agreeing.

    Per frame, the pelvis -> head direction's largest component names the axis; the answer is the axis of
    the majority of frames if it is +y or +z, else ``None`` (upside-down, lying or another axis).
    """
    joints = torch.as_tensor(joints)
    spine = joints[..., _HEAD, :] - joints[..., _PELVIS, :]
    axis = spine.abs().argmax(dim=-1)
    positive = spine.gather(-1, axis[..., None])[..., 0] > 0
    votes = {name: float(((axis == i) & positive).double().mean()) for name, i in (("y", 1), ("z", 2))}
    best = max(votes, key=votes.get)
    return (best if votes[best] > 0.5 else None), votes[best]
