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

import math
from dataclasses import dataclass

import torch

from mogen_bench import native
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.kinematics import (
    _inverse_kinematics_components,
    _place_along_bones,
    _select_joints,
    bone_offsets,
    facing_direction,
    forward_kinematics_cont6d,
    heading_quaternion,
    offsets_from_lengths,
)
from mogen_bench.motion.rotations import (
    _qrot_components,
    _quaternion_to_cont6d_components,
    _yaw_coefficients,
    _yaw_rotate,
    qbetween,
    qinv,
    qmul,
    qrot,
    quaternion_to_cont6d,
)
from mogen_bench.motion.skeletons import KIT21, SMPL22, Skeleton

# Bone lengths (metres) of HumanML3D's target skeleton (frame 0 of clip 000021), one per joint, the root's
# zero. Measured from the released new_joints/012314.npy, where every clip has exactly these lengths:
# the mean over its 170 frames, which deviate from it by at most 1.2e-6.
HUMANML3D_TARGET_BONE_LENGTHS: tuple[float, ...] = (
    0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434,
    0.0573647, 0.1433818, 0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844,
    0.2568399, 0.2630919, 0.2660118, 0.2698763,
)  # fmt: skip


# Elements of one (motions, frames, joints) tensor per chunk of ``extract_features``: 2^17 float32 numbers
# (512 KiB, 30 motions of 196 frames of 22 joints) keep the few dozen live intermediates within the caches.
_CHUNK_ELEMENTS = 2**17


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
                    fix="pass bone_lengths=measure_bone_lengths(<any released clip>, spec), e.g. "
                    "KIT-ML's new_joint_vecs/03950.npy",
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


def measure_bone_lengths(motion, spec: GuoFeatureSpec) -> torch.Tensor:
    """The target skeleton's bone lengths ``(J,)`` (root 0) measured from one released clip.

    ``motion`` is a clip of the released dataset: its features ``(T, dims)`` (``new_joint_vecs/<id>.npy``)
    or its joints ``(T, J, 3)`` (``new_joints/<id>.npy``). Every released clip was retargeted to the same
    target skeleton, so its bone lengths are that skeleton's (the median over frames, which agree to
    float precision). This is how ``kit-251`` extraction gets its target, which the project cannot ship
    (KIT-ML's clip 03950 is not public): ``bone_lengths=measure_bone_lengths(np.load(path), KIT_SPEC)``.
    """
    tensor = torch.as_tensor(motion, dtype=torch.float64)
    joints_count = spec.skeleton.num_joints
    if tensor.ndim == 2 and tensor.shape[-1] == 4 + (joints_count - 1) * 9 + joints_count * 3 + 4:
        tensor = recover_from_ric(tensor, joints_count)
    if tensor.ndim != 3 or tensor.shape[1:] != (joints_count, 3) or tensor.shape[0] == 0:
        raise MogenBenchError(
            f"cannot measure {spec.skeleton.name} bone lengths from an array of shape {tuple(tensor.shape)}",
            field="motion",
            fix=f"give one released clip: new_joints (T, {joints_count}, 3) or new_joint_vecs features",
        )
    parents = list(spec.skeleton.parents)
    parents[0] = 0
    lengths = torch.linalg.vector_norm(tensor - tensor[:, parents], dim=-1)
    return lengths.median(dim=0).values


