"""FineMoGen's config: the network sizes, the fine-grained conditioning and the loss weights.

The defaults are the released configuration (``configs/finemogen/finemogen_t2m.py``): 8 tokens of 64 per
frame (7 parts and the whole body), 4 SAMI + SFFN layers, a 2048-wide timestep embedding, texts at 256
(frozen CLIP's 512 projected, then 2 transformer layers), mixtures of 16 experts with top-2 routing, the
linear 1000-step diffusion predicting x0 with fixed-large variance, the 50-step DDIM ``15,15,8,6,6`` and
guidance ``w = 1 + 6.5 t / 1000``, losses x0 MSE + routing x 10 + template KL x 1e-4.

The conditioning fields are what the released code lacks: ``part_text_drop`` (part texts dropped to the
overall text in training, independently of the whole-condition ``cond_drop``) and ``training_mode``
(``supervised``: whole multi-stage sequences with their part texts; ``zero_shot``: one stage, the overall
text only, composition left to inference), the two rows of the paper's Table 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mogen_bench.errors import MogenBenchError
from mogen_bench.models.diffusion_model import DiffusionConfig
from mogen_bench.models.text_conditioning import TextConfig

TRAINING_MODES = ("supervised", "zero_shot")


@dataclass
class FineMoGenConfig(DiffusionConfig, TextConfig):
    """FineMoGen's network and conditioning (the ``[model]`` section of a preset)."""

    # ---------------------------------------------------------------- network (released values)
    #: Width of each of the 8 tokens of a frame (7 parts and the whole body): 8 x 64 = 512.
    part_dim: int = 64
    #: SAMI + SFFN layers.
    layers: int = 4
    #: Width of the timestep embedding that stylises every layer's output.
    time_embed_dim: int = 2048
    #: Width of the text tokens SAMI reads.
    text_latent_dim: int = 256
    #: Transformer layers on top of a frozen text encoder (CLIP); a trained (learned) encoder is only
    #: projected to ``text_latent_dim``, it is a transformer trained with the model already.
    text_layers: int = 2
    text_heads: int = 4
    text_ff_dim: int = 2048
    #: Hidden width of the part-wise FFN and of the motion experts.
    ffn_dim: int = 256
    #: Hidden width of the text experts.
    text_ffn_dim: int = 1024
    num_experts: int = 16
    top_k: int = 2
    gate_noise: float = 1.0
    capacity_factor: float = 1.5
    dropout: float = 0.0
    #: Frames of one normalised time unit (anchors and frame times are in units of it) and the number of
    #: motion positions the experts embed: the released 196. At least the dataset's ``max_frames``.
    max_seq_len: int = 196
    #: Initial width of the temporal read-out (softmax of ``-frames^2 / sigma``), learned per layer.
    sigma_init: float = 100.0
    #: Keep padding tokens of the texts out of the text transformer and the templates. The released code
    #: lets CLIP's 77 positions all in (its ``paper`` preset keeps that); with many texts per motion,
    #: masking them keeps one text's padding from outweighing another's words.
    mask_text_padding: bool = True

    # ---------------------------------------------------------------- conditioning (not in the released code)
    #: Probability that a stage's part text is replaced by its overall text in training (per stage and part,
    #: independent of ``cond_drop``, which drops the whole condition).
    part_text_drop: float = 0.1
    #: ``supervised``: every stage with its overall and part texts; ``zero_shot``: the overall text of the
    #: stage that covers most of the crop, as one stage over the whole crop.
    training_mode: Literal["supervised", "zero_shot"] = "supervised"

    # ---------------------------------------------------------------- losses
    moe_loss_weight: float = 10.0
    kl_loss_weight: float = 1e-4

    # ---------------------------------------------------------------- diffusion (released values)
    schedule: Literal["linear", "cosine"] = "linear"
    variance: Literal["fixed_small", "fixed_large"] = "fixed_large"
    sampler: Literal["ddim", "ddpm"] = "ddim"
    sampling_steps: str = "15,15,8,6,6"
    guidance: float = 6.5
    guidance_schedule: Literal["constant", "finemogen"] = "finemogen"

    # ---------------------------------------------------------------- text (released: frozen CLIP)
    text_encoder: Literal["learned", "clip"] = "clip"

    def __post_init__(self) -> None:
        positive = (
            "part_dim",
            "layers",
            "time_embed_dim",
            "text_latent_dim",
            "text_heads",
            "text_ff_dim",
            "ffn_dim",
            "text_ffn_dim",
            "num_experts",
            "top_k",
            "max_seq_len",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MogenBenchError(
                    f"{name} must be a whole number >= 1, got {value!r}",
                    field=f"model.{name}",
                    fix="see finemogen/presets/paper.toml for the released values",
                )
        if self.text_layers < 0:
            raise MogenBenchError(
                f"text_layers must be >= 0, got {self.text_layers}",
                field="model.text_layers",
                fix="use 2 (released) or 0",
            )
        if self.text_latent_dim % self.text_heads:
            raise MogenBenchError(
                f"text_latent_dim {self.text_latent_dim} is not divisible by text_heads {self.text_heads}",
                field="model.text_heads",
                fix="choose text_heads that divide text_latent_dim",
            )
        if self.top_k > self.num_experts:
            raise MogenBenchError(
                f"top_k {self.top_k} exceeds num_experts {self.num_experts}",
                field="model.top_k",
                fix="use top_k <= num_experts (released: 2 of 16)",
            )
        if not self.sigma_init > 0:
            raise MogenBenchError(
                f"sigma_init must be > 0, got {self.sigma_init}",
                field="model.sigma_init",
                fix="use 100 (released)",
            )
        if not 0.0 <= self.part_text_drop <= 1.0:
            raise MogenBenchError(
                f"part_text_drop must be in [0, 1], got {self.part_text_drop}",
                field="model.part_text_drop",
                fix="use 0.1",
            )
        if self.training_mode not in TRAINING_MODES:
            raise MogenBenchError(
                f"unknown training_mode {self.training_mode!r}",
                field="model.training_mode",
                fix=f"use one of {', '.join(TRAINING_MODES)}",
            )
        for name in ("moe_loss_weight", "kl_loss_weight", "capacity_factor", "gate_noise", "dropout"):
            if getattr(self, name) < 0:
                raise MogenBenchError(
                    f"{name} must be >= 0, got {getattr(self, name)}",
                    field=f"model.{name}",
                    fix="see finemogen/presets/paper.toml",
                )

    @property
    def latent_dim(self) -> int:
        """Width of a frame: 8 tokens of ``part_dim``."""
        return 8 * self.part_dim
