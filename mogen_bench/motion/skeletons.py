"""Kinematic trees of the project's skeletons: SMPL-24, SMPL-22 (HumanML3D) and KIT-21.

Joint orders, kinematic chains and the unit "raw offset" (rest direction of each bone) are the published
HumanML3D values (``paramUtil.py`` of HumanML3D / text-to-motion): ``t2m_raw_offsets``,
``t2m_kinematic_chain``, ``kit_raw_offsets``, ``kit_kinematic_chain``. Parents are derived from the chains,
never written twice. Coordinates are y up with the subject facing +z, so the subject's own left is +x;
left and right names are the subject's own (SMPL joint 1 is the left hip).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from mogen_bench.errors import MogenBenchError

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)  # fmt: skip

# KIT-ML's 21 joints (Master Motor Map order: root, spine, neck, head, then shoulder/elbow/wrist and
# hip/knee/ankle/mid-foot/toe for each side). Sides follow the published rest directions: joints 5 and 11
# point to +x, the subject's left as in SMPL. (text-to-motion's KIT script calls 11-15 the "right" foot
# chain, fid_r = [14, 15]; it labels SMPL's sides the same mirrored way, so the two agree geometrically.)
KIT_JOINT_NAMES: tuple[str, ...] = (
    "root", "lower_spine", "upper_spine", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist", "left_hip", "left_knee", "left_ankle", "left_midfoot",
    "left_toe", "right_hip", "right_knee", "right_ankle", "right_midfoot", "right_toe",
)  # fmt: skip


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree: joint names, chains (each starts at an already placed joint) and rest directions."""

    name: str
    joint_names: tuple[str, ...]
    chains: tuple[tuple[int, ...], ...]
    raw_offsets: tuple[tuple[float, float, float], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def parents(self) -> tuple[int, ...]:
        """Parent of every joint (-1 for the root), derived from the chains."""
        parents = [-2] * self.num_joints
        parents[self.chains[0][0]] = -1
        for chain in self.chains:
            for parent, child in itertools.pairwise(chain):
                parents[child] = parent
        return tuple(parents)

    def joint(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise MogenBenchError(
                f"skeleton {self.name!r} has no joint {name!r}",
                field="joint",
                fix=f"use one of {', '.join(self.joint_names)}",
            ) from None

    def mirror_permutation(self) -> tuple[int, ...]:
        """For each joint, the joint on the other side (itself on the midline), matched by name."""
        swapped = []
        for name in self.joint_names:
            if name.startswith("left_"):
                other = "right_" + name[len("left_") :]
            elif name.startswith("right_"):
                other = "left_" + name[len("right_") :]
            else:
                other = name
            swapped.append(self.joint(other))
        return tuple(swapped)


_T2M_RAW_OFFSETS = (
    (0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0),
    (0, 1, 0), (0, 0, 1), (0, 0, 1), (0, 1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, 1), (0, -1, 0), (0, -1, 0),
    (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0),
)  # fmt: skip

SMPL22 = Skeleton(
    name="smpl-22",
    joint_names=SMPL_JOINT_NAMES[:22],
    chains=(
        (0, 2, 5, 8, 11),  # right leg
        (0, 1, 4, 7, 10),  # left leg
        (0, 3, 6, 9, 12, 15),  # spine and head
        (9, 14, 17, 19, 21),  # right arm
        (9, 13, 16, 18, 20),  # left arm
    ),
    raw_offsets=tuple(tuple(float(c) for c in o) for o in _T2M_RAW_OFFSETS),
)

# SMPL-24 adds the hands at the end of the arm chains; their rest direction continues the forearm's.
SMPL24 = Skeleton(
    name="smpl-24",
    joint_names=SMPL_JOINT_NAMES,
    chains=(*SMPL22.chains[:3], (*SMPL22.chains[3], 23), (*SMPL22.chains[4], 22)),
    raw_offsets=(*SMPL22.raw_offsets, (0.0, -1.0, 0.0), (0.0, -1.0, 0.0)),
)

_KIT_RAW_OFFSETS = (
    (0, 0, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0), (-1, 0, 0),
    (0, -1, 0), (0, -1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0), (0, 0, 1), (0, 0, 1), (-1, 0, 0), (0, -1, 0),
    (0, -1, 0), (0, 0, 1), (0, 0, 1),
)  # fmt: skip

KIT21 = Skeleton(
    name="kit-21",
    joint_names=KIT_JOINT_NAMES,
    chains=((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (3, 5, 6, 7), (3, 8, 9, 10)),
    raw_offsets=tuple(tuple(float(c) for c in o) for o in _KIT_RAW_OFFSETS),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (SMPL22, SMPL24, KIT21)}


def get_skeleton(name: str) -> Skeleton:
    """The skeleton called ``name`` (``smpl-22``, ``smpl-24``, ``kit-21``)."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise MogenBenchError(
            f"unknown skeleton {name!r}", field="skeleton", fix=f"use one of {', '.join(SKELETONS)}"
        ) from None
