"""PriorMDM-style composition (DoubleTake) over the tiny MDM: bookkeeping against PriorMDM's code, both takes,
errors, and train / generate / evaluate on the CLI and the protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from annotation.model import Stage
from baselines.priormdm import PriorMDM, PriorMDMConfig
from baselines.priormdm.doubletake import (
    HandshakeAveraging,
    Transition,
    plan_composition,
    soft_mask,
    unfold_indices,
)
from mogen_bench.cli import cli
from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluation import EvaluationJob, evaluate
from mogen_bench.models.base import ModelContext
from mogen_bench.models.conditions import as_requests
from mogen_bench.training.checkpoint import load_checkpoint
from mogen_bench.training.run import load_run, read_run_config
from tests.test_evaluation import SMALL, FakeEvaluator
from tests.tiny_runs import DIMS

#: DoubleTake settings sized for the tiny MDM (T = 100, motions of at most 40 frames).
TINY_DT = dict(handshake=4, blend=2, skip_steps=20, sampler="ddim", sampling_steps="ddim10")
#: What the same sampler means for the prior itself.
PRIOR_OVERRIDES = {"sampler": "ddim", "sampling_steps": "ddim10", "ddim_eta": 0.0, "guidance": 2.5}
THREE = [
    Stage(0, 12, overall="a person walks"),
    Stage(12, 26, overall="then jumps"),
    Stage(26, 40, overall="then waves"),
]


def _context(run) -> ModelContext:
    return ModelContext.from_dict(read_run_config(run)["context"])


def _model(tiny_run, context=None, **changes) -> PriorMDM:
    config = PriorMDMConfig(**{"prior_run": str(tiny_run), **TINY_DT, **changes})
    return PriorMDM(config, context or _context(tiny_run)).eval()


@pytest.fixture(scope="module")
def prior_mdm(tiny_run) -> PriorMDM:
    return _model(tiny_run)


# --------------------------------------------------------------------------- bookkeeping
def test_soft_mask_is_priormdms_ramps():
    mask = soft_mask(34, start=12, handshake=4, ramp=10)
    before = [0.85, 0.765, 0.68, 0.595, 0.51, 0.425, 0.34, 0.255, 0.17, 0.085]
    after = [0.0, 0.085, 0.17, 0.255, 0.34, 0.425, 0.51, 0.595, 0.68, 0.765]
    expected = [1.0, 1.0, *before, 0.0, 0.0, 0.0, 0.0, *after, *[1.0] * 8]
    np.testing.assert_allclose(mask.numpy(), expected, atol=1e-7)
    # PriorMDM's expressions (sampling_utils.py) for the same ramps:
    np.testing.assert_allclose(mask[2:12], torch.arange(0.85, 0.0, -0.85 / 10), atol=1e-7)
    np.testing.assert_allclose(mask[16:26], torch.arange(0.0, 0.85, 0.85 / 10), atol=1e-7)
    # A blend below 2 frames has no ramps, as in PriorMDM.
    assert Transition(10, 4, 1).ramp == 0 and Transition(10, 4, 2).ramp == 2
    assert soft_mask(8, 2, 4, 0).tolist() == [1, 1, 0, 0, 0, 0, 1, 1]


def test_handshakes_are_centred_on_stage_boundaries():
    plan = plan_composition([(0, 20), (20, 44), (44, 60)], handshake=6, blend=3)
    assert [(t.start, t.end, t.blend) for t in plan.transitions] == [(17, 23, 3), (41, 47, 3)]
    assert plan.intervals == ((0, 23), (17, 47), (41, 60))
    # PriorMDM's length bookkeeping: sum(L_i) - (N - 1) h is the motion's length.
    assert sum(end - start for start, end in plan.intervals) - 2 * 6 == plan.length == 60
    assert [plan.window(0), plan.window(1)] == [(0, 41), (23, 60)]
    # An odd handshake puts its extra frame after the boundary.
    assert plan_composition([(0, 20), (20, 40)], 5, 2).transitions[0].start == 18


def test_short_stages_shrink_the_transition_or_are_refused():
    # Stage 0 has 5 frames: a transition may use 2 of them, so (6, 3) shrinks to (3, 1).
    plan = plan_composition([(0, 5), (5, 30)], handshake=6, blend=3)
    assert [(t.handshake, t.blend, t.start) for t in plan.transitions] == [(3, 1, 4)]
    assert plan.intervals == ((0, 7), (4, 30))
    # A one-frame stage after the boundary leaves no room for a handshake: the intervals meet there.
    plan = plan_composition([(0, 29), (29, 30)], handshake=6, blend=3)
    assert plan.transitions[0].handshake == 0 and plan.intervals == ((0, 29), (29, 30))
    assert plan_composition([(0, 1), (1, 30)], handshake=6, blend=3).transitions[0].handshake == 1
    with pytest.raises(MogenBenchError, match="stage 0 has 5 frames, too few for a handshake of 6") as error:
        plan_composition([(0, 5), (5, 30)], 6, 3, short_stages="error")
    assert error.value.field == "model.handshake" and "short_stages" in error.value.fix


def _priormdm_averaging(x: torch.Tensor, lengths: list[int], h: int) -> torch.Tensor:
    """PriorMDM's ``p_sample_loop`` unfolding branch, one pair at a time, transcribed for (B, T, D)."""
    x = x.clone()
    alpha = torch.arange(0, h, dtype=x.dtype) / h
    for i in range(1, x.shape[0]):
        length = lengths[i - 1]
        blend = x[i - 1, length - h : length] * (1 - alpha[:, None]) + x[i, :h] * alpha[:, None]
        x[i - 1, length - h : length] = blend
        x[i, :h] = blend
    return x


