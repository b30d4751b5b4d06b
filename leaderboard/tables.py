"""Leaderboard tables: Markdown, LaTeX (booktabs), CSV and rich, one table per board.

Every table has a row per entry (Real motions first, then published rows in their paper's order, then the
reproduced runs), a Result column (``reported`` = copied from a paper, ``reproduced`` = computed by
mogen-bench from a ``results.json``), a Source column, and a column per metric with its direction arrow
(``leaderboard.metrics``): ↑ higher is better, ↓ lower is better, → closest to the board's Real motions
row is better. Cells read ``mean ± interval`` (95 %); published cells keep their printed text
(``0.511±.003``). In each metric column the best value is bold and the second best underlined, ranked over
all rows except Real motions; values equal at the shown precision tie.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd

from leaderboard import metrics as metric_info
from leaderboard.store import Board

#: Decimal places of reproduced means and intervals (the T2M tables' precision).
DIGITS = 3
BEST, SECOND = 1, 2


def _rounded(row) -> float:
    return float(row["mean"]) if row["printed"] else round(float(row["mean"]), DIGITS)


def real_reference(board: Board, metric: str) -> float | None:
    """The Real motions value of ``metric`` on ``board``: a reproduced one first, else a published one."""
    rows = board.rows[(board.rows["real"]) & (board.rows["metric"] == metric) & board.rows["mean"].notna()]
    if rows.empty:
        return None
    rows = rows.sort_values("reported", kind="stable")
    return _rounded(rows.iloc[0])


def ranks(board: Board) -> dict[tuple[str, str], int]:
    """``{(entry_id, metric): 1 | 2}``: the best and second-best cells of each metric column."""
    found: dict[tuple[str, str], int] = {}
    candidates = board.rows[~board.rows["real"]]
    for metric, rows in candidates.groupby("metric", sort=False):
        way = metric_info.direction(metric)
        reference = real_reference(board, metric) if way == metric_info.CLOSER else None
        if way == metric_info.CLOSER and reference is None:
            continue  # "closest to real" needs a real row
        scores = {}
        for _, row in rows.iterrows():
            value = _rounded(row)
            if math.isnan(value):
                continue
            if way == metric_info.HIGHER:
                score = -value
            elif way == metric_info.LOWER:
                score = value
            else:
                score = round(abs(value - reference), 9)
            scores[row["entry_id"]] = score
        levels = sorted(set(scores.values()))
        for entry_id, score in scores.items():
            if score == levels[0]:
                found[(entry_id, metric)] = BEST
            elif len(levels) > 1 and score == levels[1]:
                found[(entry_id, metric)] = SECOND
    return found


def cell_text(row) -> str:
    """``0.504 ± 0.002`` for a reproduced cell, the printed text for a published one."""
    if row is None:
        return ""
    if row["printed"]:
        return str(row["printed"])
    mean, interval = float(row["mean"]), float(row["interval"])
    text = f"{mean:.{DIGITS}f}"
    return text if math.isnan(interval) else f"{text} ± {interval:.{DIGITS}f}"


def split_cell(row) -> tuple[str, str]:
    """(value, the rest) of a cell: ``("0.511", "±.003")``, ``("0.504", " ± 0.002")``, ``("3.63", "")``."""
    text = cell_text(row)
    value = text.partition("±")[0].rstrip()
    return value, text[len(value) :]


def header(metric: str) -> str:
    return f"{metric_info.label(metric)} {metric_info.arrow(metric)}"


def legend(board: Board) -> str:
    arrows = sorted({metric_info.direction(m) for m in board.metrics})
    words = {
        metric_info.HIGHER: "↑ higher is better",
        metric_info.LOWER: "↓ lower is better",
        metric_info.CLOSER: "→ closer to Real motions is better",
    }
    return "; ".join(words[a] for a in arrows)


def describe(board: Board) -> str:
    """One line on what the board compares."""
    first = board.rows.iloc[0]
    bits = [f"protocol {first['protocol_id']}"]
    if first["protocol_variant"] != "standard":
        bits[0] += f" ({first['protocol_variant']})"
    data = str(first["dataset_name"])
    if first["dataset_fingerprint"]:
        data += f" (fingerprint {str(first['dataset_fingerprint'])[:12]})"
    bits += [f"dataset {data}", f"split {first['split']}"]
    evaluator = str(first["evaluator_name"])
    if first["evaluator_hash"]:
        evaluator += f" (hash {str(first['evaluator_hash'])[:12]})"
    bits.append(f"evaluator {evaluator}")
    return "; ".join(bits)


def notes(board: Board) -> list[str]:
    """The distinct notes of the board's published tables and rows (``Model: note`` for a row)."""
    lines: list[str] = []
    entries = board.entries
    for text in entries["source_note"]:
        if text and text not in lines:
            lines.append(str(text))
    for _, entry in entries.iterrows():
        line = f"{entry['entry']}: {entry['note']}" if entry["note"] else None
        if line and line not in lines:
            lines.append(line)
    return lines


