"""``write_synth``: MoGen-Synth on disk, in exactly the layout of a HuMMan-MoGen release.

    <out>/smpl_on_ground/pXXXXXX_aXXXXXX.npz  betas (T,10) body_pose (T,69) global_orient (T,3) transl (T,3)
    <out>/smpl_on_ground/pXXXXXX_rXXXXXX.npz  the mirrored copy
    <out>/annotations/pXXXXXX_[ar]XXXXXX.json the stage list (annotation.humman_json)
    <out>/body_model/SMPL_NEUTRAL.npz          the synthetic SMPL body model the betas belong to
    <out>/synth.json                           what made it: generator, version, seed, config, fps, up axis,
                                               held-out combinations, counts, splits, subject sizes,
                                               per-sequence labels
    <out>/humanml3d/...                        only with ``humanml3d=True`` (see ``humanml3d_export``)

The betas are coefficients of the synthetic SMPL model (``motion.synthetic_smpl``; beta 0 is the subject's
size, a bone-length scale), not of the real SMPL model, so the model is written beside the data: it is what
``prepare synth`` poses the bodies with, and ``prepare humman-mogen <out> --smpl-model <out>/body_model``
or any SMPL tool (smplx, a mesh renderer) given that file sees each subject's own size.

All float32, 30 fps (``config.fps``), z up, metres. Everything is written into a temporary folder beside
``out`` and renamed to ``out`` at the end, so an interrupted run never leaves a folder that looks complete.
Output is a pure function of the configuration: the same seed gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from annotation.humman_json import dumps_humman_json
from annotation.parts import PARTS
from mogen_bench import __version__
from mogen_bench.data.splits import SPLIT_RULE, SPLITS
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.synthetic_smpl import write_synthetic_smpl_model
from mogen_bench.synth.assemble import UP_AXIS
from mogen_bench.synth.config import SynthConfig, resolve_config
from mogen_bench.synth.generate import NPZ_KEYS, SynthMotion, iter_synth_chunks, plan

GENERATOR = "mogen-synth"
#: Bump when the same configuration would generate different data.
SYNTH_VERSION = "2.0"
#: Folder of the synthetic SMPL body model inside a generated tree (``smpl.load_smpl_model`` reads it).
BODY_MODEL_DIR = "body_model"
COORDINATES = (
    "metres, z up (as AMASS); each sequence starts at the origin facing +y with the subject's left toward "
    "-x; the z-up -> y-up rotation (x, y, z) -> (-x, z, y) (HumanML3D's, mogen_bench.motion.up_axis) gives "
    "SMPL's own frame (y up, facing +z, left +x)"
)
BODY_MODEL = (
    "betas are coefficients of the synthetic SMPL model in body_model/SMPL_NEUTRAL.npz "
    "(mogen_bench.motion.synthetic_smpl), not of the real SMPL model: beta 0 is the subject's size, a "
    "bone-length scale about the pelvis, size = 1 + 0.05 * beta0 (subject_sizes); betas 1-9 are small "
    "proportions (1 taller, 2 wider by 5% per unit, 3-9 at most 5 mm per joint per unit, drawn a fifth as "
    "wide), constant per subject. Every motion is posed and grounded on its subject's skeleton in that "
    "model: the lowest joint touches z = 0 in every frame except in a jump's flight. Another body model "
    "(the real SMPL) reads the betas differently, so its feet would leave the floor"
)


def _check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MogenBenchError(
            "the output path is a file, not a folder",
            file=str(out),
            fix="choose a folder path for the output",
        )
    if out.is_dir() and any(out.iterdir()):
        raise MogenBenchError(
            "the output folder exists and is not empty",
            file=str(out),
            field="out_dir",
            fix="choose a new folder, or delete this one first",
        )


def _write_motion(folder: Path, motion: SynthMotion) -> None:
    with open(folder / "smpl_on_ground" / f"{motion.motion_id}.npz", "wb") as handle:
        np.savez(handle, **{key: motion.params[key] for key in NPZ_KEYS})
    text = dumps_humman_json(motion.annotation)
    (folder / "annotations" / f"{motion.motion_id}.json").write_text(text, encoding="utf-8")


def _progress(enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import Progress

    return Progress(transient=True)


def write_synth(
    out_dir: str | os.PathLike,
    config: SynthConfig | str | None = None,
    *,
    humanml3d: bool | None = None,
    progress: bool = False,
) -> Path:
    """Generate MoGen-Synth into ``out_dir`` (new or empty) and return its path.

    ``config`` is a ``SynthConfig`` or a preset name (``tiny``, ``small``, ``full``; default ``small``);
    ``humanml3d`` overrides ``config.humanml3d``; ``progress`` shows a progress bar.
    """
    config = resolve_config(config)
    if humanml3d is not None:
        config = config.replace(humanml3d=bool(humanml3d))
    out = Path(out_dir)
    _check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / "smpl_on_ground").mkdir()
        (tmp / "annotations").mkdir()
        write_synthetic_smpl_model(tmp / BODY_MODEL_DIR)
        writer = None
        if config.humanml3d:
            from mogen_bench.synth.humanml3d_export import HumanML3DWriter

            writer = HumanML3DWriter(tmp / "humanml3d", config.fps)
        summary = _Summary(config)
        with _progress(progress) as bar:
            task = bar.add_task("MoGen-Synth", total=config.num_sequences) if bar else None
            for chunk in iter_synth_chunks(config):
                for motion in chunk:
                    _write_motion(tmp, motion)
                    summary.add(motion)
                if writer is not None:
                    writer.add(chunk)
                if bar is not None:
                    bar.advance(task, sum(not m.mirrored for m in chunk))
        metadata = summary.metadata()
        if writer is not None:
            metadata["humanml3d"] = writer.finish()
        text = json.dumps(metadata, indent=2) + "\n"
        (tmp / "synth.json").write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
        if out.is_dir():
            out.rmdir()  # empty (checked above); rename cannot replace a folder on every system
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class _Summary:
    """Counts and labels gathered while writing, for ``synth.json``."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        subjects, _, held_out = plan(config)
        self.subjects = {s.subject_id: s.split for s in subjects}
        self.sizes = {s.subject_id: round(s.size, 6) for s in subjects}
        self.held_out = held_out
        self.splits = {
            split: {"subjects": set(), "sequences": 0, "motions": 0, "frames": 0} for split in SPLITS
        }
        self.sequences: dict[str, dict] = {}
        self.with_held_out = 0

    def add(self, motion: SynthMotion) -> None:
        counts = self.splits[motion.split]
        counts["subjects"].add(motion.subject_id)
        counts["motions"] += 1
        counts["frames"] += motion.num_frames
        if motion.mirrored:
            return
        counts["sequences"] += 1
        self.with_held_out += bool(motion.held_out)
        self.sequences[motion.motion_id] = {
            "split": motion.split,
            "stages": [stage.labels() for stage in motion.spec.stages],
            "held_out": [list(c) for c in motion.held_out],
        }

    def metadata(self) -> dict:
        splits = {
            split: {**counts, "subjects": len(counts["subjects"])} for split, counts in self.splits.items()
        }
        return {
            "generator": GENERATOR,
            "version": SYNTH_VERSION,
            "tool_version": __version__,
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "fps": self.config.fps,
            "up_axis": UP_AXIS,
            "coordinates": COORDINATES,
            "body_model": BODY_MODEL,
            "body_model_file": f"{BODY_MODEL_DIR}/SMPL_NEUTRAL.npz",
            "split_rule": SPLIT_RULE,
            "held_out_combinations": self.held_out.labels(),
            "counts": {
                "subjects": len(self.subjects),
                "sequences": sum(s["sequences"] for s in splits.values()),
                "motions": sum(s["motions"] for s in splits.values()),
                "frames": sum(s["frames"] for s in splits.values()),
                "test_sequences_with_held_out": self.with_held_out,
                "splits": splits,
            },
            "subjects": self.subjects,
            "subject_sizes": self.sizes,
            "parts": list(PARTS),
            "sequences": self.sequences,
        }
