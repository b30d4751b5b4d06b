"""A small HuMMan-MoGen release tree for tests: smooth SMPL motions and stage annotations, z-up or y-up."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from annotation.parts import HUMMAN_KEYS


def smpl_sequence(frames: int, seed: int, up_axis: str = "z") -> dict[str, np.ndarray]:
    """Smooth SMPL parameters of a standing, swaying body walking slowly forward."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 30.0
    body_pose = 0.3 * rng.uniform(-1, 1, (1, 69)) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0, (1, 69)) * t)
    global_orient = np.zeros((frames, 3))
    transl = np.zeros((frames, 3))
    if up_axis == "z":
        global_orient[:, 0] = np.pi / 2  # SMPL's body is y-up: stand it along +z
        transl[:, 1] = 0.4 * t[:, 0]
        transl[:, 2] = 0.95
    else:
        transl[:, 2] = 0.4 * t[:, 0]
        transl[:, 1] = 0.95
    betas = np.repeat(rng.normal(0, 0.5, (1, 10)), frames, axis=0)
    return {
        "betas": betas.astype(np.float32),
        "body_pose": body_pose.astype(np.float32),
        "global_orient": global_orient.astype(np.float32),
        "transl": transl.astype(np.float32),
    }


def stage_list(frames: int, cuts: list[int], tag: str) -> list[dict]:
    edges = [0, *cuts, frames]
    stages = []
    for i, (start, end) in enumerate(itertools.pairwise(edges)):
        stage = {"start_frame": start, "end_frame": end, "num_frames": end - start}
        for field, key in HUMMAN_KEYS.items():
            stage[key] = f"{tag} stage {i} {field.replace('_', ' ')} moves."
        stages.append(stage)
    return stages


def write_humman_tree(root: Path, subjects: int = 4, frames: int = 75, up_axis: str = "z") -> Path:
    """``root/smpl_on_ground/*.npz`` + ``root/annotations/*.json``: two sequences (a, r) per subject."""
    (root / "smpl_on_ground").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for s in range(subjects):
        for kind in ("a", "r"):
            sequence = f"p{s + 1:06d}_{kind}000001"
            length = frames + 3 * s
            np.savez(root / "smpl_on_ground" / f"{sequence}.npz", **smpl_sequence(length, s, up_axis))
            cuts = [length // 3, 2 * length // 3]
            stages = stage_list(length, cuts, sequence)
            (root / "annotations" / f"{sequence}.json").write_text(json.dumps(stages))
    return root
