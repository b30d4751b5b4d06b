"""Speed of FineMoGen at the released size on the CPU: forward + backward, 50-step sampling, FLOP efficiency.

The network is the ``paper`` preset (the released configuration: 8 part tokens x 64, 4 SAMI + part-wise FFN
layers, timestep embedding 2048, mixtures of 16 experts top-2 at capacity 1.5, texts as 77 CLIP tokens of
512 projected to 256 and through 2 transformer layers, padding not masked; 65.4 M trainable parameters)
on HumanML3D's 263 features. CLIP itself is left out: a stand-in with CLIP's interface (77 x 512 tokens,
frozen) hands out token features computed once per text, as the on-disk text cache does in practice, so
the timings hold the trainable network only (the text adapter included).

- Forward + backward: ``model(batch, generator)`` (the trainer's call: condition dropout, the masked x0
  loss, the routing and template losses) and ``backward`` on a ``collate_motions`` batch of 196-frame
  motions, one caption each, as in the released HumanML3D training (no optimiser step).
- Sampling: ``model.generate(texts, lengths, seed)`` with the preset's DDIM over ``15,15,8,6,6`` (50 steps)
  and guidance ``w = 1 + 6.5 t / 1000``: 50 calls of the network on the doubled (conditional +
  unconditional) batch, which shares one encoding of the texts.
- Efficiency: FLOPs per CPU second of both against a dense float32 matmul ``(B * T, 512) @ (512, 1024)``
  (the MDM benchmark's shape; 512 is FineMoGen's frame width) on the same machine.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products only). With ``D`` the
part width, ``P = 8`` tokens, ``W = 8 D``, ``E_t`` the timestep width, ``C`` the text width (``C_in`` the
encoder's), ``L = 77`` text tokens, ``F`` / ``F_t`` the motion / text expert (and template) hidden widths,
``E`` experts, ``G = 256`` the gate's projection, ``cap(n) = 2 * int(1.5 * ceil(n / E))`` slots per expert,
a batch of ``B`` motions of ``T`` frames with ``S`` stages and ``N`` distinct texts has the forward::

    2*B*T*D*2*dims * 2 + 2*B*(W*E_t + E_t^2)            pose encoder and decoder, timestep MLP
    + 2*N*L*C_in*C + 2 * (2*N*L*(4*C^2 + 2*C*2048) + 4*N*L^2*C)   text adapter (training forward only)
    + 4 * [ 2*n_t*(C*G + G*E + 2*C*D) + 2*E*cap(n_t)*2*C*F_t       text experts,   n_t = N*L
          + 2*n_m*(D*G + G*E + 3*D^2) + 2*E*cap(n_m)*2*D*F         motion experts, n_m = B*T*P
          + 2*B*T*P*(P*D + 4*S*D^2 + 4*D + 2*D*F) + 2*B*S*P*D*(D*(L + T) + 9*D*F + F)
          + 2 * (4*B*E_t*W + 2*B*T*W^2) ]                          spatial mixing, templates and
                                                                   read-out, part FFN, stylisations

(``paper_forward_flops``, checked against the counter for one-stage and staged batches). At batch 16 x 196
with one caption each that is 84.9 GFLOP; the training pass is three forwards, less the input gradients of
the first products (the motion, the sinusoidal timestep row, the frozen CLIP tokens, the time powers of the
read-out) and plus half the text transformer's attention (the counter charges its backward 2.5x): 254.0
GFLOP. A guided sampling step is the forward of the doubled batch on the shared text bank, without the
adapter: 139.3 GFLOP at 16 x 196, 6.97 TFLOP over 50 steps. The text side is what grows with fine-grained
annotations: with two stages of eight texts each (overall + seven parts, all distinct) per motion the
training forward at 16 x 196 is 451.4 GFLOP, 5.3x the one-caption batch, since every text is 77 tokens
through the text experts and the adapter.

The default sizes are small (2 motions x 16 frames for forward + backward, 1 motion and the same sections
scaled to 10 DDIM steps, ``3,3,2,1,1``, for sampling) so that the file also runs as plain tests: 12 s of
wall time with the shared machine quiet, 17-22 s under load, about 5 s of it building the 65 M-parameter
model and importing ``torch._dynamo`` (which ``FlopCounterMode`` triggers). The released sizes (batch
16 x 196, 50 steps; 5 minutes)::

    python -m pytest tests/benchmarks/test_finemogen_speed.py --benchmark-enable
    MOGEN_BENCH_FINEMOGEN_FULL=1 python -m pytest tests/benchmarks/test_finemogen_speed.py \\
        --benchmark-enable -s

torch runs on one thread unless ``MOGEN_BENCH_FINEMOGEN_THREADS`` says otherwise. Wall times are what a
user waits; CPU times (``time.process_time``, all the process's threads) are what a free core gives, and
the efficiency ratios use them on both sides, so that the short matmul and the long model steps are not
compared under different shares of a busy machine.

Measured on the 2-core development machine (torch 2.15 CPU build with MKL; 65.4 M trainable parameters),
one torch thread, released sizes, fastest of two after a warm-up. The machine is shared: in the first
full run other jobs kept its load average at 3-6, in the second at 1.5-2.5, so wall times are longer than
on an idle machine and noisy by ~20 %; CPU times moved less. First run / second run:

- forward + backward, batch 16 x 196 (254.0 GFLOP): wall 9.0 / 6.6 s in the benchmark's rounds and
  6.0 / 6.1 s in the efficiency test, CPU 5.9-6.0 / 5.8-6.5 s: 39-44 GFLOP per CPU second;
- sampling, 16 x 196, 50 DDIM steps with guidance (6.97 TFLOP): wall 223 / 179 s, CPU 171 / 177 s per
  batch: 40.8 / 39.4 GFLOP per CPU second (one guided step on the doubled batch: wall 3.5 s, CPU 3.47 s,
  40.1 / 40.2);
- dense matmul (3,136 x 512) @ (512 x 1,024): 91.3 / 93.2 GFLOP per CPU second (as many per wall second);
- achieved / dense matmul: forward + backward 0.47 / 0.47, sampling 0.44 / 0.43.

With the load at about 1, the efficiency test alone: one thread, forward + backward wall 5.7 s (44.8 GFLOP
per CPU second), guided step wall 3.3 s (42.2), dense matmul 92.0, ratios 0.49 and 0.46; two threads
(``MOGEN_BENCH_FINEMOGEN_THREADS=2``), forward + backward wall 3.6 s (CPU 7.1 s), guided step wall 1.74 s
(CPU 3.46 s; 50 steps ~ 87 s), dense matmul 94.8 per CPU second (180 per wall second), ratios 0.38 and
0.42: with a free second core the wall time halves.

Where the rest goes (``torch.profiler``, one thread, released sizes): in forward + backward the matrix
products take 61 % of the time (so they run at about 0.77 of the dense matmul's rate: 0.47 / 0.61), the
exact GELU and its backward 12 % (mostly on the experts' hidden buffers, whose empty capacity slots cost
as much as filled ones) and copies 7 % (``baddbmm`` first copies the broadcast bias into its output; the
experts' buffers are scattered and gathered); in a guided step the products take 52 %, the GELU 18 % and
copies 13 %.
"""

