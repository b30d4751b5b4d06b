"""``mogen-bench leaderboard report``: results files in, every leaderboard format out, in one folder.

``write_report(paths, out)`` collects the results (``store.collect``), adds the published rows
(``published.with_published``), splits the table into boards and writes::

    out/leaderboard.md      Markdown tables          out/index.html     the self-contained page
    out/leaderboard.tex     LaTeX (booktabs)         out/plots/*.png    bar charts and R-precision vs FID
    out/leaderboard.csv     one row per board entry  out/results.parquet  the long table (store schema)

Each file is written atomically; plots of boards that no longer exist are removed from ``out/plots``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from annotation.files import atomic_write_bytes, atomic_write_text
from leaderboard import html, plots, published, store, tables

TITLE = "mogen-bench leaderboard"


@dataclass
class Report:
    table: pd.DataFrame
    boards: list[store.Board]
    files: dict[str, Path] = field(default_factory=dict)


def build(paths: Iterable[str | Path], published_mode: str = "all") -> Report:
    """The table and boards of the results under ``paths`` with published rows (``all|attach|none``)."""
    table = published.with_published(store.collect(paths), published_mode)
    return Report(table, store.boards(table))


def write_report(
    paths: Iterable[str | Path],
    out: str | Path,
    published_mode: str = "all",
    title: str = TITLE,
    footer: str | None = None,
) -> Report:
    """Write every format of the leaderboard of ``paths`` into ``out`` (see the module docstring)."""
    report = build(paths, published_mode)
    out = Path(out)
    plot_folder = out / "plots"
    plot_folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, bytes]] = {}
    written: set[str] = set()
    for board in report.boards:
        figures[board.slug] = plots.board_plots(board)
        for name, png in figures[board.slug].items():
            atomic_write_bytes(plot_folder / name, png)
            written.add(name)
    for stale in plot_folder.glob("*--*.png"):
        if stale.name not in written:
            stale.unlink()
    files = {
        "markdown": atomic_write_text(out / "leaderboard.md", tables.markdown(report.boards, title)),
        "latex": atomic_write_text(out / "leaderboard.tex", tables.latex(report.boards)),
        "csv": atomic_write_text(out / "leaderboard.csv", tables.csv_text(report.boards)),
        "html": atomic_write_text(out / "index.html", html.render(report.boards, figures, title, footer)),
        "parquet": store.write_parquet(report.table, out / "results.parquet"),
        "plots": plot_folder,
    }
    report.files = files
    return report
