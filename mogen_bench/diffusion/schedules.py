"""Beta schedules of the forward diffusion process, as guided-diffusion's ``get_named_beta_schedule``.

- ``linear`` (Ho et al.; FineMoGen, MotionDiffuse): ``linspace(scale * 1e-4, scale * 0.02, T)`` with
  ``scale = 1000 / T``, so any ``T`` spans the same total noise as the 1000-step original;
- ``cosine`` (Nichol & Dhariwal; MDM): ``alpha_bar(u) = cos((u + s) / (1 + s) * pi / 2)^2`` with ``s = 0.008``
  and ``beta_i = min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999)``; the clip only bites at the
  very last steps, where ``alpha_bar`` reaches 0.

Both return float64 numpy arrays: the tables built from them are float64 too, as in guided-diffusion, so
``alpha_bar`` near 0 keeps its precision.
"""

from __future__ import annotations

import math

import numpy as np

from mogen_bench.errors import MogenBenchError

__all__ = ["SCHEDULES", "cosine_betas", "linear_betas", "named_betas"]

COSINE_OFFSET = 0.008
MAX_BETA = 0.999


def _check_steps(num_timesteps: int) -> int:
    integer = isinstance(num_timesteps, int | np.integer) and not isinstance(num_timesteps, bool)
    if not integer or num_timesteps < 1:
        raise MogenBenchError(
            f"the number of diffusion timesteps must be a positive integer, got {num_timesteps!r}",
            field="num_timesteps",
            fix="use 1000, the value of every published motion diffusion model",
        )
    return int(num_timesteps)


def linear_betas(num_timesteps: int = 1000) -> np.ndarray:
    """Linear betas from ``1e-4`` to ``0.02`` (rescaled by ``1000 / T``), float64 ``(T,)``."""
    steps = _check_steps(num_timesteps)
    scale = 1000 / steps
    if scale * 0.02 > 1:
        raise MogenBenchError(
            f"the linear schedule needs at least 20 timesteps (its last beta is 20 / T), got {steps}",
            field="num_timesteps",
            fix="use more timesteps, or respace a 1000-step diffusion (e.g. 'ddim10') to sample in fewer",
        )
    return np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)


def cosine_betas(
    num_timesteps: int = 1000, offset: float = COSINE_OFFSET, max_beta: float = MAX_BETA
) -> np.ndarray:
    """Nichol-Dhariwal cosine betas, float64 ``(T,)``, each clipped at ``max_beta``."""
    steps = _check_steps(num_timesteps)

    def alpha_bar(u: np.ndarray) -> np.ndarray:
        return np.cos((u + offset) / (1 + offset) * math.pi / 2) ** 2

    u = np.arange(steps + 1, dtype=np.float64) / steps
    a = alpha_bar(u)
    return np.minimum(1 - a[1:] / a[:-1], max_beta)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


def named_betas(name: str, num_timesteps: int = 1000) -> np.ndarray:
    """The betas of a schedule by name (``linear`` or ``cosine``)."""
    if name not in SCHEDULES:
        raise MogenBenchError(
            f"unknown beta schedule {name!r}",
            field="schedule",
            fix=f"use one of {', '.join(sorted(SCHEDULES))}",
        )
    return SCHEDULES[name](num_timesteps)
