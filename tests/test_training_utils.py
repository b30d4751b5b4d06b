"""The trainer's model-agnostic parts: config resolution, checkpoints, RNG state, distributed helpers, EMA,
optimiser and schedule, the metrics log and the progress bar."""

from __future__ import annotations

import argparse
import importlib.machinery
import io
import json
import multiprocessing
import os
import pickle
import random
import re
import socket
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.training import checkpoint as ckpt
from mogen_bench.training.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    find_latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from mogen_bench.training.config import (
    TrainConfig,
    coerce_fields,
    config_to_dict,
    load_toml,
    parse_overrides,
    resolve_sections,
)
from mogen_bench.training.distributed import (
    all_gather_objects,
    all_gather_tensor,
    is_main,
    reduce_mean,
    reduce_mean_dict,
    seed_for,
    select_device,
    setup_distributed,
)
from mogen_bench.training.ema import ExponentialMovingAverage
from mogen_bench.training.metrics_log import (
    MetricsLog,
    TrainingProgress,
    open_tensorboard,
    read_metrics,
    tensorboard_available,
)
from mogen_bench.training.optim import build_optimizer, build_scheduler, lr_factor

# ------------------------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class TextSettings:
    layers: int = 2
    dropout: float = 0.1


@dataclass(frozen=True)
class ToyModelConfig:
    layers: int = 4
    name: str = "toy"
    kind: Literal["encoder", "decoder"] = "encoder"
    clip_weights: str | None = None
    widths: tuple[int, ...] = (64, 128)
    text: TextSettings = field(default_factory=TextSettings)
    loss_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.layers < 1:
            raise MogenBenchError(f"layers must be >= 1, got {self.layers}", field="layers", fix="use 4")


@dataclass(frozen=True)
class NeedsName:
    name: str


SECTIONS = {"train": TrainConfig, "model": ToyModelConfig}


def _error(function, *args, **kwargs) -> MogenBenchError:
    with pytest.raises(MogenBenchError) as info:
        function(*args, **kwargs)
    return info.value


def test_train_config_defaults_coercion_and_global_batch():
    config = TrainConfig(step_milestones=[10, 20], adam_betas=[0.9, 0.99], lr=1, batch_size=8, accumulate=4)
    assert config.step_milestones == (10, 20) and config.adam_betas == (0.9, 0.99)
    assert isinstance(config.lr, float) and config.lr == 1.0
    assert config.global_batch_size(8) == 256
    assert TrainConfig().precision == "auto" and TrainConfig().schedule == "constant"


@pytest.mark.parametrize(
    ("changes", "field_name", "words"),
    [
        ({"lr": 0.0}, "lr", "positive"),
        ({"batch_size": 0}, "batch_size", ">= 1"),
        ({"accumulate": 0}, "accumulate", ">= 1"),
        ({"adam_betas": (1.0, 0.9)}, "adam_betas", "[0, 1)"),
        ({"schedule": "step"}, "step_milestones", "needs at least one milestone"),
        ({"schedule": "step", "step_milestones": (20, 10)}, "step_milestones", "increasing"),
        ({"ema_decay": 1.0}, "ema_decay", "[0, 1)"),
        ({"min_lr_ratio": 2.0}, "min_lr_ratio", "[0, 1]"),
        ({"optimizer": "sgd"}, "optimizer", 'one of "adamw", "adam"'),
        ({"precision": "fp16"}, "precision", 'one of "auto", "fp32", "bf16"'),
        ({"max_steps": "many"}, "max_steps", 'expects an integer, got "many"'),
        ({"grad_clip": -1.0}, "grad_clip", ">= 0"),
    ],
)
def test_train_config_rejects_bad_values(changes, field_name, words):
    error = _error(TrainConfig, **changes)
    assert error.field == field_name
    assert words in error.message
    assert error.fix


