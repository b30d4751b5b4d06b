"""The motions a protocol evaluates: one deterministic pass over a split, cropped as the protocol says.

A pass picks, for every motion of the split, a crop (at most ``max_frames`` frames, in units of
``unit_length`` when ``unit_crop``) and one caption, from ``(seed, epoch)`` alone, with the training
loader's counter-based randomness: the same pass on any machine, in any number of processes. Pass 0 is
the ground truth whose embeddings are cached; the "Real motions" row compares later passes (new crops and
captions, as the official code's second pass over its ground-truth loader) with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from annotation.model import Stage
from annotation.parts import PARTS, TEXT_FIELDS
from mogen_bench.data.torch_dataset import MotionDataConfig, MotionDataset, collate_motions
from mogen_bench.evaluation.protocols import Protocol

#: Motions read (and embedded) at once.
CHUNK = 256


@dataclass
class EvaluationSet:
    """One pass: per motion its dataset row, crop length, caption (+ tokens) and crop-relative stages."""

    rows: np.ndarray
    motion_ids: list[str]
    lengths: np.ndarray
    captions: list[str]
    tokens: list
    stages: list[list[dict]]
    dataset: MotionDataset
    epoch: int

    def __len__(self) -> int:
        return len(self.rows)

    def chunks(self, size: int = CHUNK) -> Iterator[tuple[np.ndarray, dict]]:
        """``(positions, batch)`` over the pass: dataset-space features of the same crops, padded."""
        self.dataset.set_epoch(self.epoch)
        for start in range(0, len(self.rows), size):
            positions = np.arange(start, min(start + size, len(self.rows)))
            yield positions, collate_motions(self.dataset.__getitems__(self.rows[positions].tolist()))

    def stage_objects(self, position: int) -> tuple[Stage, ...]:
        """The motion's stages as annotation ``Stage`` objects (what models are asked to generate)."""
        return tuple(
            Stage(stage["start_frame"], stage["end_frame"], **{name: stage.get(name) for name in TEXT_FIELDS})
            for stage in self.stages[position]
        )

    def part_texts(self) -> dict[str, list[str | None]]:
        """Per part, each motion's text for it: that of the stage covering most of the crop."""
        out: dict[str, list[str | None]] = {part: [] for part in PARTS}
        for stages in self.stages:
            main = max(stages, key=lambda s: s["end_frame"] - s["start_frame"]) if stages else {}
            for part in PARTS:
                text = main.get(part)
                out[part].append(text if text and text.strip() else None)
        return out


def evaluation_set(
    folder: str | Path, split: str, protocol: Protocol, seed: int, epoch: int = 0
) -> EvaluationSet:
    """Pass ``epoch`` of ``protocol`` over ``split`` of the prepared dataset in ``folder``."""
    config = MotionDataConfig(
        max_frames=protocol.max_frames,
        normalise=False,  # evaluators take dataset-space features and apply their own statistics
        random_crop=True,
        unit_crop=protocol.unit_crop,
        unit_length=protocol.unit_length,
        random_caption=True,
        seed=seed,
    )
    dataset = MotionDataset(folder, split, config)
    dataset.set_epoch(epoch)
    rows = np.arange(len(dataset))
    lengths, captions, tokens, stages = [], [], [], []
    for start in range(0, len(rows), CHUNK):
        # Only the texts and crop lengths are kept here; features are read again when embedded.
        for item in dataset.__getitems__(rows[start : start + CHUNK].tolist()):
            lengths.append(item["length"])
            captions.append(item["caption"])
            tokens.append(item["tokens"])
            stages.append(item["stages"])
    return EvaluationSet(
        rows=rows,
        motion_ids=list(dataset.motion_ids),
        lengths=np.asarray(lengths, np.int64),
        captions=captions,
        tokens=tokens,
        stages=stages,
        dataset=dataset,
        epoch=epoch,
    )


def as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
