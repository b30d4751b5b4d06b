"""MoGen-Synth through `prepare`: the generator's layout read by the HuMMan-MoGen code path, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mogen_bench.cli import cli
from mogen_bench.data.info import read_info
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.sources.humman_mogen import HummanMogenOptions, HummanMogenSource
from mogen_bench.data.sources.synth import SynthSource
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from mogen_bench.synth import SYNTH_PRESETS, write_synth


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    config = SYNTH_PRESETS["tiny"].replace(num_sequences=10, num_subjects=8, seed=3)
    return write_synth(tmp_path_factory.mktemp("synth") / "raw", config)


def test_synth_prepares_like_the_humman_release_it_imitates(raw, tmp_path):
    prepare_dataset(SynthSource(raw), tmp_path / "synth")
    prepare_dataset(HummanMogenSource(raw, HummanMogenOptions(up_axis="auto")), tmp_path / "humman")
    synth, humman = read_info(tmp_path / "synth"), read_info(tmp_path / "humman")
    assert synth.source == "synth" and synth.skipped == [] and synth.num_motions == 20
    assert synth.options["synth"]["seed"] == 3 and synth.options["source_fps"] == 30.0
    assert humman.source_notes == {"up_axis": {"z": 20}}  # auto-detection agrees with synth.json
    a, b = PreparedDataset(tmp_path / "synth"), PreparedDataset(tmp_path / "humman")
    for split in a.split_names:
        np.testing.assert_array_equal(a.split(split).all_frames, b.split(split).all_frames)
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
    assert other.exit_code == 1 and "another size, seed or options" in other.output