def uniform_skeleton(
    joints: torch.Tensor, spec: GuoFeatureSpec, bone_lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Retarget motions ``(..., T, J, 3)`` to the target bone lengths, scaling the root path by leg length."""
    return _uniform_components(joints, spec, bone_lengths).movedim(0, -1).contiguous()


def _uniform_components(
    joints: torch.Tensor, spec: GuoFeatureSpec, bone_lengths: torch.Tensor | None
) -> torch.Tensor:
    """``uniform_skeleton`` by coordinate: ``(3, ..., T, J)``.

    HumanML3D runs inverse kinematics and then forward kinematics on the target offsets; that keeps every
    bone's direction and sets its length (``kinematics._place_along_bones``), which is computed directly.
    """
    target = spec.target_offsets(joints, bone_lengths)
    dtype = torch.promote_types(joints.dtype, target.dtype)  # float64 bone lengths make float64 joints
    joints, target = joints.to(dtype), target.to(dtype)
    source = bone_offsets(spec.skeleton, joints[..., 0, :, :])
    i, j = spec.leg_joints
    source_leg = source[..., i, :].abs().amax(-1) + source[..., j, :].abs().amax(-1)
    target_leg = target[..., i, :].abs().amax(-1) + target[..., j, :].abs().amax(-1)
    scale = (target_leg / source_leg)[..., None]
    positions = joints.movedim(-1, 0).contiguous()
    lengths = torch.linalg.vector_norm(target, dim=-1)[..., None, :]
    return _place_along_bones(spec.skeleton, positions, positions[..., 0] * scale, lengths)


def extract_features(
    joints: torch.Tensor, spec: GuoFeatureSpec = HUMANML3D_SPEC, bone_lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Features ``(..., T-1, D)`` of joint positions ``(..., T, J, 3)`` (y up, metres), as ``process_file``.

    A batch holds motions of equal length; the smoothing of the facing direction sees each motion's own
    first and last frames, so padding a shorter motion would change its features.
    """
    joints = _check_joints(joints, spec)
    batch, frames, num_joints = joints.shape[:-3], joints.shape[-3], spec.num_joints
    joints = joints.reshape(-1, frames, num_joints, 3)
    if bone_lengths is not None and bone_lengths.ndim > 1:
        bone_lengths = bone_lengths.expand(*batch, num_joints).reshape(-1, num_joints)
    dtype = joints.dtype if bone_lengths is None else torch.promote_types(joints.dtype, bone_lengths.dtype)
    features = torch.empty(len(joints), frames - 1, spec.dims, dtype=dtype, device=joints.device)
    # The work is memory-bound elementwise arithmetic; on chunks of motions whose intermediates stay in
    # the CPU caches it runs about twice as fast as on the whole batch at once.
    chunk = max(1, _CHUNK_ELEMENTS // (frames * num_joints))
    for start in range(0, len(joints), chunk):
        part = slice(start, start + chunk)
        lengths = bone_lengths[part] if bone_lengths is not None and bone_lengths.ndim > 1 else bone_lengths
        _extract_into(features[part], joints[part], spec, lengths)
    return features.reshape(*batch, frames - 1, spec.dims)


def _extract_into(
    features: torch.Tensor, joints: torch.Tensor, spec: GuoFeatureSpec, bone_lengths: torch.Tensor | None
) -> None:
    """Write the features ``(B, T-1, D)`` of motions ``(B, T, J, 3)`` into ``features``.

    The work runs on one contiguous ``(B, T, J)`` tensor per coordinate and writes each result straight
    into its columns of ``features`` (see the component helpers of ``rotations``); every rotation on the
    way is a turn about +y, a 2D rotation of x and z.
    """
    num_joints = spec.num_joints
    x, y, z = _uniform_components(joints, spec, bone_lengths)

    # Put the feet on the floor, the frame-0 root above the origin, and face frame 0 towards +z.
    floor = y.amin(dim=(-2, -1), keepdim=True)
    x = x - x[:, :1, :1]
    z = z - z[:, :1, :1]
    positions = torch.empty(3, *x.shape, dtype=x.dtype, device=x.device)
    torch.sub(y, floor, out=positions[1])
    frame0 = torch.stack([x[:, 0], positions[1, :, 0], z[:, 0]], dim=-1)[:, None]
    forward = facing_direction(frame0, spec.facing_pairs)
    face = qbetween(forward, torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype, device=x.device).expand_as(forward))
    _turn(face[:, :, None, :], x, z, out=(positions[0], positions[2]), y=positions[1])
    x, y, z = positions

    contacts = [_contacts(positions, spec.left_foot, spec), _contacts(positions, spec.right_foot, spec)]

    root_rotation, local_rotations = _inverse_kinematics_components(
        spec.skeleton, positions, spec.ik_across_pairs, spec.facing_sigma
    )
    root = positions[..., 0].movedim(0, -1)
    root_velocity = qrot(root_rotation[..., 1:, :], root[..., 1:, :] - root[..., :-1, :])
    heading_velocity = qmul(root_rotation[..., 1:, :], qinv(root_rotation[..., :-1, :]))

    ric_end = 4 + (num_joints - 1) * 3
    rot_end = ric_end + (num_joints - 1) * 6
    vel_end = rot_end + num_joints * 3
    torch.arcsin(heading_velocity[..., 2], out=features[..., 0])
    features[..., 1] = root_velocity[..., 0]
    features[..., 2] = root_velocity[..., 2]
    features[..., 3] = y[:, :-1, 0]

    # Joint positions relative to the root's ground projection, in each frame's heading frame.
    ric = features[..., 4:ric_end].unflatten(-1, (num_joints - 1, 3)).unbind(-1)
    heading = root_rotation[:, :-1, None, :]
    _turn(
        heading,
        x[:, :-1, 1:] - x[:, :-1, :1],
        z[:, :-1, 1:] - z[:, :-1, :1],
        out=(ric[0], ric[2]),
        y=y[:, :-1, 1:],
        out_y=ric[1],
    )
    rot = features[..., ric_end:rot_end].unflatten(-1, (num_joints - 1, 6)).unbind(-1)
    _quaternion_to_cont6d_components(tuple(q[:, :-1] for q in local_rotations), out=rot)
    velocity = features[..., rot_end:vel_end].unflatten(-1, (num_joints, 3)).unbind(-1)
    step = positions[:, :, 1:] - positions[:, :, :-1]
    _turn(heading, step[0], step[2], out=(velocity[0], velocity[2]), y=step[1], out_y=velocity[1])
    features[..., vel_end:] = torch.cat(contacts, dim=-1)


def _turn(q, x, z, out, y=None, out_y=None) -> None:
    """Write ``qrot(q, (x, y, z))`` into ``out`` (x and z) and ``out_y``, for quaternions ``q`` ``(..., 4)``.

    ``q`` here are turns about +y by construction (shortest arcs between horizontal directions), which
    rotate only x and z, by the 2D rotation of ``_yaw_coefficients``; the general formula is kept for any
    other ``q``.
    """
    coefficients = _yaw_coefficients(q)
    if coefficients is None:
        x, y, z = _qrot_components(tuple(q.unbind(-1)), (x, y, z))
        out[0].copy_(x)
        out[1].copy_(z)
    else:
        _yaw_rotate(*coefficients, x, z, out)
    if out_y is not None:
        out_y.copy_(y)


def _contacts(positions: torch.Tensor, foot: tuple[int, int], spec: GuoFeatureSpec) -> torch.Tensor:
    """Foot contacts ``(B, T-1, 2)`` of joints given by coordinate ``(3, B, T, J)``."""
    feet = _select_joints(positions, foot)
    step = feet[:, :, 1:] - feet[:, :, :-1]
    # Summed in the order of (step**2).sum(-1), with separate roundings: contacts are thresholds.
    return ((step[0] * step[0] + step[1] * step[1] + step[2] * step[2]) < spec.contact_threshold).to(
        positions.dtype
    )


def recover_root(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root heading quaternions ``(..., T, 4)`` and positions ``(..., T, 3)`` of features ``(..., T, D)``."""
    angle, position, _ = _recover_root(features)
    return heading_quaternion(angle), position


def _recover_root(
    features: torch.Tensor, out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """The heading angles ``(..., T)``, the positions of ``recover_root`` and the coefficients ``(k, s)``
    ``(..., T)`` of ``_yaw_coefficients(qinv(heading))``; the positions are written into ``out`` if given.

    The heading ``(cos a, 0, sin a, 0)`` is a turn about +y, so turning the steps (and, in
    ``recover_from_ric``, the joints) back by it is the 2D rotation ``x + (s z - k x)``, ``z - (s x + k z)``
    with ``k = 2 sin^2 a`` and ``s = -2 cos a sin a``: the numbers of ``qrot(qinv(heading), v)`` without
    building quaternions for it.
    """
    # One gather of the four root columns, by column: every later read is of a small contiguous tensor,
    # not of one number per wide feature row.
    head = features[..., :4].movedim(-1, 0).contiguous()
    # The angle of frame t sums the velocities of frames before it (frame 0's is zero). No out= or in-place
    # ops on the way to the results, so features that need a gradient get one.
    zero = head.new_zeros((*head.shape[1:-1], min(1, head.shape[-1])))
    angle = torch.cat([zero, torch.cumsum(head[0, ..., :-1], dim=-1)], dim=-1)
    inverse_y = -torch.sin(angle)  # qinv(heading_quaternion(angle))[..., 2]
    k, s = 2 * inverse_y * inverse_y, 2 * torch.cos(angle) * inverse_y
    # As the official code indexes it, the step into frame t (the velocity stored at frame t-1) is turned
    # by frame t's heading; positions sum the steps from frame 0, which stands at the origin.
    step_x, step_z = head[1, ..., :-1], head[2, ..., :-1]
    k1, s1 = k[..., 1:], s[..., 1:]
    steps = torch.stack(
        [
            step_x + torch.addcmul(s1 * step_z, k1, step_x, value=-1),
            step_z - torch.addcmul(s1 * step_x, k1, step_z),
        ]
    ).cumsum(dim=-1)
    position = out
    if position is None:
        position = head.new_empty(*angle.shape, 3)
    position[..., 0, 0::2] = 0
    position[..., 1:, 0::2] = steps.movedim(0, -1)
    position[..., 1] = head[3]
    return angle, position, (k, s)


# Elements of one (motions, frames, joints - 1) coordinate plane per chunk of ``recover_from_ric``: 2^18
# (64 motions of 196 frames of 22 joints) keep a chunk's joints and scratch within the CPU caches.
_RECOVER_CHUNK_ELEMENTS = 2**18


def recover_from_ric(features: torch.Tensor, num_joints: int = 22) -> torch.Tensor:
    """Joint positions ``(..., T, J, 3)`` from the root data and the ric block (as ``recover_from_ric``) of
    features ``(..., T, D)``, a tensor or a numpy array.

    The ric block turned back by the inverse heading (the 2D rotation of ``_recover_root``, written as
    ``c x + s z`` and ``c z - s x`` with ``c = 1 - k``), plus the root's ground position; the root is joint 0.
    On the CPU, float32 / float64 features that need no gradient go through the compiled kernel of
    ``mogen_bench.native`` when it can be built (one pass instead of several); elsewhere, and where it
    cannot, through ``_recover_from_ric_torch``. The two agree to the last bits of ``sin`` / ``cos``.
    """
    features = torch.as_tensor(features)  # numpy arrays too
    if not features.is_floating_point():
        features = features.to(torch.float32)
    ric_end = 4 + (num_joints - 1) * 3
    if num_joints < 1 or features.ndim < 2 or features.shape[-1] < ric_end:
        raise MogenBenchError(
            f"features for {num_joints} joints need at least {ric_end} dimensions per frame "
            f"(root 4 + ric {(num_joints - 1) * 3}), got shape {tuple(features.shape)}",
            field="features",
            fix="pass (..., T, D) features of the representation that num_joints belongs to",
        )
    if features.numel() == 0:
        return features.new_empty(*features.shape[:-1], num_joints, 3)
    if features.requires_grad and torch.is_grad_enabled():
        return _recover_from_ric_differentiable(features, num_joints)
    native = _recover_from_ric_native(features, num_joints)
    return native if native is not None else _recover_from_ric_torch(features, num_joints)


def _recover_from_ric_differentiable(features: torch.Tensor, num_joints: int) -> torch.Tensor:
    """``recover_from_ric`` for features that need a gradient (a joint-position loss): the arithmetic of
    ``_recover_from_ric_torch`` without its ``out=`` ops, which record no graph."""
    _, root, (k, s) = _recover_root(features)
    x, y, z = features[..., 4 : 4 + (num_joints - 1) * 3].unflatten(-1, (num_joints - 1, 3)).unbind(-1)
    c, s = (1 - k)[..., None], s[..., None]
    turned = (root[..., 0:1] + s * z) + c * x, y, (root[..., 2:3] - s * x) + c * z
    return torch.cat([root[..., None, :], torch.stack(turned, dim=-1)], dim=-2)


def _recover_from_ric_native(features: torch.Tensor, num_joints: int) -> torch.Tensor | None:
    """``recover_from_ric`` by the compiled kernel, or ``None`` where it does not apply or cannot be had."""
    if (
        features.device.type != "cpu"
        or features.layout != torch.strided
        or features.dtype not in (torch.float32, torch.float64)
    ):
        return None
    kernel = native.library("recover_ric")
    if kernel is None:
        return None
    batch, frames, dims = features.shape[:-2], features.shape[-2], features.shape[-1]
    rows = features.reshape(math.prod(batch), frames, dims)
    # The kernel reads rows in place at any motion and frame stride; it needs plain numbers along a row.
    if rows.stride(-1) != 1 or rows.is_neg():
        rows = rows.resolve_neg().contiguous()
    joints = torch.empty(len(rows), frames, num_joints, 3, dtype=features.dtype)
    kernel.mogen_recover_from_ric(
        rows.data_ptr(),
        len(rows),
        frames,
        dims,
        rows.stride(0),
        rows.stride(1),
        num_joints,
        joints.data_ptr(),
        int(features.dtype == torch.float64),
        torch.get_num_threads(),
    )
    return joints.reshape(*batch, frames, num_joints, 3)


def _recover_from_ric_torch(features: torch.Tensor, num_joints: int = 22) -> torch.Tensor:
    """``recover_from_ric`` in torch ops, on any device and dtype; its ``out=`` ops record no gradient."""
    batch, frames = features.shape[:-2], features.shape[-2]
    features = features.reshape(math.prod(batch), frames, features.shape[-1])
    motions, ric_end = len(features), 4 + (num_joints - 1) * 3
    joints = torch.empty(motions, frames, num_joints, 3, dtype=features.dtype, device=features.device)
    _, root, (k, s) = _recover_root(features, out=joints[..., 0, :])
    c, s = (1 - k)[..., None], s[..., None]
    root_x, root_z = root[..., 0:1], root[..., 2:3]
    # The work is a few passes of elementwise arithmetic over strided coordinates; chunks of motions keep
    # them in the CPU caches. Each chunk copies its ric rows into place (y is then final), and turns x and
    # z in place: the two products with the old coordinates are taken before either is overwritten.
    flat = joints.view(motions, frames, num_joints * 3)
    chunk = motions
    if features.device.type == "cpu":
        chunk = max(1, _RECOVER_CHUNK_ELEMENTS // max(1, frames * (num_joints - 1)))
    scratch = joints.new_empty(2, min(chunk, motions), frames, num_joints - 1)
    for start in range(0, motions, chunk):
        part = slice(start, start + chunk)
        flat[part, :, 3:].copy_(features[part, :, 4:ric_end])
        x, z = joints[part, :, 1:, 0], joints[part, :, 1:, 2]
        turned_x, turned_z = scratch[:, : len(x)]
        torch.addcmul(root_x[part], s[part], z, out=turned_x)
        torch.addcmul(root_z[part], s[part], x, value=-1, out=turned_z)
        torch.addcmul(turned_x, c[part], x, out=x)
        torch.addcmul(turned_z, c[part], z, out=z)
    return joints.reshape(*batch, frames, num_joints, 3)


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
    # A sum is finite when every term is (one fast pass); only a non-finite one needs the exact test.
    if not torch.isfinite(joints.sum()) and not torch.isfinite(joints).all():
        raise MogenBenchError(
            "joint positions contain NaN or inf", field="joints", fix="remove or repair the broken frames"
        )
    return joints
