"""The BABEL source: layouts, the stage rule on known numbers, splits, skips, both representations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mogen_bench.data.info import read_info
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.schema import MotionRecord, Skipped
from mogen_bench.data.sources.babel import (
    BabelOptions,
    BabelSource,
    Segment,
    babel_split,
    fit_stages,
    frame_segments,
    is_pose_label,
    paint_segments,
    plan_stages,
    sid_fraction,
    usable_labels,
)
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import extract_features
from mogen_bench.motion.smpl import smpl_joints_builtin
from mogen_bench.motion.smpl_rot6d import smpl_to_rot6d
from mogen_bench.motion.up_axis import Z_UP_TO_Y_UP
from tests.babel_tree import SID1_LABELS, SID2_LABELS, write_babel_tree

# sid 1 (120 fps, 481 frames): t-pose [0, 60) dropped, walk [48, 252), turn around [228, 360), wave [264, 300)
# nested in it, stand [372, 480). Overlap walk/turn cut at (228 + 252) // 2 = 240; the gap [360, 372) at 366;
# frames [0, 48) and [480, 481) are unlabelled ends, cut off. Relative to frame 48, at 120 -> 20 fps (/ 6):
SID1_SOURCE = [(0, 192), (192, 216), (216, 252), (252, 318), (318, 432)]
SID1_STAGES = [(0, 32), (32, 36), (36, 42), (42, 53), (53, 72)]
SID1_TEXTS = ["walk", "turn around", "wave", "turn around", "stand"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_babel_tree(tmp_path_factory.mktemp("babel") / "release")


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "babel"
    prepare_dataset(BabelSource(tree), out)
    return out


@pytest.fixture(scope="module")
def prepared_rot6d(tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "babel-rot6d"
    prepare_dataset(BabelSource(tree, BabelOptions(representation="smpl-rot6d-135", seq_labels=True)), out)
    return out


def _amass(tree: Path, rel: str) -> dict[str, np.ndarray]:
    with np.load(tree / "amass" / rel) as arrays:
        return {k: arrays[k] for k in arrays.files}


# ------------------------------------------------------------------------------------------ stage rule


def test_stage_rule_on_known_numbers():
    labels, dropped = usable_labels(SID1_LABELS)
    assert dropped == {"t-pose / a-pose": 1}
    segments = frame_segments(labels, 120.0, 481)
    assert [(s.start, s.end) for s in segments] == [(48, 252), (228, 360), (264, 300), (372, 480)]
    plan = plan_stages(segments, 481)
    assert (plan.first, plan.end) == (48, 480)
    assert [(s, e) for s, e, _ in plan.stages] == SID1_SOURCE
    assert [t for _, _, t in plan.stages] == SID1_TEXTS
    fitted = fit_stages(plan.stages, 432, 120.0, 20.0)
    assert [(s, e) for s, e, _ in fitted] == SID1_STAGES
    assert [t for _, _, t in fitted] == SID1_TEXTS


def test_identical_labels_merge_and_a_one_frame_label_is_absorbed():
    labels, dropped = usable_labels(SID2_LABELS)
    assert dropped == {"t-pose / a-pose": 1, "bad start_t / end_t": 1}
    plan = plan_stages(frame_segments(labels, 60.0, 151), 151)
    # jump [0, 90) (two labels merged), kick [90, 91), jump [91, 120); the a-pose end is cut off.
    assert (plan.first, plan.end) == (0, 120)
    assert plan.stages == [(0, 90, "jump"), (90, 91, "kick"), (91, 120, "jump")]
    # At 20 fps kick is [30, 30): absorbed into the jump before it, which then merges with the one after.
    assert fit_stages(plan.stages, 120, 60.0, 20.0) == [(0, 40, "jump")]
    # A too-short first stage goes to the next one.
    assert fit_stages([(0, 1, "a"), (1, 9, "b")], 9, 60.0, 20.0) == [(0, 3, "b")]


def test_painting_rules():
    def seg(start, end, text, index):
        return Segment(start, end, text, index)

    # Partial overlap: cut at the overlap's midpoint; a gap: split at its midpoint.
    owner = paint_segments([seg(0, 10, "a", 0), seg(6, 20, "b", 1), seg(24, 30, "c", 2)], 30)
    plan = plan_stages([seg(0, 10, "a", 0), seg(6, 20, "b", 1), seg(24, 30, "c", 2)], 30)
    assert owner[7] == 0 and owner[8] == 1 and owner[22] == -1
    assert plan.stages == [(0, 8, "a"), (8, 22, "b"), (22, 30, "c")]
    # Nested, sharing the outer's start or end: the inner label takes its span.
    nested = plan_stages([seg(0, 30, "walk", 0), seg(0, 5, "wave", 1), seg(25, 30, "stop", 2)], 30)
    assert nested.stages == [(0, 5, "wave"), (5, 25, "walk"), (25, 30, "stop")]
    # Identical spans: the label listed first wins, whatever the json order of the others.
    same = plan_stages([seg(0, 10, "b", 1), seg(0, 10, "a", 0)], 10)
    assert same.stages == [(0, 10, "a")]
    assert plan_stages([], 10) is None


def test_pose_labels():
    for text in ("t pose", "T-Pose", "tpose", "a_pose", "A-pose", " apose "):
        assert is_pose_label(text)
    for text in ("pose", "t pose and walk", "stand"):
        assert not is_pose_label(text)


# ------------------------------------------------------------------------------------------ the source


def test_items_splits_and_skips(tree):
    source = BabelSource(tree)
    source.check()
    items = list(source.items())
    assert source.expected_items() == len(items) == 11
    records = {i.motion_id: i for i in items if isinstance(i, MotionRecord)}
    skipped = {i.item: i for i in items if isinstance(i, Skipped)}
    assert {k: r.split for k, r in records.items()} == {"1": "train", "2": "train", "8": "val", "10": "test"}
    assert {k: s.reason.split(":")[0].split(" (")[0] for k, s in skipped.items()} == {
        "train.json:3": "no frame labels",
        "train.json:4": "missing npz",
        "train.json:5": "unknown feat_p '../outside.npz'",
        "train.json:6": "bad npz",
        "train.json:7": "no usable segments",
        "val.json:2": "babel_sid 2 is also in train.json",
        "val.json:11": "too short",
    }
    assert (
        "amass/CMU/CMU/04/04_01_poses.npz or amass/CMU/04/04_01_poses.npz" in skipped["train.json:4"].reason
    )
    assert skipped["train.json:6"].file == str(tree / "amass/CMU/06/06_01_poses.npz")
    assert records["1"].source_id == "CMU/CMU/01/01_01_poses.npz"
    assert records["1"].notes == {"source_fps": 120.0, "labels": "frame"}
    # The val carve is the sid hash: sid 8 falls under 5 %, the others above.
    assert sid_fraction(8) < 0.05 < min(sid_fraction(s) for s in (1, 2, 3, 10))
    assert babel_split("train.json", 8, 0.0) == "train" and babel_split("val.json", 8) == "test"
    assert "sha256('mogen-bench-babel-val-v1:<babel_sid>') < 0.05 -> val" in source.split_rule()


def test_input_files_are_the_jsons_and_the_used_npz(tree):
    files = BabelSource(tree).input_files()
    rel = [str(f.relative_to(tree)) for f in files]
    assert rel[:2] == ["babel/train.json", "babel/val.json"]
    # Every existing npz that a sequence with frame labels points at (sid 3 has none: not used).
    assert sorted(rel[2:]) == [
        "amass/CMU/01/01_01_poses.npz",
        "amass/CMU/06/06_01_poses.npz",
        "amass/CMU/07/07_01_poses.npz",
        "amass/CMU/10/10_01_poses.npz",
        "amass/CMU/11/11_01_poses.npz",
        "amass/CMU/CMU/02/02_01_poses.npz",
        "amass/KIT/8/sit_01_poses.npz",
    ]
    with_seq = BabelSource(tree, BabelOptions(seq_labels=True)).input_files()
    assert tree / "amass/CMU/03/03_01_poses.npz" in with_seq


def test_release_folder_layout_and_missing_parts(tmp_path):
    root = write_babel_tree(tmp_path / "r", folder="babel_v1.0_release")
    source = BabelSource(root)
    source.check()
    assert source.babel_dir == root / "babel_v1.0_release"
    assert sum(isinstance(i, MotionRecord) for i in source.items()) == 4

    (root / "babel_v1.0_release" / "val.json").unlink()
    with pytest.raises(MogenBenchError, match=r"missing babel_v1\.0_release/val\.json") as error:
        BabelSource(root).check()
    assert "babel/train.json, babel/val.json" in str(error.value)
    with pytest.raises(MogenBenchError, match=r"missing the folder babel/ \(or babel_v1.0_release/\)"):
        BabelSource(tmp_path / "empty").check()
    (root / "babel_v1.0_release" / "val.json").write_text("[1, 2]")
    with pytest.raises(MogenBenchError, match="expected an object keyed by babel_sid"):
        BabelSource(root).check()
    (root / "babel_v1.0_release" / "val.json").write_text("{")
    with pytest.raises(MogenBenchError, match="invalid JSON"):
        BabelSource(root).check()


def test_missing_amass_folder_and_bad_options(tmp_path):
    (tmp_path / "babel").mkdir()
    for name in ("train.json", "val.json"):
        (tmp_path / "babel" / name).write_text("{}")
    with pytest.raises(MogenBenchError, match="missing the folder amass/"):
        BabelSource(tmp_path).check()
    with pytest.raises(MogenBenchError, match="not 'kit-251'"):
        BabelSource(tmp_path, BabelOptions(representation="kit-251"))
    with pytest.raises(MogenBenchError, match="val fraction"):
        BabelSource(tmp_path, BabelOptions(val_fraction=1.0))


def test_npz_shapes_are_checked(tmp_path):
    root = write_babel_tree(tmp_path / "r")
    arrays = _amass(root, "CMU/01/01_01_poses.npz")
    np.savez(root / "amass/CMU/01/01_01_poses.npz", **(arrays | {"poses": arrays["poses"][:, :72]}))
    arrays = _amass(root, "CMU/10/10_01_poses.npz")
    del arrays["mocap_framerate"]
    np.savez(root / "amass/CMU/10/10_01_poses.npz", **arrays)
    skipped = {i.item: i.reason for i in BabelSource(root).items() if isinstance(i, Skipped)}
    assert skipped["train.json:1"].startswith("bad npz: array 'poses' has shape (481, 72), expected (T, 156)")
    assert skipped["val.json:10"] == "bad npz: missing array 'mocap_framerate' [mocap_framerate]"


# ------------------------------------------------------------------------------------------ end to end


def test_prepared_humanml3d_rows(tree, prepared):
    info = read_info(prepared)
    assert info.representation == "humanml3d-263" and info.fps == 20.0
    assert {s: v["motions"] for s, v in info.splits.items()} == {"train": 2, "val": 1, "test": 1}
    assert info.options["stage_rule"] == "babel-stages-v1" and info.options["seq_labels"] is False
    assert len(info.skipped) == 7

    train = PreparedDataset(prepared).split("train")
    row = train.motion_ids.index("1")
    # Cross-check: frames 48..479 at 120 fps -> every 6th (exact copies) -> SMPL joints -> y up -> features.
    arrays = _amass(tree, "CMU/01/01_01_poses.npz")
    poses, trans = arrays["poses"][48:480:6], arrays["trans"][48:480:6]
    body = np.concatenate([poses[:, 3:66], np.zeros((len(poses), 6))], axis=1)
    params = {"global_orient": poses[:, :3], "body_pose": body, "transl": trans}
    joints = smpl_joints_builtin({k: torch.from_numpy(v) for k, v in params.items()})[:, :22]
    expected = extract_features(joints @ torch.tensor(Z_UP_TO_Y_UP, dtype=torch.float64).T).float().numpy()
    assert expected.shape == (71, 263)
    np.testing.assert_array_equal(train.features(row), expected)

    stages = train.stages(row)
    assert [(s.start_frame, s.end_frame) for s in stages] == [*SID1_STAGES[:-1], (53, 71)]
    assert [s.overall for s in stages] == SID1_TEXTS
    assert all(v is None for s in stages for v in s.part_texts.values())
    assert train.column("source_id")[row] == "CMU/CMU/01/01_01_poses.npz"

    test = PreparedDataset(prepared).split("test")
    stages = test.stages(test.motion_ids.index("10"))
    # run [0, 60), transition [60, 72), stop [72, 120) at 60 fps -> / 3; the last ends at frame 40 - 1.
    assert [(s.start_frame, s.end_frame, s.overall) for s in stages] == [
        (0, 20, "run"),
        (20, 24, "transition"),
        (24, 39, "stop"),
    ]


def test_prepared_rot6d_rows_and_sequence_labels(tree, prepared_rot6d):
    info = read_info(prepared_rot6d)
    assert info.representation == "smpl-rot6d-135" and info.options["seq_labels"] is True
    assert {s: v["motions"] for s, v in info.splits.items()} == {"train": 3, "val": 1, "test": 1}
    train = PreparedDataset(prepared_rot6d).split("train")

    row = train.motion_ids.index("1")
    features = train.features(row)
    arrays = _amass(tree, "CMU/01/01_01_poses.npz")
    poses, trans = arrays["poses"][48:480:6], arrays["trans"][48:480:6]
    expected = smpl_to_rot6d(poses[:, :3], poses[:, 3:66], trans, up_axis="z").astype(np.float32)
    np.testing.assert_array_equal(features, expected)
    # Root height is trans's z; the body walks forwards at 0.4 m/s = 0.02 m per frame at 20 fps.
    np.testing.assert_allclose(features[:, 0], 0.95, atol=1e-6)
    np.testing.assert_allclose(features[1:, 1:3], [[0.0, 0.02]] * 71, atol=1e-6)
    stages = train.stages(row)
    assert [(s.start_frame, s.end_frame) for s in stages] == SID1_STAGES

    row = train.motion_ids.index("3")
    assert train.features(row).shape == (30, 135)  # 90 frames at 60 fps, the whole clip
    assert [(s.start_frame, s.end_frame, s.overall) for s in train.stages(row)] == [(0, 30, "walk, sit down")]

    val = PreparedDataset(prepared_rot6d).split("val")
    # sid 8: "sit" [0 s, 2 s) keeps frames [0, 60) of 61 at 30 fps -> 40 frames at 20 fps (interpolated).
    assert val.motion_ids == ["8"] and val.features(0).shape == (40, 135)
    assert [(s.start_frame, s.end_frame, s.overall) for s in val.stages(0)] == [(0, 40, "sit")]


def test_prepare_again_is_a_no_op(tree, prepared):
    assert prepare_dataset(BabelSource(tree), prepared).reused
    info = json.loads((prepared / "dataset.json").read_text())
    assert info["source"] == "babel"
