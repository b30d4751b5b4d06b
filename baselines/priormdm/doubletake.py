"""DoubleTake's bookkeeping (Shafir et al., PriorMDM, ICLR 2024): intervals, handshakes, soft masks.

The model (``baselines.priormdm.model``) runs the two takes with the prior; this module holds what they are
made of, as plain functions of the stage bounds and tensors:

- ``plan_composition``: one request cut into first-take intervals. Each stage boundary gets a
  ``Transition``: a handshake of ``h`` frames centred on the boundary (``h // 2`` frames before it), shared
  by the interval that ends there and the one that starts there. Interval ``i`` reaches from the first
  frame of its left handshake to the last frame of its right one, so it is its stage plus the handshake
  halves beside it, and unfolding (``unfold_indices``: interval 0 in full, then frames ``h:`` of every
  later interval, PriorMDM's ``unfold_sample_arb_len``) gives exactly the requested length and stage
  bounds. PriorMDM itself takes the interval lengths ``L_i`` as given and returns ``sum(L_i) - (N - 1) h``
  frames; here the stage bounds are the request, so the intervals are derived from them.
- ``HandshakeAveraging``: the first take's ``after_step`` hook. After every denoising step the last ``h``
  frames of interval ``i - 1`` and the first ``h`` frames of interval ``i`` are both replaced by
  ``suffix * (1 - a) + prefix * a`` with ``a = k / h`` for handshake frame ``k`` (PriorMDM's
  ``p_sample_loop``), all handshakes of the batch in one gather and two scatters.
- ``soft_mask``: the second take's inpainting mask over a transition window: 0 on the handshake, a ramp of
  ``blend`` frames before it from 0.85 down (``0.85 (blend - k) / blend``: 0.85, 0.765, ... 0.085 for 10)
  and one after it from 0 up (``0.85 k / blend``: 0, 0.085, ... 0.765), 1 elsewhere; ramps only from
  2 frames (``sampling_utils.py``: ``if blend_len >= 2``).
- ``Composition.window``: the second take of transition ``j`` sees the motion from the end of handshake
  ``j - 1`` to the start of handshake ``j + 1`` (``[motion_j without handshakes][handshake][motion_j+1
  without handshakes]``); at the motion's own ends there is no handshake, so the window reaches them
  (PriorMDM's windows leave out the first ``h`` frames of the first interval and the last ``h`` of the last).

Stages too short for the handshake and blend: a transition's handshake part and ramp on either side may
take at most half of the stage there (so the two transitions of a stage never overlap).
``short_stages="shrink"`` shrinks the handshake and the blend of such a transition together
(``blend * h' // h``) to the largest that fits (down to none, where a one-frame stage follows the
boundary); ``"error"`` refuses the request. PriorMDM instead lengthens every interval to at least
``2 h + 2 blend + 10`` frames, which a benchmark with fixed stage lengths cannot do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from mogen_bench.errors import MogenBenchError

__all__ = [
    "MAX_SOFT_MASK",
    "Composition",
    "HandshakeAveraging",
    "Transition",
    "fit_transition",
    "plan_composition",
    "soft_mask",
    "unfold_indices",
]

#: The soft mask's ramps stop short of 1 (``sampling_utils.py``: ``torch.arange(0.85, 0.0, -0.85 / blend)``).
MAX_SOFT_MASK = 0.85


@dataclass(frozen=True)
class Transition:
    """The handshake of ``handshake`` frames around the stage boundary at frame ``boundary``."""

    boundary: int
    handshake: int
    blend: int

    @property
    def start(self) -> int:
        """The first handshake frame of the composed motion."""
        return self.boundary - self.handshake // 2

    @property
    def end(self) -> int:
        return self.start + self.handshake

    @property
    def ramp(self) -> int:
        """Frames of each soft-mask ramp (PriorMDM ramps only a blend of 2 frames or more)."""
        return self.blend if self.blend >= 2 else 0


@dataclass(frozen=True)
class Composition:
    """One request cut for DoubleTake: first-take intervals ``[start, end)`` and the transitions between."""

    length: int
    intervals: tuple[tuple[int, int], ...]
    transitions: tuple[Transition, ...]

    def window(self, j: int) -> tuple[int, int]:
        """The frames the second take of transition ``j`` denoises: between the neighbouring handshakes."""
        start = self.transitions[j - 1].end if j > 0 else 0
        end = self.transitions[j + 1].start if j + 1 < len(self.transitions) else self.length
        return start, end


def fit_transition(handshake: int, blend: int, room_before: int, room_after: int) -> tuple[int, int]:
    """The largest ``(h', blend * h' // h)`` with ``h' <= handshake`` whose handshake half and ramp fit in
    ``room_before`` frames before the boundary and ``room_after`` after it (``(0, 0)`` always fits)."""
    for size in range(handshake, 0, -1):
        ramp = blend * size // handshake
        if size // 2 + ramp <= room_before and size - size // 2 + ramp <= room_after:
            return size, ramp
    return 0, 0


def plan_composition(
    bounds: Sequence[tuple[int, int]],
    handshake: int,
    blend: int,
    short_stages: Literal["shrink", "error"] = "shrink",
    where: str = "the request",
) -> Composition:
    """The DoubleTake intervals of a motion whose stages are ``bounds`` (contiguous ``[start, end)``)."""
    lengths = [end - start for start, end in bounds]
    transitions = []
    for j in range(len(bounds) - 1):
        rooms = (lengths[j] // 2, lengths[j + 1] // 2)
        size, ramp = fit_transition(handshake, blend, *rooms)
        if (size, ramp) != (handshake, blend) and short_stages == "error":
            short = j if handshake // 2 + blend > rooms[0] else j + 1
            need = 2 * (handshake // 2 + blend) if short == j else 2 * (handshake - handshake // 2 + blend)
            raise MogenBenchError(
                f"{where}: stage {short} has {lengths[short]} frames, too few for a handshake of {handshake} "
                f"and a blend of {blend} (a transition takes at most half of a stage: {need} frames needed)",
                field="model.handshake",
                fix='lower model.handshake / model.blend, or set model.short_stages = "shrink"',
            )
        transitions.append(Transition(bounds[j][1], size, ramp))
    total = bounds[-1][1]
    starts = [bounds[0][0], *(t.start for t in transitions)]
    ends = [*(t.end for t in transitions), total]
    return Composition(total, tuple(zip(starts, ends, strict=True)), tuple(transitions))


class HandshakeAveraging:
    """The first take's ``after_step(x, t) -> x``: neighbouring intervals' handshakes replaced by their blend.

    ``pairs``: ``(previous row, frame of its first handshake frame, next row, handshake)`` for every
    handshake of the batch; the next interval's handshake is its first ``handshake`` frames.
    """

    def __init__(self, pairs: Sequence[tuple[int, int, int, int]], device: torch.device | str = "cpu"):
        previous_rows, previous_frames, next_rows, next_frames, alpha = [], [], [], [], []
        for previous, offset, following, size in pairs:
            k = torch.arange(size)
            previous_rows.append(torch.full((size,), previous))
            previous_frames.append(offset + k)
            next_rows.append(torch.full((size,), following))
            next_frames.append(k)
            alpha.append(k.double() / size)
        self.previous = (_cat(previous_rows, torch.long, device), _cat(previous_frames, torch.long, device))
        self.next = (_cat(next_rows, torch.long, device), _cat(next_frames, torch.long, device))
        self.alpha = _cat(alpha, torch.float64, device)

    def __call__(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        if not len(self.alpha):
            return x
        suffix, prefix = x[self.previous], x[self.next]
        alpha = self.alpha.to(x.dtype).reshape(-1, *([1] * (suffix.ndim - 1)))
        blended = suffix * (1 - alpha) + prefix * alpha
        x = x.clone()  # the sampler's tensor may be referenced elsewhere (the final x0 estimate)
        x[self.previous] = blended
        x[self.next] = blended
        return x


def _cat(parts: list[torch.Tensor], dtype: torch.dtype, device) -> torch.Tensor:
    return torch.cat(parts).to(device) if parts else torch.zeros(0, dtype=dtype, device=device)


def soft_mask(length: int, start: int, handshake: int, ramp: int) -> torch.Tensor:
    """The second take's mask ``(length,)`` over a window whose handshake begins at frame ``start``."""
    if start - ramp < 0 or start + handshake + ramp > length:
        raise ValueError(f"handshake [{start}, {start + handshake}) with ramps of {ramp} leaves the window")
    mask = torch.ones(length, dtype=torch.float64)
    mask[start : start + handshake] = 0.0
    if ramp:
        k = torch.arange(ramp, dtype=torch.float64)
        mask[start - ramp : start] = MAX_SOFT_MASK * (ramp - k) / ramp
        mask[start + handshake : start + handshake + ramp] = MAX_SOFT_MASK * k / ramp
    return mask.float()


def unfold_indices(
    compositions: Sequence[Composition], first_rows: Sequence[int], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each frame of each composed motion comes from in the first-take batch of intervals.

    Returns ``rows``, ``frames`` (LongTensors ``(R, T)``: interval row and frame within it) and ``valid``
    (``(R, T)`` bool, False past a motion's end): ``intervals[rows, frames]`` is the unfolded batch. Interval
    ``i`` of a composition sits in row ``first_rows[r] + i``; it gives its frames from its left handshake's
    end on (the handshake itself comes from the interval before, equal to it after averaging).
    """
    longest = max(c.length for c in compositions)
    rows = torch.zeros(len(compositions), longest, dtype=torch.long)
    frames = torch.zeros(len(compositions), longest, dtype=torch.long)
    for r, composition in enumerate(compositions):
        for i, (start, end) in enumerate(composition.intervals):
            skip = composition.transitions[i - 1].handshake if i else 0
            rows[r, start + skip : end] = first_rows[r] + i
            frames[r, start + skip : end] = torch.arange(skip, end - start)
    valid = torch.arange(longest)[None, :] < torch.tensor([c.length for c in compositions])[:, None]
    return rows.to(device), frames.to(device), valid.to(device)
