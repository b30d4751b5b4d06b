"""TEACH-style baseline: the pairs cut from a batch, the VAE and its losses against TEACH's reductions, past
conditioning on generated frames, training on the trainer with exact resume, stage-by-stage generation, and
the boundary alignment / transition frames of the composition."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from annotation.model import Stage
from baselines.teach import TEACH, TEACHConfig
from baselines.teach.composition import StageLayout, compose
from baselines.teach.model import TERMS, kl_normal, smooth_l1_per_motion
from baselines.teach.pairs import last_frames, pair_texts, segments, stage_pairs
from mogen_bench.data.torch_dataset import MotionDataConfig, MotionDataset, collate_motions
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext
from mogen_bench.models.registry import available_presets, get_model_class, load_preset
from mogen_bench.motion.rotations import axis_angle_to_matrix, cont6d_to_quaternion, slerp
from mogen_bench.motion.smpl_rot6d import heading_angle, rot6d_to_smpl, smpl_to_rot6d
from mogen_bench.text.features import TextEncoder, TextFeatures
from mogen_bench.training.checkpoint import find_latest_checkpoint, load_checkpoint
from tests.tiny_runs import DIMS, _train, assert_same_weights, interrupted_and_resumed

VOCABULARY = ["a", "person", "walks", "waves", "then", "sits", "jumps", "kicks", "turns", "someone", "slowly"]
CONTEXT = ModelContext("humanml3d-263", DIMS, 20.0, 40, vocabulary=VOCABULARY)
#: Every piece of TEACH, a few ten thousand parameters.
TINY = dict(latent_dim=16, layers=1, heads=2, ff_dim=32, learned_dim=12, learned_layers=1, learned_heads=2)
TINY_OVERRIDES = [
    *(f"model.{k}={json.dumps(v)}" for k, v in TINY.items()),
    "train.batch_size=4",
    "train.lr=1e-3",
    "train.log_every=2",
    "train.checkpoint_every=2",
    "data.max_frames=40",
    'data.feature_cache=""',
]
THREE_STAGES = [
    Stage(0, 12, overall="a person walks"),
    Stage(12, 30, overall="then sits"),
    Stage(30, 33, overall="then jumps"),
]


def tiny_model(context: ModelContext = CONTEXT, **changes) -> TEACH:
    torch.manual_seed(0)
    return TEACH(TEACHConfig(**{**TINY, **changes}), context)


@pytest.fixture(scope="module")
def batch(tiny_dataset):
    dataset = MotionDataset(tiny_dataset, "train", MotionDataConfig(max_frames=40, feature_cache=""))
    return collate_motions(dataset.__getitems__(list(range(8))))


# --------------------------------------------------------------------------- pairs
def test_pairs_cut_each_item_at_one_stage_boundary():
    pad = -1
    stage_index = torch.tensor(
        [
            [0] * 4 + [1] * 3 + [2] * 5,  # three stages: boundary 1 or 2
            [0] * 6 + [pad] * 6,  # one stage: a first action only
            [0] * 2 + [1] * 4 + [pad] * 6,  # two stages: boundary 1
        ]
    )
    lengths = torch.tensor([12, 6, 6])
    seen = []
    for seed in range(200):
        pairs = stage_pairs(stage_index, lengths, torch.Generator().manual_seed(seed))
        assert pairs.paired.tolist() == [True, False, True]
        assert (pairs.first_start[1:].tolist(), pairs.first_length[1:].tolist()) == ([0, 0], [6, 2])
        assert (pairs.second_start[2].item(), pairs.second_length[1:].tolist()) == (2, [0, 4])
        ranges = (
            pairs.first_start[0].item(),
            pairs.first_length[0].item(),
            pairs.second_start[0].item(),
            pairs.second_length[0].item(),
        )
        assert ranges == {1: (0, 4, 4, 3), 2: (4, 3, 7, 5)}[pairs.boundary[0].item()]
        seen.append(pairs.boundary[0].item())
    assert abs(seen.count(1) / len(seen) - 0.5) < 0.1  # uniform over the two boundaries
    stages = [
        [{"overall": "walk"}, {"overall": "turn"}, {"overall": None, "left_arm": "wave"}],
        [{"overall": "sit"}],
        [{"overall": "jump"}, {"overall": "kick"}],
    ]
    pairs.boundary[0] = 2
    assert pair_texts(stages, pairs) == (["turn", "sit", "jump"], ["wave", "kick"])


def test_segments_and_last_frames_gather_per_item():
    features = torch.arange(2 * 8, dtype=torch.float32).reshape(2, 8, 1)
    cut, mask = segments(features, torch.tensor([2, 5]), torch.tensor([3, 1]))
    assert cut[..., 0].tolist() == [[2, 3, 4], [13, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    past, present = last_frames(features, torch.tensor([8, 2]), 5)
    assert past[..., 0].tolist() == [[3, 4, 5, 6, 7], [0, 0, 0, 8, 9]]
    assert present.tolist() == [[True] * 5, [False, False, False, True, True]]


# --------------------------------------------------------------------------- network and losses
def test_shapes_and_the_decoder_zeroes_padding():
    model = tiny_model().eval()
    text = model.text_encoder(["a person walks", "then sits"])
    mu, logvar = model.text(text)
    assert mu.shape == logvar.shape == (2, 16)
    past = torch.randn(2, 5, DIMS)
    assert model.text(text, past)[0].shape == (2, 16)
    mask = torch.arange(9)[None, :] < torch.tensor([9, 4])[:, None]
    motion_mu, _ = model.motion(torch.randn(2, 9, DIMS), mask)
    assert motion_mu.shape == (2, 16)
    decoded = model.decoder(torch.randn(2, 16), mask)
    assert decoded.shape == (2, 9, DIMS) and torch.all(decoded[1, 4:] == 0) and torch.all(decoded[1, :4] != 0)


def test_the_past_frames_condition_the_text_distribution():
    model = tiny_model().eval()
    text = model.text_encoder(["then sits"])
    past = torch.randn(1, 5, DIMS, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        alone = model.text(text)[0]
        with_past = model.text(text, past)[0]
        other_past = model.text(text, past.flip(1))[0]
        # A previous stage of 2 frames: the 3 empty slots are masked, whatever they hold.
        short = torch.tensor([[False, False, False, True, True]])
        masked = model.text(text, past, short)[0]
        changed = past.clone()
        changed[:, :3] = 100.0
        masked_again = model.text(text, changed, short)[0]
    assert not torch.allclose(alone, with_past) and not torch.allclose(with_past, other_past)
    torch.testing.assert_close(masked, masked_again, rtol=0, atol=1e-5)


def test_reductions_are_teachs():
    generator = torch.Generator().manual_seed(0)
    output, target = torch.randn(3, 7, 5, generator=generator), 2 * torch.randn(3, 7, 5, generator=generator)
    lengths = [7, 3, 5]
    mask = torch.arange(7)[None, :] < torch.tensor(lengths)[:, None]
    # Recons: smooth-L1 mean over each motion's frames x features, then the mean over motions.
    reference = torch.stack(
        [torch.nn.functional.smooth_l1_loss(output[i, :n], target[i, :n]) for i, n in enumerate(lengths)]
    ).mean()
    torch.testing.assert_close(smooth_l1_per_motion(output, target, mask), reference)
    mu_q, mu_p, lv_q, lv_p = torch.randn(4, 6, 8, generator=generator)
    normal = torch.distributions.Normal
    q, p = normal(mu_q, (0.5 * lv_q).exp()), normal(mu_p, (0.5 * lv_p).exp())
    torch.testing.assert_close(kl_normal(mu_q, lv_q, mu_p, lv_p), torch.distributions.kl_divergence(q, p))
    standard = torch.distributions.kl_divergence(q, normal(0.0, 1.0))
    torch.testing.assert_close(kl_normal(mu_q, lv_q), standard)


def test_losses_are_finite_hold_every_term_and_reach_every_parameter(batch):
    assert batch["stage_index"].max() >= 1  # the tiny dataset has two-stage rows
    model = tiny_model(recons_weight=1.0, kl_weight=0.25, latent_weight=0.5)
    losses = model(batch, torch.Generator().manual_seed(0))
    assert set(losses) == {f"{t}_{i}" for t in TERMS for i in (0, 1)} | {"loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    expected = sum(
        losses[f"recons_text2motion_{i}"]
        + losses[f"recons_motion2motion_{i}"]
        + 0.25 * sum(losses[f"{k}_{i}"] for k in ("kl_text2motion", "kl_motion2text", "kl_text", "kl_motion"))
        + 0.5 * losses[f"latent_manifold_{i}"]
        for i in (0, 1)
    )
    torch.testing.assert_close(losses["loss"], expected)
    losses["loss"].backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    # A batch without any pair: the second action's terms are zero and every parameter still has a gradient.
    single = {**batch, "stage_index": batch["stage_index"].clamp(max=0)}
    model.zero_grad(set_to_none=True)
    losses = model(single, torch.Generator().manual_seed(0))
    assert all(losses[f"{t}_1"].item() == 0 for t in TERMS) and losses["recons_text2motion_0"] > 0
    losses["loss"].backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_the_past_is_the_generated_first_action_not_the_ground_truth(batch):
    model = tiny_model().eval()
    losses = model(batch, torch.Generator().manual_seed(1))
    # Changing every ground-truth frame leaves the second action's text distribution as it was: its past
    # comes from the first action generated from its text (teacher_forcing false), not from the data.
    altered = {**batch, "features": batch["features"] + 3.0}
    again = model(altered, torch.Generator().manual_seed(1))
    assert again["kl_text_1"].item() == losses["kl_text_1"].item()
    assert again["recons_text2motion_1"].item() != losses["recons_text2motion_1"].item()
    # ... and gradients flow through that past into the first action unless detach_past says otherwise.
    grads = []
    for detach in (False, True):
        model.config.detach_past = detach
        model.zero_grad(set_to_none=True)
        model(batch, torch.Generator().manual_seed(1))["kl_text_1"].backward()
        grads.append(model.decoder.output.weight.grad)
    assert grads[0] is not None and grads[0].abs().sum() > 0 and grads[1] is None


# --------------------------------------------------------------------------- trainer and generation
@pytest.fixture(scope="module")
def teach_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("teach") / "run"
    _train(tiny_dataset, out, model="teach", overrides=[*TINY_OVERRIDES, "train.max_steps=4"])
    return out


def test_training_runs_and_resumes_exactly(tiny_dataset, teach_run, tmp_path):
    overrides = [*TINY_OVERRIDES, "train.max_steps=4"]
    resumed = tmp_path / "resumed"
    again = interrupted_and_resumed(tiny_dataset, resumed, "teach", overrides, stop_at_step=2)
    straight = load_checkpoint(find_latest_checkpoint(teach_run))
    assert straight["step"] == again["step"] == 4
    assert_same_weights(straight["model"], again["model"])
    log = [json.loads(line) for line in (teach_run / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "recons_text2motion_1", "kl_text_0"} <= set(log[-1])


def test_generate_stage_by_stage_with_a_trained_run(teach_run):
    from mogen_bench.training.run import load_run

    model = load_run(teach_run).model
    assert isinstance(model, get_model_class("teach"))
    first = model.generate([THREE_STAGES, "a person jumps"], [None, 16], seed=3)
    again = model.generate([THREE_STAGES, "a person jumps"], [None, 16], seed=3)
    other = model.generate([THREE_STAGES, "a person jumps"], [None, 16], seed=4)
    features = first.features
    assert features.shape == (2, 33, DIMS) and first.lengths.tolist() == [33, 16]
    assert torch.equal(features, again.features) and not torch.equal(features, other.features)
    assert torch.all(features[1, 16:] == 0) and bool(torch.isfinite(features).all())
    # Stage 1 (18 frames) opens with 8 transition frames, stage 2 (3 frames) with 1: linear blends of the
    # frames around them (humanml3d-263: no rotation to slerp, the root is relative).
    for last, window in ((11, 8), (29, 1)):
        t = torch.arange(1, window + 1)[:, None] / (window + 1)
        blend = features[0, last] * (1 - t) + features[0, last + window + 1] * t
        torch.testing.assert_close(features[0, last + 1 : last + 1 + window], blend)
    # Each stage reads the previous one: another first text changes the later stages.
    edited = model.generate(
        [[Stage(0, 12, overall="someone waves slowly"), *THREE_STAGES[1:]], "a person jumps"],
        [None, 16],
        seed=3,
    )
    assert not torch.allclose(edited.features[0, 20:30], features[0, 20:30])


# --------------------------------------------------------------------------- composition
def _walk(yaw: np.ndarray, frames: int, seed: int) -> torch.Tensor:
    """smpl-rot6d-135 features of a body walking forward 5 cm a frame while its heading follows ``yaw``."""
    rng = np.random.default_rng(seed)
    orient = np.zeros((frames, 3))
    orient[:, 1] = yaw
    steps = 0.05 * np.stack([np.sin(yaw), np.zeros(frames), np.cos(yaw)], -1)
    transl = np.cumsum(steps, 0) + np.array([0.0, 0.9, 0.0])
    transl[:, 1] += 0.02 * np.sin(np.arange(frames))
    pose = 0.3 * rng.normal(size=(frames, 63))
    return torch.from_numpy(smpl_to_rot6d(orient, pose, transl))


def _params(features: torch.Tensor):
    params = rot6d_to_smpl(features.double())
    return params, heading_angle(axis_angle_to_matrix(params["global_orient"]))


@pytest.mark.parametrize("align", ["full", "none"])
def test_rot6d_alignment_turns_the_next_stage_and_joins_the_root(align):
    first = _walk(np.linspace(0, math.pi / 2, 10), 10, 0)  # ends facing +x
    second = _walk(np.linspace(0, 0.3, 12), 12, 1)  # starts facing +z again: a jump of 90 degrees
    window = 3
    layout = StageLayout.from_stage_lengths([[10, 12]], slerp_window=window)
    assert layout.windows.tolist() == [[0, 3]]
    joined = torch.cat([first, torch.zeros(window, 135, dtype=first.dtype), second[window:]])[None]
    composed = compose(joined, layout, "smpl-rot6d-135", align)[0]
    torch.testing.assert_close(composed[:10], first)  # the first stage is left as it was
    params, heading = _params(composed)
    jump = abs(heading[13].item() - heading[9].item())
    if align == "none":
        assert jump > 1.0  # what the alignment removes
        return
    assert jump < 1e-6 and torch.allclose(heading[10:13], heading[9], atol=1e-6)
    planar = params["transl"][:, [0, 2]]
    torch.testing.assert_close(planar[10:14], planar[9].expand(4, 2), rtol=0, atol=1e-9)
    # After the first decoded frame, the second stage walks its own path turned by the heading change.
    own, own_heading = _params(second)
    turn = heading[9].item() - own_heading[window].item()
    cos, sin = math.cos(turn), math.sin(turn)
    rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)  # Ry(turn) on (x, z) rows
    path = own["transl"][window:, [0, 2]] - own["transl"][window, [0, 2]]
    torch.testing.assert_close(planar[13:] - planar[13], path @ rotation, rtol=0, atol=1e-5)
    # Transition frames: slerp of every joint rotation and a linear blend of the height.
    t = torch.arange(1, window + 1, dtype=torch.float64)[:, None] / (window + 1)
    q = cont6d_to_quaternion(composed[:, 3:].double().reshape(-1, 22, 6))
    expected = slerp(q[9], q[13], t)
    torch.testing.assert_close(
        q[10:13] * torch.sign((q[10:13] * expected).sum(-1, keepdim=True)), expected, rtol=0, atol=1e-5
    )
    height = composed[9, 0] * (1 - t[:, 0]) + composed[13, 0] * t[:, 0]
    torch.testing.assert_close(composed[10:13, 0], height)


def test_model_composes_rot6d_in_dataset_space():
    context = ModelContext("smpl-rot6d-135", 135, 20.0, 40, vocabulary=VOCABULARY)
    model = tiny_model(context, slerp_window=3)
    generator = torch.Generator().manual_seed(0)
    mean, std = torch.randn(135, generator=generator), torch.rand(135, generator=generator) + 0.5
    model.set_normalisation(mean.numpy(), std.numpy())
    data = torch.cat(
        [
            _walk(np.linspace(0, 1.0, 10), 10, 0),
            torch.zeros(3, 135, dtype=torch.float64),
            _walk(np.zeros(9), 9, 1),
        ]
    )[None]
    layout = StageLayout.from_stage_lengths([[10, 12]], 3)
    composed = model.compose((data - mean) / std, layout)
    expected = compose(data, layout, "smpl-rot6d-135")
    torch.testing.assert_close(composed * std + mean, expected, rtol=0, atol=1e-4)
    # Without statistics the model says so rather than composing silently in the wrong space.
    with pytest.warns(UserWarning, match="set_normalisation"):
        tiny_model(context).compose(data, layout)


def test_model_generates_rot6d_stages_with_a_continuous_heading():
    context = ModelContext("smpl-rot6d-135", 135, 20.0, 40, vocabulary=VOCABULARY)
    model = tiny_model(context)
    model.set_normalisation(np.zeros(135), np.ones(135))
    features = model.generate([THREE_STAGES], seed=0).features[0]
    _, heading = _params(features)
    # Stage 1 decodes from frame 20 (8 transition frames), stage 2 from frame 31 (1).
    assert abs(heading[20].item() - heading[11].item()) < 1e-5
    assert abs(heading[31].item() - heading[29].item()) < 1e-5


# --------------------------------------------------------------------------- presets and bad input
class _ClipShapedEncoder(TextEncoder):
    """CLIP's interface (512-wide tokens, 77 of them, frozen) without its weights."""

    name = "clip"
    trainable = False

    def __init__(self, *_):
        super().__init__()
        self.dim, self.max_tokens = 512, 77

    def forward(self, texts):  # pragma: no cover - never called
        raise AssertionError


