"""The leaderboard as one self-contained static HTML page (inline CSS and JavaScript, images as data URIs).

Nothing is fetched from the network, so the page can be mailed or opened from a file. Each board is a
table whose headers sort it when clicked (metric columns best first, by the direction in
``leaderboard.metrics``; a second click reverses), followed by its plots. A rendered sample (GIF) of each
model whose run folder has one is embedded once, in a Samples section linked from the tables.

For scripted checks (the headless-browser test) the page reads ``#sort=<table id>:<column>[:<clicks>]``
from its URL and clicks that header, sets ``data-ready="1"`` on ``<body>`` when its script has run, and
writes any JavaScript error into ``data-js-errors``.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from leaderboard import metrics as metric_info
from leaderboard import tables
from leaderboard.store import MAX_SAMPLE_BYTES, Board

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.15rem; margin-top: 2.5rem; }
p.meta, p.legend, footer { color: #555; font-size: 0.85rem; }
nav ul { font-size: 0.85rem; } nav li { margin: 0.15rem 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.5rem 0; }
th, td { padding: 0.25rem 0.55rem; border-bottom: 1px solid #e2e2e2; white-space: nowrap; }
thead th { border-bottom: 2px solid #333; cursor: pointer; user-select: none; position: sticky; top: 0;
           background: #fff; }
thead th[aria-sort="ascending"]::after { content: " \\25B4"; }
thead th[aria-sort="descending"]::after { content: " \\25BE"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.real td { background: #f4f4f4; }
tr.reported td.model { font-style: italic; }
span.kind { font-size: 0.75rem; padding: 0 0.35rem; border-radius: 0.6rem; }
span.kind.reported { background: #fbe5c8; } span.kind.reproduced { background: #d6e4f7; }
td.source, td.note { color: #555; font-size: 0.75rem; white-space: normal; max-width: 22rem; }
.plots { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.plots img { max-width: 100%; width: 560px; border: 1px solid #eee; }
.samples { display: flex; flex-wrap: wrap; gap: 1rem; }
.samples figure { margin: 0; } .samples img { max-width: 320px; border: 1px solid #eee; }
figcaption { font-size: 0.8rem; color: #444; }
"""

_JS = """
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (event) {
    errors.push(String(event.message));
    document.body.setAttribute("data-js-errors", errors.join(" | "));
  });
  function key(cell) {
    var value = cell.getAttribute("data-sort");
    if (value === null) { value = cell.getAttribute("data-value"); }
    return value;
  }
  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.cells, th);
    var numeric = th.getAttribute("data-type") === "number";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (other) {
      if (other !== th) { other.removeAttribute("aria-sort"); }
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (numeric) {
        var xMissing = x === null || x === "", yMissing = y === null || y === "";
        if (xMissing || yMissing) { return (xMissing ? 1 : 0) - (yMissing ? 1 : 0); }
        return ascending ? Number(x) - Number(y) : Number(y) - Number(x);
      }
      x = x || ""; y = y || "";
      return ascending ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.setAttribute("data-sorted-by", index + ":" + (ascending ? "asc" : "desc"));
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(th); }
    });
  });
  function sortFromHash() {
    var match = /^#sort=([A-Za-z0-9_-]+):(\\d+)(?::(\\d+))?$/.exec(window.location.hash);
    if (!match) { return; }
    var table = document.getElementById(match[1]);
    if (!table) { throw new Error("no table " + match[1]); }
    var th = table.tHead.rows[0].cells[Number(match[2])];
    var clicks = match[3] ? Number(match[3]) : 1;
    for (var i = 0; i < clicks; i++) { th.click(); }
  }
  sortFromHash();
  window.addEventListener("hashchange", sortFromHash);
  document.body.setAttribute("data-ready", "1");
})();
"""


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def table_id(board: Board) -> str:
    return f"table-{board.slug}"


def _sort_key(board: Board, metric: str, mean: float) -> float:
    """Smaller is better: the value, its negative (↑) or its distance to Real motions (→)."""
    way = metric_info.direction(metric)
    if way == metric_info.HIGHER:
        return -mean
    if way == metric_info.CLOSER:
        reference = tables.real_reference(board, metric)
        return mean if reference is None else abs(mean - reference)
    return mean


