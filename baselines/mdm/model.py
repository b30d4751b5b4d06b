"""MDM, the Motion Diffusion Model (Tevet et al. 2023): a transformer encoder that predicts x0.

As in ``GuyTevet/motion-diffusion-model`` (``model/mdm.py``, ``trans_enc``): every frame's features are
projected to the latent width; one conditioning token, the sum of the timestep embedding (sinusoidal
position row of ``t`` -> Linear -> SiLU -> Linear) and the projected pooled text feature (zeroed when the
condition is dropped), is put in front of the frames; sinusoidal positions are added; 8 encoder layers
(512 wide, 4 heads, feed-forward 1024, dropout 0.1, GELU) and a linear output back to the features. The
diffusion is cosine, T = 1000, fixed-small variance, x0 prediction, masked MSE; guidance 2.5 with the
condition dropped 10 % of the time in training. Padded frames are masked in attention (the
``--mask_frames`` fix of "Rotem's bug"), which the released 1000-step models lacked.

Works on any representation (it only sees feature vectors); texts through the learned word encoder by
default or frozen CLIP (``text_encoder = "clip"``), as MDM does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext
from mogen_bench.models.conditions import GenerationRequest
from mogen_bench.models.diffusion_model import DiffusionConfig, DiffusionMotionModel
from mogen_bench.models.text_conditioning import TextConfig, build_model_text_encoder


@dataclass
class MDMConfig(DiffusionConfig, TextConfig):
    """MDM's network; the defaults are the paper's (``baselines.md`` section 4)."""

    layers: int = 8
    latent_dim: int = 512
    heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    activation: str = "gelu"
    #: Mask padded frames in attention (MDM's ``--mask_frames``).
    mask_frames: bool = True

    def __post_init__(self) -> None:
        for name in ("layers", "latent_dim", "heads", "ff_dim"):
            if getattr(self, name) < 1:
                raise MogenBenchError(
                    f"{name} must be >= 1, got {getattr(self, name)}", field=f"model.{name}", fix="use e.g. 4"
                )
        if self.latent_dim % self.heads:
            raise MogenBenchError(
                f"latent_dim {self.latent_dim} is not divisible by heads {self.heads}",
                field="model.heads",
                fix="choose heads that divide latent_dim",
            )


def sinusoidal_table(positions: int, dim: int) -> torch.Tensor:
    """MDM's ``PositionalEncoding`` table: sin on even, cos on odd dims, ``(positions, dim)``."""
    position = torch.arange(positions, dtype=torch.float64)[:, None]
    frequencies = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequencies)
    table[:, 1::2] = torch.cos(position * frequencies)
    return table.float()


class MDM(DiffusionMotionModel):
    name = "mdm"
    config_class = MDMConfig
    representations = None
    presets_package = "baselines.mdm.presets"

    def __init__(self, config: MDMConfig, context: ModelContext):
        super().__init__(config, context)
        width = config.latent_dim
        self.text_encoder = build_model_text_encoder(config, context)
        self.input_projection = nn.Linear(context.dims, width)
        self.output_projection = nn.Linear(width, context.dims)
        self.text_projection = nn.Linear(self.text_encoder.dim, width)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        # Positions for the condition token and up to max_frames frames; also indexes timesteps.
        rows = max(context.max_frames + 1, config.diffusion_steps)
        self.register_buffer("positions", sinusoidal_table(rows, width), persistent=False)
        self.position_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=config.heads,
            dim_feedforward=config.ff_dim,
            dropout=config.dropout,
            activation=config.activation,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)

    # ------------------------------------------------------------------ conditions
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.text_encoder(texts).pooled

    def encode_batch(self, batch: dict) -> torch.Tensor:
        return self.encode_texts(list(batch["captions"]))

    def encode_requests(self, requests: list[GenerationRequest]) -> torch.Tensor:
        return self.encode_texts([request.caption for request in requests])

    # ------------------------------------------------------------------ network
    def denoise(
        self, x_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor, frame_mask: torch.Tensor, drop
    ) -> torch.Tensor:
        frames = x_t.shape[1]
        time = self.time_mlp(self.positions[t])
        # Multiplying (rather than indexing) keeps every parameter in the graph, as DDP wants.
        text = self.text_projection(condition.to(time.dtype)) * (~drop).to(time.dtype)[:, None]
        tokens = torch.cat([(time + text)[:, None], self.input_projection(x_t)], dim=1)
        tokens = self.position_dropout(tokens + self.positions[: frames + 1])
        padding = None
        if self.config.mask_frames:
            keep = torch.ones_like(frame_mask[:, :1])
            padding = ~torch.cat([keep, frame_mask], dim=1)
        hidden = self.encoder(tokens, src_key_padding_mask=padding)
        return self.output_projection(hidden[:, 1:])