def test_parse_overrides_reads_toml_literals_and_bare_strings():
    layer = parse_overrides(
        [
            "train.lr=3e-4",
            "model.layers=4",
            'model.name="x y"',
            "model.kind=decoder",
            "train.adam_betas=[0.8, 0.9]",
            "model.text.layers=6",
            "train.ema_decay = 0.999",
            "model.flag=true",
            "model.path=/tmp/a=b",
            "train.lr=1e-3",
        ]
    )
    assert layer == {
        "train": {"lr": 1e-3, "adam_betas": [0.8, 0.9], "ema_decay": 0.999},
        "model": {"layers": 4, "name": "x y", "kind": "decoder", "text": {"layers": 6}, "flag": True,
                  "path": "/tmp/a=b"},
    }  # fmt: skip


@pytest.mark.parametrize("item", ["train.lr", "lr=3e-4", ".lr=1", "train.=1"])
def test_parse_overrides_rejects_malformed_items(item):
    error = _error(parse_overrides, [item])
    assert "SECTION.KEY=VALUE" in error.fix


def test_resolve_sections_applies_layers_in_order():
    preset = {"train": {"lr": 2e-4, "max_steps": 100, "schedule": "step", "step_milestones": [50]}}
    user = {"train": {"max_steps": 200}, "model": {"layers": 8, "text": {"dropout": 0.2}}}
    overrides = parse_overrides(["train.lr=1e-4", "model.text.layers=3", "model.clip_weights=none"])
    resolved = resolve_sections(SECTIONS, preset, None, user, overrides)
    train, model = resolved["train"], resolved["model"]
    assert (train.lr, train.max_steps, train.schedule, train.step_milestones) == (1e-4, 200, "step", (50,))
    assert train.batch_size == TrainConfig().batch_size  # set nowhere: the default
    assert model.layers == 8 and model.text == TextSettings(layers=3, dropout=0.2)
    assert model.clip_weights is None and model.name == "toy"


def test_resolve_sections_coerces_types():
    layer = {
        "train": {"max_steps": 1e5, "lr": 1, "step_milestones": 7, "schedule": "step"},
        "model": {"name": 2024, "widths": [1, 2.0, "3"], "loss_weights": {"mse": 1, "kl": "0.5"}},
    }
    resolved = resolve_sections(SECTIONS, layer)
    assert resolved["train"].max_steps == 100_000 and isinstance(resolved["train"].max_steps, int)
    assert resolved["train"].lr == 1.0 and resolved["train"].step_milestones == (7,)
    assert resolved["model"].name == "2024"
    assert resolved["model"].widths == (1, 2, 3)
    assert resolved["model"].loss_weights == {"mse": 1.0, "kl": 0.5}


def test_resolve_sections_type_errors_name_key_value_and_file():
    overrides = parse_overrides(["model.layers=four"])
    error = _error(resolve_sections, SECTIONS, {}, overrides, sources=["preset.toml", "--set"])
    assert error.message == 'model.layers expects an integer, got "four"'
    assert error.field == "model.layers" and error.file == "--set"
    assert str(error).startswith("--set: field 'model.layers': ")

    error = _error(resolve_sections, SECTIONS, {"train": {"adam_betas": [0.9]}}, sources=["my.toml"])
    assert error.message == "train.adam_betas expects a list of 2 numbers, got [0.9]"
    assert error.file == "my.toml"
    error = _error(resolve_sections, SECTIONS, {"train": {"max_steps": 2.5}})
    assert error.message == "train.max_steps expects an integer, got 2.5"
    error = _error(resolve_sections, SECTIONS, {"model": {"widths": [1, "x"]}})
    assert error.message == 'model.widths[1] expects an integer, got "x"'
    error = _error(resolve_sections, SECTIONS, {"train": {"precision": "bf61"}})
    assert 'did you mean "bf16"' in error.message
    error = _error(resolve_sections, SECTIONS, {"model": {"text": 3}})
    assert error.message == "model.text expects a table of TextSettings settings, got 3"


