"""Text encoders: the open_clip text tower (tiny random config, real code path), the feature cache, the
learned word-level encoder and the registry.

The CLIP features are checked against open_clip's own ``CLIP.encode_text`` and ``TextTransformer`` forward
on the same weights, and against MDM's tokenise-to-22-then-pad-to-77 recipe; weights files round-trip.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.text import (
    TINY_CONFIG,
    ClipTextEncoder,
    LearnedTextConfig,
    LearnedTextEncoder,
    TextFeatureCache,
    TextFeatures,
    Vocabulary,
    build_text_encoder,
    build_vocabulary,
    split_words,
)
from mogen_bench.text.clip import _builtin_config, select_text_weights
from mogen_bench.text.learned import CLS, PAD, UNK
from tests.conftest import shared_sample_dir

open_clip = pytest.importorskip("open_clip")

TEXTS = [
    "a person walks forward and turns left",
    "jump",
    "someone waves with the right hand while the left leg kicks twice",
]
SMALL = {"dim": 32, "layers": 2, "heads": 2, "ff_dim": 64, "max_words": 8}


def _full_tiny_clip(seed: int) -> nn.Module:
    """A whole open_clip ``CLIP`` (tiny vision tower too) with ``TINY_CONFIG``'s text tower."""
    torch.manual_seed(seed)
    vision = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16}
    return open_clip.model.CLIP(
        embed_dim=TINY_CONFIG["embed_dim"],
        vision_cfg=vision,
        text_cfg=dict(TINY_CONFIG["text_cfg"]),
        quick_gelu=True,
    ).eval()


@pytest.fixture(scope="module")
def full_clip_file(tmp_path_factory) -> tuple[nn.Module, object]:
    clip = _full_tiny_clip(seed=1)
    path = tmp_path_factory.mktemp("clip") / "open_clip_model.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(path))
    return clip, path


# --------------------------------------------------------------------------- CLIP: features
def test_clip_matches_open_clip_encode_text_and_text_tower(full_clip_file) -> None:
    clip, path = full_clip_file
    encoder = ClipTextEncoder(path, model_config=TINY_CONFIG, memory_cache_items=0)
    features = encoder(TEXTS)
    ids = open_clip.get_tokenizer("ViT-B-32-quickgelu")(TEXTS)
    with torch.no_grad():
        pooled = clip.encode_text(ids)
        text_cfg = {**TINY_CONFIG["text_cfg"], "output_tokens": True}
        tower = open_clip.model._build_text_tower(32, text_cfg, True)
        tower.load_state_dict(encoder.clip.state_dict())
        tower_pooled, tower_tokens = tower.eval()(ids)
    assert features.tokens.shape == (3, 77, 32) and features.pooled.shape == (3, 32)
    # Another module instance may pick other CPU kernels: float32 rounding, not bit equality.
    torch.testing.assert_close(features.pooled, pooled, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features.pooled, tower_pooled, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features.tokens, tower_tokens, rtol=1e-5, atol=1e-5)
    # Un-normalised: the norms are whatever the projection gives, not 1.
    assert not torch.allclose(features.pooled.norm(dim=-1), torch.ones(3))


def test_clip_mask_covers_start_text_and_end_token() -> None:
    encoder = ClipTextEncoder.tiny_random(0)
    features = encoder(TEXTS)
    ids = encoder.tokenize(TEXTS)
    lengths = [len(open_clip.tokenizer._tokenizer.encode(t)) + 2 for t in TEXTS]
    assert features.mask.sum(dim=1).tolist() == lengths
    assert lengths == [9, 3, 14]
    for row, length in zip(ids, lengths, strict=True):
        assert row[length - 1] == 49407 and row[length:].eq(0).all()  # EOT is the last real token
    assert features.mask.dtype == torch.bool and features.mask[:, 0].all()