def test_presets_are_registered_and_paper_has_the_released_sizes(monkeypatch):
    assert available_presets(TEACH) == ["paper", "tiny"]
    monkeypatch.setattr("baselines.teach.model.build_model_text_encoder", _ClipShapedEncoder)
    preset = load_preset(TEACH, "paper")
    model = TEACH(TEACHConfig(**preset["model"]), ModelContext("smpl-rot6d-135", 135, 30.0, 196))
    for encoder in (model.text.encoder, model.motion.encoder, model.decoder.decoder):
        layer = encoder.layers[0]
        assert len(encoder.layers) == 6 and layer.linear1.out_features == 1024
        assert layer.self_attn.embed_dim == 256 and layer.self_attn.num_heads == 4
    assert model.text.projection[1].in_features == 512 and model.decoder.output.out_features == 135
    config = model.config
    weights = (config.recons_weight, config.kl_weight, config.latent_weight)
    assert config.past_frames == 5 and weights == (1.0, 1e-5, 1e-5)
    assert (config.slerp_window, config.align, preset["train"]["lr"], preset["train"]["batch_size"]) == (
        8,
        "full",
        7e-5,
        8,
    )
    TEACH(TEACHConfig(**load_preset(TEACH, "tiny")["model"]), CONTEXT)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"heads": 3}, "heads"),
        ({"past_frames": 0}, "past_frames"),
        ({"align": "sideways"}, "align"),
        ({"slerp_window": -1}, "slerp_window"),
        ({"kl_weight": -1.0}, "kl_weight"),
    ],
)
def test_the_config_refuses_what_cannot_work(changes, field):
    with pytest.raises(MogenBenchError, match=field):
        TEACHConfig(**{**TINY, **changes})


