"""``mogen-bench quickstart``: the whole benchmark on MoGen-Synth, from data to leaderboard, in one command.

The pipeline lives in ``mogen_bench.quickstart`` (imported inside the command, so ``--help`` stays light).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the data, runs, results and report [default: quickstart-SIZE].",
)
@click.option(
    "--size",
    type=click.Choice(["tiny", "small"]),
    default="tiny",
    help="tiny: MoGen-Synth tiny, about 3 CPU-minutes; small: MoGen-Synth small, about 18.",
)
@click.option("--seed", type=int, default=0, help="Base seed (data, training, sampling, evaluation).")
@click.option("--force", is_flag=True, help="Redo every stage, even those finished before.")
@click.option(
    "--threads",
    type=int,
    default=1,
    help="torch CPU threads (the small models gain little from more; on a busy machine more are slower).",
)
@click.option("--no-progress", is_flag=True, help="No stage lines or progress bars.")
def quickstart(out: Path | None, size: str, seed: int, force: bool, threads: int, no_progress: bool) -> None:
    """Generate MoGen-Synth, train the evaluator and every model, evaluate them, write the leaderboard.

    Stages finished by an earlier run into the same --out are not redone (--force redoes them).
    """
    from rich.console import Console

    from leaderboard.tables import rich_table
    from mogen_bench.quickstart import QuickstartOptions, run_quickstart

    out = out if out is not None else Path(f"quickstart-{size}")
    options = QuickstartOptions(out, size, seed, force, progress=not no_progress, threads=threads)
    result = run_quickstart(options)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a pipe or file gets whole rows
    for board in result.report.boards:
        console.print(rich_table(board))
        console.print()
    done = sum(not r.skipped for r in result.records)
    console.print(
        f"{done} of {len(result.records)} stages run in {result.wall_s:.0f} s (CPU {result.cpu_s:.0f} s); "
        f"report in {result.plan.paths.report}"
    )
    console.print(f"HTML: {result.html}")
