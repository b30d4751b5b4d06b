"""FineMoGen: the released architecture, the fine-grained (per-part, per-stage) conditioning, training and
generation on the trainer, and the size of the ``paper`` preset against the released checkpoint."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from annotation.model import Stage
from finemogen.conditioning import HEAD_FIELDS, route_texts, stage_masks
from finemogen.config import FineMoGenConfig
from finemogen.model import FineMoGen
from mogen_bench.data.torch_dataset import MotionDataConfig, MotionDataset, collate_motions
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext
from mogen_bench.models.conditions import as_requests
from mogen_bench.models.registry import get_model_class, load_preset
from mogen_bench.motion.part_slices import finemogen_token_slices, part_slices
from mogen_bench.text.features import TextEncoder, TextFeatures
from mogen_bench.training.checkpoint import find_latest_checkpoint, load_checkpoint
from tests.tiny_runs import DIMS, _train, assert_same_weights, interrupted_and_resumed

VOCABULARY = [
    "a",
    "person",
    "walks",
    "waves",
    "then",
    "sits",
    "the",
    "left",
    "arm",
    "swings",
    "raises",
    "right",
    "leg",
    "kicks",
    "jumps",
    "head",
    "nods",
]
CONTEXT = ModelContext("humanml3d-263", DIMS, 20.0, 40, vocabulary=VOCABULARY)
#: A FineMoGen with every piece of the released one, a few ten thousand parameters.
TINY = dict(
    part_dim=8,
    layers=2,
    time_embed_dim=32,
    text_latent_dim=16,
    ffn_dim=16,
    text_ffn_dim=16,
    num_experts=4,
    top_k=2,
    text_encoder="learned",
    learned_dim=12,
    learned_layers=1,
    learned_heads=2,
    diffusion_steps=100,
    sampling_steps="ddim5",
)
#: The same for the trainer (``--set`` overrides).
TINY_OVERRIDES = [
    *(f"model.{k}={json.dumps(v)}" for k, v in TINY.items()),
    "train.batch_size=4",
    "train.lr=1e-3",
    "train.log_every=2",
    "train.checkpoint_every=2",
    "data.max_frames=40",
    'data.feature_cache=""',
]
LEFT_ARM = HEAD_FIELDS.index("left_arm")
TWO_STAGES = (
    Stage(0, 12, overall="a person walks", left_arm="the left arm swings"),
    Stage(12, 30, overall="then sits", right_leg="the right leg kicks"),
)


def tiny_model(**changes) -> FineMoGen:
    torch.manual_seed(0)
    return FineMoGen(FineMoGenConfig(**{**TINY, **changes}), CONTEXT)


def randomise_zero_parameters(model: nn.Module) -> None:
    """Give the zero-initialised layers (decoder, stylisation outputs) weights, as training would."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))


def frame_mask(lengths: list[int]) -> torch.Tensor:
    return torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]


def first_layer(model: FineMoGen, stages, x: torch.Tensor):
    """The first SAMI layer's intermediate tensors for one motion of ``stages`` and part tokens ``x``."""
    condition = model.encode_requests(as_requests([list(stages)]))
    masks = stage_masks(condition, frame_mask([stages[-1].end_frame]), torch.zeros(1, dtype=torch.bool))
    sami = model.layers[0].sami
    return sami.attend(x, sami.text_features(condition.bank.tokens), condition.slots, masks)


