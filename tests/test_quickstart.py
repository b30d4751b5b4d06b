"""The quickstart: its plan, the stage markers that make it resumable, and the whole pipeline end to end.

The marker logic runs on stand-in stages (milliseconds). The pipeline runs once with every stage shrunk to
a few steps (the real MoGen-Synth tiny, every model, evaluation, GIFs and report); the real ``tiny`` size
through the CLI is marked slow.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import mogen_bench.evaluation as evaluation_module
import mogen_bench.training.loop as loop_module
from mogen_bench.cli import cli
from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluation import get_protocol, read_results
from mogen_bench.quickstart import (
    MODELS,
    PROTOCOLS,
    SIZES,
    Plan,
    QuickstartOptions,
    QuickstartPaths,
    Stage,
    build_plan,
    run_plan,
    run_quickstart,
)
from mogen_bench.training.distributed import seed_for


# --------------------------------------------------------------------------- markers on stand-in stages
def _plan(out: Path, calls: list, settings: dict | None = None, fail: str | None = None, force=False) -> Plan:
    """Four stand-in stages: a -> b -> c, and d on its own; each records its call and writes its folder."""
    settings = settings or {}

    def body(name):
        def run(resume: bool = False):
            calls.append((name, resume))
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "partial").write_text("x")
            if name == fail:
                raise RuntimeError(f"{name} failed")
            (folder / "config.json").write_text("{}")

        return run

    after = {"a": (), "b": ("a",), "c": ("b",), "d": ()}
    stages = [
        Stage(name, name, settings.get(name, {"n": 1}), body(name), after[name], (out / name,), name == "b")
        for name in "abcd"
    ]
    options = QuickstartOptions(out=out, size="test", force=force, progress=False)
    return Plan(options, SIZES["tiny"], QuickstartPaths(out), stages)


def test_finished_stages_are_not_redone(tmp_path):
    calls = []
    first = run_plan(_plan(tmp_path, calls))
    assert first.ran == ["a", "b", "c", "d"] and calls == [(n, False) for n in "abcd"]
    marker = json.loads((tmp_path / ".quickstart" / "b.done").read_text())
    assert marker["settings"] == {"n": 1} and marker["after"] == ["a"] and len(marker["key"]) == 64
    calls.clear()
    again = run_plan(_plan(tmp_path, calls))
    assert again.ran == [] and calls == []
    assert [r.skipped for r in again.records] == [True] * 4


def test_changed_settings_redo_the_stage_and_what_reads_it(tmp_path):
    calls = []
    run_plan(_plan(tmp_path, calls))
    calls.clear()
    result = run_plan(_plan(tmp_path, calls, settings={"b": {"n": 2}}))
    # b's key changed; c reads b, so its key changed too (b has a new token); a and d stay.
    assert result.ran == ["b", "c"]
    assert calls == [("b", False), ("c", False)]  # a new key never resumes
    calls.clear()
    assert run_plan(_plan(tmp_path, calls, settings={"b": {"n": 2}})).ran == []
    # A stage redone with unchanged settings (its marker removed) still redoes its readers.
    (tmp_path / ".quickstart" / "a.done").unlink()
    assert run_plan(_plan(tmp_path, calls, settings={"b": {"n": 2}})).ran == ["a", "b", "c"]


def test_force_redoes_everything(tmp_path):
    calls = []
    run_plan(_plan(tmp_path, calls))
    calls.clear()
    assert run_plan(_plan(tmp_path, calls, force=True)).ran == ["a", "b", "c", "d"]
    assert calls == [(n, False) for n in "abcd"]


def test_an_interrupted_stage_is_redone_from_scratch_or_resumed(tmp_path):
    calls = []
    with pytest.raises(RuntimeError, match="c failed"):
        run_plan(_plan(tmp_path, calls, fail="c"))
    markers = tmp_path / ".quickstart"
    assert sorted(p.name for p in markers.glob("*.done")) == ["a.done", "b.done"]
    assert (markers / "c.running").is_file() and (tmp_path / "c" / "partial").is_file()
    calls.clear()
    (tmp_path / "c" / "stale").write_text("left by the failed run")
    result = run_plan(_plan(tmp_path, calls))
    assert result.ran == ["c", "d"] and not (tmp_path / "c" / "stale").exists()
    assert not (markers / "c.running").exists()

    # b is resumable: interrupted with the same key and a config.json in its folder, it continues.
    calls.clear()
    (markers / "b.done").unlink()
    (markers / "b.running").write_text(json.dumps({"key": "other"}))
    run_plan(_plan(tmp_path, calls))
    assert calls[0] == ("b", False)  # another key: started over
    plan = _plan(tmp_path, calls)
    key = json.loads((markers / "b.done").read_text())["key"]
    (markers / "b.done").rename(markers / "b.running")
    (markers / "b.running").write_text(json.dumps({"key": key}))
    calls.clear()
    run_plan(plan)
    assert calls == [("b", True), ("c", False)]


def test_refuses_a_folder_that_is_not_a_quickstart(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(MogenBenchError, match="holds no quickstart"):
        run_plan(_plan(tmp_path, []))
    assert (tmp_path / "notes.txt").read_text() == "mine"
    result = CliRunner().invoke(cli, ["quickstart", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 1 and "holds no quickstart" in result.output and "fix:" in result.output


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(MogenBenchError, match="unknown quickstart size 'huge'"):
        build_plan(QuickstartOptions(out=tmp_path, size="huge"))
    with pytest.raises(MogenBenchError, match="--seed must be >= 0"):
        build_plan(QuickstartOptions(out=tmp_path, seed=-1))
    with pytest.raises(MogenBenchError, match="--threads must be >= 1"):
        run_quickstart(QuickstartOptions(out=tmp_path / "qs", threads=0))
    assert not (tmp_path / "qs").exists()


# --------------------------------------------------------------------------- the plan
def test_the_plan_of_each_size(tmp_path):
    plan = build_plan(QuickstartOptions(out=tmp_path, size="tiny", seed=3))
    names = [s.name for s in plan.stages]
    keys = [m.key for m in MODELS]
    assert names == [
        "data",
        "train-evaluator",
        *(f"train-{k}" for k in keys),
        *(f"sample-{k}" for k in keys),
        *(f"evaluate-{k}-{p.split('@')[0]}" for k in ("real", *keys) for p in PROTOCOLS),
        "report",
    ]
    stage = {s.name: s for s in plan.stages}
    assert stage["train-priormdm"].after == ("data", "train-mdm")
    mdm = stage["train-mdm"].settings["overrides"]
    assert "train.max_steps=30" in mdm and "train.batch_size=16" in mdm
    assert f"train.seed={seed_for(3, 'quickstart', 'train', 'mdm')}" in mdm
    assert 'model.sampling_steps="ddim10"' in mdm
    assert "model.training_mode=zero_shot" in stage["train-finemogen-zero-shot"].settings["overrides"]
    assert stage["train-priormdm"].settings["overrides"][0] == 'model.prior_run="OUT/runs/mdm"'
    evaluation = stage["evaluate-real-fine"].settings
    assert evaluation["protocol"] == "fine@1" and evaluation["seed"] == 3 and evaluation["replications"] == 2
    assert set(stage["report"].after) == {n for n in names if n.startswith(("evaluate-", "sample-"))}

    # The sizes' protocol variants are valid and fit their MoGen-Synth test splits (14 and 180 motions).
    for size, test_motions in (("tiny", 14), ("small", 180)):
        settings = SIZES[size]
        protocol = get_protocol("t2m@1").with_changes(**settings.protocol_changes)
        motions = min(test_motions, settings.max_motions or test_motions)
        assert protocol.pool_size <= motions and protocol.diversity_times < motions
        assert protocol.mm_repeats > protocol.mm_times and protocol.max_frames == 120


# --------------------------------------------------------------------------- the pipeline, shrunk
#: Every stage of the real pipeline, shrunk: 2 training steps of 1-layer models on 40-frame crops, 2 sampling
#: steps, motions cropped to 40 frames. The plan, the files and the records are what is tested here.
_SMALLER = ("model.layers=1", "model.learned_dim=16", "model.learned_heads=2", "data.max_frames=40")
MICRO = replace(
    SIZES["tiny"],
    evaluator_steps=2,
    model_steps=2,
    # PriorMDM's second take starts at t = 899, which its sampler must reach: ddim10 (0, 100, ..., 900).
    sampling_steps={"mdm": "ddim2", "finemogen": "2", "priormdm": "ddim10"},
    protocol_changes={**SIZES["tiny"].protocol_changes, "max_frames": 40},
    overrides={
        "evaluator": (*_SMALLER, "model.latent_dim=32", "model.embed_dim=32", "model.ff_dim=64"),
        "mdm": (*_SMALLER, "model.latent_dim=32", "model.ff_dim=64"),
        "finemogen": (*_SMALLER, "model.part_dim=8", "model.num_experts=2", "model.time_embed_dim=32"),
        "teach": (*_SMALLER, "model.latent_dim=32", "model.ff_dim=64"),
    },
)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "qs"
    options = QuickstartOptions(out=out, size="tiny", seed=0, progress=False, settings=MICRO)
    return options, run_quickstart(options)


def test_every_stage_runs_and_writes_the_report(micro_run):
    options, result = micro_run
    out = Path(options.out)
    assert result.ran == [s.name for s in result.plan.stages] and len(result.ran) == 31
    for name in ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "index.html", "results.parquet"):
        assert (out / "report" / name).stat().st_size > 0, name
    assert len(list((out / "report" / "plots").glob("*.png"))) > 3 * 10
    html = (out / "report" / "index.html").read_text()
    assert html.count("data:image/gif;base64") == len(MODELS)
    markdown = (out / "report" / "leaderboard.md").read_text()
    assert markdown.startswith("# mogen-bench quickstart (tiny, seed 0)")
    labels = ("Real motions", "mdm @ step 2", "finemogen (finemogen-zero-shot) @ step 2", "priormdm @ step 0")
    assert all(label in markdown for label in labels)
    assert {b.rows["protocol_id"].iloc[0] for b in result.report.boards} == set(PROTOCOLS)


def test_results_record_every_model_protocol_and_the_size(micro_run):
    options, _ = micro_run
    out = Path(options.out)
    for key in ("real", *(m.key for m in MODELS)):
        path = out / "real" / "results.json" if key == "real" else out / "runs" / key / "results.json"
        entries = read_results(path)["evaluations"]
        assert sorted(e["protocol"]["id"] for e in entries) == sorted(PROTOCOLS)
        for entry in entries:
            constants = entry["protocol"]["constants"]
            assert constants["replications"] == 2 and constants["pool_size"] == 8
            assert constants["max_frames"] == 40 and constants["mm_repeats"] == 3
            assert entry["split"] == "test" and entry["seed"] == 0 and entry["num_motions"] == 14
            assert len(entry["metrics"]["R_precision_top1"]["values"]) == 2
            if key != "real":
                assert entry["model"]["step"] == (0 if key == "priormdm" else 2)
    config = json.loads((out / "runs" / "finemogen-zero-shot" / "config.json").read_text())["config"]
    assert config["model"]["training_mode"] == "zero_shot" and config["model"]["sampling_steps"] == "2"
    assert config["train"]["seed"] == seed_for(0, "quickstart", "train", "finemogen-zero-shot")


def test_a_second_run_redoes_only_unfinished_stages(micro_run):
    options, _ = micro_run
    calls = {"train": 0, "evaluate": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop_module, "train", counting("train", loop_module.train))
        patch.setattr(evaluation_module, "evaluate", counting("evaluate", evaluation_module.evaluate))
        again = run_quickstart(options)
        assert again.ran == [] and calls == {"train": 0, "evaluate": 0}
        assert len(again.report.boards) == 3
        results = Path(options.out) / "runs" / "teach" / "results.json"
        before = {e["protocol"]["id"]: e["created"] for e in read_results(results)["evaluations"]}
        (Path(options.out) / ".quickstart" / "evaluate-teach-t2m.done").unlink()
        resumed = run_quickstart(options)
    assert resumed.ran == ["evaluate-teach-t2m", "report"]
    assert calls == {"train": 0, "evaluate": 1}
    after = read_results(results)["evaluations"]
    assert len(after) == 3 and {e["protocol"]["id"]: e["created"] for e in after}.keys() == before.keys()


# --------------------------------------------------------------------------- the real tiny size
@pytest.mark.slow
def test_tiny_quickstart_through_the_cli(tmp_path):
    out = tmp_path / "qs"
    result = CliRunner().invoke(cli, ["quickstart", "--size", "tiny", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"HTML: {out / 'report' / 'index.html'}" in result.output
    assert "31 of 31 stages run" in result.output
    entries = read_results(out / "real" / "results.json")["evaluations"]
    real = next(e for e in entries if e["protocol"]["id"] == "t2m@1")
    # The 60-step evaluator already tells the real motions' texts apart (chance top-3 in pools of 8: 0.375).
    assert real["metrics"]["R_precision_top3"]["mean"] >= 0.5
