"""The leaderboard: results store and boards, published rows, tables, plots, the HTML page and the CLI.

Results files are written here as JSON in the shape ``mogen-bench evaluate`` writes (no torch). The
headless-browser tests run only where a ``chromium`` / ``chromium-browser`` binary is installed (Debian's
``chromium`` package in CI) and are skipped otherwise.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from annotation.errors import MogenBenchError
from leaderboard import html, plots, published, store, tables
from leaderboard import metrics as metric_info

T2M_HASH = "a" * 64
OTHER_HASH = "b" * 64
HML_PRINT = "1" * 64
KIT_PRINT = "2" * 64


def score(values: list[float]) -> dict:
    """A metric as ``summarise`` writes it: mean, 1.96 std / sqrt(R), the values."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "interval": float(1.96 * v.std() / math.sqrt(len(v))), "values": list(v)}


def entry(
    model: str = "mdm",
    *,
    run: str | None = None,
    real: bool = False,
    protocol: str = "t2m@1",
    changes: dict | None = None,
    source: str = "humanml3d",
    fingerprint: str = HML_PRINT,
    evaluator: tuple[str, str] = ("t2m", T2M_HASH),
    split: str = "test",
    seed: int = 0,
    metrics: dict[str, list[float]] | None = None,
    subset: int | None = None,
    created: str = "2026-01-01T00:00:00+0000",
) -> dict:
    constants = {
        **store.STANDARD_PROTOCOLS.get(protocol, store.STANDARD_PROTOCOLS["t2m@1"]),
        **(changes or {}),
    }
    metrics = metrics or {"R_precision_top1": [0.4, 0.42], "FID": [0.5, 0.7]}
    model_entry = (
        {"name": "real", "real": True}
        if real
        else {"name": model, "run": run or f"/runs/{model}", "checkpoint": "c.pt", "step": 100, "real": False}
    )
    return {
        "protocol": {"id": protocol, "description": "", "constants": constants},
        "split": split,
        "seed": seed,
        "num_motions": 4384,
        "subset": subset,
        "model": model_entry,
        "dataset": {
            "name": source,
            "path": f"/data/{source}",
            "source": source,
            "representation": "humanml3d-263",
            "fingerprint": fingerprint,
        },
        "evaluator": {"name": evaluator[0], "hash": evaluator[1], "path": None},
        "world_size": 1,
        "metrics": {name: score(values) for name, values in metrics.items()},
        "tool": {"name": "mogen-bench", "version": "0.1.0"},
        "created": created,
    }


def write_results(path: Path, *entries: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": "mogen-bench-results", "schema_version": 1, "evaluations": list(entries)}
    path.write_text(json.dumps(document, indent=2))
    return path


#: A standard t2m@1 HumanML3D board: Real motions and three models; each direction ranks them differently.
BOARD_METRICS = {
    "real": {
        "R_precision_top1": [0.51, 0.51],
        "FID": [0.002, 0.002],
        "Diversity": [9.5, 9.5],
        "MM_Dist": [3.0, 3.0],
    },
    "alpha": {
        "R_precision_top1": [0.50, 0.50],
        "FID": [0.9, 0.9],
        "Diversity": [9.4, 9.4],
        "MM_Dist": [3.5, 3.5],
    },
    "beta": {
        "R_precision_top1": [0.40, 0.40],
        "FID": [0.1, 0.1],
        "Diversity": [8.0, 8.0],
        "MM_Dist": [3.2, 3.2],
    },
    "gamma": {
        "R_precision_top1": [0.30, 0.30],
        "FID": [0.5, 0.5],
        "Diversity": [9.7, 9.7],
        "MM_Dist": [3.3, 3.3],
    },
}


def _make_runs(root: Path) -> Path:
    """A folder of run folders, each with its results.json (and a GIF for alpha), plus the real row."""
    for name, values in BOARD_METRICS.items():
        run = root / name
        write_results(run / "results.json", entry(name, real=name == "real", run=str(run), metrics=values))
    gif = root / "alpha" / "generated" / "sample.gif"
    gif.parent.mkdir(parents=True)
    frames = [Image.new("RGB", (24, 24), colour) for colour in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    return root


@pytest.fixture
def runs(tmp_path) -> Path:
    return _make_runs(tmp_path / "runs")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, CliRunner]:
    """``leaderboard report`` run once through the CLI (plots take a while); a stale plot is waiting in it."""
    from mogen_bench.cli import cli

    root = tmp_path_factory.mktemp("site")
    runs = _make_runs(root / "runs")
    out = root / "report"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "old-board--fid.png").write_bytes(b"stale")
    (out / "plots" / "mine.png").write_bytes(b"not ours")
    args = ["leaderboard", "report", "--results", str(runs), "--out", str(out), "--published", "attach"]
    return out, CliRunner().invoke(cli, args)


