"""Fine-grained conditioning: which text every part token of every stage reads, and the masks SAMI applies.

The paper's rule (section 3.3, "Spatial Independence"), which the released code never implemented (it
encodes one caption per motion and repeats it over the 8 part heads):

- head ``h`` of SAMI is the part of token ``h`` (``pose.TOKEN_PARTS``: head, spine, right_arm, left_arm,
  right_leg, left_leg, trajectory, the released order) and head 7 the whole body;
- a part's text feeds only its own head; the overall text feeds the whole-body head and every part head
  whose text is missing in that stage (or dropped in training, ``part_text_drop``);
- stage ``s``'s texts feed only the templates of stage ``s``: the global templates of a stage are built
  from its own texts and its own frames, and anchored inside the stage (``sami.py``).

``route_texts`` turns the stages of a batch into the list of distinct texts (encoded once per batch, in
one text-encoder call) and a ``(B, S, 8)`` table of the text each (motion, stage, head) reads: the
template group ``(b, s, h)`` is built from exactly one text, so gathering that text's tokens is the
key mask "tokens of other stages and other parts at -1e6" with the masked tokens left out rather than
computed and zeroed. ``stage_masks`` gives what is still masked inside the key softmax of SAMI: padding
tokens of the gathered text, the text of a dropped condition (classifier-free guidance), and the frames
of other stages (``-1e6`` on their keys, zero on their values, as the released code masks padding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from annotation.parts import OVERALL
from annotation.validate import is_missing_text
from finemogen.pose import TOKEN_PARTS
from mogen_bench.motion.part_slices import BODY

#: The text field each SAMI head reads first; the whole-body head (the last) reads the overall text.
HEAD_FIELDS: tuple[str, ...] = tuple(OVERALL if part == BODY else part for part in TOKEN_PARTS)
NUM_HEADS = len(HEAD_FIELDS)
#: The part heads (all but the whole-body head, which is the last).
PART_HEADS: tuple[str, ...] = HEAD_FIELDS[:-1]
#: What a masked key gets added (the released code's value).
MASKED = -1e6


class TextBank:
    """Token features ``(N, L, C)`` and mask ``(N, L)`` of the distinct texts of a batch.

    Deliberately not a dataclass: ``repeat_twice`` (classifier-free guidance doubles the condition) leaves
    it as it is, so the conditional and the unconditional half share one bank and its experts run once.
    """

    __slots__ = ("mask", "tokens")

    def __init__(self, tokens: torch.Tensor, mask: torch.Tensor):
        self.tokens = tokens
        self.mask = mask

    def __len__(self) -> int:
        return self.tokens.shape[0]


@dataclass
class StageCondition:
    """The condition of a batch: texts, the text each (motion, stage, head) reads, stage bounds in frames.

    ``slots (B, S, 8)``: row of ``bank`` or -1 (no text); ``starts``/``ends (B, S)``: frame bounds of each
    stage (``ends == starts`` on the padding stages of motions with fewer than ``S`` stages).
    """

    bank: TextBank
    slots: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor


@dataclass
class RoutedTexts:
    """``route_texts``'s result: the distinct texts, in first-use order, and the routing table."""

    texts: list[str]
    slots: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor


def _text(stage: Mapping[str, object], field: str) -> str | None:
    text = stage.get(field)
    return None if is_missing_text(text) else str(text)


