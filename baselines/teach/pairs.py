"""TEACH's training pairs (previous action, current action), cut from a batch of ``collate_motions``.

TEACH trains on pairs of consecutive BABEL actions: the first is generated from its text alone, the second
from its text and the last frames of the first (``baselines.md`` 1.3, 1.6). Our datasets keep whole
multi-stage motions and crop them, so the pairs are cut from the crops of a training batch, one per item,
at a stage boundary; ``stage_index`` (B, T) says where each crop-relative stage lies:

- an item whose crop holds ``n >= 2`` stages is split at boundary ``k``, drawn uniformly from ``1 .. n-1``
  with the model's generator: the *first* action is stage ``k - 1``, the *second* stage ``k``. Crops and
  draws change every epoch, so every consecutive pair of a row is visited (TEACH lists each pair once per
  epoch instead);
- an item with one stage (a caption row, or a crop inside one stage) is a first action only: it trains the
  text -> motion path without past, as TEACH's first action does.

Our stages are contiguous (no separate transition segment as in BABEL), so the second stage's frames are
TEACH's "transition + second action" target. Everything is batched: the boundaries, the frame ranges and
the gathered segments come from tensor operations; only the texts are picked from the batch's lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from annotation.parts import PARTS


@dataclass
class StagePairs:
    """One pair per batch item: frame ranges of the first and second action (crop frames), ``(B,)`` each.

    ``second_length`` is 0 and ``paired`` False for items with one stage; ``boundary`` is the stage number
    of the second action (1 where there is none).
    """

    first_start: torch.Tensor
    first_length: torch.Tensor
    second_start: torch.Tensor
    second_length: torch.Tensor
    paired: torch.Tensor
    boundary: torch.Tensor


def stage_range(stage_index: torch.Tensor, stage: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(start, length)`` ``(B,)`` of stage ``stage[b]`` of each item (length 0 where it has no frames)."""
    hit = stage_index == stage[:, None]
    frames = stage_index.shape[1]
    present = hit.any(1)
    start = hit.to(torch.int8).argmax(1)
    end = frames - hit.flip(1).to(torch.int8).argmax(1)
    length = torch.where(present, end - start, torch.zeros_like(start))
    return torch.where(present, start, torch.zeros_like(start)), length


def stage_pairs(stage_index: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator) -> StagePairs:
    """The pair of every item of a batch (the rule of the module docstring); one uniform draw per item.

    An item whose frames carry no stage at all (not made by ``MotionDataset``) is one first action over
    its whole length.
    """
    count = stage_index.shape[0]
    stages = stage_index.max(1).values.clamp_min(0) + 1
    u = torch.rand(count, generator=generator, device=generator.device).to(stage_index.device)
    boundary = (1 + (u * (stages - 1)).long()).clamp(max=(stages - 1).clamp_min(1))
    first_start, first_length = stage_range(stage_index, boundary - 1)
    unstaged = first_length == 0
    first_length = torch.where(unstaged, lengths, first_length)
    second_start, second_length = stage_range(stage_index, boundary)
    paired = (stages >= 2) & (second_length > 0)
    second_length = second_length * paired
    return StagePairs(first_start, first_length, second_start, second_length, paired, boundary)


def segments(
    features: torch.Tensor, start: torch.Tensor, length: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``start[b] .. start[b] + length[b] - 1`` of each item, zero-padded ``(B, max length, D)``, and
    the mask of the real ones."""
    frames = max(int(length.max()), 1) if length.numel() else 1
    offsets = torch.arange(frames, device=features.device)
    mask = offsets[None, :] < length[:, None]
    index = (start[:, None] + offsets[None, :]).clamp(max=features.shape[1] - 1)
    gathered = features.gather(1, index[..., None].expand(-1, -1, features.shape[-1]))
    return gathered * mask[..., None].to(gathered.dtype), mask


def last_frames(
    features: torch.Tensor, length: torch.Tensor, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``count`` real frames of each motion ``(B, count, D)``, and a mask of those that exist.

    A motion shorter than ``count`` frames leaves its first slots empty (masked, zero): TEACH's pairs are
    at least 15 frames long, our stages may be shorter than the past.
    """
    index = length[:, None] - count + torch.arange(count, device=features.device)[None, :]
    mask = index >= 0
    gathered = features.gather(1, index.clamp_min(0)[..., None].expand(-1, -1, features.shape[-1]))
    return gathered * mask[..., None].to(gathered.dtype), mask


def stage_text(stage: Mapping | object) -> str:
    """The text TEACH reads for a stage: its overall text, else its part texts joined (TEACH has one text
    per action), else empty."""
    get = stage.get if isinstance(stage, Mapping) else (lambda name: getattr(stage, name, None))
    overall = get("overall")
    if overall:
        return overall
    return " ".join(text for text in (get(name) for name in PARTS) if text)


def pair_texts(stages: Sequence[Sequence], pairs: StagePairs) -> tuple[list[str], list[str]]:
    """Texts of the first actions (every item) and of the second actions (paired items, in order)."""
    boundary = pairs.boundary.tolist()
    paired = pairs.paired.tolist()
    first = [stage_text(item[k - 1]) if item else "" for item, k in zip(stages, boundary, strict=True)]
    second = [stage_text(item[k]) for item, k, p in zip(stages, boundary, paired, strict=True) if p]
    return first, second
