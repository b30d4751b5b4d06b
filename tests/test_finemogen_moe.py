"""The plain-torch mixture of experts (finemogen/moe.py) against references written separately here.

- ``loop_routing``: tutel's routing (``fast_dispatch.extract_critical``) transcribed with Python loops over
  tokens, from the layer's parameters;
- ``dense_reference``: every expert on every token, masked and weighted by those decisions (capacity drops
  included);
- ``tutel_load_importance_loss``: ``tutel/impls/losses.py`` as written (``torch.distributions.Normal``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.distributions.normal import Normal

from finemogen.moe import (
    RELEASED_KEYS,
    FineMoE,
    MixtureOfExperts,
    expert_capacity,
    load_importance_loss,
    use_generator,
)
from mogen_bench.errors import MogenBenchError


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: a second OpenMP thread only adds waiting (~100x on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- references
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def loop_routing(moe: MixtureOfExperts, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict:
    """Tutel's routing for ``x`` (``noise``: the ``(N, E)`` standard normal draw, None in eval mode)."""
    n, e, k = x.shape[0], moe.num_experts, moe.top_k
    gate, dtype = moe.gate, torch.promote_types(x.dtype, torch.float32)
    x = x.to(dtype)
    projected = x @ gate.cosine_projector.weight.to(dtype).T + gate.cosine_projector.bias.to(dtype)
    sim = gate.sim_matrix.to(dtype)
    logit_scale = torch.exp(torch.clamp(gate.temperature.to(dtype), max=math.log(100.0)))
    logits = (projected / projected.norm(dim=1, keepdim=True)) @ (sim / sim.norm(dim=0, keepdim=True))
    logits = logits * logit_scale
    noisy = logits if noise is None else logits + moe.gate_noise * noise / e
    scores = torch.softmax(noisy, dim=1)
    experts = torch.topk(scores, k, dim=1).indices
    gates = scores.gather(1, experts)
    if k > 1:
        gates = gates / gates.sum(dim=1, keepdim=True)
    capacity = k * int(moe.capacity_factor * math.ceil(n / e))
    best = scores.max(dim=1).values.tolist()
    order = sorted(range(n), key=lambda i: -best[i]) if moe.batch_prioritized else list(range(n))
    filled = [0] * e  # every choice takes a slot, kept or not
    locations = torch.zeros(n, k, dtype=torch.long)
    for choice in range(k):
        for i in order:
            expert = int(experts[i, choice])
            locations[i, choice] = filled[expert]
            filled[expert] += 1
    return {
        "logits": logits,
        "noisy": noisy,
        "experts": experts,
        "weights": gates,
        "locations": locations,
        "kept": locations < capacity,
        "capacity": capacity,
    }


def dense_reference(moe: MixtureOfExperts, x: torch.Tensor, routing: dict) -> torch.Tensor:
    """Every expert on every token (``(E, N, D)``), then each token's kept choices, weighted."""
    hidden = F.gelu(torch.einsum("nd,efd->enf", x, moe.fc1_weight) + moe.fc1_bias[:, None])
    out = torch.einsum("enf,efd->end", hidden, moe.fc2_weight) + moe.fc2_bias[:, None]
    tokens = torch.arange(x.shape[0])
    weights = routing["weights"] * routing["kept"]
    return sum(weights[:, j, None] * out[routing["experts"][:, j], tokens] for j in range(moe.top_k))


def tutel_load_importance_loss(scores_wo_noise, topk_logits, num_global_experts, gate_noise):
    """Tutel's ``.float()`` casts become casts to the gate's dtype (float32, or float64 for float64 input)."""
    dtype = torch.promote_types(scores_wo_noise.dtype, torch.float32)
    normal = Normal(
        torch.tensor([0.0], dtype=dtype), torch.tensor([gate_noise / num_global_experts], dtype=dtype)
    )
    threshold = topk_logits[:, -1].view(-1, 1).to(dtype)
    diff = scores_wo_noise.to(dtype) - threshold.to(dtype)
    load = normal.cdf(diff).sum(0)
    l_load = load.to(dtype).var() / (load.to(dtype).mean() ** 2 + 1e-10)
    importance = scores_wo_noise.to(dtype).sum(0)
    l_imp = importance.to(dtype).var() / (importance.to(dtype).mean() ** 2 + 1e-10)
    return (l_imp + l_load) / 2.0


