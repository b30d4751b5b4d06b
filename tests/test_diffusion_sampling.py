"""DDPM and DDIM sampling, checked against the exact law of the samples for Gaussian data.

For data ``x0 ~ N(mu, s^2)`` the optimal denoiser is closed-form (``tests/diffusion_reference.py``), every
sampler step is affine plus Gaussian noise, and the law of the final sample follows exactly from the published
equations. So DDIM with ``eta = 0`` must equal ``gain * noise + offset`` to rounding, stochastic samplers must
match the reference mean and variance on many samples, and all of them must land near the data distribution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mogen_bench.diffusion import (
    GaussianDiffusion,
    Inpainting,
    classifier_free_guidance,
    condition_dropout,
    ddim_sample,
    ddpm_sample,
    finemogen_guidance,
    space_timesteps,
)
from mogen_bench.errors import MogenBenchError
from tests.diffusion_reference import (
    gaussian_denoiser,
    gaussian_x0,
    reference_tables,
    sampler_moments,
    sampler_path,
)

MU = np.array([0.5, -1.0, 2.0])
S = np.array([0.3, 1.0, 0.5])
F64 = torch.float64


def _setup(schedule="linear", respacing=None, prediction="x0", variance="fixed_small", calls=None):
    base = GaussianDiffusion.from_schedule(schedule, 1000, prediction=prediction, variance=variance)
    diffusion = base if respacing is None else base.respaced(respacing)
    fn = gaussian_denoiser(base.betas, MU, S, prediction=prediction, calls=calls)
    return base, diffusion, fn


def _moments(base, diffusion, **kwargs):
    ab = reference_tables(base.betas)["ab"]
    return sampler_moments(diffusion.betas, ab, diffusion.timestep_map, MU, S, **kwargs)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _noise(shape, seed):
    return torch.randn(shape, generator=_gen(seed), dtype=F64)


@pytest.mark.parametrize(
    ("schedule", "respacing"), [("linear", "15,15,8,6,6"), ("cosine", "ddim50"), ("linear", None)]
)
def test_ddim_eta0_is_the_exact_deterministic_map(schedule, respacing):
    base, diffusion, fn = _setup(schedule, respacing)
    noise = _noise((4, 5, 3), 0)
    out = ddim_sample(diffusion, fn, noise.shape, generator=_gen(1), noise=noise)
    ref = _moments(base, diffusion, sampler="ddim")
    np.testing.assert_allclose(out.numpy(), ref.gain * noise.numpy() + ref.offset, rtol=1e-9, atol=1e-9)
    # no randomness after the initial noise: another generator gives the same sample
    again = ddim_sample(diffusion, fn, noise.shape, generator=_gen(99), noise=noise)
    assert torch.equal(out, again)


@pytest.mark.parametrize(
    ("sampler", "schedule", "respacing", "variance", "eta"),
    [
        ("ddpm", "linear", None, "fixed_small", 0.0),
        ("ddpm", "linear", None, "fixed_large", 0.0),
        ("ddpm", "cosine", "15,15,8,6,6", "fixed_large", 0.0),
        ("ddim", "linear", "ddim50", "fixed_large", 0.5),
        ("ddim", "cosine", None, "fixed_small", 1.0),
    ],
)
def test_stochastic_samplers_follow_the_reference_path(sampler, schedule, respacing, variance, eta):
    """Pathwise: the same initial noise and the same per-step draws (the generator's, in step order) give the
    reference sample to rounding."""
    base, diffusion, fn = _setup(schedule, respacing, variance=variance)
    shape = (2, 3, 3)
    noise = _noise(shape, 100)
    if sampler == "ddpm":
        out = ddpm_sample(diffusion, fn, shape, generator=_gen(5), noise=noise)
    else:
        out = ddim_sample(diffusion, fn, shape, eta=eta, generator=_gen(5), noise=noise)
    replica = _gen(5)
    draws = (torch.randn(shape, generator=replica, dtype=F64).numpy() for _ in range(diffusion.num_timesteps))
    ab = reference_tables(base.betas)["ab"]
    expected = sampler_path(
        noise.numpy(), draws, diffusion.betas, ab, diffusion.timestep_map, MU, S,
        sampler=sampler, variance=variance, eta=eta,
    )  # fmt: skip
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-9, atol=1e-9)


def _check_distribution(out, ref, data_tol):
    flat = out.reshape(-1, 3).numpy()
    n = flat.shape[0]
    mean, std = flat.mean(axis=0), flat.std(axis=0, ddof=1)
    report = f"mean {mean}, std {std}; reference mean {ref.mean}, std {np.sqrt(ref.var)}"
    # the exact law of this sampler, within 5 standard errors ...
    assert (np.abs(mean - ref.mean) <= 5 * np.sqrt(ref.var / n)).all(), report
    assert (np.abs(std / np.sqrt(ref.var) - 1) <= 5 / np.sqrt(2 * n)).all(), report
    # ... and the data distribution it approximates (50 steps lose some variance: data_tol)
    assert (np.abs(mean - MU) <= data_tol * S + 5 * S / np.sqrt(n)).all(), report
    assert (np.abs(std / S - 1) <= data_tol + 5 / np.sqrt(2 * n)).all(), report


# Under 32768 elements, so torch runs each op on one thread (a loaded 2-core machine stalls OpenMP's spin).
STATS_SHAPE = (2700, 4, 3)


@pytest.mark.parametrize(
    ("sampler", "respacing", "variance", "eta", "data_tol"),
    [
        ("ddpm", "15,15,8,6,6", "fixed_large", 0.0, 0.06),
        ("ddpm", "ddim50", "fixed_small", 0.0, 0.14),  # 50 DDPM steps with beta~ lose ~12 % of s
        ("ddim", "ddim50", "fixed_small", 1.0, 0.14),
        ("ddim", "15,15,8,6,6", "fixed_small", 0.0, 0.07),
    ],
)
def test_samplers_reproduce_the_data_distribution(sampler, respacing, variance, eta, data_tol):
    base, diffusion, fn = _setup("linear", respacing, variance=variance)
    gen = _gen(5)
    noise = torch.randn(STATS_SHAPE, generator=gen, dtype=F64)
    if sampler == "ddpm":
        out = ddpm_sample(diffusion, fn, STATS_SHAPE, generator=gen, noise=noise)
    else:
        out = ddim_sample(diffusion, fn, STATS_SHAPE, eta=eta, generator=gen, noise=noise)
    _check_distribution(out, _moments(base, diffusion, sampler=sampler, variance=variance, eta=eta), data_tol)


@pytest.mark.slow
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_1000_step_ddpm_reproduces_the_data_distribution(variance):
    base, diffusion, fn = _setup("linear", variance=variance)
    out = ddpm_sample(diffusion, fn, STATS_SHAPE, generator=_gen(5),
                      noise=_noise(STATS_SHAPE, 6))  # fmt: skip
    _check_distribution(out, _moments(base, diffusion, sampler="ddpm", variance=variance), 0.02)


def test_ddim_eta_one_is_ddpm_with_fixed_small_variance():
    _, diffusion, fn = _setup("linear", "ddim50", variance="fixed_small")
    shape = (3, 4, 3)
    a = ddpm_sample(diffusion, fn, shape, generator=_gen(2), noise=_noise(shape, 7))
    b = ddim_sample(diffusion, fn, shape, eta=1.0, generator=_gen(2), noise=_noise(shape, 7))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_epsilon_and_x0_parameterisations_agree(sampler):
    shape = (3, 4, 3)
    outs = []
    for prediction in ("x0", "epsilon"):
        _, diffusion, fn = _setup("cosine", "15,15,8,6,6", prediction=prediction)
        run = ddpm_sample if sampler == "ddpm" else ddim_sample
        kwargs = {} if sampler == "ddpm" else {"eta": 0.5}
        outs.append(run(diffusion, fn, shape, generator=_gen(3), noise=_noise(shape, 4), **kwargs))
    np.testing.assert_allclose(outs[0].numpy(), outs[1].numpy(), rtol=1e-8, atol=1e-8)


def test_respacing_with_every_timestep_equals_the_original():
    base, _, fn = _setup("linear", variance="fixed_large")
    shape = (2, 3, 3)
    a = ddpm_sample(base, fn, shape, generator=_gen(6), noise=_noise(shape, 8))
    full = base.respaced(space_timesteps(1000, "1000"))
    b = ddpm_sample(full, fn, shape, generator=_gen(6), noise=_noise(shape, 8))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9)


def test_denoiser_gets_original_timesteps_and_progress_is_reported():
    calls = []
    _, diffusion, fn = _setup("linear", "15,15,8,6,6", calls=calls)
    reported = []
    ddim_sample(diffusion, fn, (2, 3, 3), generator=_gen(0), noise=_noise((2, 3, 3), 0),
                progress=lambda done, total: reported.append((done, total)))  # fmt: skip
    assert [t.tolist() for t in calls] == [[t, t] for t in sorted(space_timesteps(1000, "15,15,8,6,6"))[::-1]]
    assert all(t.dtype == torch.long for t in calls)
    assert reported == [(i, 50) for i in range(1, 51)]


def test_seeded_golden_values_float32():
    """Fixed seeds, float32, the generator supplying all noise (initial and per step)."""
    _, spaced, fn = _setup("linear", "15,15,8,6,6", variance="fixed_large")
    ddim = ddim_sample(spaced, fn, (2, 2, 3), generator=_gen(0))
    base, _, base_fn = _setup("linear", variance="fixed_large")
    ddpm = ddpm_sample(base, base_fn, (2, 2, 3), generator=_gen(0))
    assert ddim.dtype == ddpm.dtype == torch.float32 and ddim.device.type == "cpu"
    np.testing.assert_allclose(ddim[0, 0].numpy(), DDIM_GOLDEN, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ddpm[0, 0].numpy(), DDPM_GOLDEN, rtol=1e-5, atol=1e-5)
    # same seed, same sample; another seed, another sample
    short = ddpm_sample(spaced, fn, (2, 2, 3), generator=_gen(0))
    assert torch.equal(short, ddpm_sample(spaced, fn, (2, 2, 3), generator=_gen(0)))
    assert not torch.allclose(short, ddpm_sample(spaced, fn, (2, 2, 3), generator=_gen(1)))
    # the initial noise of the DDIM run is the generator's first draw
    noise = torch.randn(2, 2, 3, generator=_gen(0))
    assert torch.equal(ddim, ddim_sample(spaced, fn, (2, 2, 3), generator=None, noise=noise))


# Recorded from this implementation (torch 2.x CPU generator); the DDIM value is also the reference map of
# the first noise draw [1.5410, -0.2934, -2.1788], as test_ddim_eta0_is_the_exact_deterministic_map checks.
DDIM_GOLDEN = [0.93341476, -1.27851880, 0.94881779]
DDPM_GOLDEN = [0.56691045, -2.50767827, 2.02157426]


# -- starting from a motion, and inpainting ----------------------------------------------------------------


@pytest.mark.parametrize(("respacing", "first_t", "steps"), [(None, 899, 900), ("15,15,8,6,6", 880, 47)])
def test_start_from_a_noised_motion(respacing, first_t, steps):
    calls = []
    base, diffusion, fn = _setup("linear", respacing, calls=calls)
    x_init = _noise((2, 4, 3), 10) * 0.1 + torch.as_tensor(MU)
    noise = _noise((2, 4, 3), 11)
    out = ddim_sample(diffusion, fn, x_init.shape, generator=None, noise=noise, start=(x_init, 899))
    assert len(calls) == steps and calls[0].tolist() == [first_t, first_t]  # the last kept step <= 899
    ab = base.alphas_cumprod[first_t]
    x_t = math.sqrt(ab) * x_init + math.sqrt(1 - ab) * noise  # q_sample of x_init to t_start
    ref = _moments(base, diffusion, sampler="ddim", start_index=steps - 1)
    np.testing.assert_allclose(out.numpy(), ref.gain * x_t.numpy() + ref.offset, rtol=1e-9, atol=1e-9)
    # without noise the generator draws it: same seed, same sample
    a = ddpm_sample(diffusion, fn, x_init.shape, generator=_gen(4), start=(x_init, 99))
    b = ddpm_sample(diffusion, fn, x_init.shape, generator=_gen(4), start=(x_init, 99))
    assert torch.equal(a, b) and a.dtype == F64


@pytest.mark.parametrize("prediction", ["x0", "epsilon"])
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_inpainting_with_full_mask_returns_known(sampler, prediction):
    _, diffusion, fn = _setup("cosine", "ddim20", prediction=prediction)
    known = _noise((2, 5, 3), 12)
    run = ddpm_sample if sampler == "ddpm" else ddim_sample
    out = run(diffusion, fn, known.shape, generator=_gen(0), noise=_noise((2, 5, 3), 13),
              inpaint=Inpainting(known, 1.0))  # fmt: skip
    assert torch.equal(out, known)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_hard_mask_keeps_known_exactly_and_frees_the_rest(sampler):
    _, diffusion, fn = _setup("linear", "ddim50", variance="fixed_large")
    shape = (2, 6, 3)
    known = torch.full(shape, 7.0, dtype=F64)
    mask = torch.zeros(1, 6, 1, dtype=F64)
    mask[:, :2] = 1  # a two-frame prefix
    run = ddpm_sample if sampler == "ddpm" else ddim_sample
    kwargs = {} if sampler == "ddpm" else {"eta": 0.3}

    def sample(inpaint):
        return run(diffusion, fn, shape, generator=_gen(1), noise=_noise(shape, 2),
                   inpaint=inpaint, **kwargs)  # fmt: skip

    free = sample(None)
    for inpaint in (Inpainting(known, mask), Inpainting(known, mask.bool()), Inpainting.prefix(known, 2)):
        out = sample(inpaint)
        assert torch.equal(out[:, :2], known[:, :2])
        # the exact denoiser acts per element, so the free frames evolve exactly as without inpainting
        np.testing.assert_allclose(out[:, 2:].numpy(), free[:, 2:].numpy(), rtol=1e-12, atol=1e-12)


def test_soft_mask_blends_every_x0_estimate():
    """DoubleTake's second take: start from a motion noised to T - 100 - 1, soft mask up to 0.85."""
    outputs = []
    _, diffusion, exact = _setup("linear", variance="fixed_small")

    def fn(x, t):
        outputs.append(exact(x, t))
        return outputs[-1]

    shape = (1, 6, 3)
    first_take = _noise(shape, 3)
    mask = torch.tensor([1.0, 1.0, 0.85, 0.0, 0.425, 1.0], dtype=F64).reshape(1, 6, 1)
    out = ddpm_sample(diffusion, fn, shape, generator=_gen(0),
                      inpaint=Inpainting(first_take, mask), start=(first_take, 1000 - 100 - 1))  # fmt: skip
    assert len(outputs) == 900
    # the last step returns the blended x0 estimate
    blended = outputs[-1] * (1 - mask) + first_take * mask
    np.testing.assert_allclose(out.numpy(), blended.numpy(), rtol=1e-12)
    assert torch.equal(out[:, [0, 1, 5]], first_take[:, [0, 1, 5]])


def test_after_step_hook_rewrites_each_sample():
    seen = []
    _, diffusion, fn = _setup("linear", "ddim10")

    def hook(x, t):
        seen.append(int(t[0]))
        return torch.zeros_like(x)

    out = ddim_sample(diffusion, fn, (2, 2, 3), generator=_gen(0), after_step=hook)
    assert seen == list(range(900, -1, -100))
    assert torch.equal(out, torch.zeros_like(out))  # the hook's result is the sample
    # with the hook before the last step only: x_1 = 0 -> the sample is E[x0 | x_t = 0] at t = 0
    out = ddim_sample(diffusion, fn, (2, 2, 3), generator=_gen(0),
                      after_step=lambda x, t: torch.zeros_like(x) if int(t[0]) == 100 else x)  # fmt: skip
    _, b = gaussian_x0(diffusion.alphas_cumprod[0], MU, S)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(b, (2, 2, 3)), rtol=1e-6)


