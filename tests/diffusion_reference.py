"""An independent float64 numpy transcription of guided-diffusion's equations, to test the diffusion package.

Written from the published equations (Ho et al. 2020, eq. 4, 6-7; Nichol & Dhariwal 2021, sec. 3.2;
Song et al. 2021, eq. 12-16; guided-diffusion ``gaussian_diffusion.py`` / ``respace.py``), one step at a
time, without sharing code with ``mogen_bench.diffusion``.

It also carries the exact denoiser for Gaussian data: if ``x0 ~ N(mu, s^2)`` independently per element, then
``E[x0 | x_t] = mu + k_t (x_t - sqrt(ab_t) mu)`` with ``k_t = sqrt(ab_t) s^2 / (ab_t s^2 + 1 - ab_t)``. Every
sampler step is then affine in ``x_t`` plus independent Gaussian noise, so the law of the final sample is
Gaussian with a mean and variance that ``sampler_moments`` propagates exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch


def reference_tables(betas) -> dict[str, np.ndarray]:
    betas = np.asarray(betas, dtype=np.float64)
    n = betas.size
    alphas = [1.0 - b for b in betas]
    ab = []
    running = 1.0
    for a in alphas:
        running *= a
        ab.append(running)
    ab = np.array(ab)
    ab_prev = np.array([1.0, *ab[:-1]])
    post_var = np.array([betas[i] * (1 - ab_prev[i]) / (1 - ab[i]) for i in range(n)])
    return {
        "betas": betas,
        "alphas": np.array(alphas),
        "ab": ab,
        "ab_prev": ab_prev,
        "coef1": np.array([betas[i] * math.sqrt(ab_prev[i]) / (1 - ab[i]) for i in range(n)]),
        "coef2": np.array([(1 - ab_prev[i]) * math.sqrt(alphas[i]) / (1 - ab[i]) for i in range(n)]),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": np.log(np.array([post_var[1], *post_var[1:]])),
        "fixed_large": np.array([post_var[1], *betas[1:]]),
        "fixed_small": post_var,
    }


def spaced_betas(betas, kept) -> np.ndarray:
    """guided-diffusion's SpacedDiffusion: ``beta_i = 1 - ab[k_i] / ab[k_{i-1}]`` over the kept steps."""
    ab = reference_tables(betas)["ab"]
    out, last = [], 1.0
    for k in sorted(kept):
        out.append(1 - ab[k] / last)
        last = ab[k]
    return np.array(out)


def gaussian_x0(ab: float, mu: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``E[x0 | x_t] = k x_t + b`` for Gaussian data: returns ``(k, b)``."""
    k = math.sqrt(ab) * s**2 / (ab * s**2 + 1 - ab)
    return k, (1 - k * math.sqrt(ab)) * mu


def gaussian_denoiser(original_betas, mu, s, prediction: str = "x0", calls: list | None = None):
    """The exact denoiser ``fn(x_t, t_original)`` for data ``N(mu, s^2)`` (``mu``, ``s`` per feature)."""
    ab = reference_tables(original_betas)["ab"]
    mu, var = np.asarray(mu, dtype=np.float64), np.asarray(s, dtype=np.float64) ** 2

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append(t.clone())
        # coefficients in numpy (per sample and feature), the batch op in torch
        a = ab[t.cpu().numpy()][:, None]
        k = np.sqrt(a) * var / (a * var + 1 - a)
        shape = (x.shape[0], *([1] * (x.ndim - 2)), mu.size)
        x0 = torch.as_tensor(k).reshape(shape).to(x) * x + torch.as_tensor((1 - k * np.sqrt(a)) * mu).reshape(
            shape
        ).to(x)
        if prediction == "x0":
            return x0
        root_a = torch.as_tensor(np.sqrt(a)).reshape(-1, *([1] * (x.ndim - 1))).to(x)
        root_1ma = torch.as_tensor(np.sqrt(1 - a)).reshape(-1, *([1] * (x.ndim - 1))).to(x)
        return (x - root_a * x0) / root_1ma

    return fn


def sampler_steps(
    betas,
    original_ab,
    timestep_map,
    mu,
    s,
    *,
    sampler: str,
    variance: str = "fixed_small",
    eta: float = 0.0,
    start_index: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each sampler step under the Gaussian denoiser, from the first index down to 0, as ``(a, b, var)``:
    ``x_next = a * x + b + sqrt(var) * z`` per feature, ``z`` standard normal (``var = 0``: no noise)."""
    tab = reference_tables(betas)
    mu, s = np.asarray(mu, dtype=np.float64), np.asarray(s, dtype=np.float64)
    first = len(tab["betas"]) - 1 if start_index is None else start_index
    steps = []
    for i in range(first, -1, -1):
        k, b = gaussian_x0(original_ab[timestep_map[i]], mu, s)
        if i == 0:  # the last step returns the x0 estimate (posterior mean with coef1 = 1, coef2 = 0)
            steps.append((k, b, np.zeros_like(mu)))
        elif sampler == "ddpm":
            a = tab["coef1"][i] * k + tab["coef2"][i]
            steps.append((a, tab["coef1"][i] * b, np.full_like(mu, tab[variance][i])))
        else:
            ab, ab_prev = tab["ab"][i], tab["ab_prev"][i]
            sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(1 - ab / ab_prev)
            c = math.sqrt(1 - ab_prev - sigma**2)
            eps_a = (1 - math.sqrt(ab) * k) / math.sqrt(1 - ab)  # eps = (x - sqrt(ab) x0) / sqrt(1 - ab)
            eps_b = -math.sqrt(ab) * b / math.sqrt(1 - ab)
            a = math.sqrt(ab_prev) * k + c * eps_a
            steps.append((a, math.sqrt(ab_prev) * b + c * eps_b, np.full_like(mu, sigma**2)))
    return steps


def sampler_moments(*args, mean0=0.0, var0=1.0, **kwargs) -> Moments:
    """Exact law of the sample under the Gaussian denoiser, per feature (arguments as ``sampler_steps``).

    The sample is ``gain * x_start + offset + (Gaussian noise)``; ``mean`` and ``var`` are its moments for
    ``x_start`` of mean ``mean0`` and variance ``var0`` (pure noise: 0 and 1).
    """
    steps = sampler_steps(*args, **kwargs)
    zero = np.zeros_like(steps[0][0])
    gain, offset, noise_var = zero + 1, zero, zero
    for a, b, var in steps:
        gain, offset, noise_var = a * gain, a * offset + b, a**2 * noise_var + var
    return Moments(gain, offset, gain * mean0 + offset, gain**2 * var0 + noise_var)


def sampler_path(x_start: np.ndarray, draws, *args, **kwargs) -> np.ndarray:
    """The sample from ``x_start`` with per-step noise ``draws`` (an iterator: one array per noisy step)."""
    x = np.asarray(x_start, dtype=np.float64)
    for a, b, var in sampler_steps(*args, **kwargs):
        x = a * x + b
        if (var > 0).any():
            x = x + np.sqrt(var) * next(draws)
    return x


class Moments(NamedTuple):
    gain: np.ndarray
    offset: np.ndarray
    mean: np.ndarray
    var: np.ndarray
