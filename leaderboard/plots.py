"""PNG plots of a board with matplotlib's Agg canvas (no pyplot, so no global figure state or GUI backend).

- ``metric_bars``: one horizontal bar per entry with its 95 % interval as a whisker; reproduced rows blue,
  published (reported) rows hatched orange, Real motions grey.
- ``precision_vs_fid``: R-precision (top-3, else top-1; per stage on composition boards) against FID, with
  both intervals; FID on a log axis when it spans more than two decades.
"""

from __future__ import annotations

import io
import math
import re

from leaderboard import metrics as metric_info
from leaderboard.store import Board

DPI = 100
WIDTH = 7.0
_COLOURS = {"reproduced": "#3b6fb6", "reported": "#e39b3a", "real": "#8a8a8a"}


def _figure(height: float, left: float = 0.8):
    """A figure with fixed margins in inches (``left`` for the labels): no layout pass, one draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=left / WIDTH, right=1 - 0.2 / WIDTH, bottom=0.6 / height, top=1 - 0.6 / height
    )
    return figure


def _heading(figure, board: Board, kinds: set[str]) -> None:
    """The board's title and the legend of row kinds, in the top margin (never over the data)."""
    height = figure.get_figheight()
    figure.text(
        0.1 / WIDTH, 1 - 0.08 / height, _short(board.title, 120), fontsize=7, va="top", color="#333333"
    )
    figure.legend(
        handles=_legend_handles(kinds),
        loc="upper right",
        bbox_to_anchor=(1 - 0.2 / WIDTH, 1 - 0.22 / height),
        ncols=3,
        fontsize=7,
        frameon=False,
    )


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _kind(entry) -> str:
    return "real" if entry["real"] else str(entry["kind"])


def _points(board: Board, metric: str) -> list[tuple[object, float, float]]:
    """(entry row, mean, interval) for the entries with a finite value of ``metric``, in display order."""
    found = []
    for _, entry in board.entries.iterrows():
        cell = board.cell(entry["entry_id"], metric)
        if cell is None or not math.isfinite(float(cell["mean"])):
            continue
        interval = float(cell["interval"])
        found.append((entry, float(cell["mean"]), interval if math.isfinite(interval) else 0.0))
    return found


def metric_bars(board: Board, metric: str) -> bytes | None:
    """A bar chart of ``metric`` over the board's entries (None when no entry has it)."""
    points = _points(board, metric)
    if not points:
        return None
    figure = _figure(1.4 + 0.32 * len(points), left=2.3)
    axes = figure.add_subplot()
    positions = list(range(len(points)))[::-1]
    # One call per kind of row (not per bar): matplotlib's cost is per artist call.
    for kind in ("real", "reported", "reproduced"):
        chosen = [
            (y, mean, interval)
            for y, (e, mean, interval) in zip(positions, points, strict=True)
            if _kind(e) == kind
        ]
        if not chosen:
            continue
        ys, means, intervals = zip(*chosen, strict=True)
        axes.barh(
            ys,
            means,
            xerr=intervals,
            color=_COLOURS[kind],
            hatch="//" if kind == "reported" else None,
            edgecolor="white" if kind == "reported" else None,
            error_kw={"ecolor": "#222222", "capsize": 3, "elinewidth": 1},
        )
    axes.set_yticks(positions, [_short(e["entry"]) for e, _, _ in points], fontsize=8)
    axes.set_xlabel(f"{metric_info.label(metric)} {metric_info.arrow(metric)}  (mean, 95% interval)")
    axes.grid(axis="x", alpha=0.3)
    _heading(figure, board, {_kind(e) for e, _, _ in points})
    return _png(figure)


def _legend_handles(kinds: set[str]):
    from matplotlib.patches import Patch

    names = {"reproduced": "reproduced", "reported": "reported (published)", "real": "Real motions"}
    return [
        Patch(
            facecolor=_COLOURS[k], hatch="//" if k == "reported" else None, edgecolor="white", label=names[k]
        )
        for k in ("reproduced", "reported", "real")
        if k in kinds
    ]


def _short(text: str, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PAIRS = (
    ("R_precision_top3", "FID"),
    ("R_precision_top1", "FID"),
    ("stage_R_precision_top3", "stage_FID"),
    ("stage_R_precision_top1", "stage_FID"),
)


def scatter_metrics(board: Board) -> tuple[str, str] | None:
    """The (R-precision, FID) pair to plot: the one most reproduced entries have (then most entries, then
    top-3 before top-1); None when no entry has both of any pair."""
    rows = board.rows[board.rows["mean"].notna()]
    having = rows.groupby("metric")["entry_id"].agg(set).to_dict()
    reproduced = set(rows.loc[~rows["reported"], "entry_id"])
    best, best_key = None, (0, 0)
    for precision, fid in _PAIRS:
        both = having.get(precision, set()) & having.get(fid, set())
        key = (len(both & reproduced), len(both))
        if key > best_key:
            best, best_key = (precision, fid), key
    return best


def precision_vs_fid(board: Board) -> bytes | None:
    """R-precision against FID, one point per entry with both (None when fewer than one such entry)."""
    pair = scatter_metrics(board)
    if pair is None:
        return None
    precision, fid = pair
    fids = {e["entry_id"]: (m, i) for e, m, i in _points(board, fid)}
    points = [
        (e, fids[e["entry_id"]], (m, i)) for e, m, i in _points(board, precision) if e["entry_id"] in fids
    ]
    if not points:
        return None
    figure = _figure(4.8)
    axes = figure.add_subplot()
    for kind in ("real", "reported", "reproduced"):
        chosen = [(x, dx, y, dy) for e, (x, dx), (y, dy) in points if _kind(e) == kind]
        if not chosen:
            continue
        xs, dxs, ys, dys = zip(*chosen, strict=True)
        axes.errorbar(
            xs,
            ys,
            xerr=dxs,
            yerr=dys,
            fmt="*" if kind == "real" else ("s" if kind == "reported" else "o"),
            color=_COLOURS[kind],
            markersize=9 if kind == "real" else 6,
            capsize=2,
            elinewidth=0.8,
        )
    # Many published points would bury the labels: then only reproduced rows and Real motions are named.
    named = [p for p in points if len(points) <= 15 or _kind(p[0]) != "reported"]
    for entry, (x, _), (y, _) in named:
        axes.annotate(
            _short(entry["entry"], 28), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7
        )
    xs = [x for _, (x, _), _ in points]
    if min(xs) > 0 and max(xs) / min(xs) > 100:
        axes.set_xscale("log")
    axes.set_xlabel(f"{metric_info.label(fid)} {metric_info.arrow(fid)}")
    axes.set_ylabel(f"{metric_info.label(precision)} {metric_info.arrow(precision)}")
    axes.grid(alpha=0.3)
    _heading(figure, board, {_kind(e) for e, _, _ in points})
    return _png(figure)


def metric_slug(metric: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", metric.lower()).strip("-")


def board_plots(board: Board) -> dict[str, bytes]:
    """``{file name: PNG bytes}``: a bar chart per metric and the R-precision vs FID scatter."""
    plots: dict[str, bytes] = {}
    for metric in board.metrics:
        png = metric_bars(board, metric)
        if png is not None:
            plots[f"{board.slug}--{metric_slug(metric)}.png"] = png
    scatter = precision_vs_fid(board)
    if scatter is not None:
        plots[f"{board.slug}--rprecision-vs-fid.png"] = scatter
    return plots
