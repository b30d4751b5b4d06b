"""Published reference numbers, flagged "reported", shown beside the reproduced rows they compare with.

Two collections, with their numbers kept exactly as printed (``printed``; the value and interval are parsed
from it):

- ``finemogen``: FineMoGen (Zhang et al., NeurIPS 2023) Tables 1 (HumanML3D), 2 (KIT-ML) and 3 (temporal
  composition on BABEL and HuMMan-MoGen), from the text of the paper in ``../shared/seeds``. Cells that the
  text does not show (lost in its extraction: most Top-2 cells, several whole cells) are left empty; a
  printed "-" stays "-". Two row labels are missing from the text: the row after MDM in Table 1 is
  MotionDiffuse [20] (its numbers equal MotionDiffuse's in eval_protocol.md section 6), and Table 2's rows
  in the same places are taken as MotionDiffuse and ReMoDiffuse by the tables' shared row order.
- ``sota``: the HumanML3D state of the art of ``../shared/reference/eval_protocol.md`` section 6, only the
  verified entries: cells marked (m) (from memory) are dropped, and so are rows that are unverified
  (Motion Anything), not comparable (MARDM: a retrained evaluator; ReMoDiffuse: flagged as using another
  evaluator) or whose only sourced cell conflicts with another source (LaMP). It has no KIT-ML numbers.

Attach rule (``attach``): a published table joins a board when the board's protocol id is the table's
(``t2m@1`` for HumanML3D / KIT-ML, ``composition@1`` for Table 3), its constants equal the standard
protocol's except ``replications`` and ``generation_batch`` (they change intervals and noise, not what is
measured), its dataset is the table's (``dataset_source``, else its name, matched case-insensitively with
the aliases in ``DATASET_ALIASES``), its split is ``test`` (mogen-bench's BABEL "test" is BABEL's val, which
papers evaluate on) and, for ``t2m@1``, its evaluator is Guo et al.'s T2M evaluator (``evaluator.name ==
"t2m"``, the official ``finest.tar`` loaded by mogen-bench). Table 3's evaluator is not public, so its rows
join any evaluator's composition board and say so in their note. Table 3's "R Precision" (top-k not
stated; MDM-lineage tables give top-3), "FID", "Diversity" and "MultiModality" are placed under
``stage_R_precision_top3``, ``stage_FID``, ``stage_Diversity`` and ``stage_MultiModality`` (PriorMDM scores
each composed interval, handshakes excluded, against its own text, as composition@1's per-stage metrics do).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from annotation.errors import MogenBenchError
from leaderboard import store

_T2M_COLUMNS = (
    "R_precision_top1",
    "R_precision_top2",
    "R_precision_top3",
    "FID",
    "MM_Dist",
    "Diversity",
    "MultiModality",
)
_COMPOSITION_COLUMNS = ("stage_R_precision_top3", "stage_FID", "stage_Diversity", "stage_MultiModality")

#: Dataset names a published table matches (results' ``dataset.source`` or ``dataset.name``, lower case).
DATASET_ALIASES = {
    "humanml3d": ("humanml3d", "humanml3d-263", "hml3d", "t2m"),
    "kit-ml": ("kit-ml", "kitml", "kit", "kit-251"),
    "babel": ("babel",),
    "humman-mogen": ("humman-mogen", "humman_mogen", "hummanmogen"),
}
#: Constants that may differ from the standard protocol's for a published row to still compare.
_FREE_CONSTANTS = ("replications", "generation_batch")


@dataclass(frozen=True)
class PublishedRow:
    method: str
    #: One printed cell per column of the table: ``"0.511±.003"``, ``"-"`` (printed as not reported) or
    #: None (not shown in our copy of the paper / not verified).
    cells: tuple[str | None, ...]
    real: bool = False
    note: str | None = None
    #: For tables that collect other papers' numbers (``sota``): the row's own paper, venue and year.
    paper: str | None = None
    year: int | None = None
    table: str | None = None


@dataclass(frozen=True)
class PublishedTable:
    key: str
    collection: str
    title: str
    paper: str
    year: int | None
    table: str | None
    dataset: str
    dataset_name: str
    protocol_id: str
    evaluator: str | None
    columns: tuple[str, ...]
    rows: tuple[PublishedRow, ...]
    split: str = "test"
    note: str | None = None
    via: str | None = None
    extra: dict = field(default_factory=dict)


_FINEMOGEN = "FineMoGen (Zhang et al., NeurIPS 2023)"
_SEED_TEXT = "../shared/seeds/finemogen_paper.txt"

FINEMOGEN_TABLE_1 = PublishedTable(
    key="finemogen-table1",
    collection="finemogen",
    title="FineMoGen Table 1: HumanML3D test set",
    paper=_FINEMOGEN,
    year=2023,
    table="Table 1",
    dataset="humanml3d",
    dataset_name="HumanML3D",
    protocol_id="t2m@1",
    evaluator="t2m",
    columns=_T2M_COLUMNS,
    note="20 runs, mean and 95% interval (paper's caption); empty cells are not legible in " + _SEED_TEXT,
    rows=(
        PublishedRow(
            "Real motions",
            ("0.511±.003", None, "0.797±.002", "0.002±.000", "2.974±.008", "9.503±.065", "-"),
            real=True,
        ),
        PublishedRow(
            "Guo et al. [6]",
            ("0.457±.002", None, "0.740±.003", "1.067±.002", "3.340±.008", "9.188±.002", "2.090±.083"),
        ),
        PublishedRow("T2M-GPT [19]", ("0.491±.003", None, None, "0.116±.004", None, "9.761±.081", None)),
        PublishedRow(
            "MDM [18]", ("-", None, "0.611±.007", "0.544±.044", "5.566±.027", "9.559±.086", "2.799±.072")
        ),
        PublishedRow(
            "MotionDiffuse [20]",
            (
                "0.491±.001",
                "0.681±.001",
                "0.782±.001",
                "0.630±.001",
                "3.113±.001",
                "9.410±.049",
                "1.553±.042",
            ),
            note="row label not legible in the text; its numbers are MotionDiffuse's (eval_protocol.md §6)",
        ),
        PublishedRow("ReMoDiffuse [21]", (None, None, None, None, "2.974±.016", None, "1.795±.043")),
        PublishedRow(
            "FineMoGen (Ours)",
            (
                "0.504±.002",
                "0.690±.002",
                "0.784±.002",
                "0.151±.008",
                "2.998±.008",
                "9.263±.094",
                "2.696±.079",
            ),
        ),
    ),
)

FINEMOGEN_TABLE_2 = PublishedTable(
    key="finemogen-table2",
    collection="finemogen",
    title="FineMoGen Table 2: KIT-ML test set",
    paper=_FINEMOGEN,
    year=2023,
    table="Table 2",
    dataset="kit-ml",
    dataset_name="KIT-ML",
    protocol_id="t2m@1",
    evaluator="t2m",
    columns=_T2M_COLUMNS,
    note="20 runs, mean and 95% interval; empty cells are not legible in " + _SEED_TEXT,
    rows=(
        PublishedRow(
            "Real motions",
            ("0.424±.005", None, "0.779±.006", "0.031±.004", "2.788±.012", "11.08±.097", "-"),
            real=True,
        ),
        PublishedRow(
            "Guo et al. [6]",
            ("0.370±.005", None, "0.693±.007", "2.770±.109", "3.401±.008", "10.91±.119", "1.482±.065"),
        ),
        PublishedRow(
            "T2M-GPT [19]", ("0.416±.006", None, None, "0.514±.029", "3.007±.023", "10.921±.108", None)
        ),
        PublishedRow("MDM [18]", ("-", None, "0.396±.004", None, "9.191±.022", "10.847±.109", None)),
        PublishedRow(
            "MotionDiffuse [20]",
            ("0.417±.004", None, None, "1.954±.062", "2.958±.005", "11.10±.143", None),
            note="row label not legible in the text; placed by Table 1's row order",
        ),
        PublishedRow(
            "ReMoDiffuse [21]",
            (None, None, None, None, None, None, "1.239±.028"),
            note="row label not legible in the text; placed by Table 1's row order",
        ),
        PublishedRow(
            "FineMoGen (Ours)",
            (
                "0.432±.006",
                "0.649±.005",
                "0.772±.006",
                "0.178±.007",
                "2.869±.014",
                "10.85±.115",
                "1.877±.093",
            ),
        ),
    ),
)

_TABLE_3_NOTE = (
    "temporal composition; the paper's evaluator is not public, so reproduced numbers compare only "
    "loosely; R Precision (top-k not stated) shown as Stage Top-3, FID as Stage FID"
)
_TABLE_3_ROWS = {
    "babel": (
        ("Real motions", ("0.62", "0.004", "8.51", "3.57"), True),
        ("TEACH [2]", ("0.46", "1.12", "8.28", "7.14"), False),
        ("PriorMDM [15]", ("0.43", "1.04", "8.14", "7.39"), False),
        ("FineMoGen (zero-shot)", ("0.51", "0.84", "8.01", "7.28"), False),
        ("FineMoGen (fully-supervised)", ("0.56", "0.73", "7.94", "7.17"), False),
    ),
    "humman-mogen": (
        ("Real motions", ("0.49", "0.007", "7.28", "2.15"), True),
        ("TEACH [2]", ("0.38", "1.59", "7.04", "6.37"), False),
        ("PriorMDM [15]", ("0.31", "1.43", "6.89", "6.45"), False),
        ("FineMoGen (zero-shot)", ("0.41", "1.34", "6.87", "6.41"), False),
        ("FineMoGen (fully-supervised)", ("0.43", "1.21", "6.71", "6.28"), False),
    ),
}


def _table_3(dataset: str, name: str) -> PublishedTable:
    return PublishedTable(
        key=f"finemogen-table3-{dataset}",
        collection="finemogen",
        title=f"FineMoGen Table 3: temporal composition, {name} test set",
        paper=_FINEMOGEN,
        year=2023,
        table="Table 3",
        dataset=dataset,
        dataset_name=name,
        protocol_id="composition@1",
        evaluator=None,
        columns=_COMPOSITION_COLUMNS,
        note=_TABLE_3_NOTE,
        rows=tuple(PublishedRow(method, cells, real=real) for method, cells, real in _TABLE_3_ROWS[dataset]),
    )


FINEMOGEN_TABLE_3_BABEL = _table_3("babel", "BABEL")
FINEMOGEN_TABLE_3_HUMMAN = _table_3("humman-mogen", "HuMMan-MoGen")

_A = "[A] Run542968/Awesome-3D-Human-Motion-Generation README, HumanML3D table"
_M = "[M] GuyTevet/motion-diffusion-model assets/fixed_results.tex"
_N = "[N] paper-analysis notes quoting the paper's Table 1"
_I = "[I] salad#15, quoting the official paper results"


def _sota(method, cells, paper, year, via, length, note=None, table=None) -> PublishedRow:
    text = f"length: {length}; via {via[:3]}" + (f"; {note}" if note else "")
    return PublishedRow(
        method, cells, real=method == "Real motion", note=text, paper=paper, year=year, table=table
    )


SOTA_HUMANML3D = PublishedTable(
    key="sota-humanml3d",
    collection="sota",
    title="HumanML3D state of the art (Guo et al. evaluator)",
    paper="eval_protocol.md §6 (each row: its own paper)",
    year=None,
    table=None,
    dataset="humanml3d",
    dataset_name="HumanML3D",
    protocol_id="t2m@1",
    evaluator="t2m",
    columns=_T2M_COLUMNS,
    note="verified entries of eval_protocol.md section 6 only (cells from memory left empty); length GT = "
    "the ground-truth length given to the generator, pred = chosen by the model; sources: "
    + "; ".join((_A, _M, _N, _I)),
    rows=(
        _sota(
            "Real motion",
            ("0.511±.003", "0.703±.003", "0.797±.002", "0.002±.000", "2.974±.008", "9.503±.065", "-"),
            "HumanML3D test set",
            None,
            _A,
            "-",
        ),
        _sota(
            "T2M, Guo",
            ("0.455", "0.636", "0.736", "1.087", "3.347", "9.175", "2.219"),
            "T2M (CVPR)",
            2022,
            _A,
            "pred",
        ),
        _sota(
            "TM2T",
            ("0.424", "0.618", "0.729", "1.501", "3.467", "8.589", "2.424"),
            "TM2T (ECCV)",
            2022,
            _A,
            "pred",
        ),
        _sota(
            "MDM, paper",
            ("0.320", "0.498", "0.611", "0.544", "5.566", "9.559", "2.799"),
            "MDM (ICLR)",
            2023,
            _A,
            "GT",
        ),
        _sota(
            "MDM, re-evaluated after cap_len fix",
            ("0.418", "0.604", "0.707", "0.489", "3.63", "9.45", "2.87"),
            "MDM repository",
            2024,
            _M,
            "GT",
        ),
        _sota(
            "MDM-50 steps + DistilBERT",
            ("0.491", "0.709", "0.815", "0.495", "3.04", "9.88", "1.67"),
            "MDM repository",
            None,
            _M,
            "GT",
        ),
        _sota(
            "DiP",
            ("0.458", "0.664", "0.768", "0.228", "3.23", "9.41", "1.04"),
            "MDM repository",
            2025,
            _M,
            "GT",
        ),
        _sota(
            "MotionDiffuse",
            ("0.491", "0.681", "0.782", "0.630", "3.113", "9.410", "1.553"),
            "MotionDiffuse (TPAMI)",
            2024,
            _A,
            "GT",
        ),
        _sota(
            "MLD",
            ("0.481", "0.673", "0.772", "0.473", "3.196", "9.724", "2.413"),
            "MLD (CVPR)",
            2023,
            _A,
            "GT",
        ),
        _sota(
            "T2M-GPT",
            ("0.491", "0.680", "0.775", "0.116", "3.118", "9.761", "1.856"),
            "T2M-GPT (CVPR)",
            2023,
            _A,
            "pred",
        ),
        _sota(
            "AttT2M",
            ("0.499", "0.690", "0.786", "0.112", "3.038", "9.700", "2.452"),
            "AttT2M (ICCV)",
            2023,
            _A,
            "pred",
        ),
        _sota(
            "MMM",
            ("0.504", "0.696", "0.794", "0.080", "2.998", "9.411", "1.164"),
            "MMM (CVPR)",
            2024,
            _A,
            "pred (T2M length estimator)",
        ),
        _sota(
            "MoMask",
            ("0.521±.002", "0.713±.002", "0.807±.002", "0.045±.002", "2.958±.008", "-", "1.241"),
            "MoMask (CVPR)",
            2024,
            _A,
            "GT",
            note="Diversity not reported",
        ),
        _sota(
            "MotionLCM",
            ("0.502", "0.698", "0.798", "0.304", "3.012", "9.607", "2.259"),
            "MotionLCM (ECCV)",
            2024,
            _A,
            "GT",
        ),
        _sota(
            "BAMM",
            ("0.525±.002", None, None, "0.055±.002", "2.919±.008", None, None),
            "BAMM (ECCV)",
            2024,
            _N,
            "pred",
            note="Top-2/3, Diversity, MModality unverified (from memory), left empty",
            table="Table 1",
        ),
        _sota(
            "MoGenTS",
            ("0.529±.003", "0.719±.002", "0.812±.002", "0.033±.001", "2.867±.006", "9.570±.077", "-"),
            "MoGenTS (NeurIPS)",
            2024,
            _N,
            "GT",
            table="Table 1",
        ),
        _sota(
            "SALAD",
            ("0.581", "0.769", "0.857±.002", "0.076±.002", "2.649±.009", "9.696", "1.751"),
            "SALAD (CVPR)",
            2025,
            _I,
            "GT",
            note="a third-party note gives Diversity 9.679 and MM-Dist 2.793",
        ),
    ),
)

TABLES: tuple[PublishedTable, ...] = (
    FINEMOGEN_TABLE_1,
    FINEMOGEN_TABLE_2,
    FINEMOGEN_TABLE_3_BABEL,
    FINEMOGEN_TABLE_3_HUMMAN,
    SOTA_HUMANML3D,
)
COLLECTIONS = ("finemogen", "sota")

_PRINTED = re.compile(r"^(?P<mean>-?\d*\.\d+|-?\d+)(?:±(?P<interval>\d*\.\d+|\d+))?$")


def parse_printed(text: str | None) -> tuple[float, float] | None:
    """``"0.511±.003"`` -> ``(0.511, 0.003)``; ``"3.63"`` -> ``(3.63, nan)``; ``"-"`` / None -> None."""
    if text is None or text.strip() in ("-", "–", ""):
        return None
    match = _PRINTED.match(text.replace(" ", ""))
    if match is None:
        raise ValueError(f"not a printed number: {text!r}")
    interval = match["interval"]
    return float(match["mean"]), (math.nan if interval is None else float(interval))


def source_line(table: PublishedTable, row: PublishedRow) -> str:
    """``FineMoGen (Zhang et al., NeurIPS 2023), Table 1`` or ``MoMask (CVPR) 2024, via [A] ...``."""
    if row.paper is None:
        return f"{table.paper}, {table.table}" if table.table else table.paper
    bits = [row.paper + (f" {row.year}" if row.year else "")]
    if row.table:
        bits.append(row.table)
    return ", ".join(bits)


def table_rows(table: PublishedTable, board: dict | None = None) -> list[dict]:
    """Long store rows of a published table, on ``board`` (a reproduced row's board fields) or its own."""
    if board is None:
        board = {
            "board": f"published|{table.key}",
            "board_title": f"{table.title} (published)",
            "protocol_id": table.protocol_id,
            "protocol_variant": "standard",
            "protocol_constants": json.dumps(
                store.STANDARD_PROTOCOLS.get(table.protocol_id, {}), sort_keys=True
            ),
            "dataset_name": table.dataset_name,
            "dataset_source": table.dataset,
            "dataset_representation": None,
            "dataset_fingerprint": None,
            "split": table.split,
            "subset": None,
            "evaluator_name": table.evaluator or "not public",
            "evaluator_hash": None,
        }
    rows = []
    for position, row in enumerate(table.rows):
        base = {
            **board,
            "entry_id": f"published:{table.key}:{position}",
            "entry": row.method,
            "kind": "reported",
            "reported": True,
            "real": row.real,
            # Published rows keep their paper's order, table after table (not interleaved).
            "position": _table_order(table) * 1000 + position,
            "model_name": row.method,
            "paper": row.paper or table.paper,
            "table": row.table if row.paper else table.table,
            "year": row.year if row.paper else table.year,
            "source": source_line(table, row),
            "note": row.note,
            "source_note": f"{table.title}: {table.note}" if table.note else None,
        }
        for metric, printed in zip(table.columns, row.cells, strict=True):
            if printed is None:
                continue  # not shown in our copy, or not verified
            # A printed "-" (not reported) is kept as a NaN cell so the tables show it as printed.
            parsed = parse_printed(printed) or (math.nan, math.nan)
            rows.append(
                {
                    **base,
                    "metric": metric,
                    "mean": parsed[0],
                    "interval": parsed[1],
                    "values": [],
                    "printed": printed,
                }
            )
    return rows


def _table_order(table: PublishedTable) -> int:
    keys = [t.key for t in TABLES]
    return keys.index(table.key) if table.key in keys else len(keys)


def _matches_dataset(table: PublishedTable, source: str | None, name: str | None) -> bool:
    aliases = DATASET_ALIASES.get(table.dataset, (table.dataset,))
    given = (source or "").lower()
    if given in aliases:
        return True
    # A source we do not know as a published dataset (e.g. "records") does not block a name match.
    known = {alias for names in DATASET_ALIASES.values() for alias in names}
    return given not in known and (name or "").lower() in aliases


def matches(table: PublishedTable, board: dict) -> bool:
    """Whether ``table``'s rows may sit on the board described by one of its rows (see the module doc)."""
    if board.get("reported") or board["protocol_id"] != table.protocol_id:
        return False
    standard = store.STANDARD_PROTOCOLS.get(table.protocol_id)
    constants = json.loads(board.get("protocol_constants") or "{}")
    if standard is None or any(
        constants.get(k) != v for k, v in standard.items() if k not in _FREE_CONSTANTS
    ):
        return False
    if board.get("subset") is not None and not pd.isna(board.get("subset")):
        return False
    if board["split"] != table.split or not _matches_dataset(
        table, board.get("dataset_source"), board["dataset_name"]
    ):
        return False
    return table.evaluator is None or board["evaluator_name"] == table.evaluator


_BOARD_FIELDS = (
    "board",
    "board_title",
    "protocol_id",
    "protocol_variant",
    "protocol_constants",
    "dataset_name",
    "dataset_source",
    "dataset_representation",
    "dataset_fingerprint",
    "split",
    "subset",
    "evaluator_name",
    "evaluator_hash",
)


def select(collections: tuple[str, ...] | list[str] = COLLECTIONS) -> list[PublishedTable]:
    unknown = sorted(set(collections) - set(COLLECTIONS))
    if unknown:
        raise MogenBenchError(
            f"unknown published collection {unknown[0]!r}",
            field="published",
            fix=f"known: {', '.join(COLLECTIONS)}",
        )
    return [t for t in TABLES if t.collection in collections]


def with_published(table: pd.DataFrame, mode: str = "all", collections=COLLECTIONS) -> pd.DataFrame:
    """``table`` plus published rows: ``attach`` puts them on matching boards only, ``all`` also adds a
    board of its own for every published table that matched none, ``none`` adds nothing."""
    if mode not in ("all", "attach", "none"):
        raise MogenBenchError(f"unknown mode {mode!r}", field="published", fix="all, attach or none")
    if mode == "none":
        return table
    reproduced = table[~table["reported"]] if not table.empty else table
    boards = reproduced.drop_duplicates("board").to_dict("records") if not reproduced.empty else []
    rows: list[dict] = []
    for published in select(collections):
        hits = [b for b in boards if matches(published, b)]
        for board in hits:
            rows.extend(table_rows(published, {k: board[k] for k in _BOARD_FIELDS}))
        if not hits and mode == "all":
            rows.extend(table_rows(published))
    if not rows:
        return table
    added = store.frame(rows)
    combined = pd.concat([table, added], ignore_index=True) if not table.empty else added
    return store.finish(store.frame(combined.to_dict("records")))