from __future__ import annotations

import math
import os
import zlib
from unittest import mock

import numpy as np
import pytest
import torch

from annotation.parts import PARTS, TEXT_FIELDS
from finemogen.config import FineMoGenConfig
from finemogen.model import FineMoGen
from mogen_bench.data.torch_dataset import collate_motions
from mogen_bench.diffusion import space_timesteps
from mogen_bench.models.base import ModelContext
from mogen_bench.models.conditions import as_requests
from mogen_bench.models.diffusion_model import repeat_twice
from mogen_bench.models.registry import load_preset
from mogen_bench.text.features import TextEncoder, TextFeatures
from tests.benchmarks.timing import Recorded, count_flops, fastest, pinned_threads

FULL = os.environ.get("MOGEN_BENCH_FINEMOGEN_FULL") == "1"
DIMS, MAX_FRAMES, FPS = 263, 196, 20.0  # HumanML3D
BATCH, SAMPLE_BATCH, FRAMES = (16, 16, 196) if FULL else (2, 1, 16)
#: The preset's sections, or the same shape at a fifth of the steps for the quick default.
SAMPLING_STEPS = "15,15,8,6,6" if FULL else "3,3,2,1,1"
THREADS = int(os.environ.get("MOGEN_BENCH_FINEMOGEN_THREADS", "1"))
#: Timed repeats after one warm-up (the fastest is kept: other jobs on a shared machine only add time).
REPEATS = 2 if FULL else 1
#: Sizes at which FLOPs are counted (always small: the counts check the formula, which scales).
COUNT_BATCH, COUNT_FRAMES = 2, 16


