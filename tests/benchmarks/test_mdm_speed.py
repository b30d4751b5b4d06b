"""Speed of MDM at its paper size on the CPU: training steps per second, sampling time, and FLOP efficiency.

The network is the paper's (``MDMConfig`` defaults: 8 encoder layers, 512 wide, 4 heads, feed-forward 1024;
18.8 M parameters with the learned word encoder over this file's small vocabulary) on HumanML3D's 263
features. Texts go through the ``learned`` encoder, so nothing downloads; it is trained with the model, so
its (small) cost is part of a training step. With CLIP the text features are cached on disk per text, so
CLIP time is left out, as in practice.

- Training: one full optimiser step as the trainer takes it (``zero_grad``, ``model(batch, generator)``,
  ``backward``, AdamW ``step``) on a ``collate_motions`` batch padded to the longest motion.
- Sampling: ``model.generate(texts, lengths, seed)`` with 50 DDIM steps and guidance 2.5, i.e. 50 calls of
  the network on the doubled (conditional + unconditional) batch.
- Efficiency: the FLOPs of a training step and of a guided forward, divided by their CPU time, against a
  dense float32 matmul of the size of the feed-forward layers, ``(B * (T + 1), 512) @ (512, 1024)``, on the
  same machine (the practical limit).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products only: ``mm``,
``addmm``, ``bmm`` and the SDPA kernels at ``2 * m * n * k``; element-wise work, softmax, layer norms and
the optimiser count nothing). For one motion of ``T`` frames (``N = T + 1`` tokens with the condition
token), ``D`` features, width ``d``, feed-forward ``f``, ``L`` layers and text width ``C`` the forward is::

    2*T*D*d + 2*T*d*D          input and output projections
    + 2*(2*d*d) + 2*C*d        timestep MLP and text projection (one token)
    + L * (N * 2*(4*d*d + 2*d*f)  +  2*2*N*N*d)
           Q, K, V, out, FF           Q K^T and A V over all heads

(7.35 GFLOP per motion at T = 196; ``test_counted_forward_matches_the_formula`` checks the count against
it). A training step is forward + backward: ``3 * (forward + text encoder forward) - 2*T*D*d - 2*d*d``,
since the backward computes the gradients of every product's weight and input except the inputs of the
motion projection and the timestep MLP, which need none (1.42 TFLOP at batch 64 x 196; counted and checked
against this, not estimated). In eval mode under ``no_grad`` torch runs each encoder layer as one fused kernel
(``_transformer_encoder_layer_fwd``) that the counter cannot see inside, so the forward is counted in
train mode, which does the same products (dropout costs no FLOPs).

The default sizes are small (batch 4 x 16 frames for training, 2 x 16 frames and 10 DDIM steps for
sampling) so that the file also runs as quick plain tests (about 10 s of wall time on the shared machine
below, ~2 s of it the one-time import of ``torch._dynamo`` that ``FlopCounterMode`` triggers); the
published sizes (training batch 64 x 196 frames, sampling 32 x 196 frames and 50 steps) took 15 minutes::

    python -m pytest tests/benchmarks/test_mdm_speed.py --benchmark-enable
    MOGEN_BENCH_MDM_FULL=1 python -m pytest tests/benchmarks/test_mdm_speed.py --benchmark-enable -s

torch runs on one thread unless ``MOGEN_BENCH_MDM_THREADS`` says otherwise (see ``THREADS``). Wall times
are what a user waits; CPU times (``time.process_time``, all the process's threads) are what a free core
gives, and the efficiency ratios use them on both sides, so that the short matmul and the long model steps
are not compared under different shares of a busy machine.

Measured on the 2-core development machine (torch 2.15 CPU build with MKL; 18.8 M parameters) while other
jobs kept its load average at 4-9, one torch thread, published sizes, fastest of two after a warm-up:

- training, batch 64 x 196: 1.42 TFLOP per step; wall 41.5-45.2 s per step (0.022-0.024 steps/s), CPU
  22.3-24.9 s (0.040-0.045 steps/s on a free core): 57-64 GFLOP per CPU second;
- sampling, 32 x 196, 50 DDIM steps, guidance 2.5 (23.5 TFLOP): wall 525 s, CPU 335 s per batch, 70 GFLOP
  per CPU second (one guided forward on the doubled batch: wall 14.0 s, CPU 6.5 s, 72.5);
- dense matmul (12,608 x 512) @ (512 x 1,024): 92 GFLOP per CPU second (90 per wall second);
- achieved / dense matmul: training 0.69 (0.62 with the benchmark's own step), sampling 0.79 (0.76 over
  the whole 50-step batch).

Both cores (``MOGEN_BENCH_MDM_THREADS=2``, same load): training step wall 57.6 s, CPU 28.5 s; guided forward
wall 12.0 s, CPU 7.9 s; dense matmul 88 GFLOP per CPU second (54 per wall second); ratios 0.57 (training)
and 0.68 (sampling): the second thread bought little while the neighbours held the other core.

Where the rest goes (``torch.profiler``, one thread): in a training step at batch 16 x 196 the matrix
products take 74 % of the time and the dropout masks (``bernoulli_``) 10 %; in the fused eval forward the
products take 79 %, the masked softmax 10 % and splitting Q, K, V 6 %.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from annotation.parts import TEXT_FIELDS
from baselines.mdm.model import MDM, MDMConfig
from mogen_bench.data.torch_dataset import collate_motions
from mogen_bench.models.base import ModelContext
from mogen_bench.text.learned import build_vocabulary
from mogen_bench.training.config import TrainConfig
from mogen_bench.training.optim import build_optimizer
from tests.benchmarks.timing import Recorded, count_flops, fastest, pinned_threads

FULL = os.environ.get("MOGEN_BENCH_MDM_FULL") == "1"
DIMS, MAX_FRAMES, FPS = 263, 196, 20.0  # HumanML3D
TRAIN_BATCH, SAMPLE_BATCH, FRAMES, SAMPLE_STEPS = (64, 32, 196, 50) if FULL else (4, 2, 16, 10)
#: torch threads for the whole file (restored afterwards). One by default: on a shared machine, two OpenMP
#: threads wait on each other at every element-wise op whenever a neighbour preempts one of them (AdamW's
#: step ran ~50x slower on 2 threads than on 1 here while other jobs ran).
THREADS = int(os.environ.get("MOGEN_BENCH_MDM_THREADS", "1"))
#: Timed repeats after one warm-up (the fastest is kept: other jobs on a shared machine only add time).
REPEATS = 2 if FULL else 1

CAPTIONS = [
    "a person walks forward and then turns to the left",
    "someone jumps up twice with both arms raised",
    "a man waves his right hand slowly",
    "the person kicks with the left leg and steps back",
    "a person sits down on a chair and stands up again",
    "someone runs in a circle counterclockwise",
]


def mdm_forward_flops(config: MDMConfig, frames: int, dims: int = DIMS, text_dim: int | None = None) -> int:
    """Matrix-product FLOPs of one MDM forward for one motion (the formula of the module docstring)."""
    d, f, tokens = config.latent_dim, config.ff_dim, frames + 1
    text_dim = config.learned_dim if text_dim is None else text_dim
    projections = 2 * frames * dims * d * 2
    condition = 2 * 2 * d * d + 2 * text_dim * d
    layer = tokens * 2 * (4 * d * d + 2 * d * f) + 2 * 2 * tokens * tokens * d
    return projections + condition + config.layers * layer


def make_batch(count: int, frames: int, seed: int = 0) -> dict:
    """``count`` random motions of 40..``frames`` frames as ``collate_motions`` pads them to ``frames``."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min(40, frames), frames + 1, count)
    lengths[0] = frames
    items = []
    for i, length in enumerate(lengths.tolist()):
        caption = CAPTIONS[i % len(CAPTIONS)]
        stage = {**dict.fromkeys(TEXT_FIELDS), "tokens": None, "start_frame": 0, "end_frame": length}
        items.append(
            {
                "index": i,
                "motion_id": f"m{i:05d}",
                "features": rng.standard_normal((length, DIMS), dtype=np.float32),
                "length": length,
                "crop_start": 0,
                "caption": caption,
                "tokens": None,
                "stages": [{**stage, "overall": caption}],
            }
        )
    return collate_motions(items, pad_to=frames)