def test_standard_protocols_and_schema_match_mogen_bench():
    from mogen_bench.evaluation import protocols, results

    assert {pid: p.constants() for pid, p in protocols.PROTOCOLS.items()} == store.STANDARD_PROTOCOLS
    assert (store.RESULTS_FILE, store.RESULTS_FORMAT, store.SCHEMA_VERSION) == (
        results.RESULTS_FILE,
        results.RESULTS_FORMAT,
        results.SCHEMA_VERSION,
    )


def test_reads_what_record_result_writes(tmp_path):
    from mogen_bench.evaluation.results import record_result

    path = tmp_path / "run" / "results.json"
    record_result(path, entry("mdm"))
    record_result(path, entry("mdm", protocol="fine@1"))
    table = store.collect([tmp_path])
    assert sorted(table["protocol_id"].unique()) == ["fine@1", "t2m@1"]
    assert set(table["tool_version"]) == {"0.1.0"}


def test_leaderboard_imports_neither_torch_nor_mogen_bench():
    code = (
        "import sys; import leaderboard.report, leaderboard.html, leaderboard.plots, leaderboard.tables; "
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('mogen_bench')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_collect_long_table(runs):
    table = store.collect([runs, runs / "alpha" / "results.json"])  # the file twice: read once
    assert tuple(table.columns) == store.COLUMNS
    assert len(table) == 4 * 4 and table["entry_id"].nunique() == 4  # one row per (evaluation, metric)
    alpha = table[(table["model_name"] == "alpha") & (table["metric"] == "FID")].iloc[0]
    assert (alpha["mean"], alpha["interval"], alpha["values"]) == (0.9, 0.0, [0.9, 0.9])
    assert alpha["entry"] == "alpha @ step 100" and alpha["kind"] == "reproduced" and not alpha["reported"]
    assert alpha["sample"] == str(runs / "alpha" / "generated" / "sample.gif")
    assert alpha["protocol_variant"] == "standard" and alpha["source"] == "mogen-bench 0.1.0 · seed 0"
    real = table[table["real"]]
    assert set(real["entry"]) == {"Real motions"} and real["sample"].isna().all()
    assert table["board"].nunique() == 1


def test_boards_never_mix_protocols_evaluators_datasets_or_splits(tmp_path):
    variants = [
        {},
        {"protocol": "fine@1"},
        {"evaluator": ("t2m", OTHER_HASH)},
        {"evaluator": ("contrastive", T2M_HASH)},
        {"fingerprint": KIT_PRINT},
        {"split": "val"},
        {"changes": {"pool_size": 8}},
        {"changes": {"replications": 5}},
        {"subset": 64},
    ]
    for i, change in enumerate(variants):
        write_results(tmp_path / f"a{i}" / "results.json", entry("mdm", **change))
        write_results(tmp_path / f"b{i}" / "results.json", entry("teach", **change))
    table = store.collect([tmp_path])
    boards = store.boards(table)
    assert len(boards) == len(variants)
    identity = [
        "protocol_id",
        "protocol_constants",
        "evaluator_hash",
        "dataset_fingerprint",
        "split",
        "subset",
    ]
    for board in boards:
        assert len(board.rows[identity].astype(str).drop_duplicates()) == 1
        assert sorted(board.entries["model_name"]) == ["mdm", "teach"]
    titles = {b.title for b in boards}
    assert any("variant: pool_size=8" in t for t in titles) and any(
        "variant: replications=5" in t for t in titles
    )
    assert len({b.slug for b in boards}) == len(boards)


def test_entry_labels_unique_within_a_board(tmp_path):
    write_results(tmp_path / "results.json", entry("mdm", seed=0), entry("mdm", seed=1))
    table = store.collect([tmp_path])
    assert sorted(table["entry"].unique()) == ["mdm @ step 100 · seed 0", "mdm @ step 100 · seed 1"]


def _latex_rows(text: str) -> dict[str, str]:
    return {line.split(" & ")[0]: line for line in text.splitlines() if " & " in line and "\\\\" in line}


def test_latex_booktabs_best_bold_second_underlined_by_direction(runs):
    (board,) = store.boards(store.collect([runs]))
    text = tables.latex_board(board)
    assert all(
        rule in text for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lllrrrr}")
    )
    header = next(line for line in text.splitlines() if line.startswith("Model &"))
    assert header == (
        "Model & Result & Source & Top-1 $\\uparrow$ & FID $\\downarrow$ & MM-Dist $\\downarrow$ & "
        "Diversity $\\rightarrow$ \\\\"
    )
    rows = _latex_rows(text)
    alpha, beta, gamma = (rows[f"{n} @ step 100"] for n in ("alpha", "beta", "gamma"))
    real = rows["Real motions"]
    # Top-1 (higher): alpha 0.50 best, beta 0.40 second; real (0.51) is not ranked.
    assert "\\textbf{0.500}{\\scriptsize$\\pm$0.000}" in alpha and "\\underline{0.400}" in beta
    # FID (lower): beta 0.1 best, gamma 0.5 second.
    assert "\\textbf{0.100}" in beta and "\\underline{0.500}" in gamma
    # MM-Dist (lower): beta 3.2, gamma 3.3.
    assert "\\textbf{3.200}" in beta and "\\underline{3.300}" in gamma
    # Diversity (closer to real 9.5): alpha 9.4 (0.1) best, gamma 9.7 (0.2) second, beta 8.0 last.
    assert "\\textbf{9.400}" in alpha and "\\underline{9.700}" in gamma and "{8.000}" not in beta
    assert "\\textbf" not in real and "\\underline" not in real
    assert text.count("\\textbf{") == 4 and text.count("\\underline{") == 4
    # Real motions first, set apart by a rule.
    lines = text.splitlines()
    assert lines[lines.index(real) + 1] == "\\midrule"


