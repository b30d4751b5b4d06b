"""HuMMan-MoGen release (``humman_release_v1.0_mogen``) -> prepared dataset.

Input layout (FineMoGen's ``humman_mogen/README.md``)::

    <root>/smpl_on_ground/pXXXXXX_aXXXXXX.npz  betas (T,10) body_pose (T,69) global_orient (T,3) transl (T,3)
    <root>/annotations/pXXXXXX_aXXXXXX.json    [{start_frame, end_frame, num_frames, all, head, ...}, ...]

An ``r`` action id (``pXXXXXX_rXXXXXX``) is the mirror of the ``a`` sequence; it is kept, flagged
``mirrored`` and given the ``a`` id as ``source_id``.

Conversion. SMPL parameters -> joints (the built-in neutral rest skeleton, or ``smplx`` with the user's
body model and the sequence's betas) -> y up -> resampled from the source frame rate to 20 fps ->
``humanml3d-263`` features (T-1 frames, as HumanML3D); or parameters resampled with slerp ->
``smpl-rot6d-135``. Stage bounds move with the resampling (``rescale_stage_bounds``).

Frame rate. The release does not state it. The default, 30 fps, is HuMMan's capture rate as used by
the toolbox's own renderer (``humman_mogen/tools/visualizer_3d.py`` writes its videos at ``fps = 30``),
and the stage lengths it gives (1-10 s per clip) match the README's examples; ``--source-fps`` overrides it.

Up axis. Also unstated; by default it is detected per sequence from the body (pelvis -> head direction,
``detect_up_axis``), recorded in ``dataset.json``, and a sequence where no axis wins is skipped with
the reason. ``--up-axis y|z`` fixes it.

Split. No official split exists; subjects are split 80/5/15 by ``mogen_bench.data.splits`` (a hash of the
subject id), or by a JSON split file ``{"train": [...], "val": [...], "test": [...]}`` whose entries are
subject ids (``p000123``) or sequence ids; a sequence in no list is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from annotation.errors import AnnotationError
from annotation.files import read_user_json
from annotation.humman_json import read_humman_json
from mogen_bench.data.npz import load_npz
from mogen_bench.data.schema import MotionRecord, Skipped
from mogen_bench.data.source import expected_tree_error
from mogen_bench.data.splits import SPLIT_RULE, SPLITS, parse_sequence_id, subject_split
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import extract_features
from mogen_bench.motion.representations import get_representation
from mogen_bench.motion.resample import resample_positions, resample_smpl, rescale_stage_bounds
from mogen_bench.motion.smpl import smpl_joints_builtin, smpl_joints_smplx
from mogen_bench.motion.smpl_rot6d import smpl_to_rot6d
from mogen_bench.motion.up_axis import UP_AXES, detect_up_axis, points_to_y_up

TREE = """  <root>/
    smpl_on_ground/pXXXXXX_aXXXXXX.npz   betas (T,10), body_pose (T,69), global_orient (T,3), transl (T,3)
    annotations/pXXXXXX_aXXXXXX.json     the stage list of the same sequence"""

NPZ_SHAPES = {"betas": (-1, 10), "body_pose": (-1, 69), "global_orient": (-1, 3), "transl": (-1, 3)}
DEFAULT_SOURCE_FPS = 30.0
REPRESENTATIONS = ("humanml3d-263", "smpl-rot6d-135")


def read_split_file(path: Path) -> dict[str, str]:
    """``{subject or sequence id: split}`` from a JSON split file; errors name the file and the entry."""
    raw = read_user_json(path, "a JSON split file")
    fix = 'write {"train": ["p000001", ...], "val": [...], "test": [...]} (subject or sequence ids)'
    if not isinstance(raw, dict) or not raw or set(raw) - set(SPLITS):
        raise MogenBenchError(f"a split file maps split names {SPLITS} to id lists", file=str(path), fix=fix)
    table: dict[str, str] = {}
    for split, ids in raw.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise MogenBenchError(
                f"{split!r} must be a list of id strings", file=str(path), field=split, fix=fix
            )
        for entry in ids:
            if entry in table and table[entry] != split:
                raise MogenBenchError(
                    f"{entry} is listed in both {table[entry]!r} and {split!r}", file=str(path), field=split
                )
            table[entry] = split
    return table


@dataclass
class HummanMogenOptions:
    representation: str = "humanml3d-263"
    source_fps: float = DEFAULT_SOURCE_FPS
    up_axis: str = "auto"
    smpl_model: Path | None = None
    gender: str = "neutral"
    split_file: Path | None = None


class HummanMogenSource:
    """The HuMMan-MoGen release folder as a ``Source``."""

    name = "humman-mogen"

    def __init__(self, root: str | Path, options: HummanMogenOptions | None = None):
        self.root = Path(root).absolute()
        self.opts = options or HummanMogenOptions()
        if self.opts.representation not in REPRESENTATIONS:
            raise MogenBenchError(
                f"humman-mogen converts to {' or '.join(REPRESENTATIONS)}, not {self.opts.representation!r}",
                field="representation",
                fix=f"pass --representation {REPRESENTATIONS[0]} or {REPRESENTATIONS[1]}",
            )
        if not self.opts.source_fps or self.opts.source_fps <= 0:
            raise MogenBenchError(
                f"source fps must be positive, got {self.opts.source_fps}", field="source_fps"
            )
        if self.opts.up_axis not in ("auto", *UP_AXES):
            raise MogenBenchError(f"up axis must be auto, y or z, got {self.opts.up_axis!r}", field="up_axis")
        self.representation = self.opts.representation
        self.fps = get_representation(self.representation).fps
        self._split_table = read_split_file(self.opts.split_file) if self.opts.split_file else None
        self._smpl_model = None

    # ------------------------------------------------------------------ the Source protocol
    def check(self) -> None:
        for folder in ("smpl_on_ground", "annotations"):
            if not (self.root / folder).is_dir():
                raise expected_tree_error(self.name, self.root, f"the folder {folder}/", TREE)
        if not self._motion_files():
            raise expected_tree_error(self.name, self.root, "any smpl_on_ground/*.npz file", TREE)

    def _motion_files(self) -> list[Path]:
        return sorted(p for p in (self.root / "smpl_on_ground").glob("*.npz") if not p.name.startswith("."))

    def _annotation_files(self) -> list[Path]:
        return sorted(p for p in (self.root / "annotations").glob("*.json") if not p.name.startswith("."))

    def input_files(self) -> list[Path]:
        files = self._motion_files() + self._annotation_files()
        if self.opts.split_file:
            files.append(Path(self.opts.split_file).absolute())
        return files

    def options(self) -> dict:
        return {
            "representation": self.representation,
            "source_fps": float(self.opts.source_fps),
            "up_axis": self.opts.up_axis,
            "joints": "smplx" if self.opts.smpl_model else "builtin",
            "gender": self.opts.gender,
            "split_file": str(self.opts.split_file) if self.opts.split_file else None,
        }

    def split_rule(self) -> str:
        return f"split file {self.opts.split_file}" if self._split_table else SPLIT_RULE

    def statistics(self):
        return None

    def expected_items(self) -> int:
        ids = {p.stem for p in self._motion_files()} | {p.stem for p in self._annotation_files()}
        return len(ids)

    def items(self) -> Iterator[MotionRecord | Skipped]:
        motions = {p.stem: p for p in self._motion_files()}
        annotations = {p.stem: p for p in self._annotation_files()}
        for sequence in sorted(motions.keys() | annotations.keys()):
            if sequence not in annotations:
                yield Skipped(sequence, "no annotation file annotations/<id>.json", str(motions[sequence]))
                continue
            if sequence not in motions:
                yield Skipped(sequence, "no motion file smpl_on_ground/<id>.npz", str(annotations[sequence]))
                continue
            yield self._convert(sequence, motions[sequence], annotations[sequence])

    # ------------------------------------------------------------------ one sequence
    def _split(self, sequence: str, subject: str) -> str | None:
        if self._split_table is None:
            return subject_split(subject)
        return self._split_table.get(sequence, self._split_table.get(subject))

    def _convert(self, sequence: str, motion_file: Path, annotation_file: Path) -> MotionRecord | Skipped:
        parsed = parse_sequence_id(sequence)
        if parsed is None:
            return Skipped(sequence, "file name is not pXXXXXX_aXXXXXX or pXXXXXX_rXXXXXX", str(motion_file))
        subject, action, mirrored = parsed
        split = self._split(sequence, subject)
        if split is None:
            return Skipped(sequence, "in no split of the split file", str(self.opts.split_file))
        try:
            params = load_npz(motion_file, NPZ_SHAPES)
        except MogenBenchError as exc:
            return Skipped(sequence, exc.message + (f" [{exc.field}]" if exc.field else ""), str(motion_file))
        num_frames = int(params["transl"].shape[0])
        try:
            annotation = read_humman_json(annotation_file, num_frames=num_frames, fps=self.opts.source_fps)
        except (AnnotationError, MogenBenchError) as exc:
            return Skipped(sequence, f"invalid annotation: {exc}", str(annotation_file))
        if annotation.stages[-1].end_frame > num_frames:
            return Skipped(
                sequence,
                f"stages end at frame {annotation.stages[-1].end_frame}, the motion has {num_frames} frames",
                str(annotation_file),
            )
        try:
            features, up_axis = self._features(params)
            bounds = rescale_stage_bounds(
                [(s.start_frame, s.end_frame) for s in annotation.stages],
                num_frames,
                self.opts.source_fps,
                self.fps,
            )
        except MogenBenchError as exc:
            return Skipped(sequence, exc.message, str(motion_file))
        # Features of humanml3d-263 have one frame fewer than the joints: the last stage ends there.
        length = features.shape[0]
        bounds = [(s, min(e, length)) for s, e in bounds if s < length]
        if len(bounds) != len(annotation.stages) or bounds[-1][0] >= bounds[-1][1]:
            return Skipped(sequence, "a stage is empty after resampling to 20 fps", str(annotation_file))
        stages = [st.with_frames(s, e) for st, (s, e) in zip(annotation.stages, bounds, strict=True)]
        source_id = f"{subject}_a{action}" if mirrored else sequence
        return MotionRecord(
            motion_id=sequence,
            split=split,
            source_id=source_id,
            features=features,
            fps=self.fps,
            mirrored=mirrored,
            stages=stages,
            notes={"up_axis": up_axis},
        )

    def _joints(self, params: dict) -> torch.Tensor:
        tensors = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
        if self.opts.smpl_model is None:
            return smpl_joints_builtin(tensors)
        if self._smpl_model is None:
            from mogen_bench.motion.smpl import load_smpl_model

            self._smpl_model = load_smpl_model(self.opts.smpl_model, self.opts.gender, dtype=torch.float64)
        # Per-frame betas of one subject should be constant; their mean is the subject's shape.
        tensors["betas"] = tensors["betas"].mean(dim=0, keepdim=True).expand_as(tensors["betas"])
        return smpl_joints_smplx(tensors, self._smpl_model)

    def _up_axis(self, joints: torch.Tensor) -> str:
        if self.opts.up_axis != "auto":
            return self.opts.up_axis
        axis, share = detect_up_axis(joints)
        if axis is None:
            raise MogenBenchError(
                f"cannot tell the up axis: the body is upright along +y or +z in only {share:.0%} of frames",
                field="up_axis",
                fix="pass --up-axis y or z",
            )
        return axis

    def _features(self, params: dict) -> tuple[np.ndarray, str]:
        joints = self._joints(params)
        up_axis = self._up_axis(joints)
        if self.representation == "humanml3d-263":
            joints = points_to_y_up(joints[:, :22], up_axis)
            joints = resample_positions(joints.flatten(-2), self.opts.source_fps, self.fps).unflatten(
                -1, (22, 3)
            )
            if joints.shape[0] < 2:
                raise MogenBenchError("shorter than 2 frames at 20 fps", field="transl")
            return extract_features(joints).to(torch.float32).numpy(), up_axis
        resampled = resample_smpl(
            {k: params[k].astype(np.float64) for k in ("global_orient", "body_pose", "transl")},
            self.opts.source_fps,
            self.fps,
        )
        features = smpl_to_rot6d(
            resampled["global_orient"], resampled["body_pose"], resampled["transl"], up_axis=up_axis
        )
        return np.asarray(features, dtype=np.float32), up_axis
