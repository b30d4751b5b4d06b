"""The evaluation protocol: replications, caching, determinism across processes, results.json, errors."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import socket

import numpy as np
import pytest
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluation import EvaluationJob, evaluate, get_protocol, read_results
from mogen_bench.evaluation.runner import embedding_cache_folder

#: Small constants so 24 training motions make pools (a variant of t2m@1, recorded as such).
SMALL = {
    "max_frames": 40,
    "pool_size": 8,
    "diversity_times": 10,
    "mm_num_samples": 3,
    "mm_repeats": 12,
    "generation_batch": 8,
}


#: ``composition@1`` scaled to 40-frame crops: 4-frame handshakes, 12-frame transition windows.
COMPOSITION = {
    **SMALL,
    "stage_min_frames": 5,
    "transition_window": 8,
    "stage_handshake": 4,
    "transition_fid_window": 12,
}
COMPOSITION_METRICS = (
    "stage_R_precision_top1",
    "stage_FID",
    "stage_Diversity",
    "stage_MultiModality",
    "transition_FID",
    "transition_Diversity",
    "transition_peak_jerk",
    "transition_AUJ",
)


class FakeEvaluator:
    """A deterministic, part-aware stand-in: a fixed projection of mean features, hashed texts."""

    name = "fake"
    representation = "humanml3d-263"
    parts = ("left_arm", "right_leg")

    def __init__(self, nan_for: str | None = None):
        generator = torch.Generator().manual_seed(0)
        self.projection = torch.randn(263, 16, generator=generator, dtype=torch.float64)
        self.nan_for = nan_for

    def hash(self) -> str:
        return hashlib.sha256(self.projection.numpy().tobytes()).hexdigest()

    def _pool(self, features, lengths):
        mask = (torch.arange(features.shape[1])[None, :] < lengths[:, None]).to(torch.float64)
        return (features.double() * mask[..., None]).sum(1) / lengths[:, None].double()

    def encode_motions(self, features, lengths):
        out = self._pool(features, lengths) @ self.projection
        if self.nan_for == "motion":
            out[0] = float("nan")
        return out

    def _text(self, text: str) -> torch.Tensor:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        return torch.randn(16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def encode_texts(self, texts, tokens):
        return torch.stack([self._text(t) for t in texts])

    def encode_part_motions(self, features, lengths):
        pooled = self._pool(features, lengths)
        return {"left_arm": pooled @ self.projection, "right_leg": -pooled @ self.projection}

    def encode_part_texts(self, part_texts):
        return {part: torch.stack([self._text(t) for t in texts]) for part, texts in part_texts.items()}


def _job(tiny_dataset, **options) -> EvaluationJob:
    defaults = dict(
        dataset=tiny_dataset,
        evaluator=FakeEvaluator(),
        split="train",
        replications=2,
        protocol_changes=SMALL,
        progress=False,
        device="cpu",
    )
    defaults.update(options)
    return EvaluationJob(**defaults)


def test_protocols_are_named_and_versioned():
    t2m = get_protocol("t2m@1")
    assert (t2m.replications, t2m.pool_size, t2m.diversity_times) == (20, 32, 300)
    assert (t2m.mm_num_samples, t2m.mm_repeats, t2m.mm_times) == (100, 30, 10)
    assert get_protocol("fine").id == "fine@1" and get_protocol("fine").part_level
    assert get_protocol("composition@1").transitions
    with pytest.raises(MogenBenchError, match="did you mean 't2m@1'"):
        get_protocol("t2n@1")


@pytest.fixture(scope="module")
def first(tiny_dataset, tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "results.json"
    return evaluate(_job(tiny_dataset, run_dir=tiny_run, out=out, protocol="fine@1")), out


def test_results_hold_every_metric_and_the_provenance(first):
    entry, out = first
    metrics = entry["metrics"]
    for name in ("R_precision_top1", "R_precision_top3", "MM_Dist", "FID", "Diversity", "MultiModality"):
        assert len(metrics[name]["values"]) == 2 and np.isfinite(metrics[name]["mean"])
        values = np.array(metrics[name]["values"])
        assert metrics[name]["interval"] == pytest.approx(1.96 * values.std() / np.sqrt(2))
    assert "part_R_precision_top1/left_arm" in metrics
    assert 0 <= metrics["foot_skating_ratio"]["mean"] <= 1 and metrics["ground_penetration"]["mean"] >= 0
    assert metrics["R_precision_top1"]["mean"] <= metrics["R_precision_top3"]["mean"] <= 1
    document = read_results(out)
    (saved,) = document["evaluations"]
    assert saved["protocol"]["id"] == "fine@1" and saved["protocol"]["constants"]["pool_size"] == 8
    assert saved["evaluator"]["hash"] == FakeEvaluator().hash() and saved["world_size"] == 1
    assert saved["model"]["name"] == "mdm" and saved["model"]["step"] == 6
    assert len(saved["dataset"]["fingerprint"]) == 64 and saved["num_motions"] == 24


def test_same_seed_same_numbers_and_the_entry_is_replaced(first, tiny_dataset, tiny_run):
    entry, out = first
    again = evaluate(_job(tiny_dataset, run_dir=tiny_run, out=out, protocol="fine@1"))
    assert again["metrics"] == entry["metrics"]
    assert len(read_results(out)["evaluations"]) == 1
    other = evaluate(_job(tiny_dataset, run_dir=tiny_run, out=out, protocol="fine@1", seed=1))
    assert other["metrics"]["FID"] != entry["metrics"]["FID"]
    assert len(read_results(out)["evaluations"]) == 2


def test_composition_scores_stages_and_transitions(tiny_dataset, tiny_run, tmp_path):
    changes = {**COMPOSITION, "mm_times": 4}
    entry = evaluate(
        _job(
            tiny_dataset,
            run_dir=tiny_run,
            out=tmp_path / "c.json",
            protocol="composition@1",
            protocol_changes=changes,
        )
    )
    metrics = entry["metrics"]
    for name in COMPOSITION_METRICS:
        assert np.isfinite(metrics[name]["mean"]), name
    assert 0 <= metrics["stage_R_precision_top1"]["mean"] <= metrics["stage_R_precision_top3"]["mean"] <= 1
    assert metrics["transition_peak_jerk"]["mean"] > 0
    # The real motions' own stages and boundaries are the reference row: far closer to the ground truth
    # than a model trained for 6 steps, on the same scale for the Diversity ranking.
    real = evaluate(
        _job(
            tiny_dataset,
            real=True,
            out=tmp_path / "r.json",
            protocol="composition@1",
            protocol_changes=changes,
        )
    )["metrics"]
    for name in ("stage_FID", "transition_FID"):
        assert 0 <= real[name]["mean"] < 0.2 * metrics[name]["mean"], name
    for name in ("stage_R_precision_top1", "stage_Diversity", "transition_AUJ"):
        assert np.isfinite(real[name]["mean"]), name
    assert "stage_MultiModality" not in real


def test_ground_truth_embeddings_are_cached(first):
    assert list(embedding_cache_folder().glob("*.npz"))


def test_real_motions_row(first, tiny_dataset, tmp_path):
    entry = evaluate(_job(tiny_dataset, real=True, out=tmp_path / "real.json"))
    assert entry["model"] == {"name": "real", "real": True}
    # New crops and captions of the same motions: not exactly the ground truth, far closer than a
    # model trained for 6 steps.
    assert 0 < entry["metrics"]["FID"]["mean"] < 0.2 * first[0]["metrics"]["FID"]["mean"]
    assert "MultiModality" not in entry["metrics"]
    assert 0 <= entry["metrics"]["foot_skating_ratio"]["mean"] <= 1


def _eval_worker(rank: int, port: int, dataset: str, run: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    evaluate(_job(dataset, run_dir=run, out=out, protocol="fine@1"))


def test_two_processes_give_the_numbers_of_one(first, tiny_dataset, tiny_run, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "ddp.json"
    context = multiprocessing.get_context("fork")
    args = (port, str(tiny_dataset), str(tiny_run), str(out))
    processes = [context.Process(target=_eval_worker, args=(rank, *args)) for rank in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0, 0]
    (saved,) = read_results(out)["evaluations"]
    assert saved["world_size"] == 2
    assert saved["metrics"] == json.loads(json.dumps(first[0]["metrics"]))


# --------------------------------------------------------------------------- bad input
def test_bad_jobs_are_refused_before_any_work(tiny_dataset, tiny_run, tmp_path):
    out = tmp_path / "never.json"
    cases = [
        (dict(split="validation"), "no 'validation' split"),
        (dict(run_dir=None), "either a run folder or --real"),
        (dict(run_dir=tmp_path), "no config.json"),
        (dict(protocol="t2m@7"), "unknown protocol"),
        (dict(protocol_changes={**SMALL, "max_frames": 196}), "makes at most 40"),
    ]
    for options, message in cases:
        job = _job(tiny_dataset, **{"run_dir": tiny_run, "out": out, **options})
        with pytest.raises(MogenBenchError, match=message):
            evaluate(job)
    assert not out.exists()


def test_nan_embeddings_name_the_motions(tiny_dataset, tiny_run, tmp_path):
    job = _job(tiny_dataset, run_dir=tiny_run, out=tmp_path / "x.json", evaluator=FakeEvaluator("motion"))
    with pytest.raises(
        MogenBenchError, match=r"NaN or inf (generated )?motion embeddings for \d+ motions \(m0"
    ):
        evaluate(job)
    assert not (tmp_path / "x.json").exists()


def test_part_level_protocols_need_a_part_aware_evaluator(tiny_dataset, tiny_run, tmp_path):
    evaluator = FakeEvaluator()
    evaluator.parts = ()
    job = _job(
        tiny_dataset, run_dir=tiny_run, out=tmp_path / "x.json", evaluator=evaluator, protocol="fine@1"
    )
    with pytest.raises(MogenBenchError, match="needs a part-aware evaluator"):
        evaluate(job)


def test_kit_skating_settings_are_the_humanml3d_ones_in_millimetres():
    from mogen_bench.metrics.physical import foot_skating_ratio, skating_settings

    generator = torch.Generator().manual_seed(3)
    joints = torch.rand(4, 40, 22, 3, generator=generator, dtype=torch.float64) * 0.2
    metres = skating_settings("humanml3d-263")
    kit = skating_settings("kit-251")
    assert kit["feet"] == (15, 20) and kit["fps"] == 12.5
    millimetres = {**kit, "feet": metres["feet"], "fps": metres["fps"]}
    ratios = foot_skating_ratio(joints, **metres)
    assert ratios.max() > 0
    np.testing.assert_array_equal(foot_skating_ratio(joints * 1000, **millimetres), ratios)
    with pytest.raises(MogenBenchError, match="no foot-skating settings"):
        skating_settings("bvh-60")


def test_cli_train_evaluator_then_evaluate(tmp_path):
    """The commands a user types: train the evaluator, train a model, evaluate it and the real motions."""
    from click.testing import CliRunner

    from mogen_bench.cli import cli
    from mogen_bench.data.writer import prepare_dataset
    from tests.record_source import RecordSource
    from tests.tiny_runs import TINY, _records

    # 36 test motions: one pool of 32.
    source = RecordSource(tmp_path / "in", _records(60, test_from=24), representation="humanml3d-263")
    data = str(prepare_dataset(source, tmp_path / "ds").folder)
    runner = CliRunner()

    def ok(*args):
        result = runner.invoke(cli, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    ok(
        "train",
        "evaluator",
        "--preset",
        "tiny",
        "--dataset",
        data,
        "--out",
        tmp_path / "eval",
        "--set",
        "train.max_steps=3",
        "--set",
        "train.batch_size=8",
        "--set",
        'data.feature_cache=""',
        "--no-progress",
    )
    sets = [arg for item in [*TINY, "train.max_steps=2", "data.max_frames=196"] for arg in ("--set", item)]
    ok("train", "mdm", "--dataset", data, "--out", tmp_path / "mdm", *sets, "--no-progress")
    common = ["--dataset", data, "--evaluator", tmp_path / "eval", "--replications", "1", "--no-progress"]
    output = ok("evaluate", tmp_path / "mdm", *common)
    assert "R_precision_top1" in output and "FID" in output
    ok("evaluate", "--real", *common, "--out", tmp_path / "real.json")
    (entry,) = read_results(tmp_path / "mdm" / "results.json")["evaluations"]
    assert entry["evaluator"]["name"] == "contrastive" and entry["protocol"]["id"] == "t2m@1"
    assert entry["num_motions"] == 36
    assert read_results(tmp_path / "real.json")["evaluations"][0]["model"]["real"]
    result = runner.invoke(cli, ["evaluate", str(tmp_path / "mdm"), *map(str, common), "--split", "val"])
    assert result.exit_code == 1 and "no 'val' split" in result.output
    # Protocol constants from the command line: a variant, recorded with its constants.
    changes = [
        "--set",
        "protocol.pool_size=8",
        "--set",
        "protocol.mm_repeats=3",
        "--set",
        "protocol.mm_times=2",
    ]
    ok("evaluate", "--real", *common, *changes, "--out", tmp_path / "variant.json")
    ok("evaluate", tmp_path / "mdm", *common, *changes, "--steps", "ddim2", "--out", tmp_path / "fast.json")
    (fast,) = read_results(tmp_path / "fast.json")["evaluations"]
    assert fast["model"]["sampling_steps"] == "ddim2" and entry["model"]["sampling_steps"] == "ddim5"
    (variant,) = read_results(tmp_path / "variant.json")["evaluations"]
    constants = variant["protocol"]["constants"]
    assert (constants["pool_size"], constants["mm_repeats"], constants["replications"]) == (8, 3, 1)
    for bad, message in [
        ("protocol.pool_sise=8", "no constant 'pool_sise'"),
        ("protocol.pool_size=eight", "pool_size must be a whole number >= 0, got 'eight'"),
        ("protocol.part_level=1", "part_level must be true or false"),
        ("train.lr=1", "changes protocol constants only, not 'train'"),
    ]:
        result = runner.invoke(cli, ["evaluate", "--real", *map(str, common), "--set", bad])
        assert result.exit_code == 1 and message in result.output, (bad, result.output)
    assert (
        "did you mean 'pool_size'"
        in runner.invoke(
            cli, ["evaluate", "--real", *map(str, common), "--set", "protocol.pool_sise=8"]
        ).output
    )
