"""MoGen-Synth through `prepare`: the generator's layout read by the HuMMan-MoGen code path, subject sizes
that survive it, and the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from mogen_bench.cli import cli
from mogen_bench.data.info import read_info
from mogen_bench.data.npz import load_npz
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.sources.humman_mogen import NPZ_SHAPES, HummanMogenOptions, HummanMogenSource
from mogen_bench.data.sources.synth import SynthSource
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from mogen_bench.synth import SYNTH_PRESETS, write_synth
from mogen_bench.synth.kinematics import synthetic_shape_space


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    config = SYNTH_PRESETS["tiny"].replace(num_sequences=10, num_subjects=8, seed=3)
    return write_synth(tmp_path_factory.mktemp("synth") / "raw", config)


def test_synth_prepares_like_the_humman_release_it_imitates(raw, tmp_path):
    """SynthSource's joints (the tree's body model, from its joint regressor) are those of the HuMMan-MoGen
    source running the same model through smplx; the built-in neutral skeleton would ignore the sizes."""
    prepare_dataset(SynthSource(raw), tmp_path / "synth")
    options = HummanMogenOptions(up_axis="auto", smpl_model=raw / "body_model")
    prepare_dataset(HummanMogenSource(raw, options), tmp_path / "humman")
    prepare_dataset(HummanMogenSource(raw, HummanMogenOptions(up_axis="z")), tmp_path / "builtin")
    synth, humman = read_info(tmp_path / "synth"), read_info(tmp_path / "humman")
    assert synth.source == "synth" and synth.skipped == [] and synth.num_motions == 20
    assert synth.options["synth"]["seed"] == 3 and synth.options["source_fps"] == 30.0
    assert synth.options["joints"].startswith("synthetic body model body_model/SMPL_NEUTRAL.npz")
    assert humman.source_notes == {"up_axis": {"z": 20}}  # auto-detection agrees with synth.json
    a, b = PreparedDataset(tmp_path / "synth"), PreparedDataset(tmp_path / "humman")
    builtin = PreparedDataset(tmp_path / "builtin")
    for split in a.split_names:
        np.testing.assert_allclose(a.split(split).all_frames, b.split(split).all_frames, rtol=0, atol=1e-4)
        assert np.abs(a.split(split).all_frames - builtin.split(split).all_frames).max() > 1e-2
    meta = json.loads((raw / "synth.json").read_text())
    for split in a.split_names:
        table = a.split(split)
        for i, motion_id in enumerate(table.motion_ids):
            assert meta["subjects"][motion_id.split("_")[0]] == split
            assert table.mirrored[i] == ("_r" in motion_id)
            assert table.stages(i)[-1].end_frame == table.lengths[i]


def test_missing_synth_json_names_the_file(raw, tmp_path):
    (tmp_path / "smpl_on_ground").mkdir()
    with pytest.raises(MogenBenchError, match=r"missing synth\.json"):
        SynthSource(tmp_path)


def test_missing_body_model_names_the_file(raw, tmp_path):
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    (copy / "body_model" / "SMPL_NEUTRAL.npz").unlink()
    with pytest.raises(MogenBenchError, match=r"body_model/SMPL_NEUTRAL\.npz") as info:
        SynthSource(copy).check()
    assert "regenerate" in info.value.fix
    SynthSource(copy, smpl_model=raw / "body_model").check()  # another model needs none in the tree


def test_subject_sizes_survive_prepare(raw, tmp_path):
    """Bigger subjects have longer legs in the joints prepare computes, and a higher pelvis in the prepared
    smpl-rot6d-135 (whose root height is transl's up component; HumanML3D's 263 features, by their design,
    retarget every motion to one skeleton)."""
    meta = json.loads((raw / "synth.json").read_text())
    sizes = meta["subject_sizes"]
    source = SynthSource(raw, "smpl-rot6d-135")
    shapes = synthetic_shape_space()
    legs, heights = {}, {}
    for npz_file in sorted((raw / "smpl_on_ground").glob("*_a*.npz")):
        params = load_npz(npz_file, NPZ_SHAPES)
        joints = source._joints(params).numpy()
        leg = np.linalg.norm(joints[:, [4, 7]] - joints[:, [1, 4]], axis=-1).sum(axis=-1)
        rest = shapes.rest_joints(params["betas"][0])
        assert np.abs(leg - np.linalg.norm(rest[[4, 7]] - rest[[1, 4]], axis=-1).sum()).max() < 1e-6
        legs[npz_file.stem] = (sizes[npz_file.stem[:7]], leg[0])
    prepare_dataset(source, tmp_path / "rot6d")
    dataset = PreparedDataset(tmp_path / "rot6d")
    for split in dataset.split_names:
        table = dataset.split(split)
        for i, motion_id in enumerate(table.motion_ids):
            if motion_id in legs:
                with np.load(raw / "smpl_on_ground" / f"{motion_id}.npz") as npz:
                    # SMPL puts the pelvis at J0(betas) + transl (J0 is not rotated): its height at frame 0.
                    pelvis = table.features(i)[0, 0] + shapes.rest_joints(npz["betas"][0])[0, 2]
                heights[motion_id] = (sizes[motion_id[:7]], pelvis)
    assert heights.keys() == legs.keys() and len({s for s, _ in legs.values()}) >= 6
    for values in (legs, heights):
        size, length = np.array(list(values.values())).T
        assert size.max() / size.min() > 1.2
        # The lengths follow the sizes: their ratio varies by only a few percent (betas 1-9, the pose).
        assert length.max() / length.min() > 1.15
        assert (length / size).max() / (length / size).min() < 1.08


def test_cli_prepare_synth_generates_prepares_and_reuses(tmp_path):
    runner = CliRunner()
    out = tmp_path / "ds"
    result = runner.invoke(cli, ["prepare", "synth", "--size", "tiny", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "generated MoGen-Synth (tiny, seed 1)" in result.output and "96 motions" in result.output
    assert (tmp_path / "ds-raw" / "synth.json").is_file()
    again = runner.invoke(cli, ["prepare", "synth", "--size", "tiny", "--seed", "1", "--out", str(out)])
    assert "generated" not in again.output and "nothing to do" in again.output
    other = runner.invoke(cli, ["prepare", "synth", "--size", "tiny", "--seed", "2", "--out", str(out)])
    assert other.exit_code == 1 and "another size, seed, options or generator version" in other.output