def test_resolve_sections_unknown_names_suggest_the_nearest():
    error = _error(resolve_sections, SECTIONS, parse_overrides(["train.lrr=1e-4"]), sources=["--set"])
    assert error.message == "unknown key 'train.lrr' (did you mean 'train.lr'?)"
    assert error.field == "train.lrr" and error.file == "--set"
    assert error.fix.startswith("valid keys in [train]: max_steps, max_epochs, max_minutes, batch_size")
    error = _error(resolve_sections, SECTIONS, {"trian": {"lr": 1}}, sources=["user.toml"])
    assert error.message == "unknown section 'trian' (did you mean 'train'?)" and error.file == "user.toml"
    assert error.fix == "valid sections in the config: train, model"
    error = _error(resolve_sections, SECTIONS, {"model": {"text": {"layer": 1}}})
    assert error.message == "unknown key 'model.text.layer' (did you mean 'model.text.layers'?)"
    error = _error(resolve_sections, SECTIONS, {"model": {"zzz": 1}})
    assert "did you mean" not in error.message


def test_resolve_sections_dataclass_checks_name_section_and_origin():
    layers = ({"train": {"lr": 1e-4}}, {"train": {"lr": -1}})
    error = _error(resolve_sections, SECTIONS, *layers, sources=["preset", "mine.toml"])
    assert error.field == "train.lr" and error.file == "mine.toml"
    assert error.message == "train.lr must be a positive number, got -1.0"
    error = _error(resolve_sections, SECTIONS, {"model": {"layers": 0}})
    assert error.field == "model.layers" and error.message == "model.layers must be >= 1, got 0"
    error = _error(resolve_sections, {"model": NeedsName}, {})
    assert error.message == "model.name has no default and is not set"


def test_config_json_round_trip(tmp_path):
    overrides = parse_overrides(["train.step_milestones=[5, 9]", "model.text.layers=1"])
    resolved = resolve_sections(SECTIONS, overrides)
    data = config_to_dict(resolved)
    assert data["train"]["step_milestones"] == [5, 9]
    assert data["model"]["text"] == {"layers": 1, "dropout": 0.1}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert resolve_sections(SECTIONS, json.loads(path.read_text())) == resolved


def test_load_toml(tmp_path):
    good = tmp_path / "run.toml"
    good.write_text('[train]\nlr = 2e-4\nstep_milestones = [10]\n\n[model]\nname = "x"\n')
    assert load_toml(good) == {"train": {"lr": 2e-4, "step_milestones": [10]}, "model": {"name": "x"}}
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlr = 2e-4\nmax_steps = \n")
    error = _error(load_toml, bad)
    assert error.file == str(bad) and "invalid TOML" in error.message and "line 3" in error.message
    assert _error(load_toml, tmp_path / "missing.toml").message == "no such file"


# -------------------------------------------------------------------------------------------- checkpoints


def _payload() -> dict:
    return {
        "model_name": "toy",
        "step": 7,
        "model": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.zeros(3)},
        "history": [1.5, None, "x", (1, 2)],
    }


def test_checkpoint_round_trip(tmp_path):
    path = save_checkpoint(checkpoint_path(tmp_path, 7), _payload())
    assert path == tmp_path / "checkpoints" / "step-00000007.pt"
    state = load_checkpoint(path, expect_model="toy")
    assert state["format"] == "mogen-bench-checkpoint" and state["format_version"] == 1
    assert state["step"] == 7 and state["history"] == [1.5, None, "x", (1, 2)]
    assert torch.equal(state["model"]["w"], _payload()["model"]["w"])
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(path, {"format": "mine"})


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "step-00000001.pt"
    save_checkpoint(path, _payload())
    before = path.read_bytes()

    def failing_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {**_payload(), "step": 8})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001.pt"]  # no temporary file left
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 7


