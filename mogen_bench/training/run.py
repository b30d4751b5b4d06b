"""Run folders: where a run keeps its config, checkpoints and log, and loading a trained model back.

    RUN_DIR/config.json                 the resolved config, the model's data context, the dataset, statistics
    RUN_DIR/checkpoints/step-NNNNNNNN.pt  checkpoints (the newest is the model; older ones are pruned)
    RUN_DIR/metrics.jsonl               one JSON line per logged step
    RUN_DIR/results.json                what ``mogen-bench evaluate`` writes

Generation and evaluation read the run folder, never repeated flags: ``load_run(RUN_DIR)`` rebuilds the
model from ``config.json``, loads the newest checkpoint (its EMA weights when the run kept an EMA) and
carries the normalisation statistics needed to turn the model's output back into features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.training.checkpoint import CHECKPOINT_FOLDER, find_latest_checkpoint, load_checkpoint
from mogen_bench.training.config import config_to_dict

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"

#: Model settings that name a file or folder. ``config.json`` writes one that lies inside the run folder
#: relative to it (a converted FineMoGen run's ``clip_text.safetensors``), so a run folder can be moved or
#: copied whole, and any other absolute, so the run reads the same file from any working directory.
PATH_SETTINGS = ("clip_weights", "prior_run")


@dataclass
class LoadedRun:
    """A trained model ready to generate, with what is needed to read its output."""

    run_dir: Path
    config: dict
    model: torch.nn.Module
    checkpoint: Path
    step: int
    mean: np.ndarray
    std: np.ndarray
    normalised: bool

    @property
    def representation(self):
        from mogen_bench.motion.representations import get_representation

        return get_representation(self.model.context.representation)

    def denormalise(self, features: torch.Tensor) -> torch.Tensor:
        """Model space -> stored features (identity for a run trained on raw features)."""
        if not self.normalised:
            return features
        mean = torch.as_tensor(self.mean, dtype=features.dtype, device=features.device)
        std = torch.as_tensor(self.std, dtype=features.dtype, device=features.device)
        return features * std + mean


def sections_for_config(sections: dict, run_dir: str | Path) -> dict:
    """The ``config`` entry of a run's ``config.json``: every section as plain data, paths as above."""
    config = {name: config_to_dict(section) for name, section in sections.items()}
    if "model" in config:
        folder = Path(run_dir).resolve()
        for key in PATH_SETTINGS:
            value = config["model"].get(key)
            if isinstance(value, str) and value.strip():
                path = Path(value).expanduser().resolve()
                inside = path.is_relative_to(folder)
                config["model"][key] = path.relative_to(folder).as_posix() if inside else str(path)
    return config


def model_settings_from_config(config: dict, run_dir: str | Path) -> dict:
    """The ``model`` section of a run's ``config.json`` with its relative paths joined to the run folder.

    Runs written before paths were kept this way may hold a path relative to the working directory they
    were trained from; one that exists from here and not inside the run folder is left as written.
    """
    model = dict(config["config"]["model"])
    for key in PATH_SETTINGS:
        value = model.get(key)
        if isinstance(value, str) and value.strip() and not Path(value).expanduser().is_absolute():
            inside = Path(run_dir) / value
            if inside.exists() or not Path(value).exists():
                model[key] = str(inside)
    return model


def read_run_config(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise MogenBenchError(
            "no such run folder", file=str(run_dir), fix="give the --out folder of a training run"
        )
    if not path.is_file():
        raise MogenBenchError(
            "not a run folder: it has no config.json",
            file=str(run_dir),
            fix="give the --out folder of `mogen-bench train`",
        )
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MogenBenchError(
            f"config.json is not valid JSON ({exc})", file=str(path), fix="restore the run's config.json"
        ) from exc


def load_run(
    run_dir: str | Path,
    checkpoint: str | Path | None = None,
    device: str | torch.device = "cpu",
    use_ema: bool = True,
    model_overrides: dict | None = None,
) -> LoadedRun:
    """The model of a run folder (newest checkpoint unless ``checkpoint`` names one), in eval mode.

    ``model_overrides`` changes model settings that do not touch the weights (sampler, steps, guidance,
    the CLIP weights path), e.g. ``{"sampling_steps": "ddim50"}``.
    """
    from mogen_bench.models.base import ModelContext
    from mogen_bench.models.registry import get_model_class
    from mogen_bench.training.config import resolve_sections

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    model_class = get_model_class(config["model"])
    path = Path(checkpoint) if checkpoint is not None else find_latest_checkpoint(run_dir)
    if path is None:
        raise MogenBenchError(
            "the run has no checkpoint yet (no model to use)",
            file=str(run_dir / CHECKPOINT_FOLDER),
            fix="train it first (`mogen-bench train ... --out RUN_DIR`), or give --checkpoint",
        )
    layers = [{"model": model_settings_from_config(config, run_dir)}]
    if model_overrides:
        layers.append({"model": dict(model_overrides)})
    model_config = resolve_sections({"model": model_class.config_class}, *layers)["model"]
    context = ModelContext.from_dict(config["context"])
    model = model_class(model_config, context)
    state = load_checkpoint(path, map_location="cpu", expect_model=model_class.name)
    weights = state["model"]
    if use_ema and state.get("ema") is not None:
        weights = {**weights, **state["ema"]["shadow"]}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise MogenBenchError(
            f"the checkpoint does not fit the run's model ({exc})".splitlines()[0],
            file=str(path),
            fix="use a checkpoint of this run, or restore its config.json",
        ) from exc
    model.to(device).eval()
    normalisation = config["normalisation"]
    return LoadedRun(
        run_dir=run_dir,
        config=config,
        model=model,
        checkpoint=path,
        step=int(state["step"]),
        mean=np.asarray(normalisation["mean"], np.float32),
        std=np.asarray(normalisation["std"], np.float32),
        normalised=bool(normalisation["applied"]),
    )
