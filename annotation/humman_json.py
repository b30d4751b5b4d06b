"""HuMMan-MoGen per-motion annotation JSON: read, check and write.

The published format (``humman_mogen/README.md`` of the HuMMan toolbox) is a JSON list with one object
per stage: ``start_frame`` (inclusive), ``end_frame`` (exclusive), ``num_frames`` and the texts ``all``,
``head``, ``stem``, ``left_arm``, ``right_arm``, ``left_leg``, ``right_leg``, ``pelvis``. Canonical part
names (``overall``, ``spine``, ``trajectory``) are accepted on input as well; output uses the HuMMan keys.

A file that is read and written back unchanged comes out byte for byte as it went in: the reader
records the file's ``json`` layout (indent, separators, ASCII escaping, key order, final newline).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable
from pathlib import Path

from annotation.errors import AnnotationError, MogenBenchError, Problem
from annotation.files import atomic_write_text, read_user_file
from annotation.model import Annotation, JsonStyle, Provenance, Stage
from annotation.parts import HUMMAN_KEYS, TEXT_FIELDS, canonical_text_field, suggest_text_field
from annotation.validate import ValidationOptions, check_annotation, describe_bad_frame, is_valid_frame

SOURCE = "humman-mogen"
FRAME_KEYS: tuple[str, ...] = ("start_frame", "end_frame", "num_frames")
#: Key order of the published example: frames, then the overall text, then the parts.
DEFAULT_KEY_ORDER: tuple[str, ...] = (*FRAME_KEYS, *(HUMMAN_KEYS[f] for f in TEXT_FIELDS))
DEFAULT_STYLE = JsonStyle(indent=4, key_order=DEFAULT_KEY_ORDER, trailing_newline=True)


class _JsonObject(dict):
    """A decoded JSON object that remembers keys which appeared more than once."""

    duplicates: tuple[str, ...] = ()
    order: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, object]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    keys = [k for k, _ in pairs]
    obj.order = tuple(keys)
    obj.duplicates = tuple(sorted({k for k in keys if keys.count(k) > 1}))
    return obj


def check_humman_json(
    text: str | bytes,
    *,
    motion_id: str,
    path: str | None = None,
    num_frames: int | None = None,
    fps: float | None = None,
    options: ValidationOptions | None = None,
) -> tuple[Annotation | None, list[Problem]]:
    """Parse one annotation file's content; return the annotation (if it could be built) and every problem."""
    problems: list[Problem] = []
    raw_bytes = text if isinstance(text, bytes) else None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    f"not UTF-8 text (byte {exc.start}: {exc.reason})",
                    file=path,
                    fix="save the file as UTF-8 JSON",
                )
            )
            return None, problems
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is harmless; editors add it
    try:
        document = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        problems.append(
            Problem(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                file=path,
                fix="fix the JSON syntax (a HuMMan-MoGen annotation is a list of stage objects)",
            )
        )
        return None, problems
    except RecursionError:
        problems.append(Problem("JSON nested too deeply to be an annotation", file=path))
        return None, problems

    if not isinstance(document, list):
        problems.append(
            Problem(
                f"the top level must be a list of stages, got a JSON {_json_type(document)}",
                file=path,
                fix='write the file as [{"start_frame": 0, "end_frame": ..., ...}, ...]',
            )
        )
        return None, problems

    stages: list[Stage] = []
    buildable = True
    for index, raw in enumerate(document):
        stage = _parse_stage(raw, index, path, problems)
        if stage is None:
            buildable = False
        else:
            stages.append(stage)
    if not buildable:
        return None, problems

    source_text = raw_bytes if raw_bytes is not None else text.encode("utf-8")
    annotation = Annotation(
        motion_id=motion_id,
        stages=tuple(stages),
        num_frames=num_frames,
        fps=fps,
        provenance=Provenance(
            source=SOURCE,
            path=path,
            sha256=hashlib.sha256(source_text).hexdigest(),
            json_style=detect_style(document, text),
        ),
    )
    problems.extend(check_annotation(annotation, options, file=path))
    return annotation, problems


