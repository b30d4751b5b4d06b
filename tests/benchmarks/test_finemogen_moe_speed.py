"""Speed of FineMoGen's motion mixture of experts: the batched layer against the dense reference.

The layer is SAMI's ``motion_moe`` experts at the released size: every (frame, part) token of a batch of 16
motions x 196 frames x 8 part tokens (25,088 tokens of 64 features) routed top-2 over 16 GELU experts
64 -> 256 -> 64, capacity factor 1.5 (4,704 slots per expert), in training mode (gate noise on).

- batched: ``MixtureOfExperts.forward`` (gate, slots, one ``(16, 4704, 64)`` buffer, two batched products,
  weighted gather);
- dense reference: the same routing (``route``), then every expert on every token (two ``einsum`` over all
  16 x 25,088 pairs) and the kept choices picked out, as ``tests/test_finemogen_moe.py`` checks it;
- dense matmul: ``(25,088 x 64) @ (64 x 256)``, a product of the experts' shape, for the machine's practical
  float32 throughput.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products only). The batched
forward computes the expert layers on all ``16 x 4,704 = 75,264`` buffer rows, filled or not (the capacity
factor, 1.5x the ``2 x 25,088`` routed rows): ``2 * 75,264 * 2 * 64 * 256`` = 4.93 GFLOP, plus the gate
(``2 * 25,088 * 256 * (64 + 16)`` = 1.03 GFLOP); the dense reference computes 16 x 25,088 rows (26.3 GFLOP in
experts) plus the same gate. "Useful" FLOPs are the routed rows' expert work,
``2 * 25,088 * 2 * 2 * 64 * 256`` = 3.29 GFLOP, the same for both.

The default size is small (2 motions x 16 frames x 8 parts = 256 tokens) so that the file runs in a few
seconds as plain tests; the released size::

    python -m pytest tests/benchmarks/test_finemogen_moe_speed.py --benchmark-enable
    MOGEN_BENCH_MOE_FULL=1 python -m pytest tests/benchmarks/test_finemogen_moe_speed.py -s -k efficiency

Measured on the 2-core development machine (torch 2.15 CPU, one torch thread, released size, float32,
fastest of 3 after a warm-up) while other jobs kept its load average at 6-9, so every figure is slower
than on an idle machine and noisy by ~20 %; the ratios were taken in the same conditions:

- batched: forward 714 ms, forward + backward 1,377 ms;
- dense reference: forward 4,193 ms, forward + backward 11,977 ms;
- batched / dense: 5.9x faster forward, 8.7x forward + backward;
- dense matmul (25,088 x 64) @ (64 x 256): 27.0 GFLOP/s;
- achieved / dense matmul, forward: batched 0.31 (counted 5.96 GFLOP), dense reference 0.24 (27.3 GFLOP);
  useful FLOPs only (3.29 GFLOP): batched 0.17, dense reference 0.03.

With torch's default of two threads on the busy machine everything was slower (batched forward 1.9 s,
dense matmul 12.9 GFLOP/s). Where the batched forward goes (``torch.profiler``, one thread): the two
batched products about 35 % (``baddbmm`` first copies the broadcast bias into its output), the exact GELU
on the ``16 x 4,704 x 256`` hidden buffer about 20 %, the gate (projection, two normalisations, softmax)
about 15 %, slots, scatter and gather the rest. The buffer's empty slots (a third of it at factor 1.5)
cost as much as filled ones, as in tutel.
"""

from __future__ import annotations

import math
import os
import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from finemogen.moe import MixtureOfExperts
from tests.benchmarks.timing import pinned_threads
from tests.test_finemogen_moe import dense_reference

FULL = os.environ.get("MOGEN_BENCH_MOE_FULL") == "1"
BATCH, FRAMES, PARTS = (16, 196, 8) if FULL else (2, 16, 8)
TOKENS, DIM, HIDDEN, EXPERTS, TOP_K = BATCH * FRAMES * PARTS, 64, 256, 16, 2
THREADS = int(os.environ.get("MOGEN_BENCH_MOE_THREADS", "1"))
REPEATS = 3 if FULL else 1


threads = pinned_threads(THREADS)


@pytest.fixture(scope="module")
def layer() -> MixtureOfExperts:
    torch.manual_seed(0)
    return MixtureOfExperts(DIM, HIDDEN, EXPERTS, TOP_K).train()


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    return torch.randn(TOKENS, DIM, generator=torch.Generator().manual_seed(1))


def batched(layer, x):
    return layer(x, torch.Generator().manual_seed(2))


