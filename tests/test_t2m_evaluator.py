"""The T2M evaluator (Guo et al. 2022): official checkpoint layout, safe loading, GloVe input, normalisation.

The state-dict names and shapes below are written out by hand from eval_protocol.md §3.2 (and the sizes the
official ``EvaluatorModelWrapper`` hard-codes, §3.1), so they check the module classes independently.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluators.glove import POS_ENUMERATOR, VIP_LISTS, WordVectorizer, pad_tokens, pos_onehot
from mogen_bench.evaluators.safe_pickle import safe_load, safe_loads
from mogen_bench.evaluators.t2m import (
    T2MEvaluator,
    load_evaluator_stats,
    read_checkpoint,
    renormalise,
)
from tests.conftest import shared_sample_dir


def _gru(prefix: str, size: int) -> dict[str, list[int]]:
    shapes = {}
    for suffix in ("", "_reverse"):
        shapes |= {
            f"{prefix}.weight_ih_l0{suffix}": [3 * size, size],
            f"{prefix}.weight_hh_l0{suffix}": [3 * size, size],
            f"{prefix}.bias_ih_l0{suffix}": [3 * size],
            f"{prefix}.bias_hh_l0{suffix}": [3 * size],
        }
    return shapes


def official_shapes(dim_pose: int = 263) -> dict[str, dict[str, list[int]]]:
    """``finest.tar``'s three state dicts: key -> shape, from eval_protocol.md §3.2."""
    return {
        "text_encoder": {
            "hidden": [2, 1, 512],
            "pos_emb.weight": [300, 15],
            "pos_emb.bias": [300],
            "input_emb.weight": [512, 300],
            "input_emb.bias": [512],
            **_gru("gru", 512),
            "output_net.0.weight": [512, 1024],
            "output_net.0.bias": [512],
            "output_net.1.weight": [512],
            "output_net.1.bias": [512],
            "output_net.3.weight": [512, 512],
            "output_net.3.bias": [512],
        },
        "movement_encoder": {
            "main.0.weight": [512, dim_pose - 4, 4],
            "main.0.bias": [512],
            "main.3.weight": [512, 512, 4],
            "main.3.bias": [512],
            "out_net.weight": [512, 512],
            "out_net.bias": [512],
        },
        "motion_encoder": {
            "hidden": [2, 1, 1024],
            "input_emb.weight": [1024, 512],
            "input_emb.bias": [1024],
            **_gru("gru", 1024),
            "output_net.0.weight": [1024, 2048],
            "output_net.0.bias": [1024],
            "output_net.1.weight": [1024],
            "output_net.1.bias": [1024],
            "output_net.3.weight": [512, 1024],
            "output_net.3.bias": [512],
        },
    }