def board_table(board: Board, sample_ids: dict[str, str] | None = None) -> str:
    """The board's ``<table>`` (sortable; best cell ``<strong>``, second ``<u>``)."""
    ranked = tables.ranks(board)
    sample_ids = sample_ids or {}
    heads = [
        '<th data-type="text" scope="col">Model</th>',
        '<th data-type="text" scope="col">Result</th>',
    ]
    for metric in board.metrics:
        way = metric_info.direction(metric)
        heads.append(
            f'<th data-type="number" data-metric="{_e(metric)}" data-better="{way}" scope="col" '
            f'title="{_e(metric)}: click to sort, best first">{_e(tables.header(metric))}</th>'
        )
    heads.append('<th data-type="text" scope="col">Source</th>')
    rows = []
    for _, entry in board.entries.iterrows():
        classes = [str(entry["kind"])] + (["real"] if entry["real"] else [])
        sample = sample_ids.get(str(entry["sample"])) if entry["sample"] else None
        link = f' <a href="#{sample}" title="rendered sample">&#9654;</a>' if sample else ""
        cells = [
            f'<td class="model" data-value="{_e(entry["entry"])}">{_e(entry["entry"])}{link}</td>',
            f'<td data-value="{_e(entry["kind"])}"><span class="kind {_e(entry["kind"])}">'
            f"{_e(entry['kind'])}</span></td>",
        ]
        for metric in board.metrics:
            row = board.cell(entry["entry_id"], metric)
            if row is None or not math.isfinite(float(row["mean"])):
                cells.append(f'<td class="num" data-value="">{_e(tables.cell_text(row))}</td>')
                continue
            mean = float(row["mean"])
            value, rest = tables.split_cell(row)
            rank = ranked.get((entry["entry_id"], metric))
            shown = _e(value)
            if rank == tables.BEST:
                shown = f"<strong>{shown}</strong>"
            elif rank == tables.SECOND:
                shown = f"<u>{shown}</u>"
            cells.append(
                f'<td class="num" data-value="{mean!r}" data-sort="{_sort_key(board, metric, mean)!r}">'
                f"{shown}{_e(rest)}</td>"
            )
        note = f' title="{_e(entry["note"])}"' if entry["note"] else ""
        cells.append(
            f'<td class="source" data-value="{_e(entry["source"])}"{note}>{_e(entry["source"])}</td>'
        )
        rows.append(f'<tr class="{" ".join(classes)}">' + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable" id="{table_id(board)}">'
        f"<thead><tr>{''.join(heads)}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
    )


def _image(data: bytes, mime: str, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:{mime};base64,{encoded}">'


def _samples(boards: list[Board]) -> tuple[dict[str, str], list[str]]:
    """Sample ids by GIF path and the figures of the Samples section (one per GIF, embedded once)."""
    ids: dict[str, str] = {}
    figures: list[str] = []
    labels: dict[str, list[str]] = {}
    for board in boards:
        for _, entry in board.entries.iterrows():
            if entry["sample"]:
                names = labels.setdefault(str(entry["sample"]), [])
                if entry["entry"] not in names:
                    names.append(str(entry["entry"]))
    for n, (path, names) in enumerate(labels.items(), 1):
        gif = Path(path)
        if not gif.is_file():
            continue
        sample_id = f"sample-{n}"
        ids[path] = sample_id
        caption = f"{', '.join(names)}: {gif.name}"
        if gif.stat().st_size > MAX_SAMPLE_BYTES:
            body = f"<p>{_e(gif)} is larger than {MAX_SAMPLE_BYTES // 2**20} MB; not embedded.</p>"
        else:
            body = _image(gif.read_bytes(), "image/gif", f"rendered sample of {', '.join(names)}")
        figures.append(f'<figure id="{sample_id}">{body}<figcaption>{_e(caption)}</figcaption></figure>')
    return ids, figures


def render(
    boards: list[Board],
    plots: dict[str, dict[str, bytes]] | None = None,
    title: str = "mogen-bench leaderboard",
    footer: str | None = None,
) -> str:
    """The page: a table of contents, each board (table, legend, notes, plots), then the samples.

    ``plots`` maps a board's slug to ``{file name: PNG bytes}`` (``leaderboard.plots.board_plots``).
    """
    plots = plots or {}
    sample_ids, sample_figures = _samples(boards)
    contents = "".join(f'<li><a href="#{board.slug}">{_e(board.title)}</a></li>' for board in boards)
    sections = []
    for board in boards:
        notes = tables.notes(board)
        notes_html = "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>" if notes else ""
        images = "".join(
            _image(png, "image/png", f"{name} ({board.title})")
            for name, png in plots.get(board.slug, {}).items()
        )
        plots_html = f'<div class="plots">{images}</div>' if images else ""
        sections.append(
            f'<section class="board" id="{board.slug}"><h2>{_e(board.title)}</h2>'
            f'<p class="meta">{_e(tables.describe(board))}</p>'
            f'<p class="legend">{_e(tables.legend(board))}; <strong>bold</strong> best, <u>underlined</u> '
            "second (Real motions not ranked); cells are mean ± 95% interval; click a header to sort.</p>"
            f"{board_table(board, sample_ids)}{notes_html}{plots_html}</section>"
        )
    samples_html = (
        '<section id="samples"><h2>Samples</h2><div class="samples">'
        + "".join(sample_figures)
        + "</div></section>"
        if sample_figures
        else ""
    )
    empty = "" if boards else "<p>No results.</p>"
    footer_html = f"<footer><p>{_e(footer)}</p></footer>" if footer else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1></header>\n"
        + (f"<nav><ul>{contents}</ul></nav>\n" if boards else "")
        + empty
        + "\n".join(sections)
        + samples_html
        + footer_html
        + f"\n<script>{_JS}</script>\n</body>\n</html>\n"
    )
