"""SFFN: one feed-forward network per part token, no weight sharing and no mixing between parts.

``x (B, T, 8, D) -> x + stylise(concat_h FFN_h(x_h))``, FFN_h = Linear(D, F) -> GELU -> dropout ->
Linear(F, D), as the released ``SFFN``. The eight FFNs are held as stacked weights and run as two
batched matrix products (one kernel for all parts, not eight).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from finemogen.stylization import StylizationBlock


def _linear_init(weight: torch.Tensor, bias: torch.Tensor, fan_in: int) -> None:
    # nn.Linear's default initialisation, per stacked part.
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(weight, -bound, bound)
    nn.init.uniform_(bias, -bound, bound)


class PartFFN(nn.Module):
    """``(..., H, D) -> (..., H, D)``: part ``h`` through its own two-layer FFN."""

    def __init__(self, parts: int, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.weight1 = nn.Parameter(torch.empty(parts, dim, hidden))
        self.bias1 = nn.Parameter(torch.empty(parts, hidden))
        self.weight2 = nn.Parameter(torch.empty(parts, hidden, dim))
        self.bias2 = nn.Parameter(torch.empty(parts, dim))
        _linear_init(self.weight1, self.bias1, dim)
        _linear_init(self.weight2, self.bias2, hidden)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.einsum("...hd,hdf->...hf", x, self.weight1) + self.bias1
        hidden = self.dropout(self.activation(hidden))
        return torch.einsum("...hf,hfd->...hd", hidden, self.weight2) + self.bias2


class SFFN(nn.Module):
    """The part-wise FFN block with its stylised residual: ``(B, T, H, D), (B, E) -> (B, T, H, D)``."""

    def __init__(self, parts: int, dim: int, hidden: int, time_embed_dim: int, dropout: float):
        super().__init__()
        self.ffn = PartFFN(parts, dim, hidden, dropout)
        self.proj_out = StylizationBlock(parts * dim, time_embed_dim, dropout)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        batch, frames, parts, dim = x.shape
        y = self.ffn(x).reshape(batch, frames, parts * dim)
        return x + self.proj_out(y, emb).reshape(batch, frames, parts, dim)
