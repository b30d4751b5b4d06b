"""The optimiser and the learning-rate schedule of a ``TrainConfig``.

Weight decay, when ``weight_decay > 0``, applies to the weight matrices and embeddings (tensors of two or
more dimensions) and never to biases, norm gains or other vectors, nanoGPT's rule: decaying a LayerNorm
gain towards zero shrinks the activations it normalises, and decaying biases buys no regularisation.
With ``optimizer = "adamw"`` the decay is decoupled (Loshchilov & Hutter); with ``"adam"`` it is PyTorch
Adam's L2 penalty added to the gradient.

The schedule is a factor on ``lr`` per optimiser step ``s`` (the scheduler is stepped once per optimiser
step): a linear warm-up ``(s + 1) / (warmup_steps + 1)`` for ``s < warmup_steps``, then

- constant: 1;
- step: ``step_gamma ** (number of milestones <= s)`` (FineMoGen: lr 2e-4, then 2e-5 from the milestone);
- cosine: from 1 down to ``min_lr_ratio`` at ``max_steps``, half a cosine period after the warm-up.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.training.config import TrainConfig


def parameter_groups(
    parameters: nn.Module | Iterable[nn.Parameter] | Iterable[tuple[str, nn.Parameter]], weight_decay: float
) -> list[dict]:
    """The trainable parameters as optimiser groups: decayed (>= 2-D) and not decayed (< 2-D)."""
    if isinstance(parameters, nn.Module):
        parameters = parameters.parameters()
    params = [p[1] if isinstance(p, tuple) else p for p in parameters]
    params = [p for p in params if p.requires_grad]
    if not params:
        raise MogenBenchError(
            "the model has no trainable parameters", field="model", fix="check which parts the config freezes"
        )
    if weight_decay <= 0:
        return [{"params": params, "weight_decay": 0.0}]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": float(weight_decay)},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(
    parameters: nn.Module | Iterable[nn.Parameter] | Iterable[tuple[str, nn.Parameter]], config: TrainConfig
) -> torch.optim.Optimizer:
    """Adam or AdamW over the trainable ``parameters`` (a model, its parameters, or its named parameters)."""
    groups = parameter_groups(parameters, config.weight_decay)
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(groups, lr=config.lr, betas=tuple(config.adam_betas), eps=config.adam_eps)


def lr_factor(step: int, config: TrainConfig) -> float:
    """The multiplier of ``config.lr`` at optimiser step ``step`` (0-based)."""
    if step < config.warmup_steps:
        return (step + 1) / (config.warmup_steps + 1)
    if config.schedule == "step":
        return config.step_gamma ** bisect.bisect_right(config.step_milestones, step)
    if config.schedule == "cosine":
        span = max(config.max_steps - config.warmup_steps, 1)
        progress = min((step - config.warmup_steps) / span, 1.0)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of ``config`` as a ``LambdaLR``; call ``.step()`` once after each ``optimizer.step()``.

    Its state dict holds only counters (the factor is a plain function of the step and the config), so a
    resumed run continues the schedule of its own config.
    """

    def factor(step: int) -> float:
        return lr_factor(step, config)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
