"""The registry of motion representations: what every model, dataset and evaluator names its features by.

Each representation declares its name, dimension, frame rate, joint count and skeleton, the feature
dims of every body part, how to mirror a motion in feature space, and the way back to joint positions:

    humanml3d-263   22 SMPL joints, 20 fps    HumanML3D's features (Guo et al. 2022)
    kit-251         21 KIT joints, 12.5 fps   KIT-ML's features, same construction
    smpl-rot6d-135  22 SMPL joints, 20 fps    root height, planar velocity, 22 x 6D rotations (TEACH-style)

``get_representation(name)`` is the single entry point; an unknown name is a project error that lists
the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import HUMANML3D_SPEC, KIT_SPEC, recover_from_ric
from mogen_bench.motion.mirror import mirror_features, mirror_rot6d
from mogen_bench.motion.part_slices import part_slices
from mogen_bench.motion.skeletons import KIT21, SMPL22, Skeleton


@dataclass(frozen=True)
class Representation:
    """A feature layout with everything needed to slice, mirror and visualise it."""

    name: str
    dims: int
    fps: float
    skeleton: Skeleton
    description: str
    _mirror: Callable[[torch.Tensor], torch.Tensor]
    _to_joints: Callable[[torch.Tensor], torch.Tensor]

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def part_slices(self) -> dict[str, tuple[int, ...]]:
        """Part name (the seven parts and ``body``) -> sorted feature dims; the parts cover every dim once."""
        return part_slices(self.name)

    def check(self, features, what: str = "features") -> torch.Tensor:
        """``features`` as a floating tensor ``(..., T, dims)``; a project error for a bad shape or value."""
        tensor = torch.as_tensor(features)
        if tensor.ndim < 2 or tensor.shape[-1] != self.dims:
            raise MogenBenchError(
                f"{self.name} {what} must have shape (..., T, {self.dims}), got {tuple(tensor.shape)}",
                field=what,
                fix=f"give {self.dims}-dim {self.name} features per frame, or name their representation",
            )
        if tensor.shape[-2] == 0:
            raise MogenBenchError(
                f"{self.name} {what} have no frames", field=what, fix="give at least one frame"
            )
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        if not torch.isfinite(tensor).all():
            raise MogenBenchError(
                f"{self.name} {what} contain NaN or inf", field=what, fix="remove or repair the broken frames"
            )
        return tensor

    def mirror(self, features) -> torch.Tensor:
        """Features of the left-right mirrored motion (HumanML3D's ``M`` files), same shape."""
        return self._mirror(self.check(features))

    def to_joints(self, features) -> torch.Tensor:
        """Joint positions ``(..., T, J, 3)`` (y up; metres, KIT mm) of features ``(..., T, dims)``."""
        return self._to_joints(self.check(features))


def _rot6d_to_joints(features: torch.Tensor) -> torch.Tensor:
    from mogen_bench.motion.smpl import smpl_joints_builtin
    from mogen_bench.motion.smpl_rot6d import rot6d_to_smpl

    params = rot6d_to_smpl(features)
    return smpl_joints_builtin(params)[..., : SMPL22.num_joints, :]


REPRESENTATIONS: dict[str, Representation] = {
    r.name: r
    for r in (
        Representation(
            "humanml3d-263",
            HUMANML3D_SPEC.dims,
            HUMANML3D_SPEC.fps,
            SMPL22,
            "HumanML3D features: root motion, joint positions, 6D rotations, velocities, foot contacts",
            lambda x: mirror_features(x, HUMANML3D_SPEC),
            lambda x: recover_from_ric(x, SMPL22.num_joints),
        ),
        Representation(
            "kit-251",
            KIT_SPEC.dims,
            KIT_SPEC.fps,
            KIT21,
            "KIT-ML features, built like HumanML3D's on the 21-joint KIT skeleton",
            lambda x: mirror_features(x, KIT_SPEC),
            lambda x: recover_from_ric(x, KIT21.num_joints),
        ),
        Representation(
            "smpl-rot6d-135",
            135,
            20.0,
            SMPL22,
            "SMPL rotations: root height, heading-frame planar velocity, 22 x 6D (frame-0 heading removed)",
            mirror_rot6d,
            _rot6d_to_joints,
        ),
    )
}


def get_representation(name: str) -> Representation:
    """The representation called ``name``."""
    try:
        return REPRESENTATIONS[name]
    except KeyError:
        raise MogenBenchError(
            f"unknown motion representation {name!r}",
            field="representation",
            fix=f"use one of {', '.join(REPRESENTATIONS)}",
        ) from None
