"""Converting checkpoints of the released FineMoGen code (finemogen/convert.py, ``mogen-bench convert``).

The released checkpoints are not redistributable, so the tests build state dicts with the released key names
and shapes (``released_listing``, written here from the released modules' layer sizes and checked against
the listing of the real checkpoint when the shared folder has it) and random values. The released pose
encoder / decoder and the part-wise FFN are re-implemented here from the released code's description, to
check that the converted weights compute what the released layers compute.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from finemogen.config import FineMoGenConfig
from finemogen.convert import (
    CLIP_FILE,
    convert_finemogen_official,
    convert_state_dict,
    read_released_checkpoint,
)
from finemogen.model import FineMoGen
from finemogen.pose import TOKEN_PARTS, PoseDecoder, PoseEncoder
from mogen_bench.cli import cli
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext
from mogen_bench.models.registry import load_preset
from mogen_bench.motion.part_slices import part_slices
from mogen_bench.motion.skeletons import SMPL22
from mogen_bench.text.clip import TINY_CONFIG, ClipTextEncoder
from mogen_bench.text.features import TextEncoder, TextFeatures
from mogen_bench.training.checkpoint import load_checkpoint
from mogen_bench.training.run import load_run

TOKENS = ("head", "stem", "larm", "rarm", "lleg", "rleg", "root", "body")
#: The released joint groups (``PoseEncoder.__init__``), in the released order.
GROUPS = {
    "humanml3d-263": (
        [12, 15], [3, 6, 9], [14, 17, 19, 21], [13, 16, 18, 20], [2, 5, 8, 11], [1, 4, 7, 10], [0],
        list(range(22)),
    ),
    "kit-251": (
        [4], [1, 2, 3], [8, 9, 10], [5, 6, 7], [16, 17, 18, 19, 20], [11, 12, 13, 14, 15], [0],
        list(range(21)),
    ),
}  # fmt: skip


def joint_dims(representation: str, joint: int) -> list[int]:
    """The released ``get_t2m_slice`` / ``get_kit_slice``: ric (3), 6D rotation (6), velocity (3)."""
    rot, vel, contact = (67, 193, 259) if representation == "humanml3d-263" else (64, 184, 247)
    if joint == 0:
        return [0, 1, 2, 3, vel, vel + 1, vel + 2, contact, contact + 1, contact + 2, contact + 3]
    ric = 4 + 3 * (joint - 1)
    rotation = rot + 6 * (joint - 1)
    velocity = vel + 3 * joint
    return [*range(ric, ric + 3), *range(rotation, rotation + 6), *range(velocity, velocity + 3)]


def released_slices(representation: str) -> dict[str, list[int]]:
    """Released token -> dims in the released order (joint after joint, ``get_part_slice``)."""
    groups = dict(zip(TOKENS, GROUPS[representation], strict=True))
    return {t: [i for j in joints for i in joint_dims(representation, j)] for t, joints in groups.items()}


# --------------------------------------------------------------------------- released listings
PAPER = dict(part=64, layers=4, time=2048, text=256, text_layers=2, text_ff=2048, ffn=256, text_ffn=1024,
             experts=16, max_len=196, text_len=77)  # fmt: skip
#: The sizes of the tiny checkpoints below, and the model settings that match them.
TINY = dict(PAPER, part=8, layers=2, time=32, text=16, text_ff=32, ffn=16, text_ffn=16, experts=4)
TINY_SETTINGS = dict(part_dim=8, layers=2, time_embed_dim=32, text_latent_dim=16, text_ff_dim=32,
                     ffn_dim=16, text_ffn_dim=16, num_experts=4, sampling_steps="ddim2")  # fmt: skip
#: The CLIP of the tiny checkpoints: ``mogen_bench.text.clip.TINY_CONFIG``'s text tower (32 wide, 2 layers).
TINY_CLIP = {"width": 32, "layers": 2, "vision": False}


def clip_listing(width: int, layers: int, *, vision: bool) -> dict[str, tuple]:
    """OpenAI CLIP's state dict names (``clip.load``'s model); the image tower of ViT-B/32 with ``vision``."""
    listing: dict[str, tuple] = {"positional_embedding": (77, width), "text_projection": (width, width),
                                 "logit_scale": ()}  # fmt: skip

    def blocks(prefix: str, dim: int, count: int) -> None:
        for b in range(count):
            p = f"{prefix}transformer.resblocks.{b}."
            listing.update({
                p + "attn.in_proj_weight": (3 * dim, dim), p + "attn.in_proj_bias": (3 * dim,),
                p + "attn.out_proj.weight": (dim, dim), p + "attn.out_proj.bias": (dim,),
                p + "ln_1.weight": (dim,), p + "ln_1.bias": (dim,),
                p + "mlp.c_fc.weight": (4 * dim, dim), p + "mlp.c_fc.bias": (4 * dim,),
                p + "mlp.c_proj.weight": (dim, 4 * dim), p + "mlp.c_proj.bias": (dim,),
                p + "ln_2.weight": (dim,), p + "ln_2.bias": (dim,),
            })  # fmt: skip

    if vision:
        listing.update({"visual.class_embedding": (768,), "visual.positional_embedding": (50, 768),
                        "visual.proj": (768, width), "visual.conv1.weight": (768, 3, 32, 32),
                        "visual.ln_pre.weight": (768,), "visual.ln_pre.bias": (768,)})  # fmt: skip
        blocks("visual.", 768, 12)
        listing.update({"visual.ln_post.weight": (768,), "visual.ln_post.bias": (768,)})
    else:  # a stand-in for the image tower: dropped all the same
        listing.update({"visual.proj": (4, width), "visual.conv1.weight": (4, 3, 2, 2)})
    blocks("", width, layers)
    listing.update({"token_embedding.weight": (49408, width), "ln_final.weight": (width,),
                    "ln_final.bias": (width,)})  # fmt: skip
    return listing


def released_listing(
    representation: str = "humanml3d-263", sizes: dict = PAPER, clip: dict | None = None
) -> dict[str, tuple]:
    """Key -> shape of a released FineMoGen checkpoint (``model.`` prefix, mmcv), from the layer sizes."""
    s = sizes
    part, text, time, ffn, experts = s["part"], s["text"], s["time"], s["ffn"], s["experts"]
    clip = clip_listing(**(clip or {"width": 512, "layers": 12, "vision": True}))
    out = {f"model.clip.{k}": v for k, v in clip.items()}
    clip_width = clip["ln_final.weight"][0]
    out.update({"model.text_pre_proj.weight": (text, clip_width), "model.text_pre_proj.bias": (text,)})
    for layer in range(s["text_layers"]):
        p = f"model.textTransEncoder.layers.{layer}."
        out.update({
            p + "self_attn.in_proj_weight": (3 * text, text), p + "self_attn.in_proj_bias": (3 * text,),
            p + "self_attn.out_proj.weight": (text, text), p + "self_attn.out_proj.bias": (text,),
            p + "linear1.weight": (s["text_ff"], text), p + "linear1.bias": (s["text_ff"],),
            p + "linear2.weight": (text, s["text_ff"]), p + "linear2.bias": (text,),
            p + "norm1.weight": (text,), p + "norm1.bias": (text,),
            p + "norm2.weight": (text,), p + "norm2.bias": (text,),
        })  # fmt: skip
    out.update({"model.text_ln.weight": (text,), "model.text_ln.bias": (text,)})
    dims = {token: len(d) for token, d in released_slices(representation).items()}
    for token in TOKENS:
        out.update({f"model.joint_embed.{token}_embed.weight": (part, dims[token]),
                    f"model.joint_embed.{token}_embed.bias": (part,)})  # fmt: skip
    out.update({"model.time_embed.0.weight": (time, 8 * part), "model.time_embed.0.bias": (time,),
                "model.time_embed.2.weight": (time, time), "model.time_embed.2.bias": (time,)})  # fmt: skip

    def stylisation(prefix: str) -> None:
        width = 8 * part
        out.update({
            prefix + "emb_layers.1.weight": (2 * width, time), prefix + "emb_layers.1.bias": (2 * width,),
            prefix + "norm.weight": (width,), prefix + "norm.bias": (width,),
            prefix + "out_layers.2.weight": (width, width), prefix + "out_layers.2.bias": (width,),
        })  # fmt: skip

    def moe(prefix: str, dim: int, hidden: int, outputs: int, heads: int, length: int) -> None:
        out.update({
            prefix + "embedding": (1, length, heads, dim), prefix + "proj.weight": (outputs, dim),
            prefix + "proj.bias": (outputs,), prefix + "model._num_global_experts": (),
            prefix + "model.experts.batched_fc1_w": (experts, hidden, dim),
            prefix + "model.experts.batched_fc2_w": (experts, hidden, dim),
            prefix + "model.experts.batched_fc1_bias": (experts, hidden),
            prefix + "model.experts.batched_fc2_bias": (experts, dim),
            prefix + "model.gates.0.temperature": (1,), prefix + "model.gates.0.sim_matrix": (256, experts),
            prefix + "model.gates.0.cosine_projector.weight": (256, dim),
            prefix + "model.gates.0.cosine_projector.bias": (256,),
        })  # fmt: skip

    for layer in range(s["layers"]):
        ca = f"model.temporal_decoder_blocks.{layer}.ca_block."
        out.update({ca + "sigma": (1,), ca + "key_motion": (s["max_len"], part), ca + "body_weight": (8, 8),
                    ca + "t_sigma": (1,), ca + "norm.weight": (part,), ca + "norm.bias": (part,),
                    ca + "text_norm.weight": (text,), ca + "text_norm.bias": (text,)})  # fmt: skip
        moe(ca + "text_moe.", text, s["text_ffn"], 2 * part, 1, s["text_len"])
        moe(ca + "motion_moe.", part, ffn, 3 * part, 8, s["max_len"])
        for name in ("template_s", "template_v", "template_a", "template_j", "template_t"):
            last = 1 if name == "template_t" else part
            out.update({f"{ca}{name}.0.weight": (ffn, part), f"{ca}{name}.0.bias": (ffn,),
                        f"{ca}{name}.2.weight": (last, ffn), f"{ca}{name}.2.bias": (last,)})  # fmt: skip
        stylisation(ca + "proj_out.")
        fn = f"model.temporal_decoder_blocks.{layer}.ffn."
        for h in range(8):
            one, two = f"{fn}linear1_list.{h}.", f"{fn}linear2_list.{h}."
            out.update({one + "weight": (ffn, part), one + "bias": (ffn,),
                        two + "weight": (part, ffn), two + "bias": (part,)})  # fmt: skip
        stylisation(fn + "proj_out.")
    for token in TOKENS:
        out.update({f"model.out.{token}_out.weight": (dims[token], part),
                    f"model.out.{token}_out.bias": (dims[token],)})  # fmt: skip
    return out


def random_state(listing: dict[str, tuple], experts: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random values of a trained network's size (SAMI's widths positive, as training leaves them)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in listing.items():
        if key.endswith("_num_global_experts"):
            state[key] = torch.tensor(experts)
        elif key.endswith(("ca_block.sigma", "ca_block.t_sigma")):
            state[key] = 1 + 100 * torch.rand(shape, generator=generator)
        else:
            state[key] = 0.05 * torch.randn(shape, generator=generator)
    return state


def meta_state(listing: dict[str, tuple], experts: int) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(experts) if k.endswith("_num_global_experts") else torch.empty(v, device="meta")
            for k, v in listing.items()}  # fmt: skip


class FrozenClipShaped(TextEncoder):
    """CLIP's interface (512-wide tokens, 77 of them, frozen), with fixed random features per text."""

    name = "clip"
    trainable = False

    def __init__(self):
        super().__init__()
        self.dim, self.max_tokens = 512, 77

    def forward(self, texts):
        generators = [torch.Generator().manual_seed(len(text)) for text in texts]
        tokens = torch.stack([torch.randn(77, 512, generator=generator) for generator in generators])
        return TextFeatures(tokens, torch.ones(len(texts), 77, dtype=torch.bool), tokens[:, -1])


