"""Builders of small HumanML3D / KIT-ML release folders (the official layout) for the source tests.

``build_tree(root, "humanml3d")`` writes ``new_joint_vecs/<id>.npy``, ``texts/<id>.txt``, ``Mean.npy``,
``Std.npy`` and the split files, with clips chosen to exercise every rule of the official loader: whole-clip
and timed captions (including NaN tags and two captions of one window), clips at both length bounds, a
NaN clip, missing files, wrong widths, a malformed caption file and a mirrored ``M`` copy. With
``real_sample`` (the shared HumanML3D sample folder) it adds the real clip 012314 with a caption file
written here, and ships the real Mean.npy / Std.npy.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DIMS = {"humanml3d": 263, "kit-ml": 251}
#: The official length filter ``min <= T < max`` of each dataset.
BOUNDS = {"humanml3d": (40, 200), "kit-ml": (24, 200)}
REAL_CLIP = "012314"


def smooth_features(frames: int, dims: int, seed: int) -> np.ndarray:
    """``(frames, dims)`` float32 of smooth, distinct curves (sines of random frequency and phase)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames, dtype=np.float64)[:, None] / 20.0
    freq = rng.uniform(0.1, 1.5, dims)
    phase = rng.uniform(0, 2 * math.pi, dims)
    amp = rng.uniform(0.1, 2.0, dims)
    offset = rng.normal(0, 1, dims)
    return (amp * np.sin(2 * math.pi * freq * t + phase) + offset).astype(np.float32)


def caption_line(text: str, start: float | str = 0.0, end: float | str = 0.0) -> str:
    """A ``caption#word/POS ...#start#end`` line; times may be strings such as ``"nan"``."""
    words = [w.strip(".,").lower() for w in text.split()]
    tokens = " ".join(f"{w}/{'VERB' if w.endswith('s') else 'NOUN'}" for w in words if w.isalpha())
    return f"{text}#{tokens}#{start}#{end}"