def parse_humman_json(
    text: str | bytes,
    *,
    motion_id: str,
    path: str | None = None,
    num_frames: int | None = None,
    fps: float | None = None,
    options: ValidationOptions | None = None,
) -> Annotation:
    """Parse one annotation file's content; raise ``AnnotationError`` listing every error."""
    annotation, problems = check_humman_json(
        text, motion_id=motion_id, path=path, num_frames=num_frames, fps=fps, options=options
    )
    errors = [p for p in problems if p.severity == "error"]
    if errors or annotation is None:
        raise AnnotationError(errors)
    return annotation


def read_humman_json(
    path: str | Path,
    *,
    num_frames: int | None = None,
    fps: float | None = None,
    options: ValidationOptions | None = None,
) -> Annotation:
    """Read ``<motion_id>.json``; the motion id is the file name without its suffix."""
    path = Path(path)
    return parse_humman_json(
        read_user_file(path, "an annotation .json file"),
        motion_id=path.stem,
        path=str(path),
        num_frames=num_frames,
        fps=fps,
        options=options,
    )


def dumps_humman_json(annotation: Annotation, style: JsonStyle | None = None) -> str:
    """Serialise in the HuMMan-MoGen layout: the style recorded when it was read, else ``DEFAULT_STYLE``."""
    if style is None:
        recorded = annotation.provenance.json_style if annotation.provenance else None
        style = recorded or DEFAULT_STYLE
    key_order = style.key_order or DEFAULT_KEY_ORDER
    return _dumps([humman_stage_dict(stage, key_order) for stage in annotation.stages], style)


def write_humman_json(annotation: Annotation, path: str | Path, style: JsonStyle | None = None) -> Path:
    """Write atomically: the file at ``path`` is either the old one or the complete new one."""
    return atomic_write_text(path, dumps_humman_json(annotation, style))


def write_humman_folder(annotations: Iterable[Annotation], folder: str | Path) -> list[Path]:
    """Write each annotation to ``folder/<motion_id>.json`` (atomically, one file at a time).

    Motion ids must be unique and usable as file names; both are checked before anything is written.
    """
    annotations = list(annotations)
    folder = Path(folder)
    seen: dict[str, int] = {}
    for index, annotation in enumerate(annotations):
        name = annotation.motion_id
        if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
            raise MogenBenchError(
                f"motion id {name!r} cannot be a file name",
                field=f"annotations[{index}].motion_id",
                fix="give the annotation a motion id without path separators",
            )
        if name in seen:
            raise MogenBenchError(
                f"motion id {name!r} appears twice (annotations {seen[name]} and {index})",
                field="motion_id",
                fix="give every annotation its own motion id",
            )
        seen[name] = index
    return [write_humman_json(a, folder / f"{a.motion_id}.json") for a in annotations]


def humman_stage_dict(stage: Stage, key_order: Iterable[str] = DEFAULT_KEY_ORDER) -> dict:
    """One stage as its HuMMan-MoGen JSON object."""
    values: dict[str, object] = {
        "start_frame": stage.start_frame,
        "end_frame": stage.end_frame,
        "num_frames": stage.num_frames,
        **{HUMMAN_KEYS[name]: text for name, text in stage.texts.items()},
    }
    ordered = {key: values[key] for key in key_order if key in values}
    ordered.update({k: v for k, v in values.items() if k not in ordered})
    return ordered


