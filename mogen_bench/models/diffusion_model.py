"""What every diffusion model on the benchmark shares: the training loss, guidance and the sampler.

MDM, FineMoGen and the PriorMDM-style baselines differ in their denoising network and in how they read
texts, not in the diffusion around it. A ``DiffusionMotionModel`` implements three hooks:

- ``encode_batch(batch)``: the condition of a training batch (any tensor, dataclass of tensors, list or
  dict of them);
- ``encode_requests(requests)``: the condition of a list of ``GenerationRequest``;
- ``denoise(x_t, t, condition, frame_mask, drop)``: the network's output (x0 or epsilon, as the config's
  ``prediction`` says) for noisy motions ``x_t`` at original timesteps ``t``; ``drop`` marks the samples
  whose condition must be replaced by the null condition (classifier-free guidance).

and inherits ``training_losses`` (uniform timesteps, condition dropout, masked MSE to the diffusion's
target, reduced per motion then over the batch or over all frames) and ``sample`` (DDPM or DDIM over the
respaced timesteps, classifier-free guidance in one batched forward, constant or FineMoGen's
timestep-dependent scale). Subclasses add loss terms by overriding ``extra_losses``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from mogen_bench.diffusion import (
    GaussianDiffusion,
    classifier_free_guidance,
    condition_dropout,
    constant_guidance,
    ddim_sample,
    ddpm_sample,
    finemogen_guidance,
    space_timesteps,
)
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext, MotionModel
from mogen_bench.models.conditions import GenerationRequest


@dataclass
class DiffusionConfig:
    """The diffusion settings of a model config (model configs inherit these fields)."""

    #: Beta schedule: ``cosine`` (MDM) or ``linear`` (MotionDiffuse, FineMoGen).
    schedule: Literal["linear", "cosine"] = "cosine"
    diffusion_steps: int = 1000
    #: What the network predicts: ``x0`` (MDM, FineMoGen) or ``epsilon``.
    prediction: Literal["x0", "epsilon"] = "x0"
    variance: Literal["fixed_small", "fixed_large"] = "fixed_small"
    #: Sampler at generation time and the respaced timesteps it visits (a guided-diffusion section string
    #: such as ``"ddim50"`` or FineMoGen's ``"15,15,8,6,6"``; empty = all ``diffusion_steps``).
    sampler: Literal["ddim", "ddpm"] = "ddim"
    sampling_steps: str = "ddim50"
    ddim_eta: float = 0.0
    #: Classifier-free guidance scale (1 = none) and its schedule: ``constant`` (MDM: ``s``) or
    #: ``finemogen`` (``w = 1 + s * t / 1000``).
    guidance: float = 2.5
    guidance_schedule: Literal["constant", "finemogen"] = "constant"
    #: Probability of dropping the condition in training (classifier-free guidance needs > 0).
    cond_drop: float = 0.1
    #: ``batch``: mean over each motion's frames, then over motions; ``frame``: mean over all frames.
    loss_reduction: Literal["batch", "frame"] = "batch"

    def check_diffusion(self) -> None:
        if self.diffusion_steps < 2:
            raise MogenBenchError(
                f"diffusion_steps must be >= 2, got {self.diffusion_steps}",
                field="model.diffusion_steps",
                fix="use 1000, as MDM and FineMoGen",
            )
        if not 0.0 <= self.cond_drop < 1.0:
            raise MogenBenchError(
                f"cond_drop must be in [0, 1), got {self.cond_drop}", field="model.cond_drop", fix="use 0.1"
            )
        if self.cond_drop == 0.0 and self.guidance != 1.0:
            raise MogenBenchError(
                "classifier-free guidance needs a model trained with condition dropout",
                field="model.guidance",
                fix="set model.cond_drop > 0 (0.1) or model.guidance = 1",
            )


def repeat_twice(value):
    """``value`` with its batch doubled: tensors, dataclasses of tensors, lists and dicts of them."""
    if isinstance(value, torch.Tensor):
        return torch.cat([value, value])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: repeat_twice(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    if isinstance(value, dict):
        return {key: repeat_twice(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return (
            type(value)(list(value) + list(value))
            if not value or not isinstance(value[0], torch.Tensor | dict | list)
            else type(value)(repeat_twice(item) for item in value)
        )
    return value


class DiffusionMotionModel(MotionModel):
    """A ``MotionModel`` whose generator is a Gaussian diffusion (see the module docstring)."""

    def __init__(self, config: DiffusionConfig, context: ModelContext):
        super().__init__(config, context)
        config.check_diffusion()
        self.diffusion = GaussianDiffusion.from_schedule(
            config.schedule,
            config.diffusion_steps,
            prediction=config.prediction,
            variance=config.variance,
        )
        steps = config.sampling_steps.strip() or str(config.diffusion_steps)
        try:
            kept = space_timesteps(config.diffusion_steps, steps)
        except (ValueError, MogenBenchError) as exc:
            raise MogenBenchError(
                f"cannot respace {config.diffusion_steps} steps by {steps!r}: {exc}",
                field="model.sampling_steps",
                fix='use "ddim50", a section string such as "15,15,8,6,6", or "" for every step',
            ) from exc
        self.sampling_diffusion = self.diffusion.respaced(kept)

    # ------------------------------------------------------------------ hooks
    def encode_batch(self, batch: dict):
        raise NotImplementedError

    def encode_requests(self, requests: list[GenerationRequest]):
        raise NotImplementedError

    def denoise(
        self, x_t: torch.Tensor, t: torch.Tensor, condition, frame_mask: torch.Tensor, drop: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def extra_losses(self) -> dict[str, torch.Tensor]:
        """Loss terms the network collected during the last ``denoise`` (e.g. mixture-of-experts routing)."""
        return {}

    # ------------------------------------------------------------------ training
    def training_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        device = self.device
        x0 = batch["features"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        count = x0.shape[0]
        t = torch.randint(0, self.diffusion.num_timesteps, (count,), generator=generator, device=device)
        noise = torch.randn(x0.shape, generator=generator, device=device, dtype=x0.dtype)
        drop = condition_dropout(count, self.config.cond_drop, generator).to(device)
        x_t = self.diffusion.q_sample(x0, t, noise)
        output = self.denoise(x_t, t, self.encode_batch(batch), mask, drop)
        error = (output.float() - self.diffusion.target(x0, noise).float()).square().mean(-1)
        weights = mask.to(error.dtype)
        if self.config.loss_reduction == "frame":
            recon = (error * weights).sum() / weights.sum().clamp_min(1)
        else:
            recon = ((error * weights).sum(1) / weights.sum(1).clamp_min(1)).mean()
        losses = {"loss_recon": recon, **self.extra_losses()}
        losses["loss"] = sum(losses.values())
        return losses

    # ------------------------------------------------------------------ generation
    def guidance_function(self, scale: float):
        if self.config.guidance_schedule == "finemogen":
            return finemogen_guidance(scale)
        return constant_guidance(scale)

    def sample(
        self, requests: list[GenerationRequest], generator: torch.Generator, guidance: float | None = None
    ) -> torch.Tensor:
        device = self.device
        lengths = torch.tensor([r.length for r in requests], device=device)
        frames = int(lengths.max())
        mask = torch.arange(frames, device=device)[None, :] < lengths[:, None]
        condition = self.encode_requests(requests)
        scale = self.config.guidance if guidance is None else float(guidance)
        count = len(requests)
        if scale == 1.0:
            keep = torch.zeros(count, dtype=torch.bool, device=device)

            def fn(x, t):
                return self.denoise(x, t, condition, mask, keep)
        else:
            doubled, mask2 = repeat_twice(condition), torch.cat([mask, mask])

            def model_fn(x, t, drop):
                return self.denoise(x, t, doubled, mask2, drop)

            fn = classifier_free_guidance(model_fn, self.guidance_function(scale))
        shape = (count, frames, self.context.dims)
        if self.config.sampler == "ddpm":
            return ddpm_sample(self.sampling_diffusion, fn, shape, generator=generator)
        return ddim_sample(self.sampling_diffusion, fn, shape, eta=self.config.ddim_eta, generator=generator)
