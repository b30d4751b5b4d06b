"""The training loop every model uses: one process on a CPU or a GPU, many under ``torchrun``.

``train(TrainRequest(...))`` resolves the run's config (model defaults < preset < config file < ``--set``),
writes it to ``RUN_DIR/config.json``, and trains: length-bucketed batches (``LengthBucketSampler``, each
rank its share), gradient accumulation to reach a global batch on fewer devices (DDP gradients are
synchronised only on the last micro-batch), bf16 autocast on CUDA, gradient clipping, optional EMA, and a
step / cosine learning-rate schedule. The main process logs ``metrics.jsonl`` and writes checkpoints.

Resuming is exact. A checkpoint holds the model, optimiser, scheduler, EMA, the model's random generator,
every global RNG state, and the number of batches consumed; the data order is a function of
``(seed, epoch)`` only, so a resumed run skips the batches it has seen and continues with the same ones a
straight run would have drawn: on a CPU, N steps straight and N/2 + resume + N/2 give identical weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from annotation.files import atomic_write_text
from mogen_bench import __version__
from mogen_bench.data.batching import LengthBucketSampler
from mogen_bench.data.info import INFO_FILE
from mogen_bench.data.torch_dataset import MotionDataConfig, MotionDataset, collate_motions
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext, MotionModel
from mogen_bench.models.registry import get_model_class, load_preset
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
    load_toml,
    parse_overrides,
    resolve_sections,
)
from mogen_bench.training.distributed import DistributedContext, seed_for, setup_distributed
from mogen_bench.training.ema import ExponentialMovingAverage
from mogen_bench.training.metrics_log import MetricsLog, TrainingProgress
from mogen_bench.training.optim import build_optimizer, build_scheduler
from mogen_bench.training.run import (
    CONFIG_FILE,
    METRICS_FILE,
    model_settings_from_config,
    sections_for_config,
)

#: Settings a resumed run may change: they do not alter the numbers it computes.
RESUMABLE_KEYS = frozenset(
    {
        "train.max_steps",
        "train.max_epochs",
        "train.max_minutes",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.num_workers",
        "model.clip_weights",
        "model.text_cache",
    }
)


@dataclass
class TrainRequest:
    """One ``mogen-bench train`` invocation."""

    model: str
    dataset: str | Path
    out: str | Path
    preset: str | None = None
    config_file: str | Path | None = None
    overrides: Sequence[str] = ()
    resume: bool = False
    #: Stop after this many optimiser steps, as if interrupted (the config and schedule stay as they are).
    stop_at_step: int | None = None
    progress: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    last_losses: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- configuration
def _sections(model_class: type[MotionModel]) -> dict[str, type]:
    return {"model": model_class.config_class, "train": TrainConfig, "data": MotionDataConfig}


def _counting_steps(layer: dict) -> dict:
    """A layer that sets ``train.max_steps`` and not ``train.max_epochs`` counts steps: it turns off an
    earlier layer's epoch count (``--set train.max_steps=500`` on TEACH's paper preset trains 500 steps)."""
    train = layer.get("train")
    if isinstance(train, dict) and "max_steps" in train and "max_epochs" not in train:
        return {**layer, "train": {**train, "max_epochs": 0}}
    return layer


def _fresh_config(request: TrainRequest, model_class: type[MotionModel]) -> dict:
    layers = []
    if request.preset:
        layers.append(load_preset(model_class, request.preset))
    if request.config_file:
        layers.append(load_toml(request.config_file))
    layers.append(parse_overrides(list(request.overrides)))
    return resolve_sections(_sections(model_class), *(_counting_steps(layer) for layer in layers))


def _resumed_config(request: TrainRequest, model_class: type[MotionModel], saved: dict) -> dict:
    overrides = parse_overrides(list(request.overrides))
    changed = {f"{section}.{key}" for section, values in overrides.items() for key in values}
    refused = sorted(changed - RESUMABLE_KEYS)
    if refused or request.preset or request.config_file:
        what = ", ".join(refused) or "--preset/--config"
        raise MogenBenchError(
            f"a resumed run keeps its own config; cannot change {what}",
            file=str(Path(request.out) / CONFIG_FILE),
            fix=f"resume without them (only {', '.join(sorted(RESUMABLE_KEYS))} may change), "
            "or start a new run with --out",
        )
    # The saved paths are relative to the run folder (or absolute); the model reads them from here.
    layer = {**saved["config"], "model": model_settings_from_config(saved, request.out)}
    return resolve_sections(_sections(model_class), layer, _counting_steps(overrides))


def dataset_fingerprint(folder: Path) -> str:
    """A checksum of the prepared dataset (its ``dataset.json`` holds every shard's sha256)."""
    import hashlib

    return hashlib.sha256((folder / INFO_FILE).read_bytes()).hexdigest()


def _context(dataset: MotionDataset, data: MotionDataConfig) -> ModelContext:
    from mogen_bench.text import build_vocabulary

    info = dataset.dataset.info
    return ModelContext(
        representation=info.representation,
        dims=info.dims,
        fps=info.fps,
        max_frames=data.max_frames,
        part_slices={name: list(dims) for name, dims in info.part_slices.items()},
        vocabulary=list(build_vocabulary(dataset.texts.all_texts()).words),
        mean=None if dataset.mean is None else np.asarray(dataset.mean, np.float64).tolist(),
        std=None if dataset.std is None else np.asarray(dataset.std, np.float64).tolist(),
    )


# --------------------------------------------------------------------------- data order
def _batches(
    dataset: MotionDataset, sampler: LengthBucketSampler, loader_options: dict, start: int
) -> Iterator[dict]:
    """Batches forever, starting at the ``start``-th batch this rank draws (epoch after epoch)."""
    per_epoch = len(sampler)
    if per_epoch == 0:
        raise MogenBenchError(
            f"the training split has {len(dataset)} motions, fewer than one batch per process",
            field="train.batch_size",
            fix="lower train.batch_size",
        )
    epoch, skip = divmod(start, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        # A dedicated generator keeps DataLoader from drawing its base seed from the global RNG, which
        # would make a resumed run's dropout masks differ from a straight run's.
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=list(itertools.islice(iter(sampler), skip, None)),
            collate_fn=collate_motions,
            generator=torch.Generator(),
            **loader_options,
        )
        yield from loader
        epoch, skip = epoch + 1, 0


# --------------------------------------------------------------------------- the loop
def _autocast(device: torch.device, precision: str):
    # "auto" means bf16 only where the GPU has it (Ampere and newer); older GPUs stay in fp32.
    auto = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16" or (precision == "auto" and auto):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _check_run_dir(out: Path, resume: bool) -> None:
    config = out / CONFIG_FILE
    if resume and not config.is_file():
        raise MogenBenchError(
            "nothing to resume: the run folder has no config.json",
            file=str(out),
            fix="drop --resume to start a new run here",
        )
    if not resume and out.exists() and any(out.iterdir()):
        raise MogenBenchError(
            "the run folder already exists and is not empty",
            file=str(out),
            fix="add --resume to continue that run, or choose a new --out",
        )


def train(request: TrainRequest) -> TrainResult:
    """Train ``request.model`` on ``request.dataset`` into the run folder ``request.out``."""
    out = Path(request.out)
    model_class = get_model_class(request.model)
    _check_run_dir(out, request.resume)
    saved = json.loads((out / CONFIG_FILE).read_text("utf-8")) if request.resume else None
    if saved is not None and saved.get("model") != model_class.name:
        raise MogenBenchError(
            f"the run folder holds a {saved.get('model')!r} run, not {model_class.name!r}",
            file=str(out / CONFIG_FILE),
            fix=f"resume with `mogen-bench train {saved.get('model')}`",
        )
    if saved is not None and "converted_from" in saved:
        # Its step-0 checkpoint holds released weights only: no optimiser, schedule or data order to go on.
        raise MogenBenchError(
            "a converted released checkpoint was not trained here, so there is no training to resume",
            file=str(out / CONFIG_FILE),
            fix="generate or evaluate with the converted run as it is; train a new run with --out",
        )
    sections = _resumed_config(request, model_class, saved) if saved else _fresh_config(request, model_class)
    train_config: TrainConfig = sections["train"]
    data_config: MotionDataConfig = sections["data"]
    data_config.seed = train_config.seed

    dist = setup_distributed(train_config.device)
    try:
        return _train(request, out, model_class, sections, saved, dist)
    finally:
        dist.cleanup()


def _train(
    request: TrainRequest,
    out: Path,
    model_class: type[MotionModel],
    sections: dict,
    saved: dict | None,
    dist: DistributedContext,
) -> TrainResult:
    train_config: TrainConfig = sections["train"]
    data_config: MotionDataConfig = sections["data"]
    folder = Path(request.dataset)
    dataset = MotionDataset(folder, "train", data_config)
    fingerprint = dataset_fingerprint(folder)
    if saved is not None:
        if saved["dataset"]["fingerprint"] != fingerprint:
            raise MogenBenchError(
                "the dataset differs from the one this run was trained on",
                file=str(folder / INFO_FILE),
                fix=f"resume with the run's dataset ({saved['dataset']['path']})",
            )
        context = ModelContext.from_dict(saved["context"])
    else:
        context = _context(dataset, data_config)
    model_class.check_context(context)

    sampler = LengthBucketSampler(
        dataset.crop_lengths,
        train_config.batch_size,
        seed=train_config.seed,
        shuffle=True,
        drop_last=True,
        num_replicas=dist.world_size,
        rank=dist.rank,
    )
    if (train_config.max_steps > 0 or train_config.max_epochs > 0) and len(sampler) == 0:
        # Refused before the run folder is written, so fixing the batch size needs no clean-up.
        raise MogenBenchError(
            f"the training split has {len(dataset)} motions, fewer than one batch of "
            f"{train_config.batch_size} per process",
            field="train.batch_size",
            fix="lower train.batch_size",
        )
    if train_config.max_epochs > 0:
        # Every process draws len(sampler) batches per epoch; a step takes ``accumulate`` of them.
        steps = math.ceil(train_config.max_epochs * len(sampler) / train_config.accumulate)
        train_config = dataclasses.replace(train_config, max_steps=steps)
        sections["train"] = train_config
    device = dist.device
    torch.manual_seed(seed_for(train_config.seed, "init"))
    model = model_class(sections["model"], context).to(device)
    ema = ExponentialMovingAverage(model, train_config.ema_decay) if train_config.ema_decay > 0 else None
    optimizer = build_optimizer(model, train_config)
    scheduler = build_scheduler(optimizer, train_config)
    generator = torch.Generator(device=device).manual_seed(seed_for(train_config.seed, "model", dist.rank))
    wrapped = model
    if dist.world_size > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    step, batches_done = 0, 0
    if saved is not None:
        resume_from = find_latest_checkpoint(out)
        if resume_from is not None:
            state = load_checkpoint(resume_from, map_location=device, expect_model=model_class.name)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if ema is not None and state.get("ema") is not None:
                ema.load_state_dict(state["ema"])
            generator.set_state(state["generators"][dist.rank].to("cpu"))
            restore_rng_state(state["rng"][dist.rank])
            step, batches_done = int(state["step"]), int(state["batches_done"])
        if dist.is_main:
            _record_resume(out, saved, sections, step)
    elif dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / CONFIG_FILE,
            json.dumps(
                _run_config(out, model_class, sections, context, dataset, folder, fingerprint, dist),
                indent=2,
            )
            + "\n",
        )
    dist.barrier()

    loader_options = {"num_workers": train_config.num_workers, "pin_memory": device.type == "cuda"}
    batches = _batches(dataset, sampler, loader_options, batches_done)
    log = MetricsLog(out / METRICS_FILE, enabled=dist.is_main, resume_step=step if saved else None)
    end = (
        train_config.max_steps
        if request.stop_at_step is None
        else min(train_config.max_steps, request.stop_at_step)
    )
    progress = TrainingProgress(
        total=train_config.max_steps, start=step, enabled=request.progress and dist.is_main
    )
    last_checkpoint: Path | None = None
    losses_out: dict[str, float] = {}
    sums: dict[str, float] = {}
    window_start, window_samples, window_steps = time.perf_counter(), 0, 0
    budget = _Budget(train_config.max_minutes, dist)
    model.train()
    with progress, log:
        while step < end:
            optimizer.zero_grad(set_to_none=True)
            for micro in range(train_config.accumulate):
                batch = next(batches)
                batches_done += 1
                final = micro == train_config.accumulate - 1
                sync = contextlib.nullcontext() if final or wrapped is model else wrapped.no_sync()
                with sync:
                    with _autocast(device, train_config.precision):
                        losses = wrapped(batch, generator)
                    total = losses["loss"]
                    if not torch.isfinite(total):
                        raise MogenBenchError(
                            f"the loss became {total.item()} at step {step + 1} "
                            f"(motions {', '.join(batch['motion_ids'][:4])}...)",
                            field="train.lr",
                            fix="lower train.lr or set train.grad_clip; the last checkpoint is intact",
                        )
                    (total / train_config.accumulate).backward()
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach()) / train_config.accumulate
                window_samples += len(batch["lengths"])
            if train_config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update(model)
            step += 1
            window_steps += 1
            progress.update(step, sums.get("loss", math.nan) / window_steps)
            out_of_time = budget.spent()
            last = step == end or out_of_time

            if step % train_config.log_every == 0 or last:
                elapsed = time.perf_counter() - window_start
                means = {k: v / window_steps for k, v in sums.items()}
                means = dist.reduce_mean_dict(means)
                losses_out = means
                log.write(
                    {
                        "step": step,
                        "epoch": batches_done // max(len(sampler), 1),
                        **means,
                        "lr": scheduler.get_last_lr()[0],
                        "samples_per_s": window_samples * dist.world_size / max(elapsed, 1e-9),
                        "steps_per_s": window_steps / max(elapsed, 1e-9),
                        **({"stopped": "max_minutes"} if out_of_time else {}),
                    }
                )
                sums, window_start, window_samples, window_steps = {}, time.perf_counter(), 0, 0
            every = train_config.checkpoint_every  # 0: only at the end
            if (every and step % every == 0) or last:
                last_checkpoint = _save(
                    out, model_class, model, optimizer, scheduler, ema, generator, step, batches_done, dist
                )
                if dist.is_main:
                    prune_checkpoints(out, train_config.keep_checkpoints)
            if out_of_time:
                break
        if end == 0:
            # train.max_steps = 0: the model as built is the run's model (PriorMDM holds its trained prior).
            last_checkpoint = _save(
                out, model_class, model, optimizer, scheduler, ema, generator, step, batches_done, dist
            )
    return TrainResult(run_dir=out, step=step, checkpoint=last_checkpoint, last_losses=losses_out)