class TrainingStep:
    """One optimiser step of the trainer's loop (fp32 on CPU, no accumulation or clipping)."""

    def __init__(self, model: MDM, batch: dict):
        self.model, self.batch = model, batch
        self.optimizer = build_optimizer(model, TrainConfig(batch_size=len(batch["lengths"])))
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self) -> dict:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.model(self.batch, self.generator)
        losses["loss"].backward()
        self.optimizer.step()
        return losses


threads = pinned_threads(THREADS)


@pytest.fixture(scope="module")
def model() -> MDM:
    vocabulary = build_vocabulary(CAPTIONS).words
    context = ModelContext("humanml3d-263", DIMS, FPS, MAX_FRAMES, vocabulary=list(vocabulary))
    torch.manual_seed(0)
    return MDM(MDMConfig(sampling_steps=f"ddim{SAMPLE_STEPS}"), context)


@pytest.fixture(scope="module")
def training_step(model) -> TrainingStep:
    return TrainingStep(model, make_batch(TRAIN_BATCH, FRAMES))


@pytest.fixture(scope="module")
def per_motion_flops(model) -> dict[str, int]:
    """Counted FLOPs per motion at ``FRAMES`` frames: the network's forward, the text encoder's forward and
    one training pass (both forwards and the backward)."""
    one = make_batch(1, FRAMES)
    x = torch.zeros(1, FRAMES, DIMS)
    t = torch.tensor([500])
    mask = torch.ones(1, FRAMES, dtype=torch.bool)
    keep = torch.zeros(1, dtype=torch.bool)
    model.train()
    with torch.no_grad():
        condition = model.encode_texts(CAPTIONS[:1])
        forward = count_flops(model.denoise, x, t, condition, mask, keep)
        text = count_flops(model.text_encoder, CAPTIONS[:1])

    def train_pass():
        model(one, torch.Generator().manual_seed(0))["loss"].backward()

    training = count_flops(train_pass)
    model.zero_grad(set_to_none=True)
    return {"forward": forward, "text": text, "training": training}


