"""Body-part feature slices: a partition of every dim, FineMoGen's published ranges, and its side naming."""

from __future__ import annotations

import json

import pytest

from annotation.parts import PARTS
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import HUMANML3D_SPEC, KIT_SPEC
from mogen_bench.motion.part_slices import (
    FINEMOGEN_TOKEN_TO_PART,
    FINEMOGEN_TOKENS,
    JOINT_GROUPS,
    PART_TO_FINEMOGEN_TOKEN,
    REPRESENTATION_SKELETONS,
    SLICE_NAMES,
    feature_blocks,
    finemogen_token_slices,
    joint_feature_indices,
    part_slice,
    part_slices,
)

from .conftest import shared_sample_dir

REPRESENTATIONS = ("humanml3d-263", "kit-251")
DIMS = {"humanml3d-263": 263, "kit-251": 251}


# FineMoGen's released code (finemogen.py), transcribed from ../shared/reference/finemogen.md section 2.2,
# kept independent of the module under test: its slice rule and its joint groups, with its own side names.
def _finemogen_t2m_slice(idx: int) -> list[int]:
    if idx == 0:
        return [0, 1, 2, 3, 193, 194, 195, 259, 260, 261, 262]
    return (
        [4 + (idx - 1) * 3 + k for k in range(3)]
        + [67 + (idx - 1) * 6 + k for k in range(6)]
        + [193 + idx * 3 + k for k in range(3)]
    )


def _finemogen_kit_slice(idx: int) -> list[int]:
    if idx == 0:
        return [0, 1, 2, 3, 184, 185, 186, 247, 248, 249, 250]
    return (
        [4 + (idx - 1) * 3 + k for k in range(3)]
        + [64 + (idx - 1) * 6 + k for k in range(6)]
        + [184 + idx * 3 + k for k in range(3)]
    )


_FINEMOGEN_GROUPS = {
    "humanml3d-263": {
        "head": [12, 15], "stem": [3, 6, 9], "larm": [14, 17, 19, 21], "rarm": [13, 16, 18, 20],
        "lleg": [2, 5, 8, 11], "rleg": [1, 4, 7, 10], "root": [0], "body": list(range(22)),
    },
    "kit-251": {
        "head": [4], "stem": [1, 2, 3], "larm": [8, 9, 10], "rarm": [5, 6, 7],
        "lleg": [16, 17, 18, 19, 20], "rleg": [11, 12, 13, 14, 15], "root": [0], "body": list(range(21)),
    },
}  # fmt: skip
_FINEMOGEN_RULE = {"humanml3d-263": _finemogen_t2m_slice, "kit-251": _finemogen_kit_slice}


def _finemogen_slice(representation: str, token: str) -> tuple[int, ...]:
    rule = _FINEMOGEN_RULE[representation]
    return tuple(sorted(i for joint in _FINEMOGEN_GROUPS[representation][token] for i in rule(joint)))


def _ranges(text: str) -> tuple[int, ...]:
    """'37-39, 46-48' -> (37, 38, 39, 46, 47, 48): inclusive ranges as finemogen.md writes them."""
    out: list[int] = []
    for piece in text.split(","):
        start, _, stop = piece.strip().partition("-")
        out += range(int(start), int(stop or start) + 1)
    return tuple(out)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_the_seven_parts_are_disjoint_and_cover_every_dim_once(representation):
    slices = part_slices(representation)
    assert tuple(slices) == SLICE_NAMES == (*PARTS, "body")
    every = [i for part in PARTS for i in slices[part]]
    assert len(every) == len(set(every)) == DIMS[representation]
    assert sorted(every) == list(range(DIMS[representation]))
    assert slices["body"] == tuple(range(DIMS[representation]))
    for indices in slices.values():
        assert indices == tuple(sorted(set(indices)))


@pytest.mark.parametrize(
    "representation, counts",
    [
        # Counted: 12 dims per joint (3 ric + 6 rot + 3 vel), 11 for the root (4 root + 3 vel + 4 contacts).
        ("humanml3d-263", {"head": 24, "spine": 36, "left_arm": 48, "right_arm": 48, "left_leg": 48,
                           "right_leg": 48, "trajectory": 11, "body": 263}),
        ("kit-251", {"head": 12, "spine": 36, "left_arm": 36, "right_arm": 36, "left_leg": 60,
                     "right_leg": 60, "trajectory": 11, "body": 251}),
    ],
)  # fmt: skip
def test_dims_of_each_part(representation, counts):
    assert {part: len(indices) for part, indices in part_slices(representation).items()} == counts


def test_humanml3d_golden_slices():
    # Inclusive ranges quoted in finemogen.md, section 2.2.
    assert part_slice("humanml3d-263", "head") == _ranges("37-39, 46-48, 133-138, 151-156, 229-231, 238-240")
    assert part_slice("humanml3d-263", "trajectory") == _ranges("0-3, 193-195, 259-262")
    # The subject's left arm is FineMoGen's "rarm" row.
    assert part_slice("humanml3d-263", "left_arm") == _ranges(
        "40-42, 49-51, 55-57, 61-63, 139-144, 157-162, 169-174, 181-186, 232-234, 241-243, 247-249, 253-255"
    )


