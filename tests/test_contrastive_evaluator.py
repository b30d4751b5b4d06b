"""The contrastive evaluator: training, encoding, hash, loading; the T2M evaluator behind its interface."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from annotation.parts import PARTS, TEXT_FIELDS
from mogen_bench.data.torch_dataset import MotionDataConfig, MotionDataset, collate_motions
from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluators.adapters import T2MEmbeddingEvaluator
from mogen_bench.evaluators.contrastive import (
    ContrastiveConfig,
    ContrastiveEvaluator,
    dominant_stage_part_texts,
    symmetric_info_nce,
)
from mogen_bench.evaluators.glove import WordVectorizer
from mogen_bench.evaluators.interface import EmbeddingEvaluator
from mogen_bench.evaluators.loading import load_evaluator
from mogen_bench.evaluators.t2m import T2MEvaluator
from mogen_bench.models.base import ModelContext
from mogen_bench.motion.part_slices import part_slices
from mogen_bench.text import build_vocabulary
from mogen_bench.training.loop import TrainRequest, train
from mogen_bench.training.metrics_log import read_metrics
from tests.test_t2m_evaluator import handwritten_checkpoint, write_glove

#: A very small evaluator: every piece of the real one, a few thousand parameters.
TINY = [
    "model.embed_dim=32",
    "model.latent_dim=32",
    "model.layers=1",
    "model.heads=2",
    "model.ff_dim=64",
    "model.part_latent_dim=16",
    "model.part_layers=1",
    "model.part_heads=2",
    "model.part_ff_dim=32",
    "model.learned_dim=32",
    "model.learned_layers=1",
    "model.learned_heads=2",
    "train.batch_size=8",
    "train.lr=2e-3",
    "train.log_every=5",
    "train.checkpoint_every=1000",
    "data.max_frames=40",
    'data.feature_cache=""',
]
STEPS = 30


@pytest.fixture(scope="module")
def evaluator_run(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("contrastive") / "run"
    overrides = [*TINY, f"train.max_steps={STEPS}"]
    train(TrainRequest(model="evaluator", dataset=tiny_dataset, out=out, overrides=overrides, progress=False))
    return out


@pytest.fixture(scope="module")
def evaluator(evaluator_run) -> ContrastiveEvaluator:
    return load_evaluator(evaluator_run)


def _split(tiny_dataset, normalise: bool) -> dict:
    """The whole training split as one batch: first 40 frames, first caption, no randomness."""
    config = MotionDataConfig(
        max_frames=40, normalise=normalise, random_crop=False, random_caption=False, feature_cache=""
    )
    dataset = MotionDataset(tiny_dataset, "train", config)
    return collate_motions(dataset.__getitems__(list(range(len(dataset)))))


# --------------------------------------------------------------------------- training
def test_training_lowers_the_loss_and_ranks_matching_texts_first(evaluator_run, evaluator, tiny_dataset):
    records = read_metrics(evaluator_run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(5, STEPS + 1, 5))
    assert records[-1]["loss"] < 0.5 * records[0]["loss"]
    # No part text varies within a batch of this dataset, so every part pair is masked: the part loss is 0.
    assert all(r["loss_parts"] == 0.0 and r["loss"] == r["loss_global"] for r in records)

    batch = _split(tiny_dataset, normalise=False)
    motions = evaluator.encode_motions(batch["features"], batch["lengths"])
    texts = sorted(set(batch["captions"]))
    own = torch.tensor([texts.index(c) for c in batch["captions"]])
    similarity = motions @ evaluator.encode_texts(texts, [None] * len(texts)).T  # (24 motions, 6 texts)
    matching = similarity.gather(1, own[:, None]).squeeze(1)
    rank = (similarity > matching[:, None]).sum(1)
    assert len(texts) == 6
    # Chance: 1/6 at top-1; the cosine to the own text well above the mean cosine to the others.
    assert (rank == 0).float().mean() >= 0.75
    assert (matching - (similarity.sum(1) - matching) / 5).mean() > 0.3


def test_the_run_folder_is_an_evaluator_run(evaluator_run, evaluator, tiny_dataset):
    config = json.loads((evaluator_run / "config.json").read_text())
    assert config["model"] == "evaluator" and config["config"]["model"]["temperature"] == 0.1
    assert isinstance(evaluator, ContrastiveEvaluator) and isinstance(evaluator, EmbeddingEvaluator)
    assert evaluator.name == "contrastive" and ContrastiveEvaluator.name == "evaluator"
    assert evaluator.representation == "humanml3d-263" and evaluator.parts == PARTS
    assert evaluator.checkpoint_path.endswith(f"step-{STEPS:08d}.pt") and evaluator.step == STEPS
    # Frozen: eval mode that train() cannot undo, no gradients.
    assert not evaluator.training and not any(p.requires_grad for p in evaluator.parameters())
    evaluator.train()
    assert not evaluator.training and not evaluator.text_encoder.training
    # The statistics are the run's (= the dataset's) normalisation.
    np.testing.assert_array_equal(evaluator.feature_mean.numpy(), np.float32(config["normalisation"]["mean"]))
    np.testing.assert_array_equal(evaluator.feature_std.numpy(), np.float32(config["normalisation"]["std"]))
    with pytest.raises(MogenBenchError, match="does not generate"):
        evaluator.generate(["a person walks"], [20])


# --------------------------------------------------------------------------- encoding
def test_dataset_space_features_are_normalised_with_the_run_statistics(evaluator, tiny_dataset):
    raw, model_space = _split(tiny_dataset, normalise=False), _split(tiny_dataset, normalise=True)
    lengths, mask = raw["lengths"], raw["mask"]
    ours = evaluator.encode_motions(raw["features"], lengths)
    with torch.no_grad():
        expected = evaluator._motion_embeddings(model_space["features"], mask)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    # Model-space features passed as if they were dataset-space ones give other embeddings.
    wrong = evaluator.encode_motions(model_space["features"], lengths)
    assert (wrong - ours).norm(dim=1).min() > 0.05
    # Whatever lies past each motion's end is ignored, even NaN.
    padded = raw["features"].clone()
    padded[~mask] = math.nan
    torch.testing.assert_close(evaluator.encode_motions(padded, lengths), ours, atol=0, rtol=0)
    # numpy input is accepted
    torch.testing.assert_close(evaluator.encode_motions(raw["features"].numpy(), lengths.numpy()), ours)


def test_embeddings_are_deterministic_unit_vectors_independent_of_the_batch(evaluator, tiny_dataset):
    raw = _split(tiny_dataset, normalise=False)
    features, lengths = raw["features"], raw["lengths"]
    first = evaluator.encode_motions(features, lengths)
    assert first.shape == (24, 32) and torch.equal(first, evaluator.encode_motions(features, lengths))
    torch.testing.assert_close(first.norm(dim=1), torch.ones(24))
    for i in (0, 5, 17):  # alone, unpadded
        alone = evaluator.encode_motions(features[i : i + 1, : lengths[i]], lengths[i : i + 1])
        torch.testing.assert_close(alone[0], first[i], atol=1e-5, rtol=0)
    reordered = evaluator.encode_motions(features.flip(0), lengths.flip(0))
    torch.testing.assert_close(reordered, first.flip(0), atol=1e-5, rtol=0)

    texts = ["a person walks", "someone waves slowly", "a person walks", "then jumps"]
    encoded = evaluator.encode_texts(texts, [None] * 4)
    assert encoded.shape == (4, 32) and torch.equal(encoded[0], encoded[2])
    torch.testing.assert_close(evaluator.encode_texts(texts[1:2], [None])[0], encoded[1], atol=1e-5, rtol=0)
    assert evaluator.encode_motions(features[:0], lengths[:0]).shape == (0, 32)


def test_part_embeddings(evaluator, tiny_dataset):
    raw = _split(tiny_dataset, normalise=False)
    parts = evaluator.encode_part_motions(raw["features"][:5], raw["lengths"][:5])
    assert list(parts) == list(PARTS)
    for embedding in parts.values():
        assert embedding.shape == (5, 32)
        torch.testing.assert_close(embedding.norm(dim=1), torch.ones(5))
    assert not torch.allclose(parts["head"], parts["left_leg"])
    texts = evaluator.encode_part_texts({"left_arm": ["the left arm swings", "waves"], "head": ["nods"]})
    assert list(texts) == ["left_arm", "head"]
    assert texts["left_arm"].shape == (2, 32) and texts["head"].shape == (1, 32)
    # The part-text projection is not the global one.
    assert not torch.allclose(texts["head"], evaluator.encode_texts(["nods"], [None]))
    with pytest.raises(MogenBenchError, match="no part head"):
        evaluator.encode_part_texts({"tail": ["wags"]})
    with pytest.raises(MogenBenchError, match="not strings"):
        evaluator.encode_part_texts({"head": ["nods", None]})


def test_bad_motion_input(evaluator, tiny_dataset):
    raw = _split(tiny_dataset, normalise=False)
    features, lengths = raw["features"][:4], raw["lengths"][:4]
    with pytest.raises(MogenBenchError, match=r"\(B, T, 263\)"):
        evaluator.encode_motions(features[..., :251], lengths)
    with pytest.raises(MogenBenchError, match="lengths must lie"):
        evaluator.encode_motions(features, lengths * 0)
    with pytest.raises(MogenBenchError, match="integers"):
        evaluator.encode_motions(features, lengths.float())
    # NaN in a motion gives that motion a NaN embedding, and only that one (the protocol names it).
    broken = features.clone()
    broken[2, 0, 7] = math.nan
    clean, out = evaluator.encode_motions(features, lengths), evaluator.encode_motions(broken, lengths)
    assert out[2].isnan().all() and torch.isfinite(out[[0, 1, 3]]).all()
    torch.testing.assert_close(out[[0, 1, 3]], clean[[0, 1, 3]], atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- identity
def test_hash_is_stable_across_loads_and_follows_weights_and_statistics(evaluator_run, evaluator):
    digest = evaluator.hash()
    assert len(digest) == 64 and int(digest, 16) >= 0
    again = load_evaluator(evaluator_run)
    assert again.hash() == digest
    checkpoint = sorted((evaluator_run / "checkpoints").iterdir())[-1]
    assert load_evaluator(checkpoint).hash() == digest  # the checkpoint file names the same evaluator
    with torch.no_grad():
        again.motion_encoder.output.bias[0] += 1e-6
    assert again.hash() != digest
    other = load_evaluator(evaluator_run)
    other.set_statistics(other.feature_mean.numpy(), other.feature_std.numpy() * 1.001)
    assert other.hash() != digest


# --------------------------------------------------------------------------- the loss
def _unit(*shape: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_info_nce_is_the_symmetric_cross_entropy():
    motion, text = _unit(5, 8, seed=0), _unit(5, 8, seed=1)
    logits = motion @ text.T / 0.1
    target = torch.arange(5)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    ids, valid = torch.arange(5), torch.ones(5, dtype=torch.bool)
    torch.testing.assert_close(symmetric_info_nce(motion, text, ids, valid, 0.1), expected)


def test_info_nce_drops_identical_texts_and_invalid_samples_from_the_negatives():
    motion, text = _unit(5, 8, seed=2), _unit(5, 8, seed=3)
    logits = (motion @ text.T / 0.1).double()
    ids = torch.tensor([0, 1, 1, 2, 3])  # samples 1 and 2 have the same text
    valid = torch.tensor([True, True, True, False, True])  # sample 3 has no text
    total = 0.0
    for i in (0, 1, 2, 4):
        keep = [j for j in range(5) if j == i or (valid[j] and ids[j] != ids[i])]
        to_text = torch.logsumexp(logits[i, keep], 0) - logits[i, i]
        to_motion = torch.logsumexp(logits[keep, i], 0) - logits[i, i]
        total += float(to_text + to_motion) / 2
    got = symmetric_info_nce(motion, text, ids, valid, 0.1)
    assert float(got) == pytest.approx(total / 4, rel=1e-6)
    # An invalid sample changes nothing: the same as leaving it out of the batch.
    rows = torch.tensor([0, 1, 2, 4])
    subset = symmetric_info_nce(motion[rows], text[rows], ids[rows], valid[rows], 0.1)
    torch.testing.assert_close(got, subset)
    # Leading dims are independent problems; with no valid sample the loss is 0.
    batched = symmetric_info_nce(
        torch.stack([motion, motion]), torch.stack([text, text]), torch.stack([ids, ids]),
        torch.stack([valid, torch.zeros(5, dtype=torch.bool)]), 0.1,
    )  # fmt: skip
    torch.testing.assert_close(batched, torch.stack([got, torch.zeros(())]))


def _item(index: int, features: torch.Tensor, stages: list[dict], caption: str) -> dict:
    stages = [{**dict.fromkeys(TEXT_FIELDS), "tokens": None, **stage} for stage in stages]
    length = features.shape[0]
    return {
        "index": index, "motion_id": f"s{index}", "features": features, "length": length, "crop_start": 0,
        "num_frames": length, "caption": caption, "tokens": None, "stages": stages,
    }  # fmt: skip


def test_a_crops_part_text_is_that_of_its_longest_stage():
    frames = torch.zeros(10, 263)
    items = [
        _item(0, frames, [{"start_frame": 0, "end_frame": 3, "head": "nods"},
                          {"start_frame": 3, "end_frame": 10, "head": "shakes", "left_arm": " "}], "a"),
        _item(1, frames[:6], [{"start_frame": 0, "end_frame": 3, "head": "tilts", "left_arm": "waves"},
                              {"start_frame": 3, "end_frame": 6, "head": "turns"}], "b"),
        _item(2, frames[:4], [{"start_frame": 0, "end_frame": 4}], "c"),
    ]  # fmt: skip
    texts = dominant_stage_part_texts(collate_motions(items), ("head", "left_arm"))
    # Item 1's stages tie (3 frames each): the first wins. Blank and missing texts are None.
    assert texts == {"head": ["shakes", "tilts", None], "left_arm": [None, "waves", None]}


def _small_model(batch: dict, frames: int, **config) -> ContrastiveEvaluator:
    """A small evaluator for humanml3d-263 whose vocabulary holds the batch's texts."""
    slices = {part: list(dims) for part, dims in part_slices("humanml3d-263").items() if part in PARTS}
    texts = [t for item in batch["part_texts"] for values in item.values() for t in values if t]
    context = ModelContext("humanml3d-263", 263, 20.0, frames, slices, list(build_vocabulary(texts).words))
    sizes = dict(
        embed_dim=32, latent_dim=32, layers=1, heads=2, ff_dim=64, dropout=0.0, part_latent_dim=32,
        part_layers=1, part_heads=2, part_ff_dim=64, learned_dim=32, learned_layers=1, learned_heads=2,
    )  # fmt: skip
    torch.manual_seed(0)
    return ContrastiveEvaluator(ContrastiveConfig(**{**sizes, **config}), context)