def test_bad_requests_are_clear_errors():
    model = tiny_model()
    with pytest.raises(MogenBenchError, match="guidance"):
        model.generate(["a person walks"], 10, guidance=2.5)
    with pytest.raises(MogenBenchError, match="a stage of 48 frames is longer than the 40"):
        model.generate([[THREE_STAGES[0], Stage(12, 60, overall="then sits")]])
    # Stages are decoded one at a time: a composition longer than one stage may be is fine.
    long = model.generate([[Stage(0, 30, overall="walks"), Stage(30, 60, overall="then sits")]], seed=0)
    assert long.features.shape[1] == 60
    with pytest.raises(MogenBenchError, match="cannot be trained on joints-66"):
        TEACH(TEACHConfig(**TINY), ModelContext("joints-66", 66, 20.0, 40))
    with pytest.raises(MogenBenchError, match="positive stds"):
        model.set_normalisation(np.zeros(DIMS), np.zeros(DIMS))
    with pytest.raises(MogenBenchError, match="at least one frame"):
        StageLayout.from_stage_lengths([[5, 0]], 8)
    assert model.generate(["a person walks"], 10, guidance=1.0).features.shape == (1, 10, DIMS)


def test_a_batch_of_texts_is_encoded_in_one_call(batch, monkeypatch):
    model = tiny_model()
    calls = []
    original = model.text_encoder.forward

    def counting(texts):
        calls.append(list(texts))
        return original(texts)

    monkeypatch.setattr(model.text_encoder, "forward", counting)
    model(batch, torch.Generator().manual_seed(0))
    assert len(calls) == 1 and len(calls[0]) == 8 + sum(1 for s in batch["stages"] if len(s) > 1)
    assert isinstance(model.text_encoder(["a"]), TextFeatures)
