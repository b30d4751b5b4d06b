"""What a text encoder returns and the interface every text encoder implements.

Models read texts only through ``TextEncoder.forward(texts) -> TextFeatures``: token-level features with
a mask of the real tokens (for cross-attention, as FineMoGen's SAMI does) and one pooled vector per text
(for a condition token, as MDM does). The frozen CLIP tower and the learned word-level encoder are
interchangeable behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TextFeatures:
    """Encoded texts: ``tokens (B, L, C)`` float, ``mask (B, L)`` bool (True = real), ``pooled (B, C)``."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def __post_init__(self) -> None:
        if self.tokens.ndim != 3:
            raise ValueError(f"tokens must be (B, L, C), got shape {tuple(self.tokens.shape)}")
        batch, length, channels = self.tokens.shape
        if tuple(self.mask.shape) != (batch, length) or self.mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool ({batch}, {length}) tensor, got {self.mask.dtype} "
                f"{tuple(self.mask.shape)}"
            )
        if tuple(self.pooled.shape) != (batch, channels):
            raise ValueError(f"pooled must be ({batch}, {channels}), got {tuple(self.pooled.shape)}")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str) -> TextFeatures:
        return TextFeatures(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))

    def select(self, rows: torch.Tensor | Sequence[int]) -> TextFeatures:
        """The features of the texts at ``rows`` (any order, repeats allowed)."""
        index = torch.as_tensor(rows, dtype=torch.long, device=self.tokens.device)
        return TextFeatures(self.tokens[index], self.mask[index], self.pooled[index])

    @staticmethod
    def cat(parts: Sequence[TextFeatures]) -> TextFeatures:
        """One batch from several, in order (all with the same ``L`` and ``C``)."""
        return TextFeatures(
            torch.cat([p.tokens for p in parts]),
            torch.cat([p.mask for p in parts]),
            torch.cat([p.pooled for p in parts]),
        )


class TextEncoder(nn.Module):
    """Turns a list of texts into ``TextFeatures`` on the module's device.

    Subclasses set ``name`` (the registry name), ``trainable`` (whether the model trains it), and the
    instance attributes ``dim`` (C) and ``max_tokens`` (L, the same for every batch).
    """

    name: str = ""
    trainable: bool = False
    dim: int
    max_tokens: int

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    def forward(self, texts: Sequence[str]) -> TextFeatures:
        raise NotImplementedError


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a non-empty list, refusing a bare string (which would be encoded letter by letter)."""
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a list of strings, not one string: wrap it as [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to encode")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}: {text!r}")
    return texts
