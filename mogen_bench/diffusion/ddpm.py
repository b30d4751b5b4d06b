"""DDPM ancestral sampling (Ho et al. 2020; guided-diffusion's ``p_sample_loop``).

Each step estimates ``x0`` from the denoiser, then draws ``x_{t-1} ~ N(c1_t x0 + c2_t x_t, var_t)`` with the
diffusion's ``fixed_large`` or ``fixed_small`` variance; the step at ``t = 0`` adds no noise and returns the
posterior mean, which is the ``x0`` estimate itself (``c1_0 = 1``, ``c2_0 = 0``). On a respaced diffusion
the steps are its kept timesteps.
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

__all__ = ["ddpm_sample"]


@torch.no_grad()
def ddpm_sample(
    diffusion: GaussianDiffusion,
    fn: Denoiser,
    shape: Sequence[int],
    *,
    generator: torch.Generator | None,
    noise: torch.Tensor | None = None,
    inpaint: Inpainting | None = None,
    start: tuple[torch.Tensor, int] | None = None,
    progress: Progress | None = None,
    after_step: AfterStep | None = None,
) -> torch.Tensor:
    """Draw samples ``shape`` = ``(B, ...)`` from ``fn(x_t, t_original)`` by ancestral sampling.

    ``generator`` supplies every random number (on its device, which is the device of the result unless
    ``noise``/``start`` bring their own); ``noise``: the initial ``x_T`` (its dtype is the dtype of the run);
    ``inpaint``: known motion kept in every ``x0`` estimate; ``start=(x_init, t_start)``: begin from
    ``x_init`` noised to original timestep ``t_start``; ``progress(done, total)`` after each step;
    ``after_step(x, t_original) -> x`` may rewrite each new sample (PriorMDM's handshake blending).
    """
    x, first = start_state(diffusion, shape, generator, noise, start)
    total = first + 1
    for index in range(first, -1, -1):
        x0 = estimate_x0(diffusion, fn, x, index, inpaint)
        if index == 0:
            x_next = x0
        else:
            c1, c2 = coef(diffusion.posterior_mean_coef1, index), coef(diffusion.posterior_mean_coef2, index)
            std = math.exp(0.5 * coef(diffusion.model_log_variance, index))
            x_next = c1 * x0 + c2 * x + std * randn(x.shape, generator, x)
        x = finish_step(x_next, diffusion, index, total, after_step, progress)
    return x
