"""``mogen-bench annotation``: validate, inspect, describe and edit fine-grained annotations."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from annotation import edit as edit_ops
from annotation.discover import check_paths, motion_length, read_annotations
from annotation.errors import MogenBenchError
from annotation.humman_json import dumps_humman_json, read_humman_json
from annotation.schema import humman_json_schema
from annotation.stats import AnnotationStats, compute_stats
from annotation.validate import ValidationOptions


def validation_options(command):
    """The options every command that reads annotations shares, folded into ``ValidationOptions``."""

    @click.option("--allow-missing-parts", is_flag=True, help="Accept stages without some body-part texts.")
    @click.option("--allow-missing-overall", is_flag=True, help="Accept stages without an overall text.")
    @click.option(
        "--allow-partial-coverage",
        is_flag=True,
        help="Accept stages that do not start at frame 0 or stop before the motion ends.",
    )
    @functools.wraps(command)
    def wrapper(allow_missing_parts, allow_missing_overall, allow_partial_coverage, **kwargs):
        options = ValidationOptions(
            allow_missing_parts=allow_missing_parts,
            allow_missing_overall=allow_missing_overall,
            require_full_coverage=not allow_partial_coverage,
        )
        return command(options=options, **kwargs)

    return wrapper


@click.group()
def annotation() -> None:
    """The fine-grained annotation schema: stages x body parts (HuMMan-MoGen JSON, HumanML3D captions)."""


@annotation.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@validation_options
def validate(paths: tuple[Path, ...], fmt: str, options: ValidationOptions) -> None:
    """Check annotation files or folders and print every problem; exit 1 if there is any error.

    PATHS are HuMMan-MoGen .json files, HumanML3D texts/*.txt files, folders of them, or dataset roots
    (with annotations/ or texts/). Where the motions are beside them (smpl_on_ground/ or
    new_joint_vecs/), stages are checked against the motion's frame count.
    """
    report = check_paths(paths, options)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "files": len(report.files),
                    "valid": report.ok,
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                    "problems": [p.to_dict() for p in report.problems],
                },
                indent=2,
            )
        )
    else:
        for problem in report.problems:
            click.echo(f"{problem.severity}: {problem}", err=problem.severity == "error")
        click.echo(
            f"checked {len(report.files)} file(s): {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s)"
        )
    if not report.ok:
        sys.exit(1)


@annotation.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--top-k", default=10, show_default=True, type=click.IntRange(min=0), help="Top words per part."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@validation_options
def stats(paths: tuple[Path, ...], top_k: int, fmt: str, options: ValidationOptions) -> None:
    """Corpus statistics: stages per motion, frames per stage, words, vocabulary, missing texts per part."""
    annotations, warnings = read_annotations(paths, options)
    for problem in warnings:
        click.echo(f"warning: {problem}", err=True)
    result = compute_stats(annotations, top_k=top_k)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_stats(result)


@annotation.command()
@click.option("--allow-missing-texts", is_flag=True, help="Describe files whose texts may be null or absent.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema(allow_missing_texts: bool, out: Path | None) -> None:
    """Print the JSON Schema of a HuMMan-MoGen annotation file (generated from the annotation model)."""
    text = json.dumps(humman_json_schema(allow_missing_texts), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        from annotation.files import atomic_write_text

        atomic_write_text(out, text)
        click.echo(f"wrote {out}")


@annotation.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--stage", "stage", type=int, required=True, help="0-based stage index (negative counts from the end)."
)
@click.option("--part", default=None, help="Text to set: overall or a body part (canonical or HuMMan key).")
@click.option(
    "--text", default=None, help="New text for --part; with --insert, the new stage's overall text."
)
@click.option(
    "--part-text",
    "part_texts",
    multiple=True,
    metavar="PART=TEXT",
    help="Texts for --insert, --split-at (second half) or --merge-next; repeatable.",
)
@click.option("--split-at", type=int, default=None, help="Split the stage at this frame (absolute).")
@click.option("--merge-next", is_flag=True, help="Merge the stage with the next one.")
@click.option(
    "--length", type=int, default=None, help="Set the stage's length in frames (later stages shift)."
)
@click.option("--insert", is_flag=True, help="Insert a new stage of --length frames before --stage.")
@click.option("--delete", is_flag=True, help="Delete the stage (later stages shift back).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here.")
@click.option("--in-place", is_flag=True, help="Replace FILE (atomically).")
@validation_options
def edit(
    file: Path,
    stage: int,
    part: str | None,
    text: str | None,
    part_texts: tuple[str, ...],
    split_at: int | None,
    merge_next: bool,
    length: int | None,
    insert: bool,
    delete: bool,
    out: Path | None,
    in_place: bool,
    options: ValidationOptions,
) -> None:
    """Edit one HuMMan-MoGen annotation file; the result is validated before it is written.

    Exactly one operation: set a text (--part, --text), --split-at, --merge-next, --length,
    --insert (with --length) or --delete. Writes to --out, replaces FILE with --in-place, or prints
    the new JSON to stdout.
    """
    if out is not None and in_place:
        raise click.UsageError("give either --out or --in-place, not both")
    operations = {
        "set text": text is not None and not insert,
        "--split-at": split_at is not None,
        "--merge-next": merge_next,
        "--length": length is not None and not insert,
        "--insert": insert,
        "--delete": delete,
    }
    chosen = [name for name, on in operations.items() if on]
    if len(chosen) != 1:
        raise click.UsageError(
            "choose exactly one operation: --text (with --part), --split-at, --merge-next, --length, "
            f"--insert or --delete (got {', '.join(chosen) if chosen else 'none'})"
        )
    texts = _parse_part_texts(part_texts)
    num_frames, _ = motion_length(file)
    current = read_humman_json(file, num_frames=num_frames, options=options)
    operation = chosen[0]
    if operation == "set text":
        if part_texts:
            raise click.UsageError("--part-text is for --insert, --split-at and --merge-next")
        result = edit_ops.set_text(current, stage, part or "overall", text, options)
    elif operation == "--split-at":
        result = edit_ops.split_stage(current, stage, split_at, texts, options)
    elif operation == "--merge-next":
        result = edit_ops.merge_stages(current, stage, texts, options)
    elif operation == "--length":
        result = edit_ops.set_stage_length(current, stage, length, options)
    elif operation == "--insert":
        if length is None:
            raise click.UsageError("--insert needs --length (frames of the new stage)")
        new_texts = {"overall": text, **texts} if text is not None else texts
        result = edit_ops.insert_stage(current, stage, length, new_texts, options)
    else:
        result = edit_ops.delete_stage(current, stage, options)

    payload = dumps_humman_json(result)
    if in_place or out is not None:
        from annotation.files import atomic_write_text

        target = file if in_place else out
        atomic_write_text(target, payload)
        click.echo(f"wrote {target} ({len(result.stages)} stages, {result.length} frames)", err=True)
    else:
        click.echo(payload, nl=False)


def _parse_part_texts(items: tuple[str, ...]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise MogenBenchError(
                f"--part-text {item!r} is not PART=TEXT",
                field="--part-text",
                fix='write e.g. left_arm="Wave."',
            )
        texts[name.strip()] = value
    return texts


def _print_stats(result: AnnotationStats) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    overview = Table(title=f"{result.motions} motions, {result.stages} stages")
    for column in ("", "mean", "median", "min", "max"):
        overview.add_column(column, justify="right" if column else "left")
    for label, dist in (
        ("stages per motion", result.stages_per_motion),
        ("frames per stage", result.frames_per_stage),
        ("frames per motion", result.frames_per_motion),
    ):
        overview.add_row(label, f"{dist.mean:.2f}", f"{dist.median:g}", f"{dist.min:g}", f"{dist.max:g}")
    console.print(overview)

    parts = Table(title="Texts per field")
    for column in ("field", "texts", "missing", "words/text", "vocabulary", "most frequent words"):
        parts.add_column(column, justify="left" if column in ("field", "most frequent words") else "right")
    for field in result.fields:
        top = ", ".join(f"{word} ({count})" for word, count in field.top_words)
        parts.add_row(
            field.field,
            str(field.texts),
            str(field.missing),
            f"{field.words_per_text.mean:.1f}",
            str(field.vocabulary_size),
            top,
        )
    console.print(parts)


__all__ = ["annotation"]