def test_clip_golden_values_on_seed() -> None:
    features = ClipTextEncoder.tiny_random(0)(["a person walks forward"])
    expected = torch.tensor([0.325000, -0.420741, 0.521067, -0.445280])
    torch.testing.assert_close(features.pooled[0, :4], expected, rtol=0, atol=2e-5)
    assert features.tokens[0].norm().item() == pytest.approx(GOLDEN_TOKEN_NORM, abs=1e-3)


GOLDEN_TOKEN_NORM = 49.6383


def test_clip_short_context_equals_mdm_truncation_and_full_context_prefix() -> None:
    long_text = " ".join(["the person keeps walking in a wide circle"] * 6)
    full = ClipTextEncoder.tiny_random(3)
    short = ClipTextEncoder.tiny_random(3, context_length=22)
    assert short.max_tokens == 22
    got = short([long_text, "jump"])
    assert got.tokens.shape == (2, 22, 32)
    assert got.mask.sum(dim=1).tolist() == [22, 3]
    # MDM: tokenize to 22 (truncate, EOT last), zero-pad to 77, encode_text on the full tower.
    ids = open_clip.get_tokenizer("ViT-B-32-quickgelu")([long_text, "jump"], context_length=22)
    assert ids[0, 21] == 49407
    padded = torch.cat([ids, torch.zeros(2, 55, dtype=torch.long)], dim=1)
    with torch.no_grad():
        tower = full.clip
        pooled = tower(padded)  # TextTransformer.forward = encode_text of CLIP's text half
    torch.testing.assert_close(got.pooled, pooled, rtol=1e-5, atol=1e-5)
    # Causal attention: the short pass gives the first 22 positions of the full pass of a short text
    # (up to float32 rounding: other sequence lengths run other kernels).
    torch.testing.assert_close(got.tokens[1], full(["jump"]).tokens[0, :22], rtol=1e-5, atol=1e-5)


def test_clip_is_frozen_and_stays_in_eval_mode() -> None:
    encoder = ClipTextEncoder.tiny_random(0)
    nn.Sequential(encoder).train()
    assert encoder.trainable is False
    assert all(not p.requires_grad for p in encoder.clip.parameters())
    assert not encoder.clip.training and not any(m.training for m in encoder.clip.modules())
    features = encoder(["walk"])
    assert not features.tokens.requires_grad and not features.pooled.requires_grad
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the trainer's autocast does not reach the tower
        autocast = ClipTextEncoder.tiny_random(0, memory_cache_items=0)(["walk"])
    assert autocast.tokens.dtype == torch.float32 and torch.equal(autocast.tokens, features.tokens)
    assert (encoder.name, encoder.dim, encoder.max_tokens) == ("clip", 32, 77)


# --------------------------------------------------------------------------- CLIP: weights
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_clip_weights_file_round_trip(tmp_path, suffix) -> None:
    original = ClipTextEncoder.tiny_random(7, memory_cache_items=0)
    path = original.save_weights(tmp_path / f"text{suffix}")
    assert not list(tmp_path.glob(".*.tmp"))
    reloaded = ClipTextEncoder(path, model_config=TINY_CONFIG, memory_cache_items=0)
    a, b = original(TEXTS), reloaded(TEXTS)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pooled, b.pooled) and torch.equal(a.mask, b.mask)
    assert reloaded.identity() == original.identity()
    assert ClipTextEncoder.tiny_random(8).identity() != original.identity()


def test_clip_full_checkpoint_skips_vision_and_strips_a_model_prefix(tmp_path, full_clip_file) -> None:
    clip, _ = full_clip_file
    # FineMoGen's checkpoints keep CLIP under model.clip.* next to the motion model (mmcv layout).
    state = {f"model.clip.{k}": v for k, v in clip.state_dict().items()}
    state["model.decoder.weight"] = torch.zeros(2, 2)
    path = tmp_path / "finemogen.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 3}}, path)
    encoder = ClipTextEncoder(path, model_config=TINY_CONFIG)
    with torch.no_grad():
        expected = clip.encode_text(encoder.tokenize(["wave"]))
    torch.testing.assert_close(encoder(["wave"]).pooled, expected, rtol=1e-5, atol=1e-5)


