"""Gaussian diffusion: the forward process, its posterior and the model parameterisations (guided-diffusion).

Equations (Ho et al. 2020; Nichol & Dhariwal 2021), with ``a_t = 1 - beta_t``, ``ab_t = prod_{s<=t} a_s``
and ``ab_{-1} = 1``::

    q(x_t | x_0)        = N(sqrt(ab_t) x_0, (1 - ab_t) I)
    q(x_{t-1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, beta~_t I)
    c1_t = beta_t sqrt(ab_{t-1}) / (1 - ab_t),  c2_t = (1 - ab_{t-1}) sqrt(a_t) / (1 - ab_t)
    beta~_t = beta_t (1 - ab_{t-1}) / (1 - ab_t)
    x_0 = sqrt(1 / ab_t) x_t - sqrt(1 / ab_t - 1) eps

The model predicts ``x0`` (FineMoGen, MDM) or ``epsilon`` (MotionDiffuse); samplers turn either into an
``x0`` estimate and step with the posterior. The reverse-process variance is ``fixed_small`` (``beta~_t``,
its log clipped by repeating ``beta~_1`` at ``t = 0`` where ``beta~_0 = 0``; MDM, MotionDiffuse) or
``fixed_large`` (``beta_t``, with ``beta~_1`` at ``t = 0``; FineMoGen), exactly as guided-diffusion.

All tables are float64 numpy arrays (guided-diffusion's choice: ``ab_t`` reaches 4e-5, where float32 loses
digits). The per-sample methods index them by ``t`` on the device of the batch (a float64 copy per device)
and only then cast to the batch's dtype; the samplers, whose batch shares one timestep, read Python floats.
Timestep arguments of the methods here are *indices* into this diffusion's tables; for a respaced diffusion
(``respaced``) index ``i`` stands for the original timestep ``timestep_map[i]``, which is what a denoiser
receives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from mogen_bench.diffusion.schedules import named_betas
from mogen_bench.errors import MogenBenchError

if TYPE_CHECKING:
    from mogen_bench.diffusion.respace import SpacedDiffusion

__all__ = ["PREDICTIONS", "VARIANCES", "GaussianDiffusion"]

Prediction = Literal["x0", "epsilon"]
Variance = Literal["fixed_large", "fixed_small"]
PREDICTIONS = ("x0", "epsilon")
VARIANCES = ("fixed_large", "fixed_small")

# The float64 tables moved to a device for indexing, by name.
_TABLES = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "model_variance",
    "model_log_variance",
)


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise MogenBenchError(
            f"unknown {field} {value!r}", field=field, fix=f"use one of {', '.join(allowed)}"
        )
    return value


class GaussianDiffusion:
    """A discrete Gaussian diffusion over ``len(betas)`` steps; the constructor arguments are its config.

    ``betas``: float ``(T,)`` in ``(0, 1]``; ``prediction``: what the denoiser outputs (``"x0"`` or
    ``"epsilon"``); ``variance``: the reverse-process variance (``"fixed_large"`` or ``"fixed_small"``).
    """

    def __init__(
        self,
        betas: np.ndarray | Iterable[float],
        prediction: Prediction = "x0",
        variance: Variance = "fixed_large",
    ) -> None:
        self.prediction = _choice(prediction, PREDICTIONS, "prediction")
        self.variance = _choice(variance, VARIANCES, "variance")
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0 or not np.isfinite(betas).all():
            raise MogenBenchError(
                f"betas must be a non-empty 1-D array of finite numbers, got shape {betas.shape}",
                field="betas",
                fix="build them with linear_betas(T) or cosine_betas(T)",
            )
        if not ((betas > 0).all() and (betas <= 1).all()):
            raise MogenBenchError(
                f"betas must lie in (0, 1], got min {betas.min():.3g} and max {betas.max():.3g}",
                field="betas",
                fix="build them with linear_betas(T) or cosine_betas(T)",
            )
        self.betas = betas
        # Original timestep of each index: the identity here, a subset for SpacedDiffusion.
        self.timestep_map = np.arange(betas.size, dtype=np.int64)

        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)

        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # beta~_0 = 0: its log is clipped by repeating beta~_1 (never used to add noise: t = 0 adds none).
        first = self.posterior_variance[1] if betas.size > 1 else betas[0]
        self.posterior_log_variance_clipped = np.log(np.append(first, self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (
            (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        )
        if self.variance == "fixed_large":
            self.model_variance = np.append(first, betas[1:])
            self.model_log_variance = np.log(self.model_variance)
        else:
            self.model_variance = self.posterior_variance
            self.model_log_variance = self.posterior_log_variance_clipped
        self._device_tables: dict[torch.device, dict[str, torch.Tensor]] = {}

    @classmethod
    def from_schedule(
        cls,
        schedule: str = "linear",
        num_timesteps: int = 1000,
        *,
        prediction: Prediction = "x0",
        variance: Variance = "fixed_large",
    ) -> GaussianDiffusion:
        """A diffusion over a named schedule (``linear`` or ``cosine``) of ``num_timesteps`` steps."""
        return cls(named_betas(schedule, num_timesteps), prediction=prediction, variance=variance)

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.size)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_timesteps={self.num_timesteps}, prediction={self.prediction!r}, "
            f"variance={self.variance!r})"
        )

    # -- indexing the tables --------------------------------------------------------------------------

    def _tables(self, device: torch.device) -> dict[str, torch.Tensor]:
        tables = self._device_tables.get(device)
        if tables is None:
            # MPS has no float64; everywhere else the tables keep full precision until the final cast.
            dtype = torch.float32 if device.type == "mps" else torch.float64
            tables = {
                name: torch.as_tensor(getattr(self, name), dtype=dtype, device=device) for name in _TABLES
            }
            self._device_tables[device] = tables
        return tables

    def _at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``table[t]`` on ``like``'s device and dtype, shaped ``(B, 1, ..., 1)`` to broadcast against it."""
        table = self._tables(like.device)[name]
        t = torch.as_tensor(t, device=like.device)
        if t.ndim != 1 or t.shape[0] != like.shape[0]:
            raise MogenBenchError(
                f"timesteps must have shape ({like.shape[0]},), one per sample, got {tuple(t.shape)}",
                field="t",
                fix="pass a LongTensor with one timestep per batch element",
            )
        return table[t.long()].to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))

    def original_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """The original (0..T-1 of the un-respaced process) timesteps of indices ``t``; what denoisers get."""
        table = torch.as_tensor(self.timestep_map, device=t.device)
        return table[t.long()]

    # -- the forward process ---------------------------------------------------------------------------

    def sample_timesteps(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform training timesteps ``(B,)`` on the generator's device (``UniformSampler``)."""
        device = generator.device if generator is not None else torch.device("cpu")
        return torch.randint(0, self.num_timesteps, (batch_size,), generator=generator, device=device)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise``."""
        _same_shape(noise, x0, "noise")
        signal = self._at("sqrt_alphas_cumprod", t, x0)
        return signal * x0 + self._at("sqrt_one_minus_alphas_cumprod", t, x0) * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the denoiser should output for ``q_sample(x0, t, noise)``: ``x0`` or ``noise``."""
        _same_shape(noise, x0, "noise")
        return x0 if self.prediction == "x0" else noise

    def q_posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of ``q(x_{t-1} | x_t, x0)``."""
        _same_shape(x0, x_t, "x0")
        mean = self._at("posterior_mean_coef1", t, x_t) * x0 + self._at("posterior_mean_coef2", t, x_t) * x_t
        variance = self._at("posterior_variance", t, x_t)
        return mean, variance, self._at("posterior_log_variance_clipped", t, x_t)

    # -- parameterisations -----------------------------------------------------------------------------

    def x0_from_epsilon(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``x0 = sqrt(1 / ab_t) x_t - sqrt(1 / ab_t - 1) eps``."""
        _same_shape(eps, x_t, "eps")
        scale = self._at("sqrt_recip_alphas_cumprod", t, x_t)
        return scale * x_t - self._at("sqrt_recipm1_alphas_cumprod", t, x_t) * eps

    def epsilon_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """``eps = (sqrt(1 / ab_t) x_t - x0) / sqrt(1 / ab_t - 1)``."""
        _same_shape(x0, x_t, "x0")
        return (self._at("sqrt_recip_alphas_cumprod", t, x_t) * x_t - x0) / self._at(
            "sqrt_recipm1_alphas_cumprod", t, x_t
        )

    def predict_x0(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The ``x0`` estimate from a denoiser output of this diffusion's ``prediction`` type."""
        _same_shape(output, x_t, "denoiser output")
        return output if self.prediction == "x0" else self.x0_from_epsilon(x_t, t, output)

    def model_variance_at(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse-process variance and log-variance at ``t`` (``fixed_large`` or ``fixed_small``)."""
        return self._at("model_variance", t, like), self._at("model_log_variance", t, like)

    # -- respacing -------------------------------------------------------------------------------------

    def respaced(self, timesteps: str | Iterable[int]) -> SpacedDiffusion:
        """The process restricted to some timesteps (fewer sampling steps, same marginals ``ab_t``).

        ``timesteps`` is a guided-diffusion section string over this diffusion's steps (``"15,15,8,6,6"``,
        ``"ddim50"``; see ``space_timesteps``) or a collection of original timesteps to keep.
        """
        from mogen_bench.diffusion.respace import SpacedDiffusion, space_timesteps

        if isinstance(timesteps, str):
            indices = sorted(space_timesteps(self.num_timesteps, timesteps))
            timesteps = self.timestep_map[indices].tolist()
        return SpacedDiffusion(self, timesteps)


def _same_shape(value: torch.Tensor, like: torch.Tensor, name: str) -> None:
    if value.shape != like.shape:
        raise MogenBenchError(
            f"{name} has shape {tuple(value.shape)}, expected {tuple(like.shape)} (the shape of the batch)",
            field=name,
            fix=f"give {name} the shape of the batch (a denoiser returns a tensor shaped like its input)",
        )