# --- Markdown ----------------------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_board(board: Board, level: int = 2) -> str:
    ranked = ranks(board)
    metrics = board.metrics
    lines = [
        f"{'#' * level} {_md_escape(board.title)}",
        "",
        f"{_md_escape(describe(board))}. {legend(board)}; **bold** best, <u>underlined</u> second "
        "(Real motions not ranked); cells are mean ± 95% interval.",
        "",
        "| Model | Result | Source | " + " | ".join(header(m) for m in metrics) + " |",
        "|---|---|---|" + "---:|" * len(metrics),
    ]
    for _, entry in board.entries.iterrows():
        cells = []
        for metric in metrics:
            row = board.cell(entry["entry_id"], metric)
            value, rest = split_cell(row)
            rank = ranked.get((entry["entry_id"], metric))
            if rank == BEST:
                value = f"**{value}**"
            elif rank == SECOND:
                value = f"<u>{value}</u>"
            cells.append(_md_escape(value + rest))
        lines.append(
            f"| {_md_escape(entry['entry'])} | {entry['kind']} | {_md_escape(entry['source'])} | "
            + " | ".join(cells)
            + " |"
        )
    extra = notes(board)
    if extra:
        lines += ["", *[f"- {_md_escape(n)}" for n in extra]]
    return "\n".join(lines) + "\n"


def markdown(boards: list[Board], title: str = "mogen-bench leaderboard") -> str:
    """The whole leaderboard as Markdown: a title and one section per board."""
    parts = [f"# {title}\n"]
    if not boards:
        parts.append("No results.\n")
    parts += [markdown_board(board) for board in boards]
    return "\n".join(parts)