def test_released_finemogen_checkpoint_keys_fill_the_real_text_tower() -> None:
    # Names and shapes of the released FineMoGen checkpoint (OpenAI CLIP under model.clip.*), against the
    # real ViT-B-32-quickgelu text tower built on the meta device (no memory, no weights needed).
    reference = shared_sample_dir().parents[1] / "reference" / "finemogen_official_state_dict.json"
    if not reference.is_file():
        pytest.skip(f"the FineMoGen state-dict key list is not here: {reference}")
    shapes = json.loads(reference.read_text())
    config = _builtin_config()
    with torch.device("meta"):
        tower = open_clip.model._build_text_tower(config["embed_dim"], config["text_cfg"], True)
    expected = tower.state_dict()
    state = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    kept = select_text_weights(state, expected, "finemogen.pth")
    assert len(kept) == len(expected) == 149
    assert sum(key.startswith("model.clip.") for key in shapes) == 302  # + logit_scale + 152 image-tower keys
    assert tuple(kept["token_embedding.weight"].shape) == (49408, 512)
    assert tuple(kept["positional_embedding"].shape) == (77, 512)
    assert tuple(kept["text_projection"].shape) == (512, 512)
    assert config["quick_gelu"] is True and config["embed_dim"] == 512


def test_clip_mismatched_keys_error_names_them(tmp_path) -> None:
    state = ClipTextEncoder.tiny_random(0).clip.state_dict()
    state["token_embedding.weigth"] = state.pop("token_embedding.weight")
    state["ln_final.bias"] = torch.zeros(5)
    state["extra.head"] = torch.zeros(1)
    state["visual.conv1.weight"] = torch.zeros(1)  # a full CLIP's image tower: skipped, not an error
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(MogenBenchError) as caught:
        ClipTextEncoder(path, model_config=TINY_CONFIG)
    message = str(caught.value)
    assert str(path) in message and "clip_weights" in message
    assert "1 missing keys: token_embedding.weight" in message
    assert "2 unexpected keys: token_embedding.weigth, extra.head" in message
    assert "1 keys with the wrong shape: ln_final.bias (5,) (expected (32,))" in message
    assert "visual.conv1" not in message
    assert "--clip-weights PATH" in message


def test_clip_without_weights_names_both_options() -> None:
    with pytest.raises(MogenBenchError) as caught:
        ClipTextEncoder()
    message = str(caught.value)
    assert "--clip-weights PATH" in message and "--clip-download" in message
    with pytest.raises(MogenBenchError, match="--clip-download"):
        build_text_encoder("clip", weights=None, download=False)


def test_clip_bad_files_are_clear_errors(tmp_path) -> None:
    with pytest.raises(MogenBenchError, match="no such CLIP weights file"):
        ClipTextEncoder(tmp_path / "missing.safetensors", model_config=TINY_CONFIG)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(MogenBenchError, match="cannot read CLIP weights"):
        ClipTextEncoder(garbage, model_config=TINY_CONFIG)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    pickled = tmp_path / "evil.pt"
    torch.save({"token_embedding.weight": Evil()}, pickled)
    with pytest.raises(MogenBenchError, match="cannot read CLIP weights"):
        ClipTextEncoder(pickled, model_config=TINY_CONFIG)
    scripted = tmp_path / "ViT-B-32.pt"
    with pytest.warns(FutureWarning):
        torch.jit.script(nn.Linear(2, 2)).save(str(scripted))
    with pytest.raises(MogenBenchError, match="TorchScript"):
        ClipTextEncoder(scripted, model_config=TINY_CONFIG)


