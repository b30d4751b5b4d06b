"""Diffusion building blocks: schedules, the forward process and posterior, respacing, guidance, inpainting.

Golden values come from the published formulas (guided-diffusion, FineMoGen's configs and code notes in
``../shared/reference/finemogen.md`` sections 2.9-2.10) and from ``tests/diffusion_reference.py``, an
independent float64 transcription of the equations. Samplers are tested in ``test_diffusion_sampling.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mogen_bench.diffusion import (
    GaussianDiffusion,
    Inpainting,
    SpacedDiffusion,
    classifier_free_guidance,
    condition_dropout,
    constant_guidance,
    cosine_betas,
    finemogen_guidance,
    linear_betas,
    named_betas,
    space_timesteps,
)
from mogen_bench.errors import MogenBenchError
from tests.diffusion_reference import reference_tables, spaced_betas

# FineMoGen's 50 test timesteps for respace='15,15,8,6,6' (finemogen.md section 2.10).
FINEMOGEN_50 = [
    0, 14, 28, 43, 57, 71, 85, 99, 114, 128, 142, 156, 171, 185, 199,
    200, 214, 228, 243, 257, 271, 285, 299, 314, 328, 342, 356, 371, 385, 399,
    400, 428, 457, 485, 514, 542, 571, 599,
    600, 640, 680, 719, 759, 799,
    800, 840, 880, 919, 959, 999,
]  # fmt: skip


def _close(actual, expected, rtol=1e-7, atol=0.0):
    # np.testing rather than torch.testing.assert_close, whose first call imports ~1.5 s of torch.distributed
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


# -- schedules ---------------------------------------------------------------------------------------------


def test_linear_schedule_golden_values():
    betas = linear_betas(1000)
    assert betas.dtype == np.float64 and betas.shape == (1000,)
    assert betas[0] == pytest.approx(1e-4, rel=1e-15) and betas[-1] == pytest.approx(0.02, rel=1e-15)
    assert betas[1] - betas[0] == pytest.approx((0.02 - 1e-4) / 999, rel=1e-9)
    ab = np.cumprod(1 - betas)
    assert ab[0] == pytest.approx(0.9999, rel=1e-15)
    assert ab[1] == pytest.approx(0.9999 * (1 - 1e-4 - (0.02 - 1e-4) / 999), rel=1e-14)
    assert ab[499] == pytest.approx(7.85872429e-02, rel=1e-8)
    assert ab[999] == pytest.approx(4.03582977e-05, rel=1e-8)  # the familiar alpha_bar_T of DDPM
    # guided-diffusion's rescaling keeps the same span for other step counts: scale = 1000 / T
    short = linear_betas(100)
    assert short[0] == pytest.approx(1e-3) and short[-1] == pytest.approx(0.2)


def test_cosine_schedule_golden_values_and_clip():
    betas = cosine_betas(1000)

    def f(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    assert betas[0] == pytest.approx(1 - f(0.001) / f(0.0), rel=1e-12)
    assert betas[0] == pytest.approx(4.12842248e-05, rel=1e-8)
    # alpha_bar telescopes to f((t + 1) / T) / f(0) wherever no beta is clipped ...
    ab = np.cumprod(1 - betas)
    for t in (0, 249, 499, 749, 998):
        assert ab[t] == pytest.approx(f((t + 1) / 1000) / f(0), rel=1e-9)
    assert ab[499] == pytest.approx(0.49384359, rel=1e-7)
    # ... and only the last beta (1 - f(1) / f(0.999) = 1 - ~1e-30) hits the 0.999 clip
    assert betas[-1] == 0.999
    assert (betas == 0.999).sum() == 1 and betas[-2] == pytest.approx(0.74999939, rel=1e-7)
    assert cosine_betas(1000, max_beta=0.5).max() == 0.5


def test_named_schedule_and_errors():
    np.testing.assert_array_equal(named_betas("linear", 1000), linear_betas(1000))
    np.testing.assert_array_equal(named_betas("cosine", 50), cosine_betas(50))
    with pytest.raises(MogenBenchError, match="unknown beta schedule 'sqrt'") as err:
        named_betas("sqrt")
    assert "cosine, linear" in str(err.value)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(MogenBenchError, match="positive integer"):
            linear_betas(bad)


# -- the forward process and the posterior -----------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_tables_match_published_equations(schedule):
    diffusion = GaussianDiffusion.from_schedule(schedule, 1000)
    ref = reference_tables(named_betas(schedule, 1000))
    np.testing.assert_allclose(diffusion.alphas_cumprod, ref["ab"], rtol=1e-12)
    np.testing.assert_allclose(diffusion.alphas_cumprod_prev, ref["ab_prev"], rtol=1e-12)
    np.testing.assert_allclose(diffusion.posterior_mean_coef1, ref["coef1"], rtol=1e-11)
    np.testing.assert_allclose(diffusion.posterior_mean_coef2, ref["coef2"], rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(diffusion.posterior_variance, ref["posterior_variance"], rtol=1e-11)
    np.testing.assert_allclose(
        diffusion.posterior_log_variance_clipped, ref["posterior_log_variance_clipped"], rtol=1e-11
    )
    assert diffusion.posterior_variance[0] == 0.0  # beta~_0 = 0: why the log is clipped


def test_posterior_and_parameterisations_against_reference():
    ref = reference_tables(linear_betas(1000))
    diffusion = GaussianDiffusion(linear_betas(1000))
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    x_t = torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([0, 1, 2, 500, 998, 999])
    mean, var, log_var = diffusion.q_posterior(x0, x_t, t)
    c1, c2 = ref["coef1"][t.numpy()], ref["coef2"][t.numpy()]
    expected = c1[:, None, None] * x0.numpy() + c2[:, None, None] * x_t.numpy()
    np.testing.assert_allclose(mean.numpy(), expected, rtol=1e-11, atol=1e-14)
    assert var.shape == (6, 1, 1)
    np.testing.assert_allclose(var.flatten().numpy(), ref["posterior_variance"][t.numpy()], rtol=1e-11)
    np.testing.assert_allclose(log_var.flatten().numpy(), ref["posterior_log_variance_clipped"][t.numpy()])

    # x0 <-> epsilon round trip, and against x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)
    ab = torch.as_tensor(ref["ab"])[t].reshape(-1, 1, 1)
    eps = diffusion.epsilon_from_x0(x_t, t, x0)
    _close(eps, (x_t - ab.sqrt() * x0) / (1 - ab).sqrt(), rtol=1e-10, atol=1e-10)
    _close(diffusion.x0_from_epsilon(x_t, t, eps), x0, rtol=1e-10, atol=1e-10)
    _close(diffusion.q_sample(x0, t, eps), x_t, rtol=1e-10, atol=1e-10)

    # predict_x0 and the training target follow the parameterisation
    eps_model = GaussianDiffusion(linear_betas(1000), prediction="epsilon")
    _close(eps_model.predict_x0(eps, x_t, t), x0, rtol=1e-10, atol=1e-10)
    assert diffusion.predict_x0(x0, x_t, t) is x0
    assert diffusion.target(x0, eps) is x0 and eps_model.target(x0, eps) is eps


def test_model_variances_fixed_large_and_small():
    ref = reference_tables(linear_betas(1000))
    t = torch.tensor([0, 1, 10, 999])
    like = torch.zeros(4, 2, dtype=torch.float64)
    large = GaussianDiffusion(linear_betas(1000), variance="fixed_large")
    small = GaussianDiffusion(linear_betas(1000), variance="fixed_small")
    large_var, large_log = large.model_variance_at(t, like)
    small_var, small_log = small.model_variance_at(t, like)
    # fixed_large: beta_t, with beta~_1 standing in at t = 0 (guided-diffusion)
    expected = [ref["posterior_variance"][1], *ref["betas"][[1, 10, 999]]]
    np.testing.assert_allclose(large_var.flatten().numpy(), expected)
    np.testing.assert_allclose(large_log.flatten().numpy(), np.log(large_var.flatten().numpy()))
    np.testing.assert_allclose(small_var.flatten().numpy(), ref["posterior_variance"][t.numpy()], rtol=1e-11)
    np.testing.assert_allclose(small_log.flatten().numpy(), ref["posterior_log_variance_clipped"][t.numpy()])
    assert large_var[1, 0] == pytest.approx(0.0001 + (0.02 - 0.0001) / 999, rel=1e-12)


def test_q_sample_statistics_and_dtype():
    diffusion = GaussianDiffusion.from_schedule("cosine", 1000)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.full((20000, 2), 1.5)
    t = torch.full((20000,), 300)
    noise = torch.randn(x0.shape, generator=gen)
    x_t = diffusion.q_sample(x0, t, noise)
    assert x_t.dtype == torch.float32  # tables are float64 but the result keeps the batch's dtype
    ab = diffusion.alphas_cumprod[300]
    assert x_t.mean().item() == pytest.approx(1.5 * math.sqrt(ab), abs=4 * math.sqrt((1 - ab) / 40000))
    assert x_t.var().item() == pytest.approx(1 - ab, rel=0.03)
    _close(x_t, (math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise).float())


def test_sample_timesteps_uniform_and_seeded():
    diffusion = GaussianDiffusion(linear_betas(1000))
    t = diffusion.sample_timesteps(50000, torch.Generator().manual_seed(3))
    assert t.dtype == torch.long and t.min() == 0 and t.max() == 999
    assert t.float().mean().item() == pytest.approx(499.5, abs=4 * 288.7 / math.sqrt(50000))
    assert torch.equal(t, diffusion.sample_timesteps(50000, torch.Generator().manual_seed(3)))


def test_bad_configuration_is_refused():
    with pytest.raises(MogenBenchError, match="unknown prediction 'v'"):
        GaussianDiffusion(linear_betas(100), prediction="v")
    with pytest.raises(MogenBenchError, match="unknown variance 'learned'"):
        GaussianDiffusion(linear_betas(100), variance="learned")
    with pytest.raises(MogenBenchError, match=r"betas must lie in \(0, 1\]"):
        GaussianDiffusion([0.0, 0.1])
    with pytest.raises(MogenBenchError, match="at least 20 timesteps"):
        linear_betas(10)  # guided-diffusion's 1000 / T rescaling would give a last beta of 2
    diffusion = GaussianDiffusion(linear_betas(100))
    x0, t = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(MogenBenchError, match=r"noise has shape \(3,\), expected \(2, 3\)"):
        diffusion.q_sample(x0, t, torch.zeros(3))
    with pytest.raises(MogenBenchError, match="one per sample"):
        diffusion.q_sample(x0, torch.zeros(3, dtype=torch.long), torch.zeros(2, 3))


# -- respacing ---------------------------------------------------------------------------------------------


def test_finemogen_respacing_gives_its_exact_50_steps():
    assert sorted(space_timesteps(1000, "15,15,8,6,6")) == FINEMOGEN_50
    assert sorted(space_timesteps(1000, [15, 15, 8, 6, 6])) == FINEMOGEN_50


def test_space_timesteps_section_semantics():
    assert space_timesteps(1000, "ddim50") == set(range(0, 1000, 20))
    assert space_timesteps(1000, "ddim1000") == set(range(1000))
    assert space_timesteps(1000, "ddim7") == set(range(0, 1000, 143))  # ceil(1000 / 143) = 7
    assert space_timesteps(1000, "1000") == set(range(1000))
    assert space_timesteps(1000, "50") == {round(i * 999 / 49) for i in range(50)}
    assert space_timesteps(1000, "1") == {0}
    # 1001 steps in 2 sections: the first one is a step longer (501 and 500 steps)
    assert sorted(space_timesteps(1001, "3,3")) == [0, 250, 500, 501, 751, 1000]
    # guided-diffusion's docstring example: 300 steps as [10, 15, 20]
    steps = sorted(space_timesteps(300, [10, 15, 20]))
    assert len(steps) == 45 and steps[:2] == [0, 11] and steps[9:11] == [99, 100] and steps[-1] == 299


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ("ddim999", "integer stride"),
        ("ddimx", "cannot read"),
        ("10,abc", "cannot read"),
        ("600,10", "cannot take 600"),
    ],
)
def test_space_timesteps_errors(counts, message):
    with pytest.raises(MogenBenchError, match=message) as err:
        space_timesteps(1000, counts)
    assert err.value.field == "respacing" and err.value.fix


def test_spaced_diffusion_keeps_marginals_and_maps_timesteps():
    base = GaussianDiffusion.from_schedule("linear", 1000, variance="fixed_large")
    spaced = base.respaced("15,15,8,6,6")
    assert isinstance(spaced, SpacedDiffusion) and spaced.num_timesteps == 50
    assert spaced.timestep_map.tolist() == FINEMOGEN_50
    assert (spaced.prediction, spaced.variance) == ("x0", "fixed_large")
    np.testing.assert_allclose(spaced.betas, spaced_betas(base.betas, FINEMOGEN_50), rtol=1e-12)
    np.testing.assert_allclose(spaced.alphas_cumprod, base.alphas_cumprod[FINEMOGEN_50], rtol=1e-12)
    assert spaced.betas[0] == pytest.approx(1e-4) and spaced.betas[-1] == pytest.approx(
        1 - base.alphas_cumprod[999] / base.alphas_cumprod[959]
    )
    t = torch.tensor([0, 1, 49])
    assert spaced.original_timesteps(t).tolist() == [0, 14, 999]
    # q_sample at a spaced index is q_sample at its original timestep
    x0, noise = torch.ones(3, 2, dtype=torch.float64), torch.full((3, 2), 0.5, dtype=torch.float64)
    original = torch.tensor([0, 14, 999])
    _close(spaced.q_sample(x0, t, noise), base.q_sample(x0, original, noise))
    # a collection of original timesteps; respacing a respaced diffusion stays in original timesteps
    every_other = base.respaced(range(0, 1000, 2))
    twice = every_other.respaced("ddim50")
    assert twice.timestep_map.tolist() == list(range(0, 1000, 20))
    np.testing.assert_allclose(twice.alphas_cumprod, base.alphas_cumprod[::20], rtol=1e-12)
    assert base.respaced(range(1000)).timestep_map.tolist() == list(range(1000))
    np.testing.assert_allclose(base.respaced(range(1000)).betas, base.betas, rtol=1e-12)


def test_respacing_refuses_unknown_timesteps():
    base = GaussianDiffusion(linear_betas(1000))
    with pytest.raises(MogenBenchError, match="non-empty subset"):
        base.respaced([0, 1000])
    with pytest.raises(MogenBenchError, match="non-empty subset"):
        base.respaced([])
    with pytest.raises(MogenBenchError, match="non-empty subset"):
        base.respaced("ddim50").respaced([0, 10])  # 10 is not one of the kept steps


# -- classifier-free guidance ------------------------------------------------------------------------------


class _Recorder:
    """A conditional model: ``cond = 2 x + t``, ``uncond = -x``; remembers every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, drop):
        self.calls.append((x.shape[0], t.clone(), drop.clone()))
        shape = (-1, *([1] * (x.ndim - 1)))
        return torch.where(drop.reshape(shape), -x, 2 * x + t.reshape(shape).to(x))