def _adam_state(n_params: int) -> dict:
    # The shape of an Adam ``state_dict()`` as ``finest.tar`` stores it (tiny tensors: never loaded here).
    return {
        "state": {
            i: {"step": torch.tensor(7.0), "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)}
            for i in range(n_params)
        },
        "param_groups": [
            {
                "lr": 1e-4,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "params": list(range(n_params)),
            }
        ],
    }


def handwritten_checkpoint(seed: int = 0, dim_pose: int = 263) -> dict:
    """A checkpoint in the official layout built from the hand-written key list, not from our classes."""
    gen = torch.Generator().manual_seed(seed)
    checkpoint: dict = {}
    for module, shapes in official_shapes(dim_pose).items():
        state = {}
        for key, shape in shapes.items():
            scale = 1.0 if key == "hidden" else (2.0 / sum(shape[:2])) ** 0.5 if len(shape) > 1 else 0.05
            state[key] = torch.randn(shape, generator=gen) * scale
        for key in [k for k in state if k.startswith("output_net.1.weight")]:
            state[key] = 1.0 + state[key]  # LayerNorm gain around 1
        checkpoint[module] = state
    checkpoint["opt_text_encoder"] = _adam_state(len(checkpoint["text_encoder"]))
    checkpoint["opt_motion_encoder"] = _adam_state(len(checkpoint["motion_encoder"]))
    checkpoint["epoch"] = 28
    checkpoint["iter"] = 1234
    return checkpoint


def _stats(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=dim), rng.uniform(0.05, 1.0, size=dim)


@pytest.fixture(scope="module")
def official_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``checkpoints/t2m/text_mot_match/model/finest.tar`` + ``checkpoints/t2m/Comp_v6_KLD01/meta``."""
    root = tmp_path_factory.mktemp("evaluator") / "checkpoints"
    model_dir = root / "t2m" / "text_mot_match" / "model"
    meta_dir = root / "t2m" / "Comp_v6_KLD01" / "meta"
    model_dir.mkdir(parents=True)
    meta_dir.mkdir(parents=True)
    checkpoint = handwritten_checkpoint()
    torch.save(checkpoint, model_dir / "finest.tar")
    mean, std = _stats(263, seed=1)
    np.save(meta_dir / "mean.npy", mean)
    np.save(meta_dir / "std.npy", std)
    return root, checkpoint


@pytest.fixture(scope="module")
def evaluator(official_tree: tuple[Path, dict]) -> T2MEvaluator:
    return T2MEvaluator.from_checkpoint(official_tree[0])


def _text_batch(batch: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    word_embs = torch.randn(batch, 22, 300, generator=gen) * 0.4
    pos = F.one_hot(torch.randint(0, 15, (batch, 22), generator=gen), 15).float()
    sent_lens = torch.randint(3, 23, (batch,), generator=gen)
    sent_lens[0] = 22
    return word_embs, pos, sent_lens


def _motion_batch(batch: int = 5, seed: int = 0, frames: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    # Officially padded to 196 frames; shorter here because the 1024-wide GRU is slow on a CPU.
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(24, frames + 1, (batch,), generator=gen)
    lengths[0] = frames
    features = torch.randn(batch, frames, 263, generator=gen)
    for i, n in enumerate(lengths.tolist()):
        features[i, n:] = 0.0  # the official GT loader zero-pads in normalised space
    return features, lengths


# -- state-dict layout --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dataset", "dim_pose"), [("t2m", 263), ("kit", 251)])
def test_state_dict_names_and_shapes_are_the_official_ones(dataset: str, dim_pose: int) -> None:
    ev = T2MEvaluator(dataset)
    for module, shapes in official_shapes(dim_pose).items():
        ours = {k: list(v.shape) for k, v in getattr(ev, module).state_dict().items()}
        assert ours == shapes, module


def test_handwritten_official_layout_loads_strictly(
    official_tree: tuple[Path, dict], evaluator: T2MEvaluator
) -> None:
    root, checkpoint = official_tree
    # found from the root of the official tree, statistics from Comp_v6_KLD01/meta beside it
    assert evaluator.checkpoint_path == str(root / "t2m" / "text_mot_match" / "model" / "finest.tar")
    assert evaluator.checkpoint_info == {"epoch": 28, "iter": 1234}
    for module in T2MEvaluator.CHECKPOINT_KEYS:
        ours = getattr(evaluator, module).state_dict()
        for key, tensor in checkpoint[module].items():
            assert torch.equal(ours[key], tensor), f"{module}.{key}"
    mean, std = _stats(263, seed=1)
    np.testing.assert_array_equal(evaluator.eval_mean.numpy(), mean)
    np.testing.assert_array_equal(evaluator.eval_std.numpy(), std)
    # the same file, given by path or by the folder that holds it
    direct = T2MEvaluator.from_checkpoint(
        root / "t2m" / "text_mot_match" / "model", meta_dir=root / "t2m" / "Comp_v6_KLD01" / "meta"
    )
    assert direct.hash == evaluator.hash


def test_checkpoint_saved_from_our_modules_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(3)
    mean, std = _stats(263, seed=2)
    original = T2MEvaluator("t2m", mean, std)
    checkpoint = {key: getattr(original, key).state_dict() for key in T2MEvaluator.CHECKPOINT_KEYS}
    opt = torch.optim.Adam(original.text_encoder.parameters(), lr=1e-4)
    for p in original.text_encoder.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # a real optimiser state, as finest.tar carries one
    checkpoint |= {"opt_text_encoder": opt.state_dict(), "epoch": 0, "iter": 0}
    torch.save(checkpoint, tmp_path / "finest.tar")
    (tmp_path / "meta").mkdir()
    np.save(tmp_path / "meta" / "mean.npy", mean)
    np.save(tmp_path / "meta" / "std.npy", std)

    loaded = T2MEvaluator.from_checkpoint(tmp_path / "finest.tar")
    assert loaded.hash == original.hash
    words, pos, lens = _text_batch()
    features, lengths = _motion_batch(batch=2)
    torch.testing.assert_close(loaded.encode_text(words, pos, lens), original.encode_text(words, pos, lens))
    torch.testing.assert_close(
        loaded.encode_motion(features, lengths), original.encode_motion(features, lengths)
    )


def test_numpy_scalar_epoch_is_admitted(tmp_path: Path) -> None:
    checkpoint = handwritten_checkpoint(seed=5)
    checkpoint["epoch"], checkpoint["iter"] = np.int64(28), np.int64(9)
    torch.save(checkpoint, tmp_path / "finest.tar")
    loaded = read_checkpoint(tmp_path / "finest.tar")
    assert loaded["epoch"] == 28 and loaded["iter"] == 9


def test_legacy_torch_serialisation_also_loads(tmp_path: Path) -> None:
    checkpoint = {"text_encoder": {"hidden": torch.ones(2, 1, 512)}, "epoch": 1, "iter": 2}
    torch.save(checkpoint, tmp_path / "old.tar", _use_new_zipfile_serialization=False)
    loaded = read_checkpoint(tmp_path / "old.tar")
    assert torch.equal(loaded["text_encoder"]["hidden"], torch.ones(2, 1, 512))


# -- encoding --------------------------------------------------------------------------------------------


def test_outputs_are_deterministic_and_shaped(evaluator: T2MEvaluator) -> None:
    words, pos, lens = _text_batch()
    features, lengths = _motion_batch()
    text = evaluator.encode_text(words, pos, lens)
    motion = evaluator.encode_motion(features, lengths)
    assert text.shape == (6, 512) and motion.shape == (5, 512)
    assert text.dtype == motion.dtype == torch.float32
    assert torch.isfinite(text).all() and torch.isfinite(motion).all()
    assert torch.equal(evaluator.encode_text(words, pos, lens), text)
    assert torch.equal(evaluator.encode_motion(features, lengths), motion)
    # numpy in, same numbers out
    torch.testing.assert_close(evaluator.encode_text(words.numpy(), pos.numpy(), lens.numpy()), text)
    torch.testing.assert_close(evaluator.encode_motion(features.numpy(), lengths.tolist()), motion)


def test_evaluator_stays_in_eval_mode(evaluator: T2MEvaluator) -> None:
    evaluator.train()
    assert not evaluator.training
    assert not any(m.training for m in evaluator.modules())


def test_text_encoding_is_order_invariant(evaluator: T2MEvaluator) -> None:
    words, pos, lens = _text_batch(batch=8, seed=4)
    out = evaluator.encode_text(words, pos, lens)
    perm = torch.tensor([3, 0, 7, 5, 1, 6, 2, 4])
    torch.testing.assert_close(evaluator.encode_text(words[perm], pos[perm], lens[perm]), out[perm])
    # each row alone gives the same embedding as in the batch
    torch.testing.assert_close(evaluator.encode_text(words[2:3], pos[2:3], lens[2:3]), out[2:3])


def test_motion_encoding_is_order_invariant(evaluator: T2MEvaluator) -> None:
    features, lengths = _motion_batch(batch=5, seed=6)
    out = evaluator.encode_motion(features, lengths)
    perm = torch.tensor([4, 2, 0, 3, 1])
    torch.testing.assert_close(evaluator.encode_motion(features[perm], lengths[perm]), out[perm])


def _official_text_forward(state: dict, words, pos, lens) -> torch.Tensor:
    """The official TextEncoderBiGRUCo.forward, written from the notes on the raw state dict."""
    x = words + F.linear(pos, state["pos_emb.weight"], state["pos_emb.bias"])
    return _official_bigru(state, F.linear(x, state["input_emb.weight"], state["input_emb.bias"]), lens)


def _official_bigru(state: dict, embs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    hidden = state["hidden"].shape[-1]
    gru = torch.nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
    gru.load_state_dict({k[len("gru.") :]: v for k, v in state.items() if k.startswith("gru.")})
    packed = pack_padded_sequence(embs, lens.tolist(), batch_first=True)  # enforce_sorted=True, as officially
    _, last = gru(packed, state["hidden"].repeat(1, embs.shape[0], 1))
    h = F.linear(torch.cat([last[0], last[1]], -1), state["output_net.0.weight"], state["output_net.0.bias"])
    h = F.layer_norm(h, (hidden,), state["output_net.1.weight"], state["output_net.1.bias"])
    return F.linear(F.leaky_relu(h, 0.2), state["output_net.3.weight"], state["output_net.3.bias"])


def _official_motion_forward(checkpoint: dict, features, lengths) -> torch.Tensor:
    mv = checkpoint["movement_encoder"]
    x = features[..., :-4].permute(0, 2, 1)
    x = F.leaky_relu(F.conv1d(x, mv["main.0.weight"], mv["main.0.bias"], stride=2, padding=1), 0.2)
    x = F.leaky_relu(F.conv1d(x, mv["main.3.weight"], mv["main.3.bias"], stride=2, padding=1), 0.2)
    movements = F.linear(x.permute(0, 2, 1), mv["out_net.weight"], mv["out_net.bias"])
    mo = checkpoint["motion_encoder"]
    return _official_bigru(
        mo, F.linear(movements, mo["input_emb.weight"], mo["input_emb.bias"]), lengths // 4
    )


def test_matches_the_official_forward_on_a_sorted_batch(
    official_tree: tuple[Path, dict], evaluator: T2MEvaluator
) -> None:
    checkpoint = official_tree[1]
    with torch.no_grad():
        words, pos, lens = _text_batch(batch=6, seed=8)
        order = torch.argsort(lens, descending=True)  # the official collate sorts by sent_len
        words, pos, lens = words[order], pos[order], lens[order]
        expected = _official_text_forward(checkpoint["text_encoder"], words, pos, lens)
        torch.testing.assert_close(evaluator.encode_text(words, pos, lens), expected, rtol=1e-5, atol=1e-5)

        features, lengths = _motion_batch(batch=5, seed=9, frames=196)
        order = torch.argsort(lengths, descending=True)  # get_co_embeddings' align_idx
        features, lengths = features[order], lengths[order]
        expected = _official_motion_forward(checkpoint, features, lengths)
        got = evaluator.encode_motion(features, lengths)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_text_padding_is_ignored_and_sent_len_matters(evaluator: T2MEvaluator) -> None:
    words, pos, lens = _text_batch(batch=3, seed=10)
    lens = torch.tensor([22, 9, 5])
    out = evaluator.encode_text(words, pos, lens)
    noisy = words.clone()
    noisy[1, 9:] = 7.0
    noisy[2, 5:] = -3.0
    torch.testing.assert_close(evaluator.encode_text(noisy, pos, lens), out)
    # the cap_len bug (running over the padded 22 tokens) gives different embeddings
    assert not torch.allclose(evaluator.encode_text(words, pos, torch.full((3,), 22)), out, atol=1e-3)


def test_motion_padding_leaks_only_three_frames(evaluator: T2MEvaluator) -> None:
    # The last movement token sees input frames up to 4*(len//4) + 2 (eval_protocol.md §3.4).
    features, _ = _motion_batch(batch=1, seed=11, frames=120)
    length = torch.tensor([101])  # 25 tokens: frames 0..99 count, 100..102 leak in
    base = evaluator.encode_motion(features, length)
    late = features.clone()
    late[0, 103:] = 5.0
    torch.testing.assert_close(evaluator.encode_motion(late, length), base)
    leak = features.clone()
    leak[0, 102] = 5.0
    assert not torch.allclose(evaluator.encode_motion(leak, length), base)
    # the foot contacts (last 4 dims) are never seen
    contacts = features.clone()
    contacts[..., -4:] = 1.0
    torch.testing.assert_close(evaluator.encode_motion(contacts, length), base)


def test_bad_inputs_raise_project_errors(evaluator: T2MEvaluator) -> None:
    words, pos, lens = _text_batch(batch=2)
    with pytest.raises(MogenBenchError, match="sent_lens"):
        evaluator.encode_text(words, pos, torch.tensor([23, 4]))
    with pytest.raises(MogenBenchError, match="sent_lens"):
        evaluator.encode_text(words, pos, torch.tensor([0, 4]))
    with pytest.raises(MogenBenchError, match="pos_onehot"):
        evaluator.encode_text(words, pos[..., :14], lens)
    features, lengths = _motion_batch(batch=2)
    with pytest.raises(MogenBenchError, match="263"):
        evaluator.encode_motion(features[..., :251], lengths)  # KIT features into the HumanML3D evaluator
    with pytest.raises(MogenBenchError, match="at least 4 frames"):
        evaluator.encode_motion(features, torch.tensor([96, 3]))
    with pytest.raises(MogenBenchError, match="lengths"):
        evaluator.encode_motion(features, torch.tensor([97, 40]))


# -- checkpoint errors -------------------------------------------------------------------------------------


def test_mismatching_checkpoint_lists_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    good = official_shapes(263)
    text = {k: torch.zeros(s) for k, s in good["text_encoder"].items() if not k.startswith("output_net")}
    text["extra.weight"] = torch.zeros(3)
    movement = {k: torch.zeros(s) for k, s in official_shapes(251)["movement_encoder"].items()}  # KIT's
    motion = {k: torch.zeros(s) for k, s in good["motion_encoder"].items()}
    motion["hidden"] = torch.zeros(2, 1, 512)
    path = tmp_path / "finest.tar"
    torch.save({"text_encoder": text, "movement_encoder": movement, "motion_encoder": motion}, path)
    mean, std = _stats(263, seed=0)
    (tmp_path / "meta").mkdir()
    np.save(tmp_path / "meta" / "mean.npy", mean)
    np.save(tmp_path / "meta" / "std.npy", std)

    with pytest.raises(MogenBenchError) as info:
        T2MEvaluator.from_checkpoint(path)
    message = str(info.value)
    assert info.value.file == str(path)
    assert "text_encoder: 6 missing keys: output_net.0.weight, output_net.0.bias" in message
    assert "and 1 more" in message  # only the first few are listed
    assert "text_encoder: 1 unexpected keys: extra.weight" in message
    assert (
        "movement_encoder: 1 shape mismatches: main.0.weight [512, 247, 4] (expected [512, 259, 4])"
        in message
    )
    assert "motion_encoder: 1 shape mismatches: hidden [2, 1, 512] (expected [2, 1, 1024])" in message
    assert "dataset='kit'" in info.value.fix


def test_not_an_evaluator_checkpoint(tmp_path: Path) -> None:
    torch.save({"model": {}, "epoch": 3}, tmp_path / "finest.tar")
    with pytest.raises(MogenBenchError, match="missing \\['text_encoder'"):
        T2MEvaluator.from_checkpoint(tmp_path / "finest.tar", meta_dir=tmp_path)
    with pytest.raises(MogenBenchError, match=r"finest\.tar was not found"):
        T2MEvaluator.from_checkpoint(tmp_path / "nowhere")


def test_malicious_checkpoint_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"text_encoder": Evil()}, tmp_path / "finest.tar")
    with pytest.raises(MogenBenchError, match="system"):
        read_checkpoint(tmp_path / "finest.tar")
    assert not marker.exists()


def test_missing_statistics_are_reported(tmp_path: Path, official_tree: tuple[Path, dict]) -> None:
    finest = official_tree[0] / "t2m" / "text_mot_match" / "model" / "finest.tar"
    with pytest.raises(MogenBenchError, match="statistics not found"):
        T2MEvaluator.from_checkpoint(finest, meta_dir=tmp_path)
    np.save(tmp_path / "mean.npy", np.zeros(251))
    np.save(tmp_path / "std.npy", np.ones(251))
    with pytest.raises(MogenBenchError, match="expected 263 finite floats"):
        load_evaluator_stats(tmp_path, "t2m")
    np.save(tmp_path / "mean.npy", np.array([object()] * 263, dtype=object), allow_pickle=True)
    with pytest.raises(MogenBenchError, match="plain numpy"):
        load_evaluator_stats(tmp_path, "t2m")


# -- identity ---------------------------------------------------------------------------------------------


def test_hash_is_stable_and_sensitive(official_tree: tuple[Path, dict], evaluator: T2MEvaluator) -> None:
    again = T2MEvaluator.from_checkpoint(official_tree[0])
    assert again.hash == evaluator.hash
    assert len(evaluator.hash) == 64 and int(evaluator.hash, 16) >= 0
    with torch.no_grad():
        again.motion_encoder.output_net[3].bias[0] += 1e-6
    assert again.hash != evaluator.hash
    mean, std = _stats(263, seed=1)
    other_stats = T2MEvaluator("t2m", mean, std * 1.0001)
    other_stats.load_checkpoint(official_tree[1])
    assert other_stats.hash != evaluator.hash
    same = T2MEvaluator("t2m", mean, std)
    same.load_checkpoint(official_tree[1])
    assert same.hash == evaluator.hash


# -- normalisation ----------------------------------------------------------------------------------------


def test_renormalise_moves_model_features_into_the_evaluator_space(evaluator: T2MEvaluator) -> None:
    rng = np.random.default_rng(12)
    raw = rng.normal(size=(2, 30, 263)).astype(np.float32)
    data_mean, data_std = _stats(263, seed=13)
    model_space = ((raw - data_mean) / data_std).astype(np.float32)
    eval_mean, eval_std = evaluator.eval_mean.numpy(), evaluator.eval_std.numpy()

    out = renormalise(model_space, data_mean, data_std, eval_mean, eval_std)
    assert out.dtype == np.float32 and out.shape == raw.shape
    np.testing.assert_allclose(out, (raw - eval_mean) / eval_std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out, evaluator.normalise(raw).numpy(), rtol=1e-4, atol=1e-4)
    as_tensor = renormalise(torch.from_numpy(model_space), data_mean, data_std, eval_mean, eval_std)
    assert as_tensor.dtype == torch.float32
    np.testing.assert_allclose(as_tensor.numpy(), out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(evaluator.renormalise(model_space, data_mean, data_std), out)
    with pytest.raises(MogenBenchError, match="eval_std"):
        renormalise(model_space, data_mean, data_std, eval_mean, eval_std[:251])


def test_published_evaluator_statistics_load() -> None:
    sample = shared_sample_dir()
    meta = sample / "evaluator_meta"
    mean, std = load_evaluator_stats(meta, "t2m")
    assert mean.shape == std.shape == (263,)
    np.testing.assert_array_equal(mean, np.load(meta / "t2m_mean.npy"))  # bit-exact, never recomputed
    np.testing.assert_array_equal(std, np.load(meta / "t2m_std.npy"))
    # eval_protocol.md §1.4: root and contact stds are the dataset's divided by 5 twice (ratio ~25)
    ratio = np.load(sample / "Std.npy").astype(np.float64) / std
    assert np.all((ratio[:4] > 24.9) & (ratio[:4] < 25.3)) and np.all(
        (ratio[259:] > 24.9) & (ratio[259:] < 25.3)
    )
    assert np.all((ratio[4:259] > 0.996) & (ratio[4:259] < 0.998))
    kit_mean, kit_std = load_evaluator_stats(meta, "kit")
    assert kit_mean.shape == kit_std.shape == (251,)


def test_from_checkpoint_reads_mdm_named_statistics(official_tree: tuple[Path, dict]) -> None:
    meta = shared_sample_dir() / "evaluator_meta"
    finest = official_tree[0] / "t2m" / "text_mot_match" / "model" / "finest.tar"
    ev = T2MEvaluator.from_checkpoint(finest, dataset="humanml3d", meta_dir=meta)
    np.testing.assert_array_equal(ev.eval_std.numpy(), np.load(meta / "t2m_std.npy"))


# -- GloVe ------------------------------------------------------------------------------------------------

VOCAB = [
    "sos",
    "eos",
    "unk",
    "a",
    "man",
    "walk",
    "left",
    "forward",
    "arm",
    "slowly",
    "chair",
    "the",
    "circle",
]


def write_glove(folder: Path, protocol: int = pickle.DEFAULT_PROTOCOL, seed: int = 0) -> np.ndarray:
    """The official GloVe layout: our_vab_data.npy, our_vab_words.pkl (list), our_vab_idx.pkl (dict)."""
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.random.default_rng(seed).normal(size=(len(VOCAB), 300)).astype(np.float32)
    np.save(folder / "our_vab_data.npy", vectors)
    (folder / "our_vab_words.pkl").write_bytes(pickle.dumps(list(VOCAB), protocol=protocol))
    index = {w: i for i, w in enumerate(VOCAB)}
    (folder / "our_vab_idx.pkl").write_bytes(pickle.dumps(index, protocol=protocol))
    return vectors


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_glove_files_round_trip(tmp_path: Path, protocol: int) -> None:
    vectors = write_glove(tmp_path / "glove", protocol)
    wv = WordVectorizer.from_dir(tmp_path / "glove")
    assert len(wv) == len(VOCAB) and "man" in wv and wv.dim == 300
    for i, word in enumerate(VOCAB):
        np.testing.assert_array_equal(wv[f"{word}/NOUN"][0], vectors[i])


def test_pos_one_hots_follow_the_official_rules(tmp_path: Path) -> None:
    vectors = write_glove(tmp_path)
    wv = WordVectorizer.from_dir(tmp_path)
    assert len(POS_ENUMERATOR) == 15 and POS_ENUMERATOR["OTHER"] == 14
    cases = {
        "man/NOUN": "NOUN",
        "a/DET": "DET",
        "the/DET": "DET",
        "circle/PROPN": "OTHER",  # a tag outside the 15 categories
        "walk/VERB": "Act_VIP",  # the VIP lists override the tag
        "left/ADJ": "Loc_VIP",
        "forward/ADV": "Loc_VIP",
        "arm/NOUN": "Body_VIP",
        "chair/NOUN": "Obj_VIP",
        "slowly/ADV": "Desc_VIP",
    }
    for token, category in cases.items():
        vec, onehot = wv[token]
        assert onehot.shape == (15,) and onehot.sum() == 1 and onehot[POS_ENUMERATOR[category]] == 1, token
        np.testing.assert_array_equal(vec, vectors[VOCAB.index(token.split("/")[0])])
    vec, onehot = wv["zebra/NOUN"]  # out of vocabulary: unk vector, OTHER, even for a VIP-like tag
    np.testing.assert_array_equal(vec, vectors[VOCAB.index("unk")])
    np.testing.assert_array_equal(onehot, pos_onehot("OTHER"))
    assert wv["kick/VERB"][1][POS_ENUMERATOR["OTHER"]] == 1  # a VIP word not in this vocabulary
    assert "kick" in VIP_LISTS["Act_VIP"] and len(VIP_LISTS["Loc_VIP"]) == 12
    with pytest.raises(MogenBenchError, match="word/POS"):
        wv["man"]


def test_sentences_are_padded_like_text2motion_dataset_v2(tmp_path: Path) -> None:
    write_glove(tmp_path)
    wv = WordVectorizer.from_dir(tmp_path)
    tokens = ["a/DET", "man/NOUN", "walk/VERB", "forward/ADV"]
    padded, sent_len = pad_tokens(tokens)
    assert sent_len == 6 and len(padded) == 22
    assert padded[:6] == ["sos/OTHER", *tokens, "eos/OTHER"] and padded[6:] == ["unk/OTHER"] * 16
    words, pos, n = wv.encode(tokens)
    assert words.shape == (22, 300) and pos.shape == (22, 15) and n == 6
    assert words.dtype == pos.dtype == np.float32
    np.testing.assert_array_equal(words[0], wv.word2vec["sos"])
    np.testing.assert_array_equal(words[5], wv.word2vec["eos"])
    np.testing.assert_array_equal(words[21], wv.word2vec["unk"])
    assert pos[0, 14] == pos[5, 14] == pos[21, 14] == 1
    # 19 words fit with one pad; 20 or more are cropped to 20 and sent_len is 22
    assert pad_tokens(["man/NOUN"] * 19)[1] == 21 and pad_tokens(["man/NOUN"] * 19)[0][-1] == "unk/OTHER"
    for count in (20, 25):
        padded, sent_len = pad_tokens([f"w{i}/NOUN" for i in range(count)])
        assert sent_len == 22 and padded[-1] == "eos/OTHER" and padded[20] == "w19/NOUN"
    batch = wv.encode_batch([tokens, tokens[:2]])
    assert batch[0].shape == (2, 22, 300) and batch[2].tolist() == [6, 4]


def test_glove_end_to_end_through_the_text_encoder(tmp_path: Path, evaluator: T2MEvaluator) -> None:
    write_glove(tmp_path)
    wv = WordVectorizer.from_dir(tmp_path)
    sentences = [["a/DET", "man/NOUN", "walk/VERB", "forward/ADV"], ["the/DET", "man/NOUN"]]
    words, pos, lens = wv.encode_batch(sentences)
    out = evaluator.encode_text(words, pos, lens)
    assert out.shape == (2, 512)
    torch.testing.assert_close(
        evaluator.encode_text(words[::-1].copy(), pos[::-1].copy(), lens[::-1].copy()), out.flip(0)
    )


def test_glove_files_that_disagree_are_reported(tmp_path: Path) -> None:
    write_glove(tmp_path)
    (tmp_path / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(VOCAB[:-1])}))
    with pytest.raises(MogenBenchError, match="'circle' of the word list has no row"):
        WordVectorizer.from_dir(tmp_path)
    (tmp_path / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i + 1 for i, w in enumerate(VOCAB)}))
    with pytest.raises(MogenBenchError, match="points at row 13"):
        WordVectorizer.from_dir(tmp_path)
    with pytest.raises(MogenBenchError, match="not found"):
        WordVectorizer.from_dir(tmp_path / "missing")


# -- the restricted unpickler -----------------------------------------------------------------------------


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "our_vab_words.pkl"
    path.write_bytes(pickle.dumps(["walk", _Evil(marker)]))
    with pytest.raises(MogenBenchError) as info:
        safe_load(path)
    assert not marker.exists()
    assert info.value.file == str(path)
    assert f"forbidden global '{os.system.__module__}.system'" in str(info.value)
    # a GloVe folder holding it is refused the same way
    write_glove(tmp_path)
    path.write_bytes(pickle.dumps(["walk", _Evil(marker)]))
    with pytest.raises(MogenBenchError, match="forbidden global"):
        WordVectorizer.from_dir(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(S'1+1'\ntR.",  # builtins.eval
        b"cbuiltins\ngetattr\n(cbuiltins\nstr\nS'join'\ntR.",  # getattr is not a container
        b"csubprocess\nPopen\n((S'true'\nttR.",
        b"c_codecs\nencode\n(S'x'\nS'zlib_codec'\ntR.",  # only latin-1 is needed for bytes
        b"cnumpy\nload\n(S'x.npy'\ntR.",
    ],
)
def test_other_globals_are_refused(payload: bytes) -> None:
    with pytest.raises(MogenBenchError):
        safe_loads(payload, source="x.pkl")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_and_numpy_load(protocol: int) -> None:
    value = {
        "words": ["sos", "eos", "unk"],
        "idx": {"sos": 0, "eos": 1},
        "nested": ({1, 2}, frozenset({3}), b"raw", bytearray(b"ba"), 1.5, True, None),
        "vectors": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "strings": np.array(["ab", "c"]),
        "scalars": [np.int64(7), np.float32(0.5), np.bool_(True)],
    }
    loaded = safe_loads(pickle.dumps(value, protocol=protocol))
    assert loaded["words"] == value["words"] and loaded["idx"] == value["idx"]
    assert loaded["nested"] == value["nested"]
    for key in ("vectors", "fortran", "strings"):
        np.testing.assert_array_equal(loaded[key], value[key])
        assert loaded[key].dtype == value[key].dtype
    assert loaded["scalars"] == value["scalars"] and type(loaded["scalars"][0]) is np.int64


def test_corrupt_pickle_is_a_project_error(tmp_path: Path) -> None:
    path = tmp_path / "our_vab_idx.pkl"
    path.write_bytes(pickle.dumps({"a": 1})[:-3])
    with pytest.raises(MogenBenchError, match="not a readable pickle"):
        safe_load(path)
