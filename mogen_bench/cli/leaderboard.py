"""``mogen-bench leaderboard``: collect results.json files into tables, plots and a static HTML page.

``--results`` takes files or folders (searched recursively for ``results.json``); paths after it are
taken too, so ``--results runs/*`` works with a shell glob. The ``leaderboard`` package is imported
inside the commands, so ``mogen-bench --help`` does not load pandas or matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import click

_PUBLISHED = click.Choice(["all", "attach", "none"])


def _paths(results: tuple[Path, ...], more: tuple[Path, ...]) -> list[Path]:
    paths = [*results, *more]
    if not paths:
        raise click.UsageError("give at least one results file or folder: --results PATH...")
    return paths


def _results_options(command):
    command = click.argument("more", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=Path))(command)
    return click.option(
        "--results",
        "results",
        multiple=True,
        type=click.Path(path_type=Path),
        help="A results.json file or a folder searched recursively (repeatable; later paths are taken too).",
    )(command)


@click.group()
def leaderboard() -> None:
    """Leaderboards from results.json files: reproduced rows beside published ones, board by board.

    Rows are only compared within a board: the same protocol (id and constants), dataset (fingerprint),
    split and evaluator (hash).
    """


@leaderboard.command(context_settings={"show_default": True})
@_results_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the report files.")
@click.option(
    "--published",
    "published_mode",
    type=_PUBLISHED,
    default="all",
    help="Published rows: on matching boards and as boards of their own (all), on matching boards only "
    "(attach), or none.",
)
@click.option("--title", default="mogen-bench leaderboard", help="Title of the page and the Markdown.")
def report(
    results: tuple[Path, ...], more: tuple[Path, ...], out: Path, published_mode: str, title: str
) -> None:
    """Write leaderboard.md, .tex, .csv, index.html, plots/*.png and results.parquet into OUT."""
    import time

    from leaderboard.report import write_report
    from mogen_bench import __version__

    footer = f"Written by mogen-bench {__version__} on {time.strftime('%Y-%m-%d %H:%M')}."
    written = write_report(_paths(results, more), out, published_mode, title, footer)
    reproduced = (
        written.table[~written.table["reported"]]["entry_id"].nunique() if not written.table.empty else 0
    )
    click.echo(f"{len(written.boards)} board(s), {reproduced} reproduced evaluation(s)")
    for kind, path in written.files.items():
        click.echo(f"{kind:8} {path}")


@leaderboard.command(context_settings={"show_default": True})
@_results_options
@click.option(
    "--published",
    "published_mode",
    type=_PUBLISHED,
    default="attach",
    help="Published rows: on matching boards only (attach), also as boards of their own (all), or none.",
)
def show(results: tuple[Path, ...], more: tuple[Path, ...], published_mode: str) -> None:
    """Print the leaderboard of the results under PATH... as tables in the terminal."""
    from rich.console import Console

    from leaderboard.report import build
    from leaderboard.tables import rich_table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a pipe or file gets whole rows, not 80-column wrapping
    built = build(_paths(results, more), published_mode)
    for board in built.boards:
        console.print(rich_table(board))
        console.print()