def test_guidance_is_one_forward_on_the_doubled_batch():
    model = _Recorder()
    fn = classifier_free_guidance(model, 2.5)
    x = torch.arange(12, dtype=torch.float64).reshape(3, 2, 2)
    t = torch.tensor([5, 0, 999])
    out = fn(x, t)
    assert len(model.calls) == 1
    size, t_seen, drop = model.calls[0]
    assert size == 6 and t_seen.tolist() == [5, 0, 999, 5, 0, 999]
    assert drop.dtype == torch.bool and drop.tolist() == [False] * 3 + [True] * 3
    cond, uncond = 2 * x + t.reshape(-1, 1, 1), -x
    _close(out, uncond + 2.5 * (cond - uncond))


def test_guidance_scale_one_and_zero_are_exact():
    x = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([1, 2, 3, 4])
    cond, uncond = 2 * x + t.reshape(-1, 1, 1), -x
    for scale in (1.0, constant_guidance(1.0)):
        assert torch.equal(classifier_free_guidance(_Recorder(), scale)(x, t), cond)
    for scale in (0.0, 0, constant_guidance(0.0)):
        assert torch.equal(classifier_free_guidance(_Recorder(), scale)(x, t), uncond)
    # still one call on the doubled batch (callers prepare doubled conditions)
    model = _Recorder()
    classifier_free_guidance(model, 0.0)(x, t)
    assert len(model.calls) == 1 and model.calls[0][0] == 8 and model.calls[0][2].sum() == 4


