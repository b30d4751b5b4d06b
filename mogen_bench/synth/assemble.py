"""Stages of primitives -> SMPL parameters on the floor: blending, heading, joint limits, grounding, foot lock

World frame: z up (as AMASS), metres. At the start of a sequence the subject stands at the origin facing
+y, its left towards -x; the project's z-up -> y-up rotation (``motion.up_axis``, HumanML3D's
``(x, y, z) -> (-x, z, y)``) turns that into SMPL's own frame (y up, facing +z, left +x). ``global_orient``
is the heading rotation about +z times the fixed rotation taking SMPL's body frame to this world.

How a sequence is assembled (vectorised over the frames of a batch of sequences):

1. Each stage's primitives give local joint rotations; each stage is blended in from the previous stage's
   last pose (the rest pose for the first stage): a slerp with a smoothstep weight towards the stage's
   first pose, with the stage's own movement on top. The blend lasts the sampled number of frames, longer
   where a joint has far to go (``MAX_BLEND_SPEED_DEG``), at most half the stage.
2. Rotations are clamped to ``primitives.JOINT_LIMITS_DEG`` (by angle).
3. Forward kinematics of each subject's own rest skeleton: the joints of the synthetic SMPL body model
   (``motion.synthetic_smpl``) with the subject's betas, whose beta 0 is its size (``subjects``)
   (``kinematics.posed_joints``; equal to the smplx joints of that model; one call per batch).
4. Height: ``transl_z`` puts the lowest joint on the floor in every frame, so squats lower the pelvis and
   a kick stands on the other foot by construction; as it is computed on the subject's skeleton, a bigger
   subject's pelvis stands higher. In a jump's flight the pelvis follows a ballistic arc above its
   take-off height (the legs tuck beneath it).
5. Horizontal position: the root moves so that the supporting foot does not slide. Per frame, each foot
   supports with weight ``sigmoid((other foot height - own height) / (1 cm x size))`` (the lower foot
   carries the body, both when level); the root moves against the weighted feet's horizontal motion. Walking,
   side-stepping and turning on the spot come out of the legs' gait this way, with planted stance feet.
   Where a primitive says which foot stands (a step, kick or knee lift of the other leg), that foot does.
   The feet's motion comes from the subject's own legs, so a bigger subject's steps are longer in
   proportion. In a jump's flight the root instead travels the jump's forward distance, also scaled by
   the subject's size.

Nothing here is tied to the neutral skeleton's dimensions: the joint rotations do not depend on the size
(so the joint limits hold for every size), and everything measured in metres (the support softness, a
jump's forward distance) scales with it. A sequence performed by a subject of size ``s`` (betas 1-9 aside)
is therefore the size-1 sequence scaled by ``s`` about the pelvis, except for a jump's flight height, which
is physics (the time in the air) and stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mogen_bench.motion.rotations import slerp
from mogen_bench.motion.skeletons import SMPL24
from mogen_bench.synth.catalogue import FREE_LEG_PRIMITIVES
from mogen_bench.synth.kinematics import (
    clamp_angle,
    posed_joints,
    quaternion_to_axis_angle,
    synthetic_shape_space,
)
from mogen_bench.synth.mirror_smpl import mirror_smpl_params
from mogen_bench.synth.primitives import (
    JOINT_LIMITS_DEG,
    part_rotations,
    qmul,
    rest_pose,
    root_signals,
    smoothstep,
)
from mogen_bench.synth.sampling import SequenceSpec

UP_AXIS = "z"
#: SMPL body frame (y up, facing +z, left +x) -> world (z up, facing +y, left -x): half a turn about
#: (0, 1, 1) / sqrt(2), as a quaternion (w, x, y, z).
BODY_TO_WORLD = np.array([0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)])
#: Foot joints per side (ankle, toe) whose lowest point and mean horizontal position stand for the foot.
LEFT_FOOT, RIGHT_FOOT = (7, 10), (8, 11)
#: Height difference (metres, for a subject of size 1) over which support passes from one foot to the other.
SUPPORT_SOFTNESS = 0.01
SPINE1, SPINE2, SPINE3, L_SHOULDER, R_SHOULDER = 3, 6, 9, 16, 17
#: Arm primitives that hang from the shoulder (their pose is kept vertical when the torso tilts).
HANGING_ARMS = frozenset({"rest", "swing"})
#: Average angular speed (degrees per second) of the joint that moves most in a transition between stages.
MAX_BLEND_SPEED_DEG = 240.0


@dataclass
class SmplMotion:
    """SMPL parameters of one sequence (float64) and the height of its lowest joint in every frame."""

    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 69)
    transl: np.ndarray  # (T, 3)
    lowest: np.ndarray  # (T,) 0 on the floor, above it in a jump's flight
    #: The same rotations as unit quaternions (T, 24, 4), joint 0 the global orientation.
    local: np.ndarray
    #: The subject's rest skeleton (24, 3): the synthetic SMPL model's joints for its betas.
    rest: np.ndarray

    def params(self) -> dict[str, np.ndarray]:
        return {"global_orient": self.global_orient, "body_pose": self.body_pose, "transl": self.transl}


@dataclass
class _Posed:
    """Step 1-2 for a batch: rotations of all frames, and per-frame root signals, sequence by sequence."""

    local: np.ndarray  # (N, 24, 4) quaternions, joint 0 the global orientation
    rest: np.ndarray  # (N, 24, 3) the rest skeleton of each frame's subject
    size: np.ndarray  # (N,) the size of each frame's subject
    lift: np.ndarray  # (N,)
    airborne: np.ndarray  # (N,)
    #: Support of the left foot where the primitives say which foot carries the body (a kick stands on
    #: the other leg), NaN where the feet's heights decide.
    support_left: np.ndarray  # (N,)
    advance: np.ndarray  # (N, 2) world displacement from frame t to t + 1 through the air
    bounds: list[tuple[int, int]]
    #: The rest skeleton of each sequence's subject (24, 3).
    skeletons: list[np.ndarray]


def heading_quaternion(heading: np.ndarray) -> np.ndarray:
    """Rotations about the world's +z by ``heading`` radians, ``(..., 4)``."""
    q = np.zeros((*heading.shape, 4))
    q[..., 0] = np.cos(heading / 2)
    q[..., 3] = np.sin(heading / 2)
    return q