def make_moe(seed: int = 0, dtype=torch.float32, **options) -> MixtureOfExperts:
    torch.manual_seed(seed)
    options = {"num_experts": 4, "top_k": 2, "gate_dim": 16, **options}
    return MixtureOfExperts(8, 12, **options).to(dtype)


def tokens(n: int, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(n, 8, generator=generator(seed), dtype=dtype)


# --------------------------------------------------------------------------- capacity and slots
def test_capacity_is_tutels_formula():
    # k * int(factor * ceil(N / E)): FineMoGen's motion MoE at batch 16 x 196 frames x 8 parts
    assert expert_capacity(25_088, 16, 2, 1.5) == 4_704
    assert expert_capacity(10, 4, 2, 1.5) == 8  # ceil(2.5) = 3, int(4.5) = 4
    assert expert_capacity(100, 16, 2, 1.25) == 16  # ceil(6.25) = 7, int(8.75) = 8
    assert expert_capacity(7, 4, 1, 1.0) == 2
    assert make_moe(capacity_factor=0.5).capacity(64) == 16


def test_slots_by_hand():
    """Priority order 1, 3, 2, 0. First choices: expert 1 <- token 1 (slot 0); expert 0 <- tokens 3, 2, 0
    (slots 0, 1, 2). Second choices continue after all first choices of their expert: token 1 -> expert 0
    slot 3; token 3 -> expert 2 slot 0; token 2 -> expert 1 slot 1; token 0 -> expert 1 slot 2."""
    moe = make_moe()
    experts = torch.tensor([[0, 1], [1, 0], [0, 1], [0, 2]])
    priority = torch.tensor([0.1, 0.9, 0.5, 0.7])
    assert moe._locations(experts, priority).tolist() == [[2, 2], [0, 3], [1, 1], [0, 0]]
    # without priorities: token order
    moe.batch_prioritized = False
    assert moe._locations(experts, priority).tolist() == [[0, 1], [0, 3], [1, 2], [2, 0]]


@pytest.mark.parametrize("prioritized", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_routing_matches_the_loop_transcription(prioritized, training):
    moe = make_moe(batch_prioritized=prioritized, capacity_factor=0.5).train(training)
    x = tokens(64)
    routing = moe.route(x, generator(7))
    noise = torch.randn(64, 4, generator=generator(7)) if training else None
    expected = loop_routing(moe, x, noise)
    assert routing.experts.tolist() == expected["experts"].tolist()
    assert routing.locations.tolist() == expected["locations"].tolist()
    assert routing.kept.tolist() == expected["kept"].tolist()
    assert routing.capacity == expected["capacity"] == 16
    torch.testing.assert_close(routing.weights, expected["weights"], rtol=0, atol=1e-6)
    torch.testing.assert_close(routing.noisy_logits, expected["noisy"], rtol=0, atol=1e-6)
    # the case is not trivial: 64 x 2 choices for 4 x 16 slots, some of them first choices
    assert routing.kept.sum() == 64 and not routing.kept[:, 0].all() and routing.kept[:, 1].any()
    # every expert's second-choice slots queue behind all its first choices (kept or not)
    for expert in range(4):
        first = int((routing.experts[:, 0] == expert).sum())
        second = routing.locations[:, 1][routing.experts[:, 1] == expert]
        assert sorted(second.tolist()) == list(range(first, first + len(second)))


# --------------------------------------------------------------------------- batched vs dense
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-6), (torch.float64, 1e-13)])
@pytest.mark.parametrize("factor", [0.5, 1.5])
def test_batched_equals_the_dense_reference(dtype, atol, factor):
    moe = make_moe(dtype=dtype, capacity_factor=factor).train()
    x = tokens(64, dtype=dtype)
    y = moe(x, generator(3))
    noise = torch.randn(64, 4, generator=generator(3), dtype=dtype)
    expected = dense_reference(moe, x, loop_routing(moe, x, noise))
    assert y.dtype == dtype and y.shape == (64, 8)
    torch.testing.assert_close(y, expected, rtol=0, atol=atol)