def test_finemogen_timestep_dependent_scale():
    w = finemogen_guidance(6.5)
    values = w(torch.tensor([999, 0, 500]))
    np.testing.assert_allclose(values.numpy(), [1 + 6.5 * 0.999, 1.0, 4.25], rtol=1e-15)
    assert values[0].item() == pytest.approx(7.4935)  # "7.49 at t=999 down to 1.0 at t=0"
    assert finemogen_guidance(4.5)(torch.tensor([999])).item() == pytest.approx(5.4955)  # KIT-ML
    # FineMoGen's own expression: (1 - (1000 - t) / 1000) * scale + 1
    t = torch.arange(0, 1000, 37)
    np.testing.assert_allclose(w(t).numpy(), (1 - (1000 - t.numpy()) / 1000) * 6.5 + 1, rtol=1e-12)
    # applied per sample, with the original timestep
    x = torch.ones(3, 2, dtype=torch.float64)
    t = torch.tensor([999, 0, 500])
    out = classifier_free_guidance(_Recorder(), w)(x, t)
    cond, uncond = 2 * x + t[:, None], -x
    _close(out, uncond + values[:, None] * (cond - uncond))
    assert torch.equal(out[1], cond[1])  # w = 1 at t = 0: the conditional output


def test_guidance_errors():
    with pytest.raises(MogenBenchError, match="number or a function"):
        classifier_free_guidance(_Recorder(), "2.5")
    with pytest.raises(MogenBenchError, match="one weight per sample"):
        classifier_free_guidance(_Recorder(), lambda t: torch.ones(1))(torch.zeros(2, 1), torch.zeros(2))


