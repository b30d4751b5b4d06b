"""Find annotation files under user-given paths, look up their motions' lengths, and check them all.

Understands the published layouts: a HuMMan-MoGen release root (``annotations/*.json`` beside
``smpl_on_ground/*.npz``) and a HumanML3D / KIT-ML root (``texts/*.txt`` beside
``new_joint_vecs/*.npy``). Where the motion is there, stages are checked against its frame count;
where the layout has a motion folder but the file is missing, that is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotation.errors import AnnotationError, MogenBenchError, Problem
from annotation.files import read_user_file
from annotation.humanml3d_text import check_caption_file
from annotation.humman_json import check_humman_json
from annotation.model import Annotation
from annotation.validate import ValidationOptions

#: annotation folder -> (motion folder, motion file suffix), for the published layouts.
MOTION_FOLDERS = {"annotations": ("smpl_on_ground", ".npz"), "texts": ("new_joint_vecs", ".npy")}


@dataclass
class CheckReport:
    """What checking a set of paths found: the annotations that could be read and every problem."""

    files: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def annotation_files(path: str | Path) -> list[Path]:
    """The annotation files a path stands for: itself, or the ``*.json`` / caption files of a folder."""
    path = Path(path)
    if not path.exists():
        raise MogenBenchError("no such file or folder", file=str(path), fix="check the path")
    if path.is_file():
        return [path]
    for sub in MOTION_FOLDERS:
        if (path / sub).is_dir():
            path = path / sub  # a release root: read its annotation folder
            break
    pattern = "*.txt" if path.name == "texts" else "*.json"
    files = sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith("."))
    if not files:
        raise MogenBenchError(
            f"no annotation files ({pattern}) in this folder",
            file=str(path),
            fix="give a HuMMan-MoGen root (with annotations/), an annotations/ folder of <motion_id>.json "
            "files, or a HumanML3D texts/ folder",
        )
    return files


def motion_length(annotation_file: Path) -> tuple[int | None, Problem | None]:
    """Frames of the motion an annotation file describes, if the layout has it, else ``None``."""
    layout = MOTION_FOLDERS.get(annotation_file.parent.name)
    if layout is None:
        return None, None
    folder, suffix = layout
    motion_dir = annotation_file.parent.parent / folder
    if not motion_dir.is_dir():
        return None, None
    motion = motion_dir / f"{annotation_file.stem}{suffix}"
    if not motion.is_file():
        return None, Problem(
            f"no motion file {folder}/{motion.name} for this annotation; frames were not checked against it",
            file=str(annotation_file),
            severity="warning",
            fix=f"add {motion} or remove the annotation",
        )
    try:
        if suffix == ".npz":
            with np.load(motion, allow_pickle=False) as arrays:
                key = "transl" if "transl" in arrays.files else (arrays.files[0] if arrays.files else None)
                if key is None:
                    raise ValueError("the archive holds no arrays")
                return int(arrays[key].shape[0]), None
        return int(np.load(motion, mmap_mode="r", allow_pickle=False).shape[0]), None
    except Exception as exc:  # any unreadable motion is reported on the annotation, not raised
        return None, Problem(
            f"cannot read the motion file {motion} ({exc}); frames were not checked against it",
            file=str(annotation_file),
            severity="warning",
        )


def check_file(path: Path, options: ValidationOptions | None = None, fps: float | None = None) -> CheckReport:
    """Check one HuMMan-MoGen ``.json`` or HumanML3D ``.txt`` annotation file."""
    report = CheckReport(files=[str(path)])
    num_frames, problem = motion_length(path)
    if problem:
        report.problems.append(problem)
    try:
        data = read_user_file(path)
    except MogenBenchError as exc:
        report.problems.append(Problem(exc.message, file=exc.file, fix=exc.fix))
        return report
    if path.suffix == ".txt":
        _check_captions(path, data, num_frames, report)
        return report
    annotation, problems = check_humman_json(
        data, motion_id=path.stem, path=str(path), num_frames=num_frames, fps=fps, options=options
    )
    report.problems.extend(problems)
    if annotation is not None and not [p for p in problems if p.severity == "error"]:
        report.annotations.append(annotation)
    return report


def check_paths(
    paths: Iterable[str | Path], options: ValidationOptions | None = None, fps: float | None = None
) -> CheckReport:
    """Check every annotation file under ``paths``; never stops at the first bad file."""
    total = CheckReport()
    for given in paths:
        try:
            files = annotation_files(given)
        except MogenBenchError as exc:
            total.problems.append(Problem(exc.message, file=exc.file, fix=exc.fix))
            continue
        for path in files:
            one = check_file(path, options, fps)
            total.files += one.files
            total.annotations += one.annotations
            total.problems += one.problems
    return total


def read_annotations(
    paths: Iterable[str | Path], options: ValidationOptions | None = None, fps: float | None = None
) -> tuple[list[Annotation], list[Problem]]:
    """All annotations under ``paths``, and the warnings; raise ``AnnotationError`` if any file has errors."""
    report = check_paths(paths, options, fps)
    if report.errors:
        raise AnnotationError(report.errors)
    return report.annotations, report.warnings


def _check_captions(path: Path, data: bytes, num_frames: int | None, report: CheckReport) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.problems.append(Problem(f"not UTF-8 text (byte {exc.start})", file=str(path)))
        return
    annotations, problems, skipped = check_caption_file(
        text, source_id=path.stem, num_frames=num_frames, path=str(path), skip_unknown_length=True
    )
    report.annotations.extend(annotations)
    report.problems.extend(problems)
    if skipped:
        report.problems.append(
            Problem(
                f"{skipped} whole-clip caption(s) were checked for syntax only and are not in the result: "
                "the motion's length is unknown",
                file=str(path),
                severity="warning",
                fix="put the file in a HumanML3D root's texts/ folder beside new_joint_vecs/<id>.npy",
            )
        )