def test_gradients_equal_the_dense_references():
    moe = make_moe(dtype=torch.float64, capacity_factor=0.5).train()
    x = tokens(64, dtype=torch.float64).requires_grad_()
    target = torch.randn(64, 8, generator=generator(5), dtype=torch.float64)

    def loss_of(output, aux):
        return ((output - target) ** 2).mean() + 10 * aux

    (loss_of(moe(x, generator(3)), moe.aux_loss)).backward()
    batched = {name: p.grad.clone() for name, p in moe.named_parameters()}
    batched_x = x.grad.clone()
    moe.zero_grad()
    x.grad = None
    routing = loop_routing(moe, x, torch.randn(64, 4, generator=generator(3), dtype=torch.float64))
    aux = tutel_load_importance_loss(
        routing["logits"].softmax(1), routing["noisy"].gather(1, routing["experts"]), 4, 1.0
    )
    loss_of(dense_reference(moe, x, routing), aux).backward()
    for name, p in moe.named_parameters():
        torch.testing.assert_close(batched[name], p.grad, rtol=1e-9, atol=1e-12, msg=name)
        # everything learns: experts through the outputs, the gate through the weights and the aux loss
        assert batched[name].abs().sum() > 0, name
    torch.testing.assert_close(batched_x, x.grad, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- capacity drops
def overloaded_moe(top_k: int) -> MixtureOfExperts:
    """4 experts over 8-d tokens whose gate sends every token to expert 0 first (and expert 1 second): the
    projector's bias dominates its input, and expert 0's (then expert 1's) embedding is that bias."""
    moe = make_moe(top_k=top_k)
    with torch.no_grad():
        direction = F.normalize(torch.randn(16, generator=generator(9)), dim=0)
        other = F.normalize(torch.randn(16, generator=generator(10)), dim=0)
        moe.gate.cosine_projector.bias.copy_(20 * direction)
        moe.gate.sim_matrix[:, 0] = direction
        moe.gate.sim_matrix[:, 1] = direction + 0.3 * other
        moe.gate.sim_matrix[:, 2:] = -direction[:, None] + torch.randn(16, 2, generator=generator(11))
    return moe.eval()


def test_an_overloaded_expert_keeps_its_highest_scoring_tokens():
    moe = overloaded_moe(top_k=2)
    x = tokens(32)
    routing = moe.route(x)
    assert routing.capacity == 24  # 2 * int(1.5 * 8)
    assert (routing.experts[:, 0] == 0).all() and (routing.experts[:, 1] == 1).all()
    best = routing.noisy_logits.softmax(1).max(1).values
    keep_first = torch.zeros(32, dtype=torch.bool)
    keep_first[best.argsort(descending=True)[:24]] = True
    assert routing.kept[:, 0].tolist() == keep_first.tolist()
    # expert 1 has no first choices: its second-choice slots start at 0, in the same priority order
    assert routing.kept[:, 1].tolist() == keep_first.tolist()
    assert sorted(routing.locations[:, 1].tolist()) == list(range(32))

    y = moe(x)
    expected = dense_reference(moe, x, loop_routing(moe, x))
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
    # the 8 dropped tokens had both choices dropped: their output is exactly zero
    assert (y[~keep_first] == 0).all()
    assert (y[keep_first].abs().sum(1) > 0).all()


def test_top1_drops_to_zero():
    moe = overloaded_moe(top_k=1)
    x = tokens(40)  # capacity int(1.5 * 10) = 15
    y = moe(x)
    routing = moe.route(x)
    assert routing.capacity == 15 and routing.kept.sum() == 15
    assert (y.abs().sum(1) > 0).sum() == 15
    torch.testing.assert_close(y, dense_reference(moe, x, loop_routing(moe, x)), rtol=0, atol=1e-6)
    # top-1 weights are the raw scores (tutel normalises only for k > 1)
    torch.testing.assert_close(routing.weights[:, 0], routing.logits.softmax(1).max(1).values)


# --------------------------------------------------------------------------- aux loss
@pytest.mark.parametrize("training", [True, False])
def test_aux_loss_is_tutels_load_importance_loss(training):
    moe = make_moe(capacity_factor=1.5).train(training)
    x = tokens(48)
    moe(x, generator(4))
    routing = loop_routing(moe, x, torch.randn(48, 4, generator=generator(4)) if training else None)
    expected = tutel_load_importance_loss(
        routing["logits"].softmax(1), routing["noisy"].gather(1, routing["experts"]), 4, moe.gate_noise
    )
    torch.testing.assert_close(moe.aux_loss, expected, rtol=1e-5, atol=1e-7)
    assert moe.aux_loss.requires_grad


def test_aux_loss_of_uniform_probabilities_is_zero_and_grows_with_imbalance():
    uniform = torch.zeros(6, 4)
    assert load_importance_loss(uniform, uniform.gather(1, torch.zeros(6, 2, dtype=torch.long)), 1.0) == 0
    skewed = torch.tensor([[3.0, 0.0, 0.0, 0.0]] * 6)
    loss = load_importance_loss(skewed, skewed[:, :2], 1.0)
    assert loss > 1.0


# --------------------------------------------------------------------------- randomness
def test_golden_values():
    """Seeds: init 0, 12 tokens 1, gate noise 2; capacity 8, so two of the 24 choices are dropped."""
    moe = make_moe(seed=0).train()
    x = tokens(12, seed=1)
    y = moe(x, generator(2))
    routing = moe.route(x, generator(2))
    assert routing.experts[:4].tolist() == [[2, 1], [3, 1], [1, 3], [0, 3]]
    assert routing.capacity == 8 and routing.kept.sum() == 22
    expected = [
        [-0.10998760163784027, 0.13302749395370483, 0.07891588658094406, -0.15991570055484772],
        [0.0698532983660698, 0.28021401166915894, -0.13605348765850067, 0.03721577674150467],
        [-0.07919773459434509, -0.07984939217567444, 0.013560935854911804, -0.14661945402622223],
    ]
    torch.testing.assert_close(y[:3, :4].detach(), torch.tensor(expected), rtol=0, atol=1e-6)
    assert moe.aux_loss.item() == pytest.approx(0.01790919154882431, rel=1e-5)


def test_eval_has_no_noise_and_is_deterministic():
    moe = make_moe().eval()
    x = tokens(32)
    state, g = torch.get_rng_state(), generator(3)
    g_state = g.get_state()
    first, second = moe(x, g), moe(x)
    assert torch.equal(first, second)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(g.get_state(), g_state)
    routing = moe.route(x)
    assert routing.noisy_logits is routing.logits
    torch.testing.assert_close(first, dense_reference(moe, x, loop_routing(moe, x)), rtol=0, atol=1e-6)


def test_training_noise_comes_from_the_given_generator():
    moe = make_moe().train()
    x = tokens(32)
    state = torch.get_rng_state()
    a, b = moe(x, generator(1)), moe(x, generator(1))
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left alone
    assert not torch.equal(moe.route(x, generator(1)).noisy_logits, moe.route(x, generator(2)).noisy_logits)
    # the module attribute (set for a whole model by use_generator) stands in for the argument
    use_generator(torch.nn.Sequential(moe), generator(1))
    assert torch.equal(moe(x), a)
    use_generator(moe, None)
    # without any generator: torch's global one, as tutel (same CPU stream as a generator seeded alike)
    torch.manual_seed(1)
    assert torch.equal(moe(x), a)
    assert not torch.equal(torch.get_rng_state(), state)


def test_gate_runs_in_float32_under_autocast():
    moe = make_moe().eval()
    x = tokens(64)
    reference = moe.route(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        routing = moe.route(x)
        y = moe(x)
    assert routing.logits.dtype == torch.float32 and routing.aux_loss.dtype == torch.float32
    assert torch.equal(routing.experts, reference.experts) and torch.equal(routing.logits, reference.logits)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, moe(x), rtol=0.05, atol=0.02)  # experts in bfloat16


def test_bad_options_are_user_errors():
    for options in ({"top_k": 5}, {"top_k": 0}, {"capacity_factor": 0.0}, {"gate_noise": 0.0}):
        with pytest.raises(MogenBenchError):
            make_moe(**options)
    with pytest.raises(ValueError):
        make_moe()(torch.zeros(3, 7))


# --------------------------------------------------------------------------- FineMoE
def test_fine_moe_shapes_and_composition():
    torch.manual_seed(0)
    layer = FineMoE(4, 2, 8, 12, 6, num_heads=3, max_seq_len=7).eval()
    x = torch.randn(2, 5, 3, 8, generator=generator(1))
    y = layer(x)
    assert y.shape == (2, 5, 3, 6)
    flat = (x + layer.embedding[:, :5]).reshape(-1, 8)
    expected = layer.proj(F.gelu(dense_reference(layer.moe, flat, loop_routing(layer.moe, flat))))
    torch.testing.assert_close(y, expected.reshape(2, 5, 3, 6), rtol=0, atol=1e-6)
    assert layer.aux_loss is layer.moe.aux_loss and layer.aux_loss.ndim == 0
    layer.generator = generator(0)
    assert layer.moe.generator is layer.generator
    with pytest.raises(MogenBenchError, match="max_seq_len"):
        layer(torch.randn(1, 8, 3, 8))


def test_fine_moe_positions_index_the_embedding_per_token():
    torch.manual_seed(0)
    layer = FineMoE(4, 2, 8, 12, 6, num_heads=3, max_seq_len=7, gate_dim=16).eval()
    gate = layer.moe.gate
    assert gate.sim_matrix.shape == (16, 4) and gate.cosine_projector.weight.shape == (16, 8)
    x = torch.randn(2, 5, 3, 8, generator=generator(1))
    default = layer(x)
    # The default is positions 0..T-1, as (T,) or (B, T).
    assert torch.equal(layer(x, positions=torch.arange(5)), default)
    assert torch.equal(layer(x, positions=torch.arange(5).expand(2, 5)), default)
    # Per-motion positions (e.g. restarting at each stage) pick their own embedding rows.
    positions = torch.tensor([[0, 1, 2, 0, 1], [6, 5, 4, 0, 0]])
    flat = (x + layer.embedding[0][positions]).reshape(-1, 8)
    expected = layer.proj(F.gelu(dense_reference(layer.moe, flat, loop_routing(layer.moe, flat))))
    torch.testing.assert_close(layer(x, positions=positions), expected.reshape(2, 5, 3, 6), rtol=0, atol=1e-6)
    assert not torch.allclose(layer(x, positions=positions), default)
    # Restarting positions let a sequence be longer than the embeddings.
    long = torch.randn(1, 9, 3, 8, generator=generator(2))
    assert layer(long, positions=torch.arange(9) % 7).shape == (1, 9, 3, 6)
    with pytest.raises(MogenBenchError, match=r"positions 0\.\.7 fall outside the 7"):
        layer(x, positions=torch.tensor([0, 1, 2, 3, 7]))
    with pytest.raises(MogenBenchError, match="outside"):
        layer(x, positions=torch.tensor([0, 1, -1, 3, 4]))
    with pytest.raises(ValueError, match="shape"):
        layer(x, positions=torch.arange(4))
    with pytest.raises(ValueError, match="integer"):
        layer(x, positions=torch.arange(5.0))


#: (suffix, shape) of the tutel MoE tensors in the released checkpoint, from the released code's layer sizes.
RELEASED_MOTION_MOE = {
    "embedding": (1, 196, 8, 64),
    "proj.weight": (192, 64),
    "proj.bias": (192,),
    "model._num_global_experts": (),
    "model.experts.batched_fc1_w": (16, 256, 64),
    "model.experts.batched_fc2_w": (16, 256, 64),
    "model.experts.batched_fc1_bias": (16, 256),
    "model.experts.batched_fc2_bias": (16, 64),
    "model.gates.0.temperature": (1,),
    "model.gates.0.sim_matrix": (256, 16),
    "model.gates.0.cosine_projector.weight": (256, 64),
    "model.gates.0.cosine_projector.bias": (256,),
}
RELEASED_TEXT_MOE = {
    **RELEASED_MOTION_MOE,
    "embedding": (1, 77, 1, 256),
    "proj.weight": (128, 256),
    "proj.bias": (128,),
    "model.experts.batched_fc1_w": (16, 1024, 256),
    "model.experts.batched_fc2_w": (16, 1024, 256),
    "model.experts.batched_fc1_bias": (16, 1024),
    "model.experts.batched_fc2_bias": (16, 256),
    "model.gates.0.cosine_projector.weight": (256, 256),
}
PAPER_LAYERS = {"motion_moe": (16, 2, 64, 256, 192, 8, 196), "text_moe": (16, 2, 256, 1024, 128, 1, 77)}


def assert_maps_one_to_one(layer: FineMoE, released: dict[str, tuple]) -> None:
    ours = {name: tuple(t.shape) for name, t in layer.state_dict().items()}
    mapped = {RELEASED_KEYS[k]: shape for k, shape in released.items() if k != "model._num_global_experts"}
    assert mapped == ours


@pytest.mark.parametrize("name", ["motion_moe", "text_moe"])
def test_released_tutel_tensors_map_one_to_one(name):
    layer = FineMoE(*PAPER_LAYERS[name])
    released_shapes = RELEASED_MOTION_MOE if name == "motion_moe" else RELEASED_TEXT_MOE
    assert_maps_one_to_one(layer, released_shapes)
    # released tensors renamed by RELEASED_KEYS load strictly, and an expert computes what tutel's does:
    # matmul(x, fc1_w^T) + fc1_bias, GELU, matmul(h, fc2_w) + fc2_bias
    released = {k: torch.randn(shape, dtype=torch.float64) for k, shape in released_shapes.items()}
    del released["model._num_global_experts"]
    layer.double().load_state_dict({RELEASED_KEYS[k]: v for k, v in released.items()}, strict=True)
    dim = layer.input_dim
    x = torch.randn(5, dim, dtype=torch.float64)
    w1, b1 = released["model.experts.batched_fc1_w"][3], released["model.experts.batched_fc1_bias"][3]
    w2, b2 = released["model.experts.batched_fc2_w"][3], released["model.experts.batched_fc2_bias"][3]
    buffer = torch.zeros(16, 5, dim, dtype=torch.float64)
    buffer[3] = x
    with torch.no_grad():
        torch.testing.assert_close(layer.moe.experts(buffer)[3], F.gelu(x @ w1.T + b1) @ w2 + b2)


def test_released_state_dict_listing_if_present():
    """Cross-check against the key listing of the released checkpoint kept in the project's shared folder."""
    base = Path(os.environ.get("MOGEN_BENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    listing = base / "reference" / "finemogen_official_state_dict.json"
    if not listing.is_file():
        pytest.skip(f"the released key listing is not here: {listing}")
    shapes = json.loads(listing.read_text())
    for block in range(4):
        for name in ("motion_moe", "text_moe"):
            prefix = f"model.temporal_decoder_blocks.{block}.ca_block.{name}."
            released = {k[len(prefix) :]: tuple(v) for k, v in shapes.items() if k.startswith(prefix)}
            assert released == (RELEASED_MOTION_MOE if name == "motion_moe" else RELEASED_TEXT_MOE)