def test_the_loss_is_global_plus_the_mean_over_parts_with_texts():
    gen = torch.Generator().manual_seed(1)
    head = ["nods", "shakes", None, "nods"]
    left_arm = ["waves", "waves", "rests", None]
    captions = ["a walk", "a run", "", "a walk"]  # the third motion has no text: no pair
    stages = [
        {"start_frame": 0, "end_frame": 8, "overall": captions[i], "head": head[i], "left_arm": left_arm[i]}
        for i in range(4)
    ]
    items = [_item(i, torch.randn(8, 263, generator=gen), [stages[i]], captions[i]) for i in range(4)]
    batch = collate_motions(items)
    model = _small_model(batch, 8, part_weight=0.5).eval()  # eval: no dropout, the same numbers twice
    losses = model.training_losses(batch, torch.Generator())
    with torch.no_grad():
        mask = batch["mask"]
        motion = model._motion_embeddings(batch["features"], mask)
        text = model._project(model.text_projection, model._text_features(captions))
        expected_global = symmetric_info_nce(
            motion, text, torch.tensor([0, 1, 2, 0]), torch.tensor([True, True, False, True]), 0.1
        )
        parts = model._part_motion_embeddings(batch["features"], mask)
        expected_parts = []
        for part, texts in (("head", head), ("left_arm", left_arm)):
            valid = torch.tensor([t is not None for t in texts])
            filled = [t or "placeholder" for t in texts]  # rows without a text never count
            ids = torch.tensor([filled.index(t) for t in filled])
            part_text = model._project(model.part_text_projection, model._text_features(filled))
            slot = model.parts.index(part)
            expected_parts.append(symmetric_info_nce(parts[:, slot], part_text, ids, valid, 0.1))
    expected_parts = sum(expected_parts) / 2  # the five parts without texts do not count
    torch.testing.assert_close(losses["loss_global"], expected_global, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(losses["loss_parts"], expected_parts, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(losses["loss"], expected_global + 0.5 * expected_parts, atol=1e-6, rtol=1e-6)
    assert losses["loss_parts"].item() > 0


def test_part_heads_learn_part_texts():
    """On data where each part moves in one of three ways and its text says which, the part heads learn it."""
    slices = {part: list(dims) for part, dims in part_slices("humanml3d-263").items() if part in PARTS}
    ways = ["raises", "shakes", "holds"]
    gen = torch.Generator().manual_seed(0)
    patterns = {part: torch.randn(3, len(dims), generator=gen) for part, dims in slices.items()}
    count, frames = 12, 12
    classes = torch.randint(0, 3, (count, len(PARTS)), generator=gen)
    wave = torch.sin(torch.arange(frames) / 3.0)[:, None]
    items = []
    for i in range(count):
        features = torch.randn(frames, 263, generator=gen) * 0.1
        texts = {}
        for slot, part in enumerate(PARTS):
            features[:, slices[part]] += patterns[part][classes[i, slot]] * wave
            texts[part] = f"the {part} {ways[classes[i, slot]]}"
        if i < 3:
            texts["head"] = None  # missing texts are masked, never trained on
        stage = {"start_frame": 0, "end_frame": frames, "overall": f"motion {i % 4}", **texts}
        items.append(_item(i, features, [stage], f"motion {i % 4}"))
    batch = collate_motions(items)
    model = _small_model(batch, frames)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator()
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        out = model.training_losses(batch, generator)
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss_parts"].detach()))
    assert losses[-1] < 0.5 * losses[0]
    model.freeze()
    motions = model.encode_part_motions(batch["features"], batch["lengths"])
    prompts = model.encode_part_texts({part: [f"the {part} {way}" for way in ways] for part in PARTS})
    accuracy = torch.stack(
        [((motions[p] @ prompts[p].T).argmax(1) == classes[:, s]).float() for s, p in enumerate(PARTS)]
    ).mean()
    assert accuracy >= 0.8  # chance: 1/3


# --------------------------------------------------------------------------- the T2M evaluator adapter
@pytest.fixture(scope="module")
def t2m_root(tmp_path_factory) -> Path:
    """The official layout: ROOT/checkpoints/t2m/{text_mot_match/model/finest.tar, Comp_v6_KLD01/meta} and
    ROOT/glove, random weights and statistics."""
    root = tmp_path_factory.mktemp("t2m_release")
    model_dir = root / "checkpoints" / "t2m" / "text_mot_match" / "model"
    meta_dir = root / "checkpoints" / "t2m" / "Comp_v6_KLD01" / "meta"
    model_dir.mkdir(parents=True)
    meta_dir.mkdir(parents=True)
    torch.save(handwritten_checkpoint(seed=4), model_dir / "finest.tar")
    rng = np.random.default_rng(5)
    np.save(meta_dir / "mean.npy", rng.normal(size=263))
    np.save(meta_dir / "std.npy", rng.uniform(0.1, 1.0, size=263))
    write_glove(root / "glove")
    return root


@pytest.fixture(scope="module")
def t2m(t2m_root) -> T2MEmbeddingEvaluator:
    return load_evaluator(t2m_root / "checkpoints")


SENTENCES = [
    ["a/DET", "man/NOUN", "walk/VERB", "forward/ADV"],
    ["the/DET", "man/NOUN", "arm/NOUN"],
    ["a/DET", "man/NOUN", "walk/VERB", "slowly/ADV", "in/ADP", "a/DET", "circle/NOUN"],
]


def test_t2m_adapter_gives_the_evaluators_own_embeddings(t2m_root, t2m):
    assert isinstance(t2m, EmbeddingEvaluator)
    assert t2m.name == "t2m" and t2m.representation == "humanml3d-263" and t2m.parts == ()
    direct = T2MEvaluator.from_checkpoint(t2m_root / "checkpoints")
    gen = torch.Generator().manual_seed(6)
    features = torch.randn(4, 48, 263, generator=gen) * 2.0 + 1.0
    lengths = torch.tensor([48, 20, 33, 40])
    # Normalised with the evaluator's statistics, zero past each end, then the official encoders.
    mean, std = direct.eval_mean.numpy(), direct.eval_std.numpy()
    normalised = torch.from_numpy(((features.double().numpy() - mean) / std).astype(np.float32))
    normalised[torch.arange(48)[None, :] >= lengths[:, None]] = 0.0
    expected = direct.encode_motion(normalised, lengths)
    got = t2m.encode_motions(features, lengths)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(t2m.encode_motions(features.flip(0), lengths.flip(0)), got.flip(0))

    vectorizer = WordVectorizer.from_dir(t2m_root / "glove")
    texts = [" ".join(t.split("/")[0] for t in s) for s in SENTENCES]
    expected = direct.encode_text(*vectorizer.encode_batch(SENTENCES))
    got = t2m.encode_texts(texts, SENTENCES)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)
    torch.testing.assert_close(t2m.encode_texts(texts[::-1], SENTENCES[::-1]), got.flip(0))
    # tokens as HumanML3D's space-separated string
    torch.testing.assert_close(t2m.encode_texts(texts, [" ".join(s) for s in SENTENCES]), got)


def test_t2m_adapter_hash_covers_weights_statistics_and_glove(t2m_root, t2m, tmp_path):
    digest = t2m.hash()
    assert len(digest) == 64 and digest != t2m.evaluator.hash
    checkpoint = t2m_root / "checkpoints" / "t2m" / "text_mot_match" / "model" / "finest.tar"
    assert load_evaluator(checkpoint).hash() == digest  # the file itself, statistics and GloVe found
    write_glove(tmp_path / "glove", seed=1)  # other word vectors
    assert load_evaluator(t2m_root / "checkpoints", glove_dir=tmp_path / "glove").hash() != digest


def test_t2m_adapter_refuses_what_it_cannot_read(t2m):
    with pytest.raises(MogenBenchError, match=r"texts \[1\] have no word/POS tokens"):
        t2m.encode_texts(["a man walks", "someone waves"], [SENTENCES[0], None])
    with pytest.raises(MogenBenchError, match="no body-part heads"):
        t2m.encode_part_motions(torch.zeros(1, 8, 263), torch.tensor([8]))
    with pytest.raises(MogenBenchError, match=r"\(B, T, 263\)"):
        t2m.encode_motions(torch.zeros(1, 8, 251), torch.tensor([8]))


# --------------------------------------------------------------------------- loading errors
def test_loading_errors_name_the_problem(t2m_root, tiny_run, tmp_path):
    with pytest.raises(MogenBenchError, match="no such file"):
        load_evaluator(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MogenBenchError, match=r"neither a run's config\.json nor the T2M"):
        load_evaluator(tmp_path / "empty")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(MogenBenchError, match="not an evaluator"):
        load_evaluator(tmp_path / "other.pt")
    with pytest.raises(MogenBenchError, match="holds a 'mdm' model, not an evaluator"):
        load_evaluator(tiny_run)
    # The T2M evaluator without its GloVe folder.
    checkpoint = t2m_root / "checkpoints" / "t2m" / "text_mot_match" / "model" / "finest.tar"
    alone = tmp_path / "alone" / "checkpoints" / "t2m" / "text_mot_match" / "model"
    alone.mkdir(parents=True)
    (alone / "finest.tar").symlink_to(checkpoint)
    meta = t2m_root / "checkpoints" / "t2m" / "Comp_v6_KLD01" / "meta"
    with pytest.raises(MogenBenchError, match="GloVe word vectors"):
        load_evaluator(alone / "finest.tar", meta_dir=meta)
    with pytest.raises(MogenBenchError, match="statistics"):
        load_evaluator(alone / "finest.tar", glove_dir=t2m_root / "glove")
    assert load_evaluator(alone / "finest.tar", meta_dir=meta, glove_dir=t2m_root / "glove").hash()
    # A checkpoint that does not fit the architecture: the keys are named.
    state = handwritten_checkpoint(seed=4)
    del state["text_encoder"]["pos_emb.bias"]
    state["motion_encoder"]["output_net.3.weight"] = torch.zeros(512, 7)
    broken = tmp_path / "broken" / "checkpoints" / "t2m" / "text_mot_match" / "model"
    broken.mkdir(parents=True)
    torch.save(state, broken / "finest.tar")
    with pytest.raises(MogenBenchError, match=r"pos_emb\.bias.*output_net\.3\.weight \[512, 7\]"):
        load_evaluator(broken / "finest.tar", meta_dir=meta, glove_dir=t2m_root / "glove")
    # A dataset the evaluator does not read.
    smpl = SimpleNamespace(name="babel", representation="smpl-rot6d-135")
    with pytest.raises(MogenBenchError, match="reads humanml3d-263 or kit-251 features"):
        load_evaluator(t2m_root / "checkpoints", dataset_info=smpl)
    kit = SimpleNamespace(name="kit", representation="kit-251")
    with pytest.raises(MogenBenchError, match="this is the 't2m' T2M evaluator"):
        load_evaluator(checkpoint, dataset_info=kit)
    hml3d = SimpleNamespace(name="hml3d", representation="humanml3d-263")
    assert load_evaluator(t2m_root / "checkpoints", dataset_info=hml3d).representation == "humanml3d-263"
