"""A tiny BABEL v1.0 + AMASS SMPL-H tree for tests: z-up smooth motions at 120, 60 and 30 fps, frame labels.

``write_babel_tree(root)`` writes ``root/babel/{train,val}.json`` and ``root/amass/...npz``:

=====  ==========  ====  ======  ==========================================================================
 sid    file        fps   frames  what it exercises
=====  ==========  ====  ======  ==========================================================================
 1      train       120   481     t-pose start, overlap, nested label, gap; feat_p with repeated CMU/CMU
 2      train        60   151     identical consecutive labels, a 1-frame label, a-pose end, a bad label
 3      train        60    90     no frame_ann (seq_ann only)
 4      train        --    --     npz missing
 5      train        --    --     feat_p outside the AMASS root
 6      train        --    --     npz that is not a zip
 7      train       120   120     only t-pose labels
 8      train        30    61     carved into val by the sid hash (sha256 fraction < 0.05)
 10     val          60   121     run / transition / stop -> test
 11     val         120     5     too short at 20 fps
 2      val          --    --     babel_sid already in train.json
=====  ==========  ====  ======  ==========================================================================
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def smplh_sequence(frames: int, fps: float, seed: int) -> dict[str, np.ndarray]:
    """AMASS-shaped SMPL-H arrays: a body standing along +z (root (pi/2, 0, 0)) walking along -y at 0.4 m/s.

    The root rotation turns SMPL's y-up, +z-facing body into the z-up world, where it faces -y; it walks
    forwards at a constant height of 0.95 m while its joints sway slowly.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / fps
    poses = np.zeros((frames, 156))
    poses[:, 0] = np.pi / 2
    poses[:, 3:] = (
        0.2 * rng.uniform(-1, 1, (1, 153)) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0, (1, 153)) * t)
    )
    trans = np.zeros((frames, 3))
    trans[:, 1] = -0.4 * t[:, 0]
    trans[:, 2] = 0.95
    return {
        "poses": poses,
        "trans": trans,
        "betas": rng.normal(0, 0.5, 16),
        "dmpls": np.zeros((frames, 8)),
        "gender": np.array("male"),
        "mocap_framerate": np.array(float(fps)),
    }


def label(text: str, start: float, end: float, seg: str = "s") -> dict:
    return {
        "proc_label": text,
        "raw_label": text.upper(),
        "act_cat": [text],
        "seg_id": seg,
        "start_t": start,
        "end_t": end,
    }


#: sid 1's frame labels (seconds; 120 fps).
SID1_LABELS = [
    label("t pose", 0.0, 0.5),
    label("walk", 0.4, 2.1),
    label("turn around", 1.9, 3.0),
    label("wave", 2.2, 2.5),
    label("stand", 3.1, 4.0),
]
SID2_LABELS = [
    label("jump", 0.0, 1.0),
    label("jump", 1.0, 1.5),
    label("kick", 1.5, 1.51),
    label("jump", 1.52, 2.0),
    label("A-Pose", 2.0, 2.5),
    label("bad", 1.2, 1.1),
]
SID10_LABELS = [label("run", 0.0, 1.0), label("transition", 1.0, 1.2), label("stop", 1.2, 2.0)]


def entry(
    sid: int, feat_p: str, frame_labels: list[dict] | None, seq_labels: list[str] = (), dur: float = 1.0
):
    return {
        "babel_sid": sid,
        "url": f"https://babel-renders.s3.eu-central-1.amazonaws.com/{sid:06d}.mp4",
        "feat_p": feat_p,
        "dur": dur,
        "seq_ann": {
            "babel_lid": f"l{sid}",
            "anntr_id": "a",
            "mul_act": True,
            "labels": [label(t, 0.0, dur) | {"start_t": None, "end_t": None} for t in seq_labels],
        },
        "frame_ann": None
        if frame_labels is None
        else {"babel_lid": f"f{sid}", "anntr_id": "a", "mul_act": True, "labels": frame_labels},
    }


def _npz(root: Path, rel: str, frames: int, fps: float, seed: int) -> None:
    path = root / "amass" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **smplh_sequence(frames, fps, seed))


def write_babel_tree(root: Path, folder: str = "babel") -> Path:
    """The tree in the module docstring, the jsons in ``root/<folder>/``."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    # sid 1's file sits at the path AMASS's archives unpack to (without the repeated CMU/), sid 2's at feat_p.
    _npz(root, "CMU/01/01_01_poses.npz", 481, 120, 1)
    _npz(root, "CMU/CMU/02/02_01_poses.npz", 151, 60, 2)
    _npz(root, "CMU/03/03_01_poses.npz", 90, 60, 3)
    bad = root / "amass" / "CMU" / "06" / "06_01_poses.npz"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"not a zip archive")
    _npz(root, "CMU/07/07_01_poses.npz", 120, 120, 7)
    _npz(root, "KIT/8/sit_01_poses.npz", 61, 30, 8)
    _npz(root, "CMU/10/10_01_poses.npz", 121, 60, 10)
    _npz(root, "CMU/11/11_01_poses.npz", 5, 120, 11)
    train = {
        "1": entry(1, "CMU/CMU/01/01_01_poses.npz", SID1_LABELS, ["walk"], 4.0),
        "2": entry(2, "CMU/CMU/02/02_01_poses.npz", SID2_LABELS, ["jump"], 2.5),
        "3": entry(3, "CMU/CMU/03/03_01_poses.npz", None, ["walk", "t pose", "walk", "sit down"], 1.5),
        "4": entry(4, "CMU/CMU/04/04_01_poses.npz", [label("walk", 0.0, 1.0)]),
        "5": entry(5, "../outside.npz", [label("walk", 0.0, 1.0)]),
        "6": entry(6, "CMU/CMU/06/06_01_poses.npz", [label("walk", 0.0, 1.0)]),
        "7": entry(7, "CMU/CMU/07/07_01_poses.npz", [label("T-pose", 0.0, 0.5), label("tpose", 0.5, 1.0)]),
        "8": entry(8, "KIT/KIT/8/sit_01_poses.npz", [label("sit", 0.0, 2.0)], ["sit"], 2.0),
    }
    val = {
        "10": entry(10, "CMU/CMU/10/10_01_poses.npz", SID10_LABELS, ["run"], 2.0),
        "11": entry(11, "CMU/CMU/11/11_01_poses.npz", [label("walk", 0.0, 0.04)]),
        "2": entry(2, "CMU/CMU/02/02_01_poses.npz", SID2_LABELS),
    }
    (root / folder / "train.json").write_text(json.dumps(train))
    (root / folder / "val.json").write_text(json.dumps(val))
    return root
