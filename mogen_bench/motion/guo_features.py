"""HumanML3D-style motion features (Guo et al. 2022): joint positions <-> the 263-d (or KIT 251-d) vectors.

``extract_features`` is HumanML3D's ``process_file`` (``motion_representation.ipynb``) and
``recover_from_ric`` / ``recover_from_rot`` its recovery functions, batched over motions. A frame holds

    [0]      root angular velocity about y (arcsin of the heading quaternion's y, i.e. half the angle)
    [1:3]    root linear velocity in x, z, in the body's heading frame
    [3]      root height
    ric      (J-1) x 3 joint positions relative to the root, in the heading frame
    rot      (J-1) x 6 local joint rotations (continuous 6D)
    vel      J x 3 joint velocities in the heading frame
    contact  4 foot contacts (left ankle, left foot, right ankle, right foot)

T frames of joints give T-1 frames of features. The released data's quirks are kept, because the
released features were made with them: the facing direction used for rotations sums (left hip - right
hip) + (right shoulder - left shoulder) (HumanML3D's ``inverse_kinematics_np`` unpacks the hips in the
wrong order), is smoothed with a Gaussian of sigma 20 frames, and frame 0's root rotation is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.kinematics import (
    bone_offsets,
    facing_direction,
    forward_kinematics,
    forward_kinematics_cont6d,
    heading_quaternion,
    inverse_kinematics,
    offsets_from_lengths,
)
from mogen_bench.motion.rotations import qbetween, qinv, qmul, qrot, quaternion_to_cont6d
from mogen_bench.motion.skeletons import KIT21, SMPL22, Skeleton

# Bone lengths (metres) of HumanML3D's target skeleton (frame 0 of clip 000021), one per joint, the root's
# zero. Measured from the released new_joints/012314.npy, where every clip has exactly these lengths:
# the mean over its 170 frames, which deviate from it by at most 1.2e-6.
HUMANML3D_TARGET_BONE_LENGTHS: tuple[float, ...] = (
    0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434,
    0.0573647, 0.1433818, 0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844,
    0.2568399, 0.2630919, 0.2660118, 0.2698763,
)  # fmt: skip


@dataclass(frozen=True)
class GuoFeatureSpec:
    """The constants of ``process_file`` for one dataset (HumanML3D's ``__main__`` or KIT-ML's)."""

    skeleton: Skeleton
    #: (right hip, left hip, right shoulder, left shoulder), as passed to ``process_file``.
    face_joints: tuple[int, int, int, int]
    #: Bones whose offsets measure the leg length when retargeting (thigh and shin).
    leg_joints: tuple[int, int]
    left_foot: tuple[int, int]
    right_foot: tuple[int, int]
    #: Squared displacement per frame below which a foot joint counts as in contact.
    contact_threshold: float
    fps: float
    #: Bone lengths of the target skeleton; ``None`` when the project cannot ship them (KIT-ML).
    target_bone_lengths: tuple[float, ...] | None = None
    facing_sigma: float = 20.0

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def dims(self) -> int:
        return 4 + (self.num_joints - 1) * 9 + self.num_joints * 3 + 4

    @property
    def ik_across_pairs(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """HumanML3D's IK reads (r_hip, l_hip, ...) as (l_hip, r_hip, ...): the hip term is reversed."""
        r_hip, l_hip, r_sdr, l_sdr = self.face_joints
        return (l_hip, r_hip), (r_sdr, l_sdr)

    @property
    def facing_pairs(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The correct order, used by ``process_file`` itself to face frame 0 towards +z."""
        r_hip, l_hip, r_sdr, l_sdr = self.face_joints
        return (r_hip, l_hip), (r_sdr, l_sdr)

    def target_offsets(self, like: torch.Tensor, bone_lengths: torch.Tensor | None = None) -> torch.Tensor:
        if bone_lengths is None:
            if self.target_bone_lengths is None:
                raise MogenBenchError(
                    f"no target skeleton is built in for {self.skeleton.name}",
                    field="target_bone_lengths",
                    fix="pass target_bone_lengths measured from any clip of the released dataset "
                    "(the bone lengths of new_joints/<id>.npy; see kinematics.bone_offsets)",
                )
            bone_lengths = torch.tensor(self.target_bone_lengths, dtype=like.dtype, device=like.device)
        return offsets_from_lengths(self.skeleton, bone_lengths)


HUMANML3D_SPEC = GuoFeatureSpec(
    skeleton=SMPL22,
    face_joints=(2, 1, 17, 16),
    leg_joints=(5, 8),
    left_foot=(7, 10),
    right_foot=(8, 11),
    contact_threshold=0.002,
    fps=20.0,
    target_bone_lengths=HUMANML3D_TARGET_BONE_LENGTHS,
)

KIT_SPEC = GuoFeatureSpec(
    skeleton=KIT21,
    face_joints=(11, 16, 5, 8),
    leg_joints=(17, 18),
    # text-to-motion's KIT script names fid_l = [19, 20] and fid_r = [14, 15]; its "left" is the -x side.
    left_foot=(19, 20),
    right_foot=(14, 15),
    contact_threshold=0.05,
    fps=12.5,
)


def uniform_skeleton(
    joints: torch.Tensor, spec: GuoFeatureSpec, bone_lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Retarget motions ``(..., T, J, 3)`` to the target bone lengths, scaling the root path by leg length."""
    target = spec.target_offsets(joints, bone_lengths)
    source = bone_offsets(spec.skeleton, joints[..., 0, :, :])
    i, j = spec.leg_joints
    source_leg = source[..., i, :].abs().amax(-1) + source[..., j, :].abs().amax(-1)
    target_leg = target[..., i, :].abs().amax(-1) + target[..., j, :].abs().amax(-1)
    scale = (target_leg / source_leg)[..., None, None]
    rotations = inverse_kinematics(spec.skeleton, joints, spec.ik_across_pairs)
    return forward_kinematics(spec.skeleton, rotations, joints[..., 0, :] * scale, target[..., None, :, :])


def extract_features(
    joints: torch.Tensor, spec: GuoFeatureSpec = HUMANML3D_SPEC, bone_lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Features ``(..., T-1, D)`` of joint positions ``(..., T, J, 3)`` (y up, metres), as ``process_file``.

    A batch holds motions of equal length; the smoothing of the facing direction sees each motion's own
    first and last frames, so padding a shorter motion would change its features.
    """
    joints = _check_joints(joints, spec)
    positions = uniform_skeleton(joints, spec, bone_lengths)

    # Put the feet on the floor, the frame-0 root above the origin, and face frame 0 towards +z.
    floor = positions[..., 1].amin(dim=(-2, -1))
    positions = positions - floor[..., None, None, None] * positions.new_tensor([0.0, 1.0, 0.0])
    origin = positions[..., :1, :1, :] * positions.new_tensor([1.0, 0.0, 1.0])
    positions = positions - origin
    forward = facing_direction(positions[..., :1, :, :], spec.facing_pairs)
    target = positions.new_tensor([0.0, 0.0, 1.0]).expand_as(forward)
    positions = qrot(qbetween(forward, target)[..., None, :], positions)
    global_positions = positions

    contacts = [_contacts(positions, spec.left_foot, spec), _contacts(positions, spec.right_foot, spec)]

    rotations = inverse_kinematics(spec.skeleton, positions, spec.ik_across_pairs, spec.facing_sigma)
    cont6d = quaternion_to_cont6d(rotations)
    root_rotation = rotations[..., 0, :]
    root = positions[..., 0, :]
    root_velocity = qrot(root_rotation[..., 1:, :], root[..., 1:, :] - root[..., :-1, :])
    heading_velocity = qmul(root_rotation[..., 1:, :], qinv(root_rotation[..., :-1, :]))

    # Joint positions relative to the root's ground projection, in each frame's heading frame.
    local = positions - root[..., None, :] * positions.new_tensor([1.0, 0.0, 1.0])
    local = qrot(root_rotation[..., None, :], local)

    frames = positions.shape[-3] - 1
    batch = positions.shape[:-3]
    root_data = torch.cat(
        [
            torch.arcsin(heading_velocity[..., 2:3]),
            root_velocity[..., [0, 2]],
            local[..., :-1, 0, 1:2],
        ],
        dim=-1,
    )
    ric = local[..., :-1, 1:, :].reshape(*batch, frames, -1)
    rot = cont6d[..., :-1, 1:, :].reshape(*batch, frames, -1)
    velocity = qrot(
        root_rotation[..., :-1, None, :], global_positions[..., 1:, :, :] - global_positions[..., :-1, :, :]
    )
    velocity = velocity.reshape(*batch, frames, -1)
    return torch.cat([root_data, ric, rot, velocity, *contacts], dim=-1)


def _contacts(positions: torch.Tensor, foot: tuple[int, int], spec: GuoFeatureSpec) -> torch.Tensor:
    step = positions[..., 1:, list(foot), :] - positions[..., :-1, list(foot), :]
    return ((step**2).sum(-1) < spec.contact_threshold).to(positions.dtype)


def recover_root(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root heading quaternions ``(..., T, 4)`` and positions ``(..., T, 3)`` of features ``(..., T, D)``."""
    angle = torch.cumsum(torch.cat([torch.zeros_like(features[..., :1, 0]), features[..., :-1, 0]], -1), -1)
    heading = heading_quaternion(angle)
    step = torch.cat(
        [features[..., :-1, 1:2], torch.zeros_like(features[..., :-1, :1]), features[..., :-1, 2:3]], -1
    )
    step = torch.cat([torch.zeros_like(step[..., :1, :]), step], dim=-2)
    position = torch.cumsum(qrot(qinv(heading), step), dim=-2)
    position = torch.cat([position[..., :1], features[..., 3:4], position[..., 2:3]], dim=-1)
    return heading, position


def recover_from_ric(features: torch.Tensor, num_joints: int = 22) -> torch.Tensor:
    """Joint positions ``(..., T, J, 3)`` from the root data and the ric block (as ``recover_from_ric``)."""
    heading, root = recover_root(features)
    local = features[..., 4 : 4 + (num_joints - 1) * 3].unflatten(-1, (num_joints - 1, 3))
    joints = qrot(qinv(heading)[..., None, :], local)
    joints = joints + root[..., None, :] * root.new_tensor([1.0, 0.0, 1.0])
    return torch.cat([root[..., None, :], joints], dim=-2)


def recover_from_rot(
    features: torch.Tensor, spec: GuoFeatureSpec = HUMANML3D_SPEC, bone_lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Joint positions ``(..., T, J, 3)`` by forward kinematics of the rot block on the target skeleton."""
    heading, root = recover_root(features)
    j = spec.num_joints
    start = 4 + (j - 1) * 3
    local = features[..., start : start + (j - 1) * 6].unflatten(-1, (j - 1, 6))
    cont6d = torch.cat([quaternion_to_cont6d(heading)[..., None, :], local], dim=-2)
    return forward_kinematics_cont6d(spec.skeleton, cont6d, root, spec.target_offsets(features, bone_lengths))


def _check_joints(joints, spec: GuoFeatureSpec) -> torch.Tensor:
    if not isinstance(joints, torch.Tensor):
        joints = torch.as_tensor(joints)
    expected = f"(..., T, {spec.num_joints}, 3)"
    if joints.ndim < 3 or tuple(joints.shape[-2:]) != (spec.num_joints, 3):
        raise MogenBenchError(
            f"joint positions must have shape {expected}, got {tuple(joints.shape)}",
            field="joints",
            fix=f"give {spec.num_joints} joints of the {spec.skeleton.name} skeleton per frame",
        )
    if joints.shape[-3] < 2:
        raise MogenBenchError(
            f"a motion needs at least 2 frames for features (velocities), got {joints.shape[-3]}",
            field="joints",
            fix="drop motions shorter than 2 frames",
        )
    if not joints.is_floating_point():
        joints = joints.to(torch.float32)
    if not torch.isfinite(joints).all():
        raise MogenBenchError(
            "joint positions contain NaN or inf", field="joints", fix="remove or repair the broken frames"
        )
    return joints
