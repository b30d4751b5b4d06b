"""The timestep embedding and the stylisation that lets it steer every layer (MotionDiffuse's design).

``timestep_embedding``: ``[cos(t f_i), sin(t f_i)]`` with ``f_i = 10000^(-i / half)``, the released
``position_encoding.timestep_embedding``. ``StylizationBlock(h, emb)``: ``LayerNorm(h) * (1 + scale) +
shift`` with ``scale, shift`` from the embedding, then SiLU, dropout and a zero-initialised linear layer,
so every SAMI and SFFN block starts as the identity of its residual branch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """``(B,) -> (B, dim)`` sinusoidal features of the (original, 0..T-1) diffusion timesteps."""
    half = dim // 2
    frequencies = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    )
    angles = timesteps.float()[:, None] * frequencies[None]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class StylizationBlock(nn.Module):
    """``(B, T, D), (B, E) -> (B, T, D)``; zero at initialisation."""

    def __init__(self, dim: int, time_embed_dim: int, dropout: float):
        super().__init__()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(time_embed_dim, 2 * dim))
        self.norm = nn.LayerNorm(dim)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.emb_layers(emb)[:, None].chunk(2, dim=-1)
        return self.out_layers(self.norm(h) * (1 + scale) + shift)