# --------------------------------------------------------------------------- FLOP counting
def test_counted_forward_matches_the_formula(model, per_motion_flops):
    assert per_motion_flops["forward"] == mdm_forward_flops(model.config, FRAMES)
    # paper size at 196 frames: 7.35 GFLOP per motion
    assert mdm_forward_flops(MDMConfig(), 196) == 7_352_950_784


def test_flops_grow_linearly_with_the_batch(model, per_motion_flops):
    """Every layer is per motion (the text encoder pads to a fixed length), so per-motion counts scale."""
    two = make_batch(2, FRAMES)

    def train_pass():
        model(two, torch.Generator().manual_seed(0))["loss"].backward()

    assert count_flops(train_pass) == 2 * per_motion_flops["training"]
    model.zero_grad(set_to_none=True)


def test_training_is_three_forwards_less_the_input_gradients(model, per_motion_flops):
    """The backward of every product computes its weight and input gradients (2x its forward), except the
    input gradients of the first products, whose inputs need none: the motion (``2*T*D*d``) and the
    timestep's sinusoidal row (``2*d*d``). The text encoder is trained too, so its forward counts thrice."""
    d = model.config.latent_dim
    forwards = per_motion_flops["forward"] + per_motion_flops["text"]
    no_input_gradient = 2 * FRAMES * DIMS * d + 2 * d * d
    assert per_motion_flops["training"] == 3 * forwards - no_input_gradient


# --------------------------------------------------------------------------- benchmarks
def test_training_step(benchmark, model, training_step, per_motion_flops):
    step = training_step
    recorded = Recorded(step)
    losses = benchmark.pedantic(recorded, rounds=REPEATS, iterations=1, warmup_rounds=1)
    wall, cpu = recorded.fewest()
    flops = TRAIN_BATCH * per_motion_flops["training"]
    print(
        f"\ntraining step, batch {TRAIN_BATCH} x {FRAMES}, {THREADS} thread(s): wall {wall:.3f} s "
        f"({1 / wall:.3f} steps/s), CPU {cpu:.3f} s; {flops / 1e12:.3f} TFLOP, {flops / cpu / 1e9:.1f} GFLOP "
        "per CPU second"
    )
    assert torch.isfinite(losses["loss"]) and losses["loss"] > 0
    assert step.batch["features"].shape == (TRAIN_BATCH, FRAMES, DIMS)
    # the whole model, text encoder included, is trained by the step
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_sampling(benchmark, model, per_motion_flops, monkeypatch):
    calls = []
    denoise = model.denoise

    def recorded(x_t, t, condition, frame_mask, drop):
        calls.append((x_t.shape[0], int(t[0]), drop.tolist()))
        return denoise(x_t, t, condition, frame_mask, drop)

    monkeypatch.setattr(model, "denoise", recorded)
    texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(SAMPLE_BATCH)]

    def sample():
        calls.clear()
        return model.generate(texts, [FRAMES] * SAMPLE_BATCH, seed=0)

    timed_sample = Recorded(sample)
    result = benchmark.pedantic(timed_sample, rounds=1, iterations=1)
    wall, cpu = timed_sample.fewest()
    flops = SAMPLE_STEPS * 2 * SAMPLE_BATCH * per_motion_flops["forward"]
    print(
        f"\nsampling, {SAMPLE_BATCH} x {FRAMES}, {SAMPLE_STEPS} DDIM steps, guidance "
        f"{model.config.guidance}, {THREADS} thread(s): wall {wall:.2f} s, CPU {cpu:.2f} s per batch; "
        f"{flops / 1e12:.2f} TFLOP, {flops / cpu / 1e9:.1f} GFLOP per CPU second"
    )
    assert result.features.shape == (SAMPLE_BATCH, FRAMES, DIMS)
    assert torch.isfinite(result.features).all()
    # one call per respaced timestep, from the noisiest down, each on the doubled batch: the conditional,
    # then the unconditional half
    assert [t for _, t, _ in calls] == model.sampling_diffusion.timestep_map[::-1].tolist()
    assert len(calls) == SAMPLE_STEPS
    assert all(size == 2 * SAMPLE_BATCH for size, _, _ in calls)
    assert calls[0][2] == [False] * SAMPLE_BATCH + [True] * SAMPLE_BATCH


