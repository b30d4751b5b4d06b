"""Which feature dimensions belong to which body part, for ``humanml3d-263``, ``kit-251``, ``smpl-rot6d-135``.

FineMoGen splits a HumanML3D-style feature vector into part tokens by joint: every joint owns its ric
position (3), its 6D rotation (6) and its velocity (3), and the root joint 0 owns the trajectory
instead: root angular velocity, planar velocity and height (dims 0-3), the root's own velocity and the
4 foot contacts (FineMoGen's ``get_t2m_slice`` / ``get_kit_slice``). A part's dims are the union over
its joint group. The groups below are FineMoGen's, with the sides named anatomically: left is the
subject's own, as in SMPL (joint 1, the left hip, rests at +x; in KIT-ML joints 5 and 11 rest at +x).

The released FineMoGen code names its tokens the other way round: its ``larm``/``lleg`` hold the SMPL
right limbs (``larm = [14, 17, 19, 21]``) and ``rarm``/``rleg`` the left ones, in KIT as well. Code that
reads a FineMoGen checkpoint must translate its token names with ``FINEMOGEN_TOKEN_TO_PART``:

    FineMoGen token   project part   (same dims)
    head              head
    stem              spine
    larm              right_arm
    rarm              left_arm
    lleg              right_leg
    rleg              left_leg
    root              trajectory
    body              body

so that e.g. the checkpoint's ``larm_embed`` (``nn.Linear(48, 64)`` on HumanML3D) reads
``part_slice(rep, "right_arm")``, and a ``left_arm`` text is routed to its ``rarm`` token.
``finemogen_token_slices`` gives the released token -> dims table directly, in its token order.
"""

from __future__ import annotations

import difflib
from functools import cache
from typing import NamedTuple

from annotation.parts import PARTS
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.skeletons import KIT21, SMPL22, Skeleton

#: The whole pose: every dim, FineMoGen's eighth token.
BODY = "body"

#: The seven parts and ``body``, in the order FineMoGen concatenates its tokens (after renaming).
SLICE_NAMES: tuple[str, ...] = (*PARTS, BODY)

#: FineMoGen's released token names, in its concatenation order (``PoseEncoder.forward``).
FINEMOGEN_TOKENS: tuple[str, ...] = ("head", "stem", "larm", "rarm", "lleg", "rleg", "root", "body")

#: FineMoGen token -> this project's part. Its ``l``/``r`` tokens are the SMPL right/left limbs.
FINEMOGEN_TOKEN_TO_PART: dict[str, str] = {
    "head": "head",
    "stem": "spine",
    "larm": "right_arm",
    "rarm": "left_arm",
    "lleg": "right_leg",
    "rleg": "left_leg",
    "root": "trajectory",
    "body": BODY,
}

#: This project's part -> FineMoGen token (the inverse table).
PART_TO_FINEMOGEN_TOKEN: dict[str, str] = {part: token for token, part in FINEMOGEN_TOKEN_TO_PART.items()}

#: Joint groups of each representation (FineMoGen's, sides named anatomically; the root is the trajectory).
JOINT_GROUPS: dict[str, dict[str, tuple[int, ...]]] = {
    "humanml3d-263": {
        "head": (12, 15),
        "spine": (3, 6, 9),
        "left_arm": (13, 16, 18, 20),
        "right_arm": (14, 17, 19, 21),
        "left_leg": (1, 4, 7, 10),
        "right_leg": (2, 5, 8, 11),
        "trajectory": (0,),
    },
    "kit-251": {
        "head": (4,),
        "spine": (1, 2, 3),
        "left_arm": (5, 6, 7),
        "right_arm": (8, 9, 10),
        "left_leg": (11, 12, 13, 14, 15),
        "right_leg": (16, 17, 18, 19, 20),
        "trajectory": (0,),
    },
}
# The SMPL rotation representation has the same 22 joints and so the same groups.
JOINT_GROUPS["smpl-rot6d-135"] = JOINT_GROUPS["humanml3d-263"]

#: The skeleton each representation's joints index.
REPRESENTATION_SKELETONS: dict[str, Skeleton] = {
    "humanml3d-263": SMPL22,
    "kit-251": KIT21,
    "smpl-rot6d-135": SMPL22,
}


class FeatureBlocks(NamedTuple):
    """The blocks of a HumanML3D-style feature vector of ``num_joints`` joints (see ``guo_features``)."""

    root: slice  # angular velocity, x/z velocity, height
    ric: slice  # (J-1) x 3 root-relative positions of joints 1..J-1
    rot: slice  # (J-1) x 6 local 6D rotations of joints 1..J-1
    vel: slice  # J x 3 velocities of joints 0..J-1
    contact: slice  # 4 foot contacts

    @property
    def dims(self) -> int:
        return self.contact.stop


