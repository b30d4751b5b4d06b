"""Sparse mixture of experts in plain torch: the tutel layer of FineMoGen's SAMI, without tutel.

The released FineMoGen code builds its key / value projections from ``tutel.moe.moe_layer`` (class ``MOE``
in ``mogen/models/attentions/fine_attention.py``). Tutel needs a CUDA build from git; this module does the
same arithmetic with ordinary torch operations, on any device, and keeps tutel's parameter layout so that a
released checkpoint maps onto it by renaming keys only.

What one forward does (tutel ``MOELayer.forward`` + ``fast_dispatch.extract_critical`` with FineMoGen's
options ``gate_type='cosine_top', fp32_gate=True, gate_noise=1.0, capacity_factor=1.5,
batch_prioritized_routing=True, is_gshard_loss=False`` and tutel's defaults ``normalize_gate=True,
is_postscore=True``), for ``N`` tokens of ``model_dim`` features, ``E`` experts and top-``k`` routing:

1. Gate (``CosineTopKGate``), in float32 (float64 for float64 input) with autocast off:
   ``logits = normalize(W x + b) @ normalize(S, dim=0) * exp(min(temperature, log 100))``;
   ``W``: ``gate_dim x model_dim``, ``S``: ``gate_dim x E``, ``temperature`` a learned log inverse
   temperature initialised to ``log 2``.
2. Noise, in training mode only: ``noisy = logits + gate_noise * randn(N, E) / E``;
   ``scores = softmax(noisy)``.
3. Top-``k`` experts of every token by ``scores``; their scores, renormalised to sum to one over the ``k``
   choices (``normalize_gate``; the sum clamped at machine epsilon), are the combine weights.
4. Capacity per expert ``C = k * int(capacity_factor * ceil(N / E))`` (tutel's formula: the ceiling is
   taken before the factor and the product is truncated, then multiplied by ``k``; e.g. ``N = 25,088,
   E = 16, k = 2, 1.5`` gives ``C = 2 * int(1.5 * 1,568) = 4,704``; FineMoGen's single-rank expert group
   has alignment 1, so no rounding up).
5. Slots. Batch-prioritised routing orders the tokens by their best score, highest first. Every token's
   first choice gets slot ``rank among the tokens whose first choice is that expert``; its ``j``-th choice
   gets slot ``rank among the tokens whose j-th choice is that expert + number of tokens that chose the
   expert with an earlier choice`` (all of them, kept or not). A choice whose slot is ``>= C`` is dropped:
   it contributes nothing, and a token with all its choices dropped outputs zero (FineMoGen has no
   residual around the MoE).
6. Experts: the kept tokens are scattered into an ``(E, C, model_dim)`` buffer (empty slots hold zeros),
   every expert runs ``fc2(gelu(fc1(x)))`` on its ``C`` rows in one batched product per layer, and each
   token gathers its kept outputs weighted by the combine weights.
7. Auxiliary loss (``tutel.impls.losses.load_importance_loss``, stored in ``aux_loss``): the mean of an
   importance term and a load term, each ``var(v) / (mean(v)^2 + 1e-10)`` (unbiased variance over
   experts). Importance ``v_e = sum_n softmax(logits)_ne`` (noise-free probabilities); load
   ``v_e = sum_n Phi((softmax(logits)_ne - t_n) / (gate_noise / E))`` with ``Phi`` the standard normal
   CDF and ``t_n`` the noisy *logit* of the token's ``k``-th choice. Tutel compares probabilities with a
   logit there; that is what the released model was trained with, so it is kept as written.

Randomness: the gate noise is the only random draw, ``randn(N, E)`` in the gate's dtype, taken from the
``generator`` argument of ``forward``, else from the module's ``generator`` attribute (``None`` by default;
``use_generator(model, generator)`` sets it on every layer of a model), else from torch's global generator
as tutel does. A generator on another device than the tokens draws on its own device; the noise is moved.

Differences from tutel, none of which changes a result beyond float32 rounding: tutel's ``argsort`` of the
priorities is not stable (tokens with identical best scores land in any order; here the lower index wins);
under autocast tutel rounds the tokens to the autocast dtype before the float32 gate (here the gate reads
them at their own precision); tutel dispatches and combines in float32 (here the buffer has the input's
dtype and the combine weights the gate's).

Parameter layout (``FineMoE`` keys; ``P`` is ``model.temporal_decoder_blocks.<i>.ca_block.text_moe`` or
``...motion_moe`` in a released checkpoint; shapes for ``E`` experts, ``D = input_dim``, ``F = ffn_dim``,
``O = output_dim``, ``H`` heads, ``L = max_seq_len``)::

    released key                              this module                       shape
    P.embedding                               embedding                         (1, L, H, D)
    P.proj.weight / P.proj.bias               proj.weight / proj.bias           (O, D) / (O,)
    P.model.experts.batched_fc1_w             moe.fc1_weight                    (E, F, D)
    P.model.experts.batched_fc1_bias          moe.fc1_bias                      (E, F)
    P.model.experts.batched_fc2_w             moe.fc2_weight                    (E, F, D), fc2 transposed
    P.model.experts.batched_fc2_bias          moe.fc2_bias                      (E, D)
    P.model.gates.0.temperature               moe.gate.temperature              (1,)
    P.model.gates.0.sim_matrix                moe.gate.sim_matrix               (256, E)
    P.model.gates.0.cosine_projector.weight   moe.gate.cosine_projector.weight  (256, D)
    P.model.gates.0.cosine_projector.bias     moe.gate.cosine_projector.bias    (256,)
    P.model._num_global_experts               (not stored: must equal E)        ()

``RELEASED_KEYS`` holds the same table for a converter. The released sizes: ``text_moe`` ``E=16, D=256,
F=1024, O=128, H=1, L=77``; ``motion_moe`` ``E=16, D=64, F=256, O=192, H=8, L=196``. Tutel trained each
rank's experts on that rank's tokens only (FineMoGen builds its expert group with ``group_count=1``: a group
of one rank, replicated by DDP), so the capacity is per forward call, as here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mogen_bench.errors import MogenBenchError

__all__ = [
    "RELEASED_KEYS",
    "CosineTopKGate",
    "FineMoE",
    "MixtureOfExperts",
    "Routing",
    "expert_capacity",
    "load_importance_loss",
    "use_generator",
]

#: Released (tutel) key suffix under a ``text_moe`` / ``motion_moe`` prefix -> ``FineMoE.state_dict()`` key.
#: ``model._num_global_experts`` (a scalar buffer holding the expert count) has no counterpart.
RELEASED_KEYS: dict[str, str] = {
    "embedding": "embedding",
    "proj.weight": "proj.weight",
    "proj.bias": "proj.bias",
    "model.experts.batched_fc1_w": "moe.fc1_weight",
    "model.experts.batched_fc1_bias": "moe.fc1_bias",
    "model.experts.batched_fc2_w": "moe.fc2_weight",
    "model.experts.batched_fc2_bias": "moe.fc2_bias",
    "model.gates.0.temperature": "moe.gate.temperature",
    "model.gates.0.sim_matrix": "moe.gate.sim_matrix",
    "model.gates.0.cosine_projector.weight": "moe.gate.cosine_projector.weight",
    "model.gates.0.cosine_projector.bias": "moe.gate.cosine_projector.bias",
}


def expert_capacity(num_tokens: int, num_experts: int, top_k: int, capacity_factor: float) -> int:
    """Slots per expert for ``num_tokens`` tokens: ``top_k * int(capacity_factor * ceil(num_tokens / E))``."""
    samples_per_expert = -(-num_tokens // num_experts)
    return top_k * int(capacity_factor * samples_per_expert)


def load_importance_loss(logits: Tensor, noisy_top_logits: Tensor, gate_noise: float) -> Tensor:
    """Tutel's ``load_importance_loss`` (the auxiliary loss when ``is_gshard_loss=False``).

    ``logits``: ``(N, E)`` gate logits without noise; ``noisy_top_logits``: ``(N, k)`` the noisy logits of
    every token's chosen experts, best first. Returns the mean of the importance and load coefficients of
    variation squared (see the module docstring).
    """
    num_experts = logits.shape[1]
    probabilities = logits.softmax(dim=1)

    def cv_squared(values: Tensor) -> Tensor:
        return values.var() / (values.mean() ** 2 + 1e-10)

    threshold = noisy_top_logits[:, -1:]
    # P(this expert's noisy score would beat the k-th choice): normal CDF with the noise's std gate_noise / E
    load = torch.special.ndtr((probabilities - threshold) / (gate_noise / num_experts)).sum(dim=0)
    return (cv_squared(probabilities.sum(dim=0)) + cv_squared(load)) / 2


@dataclass
class Routing:
    """The gate's decisions for one batch of ``N`` tokens (``k`` choices each, best first)."""

    #: ``(N, E)`` gate logits without noise, in the gate's dtype.
    logits: Tensor
    #: ``(N, E)`` logits plus the gate noise (the same tensor as ``logits`` in eval mode).
    noisy_logits: Tensor
    #: ``(N, k)`` chosen experts.
    experts: Tensor
    #: ``(N, k)`` combine weights: the chosen softmax scores, renormalised over the choices when ``k > 1``.
    weights: Tensor
    #: ``(N, k)`` slot of every choice in its expert's buffer (may be ``>= capacity``).
    locations: Tensor
    #: ``(N, k)`` choices that fit (``locations < capacity``).
    kept: Tensor
    #: Slots per expert.
    capacity: int
    #: Scalar load / importance loss.
    aux_loss: Tensor