def test_clip_download_only_on_request_through_open_clip(tmp_path, monkeypatch) -> None:
    path = ClipTextEncoder.tiny_random(2).save_weights(tmp_path / "downloaded.safetensors")
    calls = []

    def fake_download(cfg, cache_dir=None, **_):
        calls.append((cfg.get("hf_hub"), cache_dir))
        return str(path)

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", fake_download)
    encoder = ClipTextEncoder(download=True, download_dir=tmp_path / "hub", model_config=TINY_CONFIG)
    assert calls == [("timm/vit_base_patch32_clip_224.openai/", str(tmp_path / "hub"))]
    assert torch.equal(encoder(["run"]).pooled, ClipTextEncoder.tiny_random(2)(["run"]).pooled)

    def offline(cfg, cache_dir=None, **_):
        raise OSError("network unreachable")

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", offline)
    with pytest.raises(MogenBenchError, match=r"network unreachable.*--clip-weights PATH"):
        ClipTextEncoder(download=True, model_config=TINY_CONFIG)


# --------------------------------------------------------------------------- CLIP: inside a model
def _model(encoder: ClipTextEncoder, seed: int = 0) -> nn.Module:
    """A model holding the encoder as MDM does (``self.text_encoder``) next to a trainable head."""
    torch.manual_seed(seed)
    model = nn.Module()
    model.text_encoder = encoder
    model.head = nn.Linear(32, 4)
    return model


def test_clip_tower_is_not_in_a_models_state_dict_parameters_or_ema(tmp_path) -> None:
    from mogen_bench.training.ema import ExponentialMovingAverage

    encoder = ClipTextEncoder.tiny_random(0, memory_cache_items=0)
    model = _model(encoder)
    state = model.state_dict()
    assert list(state) == ["text_encoder._extra_state", "head.weight", "head.bias"]
    assert state["text_encoder._extra_state"] == {
        "format": "mogen-bench/clip-text-encoder",
        "version": 1,
        "model": "custom",
        "context_length": 77,
        "weights_sha256": encoder.weights_sha256,
        "weights_source": "random:0",
    }
    assert len(encoder.weights_sha256) == 64
    assert [name for name, _ in model.named_parameters()] == ["head.weight", "head.bias"]
    assert [name for name, _ in model.named_modules()] == ["", "text_encoder", "head"]
    assert list(encoder.parameters()) == [] and list(encoder.buffers()) == []
    # All still there, just not listed: 49408 x 32 + 77 x 32 embeddings, 2 x 12704 (layers), 64 + 32 x 32.
    assert sum(p.numel() for p in encoder.clip.parameters()) == 1_610_016
    assert ExponentialMovingAverage(model, 0.9).names == ["head.weight", "head.bias"]
    path = tmp_path / "model.pt"
    torch.save(state, path)
    assert path.stat().st_size < 4000  # the tower alone is 6.4 MB here (250 MB for ViT-B-32)
    saved = torch.load(path, weights_only=True)["text_encoder._extra_state"]
    assert saved["weights_sha256"] == encoder.weights_sha256


def test_clip_model_state_dict_round_trip_with_the_same_weights(tmp_path) -> None:
    trained = _model(ClipTextEncoder.tiny_random(7, memory_cache_items=0), seed=1)
    weights = trained.text_encoder.save_weights(tmp_path / "clip.safetensors")
    path = tmp_path / "model.pt"
    torch.save(trained.state_dict(), path)
    state = torch.load(path, weights_only=True)
    # Built from the weights file (as generation does) or from the same random seed: the same digest.
    for encoder in (ClipTextEncoder(weights, model_config=TINY_CONFIG), ClipTextEncoder.tiny_random(7)):
        fresh = _model(encoder, seed=2)
        assert not torch.equal(fresh.head.weight, trained.head.weight)
        assert fresh.load_state_dict(state) is not None
        assert torch.equal(fresh.head.weight, trained.head.weight)
        assert torch.equal(fresh.text_encoder(TEXTS).pooled, trained.text_encoder(TEXTS).pooled)