def test_ties_at_the_shown_precision_share_the_rank(tmp_path):
    for name, value in (("a", 0.5001), ("b", 0.4999), ("c", 0.3)):
        write_results(tmp_path / name / "results.json", entry(name, metrics={"R_precision_top1": [value]}))
    (board,) = store.boards(store.collect([tmp_path]))
    ranked = tables.ranks(board)
    by_model = {board.rows.set_index("entry_id").loc[e, "model_name"]: r for (e, _), r in ranked.items()}
    assert by_model == {"a": 1, "b": 1, "c": 2}


def test_markdown_table(runs):
    boards = store.boards(store.collect([runs]))
    text = tables.markdown(boards, "My board")
    assert text.startswith("# My board\n\n## t2m@1 · humanml3d 11111111 · test · evaluator t2m aaaaaaaa\n")
    assert "| Model | Result | Source | Top-1 ↑ | FID ↓ | MM-Dist ↓ | Diversity → |" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert rows["| Real motions"].startswith(
        "| Real motions | reproduced | mogen-bench 0.1.0 · seed 0 | 0.510 ± 0.000"
    )
    assert (
        "**0.100** ± 0.000" in rows["| beta @ step 100"]
        and "<u>0.400</u> ± 0.000" in rows["| beta @ step 100"]
    )
    order = [
        line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert order == ["Model", "Real motions", "alpha @ step 100", "beta @ step 100", "gamma @ step 100"]


def test_csv_round_trip(runs, tmp_path):
    table = published.with_published(store.collect([runs]), "all")
    boards = store.boards(table)
    path = tmp_path / "board.csv"
    path.write_text(tables.csv_text(boards))
    back = tables.read_csv(path)
    pd.testing.assert_frame_equal(back, tables.wide(boards))
    alpha = back[back["entry"] == "alpha @ step 100"].iloc[0]
    assert (alpha["FID"], alpha["FID interval"], alpha["result"]) == (0.9, 0.0, "reproduced")
    ours = back[(back["entry"] == "FineMoGen (Ours)") & (back["source"].str.endswith("Table 1"))].iloc[0]
    assert (ours["FID"], ours["FID interval"], ours["result"]) == (0.151, 0.008, "reported")


def test_parquet_round_trip(runs, tmp_path):
    table = published.with_published(store.collect([runs]), "all")
    path = store.write_parquet(table, tmp_path / "results.parquet")
    back = store.read_parquet(path)
    pd.testing.assert_frame_equal(back, table)
    assert back["values"].map(type).eq(list).all() and back["step"].dtype == "Int64"
    # A results file with no evaluations: an empty table of the same schema, and back.
    write_results(tmp_path / "empty" / "results.json")
    empty = store.collect([tmp_path / "empty"])
    assert empty.empty and tuple(empty.columns) == store.COLUMNS and store.boards(empty) == []
    back = store.read_parquet(store.write_parquet(empty, tmp_path / "empty.parquet"))
    assert back.empty and tuple(back.columns) == store.COLUMNS
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(MogenBenchError, match=r"bad\.parquet"):
        store.read_parquet(tmp_path / "bad.parquet")


def test_published_rows_attach_to_matching_boards_with_their_source(tmp_path):
    write_results(tmp_path / "hml" / "results.json", entry("mdm"))
    write_results(tmp_path / "kit" / "results.json", entry("mdm", source="kit-ml", fingerprint=KIT_PRINT))
    write_results(tmp_path / "other" / "results.json", entry("mdm", evaluator=("contrastive", OTHER_HASH)))
    write_results(
        tmp_path / "small" / "results.json", entry("mdm", fingerprint="3" * 64, changes={"pool_size": 8})
    )
    write_results(
        tmp_path / "babel" / "results.json",
        entry(
            "mdm", protocol="composition@1", source="babel", fingerprint="4" * 64, evaluator=("x", OTHER_HASH)
        ),
    )
    table = published.with_published(store.collect([tmp_path]), "attach")
    reported = table[table["reported"]]
    by_board = reported.groupby("board")["source"].unique().to_dict()
    boards = {b.key: b for b in store.boards(table)}
    hml = next(k for k in boards if HML_PRINT in k and "contrastive" not in boards[k].title and "t2m@1|" in k)
    assert {s for s in by_board[hml] if "FineMoGen" in s} == {
        "FineMoGen (Zhang et al., NeurIPS 2023), Table 1"
    }
    assert "MoGenTS (NeurIPS) 2024, Table 1" in by_board[hml]
    kit = next(k for k in boards if KIT_PRINT in k)
    assert list(by_board[kit]) == ["FineMoGen (Zhang et al., NeurIPS 2023), Table 2"]
    babel = next(k for k in boards if k.startswith("composition@1"))
    assert list(by_board[babel]) == ["FineMoGen (Zhang et al., NeurIPS 2023), Table 3"]
    assert len(by_board) == 3  # neither the contrastive-evaluator board nor the pool-of-8 variant
    ours = reported[(reported["board"] == hml) & (reported["entry"] == "FineMoGen (Ours)")].set_index(
        "metric"
    )
    assert ours.loc["FID", ["printed", "mean", "interval"]].tolist() == ["0.151±.008", 0.151, 0.008]
    assert (ours["kind"] == "reported").all() and (ours["year"] == 2023).all()
    real = reported[(reported["board"] == babel) & reported["real"]].set_index("metric")
    assert real.loc["stage_R_precision_top3", "printed"] == "0.62" and math.isnan(
        real.loc["stage_FID", "interval"]
    )
    # "all" also shows the published tables that matched no board (here Table 3 on HuMMan-MoGen).
    every = published.with_published(store.collect([tmp_path]), "all")
    own = every[every["board"].str.startswith("published|")]
    assert set(own["board"]) == {"published|finemogen-table3-humman-mogen"}


def test_published_numbers_as_printed_and_only_verified():
    t1 = {row.method: row for row in published.FINEMOGEN_TABLE_1.rows}
    assert t1["Real motions"].cells[0] == "0.511±.003" and t1["MDM [18]"].cells[0] == "-"
    t2 = {row.method: row for row in published.FINEMOGEN_TABLE_2.rows}
    assert t2["FineMoGen (Ours)"].cells == (
        "0.432±.006",
        "0.649±.005",
        "0.772±.006",
        "0.178±.007",
        "2.869±.014",
        "10.85±.115",
        "1.877±.093",
    )
    sota = {row.method: row for row in published.SOTA_HUMANML3D.rows}
    assert not {"LaMP", "Motion Anything", "MARDM", "ReMoDiffuse"} & set(sota)
    assert sota["BAMM"].cells == ("0.525±.002", None, None, "0.055±.002", "2.919±.008", None, None)
    rows = pd.DataFrame(published.table_rows(published.SOTA_HUMANML3D))
    assert sorted(rows[rows["entry"] == "BAMM"]["metric"]) == ["FID", "MM_Dist", "R_precision_top1"]
    # Every printed cell parses, and the parsed value is the printed one.
    for table in published.TABLES:
        for row in table.rows:
            for cell in row.cells:
                parsed = published.parse_printed(cell)
                if parsed is not None:
                    assert f"{parsed[0]:g}" in cell.replace("±", " ")


def test_parse_printed():
    assert published.parse_printed("0.511±.003") == (0.511, 0.003)
    assert published.parse_printed("11.08±.097") == (11.08, 0.097)
    mean, interval = published.parse_printed("3.63")
    assert mean == 3.63 and math.isnan(interval)
    assert published.parse_printed("-") is None and published.parse_printed(None) is None
    with pytest.raises(ValueError):
        published.parse_printed("about 0.03")


def test_diversity_direction_convention():
    assert [
        metric_info.arrow(m) for m in ("R_precision_top3", "FID", "MM_Dist", "Diversity", "MultiModality")
    ] == [
        "↑",
        "↓",
        "↓",
        "→",
        "↑",
    ]
    assert metric_info.arrow("transition_AUJ") == "↓" and metric_info.arrow("stage_FID") == "↓"
    composition = ("stage_Diversity", "transition_Diversity", "transition_FID", "stage_MultiModality")
    assert [metric_info.arrow(m) for m in composition] == ["→", "→", "↓", "↑"]
    # Physical errors: less is better.
    assert metric_info.arrow("foot_skating_ratio") == metric_info.arrow("ground_penetration") == "↓"
    assert metric_info.label("foot_skating_ratio") == "Skating"
    assert metric_info.label("part_R_precision_top1/left_arm") == "Part Top-1 (left arm)"
    assert metric_info.ordered(["FID", "part_R_precision_top1/head", "R_precision_top1", "stage_FID"]) == [
        "R_precision_top1",
        "FID",
        "part_R_precision_top1/head",
        "stage_FID",
    ]


def _bad(tmp_path, document) -> Path:
    path = tmp_path / "bad" / "results.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _good() -> dict:
    return {"format": "mogen-bench-results", "schema_version": 1, "evaluations": [entry()]}


def _without(path: list, document: dict | None = None) -> dict:
    document = document or _good()
    target = document["evaluations"][0]
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return document


def _with(path: list, value) -> dict:
    document = _good()
    target = document["evaluations"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ("{not json", None, "invalid JSON at line 1"),
        ({"format": "something-else", "evaluations": []}, "format", "not a mogen-bench results file"),
        ({**_good(), "schema_version": 2}, "schema_version", "newer mogen-bench"),
        ({**_good(), "schema_version": "1"}, "schema_version", "positive integer"),
        ({**_good(), "evaluations": {}}, "evaluations", "list of evaluations"),
        (_without(["metrics"]), "evaluations[0].metrics", "expected an object"),
        (_with(["metrics"], {}), "evaluations[0].metrics", "no metrics"),
        (_with(["metrics", "FID", "mean"], "0.1"), "evaluations[0].metrics.FID.mean", "expected a number"),
        (_with(["metrics", "FID", "values"], [0.1, None]), "evaluations[0].metrics.FID.values[1]", "number"),
        (_with(["protocol", "id"], "t2m"), "evaluations[0].protocol.id", "name@version"),
        (_without(["evaluator", "hash"]), "evaluations[0].evaluator.hash", "non-empty string"),
        (_without(["dataset", "fingerprint"]), "evaluations[0].dataset.fingerprint", "non-empty string"),
    ],
)
def test_malformed_results_file_is_named(tmp_path, document, field, message):
    path = _bad(tmp_path, copy.deepcopy(document))
    with pytest.raises(MogenBenchError) as caught:
        store.collect([tmp_path])
    error = caught.value
    assert error.file == str(path.resolve()) and error.field == field and message in str(error)
    assert str(path.resolve()) in str(error)


