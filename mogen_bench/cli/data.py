"""``mogen-bench data info|verify``: look at and check a prepared dataset."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click


@click.group()
def data() -> None:
    """Inspect and check prepared datasets (the output of `mogen-bench prepare`)."""


@data.command()
@click.argument("folder", type=click.Path(path_type=Path))
def info(folder: Path) -> None:
    """Summarise the prepared dataset in FOLDER: source, representation, splits, skipped items."""
    from rich.console import Console
    from rich.table import Table

    from mogen_bench.data.info import read_info

    meta = read_info(folder)
    console = Console()
    console.print(f"[bold]{meta.name}[/bold]  ({folder})")
    console.print(
        f"source {meta.source}, {meta.representation} ({meta.dims} dims, {meta.num_joints} joints) "
        f"at {meta.fps:g} fps; schema v{meta.schema_version}, mogen-bench {meta.tool.get('version', '?')}, "
        f"made {meta.created}"
    )
    table = Table(title="splits")
    for column in ("split", "motions", "frames", "hours", "shards"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split, summary in meta.splits.items():
        hours = summary["frames"] / meta.fps / 3600
        table.add_row(
            split,
            str(summary["motions"]),
            str(summary["frames"]),
            f"{hours:.2f}",
            str(len(summary["shards"])),
        )
    console.print(table)
    norm = meta.normalisation
    console.print(f"normalisation: {norm.get('method')} (computed on {norm.get('computed_on')})")
    console.print(f"splits by: {meta.split_rule}")
    for key, counts in meta.source_notes.items():
        console.print(f"{key}: " + ", ".join(f"{value} ({count})" for value, count in counts.items()))
    console.print(
        f"input: {meta.inputs.get('files')} files under {meta.inputs.get('root')}, "
        f"sha256 {meta.inputs.get('sha256', '')[:16]}…"
    )
    if meta.skipped:
        console.print(f"skipped {len(meta.skipped)} input items:")
        for reason, count in Counter(s["reason"] for s in meta.skipped).most_common(10):
            console.print(f"  {count:6d}  {reason}")
    else:
        console.print("skipped: none")


@data.command()
@click.argument("folder", type=click.Path(path_type=Path))
def verify(folder: Path) -> None:
    """Check every shard in FOLDER against dataset.json (size, sha256, schema, rows); exit 1 on problems."""
    from mogen_bench.data.verify import verify_dataset

    report = verify_dataset(folder)
    for shard, problem in report.problems:
        click.echo(f"{folder / shard if shard.startswith('data/') else shard}: {problem}")
    if report.problems:
        click.echo(
            f"{len(report.problems)} problem(s) in {report.checked} shard(s); re-run prepare with --force"
        )
        sys.exit(1)
    click.echo(f"{folder}: {report.checked} shard(s), {report.info.num_motions} motions: OK")