def route_texts(
    motions: Sequence[Sequence[Mapping[str, object]]],
    part_drop: torch.Tensor | None = None,
) -> RoutedTexts:
    """Route the stages of a batch (per motion: stage dicts with ``start_frame``, ``end_frame`` and texts).

    ``part_drop (B, S, 7)`` bool, optional: part texts (in ``PART_HEADS`` order) to replace by the stage's
    overall text. Python loops
    over strings here are the price of reading texts; the network itself never loops over motions or stages.
    """
    count = len(motions)
    stages = max((len(m) for m in motions), default=0)
    stages = max(stages, 1)
    slots = torch.full((count, stages, NUM_HEADS), -1, dtype=torch.long)
    starts = torch.zeros((count, stages), dtype=torch.long)
    ends = torch.zeros((count, stages), dtype=torch.long)
    drop = part_drop.tolist() if part_drop is not None else None
    index: dict[str, int] = {}

    def row(text: str | None) -> int:
        if text is None:
            return -1
        return index.setdefault(text, len(index))

    table = slots.tolist()
    bounds_start, bounds_end = starts.tolist(), ends.tolist()
    for b, motion in enumerate(motions):
        for s, stage in enumerate(motion):
            bounds_start[b][s], bounds_end[b][s] = int(stage["start_frame"]), int(stage["end_frame"])
            overall = row(_text(stage, OVERALL))
            heads = table[b][s]
            for h, part in enumerate(PART_HEADS):
                text = _text(stage, part)
                heads[h] = overall if text is None or (drop is not None and drop[b][s][h]) else row(text)
            heads[-1] = overall
    return RoutedTexts(
        texts=list(index),
        slots=torch.tensor(table, dtype=torch.long),
        starts=torch.tensor(bounds_start, dtype=torch.long),
        ends=torch.tensor(bounds_end, dtype=torch.long),
    )


def zero_shot_stages(
    motions: Sequence[Sequence[Mapping[str, object]]], lengths: Sequence[int]
) -> list[list[dict]]:
    """The zero-shot training condition: one stage over the whole crop with the overall text of the stage
    that covers most of it (the first of equals), no part texts."""
    out = []
    for motion, length in zip(motions, lengths, strict=True):
        covered = [min(int(s["end_frame"]), length) - max(int(s["start_frame"]), 0) for s in motion]
        best = motion[covered.index(max(covered))] if motion else {}
        out.append([{"start_frame": 0, "end_frame": int(length), OVERALL: best.get(OVERALL)}])
    return out


@dataclass
class StageMasks:
    """What SAMI masks, for a batch of ``B`` motions, ``S`` stages, ``T`` frames and ``L`` text tokens.

    - ``text (B, S, 8, L)``: token ``l`` of the text that head ``h`` of stage ``s`` reads is a key / value
      of the template group ``(b, s, h)`` (False: padding, no text, or the condition is dropped);
    - ``frames (B, S, T)``: frame ``t`` is a key / value of stage ``s``'s template groups (it lies in stage
      ``s``, before the motion's end);
    - ``stages (B, S)``: the stage exists (has frames); templates of other stages are never read;
    - ``starts``, ``lengths (B, S)``: stage bounds in frames (float), for the time anchors;
    - ``positions (B, T)``: each frame's position inside its stage (the experts' position embedding,
      as the released composition gives every stage positions from 0).
    """

    text: torch.Tensor
    frames: torch.Tensor
    stages: torch.Tensor
    starts: torch.Tensor
    lengths: torch.Tensor
    positions: torch.Tensor


def stage_masks(condition: StageCondition, frame_mask: torch.Tensor, drop: torch.Tensor) -> StageMasks:
    """The masks of ``condition`` for frames ``frame_mask (B, T)`` with conditions ``drop (B,)`` dropped."""
    device = frame_mask.device
    slots = condition.slots.to(device)
    # Stages end at the motion's end at the latest (a crop cuts stages; generation never does).
    ends = torch.minimum(condition.ends.to(device), frame_mask.sum(1, keepdim=True))
    starts = torch.minimum(condition.starts.to(device), ends)
    frames = frame_mask.shape[1]
    clock = torch.arange(frames, device=device)
    in_stage = (clock[None, None, :] >= starts[..., None]) & (clock[None, None, :] < ends[..., None])
    in_stage = in_stage & frame_mask[:, None, :]
    keep_text = condition.bank.mask.to(device)[slots.clamp_min(0)]  # (B, S, 8, L)
    keep_text = keep_text & (slots >= 0)[..., None] & ~drop.to(device)[:, None, None, None]
    # The start of the (one) stage each frame lies in; frames in no stage keep their own index.
    own_start = (in_stage.long() * starts[..., None]).sum(1)
    positions = torch.where(in_stage.any(1), clock[None, :] - own_start, clock[None, :])
    return StageMasks(
        text=keep_text,
        frames=in_stage,
        stages=ends > starts,
        starts=starts.float(),
        lengths=(ends - starts).clamp_min(0).float(),
        positions=positions,
    )