def dense_operands(tokens: int, width: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(tokens, width, generator=generator), torch.randn(width, hidden, generator=generator)


def test_dense_matmul(benchmark, model):
    a, b = dense_operands(TRAIN_BATCH * (FRAMES + 1), model.config.latent_dim, model.config.ff_dim)
    out = benchmark(torch.mm, a, b)
    torch.testing.assert_close(out[:4], a[:4].double().mm(b.double()).float(), rtol=1e-4, atol=1e-3)


def test_flop_efficiency(model, training_step, per_motion_flops):
    """Achieved FLOPs per second of training and sampling against a dense matmul of the feed-forward's size.

    Per CPU second of this process, not per wall second: with the machine shared, wall time also measures
    the neighbours, and the short matmul and the long model steps would see different shares of them.
    """
    config, step = model.config, training_step
    a, b = dense_operands(TRAIN_BATCH * (FRAMES + 1), config.latent_dim, config.ff_dim)
    matmul_flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]

    def matmul_seconds() -> tuple[float, float]:
        return fastest(lambda: torch.mm(a, b), repeats=10)

    matmul = [matmul_seconds()]
    step_wall, step_cpu = fastest(step, REPEATS)
    step_flops = TRAIN_BATCH * per_motion_flops["training"]
    matmul.append(matmul_seconds())

    # Sampling is SAMPLE_STEPS guided forwards (eval mode, no_grad: the fused path generate takes); the
    # sampler's own arithmetic and the one text encoding per batch are negligible.
    doubled = 2 * SAMPLE_BATCH
    x = torch.randn(doubled, FRAMES, DIMS)
    t = torch.full((doubled,), 500)
    mask = torch.ones(doubled, FRAMES, dtype=torch.bool)
    drop = torch.arange(doubled) >= SAMPLE_BATCH
    model.eval()
    with torch.no_grad():
        condition = model.encode_texts([CAPTIONS[i % len(CAPTIONS)] for i in range(doubled)])
        forward_wall, forward_cpu = fastest(lambda: model.denoise(x, t, condition, mask, drop), REPEATS)
    model.train()
    forward_flops = doubled * per_motion_flops["forward"]
    matmul.append(matmul_seconds())

    matmul_wall, matmul_cpu = min(w for w, _ in matmul), min(c for _, c in matmul)
    peak = matmul_flops / matmul_cpu
    training, sampling = step_flops / step_cpu, forward_flops / forward_cpu
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"\nMDM {config.layers} x {config.latent_dim} ({parameters / 1e6:.1f} M parameters), "
        f"{torch.get_num_threads()} torch thread(s); GFLOP per CPU second (per wall second)"
        f"\n  training step, batch {TRAIN_BATCH} x {FRAMES}: wall {step_wall:.3f} s, CPU {step_cpu:.3f} s, "
        f"{step_flops / 1e12:.3f} TFLOP: {training / 1e9:.1f} ({step_flops / step_wall / 1e9:.1f})"
        f"\n  sampling forward, {SAMPLE_BATCH} x 2 x {FRAMES}: wall {forward_wall:.3f} s, CPU "
        f"{forward_cpu:.3f} s: {sampling / 1e9:.1f} ({forward_flops / forward_wall / 1e9:.1f}); "
        f"{SAMPLE_STEPS} steps ~ {SAMPLE_STEPS * forward_wall:.1f} s wall"
        f"\n  dense matmul ({a.shape[0]} x {a.shape[1]}) @ ({b.shape[0]} x {b.shape[1]}): "
        f"{peak / 1e9:.1f} ({matmul_flops / matmul_wall / 1e9:.1f})"
        f"\n  achieved / dense matmul: training {training / peak:.2f}, sampling {sampling / peak:.2f}"
    )
    assert step_flops > 0 and forward_flops > 0 and all(map(math.isfinite, (training, sampling, peak)))
