"""What DDPM and DDIM sampling share: the start point, the denoiser call, the x0 estimate, the hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from mogen_bench.diffusion.gaussian import GaussianDiffusion
from mogen_bench.diffusion.inpainting import Inpainting
from mogen_bench.errors import MogenBenchError

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Progress = Callable[[int, int], None]
AfterStep = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def randn(shape: Sequence[int], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise drawn from ``generator`` (on its own device), placed like ``like``."""
    device = generator.device if generator is not None else like.device
    noise = torch.randn(tuple(shape), generator=generator, device=device, dtype=like.dtype)
    return noise.to(like.device)


def start_state(
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    generator: torch.Generator | None,
    noise: torch.Tensor | None,
    start: tuple[torch.Tensor, int] | None,
) -> tuple[torch.Tensor, int]:
    """The sample ``x`` to denoise first and the index of its timestep.

    Without ``start``: ``noise`` (or fresh noise) at the last index. With ``start=(x_init, t_start)``:
    ``x_init`` noised by ``q_sample`` to the last kept timestep at or below the original ``t_start`` (the
    same noise as MDM's ``init_image`` path: ``noise`` if given, else fresh).
    """
    shape = tuple(int(s) for s in shape)
    if start is None:
        last = diffusion.num_timesteps - 1
        if noise is not None:
            _check_shape(noise, shape, "noise")
            return noise, last
        device = generator.device if generator is not None else torch.device("cpu")
        return torch.randn(shape, generator=generator, device=device), last

    x_init, t_start = start
    _check_shape(x_init, shape, "start")
    t_start = int(t_start)
    kept = diffusion.timestep_map
    if not kept[0] <= t_start <= kept[-1]:
        raise MogenBenchError(
            f"the start timestep {t_start} is outside the diffusion's timesteps {kept[0]}..{kept[-1]}",
            field="start",
            fix="start at an original timestep within the process, e.g. T - 100 - 1 as DoubleTake",
        )
    index = int((kept <= t_start).sum()) - 1
    if noise is None:
        noise = randn(shape, generator, x_init)
    _check_shape(noise, shape, "noise")
    t = torch.full((shape[0],), index, device=x_init.device, dtype=torch.long)
    return diffusion.q_sample(x_init, t, noise.to(x_init)), index


def estimate_x0(
    diffusion: GaussianDiffusion,
    fn: Denoiser,
    x: torch.Tensor,
    index: int,
    inpaint: Inpainting | None,
) -> torch.Tensor:
    """Call the denoiser at ``index`` (with the original timestep) and return its ``x0`` estimate."""
    output = fn(x, original_timesteps(diffusion, index, x))
    if not isinstance(output, torch.Tensor) or output.shape != x.shape:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise MogenBenchError(
            f"the denoiser returned {got}, expected a tensor of shape {tuple(x.shape)}",
            field="denoiser",
            fix="make fn(x_t, t) return x0 or epsilon shaped like x_t",
        )
    output = output.to(x.dtype)
    if diffusion.prediction == "x0":
        x0 = output
    else:
        signal, noise = (
            coef(diffusion.sqrt_recip_alphas_cumprod, index),
            coef(diffusion.sqrt_recipm1_alphas_cumprod, index),
        )
        x0 = signal * x - noise * output  # x0 = sqrt(1/ab) x_t - sqrt(1/ab - 1) eps
    if inpaint is not None:
        x0 = inpaint.apply(x0)
    return x0


def original_timesteps(diffusion: GaussianDiffusion, index: int, x: torch.Tensor) -> torch.Tensor:
    """The original timestep of ``index``, one per sample: LongTensor ``(B,)`` on ``x``'s device."""
    return torch.full((x.shape[0],), int(diffusion.timestep_map[index]), device=x.device, dtype=torch.long)


def coef(table, index: int) -> float:
    """One float64 table entry as a Python float: every sample of a sampling step shares its timestep, so
    scalar coefficients replace per-sample gathers (no device tables, no small-tensor kernels)."""
    return float(table[index])


def finish_step(
    x: torch.Tensor,
    diffusion: GaussianDiffusion,
    index: int,
    total: int,
    after_step: AfterStep | None,
    progress: Progress | None,
) -> torch.Tensor:
    """Run the per-step hooks on the new sample ``x`` (after the step at ``index``, counting down)."""
    if after_step is not None:
        x = after_step(x, original_timesteps(diffusion, index, x))
    if progress is not None:
        progress(total - index, total)
    return x


def _check_shape(value: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if tuple(value.shape) != shape:
        raise MogenBenchError(
            f"{name} has shape {tuple(value.shape)}, expected {shape}",
            field=name,
            fix=f"give {name} the shape of the samples to draw",
        )