def feature_blocks(num_joints: int) -> FeatureBlocks:
    """Block boundaries for ``num_joints`` joints: 263 dims for 22 joints, 251 for 21."""
    ric = 4
    rot = ric + (num_joints - 1) * 3
    vel = rot + (num_joints - 1) * 6
    contact = vel + num_joints * 3
    return FeatureBlocks(
        slice(0, ric), slice(ric, rot), slice(rot, vel), slice(vel, contact), slice(contact, contact + 4)
    )


def joint_feature_indices(joint: int, num_joints: int) -> tuple[int, ...]:
    """The dims FineMoGen gives one joint (``get_t2m_slice`` / ``get_kit_slice`` for any joint count).

    Joint 0 owns the root block, its own velocity and the foot contacts; joint ``j > 0`` its ric position,
    its 6D rotation and its velocity.
    """
    if not 0 <= joint < num_joints:
        raise MogenBenchError(
            f"joint {joint} is not one of the {num_joints} joints", field="joint", fix="give 0..J-1"
        )
    blocks = feature_blocks(num_joints)
    vel = range(blocks.vel.start + 3 * joint, blocks.vel.start + 3 * joint + 3)
    if joint == 0:
        return (*range(blocks.root.start, blocks.root.stop), *vel, *range(blocks.contact.start, blocks.dims))
    ric = range(blocks.ric.start + 3 * (joint - 1), blocks.ric.start + 3 * joint)
    rot = range(blocks.rot.start + 6 * (joint - 1), blocks.rot.start + 6 * joint)
    return (*ric, *rot, *vel)


def rot6d_joint_feature_indices(joint: int) -> tuple[int, ...]:
    """Dims of one joint in ``smpl-rot6d-135``: its 6D rotation (the pelvis also owns height and velocity)."""
    if not 0 <= joint < 22:
        raise MogenBenchError(f"joint {joint} is not one of the 22 joints", field="joint", fix="give 0..21")
    rotation = tuple(range(3 + 6 * joint, 9 + 6 * joint))
    return (0, 1, 2, *rotation) if joint == 0 else rotation


def group_feature_indices(
    joints: tuple[int, ...], num_joints: int, representation: str = ""
) -> tuple[int, ...]:
    """Sorted union of the dims of ``joints`` (HumanML3D-style layout unless ``smpl-rot6d-135``)."""
    if representation == "smpl-rot6d-135":
        return tuple(sorted({i for joint in joints for i in rot6d_joint_feature_indices(joint)}))
    return tuple(sorted({i for joint in joints for i in joint_feature_indices(joint, num_joints)}))


def _check_representation(representation: str) -> str:
    if representation not in JOINT_GROUPS:
        raise MogenBenchError(
            f"no body-part slices for representation {representation!r}",
            field="representation",
            fix=f"use one of {', '.join(JOINT_GROUPS)}",
        )
    return representation


@cache
def _slices(representation: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    num_joints = REPRESENTATION_SKELETONS[representation].num_joints
    groups = JOINT_GROUPS[representation]
    parts = [(part, group_feature_indices(groups[part], num_joints, representation)) for part in PARTS]
    dims = 135 if representation == "smpl-rot6d-135" else feature_blocks(num_joints).dims
    return (*parts, (BODY, tuple(range(dims))))


def part_slices(representation: str) -> dict[str, tuple[int, ...]]:
    """Part -> sorted feature indices, for the seven parts and ``body`` (every dim), as ``SLICE_NAMES``."""
    return dict(_slices(_check_representation(representation)))


def part_slice(representation: str, part: str) -> tuple[int, ...]:
    """Sorted feature indices of one part (a canonical part name or ``body``)."""
    slices = part_slices(representation)
    if part not in slices:
        if part in FINEMOGEN_TOKEN_TO_PART:
            fix = f"FineMoGen's token {part!r} is the part {FINEMOGEN_TOKEN_TO_PART[part]!r}; ask for that"
        else:
            close = difflib.get_close_matches(part, SLICE_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            fix = f"{hint}use one of {', '.join(SLICE_NAMES)}"
        raise MogenBenchError(f"unknown body part {part!r}", field="part", fix=fix)
    return slices[part]


def finemogen_token_slices(representation: str) -> dict[str, tuple[int, ...]]:
    """FineMoGen token -> feature indices, in its token order: the released ``PoseEncoder``'s slices."""
    slices = part_slices(representation)
    return {token: slices[FINEMOGEN_TOKEN_TO_PART[token]] for token in FINEMOGEN_TOKENS}


__all__ = [
    "BODY",
    "FINEMOGEN_TOKENS",
    "FINEMOGEN_TOKEN_TO_PART",
    "JOINT_GROUPS",
    "PART_TO_FINEMOGEN_TOKEN",
    "REPRESENTATION_SKELETONS",
    "SLICE_NAMES",
    "FeatureBlocks",
    "feature_blocks",
    "finemogen_token_slices",
    "group_feature_indices",
    "joint_feature_indices",
    "part_slice",
    "part_slices",
]