class _Budget:
    """``train.max_minutes`` from now; every process stops at the same step (rank 0's clock decides)."""

    def __init__(self, minutes: float, dist: DistributedContext):
        self.deadline = time.perf_counter() + 60.0 * minutes if minutes > 0 else None
        self.dist = dist

    def spent(self) -> bool:
        if self.deadline is None:
            return False
        late = time.perf_counter() >= self.deadline
        if self.dist.world_size > 1:
            late = bool(self.dist.all_gather_objects(late)[0])
        return late


def _save(out, model_class, model, optimizer, scheduler, ema, generator, step, batches_done, dist) -> Path:
    # Every rank's generator and RNG states go into the one file, so each resumes its own stream.
    generators = dist.all_gather_objects(generator.get_state().cpu())
    rng = dist.all_gather_objects(capture_rng_state())
    path = checkpoint_path(out, step)
    if dist.is_main:
        save_checkpoint(
            path,
            {
                "model_name": model_class.name,
                "step": step,
                "batches_done": batches_done,
                "model": model.state_dict(),
                "ema": None if ema is None else ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generators": generators,
                "rng": rng,
            },
        )
    dist.barrier()
    return path


def _run_config(out, model_class, sections, context, dataset, folder, fingerprint, dist) -> dict:
    info = dataset.dataset.info
    train_config: TrainConfig = sections["train"]
    return {
        "model": model_class.name,
        "config": sections_for_config(sections, out),
        "context": context.to_dict(),
        "dataset": {
            "path": str(folder.resolve()),
            "name": info.name,
            "source": info.source,
            "representation": info.representation,
            "fingerprint": fingerprint,
        },
        "normalisation": {
            "mean": np.asarray(dataset.mean if dataset.mean is not None else info.mean).tolist(),
            "std": np.asarray(dataset.std if dataset.std is not None else info.std).tolist(),
            "applied": data_normalised(sections),
        },
        "world_size": dist.world_size,
        "global_batch": train_config.batch_size * train_config.accumulate * dist.world_size,
        "tool": {"name": "mogen-bench", "version": __version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _record_resume(out: Path, saved: dict, sections: dict, step: int) -> None:
    """Keep ``config.json`` true to what the resumed run trains: the settings a resume changed (the
    ``RESUMABLE_KEYS``: a longer ``train.max_steps``, another ``train.max_minutes``, ...) replace the saved
    ones, and ``resumes`` lists each change with the step it took effect at, old and new values."""
    config = sections_for_config(sections, out)
    changed = {
        f"{name}.{key}": [saved["config"].get(name, {}).get(key), value]
        for name, values in config.items()
        for key, value in values.items()
        if saved["config"].get(name, {}).get(key) != value
    }
    if not changed:
        return
    saved = {**saved, "config": config}
    saved["resumes"] = [
        *saved.get("resumes", []),
        {"step": step, "changed": changed, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    ]
    atomic_write_text(out / CONFIG_FILE, json.dumps(saved, indent=2) + "\n")


def data_normalised(sections: dict) -> bool:
    return bool(sections["data"].normalise)