class CosineTopKGate(nn.Module):
    """Tutel's ``CosineTopKGate``: cosine similarity of projected tokens to learned expert embeddings."""

    def __init__(self, model_dim: int, num_experts: int, gate_dim: int = 256, init_temperature: float = 0.5):
        super().__init__()
        #: Log of the inverse temperature (the logit scale), clamped at log 100 when used.
        self.temperature = nn.Parameter(torch.full((1,), math.log(1.0 / init_temperature)))
        self.cosine_projector = nn.Linear(model_dim, gate_dim)
        self.sim_matrix = nn.Parameter(torch.empty(gate_dim, num_experts))
        nn.init.normal_(self.sim_matrix, 0.0, 0.01)
        self.clamp_max = math.log(1.0 / 0.01)

    def forward(self, tokens: Tensor) -> Tensor:
        """``(N, model_dim)`` tokens -> ``(N, E)`` logits in the tokens' dtype (parameters are cast to it)."""
        dtype = tokens.dtype
        projector = self.cosine_projector
        projected = F.linear(tokens, projector.weight.to(dtype), projector.bias.to(dtype))
        similarity = F.normalize(projected, dim=1) @ F.normalize(self.sim_matrix.to(dtype), dim=0)
        return similarity * self.temperature.clamp(max=self.clamp_max).exp().to(dtype)


