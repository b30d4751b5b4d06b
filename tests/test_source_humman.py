"""The HuMMan-MoGen source: layout checks, conversion, up axis, stages at 20 fps, splits, skips, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mogen_bench.cli import cli
from mogen_bench.data.info import read_info
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.sources.humman_mogen import HummanMogenOptions, HummanMogenSource
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import extract_features
from mogen_bench.motion.resample import resample_positions, resample_smpl, rescale_stage_bounds
from mogen_bench.motion.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from mogen_bench.motion.smpl import smpl_joints_builtin
from mogen_bench.motion.smpl_rot6d import smpl_to_rot6d
from mogen_bench.motion.up_axis import Z_UP_TO_Y_UP, detect_up_axis
from tests.humman_tree import write_humman_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_humman_tree(tmp_path_factory.mktemp("humman") / "release", subjects=3)


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "hm"
    prepare_dataset(HummanMogenSource(tree), out)
    return out


def _params(tree: Path, sequence: str) -> dict[str, np.ndarray]:
    with np.load(tree / "smpl_on_ground" / f"{sequence}.npz") as arrays:
        return {k: arrays[k] for k in arrays.files}


def _row(prepared: Path, sequence: str):
    dataset = PreparedDataset(prepared)
    for split in dataset.split_names:
        table = dataset.split(split)
        if sequence in table.motion_ids:
            return table, table.motion_ids.index(sequence)
    raise AssertionError(sequence)


def test_features_are_the_humanml3d_features_of_the_resampled_joints(tree, prepared):
    params = _params(tree, "p000002_a000001")
    joints = smpl_joints_builtin({k: torch.from_numpy(v.astype(np.float64)) for k, v in params.items()})
    joints = joints[:, :22] @ torch.tensor(Z_UP_TO_Y_UP, dtype=torch.float64).T
    joints = resample_positions(joints.flatten(-2), 30, 20).unflatten(-1, (22, 3))
    expected = extract_features(joints).float().numpy()
    table, row = _row(prepared, "p000002_a000001")
    np.testing.assert_array_equal(table.features(row), expected)
    # 78 frames at 30 fps -> 52 at 20 fps -> 51 feature frames; stages move with the resampling.
    assert expected.shape == (51, 263)
    stages = table.stages(row)
    bounds = rescale_stage_bounds([(0, 26), (26, 52), (52, 78)], 78, 30, 20)
    assert [(s.start_frame, s.end_frame) for s in stages] == [*bounds[:2], (bounds[2][0], 51)]
    assert bounds == [(0, 17), (17, 35), (35, 52)]
    assert stages[1].spine == "p000002_a000001 stage 1 spine moves."


def test_mirrored_sequences_are_flagged_and_point_at_their_original(prepared):
    table, row = _row(prepared, "p000001_r000001")
    assert table.mirrored[row]
    assert table.column("source_id")[row] == "p000001_a000001"
    info = read_info(prepared)
    assert info.source_notes == {"up_axis": {"z": 6}}
    assert info.options["source_fps"] == 30.0 and info.fps == 20.0


def _to_y_up(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same motion in a y-up world: rotate the body and move the translation about the rest pelvis."""
    m = torch.tensor(Z_UP_TO_Y_UP, dtype=torch.float64)
    pelvis = smpl_joints_builtin(
        {
            "global_orient": torch.zeros(1, 3, dtype=torch.float64),
            "body_pose": torch.zeros(1, 69, dtype=torch.float64),
        }
    )[0, 0]
    orient = axis_angle_to_matrix(torch.from_numpy(params["global_orient"].astype(np.float64)))
    transl = torch.from_numpy(params["transl"].astype(np.float64))
    out = dict(params)
    out["global_orient"] = matrix_to_axis_angle(m @ orient).numpy()
    out["transl"] = ((pelvis + transl) @ m.T - pelvis).numpy()
    return out


def test_up_axis_is_detected_and_a_y_up_copy_gives_the_same_features(tree, prepared, tmp_path):
    copy = tmp_path / "yup"
    (copy / "smpl_on_ground").mkdir(parents=True)
    (copy / "annotations").mkdir()
    for npz in sorted((tree / "smpl_on_ground").glob("p000001_*.npz")):
        np.savez(copy / "smpl_on_ground" / npz.name, **_to_y_up(_params(tree, npz.stem)))
        (copy / "annotations" / f"{npz.stem}.json").write_bytes(
            (tree / "annotations" / f"{npz.stem}.json").read_bytes()
        )
    out = tmp_path / "out"
    prepare_dataset(HummanMogenSource(copy), out)
    assert read_info(out).source_notes == {"up_axis": {"y": 2}}
    table, row = _row(out, "p000001_a000001")
    reference, ref_row = _row(prepared, "p000001_a000001")
    np.testing.assert_allclose(table.features(row), reference.features(ref_row), atol=2e-4)


def test_detect_up_axis_refuses_a_lying_body():
    pose = {
        "global_orient": torch.tensor([[0.0, 0.0, np.pi / 2]]).repeat(5, 1),
        "body_pose": torch.zeros(5, 69),
    }
    assert detect_up_axis(smpl_joints_builtin(pose)) == (None, 0.0)
    standing = {"global_orient": torch.zeros(5, 3), "body_pose": torch.zeros(5, 69)}
    assert detect_up_axis(smpl_joints_builtin(standing)) == ("y", 1.0)


