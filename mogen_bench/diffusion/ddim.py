"""DDIM sampling (Song et al. 2021; guided-diffusion's ``ddim_sample_loop``), with ``eta``.

From the ``x0`` estimate and the implied ``eps = (sqrt(1/ab_t) x_t - x0) / sqrt(1/ab_t - 1)``::

    sigma_t = eta * sqrt((1 - ab_prev) / (1 - ab_t)) * sqrt(1 - ab_t / ab_prev)
    x_prev  = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma_t^2) eps + sigma_t z

``eta = 0`` is deterministic given the initial noise (FineMoGen: 50 respaced steps, ``eta = 0``); ``eta = 1``
is DDPM with ``fixed_small`` variance. The step at ``t = 0`` returns ``x0`` (``ab_prev = 1``). The model
variance setting plays no part here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mogen_bench.diffusion._loop import (
    AfterStep,
    Denoiser,
    Progress,
    coef,
    estimate_x0,
    finish_step,
    randn,
    start_state,
)
from mogen_bench.diffusion.gaussian import GaussianDiffusion
from mogen_bench.diffusion.inpainting import Inpainting
from mogen_bench.errors import MogenBenchError

__all__ = ["ddim_sample"]


@torch.no_grad()
def ddim_sample(
    diffusion: GaussianDiffusion,
    fn: Denoiser,
    shape: Sequence[int],
    *,
    eta: float = 0.0,
    generator: torch.Generator | None,
    noise: torch.Tensor | None = None,
    inpaint: Inpainting | None = None,
    start: tuple[torch.Tensor, int] | None = None,
    progress: Progress | None = None,
    after_step: AfterStep | None = None,
) -> torch.Tensor:
    """Draw samples ``shape`` = ``(B, ...)`` from ``fn(x_t, t_original)`` with DDIM; see ``ddpm_sample``.

    With ``eta = 0`` no noise is drawn after the initial one.
    """
    eta = float(eta)
    if not eta >= 0:
        raise MogenBenchError(
            f"DDIM eta must be >= 0, got {eta}", field="eta", fix="use 0 (deterministic) up to 1 (DDPM)"
        )
    x, first = start_state(diffusion, shape, generator, noise, start)
    total = first + 1
    for index in range(first, -1, -1):
        x0 = estimate_x0(diffusion, fn, x, index, inpaint)
        if index == 0:
            x_next = x0
        else:
            # eps implied by the (possibly inpainted) x0 estimate: (sqrt(1/ab) x_t - x0) / sqrt(1/ab - 1)
            eps = (coef(diffusion.sqrt_recip_alphas_cumprod, index) * x - x0) / coef(
                diffusion.sqrt_recipm1_alphas_cumprod, index
            )
            ab = coef(diffusion.alphas_cumprod, index)
            ab_prev = coef(diffusion.alphas_cumprod_prev, index)
            sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
            # eta > 1 would ask for more noise than the step has: its deterministic share is clamped at 0
            x_next = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
            if sigma > 0:
                x_next = x_next + sigma * randn(x.shape, generator, x)
        x = finish_step(x_next, diffusion, index, total, after_step, progress)
    return x
