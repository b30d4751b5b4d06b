"""A tiny learnable dataset and a tiny MDM trained on it: shared by the training and generation tests."""

from __future__ import annotations

import numpy as np
import torch

from annotation.model import Stage
from mogen_bench.data.schema import Caption, MotionRecord
from mogen_bench.training.checkpoint import find_latest_checkpoint, load_checkpoint
from mogen_bench.training.loop import TrainRequest, train

DIMS = 263

#: A very small MDM: every piece of the real model, a few thousand parameters.
TINY = [
    "model.layers=1",
    "model.latent_dim=32",
    "model.heads=2",
    "model.ff_dim=64",
    "model.learned_dim=16",
    "model.learned_layers=1",
    "model.learned_heads=2",
    "model.diffusion_steps=100",
    'model.sampling_steps="ddim5"',
    "train.batch_size=4",
    "train.lr=1e-3",
    "train.log_every=2",
    "train.checkpoint_every=3",
    "data.max_frames=40",
    'data.feature_cache=""',
]


def _records(count: int = 28, test_from: int = 24) -> list[MotionRecord]:
    rng = np.random.default_rng(3)
    verbs = ["walks", "jumps", "waves", "kicks", "turns", "sits"]
    # Each verb has its own motion pattern, so a model that reads the text can learn the data.
    patterns = rng.normal(0.0, 1.0, (len(verbs), DIMS))
    records = []
    for i in range(count):
        frames = int(rng.integers(12, 60))
        wave = np.sin(np.arange(frames) / 4.0)[:, None]
        features = (patterns[i % 6] * wave + rng.normal(0.0, 0.1, (frames, DIMS))).astype(np.float32)
        split = "test" if i >= test_from else "train"
        motion_id = f"m{i:03d}"
        if i % 2:
            cut = frames // 2
            stages = [
                Stage(0, cut, overall=f"a person {verbs[i % 6]}", left_arm="the left arm swings"),
                Stage(cut, frames, overall=f"then {verbs[(i + 1) % 6]}", right_leg="the right leg kicks"),
            ]
            records.append(MotionRecord(motion_id, split, motion_id, features, 20.0, stages=stages))
        else:
            captions = [Caption(f"someone {verbs[i % 6]} slowly"), Caption(f"a man {verbs[i % 6]}")]
            records.append(MotionRecord(motion_id, split, motion_id, features, 20.0, captions=captions))
    return records


def _train(dataset, out, *extra, **request):
    options = dict(model="mdm", dataset=dataset, out=out, overrides=[*TINY, *extra], progress=False)
    options.update(request)
    return train(TrainRequest(**options))


def assert_same_weights(first: dict, second: dict) -> None:
    """Two model state dicts hold equal tensors and equal extra state (a text encoder's vocabulary)."""
    assert first.keys() == second.keys()
    for name, value in first.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, second[name]), name
        else:
            assert value == second[name], name


def interrupted_and_resumed(dataset, out, model: str, overrides: list[str], stop_at_step: int) -> dict:
    """Train ``model`` to ``stop_at_step``, resume it to the end; the newest checkpoint."""
    _train(dataset, out, model=model, overrides=overrides, stop_at_step=stop_at_step)
    train(TrainRequest(model=model, dataset=dataset, out=out, resume=True, progress=False))
    return load_checkpoint(find_latest_checkpoint(out))