def detect_style(document: object, text: str) -> JsonStyle:
    """The ``json.dumps`` settings that reproduce ``text`` exactly, or the closest plausible ones."""
    key_order = None
    if isinstance(document, list) and document and isinstance(document[0], _JsonObject):
        mapped = [
            k if k in FRAME_KEYS else HUMMAN_KEYS.get(canonical_text_field(k) or "", k)
            for k in document[0].order
        ]
        if set(mapped) == set(DEFAULT_KEY_ORDER) and len(mapped) == len(DEFAULT_KEY_ORDER):
            key_order = tuple(mapped)
    trailing_newline = text.endswith("\n")
    body = text.strip()
    lines = body.splitlines()
    if len(lines) > 1:
        lead = lines[1][: len(lines[1]) - len(lines[1].lstrip())]
        indents: list[int | str | None] = [len(lead) if lead.strip(" ") == "" else lead]
    else:
        indents = [None]
    candidates = [
        JsonStyle(indent, item_sep, key_sep, ensure_ascii, trailing_newline, key_order)
        for indent, item_sep, key_sep, ensure_ascii in itertools.product(
            indents, (",", ", "), (": ", ":"), (True, False)
        )
    ]
    if isinstance(document, list) and all(isinstance(s, dict) for s in document):
        normalised = [dict(s) for s in document]
        for style in candidates:
            if _dumps(normalised, style) == text:
                return style
    # No candidate reproduces the file (unusual spacing, non-HuMMan keys): keep its broad shape.
    compact = indents[0] is None
    return JsonStyle(
        indent=indents[0],
        item_separator=", " if compact else ",",
        key_separator=": ",
        ensure_ascii=text.isascii(),
        trailing_newline=trailing_newline,
        key_order=key_order,
    )


def _dumps(document: list[dict], style: JsonStyle) -> str:
    text = json.dumps(
        document,
        indent=style.indent,
        separators=(style.item_separator, style.key_separator),
        ensure_ascii=style.ensure_ascii,
    )
    return text + "\n" if style.trailing_newline else text


def _parse_stage(raw: object, index: int, path: str | None, problems: list[Problem]) -> Stage | None:
    def report(message: str, field: str | None = None, fix: str | None = None) -> None:
        problems.append(Problem(message, file=path, stage=index, field=field, fix=fix))

    if not isinstance(raw, dict):
        report(
            f"a stage must be a JSON object, got a JSON {_json_type(raw)}", fix="write each stage as {...}"
        )
        return None
    for key in getattr(raw, "duplicates", ()):
        report(f"key {key!r} appears more than once", key, "keep one value for it")

    texts: dict[str, object] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        if key in FRAME_KEYS:
            continue
        field = canonical_text_field(key)
        if field is None:
            hint = suggest_text_field(key)
            report(
                f"unknown key {key!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                key,
                "use only start_frame, end_frame, num_frames and the texts "
                + ", ".join(HUMMAN_KEYS[f] for f in TEXT_FIELDS),
            )
            continue
        if field in spelled:
            report(
                f"keys {spelled[field]!r} and {key!r} both give the {field} text",
                key,
                f"keep one of them ({HUMMAN_KEYS[field]!r} is the HuMMan-MoGen spelling)",
            )
            continue
        spelled[field] = key
        texts[field] = value

    frames: dict[str, int] = {}
    ok = True
    for key in FRAME_KEYS:
        if key not in raw:
            fix = "add num_frames = end_frame - start_frame" if key == "num_frames" else f"add {key}"
            report(f"missing key {key!r}", key, fix)
            ok = False
        elif not is_valid_frame(raw[key]):
            report(f"{key} {describe_bad_frame(raw[key])}", key, "use a non-negative integer frame index")
            ok = False
        else:
            frames[key] = raw[key]
    if ok and frames["num_frames"] != frames["end_frame"] - frames["start_frame"]:
        report(
            f"num_frames is {frames['num_frames']} but end_frame - start_frame is "
            f"{frames['end_frame'] - frames['start_frame']}",
            "num_frames",
            f"set num_frames to {frames['end_frame'] - frames['start_frame']} (end_frame is exclusive)",
        )

    if not ok:
        return None
    # Texts go through as they are: check_annotation judges missing, blank and non-string ones.
    return Stage(start_frame=frames["start_frame"], end_frame=frames["end_frame"], **texts)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number" if not (isinstance(value, float) and math.isnan(value)) else "NaN"
    return {str: "string", list: "array"}.get(type(value), "object" if isinstance(value, dict) else "value")