def test_handshake_averaging_is_priormdms_cross_fade():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 12, 3, generator=generator, dtype=torch.float64)
    lengths, h = [10, 12, 9, 11], 3
    hook = HandshakeAveraging([(i - 1, lengths[i - 1] - h, i, h) for i in range(1, 4)])
    out = hook(x, torch.zeros(4, dtype=torch.long))
    assert torch.equal(out, _priormdm_averaging(x, lengths, h))
    for i in range(1, 4):
        assert torch.equal(out[i - 1, lengths[i - 1] - h : lengths[i - 1]], out[i, :h])
    assert not torch.equal(out, x) and torch.equal(HandshakeAveraging([])(x), x)


def test_unfolding_is_priormdms():
    plan = plan_composition([(0, 20), (20, 44), (44, 60)], handshake=6, blend=3)
    intervals = torch.randn(3, 30, 2, generator=torch.Generator().manual_seed(1))
    rows, frames, valid = unfold_indices([plan], [0])
    unfolded = intervals[rows, frames][0]
    # unfold_sample_arb_len: interval 0 in full, then frames h: of every later interval.
    lengths = [end - start for start, end in plan.intervals]
    parts = [intervals[0, : lengths[0]], intervals[1, 6 : lengths[1]], intervals[2, 6 : lengths[2]]]
    reference = torch.cat(parts)
    assert valid.all() and torch.equal(unfolded, reference)


# --------------------------------------------------------------------------- the two takes
def test_a_three_stage_request_has_its_length_and_repeats_per_seed(prior_mdm):
    first = prior_mdm.generate([THREE, "a person kicks"], [None, 16], seed=3)
    assert first.features.shape == (2, 40, DIMS) and first.lengths.tolist() == [40, 16]
    assert torch.isfinite(first.features).all() and not first.features[1, 16:].any()
    again = prior_mdm.generate([THREE, "a person kicks"], [None, 16], seed=3)
    assert torch.equal(first.features, again.features)
    other = prior_mdm.generate([THREE, "a person kicks"], [None, 16], seed=4)
    assert not torch.allclose(first.features, other.features)


