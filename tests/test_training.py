"""The trainer end to end on a tiny MDM: run folders, exact resume, DDP on 2 gloo processes, errors."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from mogen_bench.training.checkpoint import find_latest_checkpoint, load_checkpoint
from mogen_bench.training.loop import TrainRequest, train
from mogen_bench.training.metrics_log import read_metrics
from mogen_bench.training.run import load_run
from tests.record_source import RecordSource
from tests.tiny_runs import DIMS, _records, _train, assert_same_weights


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(find_latest_checkpoint(run_dir))["model"]


# --------------------------------------------------------------------------- the run folder
def test_run_folder_holds_config_checkpoints_and_metrics(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["model"] == "mdm"
    assert config["config"]["model"]["layers"] == 1 and config["config"]["model"]["heads"] == 2
    assert config["config"]["model"]["guidance"] == 2.5  # untouched: the paper default
    assert config["config"]["train"]["max_steps"] == 6
    assert config["config"]["data"]["max_frames"] == 40
    assert config["context"]["representation"] == "humanml3d-263" and config["context"]["dims"] == DIMS
    assert "walks" in config["context"]["vocabulary"] and "left" in config["context"]["vocabulary"]
    assert config["world_size"] == 1 and config["global_batch"] == 4
    assert len(config["normalisation"]["mean"]) == DIMS
    assert sorted(p.name for p in (tiny_run / "checkpoints").iterdir()) == [
        "step-00000003.pt",
        "step-00000006.pt",
    ]
    records = read_metrics(tiny_run / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6]
    for record in records:
        assert np.isfinite(record["loss"]) and record["loss"] == pytest.approx(record["loss_recon"])
        assert record["lr"] > 0 and record["samples_per_s"] > 0


def test_training_reduces_the_loss(tiny_dataset, tmp_path):
    out = tmp_path / "longer"
    _train(tiny_dataset, out, "train.max_steps=40", "train.log_every=10", "train.checkpoint_every=40")
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl")]
    assert losses[-1] < 0.8 * losses[0]


def test_resume_is_bit_identical(tiny_dataset, tmp_path):
    # Accumulation, dropout (global RNG) and the model's own generator are all in play.
    extra = ["train.max_steps=6", "train.accumulate=2", "train.ema_decay=0.9", "model.dropout=0.2"]
    _train(tiny_dataset, tmp_path / "straight", *extra)
    first = _train(tiny_dataset, tmp_path / "resumed", *extra, stop_at_step=3)
    assert first.step == 3
    second = train(
        TrainRequest(model="mdm", dataset=tiny_dataset, out=tmp_path / "resumed", resume=True, progress=False)
    )
    assert second.step == 6
    assert_same_weights(_weights(tmp_path / "straight"), _weights(tmp_path / "resumed"))
    straight_ema = load_checkpoint(find_latest_checkpoint(tmp_path / "straight"))["ema"]
    resumed_ema = load_checkpoint(find_latest_checkpoint(tmp_path / "resumed"))["ema"]
    for name in straight_ema["shadow"]:
        assert torch.equal(straight_ema["shadow"][name], resumed_ema["shadow"][name]), name
    # The log holds each step once; the interrupted run also logged where it stopped.
    assert [r["step"] for r in read_metrics(tmp_path / "resumed" / "metrics.jsonl")] == [2, 3, 4, 6]


def test_a_different_seed_gives_different_weights(tiny_dataset, tmp_path, tiny_run):
    _train(tiny_dataset, tmp_path / "other", "train.max_steps=6", "train.seed=1")
    assert not torch.equal(
        _weights(tiny_run)["input_projection.weight"], _weights(tmp_path / "other")["input_projection.weight"]
    )


# --------------------------------------------------------------------------- bad input
def _error(call, *args, **kwargs) -> MogenBenchError:
    with pytest.raises(MogenBenchError) as info:
        call(*args, **kwargs)
    return info.value


def test_unknown_model_preset_and_key_are_refused_before_work(tiny_dataset, tmp_path):
    out = tmp_path / "never"
    assert "did you mean 'mdm'" in str(_error(_train, tiny_dataset, out, model="mdn"))
    assert "presets of mdm: paper, tiny" in str(_error(_train, tiny_dataset, out, preset="small"))
    assert "did you mean 'model.layers'" in str(_error(_train, tiny_dataset, out, "model.layer=3"))
    assert "expects an integer" in str(_error(_train, tiny_dataset, out, "model.layers=two"))
    assert not out.exists()


def test_an_existing_run_folder_needs_resume(tiny_dataset, tiny_run):
    assert "--resume" in str(_error(_train, tiny_dataset, tiny_run, "train.max_steps=6"))


def test_resume_refuses_changes_that_alter_the_numbers(tiny_dataset, tiny_run):
    message = str(
        _error(train, TrainRequest("mdm", tiny_dataset, tiny_run, overrides=["train.lr=0.1"], resume=True))
    )
    assert "cannot change train.lr" in message


def test_resume_refuses_another_dataset(tiny_run, tmp_path):
    records = _records()[:10]
    other = prepare_dataset(
        RecordSource(tmp_path / "in", records, representation="humanml3d-263"), tmp_path / "ds"
    )
    message = str(_error(train, TrainRequest("mdm", other.folder, tiny_run, resume=True, progress=False)))
    assert "differs from the one this run was trained on" in message


def test_nothing_to_resume(tiny_dataset, tmp_path):
    assert "nothing to resume" in str(
        _error(train, TrainRequest("mdm", tiny_dataset, tmp_path / "new", resume=True))
    )


# --------------------------------------------------------------------------- DDP on two processes
def _ddp_worker(rank: int, port: int, dataset: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    result = _train(dataset, out, "train.max_steps=4", 'train.device="cpu"')
    Path(out, f"done{rank}").write_text(str(result.step))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_train_one_model(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    context = multiprocessing.get_context("fork")
    port = _free_port()
    processes = [
        context.Process(target=_ddp_worker, args=(r, port, str(tiny_dataset), str(out))) for r in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0, 0]
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2 and config["global_batch"] == 8
    assert (out / "done0").read_text() == "4" and (out / "done1").read_text() == "4"
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [2, 4]
    loaded = load_run(out)
    assert loaded.step == 4


def test_a_model_refuses_a_representation_it_cannot_use(tiny_dataset, tmp_path, monkeypatch):
    from baselines.mdm import MDM

    monkeypatch.setattr(MDM, "representations", ("smpl-rot6d-135",))
    message = str(_error(_train, tiny_dataset, tmp_path / "never", "train.max_steps=1"))
    assert "cannot be trained on humanml3d-263 features" in message and "smpl-rot6d-135" in message
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_tiny_mdm_learns_mogen_synth_on_a_cpu(tmp_path):
    """The `tiny` preset on MoGen-Synth `tiny`: the loss halves and generations follow their length."""
    from click.testing import CliRunner

    from mogen_bench.cli import cli

    runner = CliRunner()
    data = tmp_path / "synth"
    assert runner.invoke(cli, ["prepare", "synth", "--size", "tiny", "--out", str(data)]).exit_code == 0
    out = tmp_path / "run"
    result = runner.invoke(
        cli, ["train", "mdm", "--preset", "tiny", "--dataset", str(data), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl")]
    assert losses[-1] < 0.5 * losses[0]
    generated = load_run(out).model.generate(["a person raises the left arm"], 60, seed=0)
    assert generated.features.shape[1] == 60 and torch.isfinite(generated.features).all()


def test_too_few_motions_for_one_batch_is_refused_before_the_run_folder(tiny_dataset, tmp_path):
    message = str(
        _error(_train, tiny_dataset, tmp_path / "never", "train.batch_size=64", "train.max_steps=1")
    )
    assert "fewer than one batch of 64" in message
    assert not (tmp_path / "never").exists()


def test_max_epochs_sets_the_steps_from_the_training_split(tiny_dataset, tmp_path):
    # 24 training motions in batches of 4: 6 batches per epoch; 3 epochs with 2 batches per step: 9 steps.
    result = _train(tiny_dataset, tmp_path / "run", "train.max_epochs=3", "train.accumulate=2")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["train"]["max_epochs"] == 3
    assert config["config"]["train"]["max_steps"] == 9
    assert result.step == 9
    assert load_checkpoint(find_latest_checkpoint(tmp_path / "run"))["batches_done"] == 18
    # checkpoint_every = 0: one checkpoint, at the end.
    _train(tiny_dataset, tmp_path / "end", "train.max_steps=4", "train.checkpoint_every=0")
    assert [p.name for p in (tmp_path / "end" / "checkpoints").iterdir()] == ["step-00000004.pt"]
    with pytest.raises(MogenBenchError, match="max_epochs must be >= 0"):
        _train(tiny_dataset, tmp_path / "never", "train.max_epochs=-1")
    # Resuming with a step count replaces the epoch count: 11 steps, not 9.
    resumed = TrainRequest(
        "mdm", tiny_dataset, tmp_path / "run", overrides=["train.max_steps=11"], resume=True, progress=False
    )
    assert train(resumed).step == 11
    # config.json says what the run now trains, and when and how the resume changed it.
    again = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (again["config"]["train"]["max_steps"], again["config"]["train"]["max_epochs"]) == (11, 0)
    assert [(r["step"], r["changed"]) for r in again["resumes"]] == [
        (9, {"train.max_steps": [9, 11], "train.max_epochs": [3, 0]})
    ]
    assert again["created"] == config["created"] and again["context"] == config["context"]
    # A resume that changes nothing leaves config.json as it was.
    before = (tmp_path / "run" / "config.json").read_bytes()
    train(TrainRequest("mdm", tiny_dataset, tmp_path / "run", resume=True, progress=False))
    assert (tmp_path / "run" / "config.json").read_bytes() == before


def test_a_step_count_on_the_command_line_turns_a_presets_epochs_off(tiny_dataset, tmp_path):
    from mogen_bench.training.loop import _fresh_config

    def resolved(*overrides: str):
        from baselines.teach import TEACH

        request = TrainRequest(model="teach", dataset=tiny_dataset, out=tmp_path, preset="paper")
        request.overrides = list(overrides)
        return _fresh_config(request, TEACH)["train"]

    assert (resolved().max_epochs, resolved("train.max_steps=500").max_epochs) == (1001, 0)
    assert resolved("train.max_steps=500").max_steps == 500
    assert resolved("train.max_steps=500", "train.max_epochs=2").max_epochs == 2


def test_max_minutes_stops_at_the_first_step_past_the_budget(tiny_dataset, tmp_path):
    # A budget of 6 ms: spent after the first step, which is logged and checkpointed as the run's last.
    result = _train(tiny_dataset, tmp_path / "run", "train.max_steps=50", "train.max_minutes=1e-4")
    assert result.step == 1 and result.checkpoint.name == "step-00000001.pt"
    (record,) = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert record["step"] == 1 and record["stopped"] == "max_minutes"
    assert (
        "stopped"
        not in read_metrics(
            _train(tiny_dataset, tmp_path / "all", "train.max_steps=2").run_dir / "metrics.jsonl"
        )[-1]
    )
    with pytest.raises(MogenBenchError, match="max_minutes must be >= 0"):
        _train(tiny_dataset, tmp_path / "never", "train.max_minutes=-1")
