"""HumanML3D / KIT-ML caption files (``texts/<id>.txt``) as annotations.

Each line is ``caption#word/POS word/POS ...#start#end`` with ``start``/``end`` in seconds. ``0.0#0.0``
means the caption describes the whole clip; otherwise it describes the window
``motion[int(start * 20):int(end * 20)]``, which the official loader (``text-to-motion``
``Text2MotionDatasetV2``) turns into a motion of its own. A NaN tag counts as 0, and the loader uses
20 fps for KIT-ML as well; both quirks are kept so windows match the published ones frame for frame.

Every caption becomes an ``Annotation`` with one stage that covers its motion and carries only the
overall text and its tokens, so HumanML3D captions and HuMMan-MoGen stages share one type. A timed
caption's annotation records the window in ``clip`` and the source motion in ``source_id``, and is named
``<id>#<start>-<end>`` (``window_motion_id``), as ``mogen-bench prepare`` names the window's motion.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from annotation.errors import AnnotationError, MogenBenchError, Problem
from annotation.files import read_user_file
from annotation.model import Annotation, Provenance, Stage
from annotation.validate import ValidationOptions, check_annotation

SOURCE = "humanml3d"
#: The frame rate the official loader multiplies caption times by, for HumanML3D and KIT-ML alike.
LOADER_FPS = 20.0
#: Captions describe the whole body only.
CAPTION_OPTIONS = ValidationOptions(allow_missing_parts=True)


@dataclass(frozen=True)
class CaptionLine:
    """One parsed line of a caption file, times in seconds (NaN already mapped to 0)."""

    caption: str
    tokens: tuple[str, ...]
    start_seconds: float
    end_seconds: float

    @property
    def whole_clip(self) -> bool:
        return self.start_seconds == 0.0 and self.end_seconds == 0.0

    def window(self, fps: float = LOADER_FPS) -> tuple[int, int]:
        """The frame window ``[start, end)`` the official loader cuts for a timed caption."""
        return int(self.start_seconds * fps), int(self.end_seconds * fps)

    def to_line(self) -> str:
        return f"{self.caption}#{' '.join(self.tokens)}#{self.start_seconds!r}#{self.end_seconds!r}"


def parse_caption_line(line: str, *, path: str | None = None, line_number: int | None = None) -> CaptionLine:
    """Parse one ``caption#tokens#start#end`` line; raise ``AnnotationError`` naming the line if malformed."""
    where = f"line {line_number}" if line_number is not None else "line"
    fields = line.rstrip("\r\n").split("#")

    def fail(message: str, field: str, fix: str) -> AnnotationError:
        return AnnotationError([Problem(f"{where}: {message}", file=path, field=field, fix=fix)])

    if len(fields) != 4:
        raise fail(
            f"expected 4 '#'-separated fields (caption#tokens#start#end), found {len(fields)}",
            "line",
            "write the line as caption#word/POS word/POS ...#start_seconds#end_seconds; a caption may not "
            "contain '#'",
        )
    caption, token_field, start_text, end_text = fields
    if not caption.strip():
        raise fail("the caption is empty", "caption", "write the caption before the first '#'")
    tokens = tuple(token_field.split(" ")) if token_field else ()
    for token in tokens:
        word, sep, pos = token.partition("/")
        if not sep or not word or not pos or "/" in pos:
            raise fail(
                f"token {token!r} is not of the form word/POS",
                "tokens",
                "separate tokens by single spaces and tag each as word/POS (e.g. walk/VERB)",
            )
    times = []
    for name, text in (("start", start_text), ("end", end_text)):
        try:
            value = float(text)
        except ValueError:
            raise fail(f"{name} time {text!r} is not a number", name, "give seconds, e.g. 0.0") from None
        value = 0.0 if math.isnan(value) else value  # the official loader maps NaN to 0
        if value < 0 or math.isinf(value):
            raise fail(f"{name} time {value!r} is out of range", name, "give non-negative seconds")
        times.append(value)
    return CaptionLine(caption, tokens, times[0], times[1])


def window_motion_id(source_id: str, start: int, end: int, occurrence: int = 1) -> str:
    """``<id>#<start>-<end>``: a timed caption's window as a motion of its own, named by the frames it covers.

    The official loader names these windows by a random letter prefix; a fixed name keeps ids reproducible
    and says where the window lies. The ``occurrence``-th caption of the same window (from 2) gets ``#<n>``.
    """
    motion_id = f"{source_id}#{start}-{end}"
    return motion_id if occurrence == 1 else f"{motion_id}#{occurrence}"