def test_first_take_intervals_share_their_handshakes(prior_mdm):
    requests = as_requests([THREE])
    plans = prior_mdm.plan(requests)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        intervals, first_rows = prior_mdm.first_take(requests, plans, generator)
    assert first_rows == [0] and intervals.shape == (3, 18, DIMS)  # stage 1 (14 frames) and 2 x 2 beside it
    for j, transition in enumerate(plans[0].transitions):
        offset = transition.start - plans[0].intervals[j][0]
        assert torch.equal(intervals[j, offset : offset + 4], intervals[j + 1, :4])


def test_second_take_changes_only_the_transitions(tiny_run, prior_mdm):
    first_only = _model(tiny_run, second_take=False)
    before = first_only.generate([THREE], seed=7).features[0]
    after = prior_mdm.generate([THREE], seed=7).features[0]
    changed = (before != after).any(-1)
    # Handshakes [10, 14) and [24, 28) with ramps of 2 frames on each side.
    regions = torch.zeros(40, dtype=torch.bool)
    regions[8:16] = regions[22:30] = True
    assert not changed[~regions].any()
    assert changed[10:14].all() and changed[24:28].all()


def test_second_take_is_unconditional_from_t_minus_skip(tiny_run):
    model = _model(tiny_run, sampling_steps="")  # every one of the prior's 100 steps
    calls = []
    denoise = model.prior.denoise

    def recording(x, t, condition, mask, drop):
        calls.append((int(t[0]), drop.tolist()))
        return denoise(x, t, condition, mask, drop)

    model.prior.denoise = recording
    model.generate([THREE], seed=0)
    first, second = calls[:100], calls[100:]
    assert [t for t, _ in first] == list(range(99, -1, -1))
    assert all(drop == [False] * 3 + [True] * 3 for _, drop in first)  # guided: conditional + null halves
    assert [t for t, _ in second] == list(range(79, -1, -1))  # T - skip_steps - 1 = 100 - 20 - 1
    assert all(drop == [True, True] for _, drop in second)  # two transitions, both unconditional


def test_a_one_stage_request_is_the_priors_own_generation(tiny_run, prior_mdm):
    mdm = load_run(tiny_run, model_overrides=PRIOR_OVERRIDES).model
    texts, lengths = ["a person walks", "someone jumps slowly"], [20, 33]
    ours = prior_mdm.generate(texts, lengths, seed=5).features
    theirs = mdm.generate(texts, lengths, seed=5).features
    assert torch.equal(ours, theirs)


# --------------------------------------------------------------------------- errors
def test_bad_configs_are_refused(tiny_run, tmp_path):
    context = _context(tiny_run)
    with pytest.raises(MogenBenchError, match="needs a trained MDM") as error:
        _model(tiny_run, prior_run="")
    assert error.value.field == "model.prior_run"
    kit = ModelContext(**{**context.to_dict(), "representation": "kit-251", "dims": 251, "fps": 12.5})
    with pytest.raises(MogenBenchError, match=r"prior makes humanml3d-263 features .* holds kit-251"):
        _model(tiny_run, context=kit)
    other = ModelContext(**{**context.to_dict(), "vocabulary": ["walks"]})
    with pytest.raises(MogenBenchError, match="not the one the prior was trained on"):
        _model(tiny_run, context=other)
    shifted = ModelContext(**{**context.to_dict(), "mean": [m + 1e-3 for m in context.mean]})
    with pytest.raises(MogenBenchError, match="normalisation mean is not the prior's") as error:
        _model(tiny_run, context=shifted)
    assert error.value.file.endswith("config.json") and "data.normalise" in error.value.fix
    raw = ModelContext(**{**context.to_dict(), "std": None})
    with pytest.raises(MogenBenchError, match=r"std is not the prior's .*this run does not"):
        _model(tiny_run, context=raw)
    with pytest.raises(MogenBenchError, match="no such run folder"):
        _model(tiny_run, prior_run=str(tmp_path / "missing"))
    with pytest.raises(MogenBenchError, match="skip_steps 100 leaves no step"):
        _model(tiny_run, skip_steps=100)
    with pytest.raises(MogenBenchError, match="handshake must be a whole number >= 1"):
        PriorMDMConfig(prior_run=str(tiny_run), handshake=0)


