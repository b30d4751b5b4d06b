"""Gaussian diffusion for motion: schedules, the forward process, respacing, samplers, guidance, inpainting.

One algorithm per file, as diffusers' schedulers; the equations and their defaults are guided-diffusion's,
which FineMoGen, MDM, MotionDiffuse and PriorMDM all port:

- ``schedules``: ``linear_betas``, ``cosine_betas``;
- ``gaussian``: ``GaussianDiffusion`` (``q_sample``, posterior, ``x0``/``epsilon`` parameterisations,
  ``fixed_large``/``fixed_small`` variance);
- ``respace``: ``space_timesteps`` (``"15,15,8,6,6"``, ``"ddim50"``) and ``SpacedDiffusion``;
- ``ddpm`` / ``ddim``: ``ddpm_sample``, ``ddim_sample`` (``eta``);
- ``guidance``: classifier-free guidance with a constant or FineMoGen's timestep-dependent scale, and
  condition dropout for training;
- ``inpainting``: ``Inpainting`` (known motion kept in every ``x0`` estimate).

A denoiser is ``fn(x_t, t) -> output`` shaped like ``x_t`` (``(B, T, D)`` motion or any ``(B, ...)``), where
``t`` is the original timestep ``(B,)`` even on a respaced diffusion, and the output is ``x0`` or ``epsilon``
as the diffusion's ``prediction`` says. Samplers draw every random number from the ``torch.Generator`` they
are given, so one seed gives one sample.
"""

from mogen_bench.diffusion.ddim import ddim_sample
from mogen_bench.diffusion.ddpm import ddpm_sample
from mogen_bench.diffusion.gaussian import PREDICTIONS, VARIANCES, GaussianDiffusion
from mogen_bench.diffusion.guidance import (
    GuidanceScale,
    classifier_free_guidance,
    condition_dropout,
    constant_guidance,
    finemogen_guidance,
)
from mogen_bench.diffusion.inpainting import Inpainting
from mogen_bench.diffusion.respace import SpacedDiffusion, space_timesteps
from mogen_bench.diffusion.schedules import SCHEDULES, cosine_betas, linear_betas, named_betas

__all__ = [
    "PREDICTIONS",
    "SCHEDULES",
    "VARIANCES",
    "GaussianDiffusion",
    "GuidanceScale",
    "Inpainting",
    "SpacedDiffusion",
    "classifier_free_guidance",
    "condition_dropout",
    "constant_guidance",
    "cosine_betas",
    "ddim_sample",
    "ddpm_sample",
    "finemogen_guidance",
    "linear_betas",
    "named_betas",
    "space_timesteps",
]