# --- LaTeX -------------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "§": r"\S{}",
    "·": r"$\cdot$",
    "→": r"$\rightarrow$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "±": r"$\pm$",
}
_ARROWS_TEX = {
    metric_info.HIGHER: r"$\uparrow$",
    metric_info.LOWER: r"$\downarrow$",
    metric_info.CLOSER: r"$\rightarrow$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_cell(row, rank: int | None) -> str:
    if row is None:
        return "--"
    value, rest = split_cell(row)
    value = latex_escape(value)
    if rank == BEST:
        value = rf"\textbf{{{value}}}"
    elif rank == SECOND:
        value = rf"\underline{{{value}}}"
    if rest:
        value += r"{\scriptsize$\pm$" + latex_escape(rest.partition("±")[2].strip()) + "}"
    return value


def latex_board(board: Board) -> str:
    ranked = ranks(board)
    metrics = board.metrics
    heads = [f"{latex_escape(metric_info.label(m))} {_ARROWS_TEX[metric_info.direction(m)]}" for m in metrics]
    lines = [
        f"% {board.title}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(board.title)}. {latex_escape(legend(board))}; best in bold, second "
        r"underlined (Real motions not ranked); mean $\pm$ 95\% interval.}",
        r"\begin{tabular}{lll" + "r" * len(metrics) + "}",
        r"\toprule",
        "Model & Result & Source & " + " & ".join(heads) + r" \\",
        r"\midrule",
    ]
    entries = board.entries
    for i, (_, entry) in enumerate(entries.iterrows()):
        cells = [
            _latex_cell(board.cell(entry["entry_id"], m), ranked.get((entry["entry_id"], m))) for m in metrics
        ]
        lines.append(
            f"{latex_escape(entry['entry'])} & {entry['kind']} & {latex_escape(entry['source'])} & "
            + " & ".join(cells)
            + r" \\"
        )
        # A rule under the Real motions rows, as the papers set them apart.
        if entry["real"] and i + 1 < len(entries) and not entries.iloc[i + 1]["real"]:
            lines.append(r"\midrule")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex(boards: list[Board]) -> str:
    """Every board as a booktabs ``table`` (needs ``\\usepackage{booktabs}``)."""
    preamble = "% mogen-bench leaderboard; needs \\usepackage{booktabs}\n"
    return preamble + "\n".join(latex_board(board) for board in boards)


# --- CSV ---------------------------------------------------------------------------------------------------

CSV_FIXED = ("board", "board_title", "entry", "result", "real", "source", "note")


def wide(boards: list[Board]) -> pd.DataFrame:
    """One row per (board, entry): the fixed columns, then ``<metric>`` and ``<metric> interval``."""
    all_metrics = metric_info.ordered(m for board in boards for m in board.metrics)
    records = []
    for board in boards:
        for _, entry in board.entries.iterrows():
            record = {
                "board": board.key,
                "board_title": board.title,
                "entry": entry["entry"],
                "result": entry["kind"],
                "real": bool(entry["real"]),
                "source": entry["source"],
                "note": entry["note"] or "",
            }
            for metric in all_metrics:
                row = board.cell(entry["entry_id"], metric)
                record[metric] = math.nan if row is None else float(row["mean"])
                record[f"{metric} interval"] = math.nan if row is None else float(row["interval"])
            records.append(record)
    columns = [*CSV_FIXED, *[c for m in all_metrics for c in (m, f"{m} interval")]]
    return pd.DataFrame.from_records(records, columns=columns)


def csv_text(boards: list[Board]) -> str:
    """The wide table as CSV (floats written exactly: ``repr`` round-trips)."""
    buffer = io.StringIO()
    wide(boards).to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue()


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV written by ``csv_text`` back as the ``wide`` frame."""
    table = pd.read_csv(path, keep_default_na=False)
    for column in table.columns:
        if column not in CSV_FIXED:
            table[column] = pd.to_numeric(table[column].replace("", math.nan)).astype("float64")
    table["real"] = table["real"].astype(str).map({"True": True, "False": False}).astype(bool)
    for column in ("board", "board_title", "entry", "result", "source", "note"):
        table[column] = table[column].astype(str)
    return table


# --- rich (terminal) ---------------------------------------------------------------------------------------


def rich_table(board: Board):
    """A ``rich.table.Table`` of the board (best bold, second underlined)."""
    from rich.markup import escape
    from rich.table import Table

    ranked = ranks(board)
    table = Table(title=escape(board.title), caption=escape(f"{describe(board)}. {legend(board)}"))
    table.add_column("Model")
    table.add_column("Result")
    for metric in board.metrics:
        table.add_column(header(metric), justify="right")
    for _, entry in board.entries.iterrows():
        cells = []
        for metric in board.metrics:
            text = escape(cell_text(board.cell(entry["entry_id"], metric)))
            rank = ranked.get((entry["entry_id"], metric))
            cells.append(
                f"[bold]{text}[/bold]"
                if rank == BEST
                else f"[underline]{text}[/underline]"
                if rank == SECOND
                else text
            )
        table.add_row(escape(entry["entry"]), entry["kind"], *cells)
    return table
