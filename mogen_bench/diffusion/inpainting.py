"""Inpainting: keep known motion (a prefix, some frames, some body parts) while sampling.

As MDM's editing and PriorMDM's DoubleTake (``gaussian_diffusion.py`` ``p_mean_variance``): at every step the
sampler's ``x0`` estimate is blended with the known motion, ``x0 = pred * (1 - m) + known * m``, and the step
goes on from the blended ``x0`` (an epsilon model's output is turned into ``x0`` first). ``m`` is 1 where the
known motion is kept, 0 where the model is free, and in between for a soft blend (DoubleTake's second take
ramps it up to 0.85 around each transition). A hard mask keeps the known values exactly, and because the last
step returns the ``x0`` estimate itself, the known part of the sample equals ``known`` bit for bit.

To start from an existing motion rather than pure noise (DoubleTake's second take starts from its first take
noised to ``t = T - 100 - 1``), pass ``start=(x_init, t_start)`` to the samplers.
"""

from __future__ import annotations

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError

__all__ = ["Inpainting"]


class Inpainting:
    """Keep ``known`` ``(B, ...)`` where ``mask`` (broadcastable, in [0, 1]; bool for a hard mask) is 1."""

    def __init__(self, known: torch.Tensor, mask: torch.Tensor | float) -> None:
        mask = torch.as_tensor(mask, device=known.device)
        try:  # numpy: torch.broadcast_shapes imports its symbolic-shape machinery (~0.4 s) on first use
            np.broadcast_shapes(tuple(mask.shape), tuple(known.shape))
        except ValueError:
            raise MogenBenchError(
                f"the inpainting mask of shape {tuple(mask.shape)} does not broadcast to the known motion "
                f"of shape {tuple(known.shape)}",
                field="mask",
                fix="shape the mask (B, T, 1) for frames or (B, T, D) for features",
            ) from None
        if mask.dtype != torch.bool and not (
            torch.isfinite(mask).all() and (mask >= 0).all() and (mask <= 1).all()
        ):
            raise MogenBenchError(
                "the inpainting mask must lie in [0, 1] (1 = keep the known motion)",
                field="mask",
                fix="clip the mask to [0, 1], or pass a bool mask for a hard one",
            )
        self.known = known
        self.mask = mask
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def prefix(cls, known: torch.Tensor, frames: int | torch.Tensor) -> Inpainting:
        """Keep the first ``frames`` frames (an int, or a LongTensor ``(B,)``) of ``known`` ``(B, T, D)``."""
        frames = torch.as_tensor(frames, device=known.device).reshape(-1, 1)
        mask = torch.arange(known.shape[1], device=known.device)[None, :] < frames
        return cls(known, mask[..., None])

    def _on(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (like.device, like.dtype)
        if key not in self._cache:
            mask = self.mask.to(like.device) if self.mask.dtype == torch.bool else self.mask.to(like)
            self._cache[key] = (self.known.to(like), mask)
        return self._cache[key]

    def apply(self, x0: torch.Tensor) -> torch.Tensor:
        """The blended ``x0`` estimate."""
        if x0.shape != self.known.shape:
            raise MogenBenchError(
                f"the known motion has shape {tuple(self.known.shape)} but the sample has {tuple(x0.shape)}",
                field="known",
                fix="give the known motion the shape of the batch being sampled",
            )
        known, mask = self._on(x0)
        if mask.dtype == torch.bool:
            return torch.where(mask, known, x0)
        return x0 * (1 - mask) + known * mask