@pytest.fixture(scope="module")
def paper_model() -> FineMoGen:
    """The ``paper`` preset of FineMoGen on HumanML3D (65M parameters, built once), CLIP-shaped texts."""
    config = FineMoGenConfig(**{**load_preset(FineMoGen, "paper")["model"], "sampling_steps": "ddim2"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("finemogen.model.build_model_text_encoder", lambda *_: FrozenClipShaped())
        return FineMoGen(config, ModelContext("humanml3d-263", 263, 20.0, 196))


def shapes(state: dict) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in state.items() if not k.endswith("_extra_state")}


# --------------------------------------------------------------------------- the key table
def test_the_listing_is_the_released_checkpoints():
    """``released_listing`` against the released checkpoint's 750 keys, when the shared folder has them."""
    base = Path(os.environ.get("MOGEN_BENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    path = base / "reference" / "finemogen_official_state_dict.json"
    if not path.is_file():
        pytest.skip(f"the released key listing is not here: {path}")
    released = {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
    assert released_listing() == released
    assert len(released) == 750 and sum(k.startswith("model.clip.") for k in released) == 302


@pytest.mark.parametrize("representation", ["humanml3d-263", "kit-251"])
def test_every_released_key_is_read_or_dropped_on_purpose(paper_model, representation):
    listing = released_listing(representation)
    converted = convert_state_dict(meta_state(listing, 16))  # the dataset is told by the shapes
    reads = {key for rule in converted.rules for key in rule.sources}
    assert len(reads) == 436 and len(converted.clip) == 149 and len(converted.dropped) == 4 * 3 + 153
    assert reads | set(converted.dropped) | {f"model.clip.{k}" for k in converted.clip} == set(listing)
    assert not reads & set(converted.dropped)
    assert sorted(k for k in converted.dropped if "clip" not in k) == sorted(
        f"model.temporal_decoder_blocks.{b}.ca_block.{name}"
        for b in range(4)
        for name in ("key_motion", *(f"{m}_moe.model._num_global_experts" for m in ("text", "motion")))
    )
    # Every tensor of this FineMoGen (paper preset) is made, with its shape; CLIP keeps open_clip's names.
    expected = shapes(paper_model.state_dict())
    if representation == "kit-251":  # only the pose layers differ from HumanML3D's
        slices = part_slices(representation)
        for prefix, module in (("pose_encoder.", PoseEncoder), ("pose_decoder.", PoseDecoder)):
            expected.update({prefix + k: v for k, v in shapes(module(slices, 251, 64).state_dict()).items()})
    assert shapes(converted.model) == expected
    from open_clip.model import _build_text_tower

    # On meta tensors, without the random init (its meta kernel first imports torch's reference ops: seconds).
    text = {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}
    with torch.device("meta"), pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.init, "normal_", lambda tensor, *args, **kwargs: tensor)
        tower = _build_text_tower(512, text, quick_gelu=True)
    assert shapes(converted.clip) == shapes(tower.state_dict())


def test_missing_unexpected_and_odd_keys_are_refused():
    def tiny(experts: int = 4, **sizes) -> dict[str, torch.Tensor]:
        return meta_state(released_listing("humanml3d-263", {**TINY, **sizes}, TINY_CLIP), experts)

    state = tiny()
    state["model.extra_head.weight"] = torch.zeros(2)
    del state["model.temporal_decoder_blocks.1.ffn.linear2_list.6.bias"]
    with pytest.raises(MogenBenchError) as error:
        convert_state_dict(state, layers=2, num_experts=4, source="ckpt.pth")
    message = str(error.value)
    assert message.startswith("ckpt.pth")
    assert "1 missing keys: model.temporal_decoder_blocks.1.ffn.linear2_list.6.bias" in message
    assert "1 unexpected keys: model.extra_head.weight" in message
    # A third layer in the checkpoint is 96 keys no rule reads.
    with pytest.raises(MogenBenchError, match=r"96 unexpected keys: model\.temporal_decoder_blocks\.2"):
        convert_state_dict(tiny(layers=3), layers=2, num_experts=4)
    with pytest.raises(MogenBenchError, match="_num_global_experts is 8, not the 4 experts"):
        convert_state_dict(tiny(experts=8), layers=2, num_experts=4)
    state = tiny()
    state["model.temporal_decoder_blocks.0.ffn.linear1_list.3.weight"] = torch.empty(16, 9, device="meta")
    with pytest.raises(MogenBenchError, match=r"list.3.weight \(16, 9\).*: expected 8 tensors of one shape"):
        convert_state_dict(state, layers=2, num_experts=4)


# --------------------------------------------------------------------------- the numbers
@pytest.fixture(scope="module")
def released_paper() -> dict[str, torch.Tensor]:
    """A released HumanML3D state dict of random values, without CLIP (its tower is tested below)."""
    listing = {k: v for k, v in released_listing().items() if not k.startswith("model.clip.")}
    return random_state(listing, 16)


def linear(x: torch.Tensor, released: dict, prefix: str) -> torch.Tensor:
    """The released ``nn.Linear`` called ``prefix`` applied to ``x``."""
    return F.linear(x, released[f"{prefix}.weight"], released[f"{prefix}.bias"])


def test_released_tensors_land_where_they_belong(paper_model, released_paper):
    released, model = released_paper, paper_model
    converted = convert_state_dict(released, "humanml3d-263")
    assert converted.clip == {}
    result = model.load_state_dict(converted.model, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    block = "model.temporal_decoder_blocks"

    # SFFN: part h's nn.Linear pair becomes slice h of the stacked weights, transposed.
    ffn = model.layers[2].ffn.ffn
    assert torch.equal(ffn.weight1[5], released[f"{block}.2.ffn.linear1_list.5.weight"].T)
    assert torch.equal(ffn.bias1[5], released[f"{block}.2.ffn.linear1_list.5.bias"])
    assert torch.equal(ffn.weight2[0], released[f"{block}.2.ffn.linear2_list.0.weight"].T)
    assert torch.equal(ffn.bias2[7], released[f"{block}.2.ffn.linear2_list.7.bias"])
    x = torch.randn(2, 3, 8, 64, generator=torch.Generator().manual_seed(1))
    parts = [
        linear(F.gelu(linear(x[:, :, h], released, f"{block}.2.ffn.linear1_list.{h}")), released,
               f"{block}.2.ffn.linear2_list.{h}")
        for h in range(8)
    ]  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(ffn(x), torch.stack(parts, dim=2), rtol=1e-5, atol=1e-6)

    # SAMI and its experts by name (RELEASED_KEYS).
    sami, attention = model.layers[1].sami, f"{block}.1.ca_block"
    assert torch.equal(sami.motion_moe.moe.fc2_weight,
                       released[f"{attention}.motion_moe.model.experts.batched_fc2_w"])  # fmt: skip
    assert torch.equal(sami.text_moe.moe.gate.sim_matrix,
                       released[f"{attention}.text_moe.model.gates.0.sim_matrix"])  # fmt: skip
    assert torch.equal(sami.body_weight, released[f"{attention}.body_weight"])
    assert torch.equal(model.layers[3].ffn.proj_out.out_layers[2].weight,
                       released[f"{block}.3.ffn.proj_out.out_layers.2.weight"])  # fmt: skip

    # The released larm token holds the subject's right arm (SMPL joints 14, 17, 19, 21): its embedding
    # feeds the right_arm token and reads the same features.
    larm = TOKENS.index("larm")
    assert TOKEN_PARTS[larm] == "right_arm"
    arm = [SMPL22.joint_names[j] for j in GROUPS["humanml3d-263"][larm]]
    assert arm == ["right_collar", "right_shoulder", "right_elbow", "right_wrist"]
    slices = released_slices("humanml3d-263")
    features = torch.randn(2, 5, 263, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        tokens = model.pose_encoder(features)
        right_arm = linear(features[..., slices["larm"]], released, "model.joint_embed.larm_embed")
        torch.testing.assert_close(tokens[:, :, larm], right_arm, rtol=1e-5, atol=1e-6)
        # ... and so does every token, the whole body included (its columns are joint-major when released).
        for number, token in enumerate(TOKENS):
            reference = linear(features[..., slices[token]], released, f"model.joint_embed.{token}_embed")
            torch.testing.assert_close(tokens[:, :, number], reference, rtol=1e-5, atol=1e-5)
        body = released["model.joint_embed.body_embed.weight"]
        assert not torch.allclose(model.pose_encoder.embed[7].weight, body)

        # The decoder: the seven parts scattered to their dims, the whole body added as it is, halved.
        hidden = torch.randn(2, 5, 8, 64, generator=torch.Generator().manual_seed(3))
        outputs = [linear(hidden[:, :, n], released, f"model.out.{t}_out") for n, t in enumerate(TOKENS)]
        scattered = torch.zeros(2, 5, 263)
        for token, output in zip(TOKENS[:7], outputs[:7], strict=True):
            scattered[..., slices[token]] = output
        decoded = model.pose_decoder(hidden)
        torch.testing.assert_close(decoded, (scattered + outputs[7]) / 2, rtol=1e-5, atol=1e-6)

        # The text layers: the released sequence-first transformer with the same weights.
        layer = nn.TransformerEncoderLayer(256, 4, 2048, 0.0, "gelu")
        released_text = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
        prefix = "model.textTransEncoder."
        text_state = {k[len(prefix) :]: v for k, v in released.items() if k.startswith(prefix)}
        released_text.load_state_dict(text_state)
        clip_tokens = torch.randn(3, 77, 512, generator=torch.Generator().manual_seed(4))
        projected = linear(clip_tokens, released, "model.text_pre_proj")
        reference = released_text(projected.transpose(0, 1)).transpose(0, 1)
        norm = released["model.text_ln.weight"], released["model.text_ln.bias"]
        reference = F.layer_norm(reference, (256,), *norm)
        adapted = model.text_adapter.eval()(clip_tokens, torch.ones(3, 77, dtype=torch.bool))
        torch.testing.assert_close(adapted, reference, rtol=1e-4, atol=1e-4)

        # A forward pass of the converted model (2 DDIM steps, guidance, 8 frames).
        motion = model.generate(["a person walks forward"], [8], seed=0).features
    assert motion.shape == (1, 8, 263) and torch.isfinite(motion).all() and motion.abs().sum() > 0


def test_kit_tokens_read_the_released_kit_dims():
    state = random_state(released_listing("kit-251", TINY, TINY_CLIP), 4)
    converted = convert_state_dict(state, layers=2, num_experts=4)
    slices, ours = released_slices("kit-251"), part_slices("kit-251")
    features = torch.randn(4, 251, generator=torch.Generator().manual_seed(5))
    for number, token in enumerate(TOKENS):
        weight = converted.model[f"pose_encoder.embed.{number}.weight"]
        released = state[f"model.joint_embed.{token}_embed.weight"]
        sorted_dims = list(ours[TOKEN_PARTS[number]])
        expected = features[:, slices[token]] @ released.T
        torch.testing.assert_close(features[:, sorted_dims] @ weight.T, expected)
    rarm = TOKENS.index("rarm")  # KIT's right-named tokens hold the left limbs (joints 5-7 rest at +x)
    assert TOKEN_PARTS[rarm] == "left_arm" and GROUPS["kit-251"][rarm] == [5, 6, 7]


# --------------------------------------------------------------------------- the run folder
def tiny_clip(monkeypatch) -> None:
    """FineMoGen's CLIP replaced by the tiny CLIP of ``mogen_bench.text.clip``, read from ``clip_weights``."""

    def build(config, context):
        weights = config.clip_weights or None
        options = {"context_length": config.clip_context, "cache_dir": None}
        return ClipTextEncoder(weights, model_config=TINY_CONFIG, **options)

    monkeypatch.setattr("finemogen.model.build_model_text_encoder", build)


@pytest.fixture
def tiny_release(tmp_path) -> dict:
    """A tiny released checkpoint (mmcv layout, with CLIP) and HumanML3D-shaped Mean/Std files."""
    state = random_state(released_listing("humanml3d-263", TINY, TINY_CLIP), 4, seed=7)
    path = tmp_path / "latest.pth"
    torch.save({"meta": {"epoch": 12, "iter": 29124, "mmcv_version": "1.7.0"}, "state_dict": state}, path)
    mean = np.linspace(-1, 1, 263, dtype=np.float32)
    std = np.linspace(0.5, 2, 263, dtype=np.float32)
    np.save(tmp_path / "Mean.npy", mean)
    np.save(tmp_path / "Std.npy", std)
    return {"path": path, "state": state, "mean": tmp_path / "Mean.npy", "std": tmp_path / "Std.npy",
            "mean_array": mean, "std_array": std}  # fmt: skip


def test_the_converted_run_loads_strictly_and_generates(tmp_path, monkeypatch, tiny_release):
    tiny_clip(monkeypatch)
    out = tmp_path / "run"
    stats = {"mean": tiny_release["mean"], "std": tiny_release["std"]}
    result = convert_finemogen_official(tiny_release["path"], out, **stats, model_settings=TINY_SETTINGS)
    assert result.representation == "humanml3d-263" and result.clip_weights == (out / CLIP_FILE).resolve()
    assert (result.released_tensors, result.clip_tensors) == (32 + 4 + 28 + 2 * 96 - 2 * 3, 29)
    assert result.model_tensors == 32 + 4 + 28 + 2 * 65
    config = json.loads((out / "config.json").read_text())
    context = config["context"]
    assert config["model"] == "finemogen" and context["representation"] == "humanml3d-263"
    assert (context["max_frames"], context["fps"], context["dims"]) == (196, 20.0, 263)
    assert context["part_slices"]["right_arm"] == sorted(released_slices("humanml3d-263")["larm"])
    assert config["config"]["model"]["clip_weights"] == CLIP_FILE  # relative to the run folder
    assert config["config"]["model"]["guidance"] == 6.5 and config["config"]["data"]["max_frames"] == 196
    assert np.array_equal(np.asarray(config["normalisation"]["mean"], np.float32), tiny_release["mean_array"])
    assert config["normalisation"]["applied"] is True
    assert config["converted_from"]["ignored_entries"] == ["meta"]
    state = load_checkpoint(result.checkpoint, expect_model="finemogen")
    assert state["step"] == 0 and result.checkpoint.name == "step-00000000.pt"

    # load_run: the strict load of the run folder, CLIP's digest included.
    run = load_run(out)
    released, clip = tiny_release["state"], run.model.text_encoder.clip
    assert torch.equal(run.model.layers[1].ffn.ffn.weight2[3],
                       released["model.temporal_decoder_blocks.1.ffn.linear2_list.3.weight"].T)  # fmt: skip
    assert torch.equal(clip.token_embedding.weight, released["model.clip.token_embedding.weight"])
    assert torch.equal(clip.transformer.resblocks[1].mlp.c_fc.bias,
                       released["model.clip.transformer.resblocks.1.mlp.c_fc.bias"])  # fmt: skip
    motion = run.model.generate(["a person waves"], [8], seed=3).features
    assert motion.shape == (1, 8, 263) and torch.isfinite(motion).all() and motion.abs().sum() > 0

    # mogen-bench generate OUT: the features it writes are the model's, de-normalised with Mean/Std.
    generated = CliRunner().invoke(cli, ["generate", str(out), "--text", "a person waves", "--length", "8",
                                         "--seed", "3", "--out", str(tmp_path / "generated")])  # fmt: skip
    assert generated.exit_code == 0, generated.output
    features = np.load(tmp_path / "generated" / "sample_000.features.npy")
    expected = motion[0].numpy() * tiny_release["std_array"] + tiny_release["mean_array"]
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)

    # It generates and evaluates as it is; there is no training of it to resume.
    from mogen_bench.training.loop import TrainRequest, train

    with pytest.raises(MogenBenchError, match="converted released checkpoint was not trained") as refused:
        train(TrainRequest("finemogen", tmp_path, out, resume=True, progress=False))
    assert refused.value.file == str(out / "config.json")

    # The run folder moves whole: its CLIP is found beside it, whatever the working directory.
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    out.rename(moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = load_run("run")
    assert again.model.text_encoder.weights_source == str(Path("run") / CLIP_FILE)
    assert torch.equal(again.model.generate(["a person waves"], [8], seed=3).features, motion)


def test_the_convert_command(tmp_path, monkeypatch, tiny_release):
    tiny_clip(monkeypatch)
    real = load_preset

    def shrunk(model, name):  # the paper preset at the tiny checkpoint's sizes
        preset = real(model, name)
        return {**preset, "model": {**preset["model"], **TINY_SETTINGS}}

    monkeypatch.setattr("mogen_bench.models.registry.load_preset", shrunk)
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["convert", "finemogen-official", str(tiny_release["path"])]
    stats = ["--mean", str(tiny_release["mean"]), "--std", str(tiny_release["std"])]
    result = runner.invoke(cli, [*args, str(out), *stats])
    assert result.exit_code == 0, result.output
    assert "humanml3d-263; 250 released tensors -> 194 of this FineMoGen; 29 CLIP" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "clip_text.safetensors", "config.json"]
    assert load_run(out).model.pose_encoder.embed[0].weight.shape == (8, 24)

    # Refused, with the file or option named and nothing left behind.
    missing = runner.invoke(cli, [*args, str(tmp_path / "other"), *stats[2:]])
    assert missing.exit_code == 1 and "normalisation mean is needed" in missing.output
    assert "give --mean and --std" in missing.output and not (tmp_path / "other").exists()
    again = runner.invoke(cli, [*args, str(out), *stats])
    assert again.exit_code == 1 and "exists and is not empty" in again.output
    kit = runner.invoke(cli, [*args, str(tmp_path / "kit"), *stats, "--dataset-kind", "kit-251"])
    assert kit.exit_code == 1 and "is a humanml3d-263 model, not kit-251" in kit.output


def test_bad_inputs_are_refused_before_or_without_a_trace(tmp_path, monkeypatch, tiny_release):
    tiny_clip(monkeypatch)
    checkpoint, tiny = tiny_release["path"], {"model_settings": TINY_SETTINGS}
    stats = {"mean": tiny_release["mean"], "std": tiny_release["std"]}
    np.save(tmp_path / "short.npy", np.ones(251, np.float32))
    with pytest.raises(MogenBenchError, match=r"std has shape \(251,\).*not \(263,\)") as error:
        short = {**stats, "std": tmp_path / "short.npy"}
        convert_finemogen_official(checkpoint, tmp_path / "a", **short, **tiny)
    assert "short.npy" in str(error.value) and not (tmp_path / "a").exists()
    # A file that needs unpickling of objects.
    pickled = tmp_path / "pickled.pth"
    torch.save({"state_dict": tiny_release["state"], "meta": {"args": argparse.Namespace(seed=1)}}, pickled)
    with pytest.raises(MogenBenchError, match=r"pickled\.pth.*Python objects \(argparse\.Namespace\)"):
        read_released_checkpoint(pickled)
    # The CLIP: from the checkpoint or from --clip-weights, not both, not neither.
    with pytest.raises(MogenBenchError, match=r"holds its CLIP text tower.*--clip-weights was given too"):
        convert_finemogen_official(checkpoint, tmp_path / "b", **stats, clip_weights=tmp_path / "x", **tiny)
    bare = tmp_path / "bare.pth"
    torch.save({k: v for k, v in tiny_release["state"].items() if not k.startswith("model.clip.")}, bare)
    with pytest.raises(MogenBenchError, match="holds no CLIP weights"):
        convert_finemogen_official(bare, tmp_path / "c", **stats, **tiny)
    # A bare state dict without CLIP and a CLIP file: the run reads that file.
    clip_file = tmp_path / "clip.safetensors"
    ClipTextEncoder.tiny_random(seed=5).save_weights(clip_file)
    result = convert_finemogen_official(bare, tmp_path / "d", **stats, clip_weights=clip_file, **tiny)
    assert result.clip_tensors == 0 and not (tmp_path / "d" / CLIP_FILE).exists()
    assert load_run(tmp_path / "d").model.text_encoder.weights_source == str(clip_file.resolve())
    # Sizes that do not fit the checkpoint: refused after the CLIP was written, and the folder is removed.
    with pytest.raises(MogenBenchError, match=r"do not fit.*text_moe\.moe\.fc1_weight"):
        convert_finemogen_official(checkpoint, tmp_path / "e", **stats,
                                   model_settings={**TINY_SETTINGS, "text_ffn_dim": 24})  # fmt: skip
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_a_full_size_release_converts_and_generates_with_the_real_clip_tower(tmp_path):
    """The released HumanML3D checkpoint's 750 keys and shapes (CLIP ViT-B/32 included), random values,
    through ``mogen-bench convert`` and ``mogen-bench generate``: no monkeypatching anywhere."""
    state = random_state(released_listing(), 16)
    path = tmp_path / "finemogen_t2m.pth"
    torch.save({"meta": {"epoch": 12}, "state_dict": state}, path)
    np.save(tmp_path / "Mean.npy", np.zeros(263, np.float32))
    np.save(tmp_path / "Std.npy", np.ones(263, np.float32))
    runner = CliRunner()
    out = tmp_path / "run"
    stats = ["--mean", str(tmp_path / "Mean.npy"), "--std", str(tmp_path / "Std.npy")]
    result = runner.invoke(cli, ["convert", "finemogen-official", str(path), str(out), *stats])
    assert result.exit_code == 0, result.output
    assert "436 released tensors -> 324 of this FineMoGen; 149 CLIP text-tower tensors" in result.output
    request = ["--text", "a person walks", "--length", "8", "--steps", "ddim2"]
    generated = runner.invoke(cli, ["generate", str(out), *request, "--out", str(tmp_path / "generated")])
    assert generated.exit_code == 0, generated.output
    run = load_run(out)
    assert torch.equal(run.model.text_encoder.clip.ln_final.weight, state["model.clip.ln_final.weight"])
