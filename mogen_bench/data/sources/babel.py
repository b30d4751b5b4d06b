"""BABEL (v1.0 release) over AMASS SMPL-H -> prepared dataset: one row per sequence, frame labels as stages.

Input layout (either folder name for the BABEL jsons; ``babel/`` wins when both exist)::

    <root>/babel/train.json, <root>/babel/val.json      or <root>/babel_v1.0_release/{train,val}.json
    <root>/amass/<feat_p>      AMASS SMPL-H G npz: poses (T,156), trans (T,3), mocap_framerate (betas,
                               gender, dmpls unused)

A json maps ``babel_sid`` to ``{babel_sid, feat_p, dur, seq_ann, frame_ann}``. ``feat_p`` is relative to
the AMASS root and repeats the sub-dataset folder as BABEL does (``CMU/CMU/86/86_05_poses.npz``); the file
is looked up there first and, if absent, without the repeated first folder (``amass/CMU/86/86_05_poses.npz``,
the layout AMASS's own archives unpack to). The ``extra_*.json`` files of the release are not read. An AMASS
SMPL-X npz (``poses`` (T,165), ``mocap_frame_rate``) is read the same way: its first 66 values are the same.

Joints. AMASS ``poses`` is SMPL-H axis-angle: ``[0:3]`` the root, ``[3:66]`` the 21 body joints (SMPL-H body
joints 1..21 are SMPL's 1..21, same order and parents), ``[66:156]`` the two hands (2 x 15 joints). Only
``poses[:, :66]`` is used; the 90 hand values are dropped (TEACH does the same). For ``humanml3d-263`` SMPL's
hand joints 22/23 get zero rotation; their rotation moves no joint the 22-joint features use (joints 22/23
are children of the wrists, placed by the wrists' rotations). The parameters are resampled from
``mocap_framerate`` to 20 fps first (slerp; every frame of an integer-ratio downsampling such as 120 -> 20 is
an exact copy), then posed with ``smpl_joints_builtin`` (the neutral SMPL rest skeleton; the npz ``betas``
and ``gender`` are ignored, so every body has the neutral proportions), turned from AMASS's z-up to y-up and
converted with ``extract_features`` (T-1 frames, as HumanML3D). ``smpl-rot6d-135`` takes the resampled root
orientation, the 21 body joints and ``trans`` through ``smpl_to_rot6d(..., up_axis="z")``.

Stage rule (``babel-stages-v1``), on the source frames of a sequence of ``N`` frames at ``fps``:

1. Labels. A ``frame_ann`` label's text is its ``proc_label`` (``raw_label`` if that is empty). Dropped:
   t-pose and a-pose labels (as TEACH does; the text, lower-cased with ``-``/``_`` as spaces, is ``t pose``,
   ``tpose``, ``a pose`` or ``apose``), labels without text, and labels whose ``start_t``/``end_t`` are not
   finite numbers with ``start_t < end_t``. Times become frames as ``floor(t * fps + 1/2)`` clipped to
   ``[0, N]``; a label that is then empty is dropped too.
2. Painting. Labels are painted onto the frames in the order (start, longest first, first listed first), each
   claiming its frames ``[start, end)``, except that where it *partially* overlaps a label painted before
   (one that starts before it and ends inside it) the overlap is cut at its midpoint
   ``floor((start + earlier_end) / 2)``: frames before it stay with the earlier label. So a label nested in
   another (including one that shares an edge with it) takes its span out of the outer one, which resumes
   after it; of labels with identical spans the one listed first wins.
3. Gaps. Frames before the first and after the last labelled frame (typically the calibration T-pose the
   labels leave out) are cut off the motion. An unlabelled gap between two labels is split at its midpoint
   ``floor((left_end + right_start) / 2)``, the same formula as an overlap, so a boundary annotated a little
   apart or a little overlapping lands in the same place.
4. Stages. Runs of frames with the same text are one stage (consecutive identical labels merge). At 20 fps
   the boundaries move by ``rescale_frame_index``; a stage too short to keep a frame at 20 fps is absorbed
   (its frames go to the previous stage, or to the next if it is the first), neighbours with the same text
   then merge again, and the bounds go through ``rescale_stage_bounds``. For ``humanml3d-263`` the last stage
   ends at the last feature frame; a last stage left empty by that is dropped.

A stage's overall text is the label's ``proc_label``; its part texts are ``None`` (BABEL has none). A
sequence without ``frame_ann`` labels is skipped ("no frame labels"), or, with ``seq_labels``, becomes one
whole-clip stage whose text is its ``seq_ann`` labels (same text rule, t/a-pose dropped, duplicates removed)
joined by ``", "``.

Splits. BABEL's test labels are not public; TEACH and PriorMDM train on train.json and evaluate on val.json.
So ``val.json`` -> ``test`` (the split the composition protocol evaluates), and ``train.json`` -> ``train``
except a small deterministic ``val`` carved from it: ``sha256("mogen-bench-babel-val-v1:<babel_sid>")`` read
as a fraction ``u`` in [0, 1) puts the sequence in ``val`` when ``u < val_fraction`` (default 0.05). A
``babel_sid`` found in both files is kept from train.json and skipped in val.json.

Row ids: ``motion_id`` is the ``babel_sid``, ``source_id`` the ``feat_p``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from annotation.files import read_user_json
from annotation.model import Stage
from mogen_bench.data.npz import load_npz
from mogen_bench.data.schema import MotionRecord, Skipped
from mogen_bench.data.source import expected_tree_error
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import extract_features
from mogen_bench.motion.representations import get_representation
from mogen_bench.motion.resample import (
    num_resampled_frames,
    resample_smpl,
    rescale_frame_index,
    rescale_stage_bounds,
)
from mogen_bench.motion.smpl import smpl_joints_builtin
from mogen_bench.motion.smpl_rot6d import smpl_to_rot6d
from mogen_bench.motion.up_axis import points_to_y_up

TREE = """  <root>/
    babel/train.json, babel/val.json   BABEL v1.0 release (or babel_v1.0_release/train.json, val.json)
    amass/<feat_p>                     AMASS SMPL-H npz: poses (T,156), trans (T,3), mocap_framerate
                                       (feat_p, e.g. CMU/CMU/86/86_05_poses.npz, or CMU/86/86_05_poses.npz)"""

BABEL_DIRS = ("babel", "babel_v1.0_release")
#: BABEL file -> the split its sequences go to (train.json also feeds the carved ``val``).
BABEL_FILES = {"train.json": "train", "val.json": "test"}
REPRESENTATIONS = ("humanml3d-263", "smpl-rot6d-135")
STAGE_RULE = "babel-stages-v1"
VAL_SALT = "mogen-bench-babel-val-v1:"
DEFAULT_VAL_FRACTION = 0.05
#: SMPL-H (156) and SMPL-X (165) ``poses`` both start with the root and the 21 body joints.
POSE_WIDTHS = (156, 165)
BODY_VALUES = 66
NPZ_SHAPES = {"poses": (-1, None), "trans": (-1, 3), "mocap_framerate": (), "mocap_frame_rate": ()}
NPZ_OPTIONAL = ("mocap_framerate", "mocap_frame_rate")
POSE_LABELS = frozenset({"t pose", "tpose", "a pose", "apose"})


def sid_fraction(sid: int) -> float:
    """The sequence's position in [0, 1) under the val-carving hash."""
    digest = hashlib.sha256(f"{VAL_SALT}{sid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def babel_split(babel_file: str, sid: int, val_fraction: float = DEFAULT_VAL_FRACTION) -> str:
    """The split of sequence ``sid`` listed in ``babel_file`` (``train.json`` or ``val.json``)."""
    split = BABEL_FILES[babel_file]
    if split == "train" and sid_fraction(sid) < val_fraction:
        return "val"
    return split


# ------------------------------------------------------------------------------------------ the stage rule


def label_text(label: dict) -> str | None:
    """``proc_label`` (or ``raw_label``), stripped; ``None`` if empty."""
    for key in ("proc_label", "raw_label"):
        value = label.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def is_pose_label(text: str) -> bool:
    """True for t-pose / a-pose labels, which TEACH drops."""
    return " ".join(re.sub(r"[-_]", " ", text.lower()).split()) in POSE_LABELS


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def time_to_frame(t: float, fps: float, num_frames: int) -> int:
    """``floor(t * fps + 1/2)`` clipped to ``[0, num_frames]``."""
    return min(max(math.floor(t * fps + 0.5), 0), num_frames)


@dataclass(frozen=True)
class Segment:
    """A usable frame label: source frames ``[start, end)`` and its text; ``index`` = position in the json."""

    start: int
    end: int
    text: str
    index: int


def usable_labels(labels: object) -> tuple[list[tuple[float, float, str, int]], Counter]:
    """``(start_t, end_t, text, index)`` of the labels kept by step 1 (times unchecked against the motion).

    The counter says how many were dropped and why.
    """
    kept: list[tuple[float, float, str, int]] = []
    dropped: Counter = Counter()
    for index, label in enumerate(labels if isinstance(labels, list) else []):
        if not isinstance(label, dict):
            dropped["not an object"] += 1
            continue
        text = label_text(label)
        if text is None:
            dropped["no text"] += 1
            continue
        if is_pose_label(text):
            dropped["t-pose / a-pose"] += 1
            continue
        start, end = _time(label.get("start_t")), _time(label.get("end_t"))
        if start is None or end is None or not start < end:
            dropped["bad start_t / end_t"] += 1
            continue
        kept.append((start, end, text, index))
    return kept, dropped


def frame_segments(labels: list[tuple[float, float, str, int]], fps: float, num_frames: int) -> list[Segment]:
    """The labels of ``usable_labels`` as source-frame segments, empty ones dropped."""
    segments = []
    for start_t, end_t, text, index in labels:
        start, end = time_to_frame(start_t, fps, num_frames), time_to_frame(end_t, fps, num_frames)
        if start < end:
            segments.append(Segment(start, end, text, index))
    return segments


def paint_segments(segments: list[Segment], num_frames: int) -> np.ndarray:
    """Per source frame, the position in ``segments`` of the label that owns it (-1: none): step 2."""
    owner = np.full(num_frames, -1, dtype=np.int64)
    order = sorted(
        range(len(segments)), key=lambda i: (segments[i].start, -segments[i].end, -segments[i].index)
    )
    for i in order:
        s, e = segments[i].start, segments[i].end
        current = owner[s:e]
        new = np.full(e - s, i, dtype=np.int64)
        frames = np.arange(s, e)
        for o in np.unique(current[current >= 0]):
            earlier = segments[o]
            if earlier.start < s and earlier.end < e:  # partial overlap: cut at the overlap's midpoint
                middle = (s + earlier.end) // 2
                new[(current == o) & (frames < middle)] = o
        owner[s:e] = new
    return owner


def fill_gaps(owner: np.ndarray) -> tuple[int, int, np.ndarray]:
    """``(first, end, owner[first:end])``: unlabelled ends cut off, interior gaps split at their midpoint."""
    labelled = np.flatnonzero(owner >= 0)
    first, end = int(labelled[0]), int(labelled[-1]) + 1
    owner = owner[first:end].copy()
    gaps = owner < 0
    if gaps.any():
        # Runs of -1: each sits between two labelled frames (the ends are labelled after the crop).
        edges = np.flatnonzero(np.diff(np.concatenate([[0], gaps.astype(np.int8), [0]])))
        for g0, g1 in zip(edges[::2], edges[1::2], strict=True):
            middle = (g0 + g1) // 2
            owner[g0:middle] = owner[g0 - 1]
            owner[middle:g1] = owner[g1]
    return first, end, owner


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``(start, end)`` of equal consecutive values."""
    cuts = [0, *(np.flatnonzero(values[1:] != values[:-1]) + 1).tolist(), len(values)]
    return list(itertools.pairwise(cuts))


def _merge_same_text(stages: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    merged: list[tuple[int, int, str]] = []
    for s, e, text in stages:
        if merged and merged[-1][2] == text:
            merged[-1] = (merged[-1][0], e, text)
        else:
            merged.append((s, e, text))
    return merged


@dataclass(frozen=True)
class StagePlan:
    """The stage rule's result: the kept source frames ``[first, end)`` and stages relative to ``first``."""

    first: int
    end: int
    stages: list[tuple[int, int, str]]


def plan_stages(segments: list[Segment], num_frames: int) -> StagePlan | None:
    """Steps 2-4 (before resampling) of the stage rule; ``None`` if no segment is left."""
    if not segments:
        return None
    first, end, owner = fill_gaps(paint_segments(segments, num_frames))
    stages = [(s, e, segments[owner[s]].text) for s, e in _runs(owner)]
    return StagePlan(first, end, _merge_same_text(stages))


def fit_stages(
    stages: list[tuple[int, int, str]], num_frames: int, source_fps: float, target_fps: float
) -> list[tuple[int, int, str]]:
    """Contiguous stages over ``num_frames`` source frames -> the same at ``target_fps`` (step 4).

    Stages that would keep no frame at ``target_fps`` are absorbed by a neighbour first, so
    ``rescale_stage_bounds`` never sees an empty one.
    """
    k = num_resampled_frames(num_frames, source_fps, target_fps)

    def moved(f: int) -> int:  # as rescale_stage_bounds moves a boundary
        return k if f == num_frames else min(rescale_frame_index(f, source_fps, target_fps), k)

    kept: list[tuple[int, int, str]] = []
    carry: int | None = None  # start of absorbed leading stages
    for s, e, text in stages:
        if moved(s) == moved(e):
            if kept:
                kept[-1] = (kept[-1][0], e, kept[-1][2])
            elif carry is None:
                carry = s
            continue
        if carry is not None:
            s, carry = carry, None
        kept.append((s, e, text))
    kept = _merge_same_text(kept)
    bounds = rescale_stage_bounds([(s, e) for s, e, _ in kept], num_frames, source_fps, target_fps)
    return [(s, e, text) for (s, e), (_, _, text) in zip(bounds, kept, strict=True)]


# ---------------------------------------------------------------------------------------------- the source


@dataclass
class BabelOptions:
    representation: str = "humanml3d-263"
    #: Sequences with only ``seq_ann`` labels become one whole-clip stage instead of being skipped.
    seq_labels: bool = False
    #: Share of train.json carved into ``val`` by the sid hash.
    val_fraction: float = DEFAULT_VAL_FRACTION


@dataclass(frozen=True)
class _Entry:
    babel_file: str
    key: str
    value: object


class BabelSource:
    """The BABEL jsons plus the AMASS npz files they point at, as a ``Source``."""

    name = "babel"

    def __init__(self, root: str | Path, options: BabelOptions | None = None):
        self.root = Path(root).absolute()
        self.opts = options or BabelOptions()
        if self.opts.representation not in REPRESENTATIONS:
            raise MogenBenchError(
                f"babel converts to {' or '.join(REPRESENTATIONS)}, not {self.opts.representation!r}",
                field="representation",
                fix=f"pass --representation {REPRESENTATIONS[0]} or {REPRESENTATIONS[1]}",
            )
        fraction = self.opts.val_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise MogenBenchError(
                f"val fraction must be a number in [0, 1), got {fraction!r}",
                field="val_fraction",
                fix="pass e.g. 0.05 (5% of train.json becomes val) or 0 for no val split",
            )
        self.representation = self.opts.representation
        self.fps = get_representation(self.representation).fps
        self._entries: list[_Entry] | None = None

    # ------------------------------------------------------------------ layout
    @property
    def babel_dir(self) -> Path:
        """The folder holding train.json and val.json: ``babel/``, else ``babel_v1.0_release/``."""
        for folder in BABEL_DIRS:
            if (self.root / folder).is_dir():
                return self.root / folder
        return self.root / BABEL_DIRS[0]

    @property
    def amass_dir(self) -> Path:
        return self.root / "amass"

    def check(self) -> None:
        folder = self.babel_dir
        if not folder.is_dir():
            raise expected_tree_error(
                self.name, self.root, "the folder babel/ (or babel_v1.0_release/)", TREE
            )
        for file in BABEL_FILES:
            if not (folder / file).is_file():
                raise expected_tree_error(self.name, self.root, f"{folder.name}/{file}", TREE)
        if not self.amass_dir.is_dir():
            raise expected_tree_error(
                self.name,
                self.root,
                "the folder amass/",
                TREE,
                fix="unpack the AMASS SMPL-H G archives into <root>/amass/ (or link it there)",
            )
        self._load()

    def _load(self) -> list[_Entry]:
        if self._entries is not None:
            return self._entries
        entries = []
        for file in BABEL_FILES:
            path = self.babel_dir / file
            data = read_user_json(path, "a BABEL json file", fix="re-download BABEL")
            if not isinstance(data, dict):
                raise MogenBenchError(
                    f"expected an object keyed by babel_sid, found a {type(data).__name__}",
                    file=str(path),
                    fix="give the BABEL v1.0 train.json / val.json",
                )
            entries.extend(_Entry(file, key, data[key]) for key in sorted(data, key=_sid_order))
        self._entries = entries
        return entries

    def resolve(self, feat_p: object) -> tuple[Path | None, list[Path]]:
        """``(the npz or None if no candidate exists, the candidates)``; no candidates: bad ``feat_p``."""
        if not isinstance(feat_p, str) or not feat_p.endswith(".npz"):
            return None, []
        parts = PurePosixPath(feat_p.replace("\\", "/")).parts
        if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
            return None, []
        candidates = [self.amass_dir.joinpath(*parts)]
        if len(parts) > 2 and parts[0] == parts[1]:
            candidates.append(self.amass_dir.joinpath(*parts[1:]))
        return next((c for c in candidates if c.is_file()), None), candidates

    def _wanted(self, value: dict) -> bool:
        return _has_frame_labels(value) or (self.opts.seq_labels and isinstance(value.get("seq_ann"), dict))

    # ------------------------------------------------------------------ the Source protocol
    def input_files(self) -> list[Path]:
        files = [self.babel_dir / file for file in BABEL_FILES]
        used = set()
        for entry in self._load():
            if isinstance(entry.value, dict) and self._wanted(entry.value):
                path, _ = self.resolve(entry.value.get("feat_p"))
                if path is not None:
                    used.add(path)
        return files + sorted(used)

    def options(self) -> dict:
        return {
            "representation": self.representation,
            "seq_labels": bool(self.opts.seq_labels),
            "val_fraction": float(self.opts.val_fraction),
            "joints": "builtin",
            "stage_rule": STAGE_RULE,
        }

    def split_rule(self) -> str:
        return (
            f"babel: val.json -> test; train.json -> train, except sha256('{VAL_SALT}<babel_sid>') "
            f"< {float(self.opts.val_fraction):g} -> val"
        )

    def statistics(self):
        return None

    def expected_items(self) -> int:
        return len(self._load())

    def items(self) -> Iterator[MotionRecord | Skipped]:
        seen: dict[int, str] = {}
        for entry in self._load():
            item = f"{entry.babel_file}:{entry.key}"
            value = entry.value
            where = str(self.babel_dir / entry.babel_file)
            if not isinstance(value, dict):
                yield Skipped(item, "entry is not an object", where)
                continue
            sid = _sid(value.get("babel_sid", entry.key))
            if sid is None:
                yield Skipped(item, "babel_sid is not a whole number", where)
                continue
            if sid in seen:
                yield Skipped(item, f"babel_sid {sid} is also in {seen[sid]}", where)
                continue
            seen[sid] = entry.babel_file
            yield self._convert(item, sid, entry.babel_file, value, where)

    # ------------------------------------------------------------------ one sequence
    def _convert(
        self, item: str, sid: int, babel_file: str, value: dict, where: str
    ) -> MotionRecord | Skipped:
        frame_labels = _has_frame_labels(value)
        if not frame_labels and not self.opts.seq_labels:
            return Skipped(item, "no frame labels", where)
        if frame_labels:
            labels, _ = usable_labels(value["frame_ann"]["labels"])
            if not labels:
                return Skipped(
                    item, "no usable segments (every frame label is t-pose/a-pose or invalid)", where
                )
        else:
            text = seq_text(value.get("seq_ann"))
            if text is None:
                return Skipped(
                    item, "no usable segments (no frame labels and no usable seq_ann labels)", where
                )

        feat_p = value.get("feat_p")
        path, candidates = self.resolve(feat_p)
        if not candidates:
            return Skipped(item, f"unknown feat_p {feat_p!r}: not a relative AMASS .npz path", where)
        if path is None:
            tried = " or ".join(str(c.relative_to(self.root)) for c in candidates)
            return Skipped(item, "missing npz: no AMASS file " + tried, str(candidates[0]))
        try:
            poses, trans, source_fps = read_amass_npz(path)
        except MogenBenchError as exc:
            return Skipped(
                item, "bad npz: " + exc.message + (f" [{exc.field}]" if exc.field else ""), str(path)
            )
        num_frames = poses.shape[0]

        if frame_labels:
            plan = plan_stages(frame_segments(labels, source_fps, num_frames), num_frames)
            if plan is None:
                return Skipped(
                    item, "no usable segments (every frame label lies outside the motion)", str(path)
                )
        else:
            plan = StagePlan(0, num_frames, [(0, num_frames, text)])
        kept = plan.end - plan.first
        if num_resampled_frames(kept, source_fps, self.fps) < 2:
            return Skipped(
                item, f"too short: {kept} frames at {source_fps:g} fps is < 2 frames at 20 fps", str(path)
            )
        try:
            features = self._features(poses[plan.first : plan.end], trans[plan.first : plan.end], source_fps)
            stages = fit_stages(plan.stages, kept, source_fps, self.fps)
        except MogenBenchError as exc:
            return Skipped(item, exc.message, str(path))
        # humanml3d-263 has one frame fewer than the joints: the last stage ends there.
        length = features.shape[0]
        stages = [(s, min(e, length), text) for s, e, text in stages if s < length]
        return MotionRecord(
            motion_id=str(sid),
            split=babel_split(babel_file, sid, self.opts.val_fraction),
            source_id=str(feat_p),
            features=features,
            fps=self.fps,
            stages=[Stage(start_frame=s, end_frame=e, overall=text) for s, e, text in stages],
            notes={"source_fps": float(source_fps), "labels": "frame" if frame_labels else "sequence"},
        )

    def _features(self, poses: np.ndarray, trans: np.ndarray, source_fps: float) -> np.ndarray:
        params = resample_smpl(
            {"global_orient": poses[:, :3], "body_pose": poses[:, 3:BODY_VALUES], "transl": trans},
            source_fps,
            self.fps,
        )
        if self.representation == "smpl-rot6d-135":
            features = smpl_to_rot6d(
                params["global_orient"], params["body_pose"], params["transl"], up_axis="z"
            )
            return np.asarray(features, dtype=np.float32)
        body = params["body_pose"]
        # SMPL's hand joints 22/23 (zero rotation) place nothing the 22-joint features use.
        body_pose = np.concatenate([body, np.zeros((body.shape[0], 6), body.dtype)], axis=1)
        tensors = {
            "global_orient": torch.from_numpy(params["global_orient"]),
            "body_pose": torch.from_numpy(body_pose),
            "transl": torch.from_numpy(params["transl"]),
        }
        joints = points_to_y_up(smpl_joints_builtin(tensors)[:, :22], "z")
        return extract_features(joints).to(torch.float32).numpy()


def read_amass_npz(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """``(poses[:, :66], trans, mocap_framerate)`` of an AMASS npz as float64; ``MogenBenchError`` if bad."""
    arrays = load_npz(path, NPZ_SHAPES, optional=NPZ_OPTIONAL)
    poses = arrays["poses"]
    if poses.shape[1] not in POSE_WIDTHS:
        raise MogenBenchError(
            f"array 'poses' has shape {poses.shape}, expected (T, 156) (SMPL-H) or (T, 165) (SMPL-X)",
            file=str(path),
            field="poses",
        )
    rate = arrays.get("mocap_framerate", arrays.get("mocap_frame_rate"))
    if rate is None:
        raise MogenBenchError("missing array 'mocap_framerate'", file=str(path), field="mocap_framerate")
    fps = float(rate)
    if not fps > 0:
        raise MogenBenchError(
            f"mocap_framerate is {fps}, not a positive rate", file=str(path), field="mocap_framerate"
        )
    if poses.shape[0] < 1:
        raise MogenBenchError("the motion has no frames", file=str(path), field="poses")
    return poses[:, :BODY_VALUES].astype(np.float64), arrays["trans"].astype(np.float64), fps


def seq_text(seq_ann: object) -> str | None:
    """Whole-clip text of ``seq_ann``: its usable, non-pose label texts, de-duplicated, joined by ``", "``."""
    labels = seq_ann.get("labels") if isinstance(seq_ann, dict) else None
    texts: list[str] = []
    for label in labels if isinstance(labels, list) else []:
        text = label_text(label) if isinstance(label, dict) else None
        if text is not None and not is_pose_label(text) and text not in texts:
            texts.append(text)
    return ", ".join(texts) or None


def _has_frame_labels(value: dict) -> bool:
    frame_ann = value.get("frame_ann")
    return (
        isinstance(frame_ann, dict)
        and isinstance(frame_ann.get("labels"), list)
        and bool(frame_ann["labels"])
    )


def _sid(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _sid_order(key: str) -> tuple[int, int | str]:
    sid = _sid(key)
    return (0, sid) if sid is not None else (1, key)