def test_smpl_rot6d_representation(tree, tmp_path):
    out = tmp_path / "rot6d"
    source = HummanMogenSource(tree, HummanMogenOptions(representation="smpl-rot6d-135", up_axis="z"))
    prepare_dataset(source, out)
    params = _params(tree, "p000003_a000001")
    resampled = resample_smpl(
        {k: params[k].astype(np.float64) for k in ("global_orient", "body_pose", "transl")}, 30, 20
    )
    expected = smpl_to_rot6d(
        resampled["global_orient"], resampled["body_pose"], resampled["transl"], up_axis="z"
    )
    table, row = _row(out, "p000003_a000001")
    np.testing.assert_allclose(table.features(row), expected, atol=1e-6)
    assert table.stages(row)[-1].end_frame == expected.shape[0] == 54


def test_split_file_overrides_the_subject_rule(tree, tmp_path):
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"train": ["p000001", "p000002"], "test": ["p000003_a000001"]}))
    out = tmp_path / "out"
    prepare_dataset(HummanMogenSource(tree, HummanMogenOptions(split_file=split_file)), out)
    info = read_info(out)
    assert {k: v["motions"] for k, v in info.splits.items()} == {"train": 4, "test": 1}
    assert info.skipped == [
        {"item": "p000003_r000001", "reason": "in no split of the split file", "file": str(split_file)}
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": ["p000001"], "test": ["p000001"]}))
    with pytest.raises(MogenBenchError, match="both 'train' and 'test'"):
        HummanMogenSource(tree, HummanMogenOptions(split_file=bad))


def test_bad_sequences_are_skipped_with_their_reasons(tmp_path):
    root = write_humman_tree(tmp_path / "release", subjects=2)
    motions, annotations = root / "smpl_on_ground", root / "annotations"
    good = _params(root, "p000001_a000001")
    np.savez(motions / "p000001_a000001.npz", **{k: v for k, v in good.items() if k != "betas"})
    nan = dict(good)
    nan["transl"] = nan["transl"].copy()
    nan["transl"][7, 1] = np.nan
    np.savez(motions / "p000001_r000001.npz", **nan)
    np.savez(motions / "p000002_a000001.npz", **{**good, "body_pose": good["body_pose"][:, :63]})
    stages = json.loads((annotations / "p000002_r000001.json").read_text())
    stages[-1]["end_frame"] += 5
    stages[-1]["num_frames"] += 5
    (annotations / "p000002_r000001.json").write_text(json.dumps(stages))
    np.savez(motions / "p000003_a000001.npz", **good)  # no annotation
    (annotations / "p000004_a000001.json").write_text("[]")  # no motion
    np.savez(motions / "readme.npz", **good)
    (annotations / "readme.json").write_text("[]")
    reasons = {s.item: s.reason for s in HummanMogenSource(root).items() if not hasattr(s, "features")}
    assert "missing array 'betas'" in reasons["p000001_a000001"]
    assert "NaN or inf (first bad frame 7)" in reasons["p000001_r000001"]
    assert "'body_pose' has shape (75, 63), expected (T, 69)" in reasons["p000002_a000001"]
    assert "invalid annotation" in reasons["p000002_r000001"] and "(78 frames)" in reasons["p000002_r000001"]
    assert reasons["p000003_a000001"] == "no annotation file annotations/<id>.json"
    assert reasons["p000004_a000001"] == "no motion file smpl_on_ground/<id>.npz"
    assert "pXXXXXX_aXXXXXX" in reasons["readme"]
    with pytest.raises(MogenBenchError, match="no usable motions"):
        prepare_dataset(HummanMogenSource(root), tmp_path / "out")


def test_missing_folders_show_the_expected_tree(tmp_path):
    (tmp_path / "smpl_on_ground").mkdir()
    with pytest.raises(
        MogenBenchError, match=r"(?s)missing the folder annotations/.*smpl_on_ground/pXXXXXX_aXXXXXX\.npz"
    ):
        HummanMogenSource(tmp_path).check()
    (tmp_path / "annotations").mkdir()
    with pytest.raises(MogenBenchError, match=r"missing any smpl_on_ground/\*\.npz"):
        HummanMogenSource(tmp_path).check()
    with pytest.raises(MogenBenchError, match="humanml3d-263 or smpl-rot6d-135"):
        HummanMogenSource(tmp_path, HummanMogenOptions(representation="kit-251"))


def test_cli_prepare_info_verify(tree, tmp_path):
    from click.testing import CliRunner

    runner = CliRunner()
    out = tmp_path / "hm"
    result = runner.invoke(cli, ["prepare", "humman-mogen", str(tree), "--out", str(out), "--up-axis", "z"])
    assert result.exit_code == 0, result.output
    assert "6 motions" in result.output
    again = runner.invoke(cli, ["prepare", "humman-mogen", str(tree), "--out", str(out), "--up-axis", "z"])
    assert "nothing to do" in again.output
    info = runner.invoke(cli, ["data", "info", str(out)])
    assert info.exit_code == 0 and "humanml3d-263" in info.output and "train" in info.output
    assert runner.invoke(cli, ["data", "verify", str(out)]).exit_code == 0
    shard = next((out / "data").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:100])
    broken = runner.invoke(cli, ["data", "verify", str(out)])
    assert broken.exit_code == 1 and shard.name in broken.output
    missing = runner.invoke(cli, ["prepare", "humman-mogen", str(tmp_path), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "expected the published layout" in missing.output