def test_condition_dropout():
    gen = torch.Generator().manual_seed(7)
    drop = condition_dropout(100000, 0.1, gen)
    assert drop.dtype == torch.bool and drop.shape == (100000,)
    assert drop.float().mean().item() == pytest.approx(0.1, abs=4 * math.sqrt(0.09 / 100000))
    assert torch.equal(drop, condition_dropout(100000, 0.1, torch.Generator().manual_seed(7)))
    assert not condition_dropout(1000, 0.0, gen).any() and condition_dropout(1000, 1.0, gen).all()
    with pytest.raises(MogenBenchError, match=r"\[0, 1\]"):
        condition_dropout(4, 1.5, gen)


# -- inpainting (the blend itself; in the samplers: test_diffusion_sampling.py) ----------------------------


def test_inpainting_blend():
    known = torch.full((2, 4, 3), 10.0, dtype=torch.float64)
    pred = torch.arange(24, dtype=torch.float64).reshape(2, 4, 3)
    ramp = torch.tensor([0.0, 0.25, 0.85, 1.0], dtype=torch.float64).reshape(1, 4, 1)
    _close(Inpainting(known, ramp).apply(pred), pred * (1 - ramp) + known * ramp)
    hard = torch.tensor([True, False, True, False]).reshape(1, 4, 1)
    out = Inpainting(known, hard).apply(pred)
    assert torch.equal(out[:, [0, 2]], known[:, [0, 2]]) and torch.equal(out[:, [1, 3]], pred[:, [1, 3]])
    assert torch.equal(Inpainting(known, 1.0).apply(pred), known)
    assert torch.equal(Inpainting(known, 0.0).apply(pred), pred)
    prefix = Inpainting.prefix(known, torch.tensor([1, 3])).apply(pred)
    assert torch.equal(prefix[0, :1], known[0, :1]) and torch.equal(prefix[0, 1:], pred[0, 1:])
    assert torch.equal(prefix[1, :3], known[1, :3]) and torch.equal(prefix[1, 3:], pred[1, 3:])
    # known / mask follow the batch's dtype
    assert Inpainting(known.float(), ramp).apply(pred).dtype == torch.float64


def test_inpainting_errors():
    known = torch.zeros(2, 4, 3)
    with pytest.raises(MogenBenchError, match=r"\[0, 1\]"):
        Inpainting(known, torch.full((1, 4, 1), 1.2))
    with pytest.raises(MogenBenchError, match="does not broadcast"):
        Inpainting(known, torch.ones(5))
    with pytest.raises(MogenBenchError, match="shape of the batch"):
        Inpainting(known, 1.0).apply(torch.zeros(2, 5, 3))