class CachedClip(TextEncoder):
    """CLIP's interface (frozen, 77 tokens of 512) handing out fixed token features per text, as the text
    cache does: CLIP's own cost is not part of what this file measures."""

    name = "clip"
    trainable = False

    def __init__(self):
        super().__init__()
        self.dim, self.max_tokens = 512, 77
        self.cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def features(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        if text not in self.cache:
            generator = torch.Generator().manual_seed(zlib.crc32(text.encode()))
            mask = torch.arange(self.max_tokens) < len(text.split()) + 2  # start, words, end
            self.cache[text] = (torch.randn(self.max_tokens, self.dim, generator=generator), mask)
        return self.cache[text]

    def forward(self, texts):
        tokens, masks = zip(*(self.features(text) for text in texts), strict=True)
        tokens = torch.stack(tokens)
        return TextFeatures(tokens, torch.stack(masks), tokens[:, 0])


def paper_config(**changes) -> FineMoGenConfig:
    return FineMoGenConfig(**{**load_preset(FineMoGen, "paper")["model"], **changes})


def build_model(sampling_steps: str = SAMPLING_STEPS) -> FineMoGen:
    """The paper preset over ``CachedClip``, its zero-initialised layers (decoder, stylisation outputs)
    filled at random as training would leave them, so the network computes on non-trivial values."""
    torch.manual_seed(0)
    with mock.patch("finemogen.model.build_model_text_encoder", lambda *_: CachedClip()):
        config = paper_config(sampling_steps=sampling_steps)
        model = FineMoGen(config, ModelContext("humanml3d-263", DIMS, FPS, MAX_FRAMES))
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.02)
    return model


def expert_capacity(tokens: int, config: FineMoGenConfig) -> int:
    return config.top_k * int(config.capacity_factor * math.ceil(tokens / config.num_experts))


def adapter_flops(config: FineMoGenConfig, texts: int, encoder_dim: int = 512, text_tokens: int = 77) -> int:
    """The text adapter over a frozen encoder: the projection and the transformer layers."""
    c, n = config.text_latent_dim, texts * text_tokens
    layer = 2 * n * (4 * c * c + 2 * c * config.text_ff_dim) + 4 * texts * text_tokens**2 * c
    return 2 * n * encoder_dim * c + config.text_layers * layer


def paper_forward_flops(
    config: FineMoGenConfig,
    batch: int,
    frames: int,
    stages: int,
    texts: int,
    adapter: bool = True,
    dims: int = DIMS,
    text_tokens: int = 77,
    gate_dim: int = 256,
) -> int:
    """Matrix-product FLOPs of one forward (the formula of the module docstring). ``adapter``: the text
    adapter runs in it (training); a sampling step reuses the encoded texts."""
    d, parts, time_dim, width = config.part_dim, 8, config.time_embed_dim, 8 * config.part_dim
    c, f, f_text, experts = config.text_latent_dim, config.ffn_dim, config.text_ffn_dim, config.num_experts
    text_rows, motion_rows = texts * text_tokens, batch * frames * parts
    total = 2 * 2 * batch * frames * d * 2 * dims + 2 * batch * (width * time_dim + time_dim * time_dim)
    if adapter:
        total += adapter_flops(config, texts, text_tokens=text_tokens)
    layer = (
        2 * text_rows * (c * gate_dim + gate_dim * experts + 2 * c * d)
        + 2 * experts * expert_capacity(text_rows, config) * 2 * c * f_text
        + 2 * motion_rows * (d * gate_dim + gate_dim * experts + 3 * d * d)
        + 2 * experts * expert_capacity(motion_rows, config) * 2 * d * f
        + 2 * batch * frames * parts * (parts * d + 4 * stages * d * d + 4 * d + 2 * d * f)
        + 2 * batch * stages * parts * d * (d * (text_tokens + frames) + 9 * d * f + f)
        + 2 * (4 * batch * time_dim * width + 2 * batch * frames * width * width)
    )
    return total + config.layers * layer