def test_requests_the_settings_cannot_serve_are_refused(tiny_run):
    strict = _model(tiny_run, short_stages="error")
    short = [Stage(0, 20, overall="a person walks"), Stage(20, 23, overall="then jumps")]
    with pytest.raises(MogenBenchError, match="request 0: stage 1 has 3 frames, too few for a handshake"):
        strict.generate([short])
    # Shrinking (the default) serves it: stage 1 lends one frame, the handshake.
    (plan,) = _model(tiny_run).plan(as_requests([short]))
    assert [(t.handshake, t.blend) for t in plan.transitions] == [(1, 0)]
    long_context = ModelContext(**{**_context(tiny_run).to_dict(), "max_frames": 80})
    longer = _model(tiny_run, context=long_context)
    stages = [Stage(0, 39, overall="a person walks"), Stage(39, 78, overall="then jumps")]
    with pytest.raises(MogenBenchError, match="stage 0 with its handshakes is 41 frames, longer than"):
        longer.generate([stages])


# --------------------------------------------------------------------------- CLI and protocol
def test_train_generate_and_evaluate_on_the_cli(tiny_dataset, tiny_run, tmp_path, monkeypatch):
    runner = CliRunner()
    run = tmp_path / "priormdm"
    # The prior named relative to the working directory of the training command ...
    monkeypatch.chdir(tiny_run.parent)
    sets = [
        f'model.prior_run="{tiny_run.name}"',
        "model.handshake=4",
        "model.blend=2",
        "model.skip_steps=20",
        'model.sampling_steps="ddim10"',
        "data.max_frames=40",
        'data.feature_cache=""',
    ]
    arguments = ["train", "priormdm", "--preset", "tiny", "--dataset", str(tiny_dataset), "--out", str(run)]
    result = runner.invoke(cli, [*arguments, *[a for item in sets for a in ("--set", item)], "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "step 0" in result.output
    # ... is saved absolute, so the run is read the same from any other one.
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["model"]["prior_run"] == str(tiny_run.resolve())
    monkeypatch.chdir(tmp_path)
    saved = load_checkpoint(run / "checkpoints" / "step-00000000.pt", expect_model="priormdm")["model"]
    prior = load_run(tiny_run).model.state_dict()
    assert set(saved) == {f"prior.{key}" for key in prior}
    for key, value in prior.items():
        same = torch.equal if torch.is_tensor(value) else (lambda a, b: a == b)
        assert same(saved[f"prior.{key}"], value), key

    stages = [
        {"start_frame": s.start_frame, "end_frame": s.end_frame, "num_frames": s.num_frames, "all": s.overall}
        for s in THREE
    ]
    (tmp_path / "stages.json").write_text(json.dumps(stages))
    result = runner.invoke(
        cli, ["generate", str(run), "--stages", str(tmp_path / "stages.json"), "--out", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "g" / "generation.json").read_text())
    assert manifest["model"] == "priormdm" and manifest["samples"][0]["length"] == 40
    assert np.load(tmp_path / "g" / "sample_000.features.npy").shape == (40, DIMS)

    changes = {**SMALL, "stage_min_frames": 5, "transition_window": 8}
    entry = evaluate(
        EvaluationJob(
            dataset=tiny_dataset,
            evaluator=FakeEvaluator(),
            run_dir=run,
            split="train",
            replications=2,
            protocol="composition@1",
            protocol_changes=changes,
            out=tmp_path / "results.json",
            progress=False,
            device="cpu",
        )
    )
    assert entry["model"]["name"] == "priormdm" and entry["model"]["step"] == 0
    for name in ("stage_R_precision_top1", "stage_FID", "FID", "transition_peak_jerk", "transition_AUJ"):
        assert np.isfinite(entry["metrics"][name]["mean"]), name