def dense(layer, x):
    routing = layer.route(x, torch.Generator().manual_seed(2))
    layer.aux_loss = routing.aux_loss
    decisions = {"experts": routing.experts, "weights": routing.weights, "kept": routing.kept}
    return dense_reference(layer, x, decisions)


def with_backward(function):
    def run(layer, x):
        out = function(layer, x)
        (out.square().mean() + layer.aux_loss).backward()
        layer.zero_grad(set_to_none=True)
        return out

    return run


def count_flops(function, *args) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        function(*args)
    return counter.get_total_flops()


def fastest(function, *args, repeats: int = REPEATS) -> float:
    """Seconds of the fastest of ``repeats`` calls after one warm-up call."""
    function(*args)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def test_the_two_paths_agree(layer, tokens):
    y = batched(layer, tokens)
    routing = layer.route(tokens, torch.Generator().manual_seed(2))
    assert routing.capacity == TOP_K * int(1.5 * math.ceil(TOKENS / EXPERTS))
    torch.testing.assert_close(y, dense(layer, tokens), rtol=0, atol=1e-5)


def test_counted_flops(layer, tokens):
    capacity = layer.capacity(TOKENS)
    gate = 2 * TOKENS * 256 * (DIM + EXPERTS)
    experts = 2 * 2 * DIM * HIDDEN
    assert count_flops(batched, layer, tokens) == EXPERTS * capacity * experts + gate
    assert count_flops(dense, layer, tokens) == EXPERTS * TOKENS * experts + gate
    if FULL:
        assert capacity == 4_704


@pytest.mark.parametrize("path", ["batched", "dense"])
@pytest.mark.parametrize("backward", [False, True])
def test_moe(benchmark, layer, tokens, path, backward):
    function = batched if path == "batched" else dense
    function = with_backward(function) if backward else function
    out = benchmark.pedantic(function, args=(layer, tokens), rounds=REPEATS)
    assert out.shape == (TOKENS, DIM) and torch.isfinite(out).all()


def test_dense_matmul(benchmark):
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(TOKENS, DIM, generator=generator), torch.randn(DIM, HIDDEN, generator=generator)
    out = benchmark(torch.mm, a, b)
    torch.testing.assert_close(out[:4], a[:4].double().mm(b.double()).float(), rtol=1e-4, atol=1e-3)


def test_flop_efficiency(layer, tokens):
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(TOKENS, DIM, generator=generator), torch.randn(DIM, HIDDEN, generator=generator)
    peak = 2 * TOKENS * DIM * HIDDEN / fastest(torch.mm, a, b, repeats=10)
    useful = TOKENS * TOP_K * 2 * 2 * DIM * HIDDEN
    seconds, flops = {}, {}
    for name, function in (("batched", batched), ("dense", dense)):
        flops[name] = count_flops(function, layer, tokens)
        seconds[name] = fastest(function, layer, tokens)
        seconds[name + " fwd+bwd"] = fastest(with_backward(function), layer, tokens)
    print(
        f"\nmotion MoE, {TOKENS} tokens ({BATCH} x {FRAMES} x {PARTS}) of {DIM}, "
        f"{EXPERTS} experts x {HIDDEN}, "
        f"top-{TOP_K}, capacity {layer.capacity(TOKENS)}, {torch.get_num_threads()} torch threads"
        f"\n  batched: forward {1e3 * seconds['batched']:.1f} ms, "
        f"forward + backward {1e3 * seconds['batched fwd+bwd']:.1f} ms"
        f"\n  dense reference: forward {1e3 * seconds['dense']:.1f} ms, "
        f"forward + backward {1e3 * seconds['dense fwd+bwd']:.1f} ms"
        f"\n  batched / dense: {seconds['dense'] / seconds['batched']:.2f}x forward, "
        f"{seconds['dense fwd+bwd'] / seconds['batched fwd+bwd']:.2f}x forward + backward"
        f"\n  dense matmul ({TOKENS} x {DIM}) @ ({DIM} x {HIDDEN}): {peak / 1e9:.1f} GFLOP/s"
        f"\n  achieved / dense matmul, counted: batched {flops['batched'] / seconds['batched'] / peak:.2f}, "
        f"dense {flops['dense'] / seconds['dense'] / peak:.2f}; useful only: batched "
        f"{useful / seconds['batched'] / peak:.2f}, dense {useful / seconds['dense'] / peak:.2f}"
        f"\n  counted GFLOP: batched {flops['batched'] / 1e9:.2f}, dense {flops['dense'] / 1e9:.2f}, "
        f"useful {useful / 1e9:.2f}"
    )
    assert all(math.isfinite(s) and s > 0 for s in seconds.values())