def forward_direction(heading: np.ndarray) -> np.ndarray:
    """Where the subject faces on the floor ``(..., 2)`` (x, y) at each heading (0 faces +y)."""
    return np.stack([-np.sin(heading), np.cos(heading)], axis=-1)


def _hang_with_gravity(local: np.ndarray, stage) -> None:
    """Let hanging arms hang from the shoulders whatever the spine does (in place on ``(F, 24, 4)``).

    The arm primitives are written in the torso's frame; an arm that rests or swings should instead hang
    under gravity, so when the spine bends, leans or twists, its shoulder rotation undoes the torso's.
    """
    torso = qmul(qmul(local[:, SPINE1], local[:, SPINE2]), local[:, SPINE3])
    undo = torso * np.array([1.0, -1.0, -1.0, -1.0])
    for part, shoulder in (("left_arm", L_SHOULDER), ("right_arm", R_SHOULDER)):
        if stage[part].name in HANGING_ARMS:
            local[:, shoulder] = qmul(undo, local[:, shoulder])


def _pose(specs: list[SequenceSpec]) -> _Posed:
    """Blended, clamped local rotations and root signals for a batch of sequences."""
    total = sum(s.num_frames for s in specs)
    raw = np.zeros((total, 24, 4))
    raw[..., 0] = 1.0
    previous, first = np.empty((total, 24, 4)), np.empty((total, 24, 4))
    weight = np.ones(total)
    heading, lift, advance = np.zeros(total), np.zeros(total), np.zeros((total, 2))
    airborne = np.zeros(total, dtype=bool)
    support_left = np.full(total, np.nan)
    rest, sizes = np.empty((total, 24, 3)), np.empty(total)
    bounds, skeletons = [], []
    start = 0
    for spec in specs:
        style, size = spec.subject.style, spec.subject.size
        end_pose, end_heading = rest_pose(style), 0.0
        bounds.append((start, start + spec.num_frames))
        skeletons.append(synthetic_shape_space().rest_joints(spec.subject.betas))
        rest[start : start + spec.num_frames] = skeletons[-1]
        sizes[start : start + spec.num_frames] = size
        for stage in spec.stages:
            n = stage.num_frames
            frames = slice(start, start + n)
            for part, primitive in stage.parts:
                if part != "trajectory":
                    for joint, rotation in part_rotations(part, primitive, n, style).items():
                        raw[frames, joint] = rotation
            _hang_with_gravity(raw[frames], stage)
            previous[frames], first[frames] = end_pose, raw[start]
            # Big changes of pose take longer: at most MAX_BLEND_SPEED_DEG per second on average.
            cos = np.clip(np.abs(np.sum(raw[start, 1:] * end_pose[1:], axis=-1)), 0.0, 1.0)
            change = float(np.degrees(2 * np.arccos(cos)).max())
            b = min(max(stage.blend_frames, int(np.ceil(change / MAX_BLEND_SPEED_DEG * spec.fps))), n // 2)
            weight[start : start + b] = smoothstep((np.arange(b) + 1) / (b + 1))
            root = root_signals(stage["trajectory"], n, spec.fps)
            heading[frames] = end_heading + root.heading
            lift[frames] = root.lift
            airborne[frames] = root.airborne
            if stage["left_leg"].name in FREE_LEG_PRIMITIVES:
                support_left[frames] = 0.0
            elif stage["right_leg"].name in FREE_LEG_PRIMITIVES:
                support_left[frames] = 1.0
            step = np.diff(root.advance, append=root.advance[-1])
            advance[frames] = size * step[:, None] * forward_direction(heading[frames])
            end_pose, end_heading = raw[start + n - 1].copy(), float(heading[start + n - 1])
            start += n
    blending = weight < 1
    local = raw
    # The base pose slides from the previous stage's last pose to this stage's first one, and the stage's
    # own movement since its first frame rides on top. (Slerping straight towards the moving pose would
    # flip to the other arc wherever the two pass half a turn apart.)
    base = slerp(previous[blending], first[blending], weight[blending][:, None])
    since_first = qmul(first[blending] * np.array([1.0, -1.0, -1.0, -1.0]), raw[blending])
    local[blending] = qmul(base, since_first)
    # Joint limits: shrink any rotation beyond its joint's largest angle, keeping its axis.
    local = clamp_angle(local, np.radians(np.asarray(JOINT_LIMITS_DEG)))
    local[:, 0] = qmul(heading_quaternion(heading), BODY_TO_WORLD)
    return _Posed(local, rest, sizes, lift, airborne, support_left, advance, bounds, skeletons)


def _support_weights(
    joints: np.ndarray, support_left: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """How much each foot carries the body: as the primitives say, else the lower foot (both when level)."""
    height_left = joints[:, LEFT_FOOT, 2].min(axis=1)
    height_right = joints[:, RIGHT_FOOT, 2].min(axis=1)
    softness = SUPPORT_SOFTNESS * size
    left = 1.0 / (1.0 + np.exp(-np.clip((height_right - height_left) / softness, -50, 50)))
    left = np.where(np.isnan(support_left), left, support_left)
    return left, 1.0 - left


def _place(posed: _Posed, joints: np.ndarray) -> np.ndarray:
    """``transl`` for every frame: lowest joint on the floor (plus flight), supporting foot kept in place."""
    transl = np.zeros((len(joints), 3))
    above_floor = -joints[..., 2].min(axis=1)
    # In the air the pelvis flies the jump's arc at its take-off height; the legs tuck up beneath it.
    grounded_frame = np.maximum.accumulate(np.where(posed.airborne, 0, np.arange(len(joints))))
    # (Never lower than the current pose allows: the lowest joint stays at or above the flight height.)
    transl[:, 2] = posed.lift + np.maximum(above_floor[grounded_frame], above_floor)
    left, right = _support_weights(joints, posed.support_left, posed.size)
    feet_left = joints[:, LEFT_FOOT, :2].mean(axis=1)
    feet_right = joints[:, RIGHT_FOOT, :2].mean(axis=1)
    for start, end in posed.bounds:
        frames = slice(start, end - 1)
        # Foot motion from frame t to t + 1 with the root held still, weighted by support at frame t.
        slide = left[frames, None] * np.diff(feet_left[start:end], axis=0)
        slide += right[frames, None] * np.diff(feet_right[start:end], axis=0)
        grounded = ~(posed.airborne[start : end - 1] | posed.airborne[start + 1 : end])
        step = np.where(grounded[:, None], -slide, 0.0) + posed.advance[frames]
        transl[start + 1 : end, :2] = np.cumsum(step, axis=0)
    return transl


def _motion(local: np.ndarray, transl: np.ndarray, lowest: np.ndarray, rest: np.ndarray) -> SmplMotion:
    axis_angle = quaternion_to_axis_angle(local)
    body_pose = axis_angle[:, 1:].reshape(len(local), 69)
    return SmplMotion(axis_angle[:, 0], body_pose, transl, lowest, local, rest)


def assemble(specs: list[SequenceSpec]) -> list[SmplMotion]:
    """SMPL parameters of a batch of sequences (one forward-kinematics call for the whole batch)."""
    posed = _pose(specs)
    joints = posed_joints(posed.local, posed.rest)
    transl = _place(posed, joints)
    lowest = joints[..., 2].min(axis=1) + transl[:, 2]
    return [
        _motion(posed.local[s:e], transl[s:e], lowest[s:e], rest)
        for (s, e), rest in zip(posed.bounds, posed.skeletons, strict=True)
    ]


def mirror_motions(motions: list[SmplMotion]) -> list[SmplMotion]:
    """The mirrored copies (``mirror_smpl_params``), re-grounded.

    The mirror is exact (``transl`` about the subject's own rest pelvis), but the skeleton's left and right
    legs differ by millimetres (the neutral skeleton's by up to 8 mm, scaled with the size, plus the small
    asymmetric betas), so the mirrored feet would float or sink by that much; a per-frame height correction
    (about a centimetre at most) puts the lowest joint back at the original's height (the floor, or the
    jump's flight). The mirror keeps the subject, so its betas and skeleton.
    """
    if not motions:
        return []
    out = []
    for m in motions:
        mirrored = mirror_smpl_params(m.params(), rest_pelvis=m.rest[0])
        # The same mirror on the quaternions: partner joint, (w, x, -y, -z).
        local = m.local[:, list(SMPL24.mirror_permutation())] * np.array([1.0, 1.0, -1.0, -1.0])
        out.append(
            SmplMotion(
                mirrored["global_orient"], mirrored["body_pose"], mirrored["transl"], m.lowest, local, m.rest
            )
        )
    local = np.concatenate([m.local for m in out])
    transl = np.concatenate([m.transl for m in out])
    rest = np.concatenate([np.broadcast_to(m.rest, (len(m.local), 24, 3)) for m in out])
    floor = posed_joints(local, rest, transl)[..., 2].min(axis=1)
    correction = np.concatenate([m.lowest for m in out]) - floor
    start = 0
    for m in out:
        end = start + len(m.lowest)
        m.transl = m.transl.copy()
        m.transl[:, 2] += correction[start:end]
        start = end
    return out