def training_flops(config: FineMoGenConfig, batch: int, frames: int, stages: int, texts: int) -> int:
    """Forward + backward: three forwards, less the input gradients nothing needs (the motion, the
    sinusoidal timestep row, the frozen text tokens, the read-out's time powers), plus half the adapter's
    attention (the counter charges an SDPA backward 2.5x its forward)."""
    d, text_tokens = config.part_dim, 77
    forward = paper_forward_flops(config, batch, frames, stages, texts)
    no_input_gradient = (
        2 * batch * frames * d * 2 * DIMS
        + 2 * batch * 8 * d * config.time_embed_dim
        + 2 * texts * text_tokens * 512 * config.text_latent_dim
        + config.layers * 2 * batch * frames * 8 * 4 * d
    )
    attention = config.text_layers * 4 * texts * text_tokens**2 * config.text_latent_dim
    return 3 * forward - no_input_gradient + attention // 2


def sampling_step_flops(config: FineMoGenConfig, batch: int, frames: int) -> int:
    """One guided denoising step: the doubled batch, its ``batch`` captions encoded once and shared."""
    return paper_forward_flops(config, 2 * batch, frames, 1, batch, adapter=False)


def stage_dict(start: int, end: int, texts: dict[str, str]) -> dict:
    return {**dict.fromkeys(TEXT_FIELDS), "tokens": None, "start_frame": start, "end_frame": end, **texts}


def make_batch(count: int, frames: int, stages: int = 1, parts=PARTS, seed: int = 0) -> dict:
    """``count`` random motions of ``frames`` frames: one caption each, or ``stages`` stages with an overall
    text and one text for each of ``parts`` each (all distinct)."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        if stages == 1:
            stage_list = [stage_dict(0, frames, {"overall": caption(i)})]
        else:
            bounds = np.linspace(0, frames, stages + 1).astype(int)
            stage_list = [
                stage_dict(
                    int(bounds[s]),
                    int(bounds[s + 1]),
                    {
                        "overall": f"stage {s} of motion {i}",
                        **{part: f"the {part} moves in stage {s} of motion {i}" for part in parts},
                    },
                )
                for s in range(stages)
            ]
        items.append(
            {
                "index": i,
                "motion_id": f"m{i:05d}",
                "features": rng.standard_normal((frames, DIMS), dtype=np.float32),
                "length": frames,
                "crop_start": 0,
                "caption": stage_list[0]["overall"],
                "tokens": None,
                "stages": stage_list,
            }
        )
    return collate_motions(items, pad_to=frames)


def caption(number: int) -> str:
    return f"a person walks and waves, motion {number}"


def captions(count: int) -> list[str]:
    return [caption(i) for i in range(count)]


class ForwardBackward:
    """The trainer's forward (``model(batch, generator)``) and the backward of its total loss."""

    def __init__(self, model: FineMoGen, batch: dict):
        self.model, self.batch = model, batch

    def __call__(self) -> dict:
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        losses = self.model(self.batch, torch.Generator().manual_seed(0))
        losses["loss"].backward()
        return losses


threads = pinned_threads(THREADS)


@pytest.fixture(scope="module")
def model() -> FineMoGen:
    return build_model()


# --------------------------------------------------------------------------- FLOP counting
@pytest.mark.parametrize("stages", [1, 2])
def test_counted_forward_and_backward_match_the_formula(model, stages, monkeypatch):
    # Part texts are never dropped here, so the batch's distinct texts are known: one caption per motion, or
    # per stage an overall text and two part texts (two parts and one motion keep the count quick; the
    # other parts read the overall text, which changes nothing in the products).
    monkeypatch.setattr(model.config, "part_text_drop", 0.0)
    count = COUNT_BATCH if stages == 1 else 1
    batch = make_batch(count, COUNT_FRAMES, stages, parts=("left_arm", "right_leg"))
    texts = count * (1 if stages == 1 else 3 * stages)
    model.train()
    with torch.no_grad():
        forward = count_flops(model, batch, torch.Generator().manual_seed(0))
    assert forward == paper_forward_flops(model.config, count, COUNT_FRAMES, stages, texts)
    training = count_flops(ForwardBackward(model, batch))
    model.zero_grad(set_to_none=True)
    assert training == training_flops(model.config, count, COUNT_FRAMES, stages, texts)