class MixtureOfExperts(nn.Module):
    """Top-k sparse mixture of ``num_experts`` GELU FFN experts ``model_dim -> hidden_dim -> model_dim``.

    ``forward(tokens (N, model_dim), generator=None) -> (N, model_dim)``; after every forward ``aux_loss``
    holds the load / importance loss of that batch (a scalar tensor in the gate's dtype, part of the graph).
    See the module docstring for the exact routing; ``route`` exposes the decisions.
    """

    def __init__(
        self,
        model_dim: int,
        hidden_dim: int,
        num_experts: int = 16,
        top_k: int = 2,
        capacity_factor: float = 1.5,
        gate_noise: float = 1.0,
        gate_dim: int = 256,
        batch_prioritized: bool = True,
    ):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise MogenBenchError(
                f"top_k must be between 1 and the number of experts ({num_experts}), got {top_k}",
                field="top_k",
                fix="use 2 (FineMoGen) or fewer than num_experts",
            )
        if not capacity_factor > 0:
            raise MogenBenchError(
                f"capacity_factor must be > 0, got {capacity_factor}",
                field="capacity_factor",
                fix="use 1.5 (FineMoGen); larger values drop fewer tokens",
            )
        if not gate_noise > 0:
            # tutel asserts the same: the load loss divides by the noise's standard deviation
            raise MogenBenchError(
                f"gate_noise must be > 0 (the load loss is a normal CDF with std gate_noise / experts), "
                f"got {gate_noise}",
                field="gate_noise",
                fix="use 1.0 (FineMoGen)",
            )
        self.model_dim, self.hidden_dim = model_dim, hidden_dim
        self.num_experts, self.top_k = num_experts, top_k
        self.capacity_factor, self.gate_noise = capacity_factor, gate_noise
        self.batch_prioritized = batch_prioritized
        self.gate = CosineTopKGate(model_dim, num_experts, gate_dim)
        # tutel's layout: fc1 as (E, out, in) like nn.Linear.weight, fc2 transposed to (E, in, out)
        self.fc1_weight = nn.Parameter(torch.empty(num_experts, hidden_dim, model_dim))
        self.fc1_bias = nn.Parameter(torch.empty(num_experts, hidden_dim))
        self.fc2_weight = nn.Parameter(torch.empty(num_experts, hidden_dim, model_dim))
        self.fc2_bias = nn.Parameter(torch.empty(num_experts, model_dim))
        self.reset_expert_parameters()
        #: Source of the gate noise when ``forward`` is given none (``None``: torch's global generator).
        self.generator: torch.Generator | None = None
        #: Load / importance loss of the last forward.
        self.aux_loss: Tensor | None = None

    def reset_expert_parameters(self) -> None:
        """Every expert initialised like a fresh ``nn.Linear`` pair (tutel copies ``nn.Linear`` inits too):
        weights and biases uniform in ``+-1/sqrt(fan_in)``."""
        with torch.no_grad():
            for weight, bias, fan_in in (
                (self.fc1_weight, self.fc1_bias, self.model_dim),
                (self.fc2_weight, self.fc2_bias, self.hidden_dim),
            ):
                bound = 1.0 / math.sqrt(fan_in)
                weight.uniform_(-bound, bound)
                bias.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        return (
            f"model_dim={self.model_dim}, hidden_dim={self.hidden_dim}, num_experts={self.num_experts}, "
            f"top_k={self.top_k}, capacity_factor={self.capacity_factor}, gate_noise={self.gate_noise}, "
            f"batch_prioritized={self.batch_prioritized}"
        )

    def capacity(self, num_tokens: int) -> int:
        return expert_capacity(num_tokens, self.num_experts, self.top_k, self.capacity_factor)

    # ----------------------------------------------------------------------------------------------- routing
    def _noise(self, logits: Tensor, generator: torch.Generator | None) -> Tensor:
        generator = generator if generator is not None else self.generator
        if generator is None:
            return torch.randn_like(logits)
        noise = torch.randn(logits.shape, generator=generator, device=generator.device, dtype=logits.dtype)
        return noise.to(logits.device)

    def _locations(self, experts: Tensor, priority: Tensor) -> Tensor:
        """``(N, k)`` slot of every choice (module docstring, step 5), by sorting rather than a token loop."""
        n, k = experts.shape
        order = torch.argsort(priority, descending=True, stable=True) if self.batch_prioritized else None
        ranked = experts if order is None else experts[order]  # choices in priority order
        choice_offset = torch.arange(k, device=experts.device) * self.num_experts
        per_choice = torch.bincount((ranked + choice_offset).flatten(), minlength=k * self.num_experts)
        per_choice = per_choice.view(k, self.num_experts)  # tokens per (choice, expert)
        # a stable sort by expert keeps the priority order inside each expert's group; the rank in the group
        # is the position in the sorted column minus where the group starts
        by_expert = torch.argsort(ranked, dim=0, stable=True)
        group_start = (per_choice.cumsum(dim=1) - per_choice).T  # (E, k)
        sorted_experts = ranked.gather(0, by_expert)
        position = torch.arange(n, device=experts.device)[:, None] - group_start.gather(0, sorted_experts)
        rank = torch.empty_like(position).scatter_(0, by_expert, position)
        # queue behind every token that chose the expert with an earlier choice, kept or not
        rank += (per_choice.cumsum(dim=0) - per_choice).T.gather(0, ranked)
        return rank if order is None else torch.empty_like(rank).index_copy_(0, order, rank)

    def route(self, tokens: Tensor, generator: torch.Generator | None = None) -> Routing:
        """The gate's decisions for ``(N, model_dim)`` tokens (noise in training mode only)."""
        gate_dtype = torch.promote_types(tokens.dtype, torch.float32)
        with torch.autocast(tokens.device.type, enabled=False):
            logits = self.gate(tokens.to(gate_dtype))
            noisy = logits
            if self.training:
                noisy = logits + self.gate_noise * self._noise(logits, generator) / self.num_experts
            top = noisy.softmax(dim=1).topk(self.top_k, dim=1)
            aux_loss = load_importance_loss(logits, noisy.gather(1, top.indices), self.gate_noise)
            weights = top.values
            if self.top_k > 1:
                weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=torch.finfo(weights.dtype).eps)
            locations = self._locations(top.indices, top.values[:, 0].detach())
        capacity = self.capacity(tokens.shape[0])
        kept = locations < capacity
        return Routing(logits, noisy, top.indices, weights, locations, kept, capacity, aux_loss)

    # ----------------------------------------------------------------------------------------------- experts
    def experts(self, buffer: Tensor) -> Tensor:
        """All experts on their ``(E, C, model_dim)`` buffers: two batched products."""
        hidden = F.gelu(torch.baddbmm(self.fc1_bias.unsqueeze(1), buffer, self.fc1_weight.transpose(1, 2)))
        return torch.baddbmm(self.fc2_bias.unsqueeze(1), hidden, self.fc2_weight)

    def forward(self, tokens: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] != self.model_dim:
            raise ValueError(f"expected tokens of shape (N, {self.model_dim}), got {tuple(tokens.shape)}")
        routing = self.route(tokens, generator)
        self.aux_loss = routing.aux_loss
        experts, capacity = self.num_experts, routing.capacity
        # Flat slot per choice; dropped choices write to one extra row past the buffers, which nothing reads.
        slots = torch.where(routing.kept, routing.experts * capacity + routing.locations, experts * capacity)
        buffer = tokens.new_zeros(experts * capacity + 1, self.model_dim)
        for choice in range(self.top_k):
            buffer.index_copy_(0, slots[:, choice], tokens)
        outputs = self.experts(buffer[:-1].view(experts, capacity, self.model_dim)).flatten(0, 1)
        # Gather back: a dropped choice reads row 0 and is zeroed by ``where`` (a 0 weight would give
        # 0 * inf = nan on an overflowing row).
        readable = torch.where(routing.kept, slots, 0)
        result = None
        for choice in range(self.top_k):
            weighted = outputs.index_select(0, readable[:, choice]) * routing.weights[:, choice, None]
            weighted = torch.where(routing.kept[:, choice, None], weighted, 0)
            result = weighted if result is None else result + weighted
        return result.to(tokens.dtype)