def test_clip_model_state_dict_with_other_weights_is_a_clear_error(tmp_path) -> None:
    trained = _model(ClipTextEncoder.tiny_random(7))
    state = trained.state_dict()
    weights = ClipTextEncoder.tiny_random(8).save_weights(tmp_path / "other.pt")
    other = ClipTextEncoder(weights, model_config=TINY_CONFIG)
    with pytest.raises(MogenBenchError) as caught:
        _model(other).load_state_dict(state)
    message = str(caught.value)
    assert "trained with other CLIP weights" in message
    assert trained.text_encoder.weights_sha256[:12] in message and other.weights_sha256[:12] in message
    assert trained.text_encoder.weights_sha256[:13] not in message
    assert str(weights) in message and "random:7" in message and "field 'clip_weights'" in message
    assert "fix: give the same --clip-weights file the checkpoint was trained with (random:7)" in message

    with pytest.raises(MogenBenchError, match=r"context length 77, this encoder uses 22.*clip_context = 77"):
        _model(ClipTextEncoder.tiny_random(7, context_length=22)).load_state_dict(state)
    damaged = {**state, "text_encoder._extra_state": {"format": "something else"}}
    with pytest.raises(MogenBenchError, match="CLIP text encoder state is not readable"):
        _model(ClipTextEncoder.tiny_random(7)).load_state_dict(damaged)


def test_clip_checkpoint_without_extra_state_fails_strict_loading() -> None:
    state = _model(ClipTextEncoder.tiny_random(7)).state_dict()
    del state["text_encoder._extra_state"]
    fresh = _model(ClipTextEncoder.tiny_random(7))
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"text_encoder._extra_state\""):
        fresh.load_state_dict(state)
    assert fresh.load_state_dict(state, strict=False).missing_keys == ["text_encoder._extra_state"]
    # An old checkpoint that carried the tower: its keys are unexpected now.
    state["text_encoder.clip.ln_final.weight"] = torch.ones(32)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: \"text_encoder.clip.ln_fin"):
        fresh.load_state_dict(state)