def test_missing_paths_are_errors(tmp_path):
    with pytest.raises(MogenBenchError, match="no such file or folder"):
        store.collect([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MogenBenchError, match=r"no results\.json in this folder"):
        store.collect([tmp_path / "empty"])


def _png_stats(data: bytes) -> tuple[tuple[int, int], float, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    pixels = np.asarray(image.convert("L"), dtype=float)
    return image.size, float(pixels.std()), int((pixels < 128).sum())


def test_plots_are_sized_and_not_blank(site, runs):
    out, _ = site
    (board,) = store.boards(store.read_parquet(out / "results.parquet"))
    figures = {p.name: p.read_bytes() for p in (out / "plots").glob(f"{board.slug}--*.png")}
    expected = {f"{board.slug}--{plots.metric_slug(m)}.png" for m in board.metrics}
    assert set(figures) == expected | {f"{board.slug}--rprecision-vs-fid.png"}
    for name, png in figures.items():
        (width, height), spread, dark = _png_stats(png)
        assert width == plots.WIDTH * plots.DPI, name
        assert 150 <= height <= 2000, name
        assert spread > 20 and dark > 500, name  # bars, text and axes, not a blank canvas
    # Fewer entries, shorter bar charts; no chart for a metric no entry has.
    (small,) = store.boards(store.collect([runs]))
    size, spread, _ = _png_stats(plots.metric_bars(small, "FID"))
    assert size[1] < _png_stats(figures[f"{board.slug}--fid.png"])[0][1] and spread > 20
    assert plots.metric_bars(small, "MultiModality") is None


class _Page(HTMLParser):
    """The page's structure: tag balance, tables (headers, rows), scripts, links."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tables: dict[str, dict] = {}
        self.current: dict | None = None
        self.scripts: list[str] = []
        self.in_script = False
        self.urls: list[str] = []
        self.images: list[str] = []
        self.text_cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)
        for key in ("src", "href"):
            if key in attrs:
                self.urls.append(attrs[key])
        if tag == "img":
            self.images.append(attrs["src"][:22])
        if tag == "table":
            self.current = {"headers": [], "rows": [], "class": attrs.get("class")}
            self.tables[attrs["id"]] = self.current
        elif tag == "tr" and self.current is not None:
            self.current["rows"].append([])
        elif tag in ("td", "th") and self.current is not None:
            self.text_cell = []
            if tag == "th":
                self.current["headers"].append(attrs)
            else:
                self.current["rows"][-1].append(attrs)
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (
            f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        )
        self.stack.pop()
        if tag == "table":
            self.current = None
        self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.scripts.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    assert page.stack == []
    return page


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_html_page_is_self_contained_with_sortable_tables(runs):
    table = published.with_published(store.collect([runs]), "all")
    boards = store.boards(table)
    # Stand-in PNGs: the plots themselves are tested above; here only their embedding.
    figures = {boards[0].slug: {"a.png": _tiny_png(), "b.png": _tiny_png()}}
    text = html.render(boards, figures, "Test page", "footer text")
    assert text.startswith("<!DOCTYPE html>")
    page = _parse(text)
    assert list(page.tables) == [html.table_id(b) for b in boards]
    first = page.tables[html.table_id(boards[0])]
    assert first["class"] == "sortable"
    assert [h.get("data-metric") for h in first["headers"]] == [None, None, *boards[0].metrics, None]
    body = [r for r in first["rows"] if r]  # header row has th cells only
    assert len(body) == len(boards[0].entries) + 1 - 1
    # Metric cells carry their value and a best-first sort key (FID: the value; Top-1: its negative).
    fid_column = 2 + boards[0].metrics.index("FID")
    assert sorted(
        float(r[fid_column]["data-sort"]) for r in body if r[fid_column].get("data-sort")
    ) == sorted(float(r[fid_column]["data-value"]) for r in body if r[fid_column].get("data-value"))
    # Self-contained: no URL leaves the page; images are data URIs; one script with the sort code.
    assert all(u.startswith(("#", "data:")) for u in page.urls), [
        u for u in page.urls if not u.startswith("#")
    ]
    assert page.images.count("data:image/png;base64,") == len(figures[boards[0].slug])
    assert page.images.count("data:image/gif;base64,") == 1  # alpha's sample, embedded once
    script = "".join(page.scripts)
    assert "function sortBy" in script and "#sort=" in text and 'addEventListener("click"' in script
    # Best and second FID on the HumanML3D board are published (MoGenTS 0.033, MoMask 0.045).
    assert "<strong>0.033</strong>±.001" in text and "<u>0.045</u>±.002" in text
    assert "<strong>0.100</strong>" not in text and "0.100 ± 0.000" in text
    assert "FineMoGen (Zhang et al., NeurIPS 2023), Table 1" in text and "footer text" in text
    assert 'href="#sample-1"' in text


def test_cli_report_writes_every_format(site):
    out, result = site
    assert result.exit_code == 0, result.output
    for name in ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "index.html", "results.parquet"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert result.output.startswith("1 board(s), 4 reproduced evaluation(s)\nmarkdown ")
    back = store.read_parquet(out / "results.parquet")
    assert back["entry_id"][~back["reported"]].nunique() == 4 and back["reported"].any()
    # The stale plot of a board that is gone was removed; a file that is not a board plot was kept.
    slug = store.boards(back)[0].slug
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert "old-board--fid.png" not in names and "mine.png" in names
    assert all(n.startswith(slug) for n in names if n != "mine.png")
    assert len(names) == len(store.boards(back)[0].metrics) + 2  # a bar chart per metric, the scatter
    assert (out / "leaderboard.md").read_text() == tables.markdown(store.boards(back))


def test_cli_show_and_errors(runs, tmp_path):
    from mogen_bench.cli import cli

    result = CliRunner().invoke(cli, ["leaderboard", "show", "--results", str(runs)])
    assert result.exit_code == 0, result.output
    assert "t2m@1 · humanml3d" in result.output and "beta @ step 100" in result.output
    assert "FineMoGen (Ours)" in result.output and "0.151±.008" in result.output
    bad = _bad(tmp_path, {"format": "nope"})
    result = CliRunner().invoke(cli, ["leaderboard", "show", "--results", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {bad}: field 'format': not a mogen-bench results file")
    result = CliRunner().invoke(cli, ["leaderboard", "show"])
    assert result.exit_code == 2 and "--results PATH" in result.output
    # Several paths after --results (as a shell glob gives them), published rows off.
    paths = [str(p) for p in sorted(runs.iterdir())]
    result = CliRunner().invoke(cli, ["leaderboard", "show", "--results", *paths, "--published", "none"])
    assert result.exit_code == 0, result.output
    assert result.output.count("@ step 100") == 3 and "reported" not in result.output


# --- A real headless browser (Debian's chromium; skipped where none is installed) ---------------------------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium/chromium-browser binary (CI installs it)"
)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture
def page(site) -> tuple[Path, store.Board]:
    out, _ = site
    return out / "index.html", store.boards(store.read_parquet(out / "results.parquet"))[0]


def _console_errors(stderr: str, url: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line and url.split("#")[0] in line]


@needs_chromium
def test_browser_renders_and_sorts(page):
    path, board = page
    column = 2 + board.metrics.index("FID")
    url = f"{path.resolve().as_uri()}#sort={html.table_id(board)}:{column}"
    done = _chromium("--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-ready="1"' in body and "data-js-errors" not in body
    assert not _console_errors(done.stderr, url)
    table = _parse(dom).tables[html.table_id(board)]
    fids = [row[column].get("data-value") for row in table["rows"] if row]
    numbers = [float(v) for v in fids if v]
    assert numbers == sorted(numbers) and fids[len(numbers) :] == [""] * (len(fids) - len(numbers))
    assert f'data-sorted-by="{column}:asc"' in dom
    # Two clicks on Top-1 (higher is better): worst first.
    column = 2 + board.metrics.index("R_precision_top1")
    done = _chromium("--dump-dom", f"{path.resolve().as_uri()}#sort={html.table_id(board)}:{column}:2")
    table = _parse(done.stdout).tables[html.table_id(board)]
    tops = [
        float(row[column]["data-value"]) for row in table["rows"] if row and row[column].get("data-value")
    ]
    assert tops == sorted(tops) and len(tops) >= 5


@needs_chromium
def test_browser_screenshot_is_not_blank(page, tmp_path):
    path, _ = page
    shot = tmp_path / "shot.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1280,1600", path.resolve().as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    (width, height), spread, dark = _png_stats(shot.read_bytes())
    assert (width, height) == (1280, 1600) and spread > 10 and dark > 2000