def changed(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not torch.allclose(a, b, rtol=0, atol=1e-6)


def changed_groups(a, b) -> list[tuple[int, int]]:
    """The (stage, head) template groups of motion 0 that differ between two ``SAMIState``."""
    stages, heads = a.templates.shape[1:3]
    groups = [(s, h) for s in range(stages) for h in range(heads)]
    return [(s, h) for s, h in groups if changed(a.templates[0, s, h], b.templates[0, s, h])]


# --------------------------------------------------------------------------- architecture
def test_shapes_zero_prediction_and_identity_blocks_at_initialisation():
    model = tiny_model().eval()
    requests = as_requests([list(TWO_STAGES), "a person jumps"], [None, 20])
    condition = model.encode_requests(requests)
    assert condition.slots.shape == (2, 2, 8) and condition.starts.tolist() == [[0, 12], [0, 0]]
    x = torch.randn(2, 30, DIMS)
    t = torch.tensor([3, 97])
    keep = torch.zeros(2, dtype=torch.bool)
    out = model.denoise(x, t, condition, frame_mask([30, 20]), keep)
    # Released: zero_module(PoseDecoder), so an untrained model predicts x0 = 0 for any input ...
    assert out.shape == (2, 30, DIMS) and torch.equal(out, torch.zeros_like(out))
    # ... and every SAMI / SFFN block ends in a zero-initialised linear layer: the blocks start as identities.
    for parameter in model.pose_decoder.parameters():
        nn.init.normal_(parameter)
    out = model.denoise(x, t, condition, frame_mask([30, 20]), keep)
    torch.testing.assert_close(out, model.pose_decoder(model.pose_encoder(x)), rtol=0, atol=1e-6)
    state = first_layer(model, TWO_STAGES, torch.randn(1, 30, 8, 8))
    assert state.templates.shape == (1, 2, 8, 8, 8) and state.anchors.shape == (1, 2, 8, 8)
    assert state.temporal.shape == state.spatial.shape == (1, 30, 8, 8) and state.kl.shape == (1, 2, 8)
    # Anchors lie inside their own stage (normalised by 196 frames).
    assert bool((state.anchors[0, 0] <= 12 / 196).all()) and bool((state.anchors[0, 1] >= 12 / 196).all())


def test_temporal_read_out_is_the_released_taylor_expansion_over_all_stages():
    # Reference: finemogen.md 2.6 step 8 and section 3, written term by term in float64.
    model = tiny_model().double().eval()
    sami = model.layers[0].sami
    with torch.no_grad():
        sami.sigma.fill_(30.0)  # narrower than at init, so the stages' templates mix in a few frames only
        state = first_layer(model, TWO_STAGES, torch.randn(1, 30, 8, 8, dtype=torch.float64))
        templates, anchors = state.templates[0], state.anchors[0]  # (S, 8, N, D), (S, 8, N)
        starts, lengths = torch.tensor([0.0, 12.0]), torch.tensor([12.0, 18.0])
        expected_anchors = torch.sigmoid(sami.template_t(templates)[..., 0] / sami.t_sigma)
        expected_anchors = (expected_anchors * lengths[:, None, None] + starts[:, None, None]) / 196
        torch.testing.assert_close(anchors, expected_anchors)
        time = torch.arange(30, dtype=torch.float64) / 196
        delta = time[:, None, None, None] - anchors[None]  # (T, S, 8, N)
        weights = torch.softmax((-((196 * delta) ** 2) / 30.0).permute(0, 2, 1, 3).reshape(30, 8, -1), dim=-1)
        terms = [sami.template_s, sami.template_v, sami.template_a, sami.template_j]
        # (T, S, 8, N, D): s + v (t - tau) + a (t - tau)^2 + j (t - tau)^3
        signal = sum(f(templates)[None] * delta[..., None] ** k for k, f in enumerate(terms))
        signal = signal.permute(0, 2, 1, 3, 4).reshape(30, 8, -1, 8)
        torch.testing.assert_close(state.temporal[0], torch.einsum("thn,thnd->thd", weights, signal))
        # Frames deep inside a stage read (almost) only that stage's templates; frames at the boundary both.
        stage_weight = weights.reshape(30, 8, 2, 8).sum(-1)[..., 1]  # weight of stage 1's templates
        assert stage_weight[0].max() < 1e-3 and stage_weight[29].min() > 1 - 1e-3


@pytest.mark.parametrize(("representation", "dims"), [("kit-251", 251), ("smpl-rot6d-135", 135)])
def test_other_representations_split_into_the_same_eight_tokens(representation, dims):
    torch.manual_seed(0)
    context = ModelContext(representation, dims, 20.0, 40, vocabulary=VOCABULARY)
    model = FineMoGen(FineMoGenConfig(**TINY), context)
    randomise_zero_parameters(model)
    condition = model.encode_requests(as_requests(["a person walks"], 16))
    out = model.denoise(
        torch.randn(1, 16, dims),
        torch.tensor([5]),
        condition,
        frame_mask([16]),
        torch.zeros(1, dtype=torch.bool),
    )
    assert out.shape == (1, 16, dims) and bool(torch.isfinite(out).all())
    sizes = [layer.in_features for layer in model.pose_encoder.embed]
    assert sum(sizes[:7]) == dims and sizes[7] == dims
    with pytest.raises(MogenBenchError, match="cannot be trained on"):
        FineMoGen(FineMoGenConfig(**TINY), ModelContext("other-12", 12, 20.0, 40))


def test_pose_decoder_averages_the_part_and_whole_body_reconstructions():
    model = tiny_model()
    randomise_zero_parameters(model)
    tokens = torch.randn(3, 8, 8)
    # The released token order and its slices: larm_embed (token 2) reads the subject's right arm.
    slices = finemogen_token_slices("humanml3d-263")
    assert list(slices) == ["head", "stem", "larm", "rarm", "lleg", "rleg", "root", "body"]
    assert model.pose_encoder.embed[2].in_features == len(part_slices("humanml3d-263")["right_arm"]) == 48
    expected = torch.zeros(3, DIMS)
    for number, dims in enumerate(slices.values()):
        layer = model.pose_decoder.project[number]
        expected[:, list(dims)] += layer(tokens[:, number]) / 2
    torch.testing.assert_close(model.pose_decoder(tokens), expected)
    x = torch.randn(3, DIMS)
    encoded = model.pose_encoder(x)
    for number, dims in enumerate(slices.values()):
        torch.testing.assert_close(encoded[:, number], model.pose_encoder.embed[number](x[:, list(dims)]))


# --------------------------------------------------------------------------- conditioning
def test_routing_table_and_part_text_dropout():
    stages = [{"start_frame": 0, "end_frame": 9, "overall": "walks", "left_arm": "swings", "head": "  "}]
    routed = route_texts([stages, [{"start_frame": 0, "end_frame": 5, "overall": None, "head": "nods"}]])
    assert routed.texts == ["walks", "swings", "nods"]
    # Heads in the released token order: head, spine, right_arm, left_arm, right_leg, left_leg, trajectory,
    # and the whole body, which reads the overall text.
    assert HEAD_FIELDS == (
        "head",
        "spine",
        "right_arm",
        "left_arm",
        "right_leg",
        "left_leg",
        "trajectory",
        "overall",
    )
    assert routed.slots.tolist() == [
        [[0, 0, 0, 1, 0, 0, 0, 0]],
        [[2, -1, -1, -1, -1, -1, -1, -1]],  # no overall text: parts without a text read nothing
    ]
    drop = torch.zeros(2, 1, 7, dtype=torch.bool)
    drop[0, 0, LEFT_ARM] = True
    dropped = route_texts([stages, []], drop)
    assert dropped.texts == ["walks"] and dropped.slots[0].tolist() == [[0] * 8]
    assert dropped.slots[1].tolist() == [[-1] * 8] and dropped.ends.tolist() == [[9], [0]]


def test_a_part_text_reaches_only_its_own_head():
    # Capacity large enough that no expert drops a token: one text cannot then change another's features.
    model = tiny_model(capacity_factor=2.0).eval()
    x = torch.randn(1, 30, 8, 8)
    base = first_layer(model, TWO_STAGES, x)
    arm = first_layer(model, (replace(TWO_STAGES[0], left_arm="the left arm raises"), TWO_STAGES[1]), x)
    assert changed_groups(base, arm) == [(0, LEFT_ARM)]
    # The first layer's text contribution, frame by frame: only the left-arm head moves (in every frame:
    # frames read the templates of all stages by proximity), the spatial branch not at all.
    heads = [h for h in range(8) if changed(base.temporal[0, :, h], arm.temporal[0, :, h])]
    assert heads == [LEFT_ARM] and torch.equal(base.spatial, arm.spatial)
    # Well above rounding (equal heads agree to ~1e-8).
    assert (base.temporal[0, :12, LEFT_ARM] - arm.temporal[0, :12, LEFT_ARM]).abs().max() > 1e-4
    # The overall text feeds the whole-body head and every part without its own text, here all but the arm.
    walk = first_layer(model, (replace(TWO_STAGES[0], overall="a person jumps"), TWO_STAGES[1]), x)
    assert changed_groups(base, walk) == [(0, h) for h in range(8) if h != LEFT_ARM]


def test_stage_masks_keep_each_stage_to_its_own_texts_and_frames():
    model = tiny_model(capacity_factor=2.0).eval()
    condition = model.encode_requests(as_requests([list(TWO_STAGES), "a person jumps"], [None, 20]))
    masks = stage_masks(condition, frame_mask([30, 20]), torch.tensor([False, False]))
    frames = torch.arange(30)
    assert torch.equal(masks.frames[0, 0], frames < 12) and torch.equal(masks.frames[0, 1], frames >= 12)
    assert torch.equal(masks.frames[1, 0], frames < 20) and not masks.frames[1, 1].any()
    assert masks.stages.tolist() == [[True, True], [True, False]]
    assert masks.positions[0].tolist() == [*range(12), *range(18)]
    assert masks.positions[1, :20].tolist() == [*range(20)]
    # Text keys: the tokens of the routed text only (its padding masked), nothing where there is no stage.
    bank_mask = condition.bank.mask
    for s in range(2):
        for h in range(8):
            assert torch.equal(masks.text[0, s, h], bank_mask[condition.slots[0, s, h]])
    assert not masks.text[1, 1].any()
    dropped = stage_masks(condition, frame_mask([30, 20]), torch.tensor([True, False]))
    assert not dropped.text[0].any() and torch.equal(dropped.text[1], masks.text[1])
    # And in the layer: stage 1's texts and frames never touch the templates anchored in stage 0.
    x = torch.randn(1, 30, 8, 8)
    base = first_layer(model, TWO_STAGES, x)
    later = (TWO_STAGES[0], replace(TWO_STAGES[1], overall="then waves", head="the head nods"))
    moved = torch.cat([x[:, :12], torch.randn(1, 18, 8, 8)], dim=1)
    for other in (first_layer(model, later, x), first_layer(model, TWO_STAGES, moved)):
        torch.testing.assert_close(other.templates[:, 0], base.templates[:, 0], rtol=0, atol=1e-6)
        torch.testing.assert_close(other.anchors[:, 0], base.anchors[:, 0], rtol=0, atol=1e-6)
        assert changed(other.templates[:, 1], base.templates[:, 1])


def test_a_motion_does_not_depend_on_the_others_in_its_batch():
    # Padding stages and padding frames of a shorter, one-stage motion leak nothing either way.
    model = tiny_model(capacity_factor=2.0).eval()
    randomise_zero_parameters(model)
    x = torch.randn(2, 30, DIMS)
    t = torch.tensor([40, 7])
    both = model.denoise(
        x,
        t,
        model.encode_requests(as_requests([list(TWO_STAGES), "a person jumps"], [None, 20])),
        frame_mask([30, 20]),
        torch.zeros(2, dtype=torch.bool),
    )
    alone = model.denoise(
        x[1:, :20],
        t[1:],
        model.encode_requests(as_requests(["a person jumps"], 20)),
        frame_mask([20]),
        torch.zeros(1, dtype=torch.bool),
    )
    torch.testing.assert_close(both[1, :20], alone[0], rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def batch(tiny_dataset) -> dict:
    dataset = MotionDataset(tiny_dataset, "train", MotionDataConfig(max_frames=40, feature_cache=""))
    return collate_motions([dataset[i] for i in range(6)])


def _count_encoder_calls(model: FineMoGen, monkeypatch) -> list[list[str]]:
    calls: list[list[str]] = []
    encode = model.text_encoder.forward

    def counted(texts):
        calls.append(list(texts))
        return encode(texts)

    monkeypatch.setattr(model.text_encoder, "forward", counted)
    return calls


def test_the_texts_of_a_batch_are_encoded_once(batch, monkeypatch):
    model = tiny_model(part_text_drop=0.0)
    calls = _count_encoder_calls(model, monkeypatch)
    model.training_losses(batch, torch.Generator().manual_seed(0))
    texts = {
        text
        for stages in batch["stages"]
        for stage in stages
        for key in HEAD_FIELDS
        if (text := stage.get(key)) is not None
    }
    assert any(len(stages) == 2 for stages in batch["stages"])  # staged rows with part texts are in it
    assert len(calls) == 1 and len(calls[0]) == len(set(calls[0])) and set(calls[0]) == texts
    # Every part text dropped: only the overall texts are encoded.
    calls.clear()
    model.config.part_text_drop = 1.0
    model.training_losses(batch, torch.Generator().manual_seed(0))
    assert calls == [list(dict.fromkeys(stage["overall"] for stages in batch["stages"] for stage in stages))]
    # Generation encodes once too, not once per denoising step.
    calls.clear()
    model.generate([list(TWO_STAGES)], seed=0)
    assert len(calls) == 1 and len(calls[0]) == 4


def test_zero_shot_training_reads_one_overall_text_per_motion(batch, monkeypatch):
    model = tiny_model(training_mode="zero_shot")
    calls = _count_encoder_calls(model, monkeypatch)
    condition = model.encode_batch(batch)
    assert condition.slots.shape == (6, 1, 8) and bool((condition.slots == condition.slots[..., :1]).all())
    assert condition.starts.tolist() == [[0]] * 6
    assert condition.ends[:, 0].tolist() == batch["lengths"].tolist()
    expected = []
    for stages in batch["stages"]:
        spans = [stage["end_frame"] - stage["start_frame"] for stage in stages]
        expected.append(stages[spans.index(max(spans))]["overall"])
    assert [calls[0][i] for i in condition.slots[:, 0, 0].tolist()] == expected
    supervised = tiny_model(part_text_drop=0.0).encode_batch(batch)
    assert supervised.slots.shape[1] == 2


def test_losses_are_finite_and_hold_the_routing_and_template_terms(batch):
    model = tiny_model()
    losses = model.training_losses(batch, torch.Generator().manual_seed(0))
    assert set(losses) == {"loss", "loss_recon", "loss_moe", "loss_kl"}
    assert all(bool(torch.isfinite(value)) for value in losses.values())
    torch.testing.assert_close(losses["loss"], losses["loss_recon"] + losses["loss_moe"] + losses["loss_kl"])
    routing = sum(layer.sami.text_moe.aux_loss + layer.sami.motion_moe.aux_loss for layer in model.layers)
    torch.testing.assert_close(losses["loss_moe"], 10.0 * routing)
    assert losses["loss_kl"] > 0 and losses["loss_moe"] > 0
    losses["loss"].backward()
    assert model.layers[0].sami.sigma.grad is not None
    assert model.text_encoder.word_embedding.weight.grad is not None
    # The template KL as released: -0.5 (1 + log std - mu^2 - std) of each group's anchor features.
    state = first_layer(model, TWO_STAGES, torch.randn(1, 30, 8, 8))
    logits = state.anchor_logits.double()
    mu, std = logits.mean(-1), logits.std(-1)
    torch.testing.assert_close(state.kl.double(), -0.5 * (1 + std.log() - mu**2 - std))


def test_the_config_refuses_what_the_model_cannot_build():
    with pytest.raises(MogenBenchError, match="training_mode"):
        FineMoGenConfig(training_mode="weak")
    with pytest.raises(MogenBenchError, match="max_seq_len"):
        FineMoGen(FineMoGenConfig(**{**TINY, "max_seq_len": 30}), CONTEXT)


# --------------------------------------------------------------------------- trainer and generation
@pytest.fixture(scope="module")
def fine_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("finemogen") / "run"
    _train(tiny_dataset, out, model="finemogen", overrides=[*TINY_OVERRIDES, "train.max_steps=4"])
    return out


def test_training_runs_and_resumes_exactly(tiny_dataset, fine_run, tmp_path):
    overrides = [*TINY_OVERRIDES, "train.max_steps=4"]
    resumed = tmp_path / "resumed"
    again = interrupted_and_resumed(tiny_dataset, resumed, "finemogen", overrides, stop_at_step=2)
    straight = load_checkpoint(find_latest_checkpoint(fine_run))
    assert straight["step"] == again["step"] == 4
    assert_same_weights(straight["model"], again["model"])
    # Training moved the zero-initialised decoder.
    assert straight["model"]["pose_decoder.project.7.weight"].abs().sum() > 0


def test_generate_from_stages_with_a_trained_run(fine_run):
    from mogen_bench.training.run import load_run

    model = load_run(fine_run).model
    assert isinstance(model, get_model_class("finemogen"))
    stages = list(TWO_STAGES)
    first = model.generate([stages, "a person jumps"], [None, 16], seed=3)
    again = model.generate([stages, "a person jumps"], [None, 16], seed=3)
    assert first.features.shape == (2, 30, DIMS) and torch.equal(first.features, again.features)
    assert torch.all(first.features[1, 16:] == 0) and bool(torch.isfinite(first.features).all())
    edited = model.generate(
        [[stages[0], replace(stages[1], right_leg="the left leg kicks")], "a person jumps"],
        [None, 16],
        seed=3,
    )
    # Four steps leave the zero-initialised output layers small, so the edit moves the motion a little; it
    # moves it (the other request may move too: the experts' capacity is shared by the batch, as released).
    assert not torch.equal(edited.features[0], first.features[0])


# --------------------------------------------------------------------------- the paper preset
class _ClipShapedEncoder(TextEncoder):
    """CLIP's interface (512-wide tokens, 77 of them, frozen) without its weights, for counting parameters."""

    name = "clip"
    trainable = False

    def __init__(self):
        super().__init__()
        self.dim, self.max_tokens = 512, 77

    def forward(self, texts):  # pragma: no cover - never called
        raise AssertionError


def test_paper_preset_has_the_released_size(monkeypatch):
    monkeypatch.setattr("finemogen.model.build_model_text_encoder", lambda *_: _ClipShapedEncoder())
    preset = load_preset(FineMoGen, "paper")
    config = FineMoGenConfig(**preset["model"])
    model = FineMoGen(config, ModelContext("humanml3d-263", DIMS, 20.0, 196))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # The released checkpoint's non-CLIP entries hold 65,459,242 numbers (finemogen_official_state_dict.json):
    # less 8 scalar ``_num_global_experts`` buffers (tutel) and 4 x 196 x 64 of ``key_motion``, a parameter
    # SAMI creates and never uses (not built here).
    assert trainable == 65_459_242 - 8 - 4 * 196 * 64 == 65_409_058
    assert math.isclose(trainable / 1e6, 65, rel_tol=0.01)
    # The 50 steps of "15,15,8,6,6" (finemogen.md 2.10).
    kept = model.sampling_diffusion.timestep_map.tolist()
    assert len(kept) == 50
    assert kept[:16] == [0, 14, 28, 43, 57, 71, 85, 99, 114, 128, 142, 156, 171, 185, 199, 200]
    assert kept[-7:] == [799, 800, 840, 880, 919, 959, 999]
    assert preset["train"]["lr"] == 2e-4 and preset["train"]["schedule"] == "step"
    assert (config.schedule, config.variance, config.prediction) == ("linear", "fixed_large", "x0")
    weights = model.guidance_function(config.guidance)(torch.tensor([999, 0]))
    assert weights.tolist() == pytest.approx([1 + 6.5 * 0.999, 1])


class _FrozenWordEncoder(TextEncoder):
    """A frozen 12-wide encoder: one random vector per word, padding to 6 tokens."""

    name = "clip"
    trainable = False

    def __init__(self):
        super().__init__()
        self.dim, self.max_tokens = 12, 6

    def forward(self, texts):
        tokens = torch.zeros(len(texts), 6, 12)
        mask = torch.zeros(len(texts), 6, dtype=torch.bool)
        for row, text in enumerate(texts):
            words = text.split()[:6]
            for column, word in enumerate(words):
                tokens[row, column] = torch.randn(12, generator=torch.Generator().manual_seed(len(word)))
            mask[row, : len(words)] = True
        return TextFeatures(tokens, mask, tokens.mean(1))


def test_text_adapter_over_a_frozen_and_a_learned_encoder(monkeypatch):
    # Learned (trained with the model): projected to text_latent_dim only, its padding mask kept.
    model = tiny_model()
    assert model.text_adapter.encoder is None and isinstance(model.text_adapter.project, nn.Linear)
    bank = model.encode_texts(["a person walks", "the left arm swings"])
    features = model.text_encoder(["a person walks", "the left arm swings"])
    assert bank.tokens.shape == (*features.mask.shape, 16) and torch.equal(bank.mask, features.mask)
    # Frozen (CLIP): projection, the released transformer layers and a LayerNorm; with mask_text_padding
    # off (the paper preset) every position is a key, as in the released code.
    monkeypatch.setattr("finemogen.model.build_model_text_encoder", lambda *_: _FrozenWordEncoder())
    for masked in (True, False):
        model = tiny_model(text_encoder="clip", text_heads=2, text_ff_dim=32, mask_text_padding=masked)
        adapter = model.text_adapter
        assert len(adapter.encoder.layers) == 2 and isinstance(adapter.norm, nn.LayerNorm)
        bank = model.encode_texts(["a person walks", "sits"])
        assert bank.tokens.shape == (2, 6, 16) and bank.mask.sum(1).tolist() == ([3, 1] if masked else [6, 6])
        torch.testing.assert_close(bank.tokens.mean(-1), torch.zeros(2, 6), rtol=0, atol=1e-5)
        # Masked: the words' features do not depend on the padding after them.
        longer = model.encode_texts(["a person walks", "sits down now"])
        assert torch.allclose(bank.tokens[0], longer.tokens[0], atol=1e-6) == masked or not masked