def test_clip_moves_and_casts_with_the_model() -> None:
    encoder = ClipTextEncoder.tiny_random(0, memory_cache_items=0)
    model = _model(encoder)
    before = encoder(TEXTS)
    identity, digest = encoder.identity(), encoder.weights_sha256
    model.double()
    assert encoder.clip.token_embedding.weight.dtype == torch.float64
    assert encoder.clip.attn_mask.dtype == torch.float64 and model.head.weight.dtype == torch.float64
    doubled = encoder(TEXTS)
    assert doubled.tokens.dtype == torch.float32 and doubled.pooled.dtype == torch.float32
    torch.testing.assert_close(doubled.tokens, before.tokens, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(doubled.pooled, before.pooled, rtol=1e-5, atol=1e-5)
    assert not torch.equal(doubled.tokens, before.tokens)  # it really ran in float64
    # Features of another precision are cached apart; the checkpoint identity of the weights stays.
    assert encoder.identity() != identity and encoder.weights_sha256 == digest
    assert model.state_dict()["text_encoder._extra_state"]["weights_sha256"] == digest
    model.to("cpu", torch.float32)  # float32 -> float64 -> float32 is exact: the same weights again
    assert encoder.clip.token_embedding.weight.dtype == torch.float32 and encoder.device.type == "cpu"
    assert encoder.identity() == identity
    again = encoder(TEXTS)
    assert torch.equal(again.tokens, before.tokens) and torch.equal(again.pooled, before.pooled)
    encoder.clip.train()  # even if someone switches the tower on, the model's train() puts it back
    model.train()
    assert model.head.training and not encoder.clip.training


# --------------------------------------------------------------------------- feature cache
def _counting(encoder: ClipTextEncoder) -> list[list[str]]:
    calls: list[list[str]] = []
    encode = encoder.encode

    def counted(texts):
        calls.append(list(texts))
        return encode(texts)

    encoder.encode = counted
    return calls


def test_cache_encodes_each_text_once_and_matches_uncached(tmp_path) -> None:
    # The same batch uncached (CPU kernels round differently for other batch sizes: compare like with like).
    uncached = ClipTextEncoder.tiny_random(5, memory_cache_items=0)(TEXTS).select([0, 1, 2, 1])
    encoder = ClipTextEncoder.tiny_random(5, cache_dir=tmp_path, memory_cache_items=0)
    calls = _counting(encoder)
    first = encoder([*TEXTS, "jump"])
    assert calls == [TEXTS]  # the repeated "jump" is encoded once
    second = encoder(["jump", *TEXTS])
    assert calls == [TEXTS]  # all from disk
    assert encoder.feature_cache().disk_hits == 3
    for got in (first, second.select([1, 2, 3, 0])):
        assert torch.equal(got.tokens, uncached.tokens) and torch.equal(got.pooled, uncached.pooled)
        assert torch.equal(got.mask, uncached.mask)

    # A fresh encoder with the same weights reads the same files and never runs the tower.
    again = ClipTextEncoder.tiny_random(5, cache_dir=tmp_path)
    again_calls = _counting(again)
    assert torch.equal(again(TEXTS).tokens, uncached.tokens[:3]) and again_calls == []
    folder = tmp_path / f"clip-{encoder.identity()[:16]}"
    assert len(list(folder.glob("*/*.npz"))) == 3 and (folder / "encoder.json").is_file()
    assert not list(folder.rglob("*.tmp"))


def test_precompute_fills_the_cache_ahead_of_training(tmp_path) -> None:
    encoder = ClipTextEncoder.tiny_random(0, cache_dir=tmp_path, batch_size=2)
    calls = _counting(encoder)
    assert encoder.precompute([*TEXTS, "jump", "kick"]) == 4
    assert [len(c) for c in calls] == [2, 2]
    assert encoder.precompute(TEXTS) == 0
    encoder(["kick", "jump"])
    assert len(calls) == 2


def test_cache_namespace_follows_weights_and_context(tmp_path) -> None:
    a = ClipTextEncoder.tiny_random(0, cache_dir=tmp_path)
    b = ClipTextEncoder.tiny_random(1, cache_dir=tmp_path)
    c = ClipTextEncoder.tiny_random(0, cache_dir=tmp_path, context_length=22)
    for encoder in (a, b, c):
        encoder(["walk"])
    assert len({p.name for p in tmp_path.iterdir()}) == 3
    # Same weights from a file: the same namespace (the digest is of the weights, not of their source).
    same = ClipTextEncoder(a.save_weights(tmp_path / "a.pt"), model_config=TINY_CONFIG, cache_dir=tmp_path)
    assert same.feature_cache().namespace == a.feature_cache().namespace


def test_cache_damaged_file_is_a_miss_and_rewritten(tmp_path) -> None:
    encoder = ClipTextEncoder.tiny_random(0, cache_dir=tmp_path, memory_cache_items=0)
    expected = encoder(["kick"])
    path = encoder.feature_cache().path("kick")
    path.write_bytes(path.read_bytes()[:100])
    calls = _counting(encoder)
    assert torch.equal(encoder(["kick"]).tokens, expected.tokens) and calls == [["kick"]]
    assert torch.equal(encoder(["kick"]).tokens, expected.tokens) and calls == [["kick"]]


def test_feature_cache_memory_lru_and_many_texts(tmp_path) -> None:
    computed: list[str] = []

    def compute(texts):
        computed.extend(texts)
        values = torch.tensor([float(len(t)) for t in texts])
        tokens = values[:, None, None].expand(-1, 4, 2).clone()
        return TextFeatures(tokens, torch.ones(len(texts), 4, dtype=torch.bool), tokens[:, 0])

    cache = TextFeatureCache(None, "toy", memory_items=2)
    out = cache.get_or_compute(["a", "bb", "a", "ccc"], compute, batch_size=2)
    assert computed == ["a", "bb", "ccc"] and out.pooled[:, 0].tolist() == [1, 2, 1, 3]
    cache.get_or_compute(["ccc", "dddd"], compute)  # "a" and "bb" fall out of the 2-item memory
    cache.get_or_compute(["a"], compute)
    assert computed == ["a", "bb", "ccc", "dddd", "a"]

    disk = TextFeatureCache(tmp_path, "toy", memory_items=0, description={"what": "toy"})
    disk.get_or_compute(["x", "yy"], compute)
    loaded = disk.load_many(["yy", "zzz", "x"])
    assert loaded[1] is None
    assert loaded[0].pooled.tolist() == [2.0, 2.0] and loaded[2].pooled.tolist() == [1.0, 1.0]
    assert (tmp_path / "toy" / "encoder.json").read_text().strip().startswith("{")


# --------------------------------------------------------------------------- learned: vocabulary
def test_split_words_lowercases_and_drops_punctuation() -> None:
    words = ["a", "person's", "left", "hand", "waves", "twice"]
    assert split_words("A person's LEFT-hand waves, twice!") == words
    assert split_words("  ") == []


def test_vocabulary_is_deterministic_and_ordered_by_frequency() -> None:
    texts = ["a man walks", "a man runs", "a woman walks", "the man jumps"]
    shuffled = texts[:]
    random.Random(0).shuffle(shuffled)
    vocab = build_vocabulary(texts)
    assert vocab == build_vocabulary(shuffled)
    assert vocab.words == ("a", "man", "walks", "jumps", "runs", "the", "woman")
    assert vocab.tokens[:3] == ("<pad>", "<unk>", "<cls>") and len(vocab) == 10
    assert build_vocabulary(texts, min_count=2).words == ("a", "man", "walks")
    assert build_vocabulary(texts, max_size=2).words == ("a", "man")
    assert Vocabulary.from_words(["<pad>", "<unk>", "<cls>", "a"]).words == ("a",)
    with pytest.raises(ValueError, match="repeats"):
        Vocabulary(("a", "a"))


def test_unknown_words_map_to_unk_and_long_texts_are_cut() -> None:
    vocab = build_vocabulary(["a man walks"])
    assert vocab.ids("A MAN swims", max_words=8) == [CLS, 3, 4, UNK]
    assert vocab.ids("a a a a a", max_words=3) == [CLS, 3, 3, 3]
    assert vocab.ids("", max_words=3) == [CLS]


# --------------------------------------------------------------------------- learned: encoder
def _learned(seed: int = 0, **overrides) -> LearnedTextEncoder:
    torch.manual_seed(seed)
    vocab = build_vocabulary(["a man walks forward", "a woman runs in a circle", "jump"])
    return LearnedTextEncoder(vocab, LearnedTextConfig(**{**SMALL, **overrides}))


def test_learned_padding_mask_and_shapes() -> None:
    encoder = _learned().eval()
    features = encoder(["a man walks", "", "a " * 20])
    assert features.tokens.shape == (3, 9, 32) and features.pooled.shape == (3, 32)
    assert features.mask.sum(dim=1).tolist() == [4, 1, 9]
    ids, mask = encoder.token_ids(["a man walks"])
    assert ids[0, :4].tolist() == [CLS, 3, 8, 10] and ids[0, 4:].eq(PAD).all()
    assert torch.equal(mask, features.mask[:1])
    assert features.tokens[~features.mask].abs().max() == 0  # padding zeroed
    # pooled = mean over the real tokens
    torch.testing.assert_close(features.pooled[0], features.tokens[0, :4].mean(dim=0))


def test_learned_padding_does_not_change_real_tokens() -> None:
    encoder = _learned().eval()
    alone = encoder(["a man walks"])
    batched = encoder(["a woman runs in a circle forward jump", "a man walks"])
    torch.testing.assert_close(batched.tokens[1], alone.tokens[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(batched.pooled[1], alone.pooled[0], rtol=0, atol=1e-6)
    ids, mask = encoder.token_ids(["a man walks"])
    garbage = torch.where(mask, ids, torch.randint(0, len(encoder.vocabulary), ids.shape))
    with torch.no_grad():
        other = encoder.encode_ids(garbage, mask)
    torch.testing.assert_close(other.tokens, alone.tokens, rtol=0, atol=1e-6)


def test_learned_gradients_reach_every_parameter() -> None:
    encoder = _learned().train()
    assert encoder.trainable is True
    features = encoder(["a man walks forward", "jump unknownword"])
    (features.tokens.square().sum() + features.pooled.sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert encoder.word_embedding.weight.grad[PAD].abs().sum() == 0  # padding never trains


def test_learned_golden_values_on_seed() -> None:
    features = _learned(seed=0).eval()(["a man walks forward"])
    assert features.pooled[0, :3].tolist() == pytest.approx(GOLDEN_LEARNED, abs=1e-5)


GOLDEN_LEARNED = [0.642437, -1.429027, 0.383045]


def test_learned_state_dict_round_trip_rebuilds_the_vocabulary(tmp_path) -> None:
    original = _learned(seed=4).eval()
    path = tmp_path / "encoder.pt"
    torch.save(original.state_dict(), path)
    state = torch.load(path, weights_only=True)
    assert state["_extra_state"]["words"] == list(original.vocabulary.words)
    rebuilt = LearnedTextEncoder.from_state_dict(state).eval()
    assert rebuilt.vocabulary == original.vocabulary and rebuilt.config == original.config
    texts = ["a woman walks in a circle", "jump swim"]
    assert torch.equal(rebuilt(texts).tokens, original(texts).tokens)

    # Inside a model built without the vocabulary (generation from a run directory): load resizes.
    parent = nn.Module()
    parent.text = LearnedTextEncoder(None, LearnedTextConfig(**SMALL))
    parent.head = nn.Linear(2, 2)
    source = nn.Module()
    source.text, source.head = original, nn.Linear(2, 2)
    parent.load_state_dict(source.state_dict())
    assert parent.text.vocabulary == original.vocabulary
    assert torch.equal(parent.text.eval()(texts).pooled, original(texts).pooled)
    nested = LearnedTextEncoder.from_state_dict(source.state_dict(), prefix="text.")
    assert nested.vocabulary == original.vocabulary


def test_learned_checkpoint_of_another_shape_is_a_clear_error() -> None:
    state = _learned(dim=32).state_dict()
    other = LearnedTextEncoder(None, LearnedTextConfig(**{**SMALL, "dim": 16, "max_words": 4}))
    with pytest.raises(MogenBenchError, match=r"dim 32 \(this encoder: 16\), max_words 8"):
        other.load_state_dict(state)
    state["_extra_state"] = {"words": "not a list"}
    with pytest.raises(MogenBenchError, match="not readable"):
        LearnedTextEncoder.from_state_dict(state)


# --------------------------------------------------------------------------- registry
def test_build_text_encoder_by_name() -> None:
    learned = build_text_encoder("learned", texts=["a man walks", "a man runs"], **SMALL)
    assert isinstance(learned, LearnedTextEncoder)
    assert learned.vocabulary.words == ("a", "man", "runs", "walks")
    assert (learned.name, learned.dim, learned.max_tokens) == ("learned", 32, 9)
    listed = build_text_encoder("learned", vocabulary=["man", "a"], dim=32, heads=2)
    assert listed.vocabulary.words == ("man", "a") and listed.config.layers == 2
    clip = build_text_encoder("clip", model_config=TINY_CONFIG, random_seed=0, context_length=22)
    assert isinstance(clip, ClipTextEncoder) and clip.max_tokens == 22


def test_build_text_encoder_errors_list_known_names_and_options() -> None:
    with pytest.raises(MogenBenchError, match="known text encoders: clip, learned"):
        build_text_encoder("bert")
    with pytest.raises(MogenBenchError, match=r"no option 'layer'.*did you mean 'layers'"):
        build_text_encoder("learned", layer=3)
    with pytest.raises(MogenBenchError, match=r"no option 'weight'.*did you mean 'weights'"):
        build_text_encoder("clip", weight="x.pt")


def test_texts_must_be_a_list() -> None:
    encoder = _learned()
    with pytest.raises(TypeError, match="not one string"):
        encoder("a man walks")
    with pytest.raises(ValueError, match="no texts"):
        encoder([])
    assert np.isfinite(encoder(["x"]).pooled.detach().numpy()).all()