class WindowNames:
    """Names the timed-caption windows of one source motion in file order (``window_motion_id``): the
    first caption of a window gets ``<id>#<start>-<end>``, each repeat of it the next ``#<n>``."""

    def __init__(self, source_id: str):
        self.source_id = source_id
        self._seen: Counter[tuple[int, int]] = Counter()

    def __call__(self, start: int, end: int) -> str:
        self._seen[start, end] += 1
        return window_motion_id(self.source_id, start, end, self._seen[start, end])


def caption_annotation(
    line: CaptionLine,
    *,
    source_id: str,
    num_frames: int | None = None,
    fps: float = LOADER_FPS,
    path: str | None = None,
    line_number: int | None = None,
) -> Annotation:
    """The annotation of one caption: the whole motion, or the timed window as a motion of its own.

    ``num_frames`` is the source motion's length. A window running past it is cut at the end, as the
    official loader's slice does; a window that ends up empty raises ``AnnotationError``.
    """
    provenance = Provenance(source=SOURCE, path=path)
    if line.whole_clip:
        if num_frames is None:
            raise MogenBenchError(
                "a whole-clip caption needs the motion's frame count",
                file=path,
                field="num_frames",
                fix="pass num_frames (the length of new_joint_vecs/<id>.npy)",
            )
        stages = (Stage(0, num_frames, overall=line.caption, tokens=line.tokens),)
        annotation = Annotation(
            source_id, stages, num_frames=num_frames, fps=fps, source_id=source_id, provenance=provenance
        )
    else:
        start, end = line.window(LOADER_FPS)
        if num_frames is not None:
            end = min(end, num_frames)
        where = f"line {line_number}: " if line_number is not None else ""
        if end <= start:
            raise AnnotationError(
                [
                    Problem(
                        f"{where}the caption's window [{start}, {end}) frames is empty"
                        + (f" (the motion has {num_frames} frames)" if num_frames is not None else ""),
                        file=path,
                        field="end",
                        fix="check the caption's start and end times",
                    )
                ]
            )
        stages = (Stage(0, end - start, overall=line.caption, tokens=line.tokens),)
        annotation = Annotation(
            window_motion_id(source_id, start, end),
            stages,
            num_frames=end - start,
            fps=fps,
            source_id=source_id,
            clip=(start, end),
            provenance=provenance,
        )
    problems = check_annotation(annotation, CAPTION_OPTIONS, file=path)
    if problems:
        raise AnnotationError(problems)
    return annotation


def check_caption_file(
    text: str,
    *,
    source_id: str,
    num_frames: int | None = None,
    fps: float = LOADER_FPS,
    path: str | None = None,
    skip_unknown_length: bool = False,
) -> tuple[list[Annotation], list[Problem], int]:
    """Every caption of one file checked: the annotations, every problem, and how many were left out.

    Blank lines are skipped. A whole-clip caption needs the motion's length; without ``num_frames`` it
    raises ``MogenBenchError``, or with ``skip_unknown_length`` it is checked for syntax only and counted.
    """
    annotations: list[Annotation] = []
    problems: list[Problem] = []
    lines = skipped = 0
    window_names = WindowNames(source_id)  # captions of the same window are motions of their own
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        lines += 1
        try:
            line = parse_caption_line(raw, path=path, line_number=number)
            if skip_unknown_length and num_frames is None and line.whole_clip:
                skipped += 1
                continue
            annotation = caption_annotation(
                line, source_id=source_id, num_frames=num_frames, fps=fps, path=path, line_number=number
            )
            if annotation.clip is not None:
                annotation = dataclasses.replace(annotation, motion_id=window_names(*annotation.clip))
            annotations.append(annotation)
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if lines == 0:
        problems.append(Problem("the caption file has no captions", file=path, fix="add caption lines"))
    return annotations, problems, skipped


def parse_caption_file(
    text: str,
    *,
    source_id: str,
    num_frames: int | None = None,
    fps: float = LOADER_FPS,
    path: str | None = None,
) -> list[Annotation]:
    """Every caption of one file as an annotation, in file order; blank lines are skipped."""
    annotations, problems, _ = check_caption_file(
        text, source_id=source_id, num_frames=num_frames, fps=fps, path=path
    )
    if problems:
        raise AnnotationError(problems)
    return annotations


def read_caption_file(
    path: str | Path, *, num_frames: int | None = None, fps: float = LOADER_FPS
) -> list[Annotation]:
    """Read ``texts/<id>.txt``; the source motion id is the file name without its suffix."""
    path = Path(path)
    data = read_user_file(path, "a caption .txt file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MogenBenchError(
            f"not UTF-8 text (byte {exc.start})", file=str(path), fix="save the file as UTF-8"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the first caption
    annotations = parse_caption_file(
        text, source_id=path.stem, num_frames=num_frames, fps=fps, path=str(path)
    )
    return [
        a.replace(provenance=Provenance(source=SOURCE, path=str(path), sha256=digest)) for a in annotations
    ]