def test_checkpoint_errors(tmp_path):
    good = save_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000003.pt", _payload())
    assert "no such checkpoint" in _error(load_checkpoint, tmp_path / "nope.pt").message
    error = _error(load_checkpoint, tmp_path / "run")
    assert "is a folder" in error.message and str(good) in error.fix

    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in (truncated, garbage, empty):
        error = _error(load_checkpoint, path)
        assert "corrupt or truncated" in error.message and error.file == str(path)

    foreign = tmp_path / "model000475000.pt"  # an MDM-style file with an argparse Namespace inside
    torch.save({"args": argparse.Namespace(arch="trans_enc"), "model": {"w": torch.ones(1)}}, foreign)
    error = _error(load_checkpoint, foreign)
    assert error.message.startswith(
        "not a mogen-bench checkpoint: it holds pickled Python objects (argparse.Namespace)"
    )
    # A global of a module the reader blocks (os.system) is refused by a different message; it is still
    # named as pickled objects, never taken for a damaged file, and never run.
    marker = tmp_path / "ran"
    malicious = tmp_path / "malicious.pt"
    torch.save({"model": _RunsCommand(f"touch {marker}")}, malicious)
    error = _error(load_checkpoint, malicious)
    refused = r"not a mogen-bench checkpoint: it holds pickled Python objects \((posix|nt)\.system\)"
    assert re.match(refused, error.message)
    assert not marker.exists()
    plain_pickle = tmp_path / "data.pkl"
    plain_pickle.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    assert "not a PyTorch file" in _error(load_checkpoint, plain_pickle).message

    bare = tmp_path / "bare.pt"
    torch.save({"layer.weight": torch.ones(2, 2), "layer.bias": torch.ones(2)}, bare)
    error = _error(load_checkpoint, bare)
    assert error.message == "not a mogen-bench checkpoint (a bare state dict of 2 tensors)"
    mmcv_like = tmp_path / "mmcv.pth"
    torch.save({"meta": {"epoch": 12}, "state_dict": {"w": torch.ones(1)}}, mmcv_like)
    error = _error(load_checkpoint, mmcv_like)
    assert error.message == (
        "not a mogen-bench checkpoint (a dict with keys 'meta', 'state_dict' and no format marker)"
    )

    error = _error(load_checkpoint, good, expect_model="finemogen")
    assert error.message == "a checkpoint of model 'toy', not 'finemogen'"

    newer = tmp_path / "newer.pt"
    torch.save({"format": "mogen-bench-checkpoint", "format_version": 99}, newer)
    assert "newer than this mogen-bench reads" in _error(load_checkpoint, newer).message