def test_released_size_figures():
    config = paper_config()
    assert paper_forward_flops(config, 16, 196, 1, 16) == 84_852_342_784
    assert training_flops(config, 16, 196, 1, 16) == 254_035_132_416
    assert sampling_step_flops(config, 16, 196) == 139_307_450_368
    assert paper_forward_flops(config, 16, 196, 2, 16 * 2 * 8) == 451_351_379_968


def test_sampling_is_its_steps_of_guided_forwards_and_one_text_encoding(model, monkeypatch):
    # Five steps of the same sections (one each) keep the count quick; every step costs the same.
    five = model.diffusion.respaced(space_timesteps(1000, "1,1,1,1,1"))
    monkeypatch.setattr(model, "sampling_diffusion", five)
    texts = captions(1)
    model.eval()
    with torch.no_grad():
        encoding = count_flops(model.encode_texts, texts)
    total = count_flops(model.generate, texts, [COUNT_FRAMES], 0)
    assert total == 5 * sampling_step_flops(model.config, 1, COUNT_FRAMES) + encoding
    # In eval mode torch runs the adapter's transformer layers as one fused kernel the counter cannot see
    # inside, so only the projection is counted there.
    assert encoding == 2 * 77 * 512 * model.config.text_latent_dim


# --------------------------------------------------------------------------- benchmarks
def test_forward_backward(benchmark, model):
    step = ForwardBackward(model, make_batch(BATCH, FRAMES))
    recorded = Recorded(step)
    losses = benchmark.pedantic(recorded, rounds=REPEATS, iterations=1, warmup_rounds=1)
    wall, cpu = recorded.fewest()
    flops = training_flops(model.config, BATCH, FRAMES, 1, BATCH)
    print(
        f"\nforward + backward, batch {BATCH} x {FRAMES}, {THREADS} thread(s): wall {wall:.3f} s, CPU "
        f"{cpu:.3f} s; {flops / 1e9:.1f} GFLOP, {flops / cpu / 1e9:.1f} GFLOP per CPU second"
    )
    assert set(losses) == {"loss", "loss_recon", "loss_moe", "loss_kl"}
    assert torch.isfinite(losses["loss"]) and losses["loss"] > 0
    # The whole trainable network gets gradients (the frozen encoder stand-in has no parameters).
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert trainable and not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)


def test_sampling(benchmark, model, monkeypatch):
    calls = []
    denoise = model.denoise

    def recorded(x_t, t, condition, frame_mask, drop):
        calls.append((x_t.shape[0], int(t[0]), drop.tolist(), len(condition.bank)))
        return denoise(x_t, t, condition, frame_mask, drop)

    monkeypatch.setattr(model, "denoise", recorded)
    texts = captions(SAMPLE_BATCH)

    def sample():
        calls.clear()
        return model.generate(texts, [FRAMES] * SAMPLE_BATCH, seed=0)

    timed_sample = Recorded(sample)
    result = benchmark.pedantic(timed_sample, rounds=1, iterations=1)
    wall, cpu = timed_sample.fewest()
    steps = len(model.sampling_diffusion.timestep_map)
    flops = steps * sampling_step_flops(model.config, SAMPLE_BATCH, FRAMES)
    print(
        f"\nsampling, {SAMPLE_BATCH} x {FRAMES}, {steps} DDIM steps ({SAMPLING_STEPS}), guidance "
        f"1 + {model.config.guidance} t / 1000, {THREADS} thread(s): wall {wall:.2f} s, CPU {cpu:.2f} s per "
        f"batch; {flops / 1e12:.3f} TFLOP, {flops / cpu / 1e9:.1f} GFLOP per CPU second"
    )
    assert result.features.shape == (SAMPLE_BATCH, FRAMES, DIMS)
    assert torch.isfinite(result.features).all() and result.features.abs().mean() > 0
    # one call per respaced timestep, from the noisiest down, each on the doubled batch (the conditional,
    # then the unconditional half) reading one bank of the batch's texts
    assert [t for _, t, _, _ in calls] == model.sampling_diffusion.timestep_map[::-1].tolist()
    assert steps == (50 if FULL else 10) == len(calls)
    assert all(size == 2 * SAMPLE_BATCH and bank == SAMPLE_BATCH for size, _, _, bank in calls)
    assert calls[0][2] == [False] * SAMPLE_BATCH + [True] * SAMPLE_BATCH


