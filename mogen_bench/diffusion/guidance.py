"""Classifier-free guidance (Ho & Salimans 2022): one batched forward pass for both halves.

Training drops the condition of a random fraction of samples (``condition_dropout``; 10 % in FineMoGen
and MDM). Sampling runs the model once on the doubled batch ``[x, x]`` with
``drop = [False] * B + [True] * B`` and combines ``cond * w + uncond * (1 - w)``
(= ``uncond + w (cond - uncond)``; written this way, as FineMoGen does, ``w = 1`` returns ``cond`` and
``w = 0`` returns ``uncond`` exactly). The scale is a constant (MDM: 2.5) or a function of the original
timestep: FineMoGen's ``w(t) = 1 + scale * t / 1000`` (``scale`` 6.5 on HumanML3D: 7.49 at ``t = 999``
down to 1 at ``t = 0``; 4.5 on KIT-ML).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import torch

from mogen_bench.errors import MogenBenchError

__all__ = [
    "GuidanceScale",
    "classifier_free_guidance",
    "condition_dropout",
    "constant_guidance",
    "finemogen_guidance",
]

GuidanceScale = float | Callable[[torch.Tensor], torch.Tensor]
ConditionalModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _float_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def constant_guidance(scale: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """``w(t) = scale`` for every sample."""
    scale = float(scale)

    def w(t: torch.Tensor) -> torch.Tensor:
        return torch.full(t.shape, scale, dtype=_float_dtype(t.device), device=t.device)

    return w


def finemogen_guidance(scale: float, num_timesteps: int = 1000) -> Callable[[torch.Tensor], torch.Tensor]:
    """FineMoGen's ``w(t) = 1 + scale * t / 1000`` of the original timestep (``scale_func`` in its code)."""
    scale = float(scale)

    def w(t: torch.Tensor) -> torch.Tensor:
        return 1 + scale * t.to(_float_dtype(t.device)) / num_timesteps

    return w


def classifier_free_guidance(
    model_fn: ConditionalModel, scale: GuidanceScale
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A denoiser ``fn(x_t, t)`` guided by ``scale`` (a number or ``w(t) -> (B,)``).

    ``model_fn(x, t, drop)`` is the conditional model: ``drop`` (BoolTensor ``(2B,)``) marks samples whose
    condition is replaced by the null condition. Guidance calls it once per step on the doubled batch, always
    (callers prepare doubled conditions), also for scales 1 and 0, which return the conditional and the
    unconditional half exactly.
    """
    if isinstance(scale, bool) or not (isinstance(scale, Real) or callable(scale)):
        raise MogenBenchError(
            f"the guidance scale must be a number or a function of the timestep, got {type(scale).__name__}",
            field="guidance",
            fix="pass e.g. 2.5, constant_guidance(2.5) or finemogen_guidance(6.5)",
        )

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        drop = torch.arange(2 * batch, device=x.device) >= batch
        out = model_fn(torch.cat([x, x]), torch.cat([t, t]), drop)
        if out.shape[0] != 2 * batch:
            raise MogenBenchError(
                f"the model returned {out.shape[0]} samples for a doubled batch of {2 * batch}",
                field="model_fn",
                fix="return one output per input sample",
            )
        cond, uncond = out[:batch], out[batch:]
        if isinstance(scale, Real):
            w = float(scale)
            return cond * w + uncond * (1 - w)
        w = torch.as_tensor(scale(t), device=x.device)
        if w.shape != (batch,):
            raise MogenBenchError(
                f"the guidance scale function returned shape {tuple(w.shape)}, expected ({batch},)",
                field="guidance",
                fix="return one weight per sample from w(t)",
            )
        w = w.to(cond.dtype).reshape(batch, *([1] * (cond.ndim - 1)))
        return cond * w + uncond * (1 - w)

    return fn


def condition_dropout(
    batch_size: int, probability: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """BoolTensor ``(B,)`` on the generator's device: True where a training sample's condition is dropped."""
    probability = float(probability)
    if not 0.0 <= probability <= 1.0:
        raise MogenBenchError(
            f"the condition dropout probability must lie in [0, 1], got {probability}",
            field="condition_dropout",
            fix="use 0.1, the value of FineMoGen and MDM",
        )
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(batch_size, generator=generator, device=device) < probability
