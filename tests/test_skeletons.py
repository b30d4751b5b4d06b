"""Kinematic trees: the published chains and rest directions, derived parents, and mirror pairs."""

from __future__ import annotations

import pytest

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.skeletons import KIT21, SMPL22, SMPL24, get_skeleton


def test_smpl22_parents_are_the_smpl_kinematic_tree():
    # SMPL's kintree for the first 22 joints (pelvis root).
    assert SMPL22.parents == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
    assert SMPL24.parents == (*SMPL22.parents, 20, 21)


def test_kit21_parents():
    assert KIT21.parents == (-1, 0, 1, 2, 3, 3, 5, 6, 3, 8, 9, 0, 11, 12, 13, 14, 0, 16, 17, 18, 19)


@pytest.mark.parametrize("skeleton", [SMPL22, SMPL24, KIT21])
def test_every_joint_is_placed_once_and_after_its_parent(skeleton):
    placed = {skeleton.chains[0][0]}
    for chain in skeleton.chains:
        assert chain[0] in placed
        placed.update(chain[1:])
    assert sorted(placed) == list(range(skeleton.num_joints))
    assert len(skeleton.raw_offsets) == skeleton.num_joints
    assert sum(len(c) - 1 for c in skeleton.chains) == skeleton.num_joints - 1


def test_published_rest_directions_put_the_left_side_at_plus_x():
    for name in ("left_hip", "left_collar"):
        assert SMPL22.raw_offsets[SMPL22.joint(name)] == (1.0, 0.0, 0.0)
    for name in ("left_shoulder", "left_hip"):
        assert KIT21.raw_offsets[KIT21.joint(name)] == (1.0, 0.0, 0.0)
    assert SMPL22.raw_offsets[SMPL22.joint("right_hip")] == (-1.0, 0.0, 0.0)
    assert KIT21.raw_offsets[KIT21.joint("right_hip")] == (-1.0, 0.0, 0.0)


def test_mirror_permutation_swaps_sides_and_is_an_involution():
    perm = SMPL22.mirror_permutation()
    assert perm[:4] == (0, 2, 1, 3) and perm[20:] == (21, 20)
    for skeleton in (SMPL22, SMPL24, KIT21):
        perm = skeleton.mirror_permutation()
        assert tuple(perm[i] for i in perm) == tuple(range(skeleton.num_joints))
        # Mirrored joints have mirrored rest directions (x negated).
        for joint, other in enumerate(perm):
            x, y, z = skeleton.raw_offsets[joint]
            assert skeleton.raw_offsets[other] == (-x if x else 0.0, y, z)


def test_unknown_names_are_project_errors():
    with pytest.raises(MogenBenchError, match=r"unknown skeleton 'smpl-23'.*smpl-22, smpl-24, kit-21"):
        get_skeleton("smpl-23")
    with pytest.raises(MogenBenchError, match="has no joint 'left_toe'"):
        SMPL22.joint("left_toe")
    assert get_skeleton("kit-21") is KIT21