def write_clip(root: Path, clip_id: str, features: np.ndarray | None, captions: list[str] | None) -> None:
    """``new_joint_vecs/<id>.npy`` (unless ``features`` is None) and ``texts/<id>.txt`` (unless None)."""
    if features is not None:
        (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
        np.save(root / "new_joint_vecs" / f"{clip_id}.npy", features)
    if captions is not None:
        (root / "texts").mkdir(parents=True, exist_ok=True)
        (root / "texts" / f"{clip_id}.txt").write_text("".join(line + "\n" for line in captions))


def write_splits(root: Path, splits: dict[str, list[str]]) -> None:
    """``<split>.txt`` for each split, plus ``all.txt`` and ``train_val.txt`` as the release has them."""
    root.mkdir(parents=True, exist_ok=True)
    for split, ids in splits.items():
        (root / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
    everything = [i for ids in splits.values() for i in ids]
    (root / "all.txt").write_text("".join(i + "\n" for i in [*everything, "999999"]))
    train_val = splits.get("train", []) + splits.get("val", [])
    (root / "train_val.txt").write_text("".join(i + "\n" for i in train_val))


@dataclass
class Hml3dTree:
    """A written release folder and what was put in it."""

    root: Path
    dataset: str
    dims: int
    #: Features written per clip id, exactly as saved.
    features: dict[str, np.ndarray] = field(default_factory=dict)
    #: Caption lines written per clip id.
    captions: dict[str, list[str]] = field(default_factory=dict)
    splits: dict[str, list[str]] = field(default_factory=dict)

    def add(self, split: str, clip_id: str, features: np.ndarray | None, captions: list[str] | None) -> None:
        write_clip(self.root, clip_id, features, captions)
        if features is not None:
            self.features[clip_id] = features
        if captions is not None:
            self.captions[clip_id] = captions
        self.splits.setdefault(split, []).append(clip_id)


def build_tree(root: Path, dataset: str = "humanml3d", *, real_sample: Path | None = None) -> Hml3dTree:
    """Write the standard test release of ``dataset`` under ``root`` (see the module docstring)."""
    if real_sample is not None and dataset != "humanml3d":
        raise ValueError("the real sample is a HumanML3D clip (263 dims)")
    dims = DIMS[dataset]
    low, high = BOUNDS[dataset]
    tree = Hml3dTree(Path(root), dataset, dims)
    tree.root.mkdir(parents=True, exist_ok=True)

    main = smooth_features(120, dims, seed=1)
    tree.add(
        "test",
        "000001",
        main,
        [
            caption_line("a person walks forward."),
            caption_line("someone strolls ahead.", "nan", "nan"),  # NaN tags count as 0: whole clip
            caption_line("the person raises the left arm.", 1.25, 4.0),  # [25, 80)
            caption_line("a person waves.", 1.25, 3.0),  # [25, 60): 35 frames
            caption_line("the person turns around.", 2.0, 5.0),  # [40, 100) ...
            caption_line("someone spins.", 2.0, 5.0),  # ... the same window again
            caption_line("a person starts walking.", "nan", 3.0),  # [0, 60)
            caption_line("a person kneels.", 1.27, 4.99),  # int() truncates: [25, 99)
            caption_line("a person sits.", 2.0, 3.95),  # [40, 79): 39 frames
            caption_line("a person stands.", 2.0, 4.0),  # [40, 80): 40 frames
            caption_line("a person lies down.", 5.0, 7.5),  # [100, 150) cut at the clip's 120 frames
        ],
    )
    tree.add(
        "test",
        "M000001",
        -main,
        [
            caption_line("a person walks forward."),
            caption_line("the person raises the right arm.", 1.25, 4.0),
        ],
    )
    for clip_id, frames in (("000002", low - 1), ("000003", low), ("000004", high - 1)):
        tree.add(
            "test", clip_id, smooth_features(frames, dims, seed=frames), [caption_line("a person jumps.")]
        )
    tree.add(
        "test",
        "000005",
        smooth_features(high, dims, seed=5),
        [caption_line("a person runs."), caption_line("a person stops.", 1.0, 4.0)],
    )
    nan_clip = smooth_features(100, dims, seed=6)
    nan_clip[10:13] = np.nan
    tree.add("test", "000006", nan_clip, [caption_line("a person dances.")])
    tree.add("test", "000007", None, None)  # listed, but neither file exists
    tree.add("test", "000008", smooth_features(80, dims, seed=8), None)  # no caption file
    tree.add("test", "000009", smooth_features(80, dims - 12, seed=9), [caption_line("a person hops.")])
    tree.add("test", "000010", smooth_features(80, dims, seed=10), ["a person jumps#a/DET jump/VERB#0.0"])

    tree.add("train", "000100", smooth_features(120, dims, seed=100), [caption_line("a person crawls.")])
    tree.add(
        "train",
        "000101",
        smooth_features(60, dims, seed=101),
        [caption_line("a person climbs.", 0.5, 2.75)],  # timed only: [10, 55)
    )
    tree.add("val", "000200", smooth_features(80, dims, seed=200), [caption_line("a person bows.")])

    if real_sample is not None:
        real = np.load(real_sample / "new_joint_vecs" / f"{REAL_CLIP}.npy")
        tree.add(
            "train",
            REAL_CLIP,
            real,
            [caption_line("a person walks in a circle."), caption_line("a person walks.", 1.0, 5.0)],
        )
        for name in ("Mean.npy", "Std.npy"):
            shutil.copyfile(real_sample / name, tree.root / name)
    else:
        rng = np.random.default_rng(7)
        np.save(tree.root / "Mean.npy", rng.normal(0, 1, dims).astype(np.float32))
        np.save(tree.root / "Std.npy", rng.uniform(0.05, 2.0, dims).astype(np.float32))
    write_splits(tree.root, tree.splits)
    return tree