def test_kit_golden_slices():
    assert part_slice("kit-251", "head") == _ranges("13-15, 82-87, 196-198")
    assert part_slice("kit-251", "trajectory") == _ranges("0-3, 184-186, 247-250")
    assert part_slice("kit-251", "left_leg") == _ranges("34-48, 124-153, 217-231")  # FineMoGen's "rleg"


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_left_arm_is_finemogens_released_rarm(representation):
    assert part_slice(representation, "left_arm") == _finemogen_slice(representation, "rarm")
    assert part_slice(representation, "right_arm") == _finemogen_slice(representation, "larm")
    assert part_slice(representation, "left_leg") == _finemogen_slice(representation, "rleg")
    assert part_slice(representation, "right_leg") == _finemogen_slice(representation, "lleg")


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_token_table_reproduces_every_released_finemogen_slice(representation):
    tokens = finemogen_token_slices(representation)
    assert tuple(tokens) == FINEMOGEN_TOKENS
    for token in FINEMOGEN_TOKENS:
        assert tokens[token] == _finemogen_slice(representation, token), token


def test_token_mapping_table():
    assert FINEMOGEN_TOKEN_TO_PART == {
        "head": "head", "stem": "spine", "larm": "right_arm", "rarm": "left_arm",
        "lleg": "right_leg", "rleg": "left_leg", "root": "trajectory", "body": "body",
    }  # fmt: skip
    assert {PART_TO_FINEMOGEN_TOKEN[p] for p in SLICE_NAMES} == set(FINEMOGEN_TOKENS)
    assert all(FINEMOGEN_TOKEN_TO_PART[PART_TO_FINEMOGEN_TOKEN[p]] == p for p in SLICE_NAMES)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_joint_groups_are_named_by_the_subjects_own_side(representation):
    skeleton = REPRESENTATION_SKELETONS[representation]
    groups = JOINT_GROUPS[representation]
    assert sorted(j for group in groups.values() for j in group) == list(range(skeleton.num_joints))
    perm = skeleton.mirror_permutation()
    for side, other in (("left", "right"), ("right", "left")):
        for limb in ("arm", "leg"):
            group = groups[f"{side}_{limb}"]
            assert all(skeleton.joint_names[j].startswith(f"{side}_") for j in group)
            assert sorted(perm[j] for j in group) == sorted(groups[f"{other}_{limb}"])
            # The first joint of each limb rests at +x on the left, -x on the right.
            assert skeleton.raw_offsets[group[0]][0] == (1.0 if side == "left" else -1.0)
    for part in ("head", "spine", "trajectory"):
        assert sorted(perm[j] for j in groups[part]) == sorted(groups[part])


@pytest.mark.parametrize("spec, representation", [(HUMANML3D_SPEC, "humanml3d-263"), (KIT_SPEC, "kit-251")])
def test_blocks_match_the_feature_spec(spec, representation):
    blocks = feature_blocks(spec.num_joints)
    assert blocks.dims == spec.dims == DIMS[representation]
    assert [(b.start, b.stop) for b in blocks] == [
        (0, 4),
        (4, 4 + 3 * (spec.num_joints - 1)),
        (4 + 3 * (spec.num_joints - 1), 4 + 9 * (spec.num_joints - 1)),
        (4 + 9 * (spec.num_joints - 1), spec.dims - 4),
        (spec.dims - 4, spec.dims),
    ]
    # Per joint: the root owns 11 dims, every other joint 12.
    assert len(joint_feature_indices(0, spec.num_joints)) == 11
    assert {len(joint_feature_indices(j, spec.num_joints)) for j in range(1, spec.num_joints)} == {12}


def test_unknown_names_are_project_errors():
    with pytest.raises(MogenBenchError, match=r"representation 'smpl-rot6d-999'.*kit-251, smpl-rot6d-135"):
        part_slices("smpl-rot6d-999")
    with pytest.raises(MogenBenchError, match=r"unknown body part 'larm'.*'right_arm'"):
        part_slice("humanml3d-263", "larm")
    with pytest.raises(MogenBenchError, match=r"did you mean 'left_arm'"):
        part_slice("humanml3d-263", "left_amr")
    with pytest.raises(MogenBenchError, match="joint 22 is not one of the 22 joints"):
        joint_feature_indices(22, 22)


def test_token_sizes_match_the_released_checkpoint():
    # Shapes of the released HumanML3D model's per-token layers (finemogen_official_state_dict.json).
    keys = shared_sample_dir().parents[1] / "reference" / "finemogen_official_state_dict.json"
    if not keys.is_file():
        pytest.skip(f"the FineMoGen state-dict key list is not here: {keys}")
    shapes = json.loads(keys.read_text())
    for token, indices in finemogen_token_slices("humanml3d-263").items():
        assert shapes[f"model.joint_embed.{token}_embed.weight"] == [64, len(indices)], token
        assert shapes[f"model.out.{token}_out.weight"] == [len(indices), 64], token


def test_smpl_rot6d_slices_follow_the_joint_groups():
    slices = part_slices("smpl-rot6d-135")
    # The pelvis (trajectory) owns height, planar velocity and its own 6D rotation; joint j owns 3+6j..8+6j.
    assert slices["trajectory"] == tuple(range(9))
    assert slices["head"] == (*range(3 + 6 * 12, 9 + 6 * 12), *range(3 + 6 * 15, 9 + 6 * 15))
    assert slices["left_arm"][:6] == tuple(range(3 + 6 * 13, 9 + 6 * 13))
    seen = sorted(i for part in PARTS for i in slices[part])
    assert seen == list(range(135)) and slices["body"] == tuple(range(135))
