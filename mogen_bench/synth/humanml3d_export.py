"""The same motions in HumanML3D's layout, for tools that read HumanML3D (``humanml3d/`` beside the release).

    humanml3d/new_joint_vecs/<id>.npy   float32 (T-1, 263)  extract_features of the 20 fps joints
    humanml3d/new_joints/<id>.npy       float32 (T-1, 22, 3)  recover_from_ric of those features
    humanml3d/texts/<id>.txt            caption#word/POS ...#0.0#0.0, one line per caption
    humanml3d/Mean.npy, Std.npy         float32 (263,)  over the train split, std averaged per feature group
    humanml3d/{train,val,test,train_val,all}.txt   ids, originals first, then the mirrors, as HumanML3D

The joints go the way ``prepare synth`` takes the release layout (``data/sources/synth.py``): SMPL
parameters as written (float32) -> joints of the synthetic SMPL body model with the sequence's betas (each
subject's own size, ``kinematics.smpl_params_joints``) -> z up to y up (``up_axis``) -> 30 -> 20 fps
(``resample_positions``) -> ``extract_features``. As in HumanML3D, ``new_joints`` is what the
features decode to (retargeted to HumanML3D's skeleton, on the floor, facing +z at the first frame), with
as many frames as the features. The mirror of ``<id>`` is ``M<id>``, as HumanML3D names its mirrored
copies; ids are the HuMMan-MoGen ``a`` ids (``p000001_a000001``, ``Mp000001_a000001``).

Captions describe the whole motion (``0.0#0.0``): the stages' overall descriptions joined with "then".
Mean and std follow ``cal_mean_variance`` (``data.normalisation``), over train only.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from mogen_bench.data.normalisation import RunningMoments, grouped_statistics
from mogen_bench.data.splits import SPLITS
from mogen_bench.motion.guo_features import extract_features, recover_from_ric
from mogen_bench.motion.resample import resample_positions
from mogen_bench.motion.up_axis import points_to_y_up
from mogen_bench.synth.assemble import UP_AXIS
from mogen_bench.synth.generate import SynthMotion
from mogen_bench.synth.kinematics import axis_angle_to_quaternion, posed_joints, synthetic_shape_space
from mogen_bench.synth.pos_tags import tokenize

HUMANML3D_FPS = 20.0
DIMS = 263


def humanml3d_id(motion: SynthMotion) -> str:
    """``p000001_a000001`` for an original, ``Mp000001_a000001`` for its mirror."""
    return f"M{motion.source_id}" if motion.mirrored else motion.motion_id


def caption_line(caption: str) -> str:
    return f"{caption}#{' '.join(tokenize(caption))}#0.0#0.0"


def joints_20fps(motions: list[SynthMotion], source_fps: float) -> list[torch.Tensor]:
    """Per motion, the 22 SMPL joints at 20 fps in the y-up world ``(K, 22, 3)``, float64."""
    params = [m.params for m in motions]
    local = np.concatenate(
        [
            axis_angle_to_quaternion(
                np.concatenate(
                    [p["global_orient"][:, None], p["body_pose"].reshape(-1, 23, 3)], axis=1
                ).astype(np.float64)
            )
            for p in params
        ]
    )
    transl = np.concatenate([p["transl"] for p in params]).astype(np.float64)
    shape = synthetic_shape_space()
    rest = np.concatenate(
        [
            np.broadcast_to(
                shape.rest_joints(p["betas"].mean(axis=0, dtype=np.float64)), (len(p["transl"]), 24, 3)
            )
            for p in params
        ]
    )
    joints = torch.from_numpy(posed_joints(local, rest, transl)[:, :22])
    joints = points_to_y_up(joints, UP_AXIS)
    out, start = [], 0
    for m in motions:
        end = start + m.num_frames
        moving = resample_positions(joints[start:end].flatten(-2), source_fps, HUMANML3D_FPS)
        out.append(moving.unflatten(-1, (22, 3)))
        start = end
    return out


class HumanML3DWriter:
    """Writes motions as they come (a chunk at a time) and the statistics and split lists at the end."""

    def __init__(self, folder: Path, source_fps: float) -> None:
        self.folder = Path(folder)
        self.source_fps = source_fps
        for sub in ("new_joints", "new_joint_vecs", "texts"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.moments = RunningMoments(DIMS)
        self.ids: dict[tuple[str, bool], list[str]] = defaultdict(list)
        self.count = 0

    def add(self, motions: list[SynthMotion]) -> None:
        joints = joints_20fps(motions, self.source_fps)
        # extract_features smooths over each whole motion, so only motions of equal length share a batch.
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, j in enumerate(joints):
            by_length[j.shape[0]].append(i)
        features: dict[int, np.ndarray] = {}
        recovered: dict[int, np.ndarray] = {}
        for _, members in sorted(by_length.items()):
            batch = extract_features(torch.stack([joints[i] for i in members])).to(torch.float32)
            decoded = recover_from_ric(batch)
            for k, i in enumerate(members):
                features[i], recovered[i] = batch[k].numpy(), decoded[k].numpy()
        for i, motion in enumerate(motions):
            name = humanml3d_id(motion)
            np.save(self.folder / "new_joint_vecs" / f"{name}.npy", features[i])
            np.save(self.folder / "new_joints" / f"{name}.npy", recovered[i])
            text = "\n".join(caption_line(c) for c in motion.captions) + "\n"
            (self.folder / "texts" / f"{name}.txt").write_text(text, encoding="utf-8")
            if motion.split == "train":
                self.moments.add(features[i])
            self.ids[(motion.split, motion.mirrored)].append(name)
            self.count += 1

    def finish(self) -> dict:
        """Write Mean/Std and the split lists; return counts for ``synth.json``."""
        mean, std = grouped_statistics(self.moments, "humanml3d-263")
        np.save(self.folder / "Mean.npy", mean)
        np.save(self.folder / "Std.npy", std)
        lists = {split: self.ids[(split, False)] + self.ids[(split, True)] for split in SPLITS}
        lists["train_val"] = lists["train"] + lists["val"]
        lists["all"] = [i for split in SPLITS for i in self.ids[(split, False)]]
        lists["all"] += [i for split in SPLITS for i in self.ids[(split, True)]]
        for name, ids in lists.items():
            (self.folder / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        return {
            "fps": HUMANML3D_FPS,
            "motions": self.count,
            "splits": {split: len(lists[split]) for split in SPLITS},
        }