class _RunsCommand:
    """Pickles as a call of ``os.system``: what a malicious checkpoint carries."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _draws() -> list:
    return [
        [random.random() for _ in range(3)],
        random.gauss(0.0, 1.0),
        np.random.rand(3).tolist(),
        float(np.random.randn()),
        torch.rand(3).tolist(),
        torch.randn(2).tolist(),
    ]


def test_rng_state_restores_every_generator_through_a_checkpoint(tmp_path):
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    random.gauss(0.0, 1.0)  # leaves a cached Gaussian in Python's state
    np.random.randn()  # and in NumPy's
    state = capture_rng_state()
    if torch.cuda.is_available():
        cuda_before = torch.rand(4, device="cuda").tolist()
    expected = _draws()
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    assert _draws() != expected
    restore_rng_state(load_checkpoint(path)["rng"])  # weights_only=True reads it back
    if torch.cuda.is_available():
        assert torch.rand(4, device="cuda").tolist() == cuda_before
    assert _draws() == expected
    with pytest.raises(MogenBenchError, match="random-number state is unreadable"):
        restore_rng_state({"python": {}})


def test_find_latest_and_prune_checkpoints(tmp_path):
    assert find_latest_checkpoint(tmp_path) is None
    folder = tmp_path / "checkpoints"
    for step in (100, 200, 300, 400, 500):
        save_checkpoint(checkpoint_path(tmp_path, step), {"step": step})
        os.utime(checkpoint_path(tmp_path, step), ns=(step * 10**9, step * 10**9))
    last = folder / "last.pt"
    save_checkpoint(last, {"step": 450})
    os.utime(last, ns=(450 * 10**9, 450 * 10**9))
    (folder / ".step-00000600.pt.abc123.tmp").write_bytes(b"interrupted")
    (folder / "notes.txt").write_text("kept")

    assert find_latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 500)
    assert find_latest_checkpoint(folder) == checkpoint_path(tmp_path, 500)
    os.utime(last, ns=(600 * 10**9, 600 * 10**9))
    assert find_latest_checkpoint(tmp_path) == last

    assert prune_checkpoints(tmp_path, 0) == [folder / ".step-00000600.pt.abc123.tmp"]
    removed = prune_checkpoints(folder, 2)
    assert sorted(p.name for p in removed) == ["step-00000100.pt", "step-00000200.pt", "step-00000300.pt"]
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == ["last.pt", "notes.txt", "step-00000400.pt", "step-00000500.pt"]
    prune_checkpoints(folder, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "notes.txt", "step-00000500.pt"]


# -------------------------------------------------------------------------------------------- distributed


def test_single_process_context_and_collectives(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = setup_distributed("cpu")
    assert (context.rank, context.world_size, context.is_main, context.is_distributed) == (0, 1, True, False)
    assert context.device == torch.device("cpu")
    assert all_gather_objects({"a": 1}) == [{"a": 1}]
    values = torch.tensor([[1, 2], [3, 4]])
    assert all_gather_tensor(values) is values
    mean = reduce_mean(torch.tensor([3, 4]))
    assert mean.dtype == torch.float64 and mean.tolist() == [3.0, 4.0]
    assert reduce_mean_dict({"loss": 2}) == {"loss": 2.0}
    context.barrier()
    context.cleanup()


def test_select_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto", local_rank=3) == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    error = _error(select_device, "cuda")
    assert error.field == "train.device" and "no CUDA device" in error.message and '"cpu"' in error.fix
    assert "unknown device 'tpu'" in _error(select_device, "tpu").message
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert select_device("cuda:0", local_rank=1) == torch.device("cuda", 0)
    assert "only 2 GPUs visible" in _error(select_device, "cuda", local_rank=2).message


def test_bad_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "zero")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert _error(setup_distributed, "cpu").field == "RANK"
    monkeypatch.setenv("RANK", "2")
    assert "outside WORLD_SIZE 2" in _error(setup_distributed, "cpu").message


def test_seed_for_is_a_stable_hash():
    # Pinned: the same keys must give the same seed on every machine and in every later version.
    assert seed_for(0) == 286175375
    assert seed_for(0, "init") == 1390732008
    assert seed_for(1234, "worker", 3) == 2601659727
    seeds = {seed_for(0, "rank", r) for r in range(64)} | {seed_for(1, "rank", r) for r in range(64)}
    assert len(seeds) == 128 and all(0 <= s < 2**32 for s in seeds)
    assert seed_for(0, 1) != seed_for(0, "1")
    with pytest.raises(TypeError):
        seed_for(0, 1.5)


def _gloo_worker(rank: int, port: int, out_dir: str) -> None:
    """One of two processes: joins the group as torchrun would set it up, runs every collective."""
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    context = setup_distributed("cpu")
    rows = (torch.arange(3 - rank, dtype=torch.float32) + 10 * rank)[:, None].repeat(1, 2)
    result = {
        "rank": context.rank,
        "world_size": context.world_size,
        "backend": context.backend,
        "is_main": is_main(),
        "objects": all_gather_objects({"rank": rank, "name": f"p{rank}"}),
        "tensor": all_gather_tensor(rows).tolist(),
        "flags": all_gather_tensor(torch.tensor([rank == 0, True])).tolist(),
        "mean": reduce_mean(torch.tensor([1.0 + rank, 4.0 * rank])).tolist(),
        "means": context.reduce_mean_dict({"loss": float(rank), "mse": 2.0}),
    }
    context.barrier()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    context.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_gather_and_reduce(tmp_path):
    # Forked, not spawned: a fresh interpreter would spend seconds importing torch again.
    context = multiprocessing.get_context("fork")
    port = _free_port()
    processes = [context.Process(target=_gloo_worker, args=(rank, port, str(tmp_path))) for rank in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    for process in processes:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in processes] == [0, 0]
    results = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    # 3 rows from rank 0, then 2 from rank 1
    rows = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [10.0, 10.0], [11.0, 11.0]]
    for rank, result in enumerate(results):
        assert (result["rank"], result["world_size"], result["backend"]) == (rank, 2, "gloo")
        assert result["is_main"] == (rank == 0)
        assert result["objects"] == [{"rank": 0, "name": "p0"}, {"rank": 1, "name": "p1"}]
        assert result["tensor"] == rows
        assert result["flags"] == [True, True, False, True]
        assert result["mean"] == [1.5, 2.0]
        assert result["means"] == {"loss": 0.5, "mse": 2.0}


# ----------------------------------------------------------------------------------------------------- EMA


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.norm = nn.BatchNorm1d(1)
        self.frozen = nn.Parameter(torch.ones(1), requires_grad=False)
        self.register_buffer("table", torch.zeros(2), persistent=False)

    def set_all(self, value: float) -> None:
        with torch.no_grad():
            for tensor in (self.linear.weight, self.linear.bias, self.norm.weight, self.norm.running_mean):
                tensor.fill_(value)


def test_ema_golden_values():
    model = _Tiny()
    model.set_all(1.0)
    ema = ExponentialMovingAverage(model, decay=0.9)
    assert ema.names == [
        "linear.weight", "linear.bias", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var"
    ]  # fmt: skip
    model.set_all(2.0)
    ema.update(model)
    model.set_all(3.0)
    ema.update(model)
    # 0.9 * (0.9 * 1 + 0.1 * 2) + 0.1 * 3 = 1.29
    for name in ("linear.weight", "linear.bias", "norm.weight", "norm.running_mean"):
        assert ema.shadow[name].flatten().tolist() == pytest.approx([1.29] * ema.shadow[name].numel())
    assert ema.shadow["norm.bias"].tolist() == [0.0]  # 0 all along
    assert ema.num_updates == 2

    model.norm.num_batches_tracked.fill_(5)
    with ema.swapped(model) as swapped:
        assert swapped is model
        assert model.linear.weight.flatten().tolist() == pytest.approx([1.29, 1.29])
        assert model.norm.num_batches_tracked.item() == 5  # integer buffers are not averaged
    assert model.linear.weight.flatten().tolist() == [3.0, 3.0]
    assert model.norm.running_mean.tolist() == [3.0]

    restored = ExponentialMovingAverage(_Tiny(), decay=0.9)
    restored.load_state_dict(ema.state_dict())
    assert restored.num_updates == 2
    other = _Tiny()
    restored.copy_to(other)
    assert other.norm.weight.tolist() == pytest.approx([1.29])

    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)

    with pytest.raises(MogenBenchError, match="does not fit this model"):
        ExponentialMovingAverage(Other(), 0.9).load_state_dict(ema.state_dict())
    with pytest.raises(MogenBenchError, match=r"\(0, 1\)"):
        ExponentialMovingAverage(model, 1.0)


# --------------------------------------------------------------------------------------- optimiser, schedule


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(4, 3)
        self.linear = nn.Linear(3, 3)
        self.norm = nn.LayerNorm(3)
        self.frozen = nn.Linear(3, 3).requires_grad_(False)


def test_build_optimizer_groups_and_type():
    net = _Net()
    optimizer = build_optimizer(net, TrainConfig(weight_decay=0.1, lr=3e-4, adam_betas=(0.8, 0.95)))
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(net.embed.weight), id(net.linear.weight)}
    assert {id(p) for p in plain["params"]} == {id(net.linear.bias), id(net.norm.weight), id(net.norm.bias)}
    assert decayed["lr"] == 3e-4 and decayed["betas"] == (0.8, 0.95)

    adam = build_optimizer(net.named_parameters(), TrainConfig(optimizer="adam"))
    assert type(adam) is torch.optim.Adam and len(adam.param_groups) == 1
    assert len(adam.param_groups[0]["params"]) == 5 and adam.param_groups[0]["weight_decay"] == 0.0
    with pytest.raises(MogenBenchError, match="no trainable parameters"):
        build_optimizer(net.frozen, TrainConfig())


def _lrs(config: TrainConfig, steps: int) -> list[float]:
    optimizer = build_optimizer(nn.Linear(2, 2), config)
    scheduler = build_scheduler(optimizer, config)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_finemogen_step_schedule():
    # FineMoGen: Adam, lr 2e-4, then 2e-5 from the milestone on (mmcv StepLrUpdater, gamma 0.1).
    config = TrainConfig(optimizer="adam", lr=2e-4, schedule="step", step_milestones=(10,), max_steps=12)
    lrs = _lrs(config, 12)
    assert lrs[:10] == pytest.approx([2e-4] * 10, rel=1e-12)
    assert lrs[10:] == pytest.approx([2e-5] * 2, rel=1e-12)
    two = TrainConfig(lr=1.0, schedule="step", step_milestones=(2, 4), step_gamma=0.5, max_steps=6)
    assert _lrs(two, 6) == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])


def test_warmup_and_cosine_schedule():
    config = TrainConfig(lr=1.0, schedule="cosine", warmup_steps=4, max_steps=12, min_lr_ratio=0.1)
    lrs = _lrs(config, 13)
    assert lrs[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])  # (s + 1) / (warmup + 1)
    assert lrs[4] == pytest.approx(1.0)
    assert lrs[8] == pytest.approx(0.55)  # half-way: 0.1 + 0.9 * 0.5
    assert lrs[12] == pytest.approx(0.1)  # the end: min_lr_ratio
    assert lr_factor(1000, config) == pytest.approx(0.1)  # past max_steps it stays there
    assert _lrs(TrainConfig(lr=0.5, warmup_steps=1), 3) == pytest.approx([0.25, 0.5, 0.5])


def test_scheduler_resumes_from_its_state_dict(tmp_path):
    config = TrainConfig(lr=1.0, schedule="cosine", warmup_steps=2, max_steps=10)
    optimizer = build_optimizer(nn.Linear(2, 2), config)
    scheduler = build_scheduler(optimizer, config)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    path = save_checkpoint(tmp_path / "s.pt", {"scheduler": scheduler.state_dict()})
    fresh_optimizer = build_optimizer(nn.Linear(2, 2), config)
    fresh = build_scheduler(fresh_optimizer, config)
    fresh.load_state_dict(load_checkpoint(path)["scheduler"])
    assert fresh.last_epoch == 5
    assert fresh.get_last_lr() == pytest.approx([lr_factor(5, config)])
    fresh_optimizer.step()
    fresh.step()
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(lr_factor(6, config))


def test_pieces_resume_bit_identically(tmp_path):
    """Optimiser, schedule, EMA and RNG states through a checkpoint: 4 + resume + 4 steps == 8 straight."""
    config = TrainConfig(lr=1e-2, schedule="cosine", warmup_steps=2, max_steps=8, weight_decay=0.1)

    def make():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Dropout(0.3), nn.Linear(8, 1))
        optimizer = build_optimizer(model, config)
        return model, optimizer, build_scheduler(optimizer, config), ExponentialMovingAverage(model, 0.9)

    def run(model, optimizer, scheduler, ema, steps):
        for _ in range(steps):
            x = torch.randn(16, 4) + float(np.random.rand()) + random.random()  # all three generators
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
            scheduler.step()
            ema.update(model)
        return [t.clone() for t in [*model.parameters(), *ema.shadow.values()]]

    def seed_all(seed):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    parts = make()
    seed_all(5)
    straight = run(*parts, 8)
    model, optimizer, scheduler, ema = parts = make()
    seed_all(5)
    run(*parts, 4)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "ema": ema.state_dict(),
        "rng": capture_rng_state(),
    }
    save_checkpoint(checkpoint_path(tmp_path, 4), state)
    seed_all(99)
    model, optimizer, scheduler, ema = parts = make()
    state = load_checkpoint(find_latest_checkpoint(tmp_path))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    ema.load_state_dict(state["ema"])
    restore_rng_state(state["rng"])
    resumed = run(*parts, 4)
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed, strict=True))


# ------------------------------------------------------------------------------------ metrics log, progress


def test_metrics_log_round_trip(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    with MetricsLog(path, enabled=True) as log:
        log.write(
            {"step": 1, "loss": torch.tensor(0.5), "lr": np.float32(0.25), "bad": float("nan"), "time": 1.0}
        )
        log.write({"step": 2, "loss": 0.25})
    records = read_metrics(path)
    assert records[0] == {"step": 1, "loss": 0.5, "lr": 0.25, "bad": None, "time": 1.0}
    assert records[1]["step"] == 2 and isinstance(records[1]["time"], float)

    with path.open("a") as handle:
        handle.write('{"step": 3, "lo')  # killed mid-write
    assert [r["step"] for r in read_metrics(path)] == [1, 2]

    MetricsLog(path, enabled=True, resume_step=1)  # resuming from step 1 drops what came after it
    assert [r["step"] for r in read_metrics(path)] == [1]

    quiet = tmp_path / "rank1" / "metrics.jsonl"
    MetricsLog(quiet, enabled=False, resume_step=0).write({"step": 1, "loss": 1.0})
    assert not quiet.parent.exists()

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    error = _error(read_metrics, broken)
    assert error.message == "line 2 is not a JSON record" and error.file == str(broken)


def test_tensorboard_is_optional(tmp_path, monkeypatch):
    if importlib.util.find_spec("tensorboard") is None:
        assert not tensorboard_available() and open_tensorboard(tmp_path) is None
    calls = []

    class FakeWriter:
        def __init__(self, log_dir):
            calls.append(("open", log_dir))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            calls.append(("close",))

    fake_tensorboard = types.ModuleType("tensorboard")
    fake_tensorboard.__spec__ = importlib.machinery.ModuleSpec("tensorboard", None)
    fake_torch_tb = types.ModuleType("torch.utils.tensorboard")
    fake_torch_tb.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "tensorboard", fake_tensorboard)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake_torch_tb)
    assert tensorboard_available()
    with MetricsLog(tmp_path / "metrics.jsonl", enabled=True) as log:
        log.write({"step": 5, "loss": 0.5, "note": "text", "time": 2.0})
    assert calls == [("open", str(tmp_path / "tensorboard")), ("loss", 0.5, 5), ("close",)]
    MetricsLog(tmp_path / "m2.jsonl", enabled=True, tensorboard=False).write({"step": 1})
    assert len(calls) == 3


def test_progress_bar_only_in_a_terminal():
    from rich.console import Console

    piped = io.StringIO()
    with TrainingProgress(10, start=2, console=Console(file=piped, force_terminal=False)) as progress:
        assert not progress.enabled
        progress.update(3, 0.5)
    assert piped.getvalue() == ""

    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=100)
    with TrainingProgress(10, start=2, console=console) as progress:
        assert progress.enabled
        progress.update(3, 0.123456)
        progress._progress.refresh()
    output = terminal.getvalue()
    assert "3/10" in output and "loss 0.1235" in output and "ETA" in output

    console = Console(file=io.StringIO(), force_terminal=True)
    with TrainingProgress(10, enabled=False, console=console) as progress:
        assert not progress.enabled