class FineMoE(nn.Module):
    """FineMoGen's ``MOE`` wrapper: per-position, per-head embedding, mixture of experts, GELU, projection.

    ``forward(x (B, T, H, input_dim), generator=None, positions=None) -> (B, T, H, output_dim)``:
    ``x + embedding[0, positions]`` is flattened to ``B * T * H`` tokens that are routed together (one
    capacity for the whole batch, as released), then ``proj(gelu(moe(tokens)))``. ``positions`` (``(B, T)``
    or ``(T,)`` indices into the ``max_seq_len`` embeddings) defaults to ``0..T-1``, the released
    ``embedding[:, :T]``; SAMI passes each frame's position inside its stage. ``aux_loss`` is the load /
    importance loss of the last forward. ``gate_dim`` is the width of the cosine gate's projection (tutel's
    fixed 256). In SAMI: ``text_moe = FineMoE(16, 2, 256, 1024, 128, 1, 77)`` and
    ``motion_moe = FineMoE(16, 2, 64, 256, 192, 8, 196)``.
    """

    def __init__(
        self,
        num_experts: int,
        top_k: int,
        input_dim: int,
        ffn_dim: int,
        output_dim: int,
        num_heads: int,
        max_seq_len: int,
        gate_noise: float = 1.0,
        capacity_factor: float = 1.5,
        gate_dim: int = 256,
    ):
        super().__init__()
        self.proj = nn.Linear(input_dim, output_dim)
        self.moe = MixtureOfExperts(
            input_dim,
            ffn_dim,
            num_experts,
            top_k,
            capacity_factor=capacity_factor,
            gate_noise=gate_noise,
            gate_dim=gate_dim,
        )
        self.embedding = nn.Parameter(torch.randn(1, max_seq_len, num_heads, input_dim))
        self.input_dim, self.output_dim = input_dim, output_dim
        self.num_heads, self.max_seq_len = num_heads, max_seq_len

    @property
    def aux_loss(self) -> Tensor | None:
        return self.moe.aux_loss

    @property
    def generator(self) -> torch.Generator | None:
        return self.moe.generator

    @generator.setter
    def generator(self, generator: torch.Generator | None) -> None:
        self.moe.generator = generator

    def forward(
        self, x: Tensor, generator: torch.Generator | None = None, positions: Tensor | None = None
    ) -> Tensor:
        batch, frames, heads, dim = x.shape
        if heads != self.num_heads or dim != self.input_dim:
            raise ValueError(f"expected (B, T, {self.num_heads}, {self.input_dim}), got {tuple(x.shape)}")
        if positions is None and frames > self.max_seq_len:
            raise MogenBenchError(
                f"{frames} positions do not fit the {self.max_seq_len} position embeddings of the experts",
                field="max_seq_len",
                fix=f"crop inputs to {self.max_seq_len} frames or build the model with a larger max_seq_len",
            )
        if positions is None:
            x = x + self.embedding[:, :frames]
        else:
            x = x + self.embedding[0][self._check_positions(positions, batch, frames)]
        y = self.proj(F.gelu(self.moe(x.reshape(-1, dim), generator)))
        return y.reshape(batch, frames, heads, -1)

    def _check_positions(self, positions: Tensor, batch: int, frames: int) -> Tensor:
        """``positions`` as indices into the embeddings: ``(B, T)`` or ``(T,)`` integers in ``[0, L)``."""
        if positions.dtype.is_floating_point or positions.dtype == torch.bool or positions.is_complex():
            raise ValueError(f"positions must be integer indices, got {positions.dtype}")
        if positions.shape not in ((batch, frames), (frames,)):
            raise ValueError(
                f"expected positions of shape ({batch}, {frames}) or ({frames},), "
                f"got {tuple(positions.shape)}"
            )
        # The range check reads the values: free on the CPU, a device sync elsewhere (where an index out of
        # range fails in the gather instead).
        if positions.device.type == "cpu" and positions.numel():
            low, high = int(positions.min()), int(positions.max())
            if low < 0 or high >= self.max_seq_len:
                raise MogenBenchError(
                    f"positions {low}..{high} fall outside the {self.max_seq_len} position embeddings of the "
                    "experts",
                    field="max_seq_len",
                    fix=f"keep positions in 0..{self.max_seq_len - 1} or build the model with a larger "
                    "max_seq_len",
                )
        return positions.to(self.embedding.device)


def use_generator(module: nn.Module, generator: torch.Generator | None) -> None:
    """Draw the gate noise of every ``MixtureOfExperts`` inside ``module`` from ``generator`` (``None``: the
    global generator), e.g. the trainer's generator at the start of ``training_losses``."""
    for layer in module.modules():
        if isinstance(layer, MixtureOfExperts):
            layer.generator = generator