def dense_operands(rows: int, width: int = 512, hidden: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(rows, width, generator=generator), torch.randn(width, hidden, generator=generator)


def test_dense_matmul(benchmark):
    a, b = dense_operands(BATCH * FRAMES)
    out = benchmark(torch.mm, a, b)
    torch.testing.assert_close(out[:4], a[:4].double().mm(b.double()).float(), rtol=1e-4, atol=1e-3)


def test_flop_efficiency(model):
    """Achieved FLOPs per CPU second of forward + backward and of a guided sampling step against a dense
    matmul (per CPU second: with the machine shared, wall time also measures the neighbours)."""
    config = model.config
    a, b = dense_operands(BATCH * FRAMES)
    matmul_flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]

    def matmul_seconds() -> tuple[float, float]:
        return fastest(lambda: torch.mm(a, b), repeats=10)

    matmul = [matmul_seconds()]
    step = ForwardBackward(model, make_batch(BATCH, FRAMES))
    step_wall, step_cpu = fastest(step, REPEATS)
    model.zero_grad(set_to_none=True)
    step_flops = training_flops(config, BATCH, FRAMES, 1, BATCH)
    matmul.append(matmul_seconds())

    # One guided sampling step: the network on the doubled batch in eval mode under no_grad, as generate
    # calls it (the sampler's own arithmetic is negligible).
    doubled = 2 * SAMPLE_BATCH
    model.eval()
    with torch.no_grad():
        requests = as_requests(captions(SAMPLE_BATCH), [FRAMES] * SAMPLE_BATCH)
        condition = repeat_twice(model.encode_requests(requests))
        x = torch.randn(doubled, FRAMES, DIMS)
        t = torch.full((doubled,), 500)
        mask = torch.ones(doubled, FRAMES, dtype=torch.bool)
        drop = torch.arange(doubled) >= SAMPLE_BATCH
        forward_wall, forward_cpu = fastest(lambda: model.denoise(x, t, condition, mask, drop), REPEATS)
    forward_flops = sampling_step_flops(config, SAMPLE_BATCH, FRAMES)
    matmul.append(matmul_seconds())

    matmul_wall, matmul_cpu = min(w for w, _ in matmul), min(c for _, c in matmul)
    peak = matmul_flops / matmul_cpu
    training, sampling = step_flops / step_cpu, forward_flops / forward_cpu
    steps = len(model.sampling_diffusion.timestep_map)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(
        f"\nFineMoGen paper preset ({parameters / 1e6:.1f} M trainable parameters), "
        f"{torch.get_num_threads()} torch thread(s); GFLOP per CPU second (per wall second)"
        f"\n  forward + backward, batch {BATCH} x {FRAMES}: wall {step_wall:.3f} s, CPU {step_cpu:.3f} s, "
        f"{step_flops / 1e9:.1f} GFLOP: {training / 1e9:.1f} ({step_flops / step_wall / 1e9:.1f})"
        f"\n  guided sampling step, {SAMPLE_BATCH} x 2 x {FRAMES}: wall {forward_wall:.3f} s, CPU "
        f"{forward_cpu:.3f} s, {forward_flops / 1e9:.1f} GFLOP: {sampling / 1e9:.1f} "
        f"({forward_flops / forward_wall / 1e9:.1f}); {steps} steps ~ {steps * forward_wall:.1f} s wall"
        f"\n  dense matmul ({a.shape[0]} x {a.shape[1]}) @ ({b.shape[0]} x {b.shape[1]}): "
        f"{peak / 1e9:.1f} ({matmul_flops / matmul_wall / 1e9:.1f})"
        f"\n  achieved / dense matmul: forward + backward {training / peak:.2f}, "
        f"sampling {sampling / peak:.2f}"
    )
    assert parameters == 65_409_058
    assert step_flops > 0 and forward_flops > 0 and all(map(math.isfinite, (training, sampling, peak)))
