"""FineMoGen's part-wise pose encoder and decoder: features <-> 8 tokens per frame.

The encoder projects each body part's feature dims (``mogen_bench.motion.part_slices``, FineMoGen's joint
groups) to its own 64-wide token, and the whole pose to an eighth: ``(B, T, dims) -> (B, T, 8, 64)`` in
the released concatenation order ``TOKEN_PARTS``: head, spine, right_arm, left_arm, right_leg, left_leg,
trajectory, body (the released ``larm``/``lleg`` tokens hold the subject's right limbs; keeping its order
lets a released checkpoint map onto this model key by key: no 64-wide block of any layer is permuted).

The decoder projects each part token back to its dims, puts the seven part reconstructions side by side
(they cover every dim once) and averages them with the whole-body token's reconstruction, as the released
``PoseDecoder``. The model zero-initialises the decoder (released ``zero_module``), so an untrained
FineMoGen predicts x0 = 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.part_slices import BODY, FINEMOGEN_TOKEN_TO_PART, FINEMOGEN_TOKENS, SLICE_NAMES

#: The part of each of the 8 tokens of a frame (and of each SAMI head), in the released order.
TOKEN_PARTS: tuple[str, ...] = tuple(FINEMOGEN_TOKEN_TO_PART[token] for token in FINEMOGEN_TOKENS)


def check_slices(slices: Mapping[str, Sequence[int]], dims: int) -> None:
    """The seven part slices must cover ``0..dims-1`` once each and ``body`` must be every dim."""
    missing = [name for name in SLICE_NAMES if name not in slices]
    if missing:
        raise MogenBenchError(
            f"the body-part slices lack {', '.join(missing)}",
            field="part_slices",
            fix="prepare the dataset with a representation that has part slices",
        )
    parts = sorted(i for name in SLICE_NAMES if name != BODY for i in slices[name])
    if parts != list(range(dims)) or sorted(slices[BODY]) != list(range(dims)):
        raise MogenBenchError(
            f"the seven part slices must cover the {dims} feature dims exactly once",
            field="part_slices",
            fix="use the representation's own part slices (part_slices(representation))",
        )


class PoseEncoder(nn.Module):
    """One linear layer per token over its feature dims: ``(B, T, dims) -> (B, T, 8, part_dim)``."""

    def __init__(self, slices: Mapping[str, Sequence[int]], dims: int, part_dim: int):
        super().__init__()
        check_slices(slices, dims)
        for number, name in enumerate(TOKEN_PARTS):
            self.register_buffer(f"index_{number}", torch.tensor(list(slices[name])), persistent=False)
        self.embed = nn.ModuleList(nn.Linear(len(slices[name]), part_dim) for name in TOKEN_PARTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = [
            layer(x.index_select(-1, getattr(self, f"index_{n}"))) for n, layer in enumerate(self.embed)
        ]
        return torch.stack(tokens, dim=-2)


class PoseDecoder(nn.Module):
    """``(B, T, 8, part_dim) -> (B, T, dims)``: (the seven parts side by side + the whole body) / 2."""

    def __init__(self, slices: Mapping[str, Sequence[int]], dims: int, part_dim: int):
        super().__init__()
        check_slices(slices, dims)
        self.dims = dims
        parts = [name for name in TOKEN_PARTS if name != BODY]
        # Where each dim of the concatenated part outputs goes: the parts cover the dims once, so putting
        # them side by side is one gather with the inverse permutation.
        order = torch.tensor([i for name in parts for i in slices[name]])
        self.register_buffer("inverse", torch.argsort(order), persistent=False)
        body = torch.tensor(list(slices[BODY]))
        self.register_buffer("body_inverse", torch.argsort(body), persistent=False)
        self.project = nn.ModuleList(nn.Linear(part_dim, len(slices[name])) for name in TOKEN_PARTS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # The whole-body token is the last one.
        outputs = [layer(tokens[..., n, :]) for n, layer in enumerate(self.project)]
        parts = torch.cat(outputs[:-1], dim=-1).index_select(-1, self.inverse)
        body = outputs[-1].index_select(-1, self.body_inverse)
        return (parts + body) / 2.0