def test_sampling_errors():
    _, diffusion, fn = _setup("linear", "ddim10")
    gen = _gen(0)
    with pytest.raises(MogenBenchError, match=r"noise has shape \(2, 3\), expected \(2, 4\)"):
        ddpm_sample(diffusion, fn, (2, 4), generator=gen, noise=torch.zeros(2, 3))
    with pytest.raises(MogenBenchError, match="the denoiser returned"):
        ddim_sample(diffusion, lambda x, t: x[:, :1], (2, 4), generator=gen)
    with pytest.raises(MogenBenchError, match="start timestep 1000 is outside"):
        ddim_sample(diffusion, fn, (2, 4, 3), generator=gen, start=(torch.zeros(2, 4, 3), 1000))
    with pytest.raises(MogenBenchError, match="eta must be >= 0"):
        ddim_sample(diffusion, fn, (2, 4, 3), eta=-1.0, generator=gen)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampling_on_cuda_matches_the_reference():
    """Tables are indexed on the device of the batch; the generator on that device draws the noise."""
    base, diffusion, fn = _setup("linear", "15,15,8,6,6")
    gen = torch.Generator(device="cuda").manual_seed(0)
    out = ddim_sample(diffusion, fn, (4, 5, 3), generator=gen, noise=_noise((4, 5, 3), 0).cuda())
    assert out.device.type == "cuda"
    ref = _moments(base, diffusion, sampler="ddim")
    expected = ref.gain * _noise((4, 5, 3), 0).numpy() + ref.offset
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-9, atol=1e-9)
    # stochastic sampling, inpainting and the forward process on the device, in float32
    known = torch.zeros(4, 5, 3, device="cuda")
    out = ddpm_sample(diffusion, fn, (4, 5, 3), generator=gen, inpaint=Inpainting.prefix(known, 2))
    assert out.device.type == "cuda" and out.dtype == torch.float32 and torch.equal(out[:, :2], known[:, :2])
    t = diffusion.sample_timesteps(4, gen)
    x_t = base.q_sample(known + 1, t, torch.zeros_like(known))
    expected = torch.as_tensor(base.sqrt_alphas_cumprod)[t.cpu()].float().reshape(4, 1, 1).expand(4, 5, 3)
    np.testing.assert_allclose(x_t.cpu().numpy(), expected.numpy(), rtol=1e-6)
    # guidance with FineMoGen's timestep-dependent scale, and condition dropout, on the device
    model = lambda x, t, drop: torch.where(drop[:, None], 0.0, x)  # noqa: E731  (cond = x, uncond = 0)
    guided = classifier_free_guidance(model, finemogen_guidance(6.5))
    out = guided(torch.ones(2, 3, device="cuda"), torch.tensor([999, 0], device="cuda"))
    np.testing.assert_allclose(out.cpu().numpy(), [[7.4935] * 3, [1.0] * 3], rtol=1e-6)
    drop = condition_dropout(10000, 0.1, gen)
    assert drop.device.type == "cuda" and abs(drop.float().mean().item() - 0.1) < 0.015
