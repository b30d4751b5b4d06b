"""PriorMDM-style composition (DoubleTake, Shafir et al. ICLR 2024): multi-stage motions from a trained MDM.

PriorMDM trains nothing: a ``priormdm`` run wraps the MDM of another run folder (``model.prior_run``) and
composes a request's stages with DoubleTake (``baselines.priormdm.doubletake`` holds the bookkeeping):

1. First take: every stage of every request is one interval of one batch, each with its own stage's texts
   (the overall text for MDM), sampled with classifier-free guidance (2.5); neighbouring intervals share a
   handshake of ``handshake`` frames centred on their stage boundary, averaged after every denoising step
   (the sampler's ``after_step`` hook). The intervals are unfolded into one motion per request, exactly
   as long as the request, with its stage boundaries where the request puts them.
2. Second take: every transition of the batch is one window (the motion between the neighbouring
   handshakes), noised to ``t = T - skip_steps - 1`` and denoised without a condition (the null condition,
   i.e. guidance 0 in PriorMDM's sense) while the soft mask keeps the first take (x0 blending,
   ``Inpainting``): 0 on the handshake, ramps up to 0.85 over ``blend`` frames beside it, 1 elsewhere.
   The refined handshake and ramps are written back into the motion.

A request with one stage is plain generation with the prior, and a batch of only such requests is exactly
the prior's own ``generate`` (same seed, same numbers). The defaults are PriorMDM's evaluation settings
(README, BABEL: handshake 30, blend 10, skip 100, guidance 2.5, DDPM over all the prior's steps); the
presets are ``evaluation``, ``code_defaults`` (handshake 20, blend 20: ``parser_util.py``) and ``tiny``.

Making a run: ``mogen-bench train priormdm --preset evaluation --dataset DIR --out RUN --set
model.prior_run="runs/mdm"`` with ``train.max_steps = 0`` (the presets set it): the trainer writes
``config.json`` and a step-0 checkpoint holding the prior's weights (its EMA weights where it kept an EMA).
The prior's architecture is rebuilt from ``prior_run/config.json`` whenever the run is loaded, so that
folder must stay. The dataset must be the prior's: the run's normalisation statistics come from it, and
the prior's representation, feature size, frame rate and training texts must match it (checked).

Differences from the released code, all forced by fixed stage bounds or by the project's MDM: intervals
are derived from the stage bounds (PriorMDM lengthens intervals to ``2 h + 2 blend + 10`` frames and
returns ``sum(L_i) - (N - 1) h``); handshakes and blends shrink at stages too short for them (or refuse,
``short_stages = "error"``); the prior has no transition embedding, as in PriorMDM's own MDM training
command; the second take may run on a respaced sampler (it then starts at the last kept timestep at or
below ``T - skip_steps - 1``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from baselines.priormdm.doubletake import (
    Composition,
    HandshakeAveraging,
    plan_composition,
    soft_mask,
    unfold_indices,
)
from mogen_bench.diffusion import Inpainting, classifier_free_guidance, ddim_sample, ddpm_sample
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext, MotionModel
from mogen_bench.models.conditions import GenerationRequest
from mogen_bench.models.diffusion_model import DiffusionMotionModel, repeat_twice


@dataclass
class PriorMDMConfig:
    """The prior and DoubleTake's settings; defaults: PriorMDM's evaluation (``baselines.md`` 2.5)."""

    #: The run folder of the trained MDM used as the prior (``mogen-bench train mdm --out ...``).
    prior_run: str = ""
    #: Frames neighbouring stages share in the first take (PriorMDM: 30 at 30 fps on BABEL, 20 at 20 fps).
    handshake: int = 30
    #: Frames of each soft-mask ramp beside a handshake in the second take.
    blend: int = 10
    #: The second take starts at timestep ``T - skip_steps - 1`` (PriorMDM's ``skip_steps_double_take``).
    skip_steps: int = 100
    #: Classifier-free guidance of the first take; the second take is unconditional.
    guidance: float = 2.5
    #: Refine every transition with the second take (PriorMDM's ``--double_take``, on by default).
    second_take: bool = True
    #: A stage too short for the handshake and blend: shrink them at its transitions, or refuse the request.
    short_stages: Literal["shrink", "error"] = "shrink"
    #: The sampler of both takes over the prior's diffusion (PriorMDM: DDPM over all of its 1000 steps).
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    #: Respaced timesteps (``"ddim50"``, ...); empty: every step.
    sampling_steps: str = ""
    ddim_eta: float = 0.0

    def __post_init__(self) -> None:
        for name, low in (("handshake", 1), ("blend", 0), ("skip_steps", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise MogenBenchError(
                    f"{name} must be a whole number >= {low}, got {value!r}",
                    field=f"model.{name}",
                    fix="PriorMDM evaluates with handshake 30, blend 10, skip_steps 100",
                )
        if not math.isfinite(self.guidance):
            raise MogenBenchError(
                f"guidance must be a number, got {self.guidance}", field="model.guidance", fix="use 2.5"
            )


def load_prior(config: PriorMDMConfig, context: ModelContext) -> DiffusionMotionModel:
    """The prior's model (newest checkpoint, EMA weights if kept), checked against this run's data."""
    from mogen_bench.models.registry import get_model_class
    from mogen_bench.training.run import CONFIG_FILE, load_run, read_run_config

    if not config.prior_run.strip():
        raise MogenBenchError(
            "PriorMDM needs a trained MDM as its prior",
            field="model.prior_run",
            fix='--set model.prior_run="RUN" (the --out folder of `mogen-bench train mdm`)',
        )
    saved = read_run_config(config.prior_run)
    where = str(Path(config.prior_run) / CONFIG_FILE)
    prior_class = get_model_class(str(saved.get("model")))
    if not issubclass(prior_class, DiffusionMotionModel):
        raise MogenBenchError(
            f"the prior must be a diffusion model (mdm), but the run holds a {saved.get('model')!r} model",
            file=where,
            field="model.prior_run",
            fix="give the --out folder of `mogen-bench train mdm`",
        )
    prior_context = ModelContext.from_dict(saved["context"])
    for name in ("representation", "dims", "fps"):
        if getattr(prior_context, name) != getattr(context, name):
            raise MogenBenchError(
                f"the prior makes {prior_context.representation} features ({prior_context.dims} dims, "
                f"{prior_context.fps:g} fps), but this run's dataset holds {context.representation} "
                f"({context.dims} dims, {context.fps:g} fps)",
                file=where,
                field="model.prior_run",
                fix="make the PriorMDM run on the dataset its prior was trained on",
            )
    if prior_context.vocabulary != context.vocabulary:
        raise MogenBenchError(
            "this run's dataset is not the one the prior was trained on (their training texts differ); the "
            "run's normalisation statistics come from its dataset and must be the prior's",
            file=where,
            field="model.prior_run",
            fix=f"make the run with --dataset {saved.get('dataset', {}).get('path', 'of the prior')}",
        )
    for name in ("mean", "std"):
        theirs, ours = getattr(prior_context, name), getattr(context, name)
        # The prior denoises in its own normalised space; a run with other statistics would feed it (and
        # denormalise its output with) the wrong ones, silently.
        same = (theirs is None) == (ours is None) and (
            theirs is None or np.allclose(theirs, ours, rtol=1e-6, atol=1e-9)
        )
        if not same:
            raise MogenBenchError(
                f"this run's normalisation {name} is not the prior's (the prior "
                f"{'works on raw features' if theirs is None else 'normalises its features'}, this run "
                f"{'does not' if ours is None else 'normalises with other statistics'})",
                file=where,
                field="model.prior_run",
                fix="make the run on the prior's dataset with the prior's data.normalise setting",
            )
    overrides = {
        "sampler": config.sampler,
        "sampling_steps": config.sampling_steps,
        "ddim_eta": config.ddim_eta,
        "guidance": config.guidance,
    }
    return load_run(config.prior_run, model_overrides=overrides).model


class PriorMDM(MotionModel):
    name = "priormdm"
    config_class = PriorMDMConfig
    representations = None
    presets_package = "baselines.priormdm.presets"

    def __init__(self, config: PriorMDMConfig, context: ModelContext):
        super().__init__(config, context)
        self.prior = load_prior(config, context)
        steps = self.prior.diffusion.num_timesteps
        if config.skip_steps > steps - 1:
            raise MogenBenchError(
                f"skip_steps {config.skip_steps} leaves no step of the prior's {steps}-step diffusion",
                field="model.skip_steps",
                fix=f"use at most {steps - 1} (PriorMDM skips 100 of 1000)",
            )

    def training_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise MogenBenchError(
            "PriorMDM is not trained: it samples with its prior as it is",
            field="train.max_steps",
            fix="make the run with --set train.max_steps=0 (the priormdm presets do); train the prior as mdm",
        )

    # ------------------------------------------------------------------ planning
    def plan(self, requests: list[GenerationRequest]) -> list[Composition]:
        """Each request's intervals and transitions; a project error for stages the settings cannot serve."""
        plans, longest = [], self.prior.context.max_frames
        for number, request in enumerate(requests):
            bounds = [(stage.start_frame, stage.end_frame) for stage in request.stages]
            config = self.config
            plan = plan_composition(
                bounds, config.handshake, config.blend, config.short_stages, f"request {number}"
            )
            for i, (start, end) in enumerate(plan.intervals):
                if end - start > longest:
                    raise MogenBenchError(
                        f"request {number}: stage {i} with its handshakes is {end - start} frames, longer "
                        f"than the prior's longest motion ({longest} frames)",
                        field="stages",
                        fix="split the stage, or use a prior trained on longer motions (data.max_frames)",
                    )
            plans.append(plan)
        return plans

    # ------------------------------------------------------------------ generation
    def sample(
        self, requests: list[GenerationRequest], generator: torch.Generator, guidance: float | None = None
    ) -> torch.Tensor:
        plans = self.plan(requests)
        if all(len(plan.intervals) == 1 for plan in plans):
            return self.prior.sample(requests, generator, guidance)
        intervals, first_rows = self.first_take(requests, plans, generator, guidance)
        rows, frames, valid = unfold_indices(plans, first_rows, intervals.device)
        composed = intervals[rows, frames] * valid[..., None]
        if self.config.second_take:
            composed = self.second_take(composed, requests, plans, generator)
        return composed

    def first_take(
        self,
        requests: list[GenerationRequest],
        plans: list[Composition],
        generator: torch.Generator,
        guidance: float | None = None,
    ) -> tuple[torch.Tensor, list[int]]:
        """All intervals of all requests in one batch ``(B, L, dims)`` with shared handshakes, and the row of
        each request's first interval."""
        interval_requests, pairs, first_rows = [], [], []
        for request, plan in zip(requests, plans, strict=True):
            first_rows.append(len(interval_requests))
            for stage, (start, end) in zip(request.stages, plan.intervals, strict=True):
                interval_requests.append(_one_stage(stage, end - start))
            for j, transition in enumerate(plan.transitions):
                if transition.handshake:
                    row = first_rows[-1] + j
                    offset = transition.start - plan.intervals[j][0]
                    pairs.append((row, offset, row + 1, transition.handshake))
        scale = self.prior.config.guidance if guidance is None else float(guidance)
        condition = self.prior.encode_requests(interval_requests)
        mask = self._frame_mask(interval_requests)
        fn = self._guided(condition, mask, scale)
        averaging = HandshakeAveraging(pairs, self.device)
        intervals = self._run(fn, (*mask.shape, self.context.dims), generator, after_step=averaging)
        return intervals, first_rows

    def second_take(
        self,
        composed: torch.Tensor,
        requests: list[GenerationRequest],
        plans: list[Composition],
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The composed batch with every transition refined by soft-masked unconditional inpainting."""
        jobs = [
            (r, j, transition, *plan.window(j))
            for r, plan in enumerate(plans)
            for j, transition in enumerate(plan.transitions)
            if transition.handshake
        ]
        if not jobs:
            return composed
        width = max(end - start for *_, start, end in jobs)
        known = composed.new_zeros(len(jobs), width, composed.shape[-1])
        keep = torch.ones(len(jobs), width, 1, device=composed.device)
        window_requests = []
        for k, (r, j, transition, start, end) in enumerate(jobs):
            known[k, : end - start] = composed[r, start:end]
            keep[k, : end - start, 0] = soft_mask(
                end - start, transition.start - start, transition.handshake, transition.ramp
            )
            # The texts are never read (the condition is dropped); a request of the window's shape is.
            window_requests.append(_one_stage(requests[r].stages[j], end - start))
        condition = self.prior.encode_requests(window_requests)
        mask = self._frame_mask(window_requests)
        drop = torch.ones(len(jobs), dtype=torch.bool, device=composed.device)

        def unconditional(x, t):
            return self.prior.denoise(x, t, condition, mask, drop)

        t_start = self.prior.diffusion.num_timesteps - self.config.skip_steps - 1
        refined = self._run(
            unconditional,
            known.shape,
            generator,
            inpaint=Inpainting(known, keep.to(known.dtype)),
            start=(known, t_start),
        )
        out = composed.clone()
        for k, (r, _, transition, start, _) in enumerate(jobs):
            low, high = transition.start - transition.ramp, transition.end + transition.ramp
            out[r, low:high] = refined[k, low - start : high - start]
        return out

    # ------------------------------------------------------------------ the prior's sampler
    def _frame_mask(self, requests: list[GenerationRequest]) -> torch.Tensor:
        lengths = torch.tensor([r.length for r in requests], device=self.device)
        return torch.arange(int(lengths.max()), device=self.device)[None, :] < lengths[:, None]

    def _guided(self, condition, mask: torch.Tensor, scale: float):
        """The prior's guided denoiser, built as ``DiffusionMotionModel.sample`` builds it."""
        prior = self.prior
        if scale == 1.0:
            keep = torch.zeros(mask.shape[0], dtype=torch.bool, device=mask.device)
            return lambda x, t: prior.denoise(x, t, condition, mask, keep)
        doubled, mask2 = repeat_twice(condition), torch.cat([mask, mask])

        def model_fn(x, t, drop):
            return prior.denoise(x, t, doubled, mask2, drop)

        return classifier_free_guidance(model_fn, prior.guidance_function(scale))

    def _run(self, fn, shape, generator: torch.Generator, **hooks) -> torch.Tensor:
        diffusion = self.prior.sampling_diffusion
        if self.prior.config.sampler == "ddpm":
            return ddpm_sample(diffusion, fn, shape, generator=generator, **hooks)
        return ddim_sample(diffusion, fn, shape, eta=self.prior.config.ddim_eta, generator=generator, **hooks)


def _one_stage(stage, length: int) -> GenerationRequest:
    """A one-stage request of ``length`` frames with ``stage``'s texts."""
    return GenerationRequest((dataclasses.replace(stage, start_frame=0, end_frame=length),), length)
