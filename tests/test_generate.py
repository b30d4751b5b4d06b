"""Generation with a trained run: the model interface, `mogen-bench generate`, and `train` on the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from annotation.model import Stage
from mogen_bench.cli import cli
from mogen_bench.errors import MogenBenchError
from mogen_bench.generation import GenerationJob, generate_motions
from mogen_bench.models.conditions import as_requests
from mogen_bench.training.run import load_run
from tests.tiny_runs import DIMS, TINY


@pytest.fixture(scope="module")
def loaded(tiny_run):
    return load_run(tiny_run)


def test_load_run_rebuilds_the_trained_model(loaded, tiny_run):
    assert loaded.step == 6 and loaded.checkpoint.name == "step-00000006.pt"
    assert loaded.model.name == "mdm" and not loaded.model.training
    assert loaded.representation.name == "humanml3d-263"
    assert loaded.mean.shape == (DIMS,) and loaded.normalised


def test_generate_is_deterministic_per_seed_and_zero_past_the_end(loaded):
    first = loaded.model.generate(["a person walks", "someone waves slowly"], [20, 33], seed=5)
    again = loaded.model.generate(["a person walks", "someone waves slowly"], [20, 33], seed=5)
    other = loaded.model.generate(["a person walks", "someone waves slowly"], [20, 33], seed=6)
    assert first.features.shape == (2, 33, DIMS)
    assert torch.equal(first.features, again.features)
    assert not torch.equal(first.features, other.features)
    assert first.lengths.tolist() == [20, 33]
    assert torch.all(first.features[0, 20:] == 0) and torch.all(first.features[0, :20].abs().sum(-1) > 0)


def test_guidance_changes_the_sample_and_one_means_conditional_only(loaded):
    plain = loaded.model.generate(["a person jumps"], 16, seed=0, guidance=1.0).features
    guided = loaded.model.generate(["a person jumps"], 16, seed=0, guidance=2.5).features
    assert not torch.allclose(plain, guided)


def test_stages_and_texts_share_one_request_format():
    stages = [Stage(0, 10, overall="walks"), Stage(10, 25, overall="then sits", left_arm="left arm up")]
    text, staged = as_requests(["a person walks", stages], [12, None])
    assert text.length == 12 and text.caption == "a person walks" and len(text.stages) == 1
    assert staged.length == 25 and staged.caption == "walks then sits"
    assert staged.stage_of_frames() == [0] * 10 + [1] * 15


@pytest.mark.parametrize(
    ("conditions", "lengths", "message"),
    [
        (["a text"], None, "a text needs a length"),
        (["a text"], [0], "whole number of frames"),
        (["   "], [10], "the text is empty"),
        (["a", "b"], [10, 10, 10], "2 conditions but 3 lengths"),
        (["a text"], [500], "longer than the model's maximum of 40"),
        ([[Stage(0, 5, overall="x"), Stage(6, 9, overall="y")]], None, "contiguous"),
        ([[Stage(0, 5, overall="x")]], [7], "disagrees with the stages"),
    ],
)
def test_bad_requests_are_refused(conditions, lengths, message):
    with pytest.raises(MogenBenchError, match=message):
        as_requests(conditions, lengths, max_frames=40)


def test_generate_writes_features_joints_manifest_and_gif(tiny_run, tmp_path):
    out = tmp_path / "gen"
    written = generate_motions(
        GenerationJob(
            run_dir=tiny_run,
            out=out,
            texts=["a person kicks", "someone turns"],
            lengths=[12, 16],
            num_samples=2,
            seed=3,
            render=tmp_path / "clip.gif",
        )
    )
    names = sorted(p.name for p in written)
    assert "generation.json" in names and "clip.gif" in names
    manifest = json.loads((out / "generation.json").read_text())
    assert [s["length"] for s in manifest["samples"]] == [12, 16, 12, 16]
    assert manifest["samples"][2]["seed"] != manifest["samples"][0]["seed"] == 3
    features = np.load(out / "sample_001.features.npy")
    joints = np.load(out / "sample_001.joints.npy")
    assert features.shape == (16, DIMS) and joints.shape == (16, 22, 3)
    # Features are in the dataset's space (denormalised), joints follow from them.
    run = load_run(tiny_run)
    np.testing.assert_allclose(
        joints, run.representation.to_joints(torch.from_numpy(features)).numpy(), rtol=1e-5, atol=1e-5
    )
    with Image.open(tmp_path / "clip.gif") as gif:
        # Four motions side by side, as long as the longest.
        assert gif.n_frames == 16 and gif.size[0] == 4 * 320


def test_compare_generates_the_same_requests_with_other_runs(tiny_run, tmp_path):
    import shutil

    twin = shutil.copytree(tiny_run, tmp_path / "twin")
    out = tmp_path / "gen"
    job = dict(run_dir=tiny_run, texts=["a person kicks"], lengths=[12], num_samples=2, seed=3)
    written = generate_motions(GenerationJob(**job, out=out, compare=[twin], render=tmp_path / "compare.gif"))
    assert out / "twin" / "generation.json" in written
    twin_manifest = json.loads((out / "twin" / "generation.json").read_text())
    main_manifest = json.loads((out / "generation.json").read_text())
    assert twin_manifest["run"] == str(twin)
    seeds = [sample["seed"] for sample in main_manifest["samples"]]
    assert [sample["seed"] for sample in twin_manifest["samples"]] == seeds and seeds[0] == 3 != seeds[1]
    # The same weights, requests and seeds: the same motions, sample for sample.
    for stem in ("sample_000", "sample_001"):
        np.testing.assert_array_equal(
            np.load(out / f"{stem}.features.npy"), np.load(out / "twin" / f"{stem}.features.npy")
        )
    with Image.open(tmp_path / "compare.gif") as gif:
        assert gif.size[0] == 4 * 320  # two runs x two samples

    config = json.loads((twin / "config.json").read_text())
    config["context"]["representation"] = "kit-251"
    (tmp_path / "kit").mkdir()
    shutil.copytree(twin / "checkpoints", tmp_path / "kit" / "checkpoints")
    (tmp_path / "kit" / "config.json").write_text(json.dumps(config))
    cases = [
        ([tmp_path / "missing"], "missing: no such run folder"),
        ([twin, tmp_path / "elsewhere" / "twin"], "share the folder name 'twin'"),
        ([tmp_path / "kit"], "cannot be compared"),
    ]
    for compare, message in cases:
        with pytest.raises(MogenBenchError, match=message):
            generate_motions(GenerationJob(**job, out=tmp_path / "never", compare=compare))
        assert not (tmp_path / "never").exists()


def test_generate_from_a_stages_file(tiny_run, tmp_path):
    stages = [
        {
            "start_frame": 0,
            "end_frame": 14,
            "num_frames": 14,
            "all": "a person walks",
            "left_arm": "the left arm swings",
        },
        {"start_frame": 14, "end_frame": 30, "num_frames": 16, "all": "then jumps", "pelvis": "moves up"},
    ]
    path = tmp_path / "stages.json"
    path.write_text(json.dumps(stages))
    generate_motions(GenerationJob(run_dir=tiny_run, out=tmp_path / "gen", stages_file=path))
    manifest = json.loads((tmp_path / "gen" / "generation.json").read_text())
    (sample,) = manifest["samples"]
    assert sample["length"] == 30 and sample["caption"] == "a person walks then jumps"
    assert sample["stages"][1]["trajectory"] == "moves up"
    assert np.load(tmp_path / "gen" / "sample_000.features.npy").shape == (30, DIMS)


def test_bad_generation_jobs_fail_before_any_work(tiny_run, tmp_path):
    bad_stages = tmp_path / "bad.json"
    bad_stages.write_text(json.dumps([{"start_frame": 0, "end_frame": 10, "all": 3}]))
    cases = [
        (dict(stages_file=bad_stages), "bad.json"),
        (dict(texts=["x"], lengths=[10], render=tmp_path / "x.avi"), "x.avi"),
        (dict(texts=["x"], lengths=[10], num_samples=0), "num-samples"),
        (dict(), "nothing to generate"),
        (dict(run_dir=tmp_path), "no config.json"),
    ]
    for options, message in cases:
        job = GenerationJob(**{"run_dir": tiny_run, "out": tmp_path / "never", **options})
        with pytest.raises(MogenBenchError, match=message):
            generate_motions(job)
        assert not (tmp_path / "never").exists()


def test_a_corrupt_checkpoint_is_a_clear_error(tiny_run, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(MogenBenchError, match=r"broken\.pt"):
        load_run(tiny_run, checkpoint=broken)


# --------------------------------------------------------------------------- the CLI
def test_cli_train_then_generate(tiny_dataset, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    sets = [arg for item in [*TINY, "train.max_steps=2"] for arg in ("--set", item)]
    result = runner.invoke(cli, ["train", "mdm", "--dataset", str(tiny_dataset), "--out", str(out), *sets])
    assert result.exit_code == 0, result.output
    assert "step 2" in result.output
    result = runner.invoke(
        cli,
        ["generate", str(out), "--text", "a person walks", "--length", "10", "--out", str(tmp_path / "g")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g" / "sample_000.joints.npy").is_file()


def test_cli_reports_bad_input_in_one_line(tiny_dataset, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", "mdn", "--dataset", str(tiny_dataset), "--out", str(tmp_path / "r")]
    )
    assert (
        result.exit_code == 1 and "unknown model 'mdn'" in result.output and "Traceback" not in result.output
    )
    result = runner.invoke(cli, ["generate", str(tmp_path / "nowhere"), "--text", "x", "--length", "5"])
    assert result.exit_code == 1 and "no such run folder" in result.output
