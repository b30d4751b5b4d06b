"""The results store: every ``results.json`` under some paths, as one long table, grouped into boards.

``collect(paths)`` reads each results file that ``mogen-bench evaluate`` writes (files, or folders searched
recursively for ``results.json``), checks its format, and returns a pandas DataFrame with **one row per
(evaluation, metric)**: long rather than wide, because the metric set differs between protocols (part-level
and per-stage metrics) and a long table keeps every metric's interval and per-replication values. The
columns (``COLUMNS``):

- board: ``board`` (the comparability key, below), ``board_title``;
- entry: ``entry_id`` (unique: ``<results file>#<index>`` or ``published:<table>:<row>``), ``entry`` (the
  row label in tables, unique within a board), ``kind`` (``reproduced`` | ``reported``), ``reported``
  (bool), ``real`` (the ground truth, "Real motions"), ``position`` (order of published rows);
- model: ``model_name``, ``run``, ``checkpoint``, ``step``, ``seed``, ``world_size``, ``num_motions``,
  ``subset`` (``--max-motions``), ``sample`` (a rendered GIF of the model, when one is found);
- protocol: ``protocol_id`` (``name@version``), ``protocol_variant`` (``standard`` when its constants are the
  protocol's own, else ``variant-<digest>``), ``protocol_constants`` (JSON);
- data: ``dataset_name``, ``dataset_source``, ``dataset_representation``, ``dataset_fingerprint``, ``split``;
- evaluator: ``evaluator_name``, ``evaluator_hash``;
- metric: ``metric``, ``mean``, ``interval`` (95 %, NaN when none), ``values`` (per replication),
  ``printed`` (a published cell exactly as printed, e.g. ``0.511±.003``);
- source: ``paper``, ``table``, ``year``, ``source`` (a citation line, or ``mogen-bench <version> · seed
  <seed>`` for reproduced rows), ``note`` (about the row), ``source_note`` (about its published table);
- provenance: ``tool_version``, ``created``, ``results_file``.

A **board** is the set of rows that may be compared: same protocol id and constants, same dataset
(fingerprint), split and subset, same evaluator (name and hash). Rows of different boards are never put
in one table. Published rows (``leaderboard.published``) join the boards they match. The table goes to and
from Parquet (``write_parquet`` / ``read_parquet``) with pyarrow. This module needs only the results
schema: it imports neither torch nor mogen_bench (``mogen-bench --help`` and report writing stay light).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from annotation.errors import MogenBenchError
from annotation.files import atomic_writer, read_user_json
from leaderboard import metrics as metric_info

RESULTS_FILE = "results.json"
RESULTS_FORMAT = "mogen-bench-results"
SCHEMA_VERSION = 1

#: The constants of the protocols this version of mogen-bench defines (mogen_bench.evaluation.protocols;
#: a test keeps the two equal). A result whose constants differ is a variant and gets a board of its own.
_T2M = {
    "replications": 20,
    "pool_size": 32,
    "top_k": 3,
    "diversity_times": 300,
    "mm_num_samples": 100,
    "mm_repeats": 30,
    "mm_times": 10,
    "max_frames": 196,
    "unit_crop": True,
    "unit_length": 4,
    "generation_batch": 32,
    "part_level": False,
    "transitions": False,
    "transition_window": 30,
    "stage_min_frames": 20,
    "stage_handshake": 20,
    "transition_fid_window": 60,
}
STANDARD_PROTOCOLS: dict[str, dict] = {
    "t2m@1": _T2M,
    "fine@1": {**_T2M, "part_level": True},
    "composition@1": {**_T2M, "part_level": True, "transitions": True},
}

COLUMNS = (
    "board",
    "board_title",
    "entry_id",
    "entry",
    "kind",
    "reported",
    "real",
    "position",
    "model_name",
    "run",
    "checkpoint",
    "step",
    "seed",
    "world_size",
    "num_motions",
    "subset",
    "sample",
    "protocol_id",
    "protocol_variant",
    "protocol_constants",
    "dataset_name",
    "dataset_source",
    "dataset_representation",
    "dataset_fingerprint",
    "split",
    "evaluator_name",
    "evaluator_hash",
    "metric",
    "mean",
    "interval",
    "values",
    "printed",
    "paper",
    "table",
    "year",
    "source",
    "note",
    "source_note",
    "tool_version",
    "created",
    "results_file",
)
_INTEGERS = ("position", "step", "seed", "world_size", "num_motions", "subset", "year")
_FLOATS = ("mean", "interval")
_BOOLS = ("reported", "real")
_PROTOCOL_ID = re.compile(r"^[A-Za-z0-9_.-]+@[0-9]+$")
#: GIFs larger than this are linked, not embedded, so the page stays loadable.
MAX_SAMPLE_BYTES = 8 * 1024 * 1024
_FIX = "pass results.json files written by `mogen-bench evaluate` (or re-run the evaluation)"


def find_results(paths: Iterable[str | Path]) -> list[Path]:
    """Every results file named by ``paths``: files as given, folders searched for ``results.json``."""
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.rglob(RESULTS_FILE) if p.is_file())
            if not inside:
                raise MogenBenchError(
                    f"no {RESULTS_FILE} in this folder or below it",
                    file=str(path),
                    fix="run `mogen-bench evaluate` first, or point --results at the run folders",
                )
            for p in inside:
                found.setdefault(p.resolve(), None)
        elif path.is_file():
            found.setdefault(path.resolve(), None)
        else:
            raise MogenBenchError("no such file or folder", file=str(path), fix="check the --results path")
    if not found:
        raise MogenBenchError("no results given", field="results", fix="pass --results PATH")
    return list(found)


def _number(value, file, field, *, optional: bool = False) -> float:
    if value is None and optional:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MogenBenchError(f"expected a number, got {value!r}", file=str(file), field=field, fix=_FIX)
    return float(value)


def _text(value, file, field, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise MogenBenchError(
            f"expected a non-empty string, got {value!r}", file=str(file), field=field, fix=_FIX
        )
    return value


def _mapping(value, file, field) -> dict:
    if not isinstance(value, dict):
        raise MogenBenchError(
            f"expected an object, got {type(value).__name__}", file=str(file), field=field, fix=_FIX
        )
    return value


def _integer(value) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def read_evaluations(path: str | Path) -> list[dict]:
    """The evaluations of one results file, checked; a ``MogenBenchError`` naming the file and field."""
    path = Path(path)
    document = read_user_json(path, "a results.json file", fix=_FIX)
    if not isinstance(document, dict) or document.get("format") != RESULTS_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise MogenBenchError(
            f"not a mogen-bench results file (format {found!r}, expected {RESULTS_FORMAT!r})",
            file=str(path),
            field="format",
            fix=_FIX,
        )
    version = document.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MogenBenchError(
            f"schema_version must be a positive integer, got {version!r}",
            file=str(path),
            field="schema_version",
            fix=_FIX,
        )
    if version > SCHEMA_VERSION:
        raise MogenBenchError(
            f"written by a newer mogen-bench (schema {version}; this one reads {SCHEMA_VERSION})",
            file=str(path),
            field="schema_version",
            fix="upgrade mogen-bench",
        )
    evaluations = document.get("evaluations")
    if not isinstance(evaluations, list):
        raise MogenBenchError("expected a list of evaluations", file=str(path), field="evaluations", fix=_FIX)
    for i, entry in enumerate(evaluations):
        _check_entry(entry, path, f"evaluations[{i}]")
    return evaluations


def _check_entry(entry, path: Path, where: str) -> None:
    entry = _mapping(entry, path, where)
    protocol = _mapping(entry.get("protocol"), path, f"{where}.protocol")
    protocol_id = _text(protocol.get("id"), path, f"{where}.protocol.id")
    if not _PROTOCOL_ID.match(protocol_id):
        raise MogenBenchError(
            f"protocol id {protocol_id!r} is not name@version",
            file=str(path),
            field=f"{where}.protocol.id",
            fix=_FIX,
        )
    _mapping(protocol.get("constants", {}), path, f"{where}.protocol.constants")
    _text(entry.get("split"), path, f"{where}.split")
    dataset = _mapping(entry.get("dataset"), path, f"{where}.dataset")
    _text(dataset.get("fingerprint"), path, f"{where}.dataset.fingerprint")
    evaluator = _mapping(entry.get("evaluator"), path, f"{where}.evaluator")
    _text(evaluator.get("name"), path, f"{where}.evaluator.name")
    _text(evaluator.get("hash"), path, f"{where}.evaluator.hash")
    model = _mapping(entry.get("model"), path, f"{where}.model")
    _text(model.get("name"), path, f"{where}.model.name")
    scores = _mapping(entry.get("metrics"), path, f"{where}.metrics")
    if not scores:
        raise MogenBenchError(
            "the evaluation has no metrics", file=str(path), field=f"{where}.metrics", fix=_FIX
        )
    for name, score in scores.items():
        field = f"{where}.metrics.{name}"
        score = _mapping(score, path, field)
        _number(score.get("mean"), path, f"{field}.mean")
        _number(score.get("interval"), path, f"{field}.interval", optional=True)
        values = score.get("values", [])
        if not isinstance(values, list):
            raise MogenBenchError(
                "expected a list of numbers", file=str(path), field=f"{field}.values", fix=_FIX
            )
        for j, value in enumerate(values):
            _number(value, path, f"{field}.values[{j}]")


def protocol_variant(protocol_id: str, constants: dict) -> str:
    """``standard`` when ``constants`` are the protocol's own, else ``variant-<8 hex digits>``."""
    if STANDARD_PROTOCOLS.get(protocol_id) == constants:
        return "standard"
    digest = hashlib.sha256(json.dumps(constants, sort_keys=True).encode()).hexdigest()[:8]
    return f"variant-{digest}"


def variant_changes(protocol_id: str, constants: dict) -> dict:
    """The constants that differ from the standard protocol's (all of them for an unknown protocol)."""
    standard = STANDARD_PROTOCOLS.get(protocol_id)
    if standard is None:
        return dict(constants)
    keys = sorted(set(standard) | set(constants))
    return {k: constants.get(k) for k in keys if standard.get(k) != constants.get(k)}


def board_key(row: dict) -> str:
    subset = row.get("subset")
    return "|".join(
        str(v)
        for v in (
            row["protocol_id"],
            row["protocol_variant"],
            row["dataset_fingerprint"],
            row["split"],
            "all" if subset is None else f"first-{subset}",
            row["evaluator_name"],
            row["evaluator_hash"],
        )
    )


def board_title(row: dict) -> str:
    protocol = row["protocol_id"]
    if row["protocol_variant"] != "standard":
        changes = variant_changes(protocol, json.loads(row["protocol_constants"] or "{}"))
        shown = ", ".join(f"{k}={v}" for k, v in changes.items())
        protocol += f" (variant: {shown})" if shown else " (variant)"
    fingerprint = (row.get("dataset_fingerprint") or "")[:8]
    data = row["dataset_name"]
    if row.get("dataset_source") and row["dataset_source"] != data:
        data += f" [{row['dataset_source']}]"
    subset = f", first {row['subset']} motions" if row.get("subset") is not None else ""
    evaluator = (
        f"{row['evaluator_name']} {row['evaluator_hash'][:8]}"
        if row.get("evaluator_hash")
        else row["evaluator_name"]
    )
    return f"{protocol} · {data} {fingerprint} · {row['split']}{subset} · evaluator {evaluator}"


def _sample_for(entry: dict, results_file: Path) -> str | None:
    """A rendered GIF of the evaluated model: a path recorded in the entry, else one in its run folder."""
    model = entry.get("model", {})
    if model.get("real"):
        return None
    recorded = entry.get("sample") or model.get("sample")
    if isinstance(recorded, str):
        path = Path(recorded)
        path = path if path.is_absolute() else results_file.parent / path
        if path.is_file():
            return str(path)
    runs = [Path(model["run"])] if isinstance(model.get("run"), str) else []
    # results.json lives in the run folder by default, so a copied run folder still finds its GIFs.
    runs.append(results_file.parent)
    for run in runs:
        for pattern in ("generated/**/*.gif", "*.gif"):
            gifs = sorted(p for p in run.glob(pattern) if p.is_file()) if run.is_dir() else []
            if gifs:
                return str(gifs[0])
    return None


def _label(entry: dict) -> str:
    model = entry["model"]
    if model.get("real"):
        return "Real motions"
    name = model["name"]
    run = Path(model["run"]).name if isinstance(model.get("run"), str) else None
    label = name if run in (None, name) else f"{name} ({run})"
    step = _integer(model.get("step"))
    return label if step is None else f"{label} @ step {step}"


def _source(entry: dict) -> str:
    version = (entry.get("tool") or {}).get("version")
    seed = _integer(entry.get("seed"))
    text = f"mogen-bench {version}" if version else "mogen-bench"
    return text if seed is None else f"{text} · seed {seed}"


def evaluation_rows(entry: dict, results_file: Path, index: int) -> list[dict]:
    """The long rows (one per metric) of one checked evaluation entry."""
    protocol = entry["protocol"]
    constants = protocol.get("constants", {})
    dataset, evaluator, model = entry["dataset"], entry["evaluator"], entry["model"]
    base = {
        "entry_id": f"{results_file}#{index}",
        "entry": _label(entry),
        "kind": "reproduced",
        "reported": False,
        "real": bool(model.get("real", False)),
        "position": None,
        "model_name": model["name"],
        "run": model.get("run"),
        "checkpoint": model.get("checkpoint"),
        "step": _integer(model.get("step")),
        "seed": _integer(entry.get("seed")),
        "world_size": _integer(entry.get("world_size")),
        "num_motions": _integer(entry.get("num_motions")),
        "subset": _integer(entry.get("subset")),
        "sample": _sample_for(entry, results_file),
        "protocol_id": protocol["id"],
        "protocol_variant": protocol_variant(protocol["id"], constants),
        "protocol_constants": json.dumps(constants, sort_keys=True),
        "dataset_name": dataset.get("name") or dataset.get("source") or "dataset",
        "dataset_source": dataset.get("source"),
        "dataset_representation": dataset.get("representation"),
        "dataset_fingerprint": dataset["fingerprint"],
        "split": entry["split"],
        "evaluator_name": evaluator["name"],
        "evaluator_hash": evaluator["hash"],
        "printed": None,
        "paper": None,
        "table": None,
        "year": None,
        "source": _source(entry),
        "note": None,
        "source_note": None,
        "tool_version": (entry.get("tool") or {}).get("version"),
        "created": entry.get("created"),
        "results_file": str(results_file),
    }
    base["board"] = board_key(base)
    base["board_title"] = board_title(base)
    rows = []
    for name, score in entry["metrics"].items():
        interval = score.get("interval")
        rows.append(
            {
                **base,
                "metric": name,
                "mean": float(score["mean"]),
                "interval": math.nan if interval is None else float(interval),
                "values": [float(v) for v in score.get("values", [])],
            }
        )
    return rows


def _identity(row: dict) -> tuple:
    return (row["board"], row["run"], row["checkpoint"], row["real"], row["seed"], row["created"])


def collect(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One long table of every evaluation in the results files under ``paths`` (see the module docstring).

    The same evaluation found twice (a run folder copied beside the original) is kept once.
    """
    rows: list[dict] = []
    seen: set[tuple] = set()
    for file in find_results(paths):
        for index, entry in enumerate(read_evaluations(file)):
            entry_rows = evaluation_rows(entry, file, index)
            identity = _identity(entry_rows[0])
            if identity in seen:
                continue
            seen.add(identity)
            rows.extend(entry_rows)
    return finish(frame(rows))


def frame(rows: list[dict]) -> pd.DataFrame:
    """A table with the store's columns and dtypes from row dicts (missing keys are null)."""
    table = (
        pd.DataFrame.from_records(rows, columns=list(COLUMNS))
        if rows
        else pd.DataFrame(columns=list(COLUMNS))
    )
    for column in _INTEGERS:
        table[column] = pd.array([None if _missing(v) else int(v) for v in table[column]], dtype="Int64")
    for column in _FLOATS:
        table[column] = table[column].astype("float64")
    for column in _BOOLS:
        table[column] = table[column].astype(bool)
    table["values"] = pd.Series(
        [list(v) if v is not None and not _missing(v) else [] for v in table["values"]],
        index=table.index,
        dtype=object,
    )
    for column in set(COLUMNS) - set(_INTEGERS) - set(_FLOATS) - set(_BOOLS) - {"values"}:
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


def _missing(value) -> bool:
    if isinstance(value, list | tuple):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def finish(table: pd.DataFrame) -> pd.DataFrame:
    """Make entry labels unique within each board (seed, then a counter) and sort the rows."""
    if table.empty:
        return table
    table = table.copy()
    labels = table.drop_duplicates("entry_id")[["board", "reported", "entry_id", "entry", "seed"]]
    renamed: dict[str, str] = {}
    # A reported and a reproduced row may share a label (the Result column tells them apart).
    for _, group in labels.groupby(["board", "reported"], sort=False):
        counts = group["entry"].value_counts()
        for row in group.itertuples():
            label = row.entry
            if counts[label] > 1 and not pd.isna(row.seed):
                label = f"{label} · seed {row.seed}"
            renamed[row.entry_id] = label
        final = pd.Series([renamed[e] for e in group["entry_id"]])
        for label in final[final.duplicated(keep=False)].unique():
            ids = [e for e in group["entry_id"] if renamed[e] == label]
            for n, entry_id in enumerate(ids, 1):
                renamed[entry_id] = f"{label} #{n}"
    table["entry"] = table["entry_id"].map(renamed).astype(object)
    order = table["metric"].map(metric_info.sort_key)
    table = table.assign(_order=order).sort_values(["board", "reported", "entry_id", "_order"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


# --- Parquet ---------------------------------------------------------------------------------------------


def _arrow_schema():
    import pyarrow as pa

    types = {column: pa.string() for column in COLUMNS}
    types.update({column: pa.int64() for column in _INTEGERS})
    types.update({column: pa.float64() for column in _FLOATS})
    types.update({column: pa.bool_() for column in _BOOLS})
    types["values"] = pa.list_(pa.float64())
    return pa.schema([(column, types[column]) for column in COLUMNS])


def write_parquet(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the store table to ``path`` (atomically), with a fixed pyarrow schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table[list(COLUMNS)], schema=_arrow_schema(), preserve_index=False)
    with atomic_writer(path) as handle:
        pq.write_table(arrow, handle)
    return Path(path)


def read_parquet(path: str | Path) -> pd.DataFrame:
    """A store table written by ``write_parquet`` (the same columns and dtypes)."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        arrow = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise MogenBenchError(
            f"not a readable Parquet file ({exc})", file=str(path), fix="re-run the report"
        ) from None
    missing = [c for c in COLUMNS if c not in arrow.column_names]
    if missing:
        raise MogenBenchError(
            f"not a leaderboard table: no column {missing[0]!r}",
            file=str(path),
            field=missing[0],
            fix="re-run the report",
        )
    records = arrow.select(list(COLUMNS)).to_pylist()
    return frame(records)


# --- Boards ------------------------------------------------------------------------------------------------


@dataclass
class Board:
    """Rows that may be compared: one protocol (and constants), dataset, split, subset and evaluator."""

    key: str
    title: str
    rows: pd.DataFrame

    @property
    def slug(self) -> str:
        """A short file- and anchor-safe name: ``t2m-1-humanml3d-test-t2m-3fa2c1``."""
        first = self.rows.iloc[0]
        words = [first["protocol_id"], first["dataset_name"], first["split"], first["evaluator_name"]]
        text = "-".join(re.sub(r"[^a-z0-9]+", "-", str(w).lower()).strip("-") for w in words)
        return f"{text}-{hashlib.sha256(self.key.encode()).hexdigest()[:6]}"

    @cached_property
    def metrics(self) -> list[str]:
        return metric_info.ordered(self.rows["metric"])

    @cached_property
    def entries(self) -> pd.DataFrame:
        """One row per entry in display order: real rows, published rows (as printed), reproduced rows."""
        first = self.rows.drop_duplicates("entry_id")
        position = first["position"].astype("float64").fillna(math.inf)
        key = pd.DataFrame(
            {
                "real": ~first["real"],
                "reported": ~first["reported"],
                "position": position,
                "entry": first["entry"],
            }
        )
        order = key.sort_values(["real", "reported", "position", "entry"], kind="stable").index
        return first.loc[order].reset_index(drop=True)

    @cached_property
    def _cells(self) -> dict[tuple[str, str], dict]:
        cells: dict[tuple[str, str], dict] = {}
        for row in self.rows.to_dict("records"):
            cells.setdefault((row["entry_id"], row["metric"]), row)
        return cells

    def cell(self, entry_id: str, metric: str) -> dict | None:
        """The row (a dict of the store's columns) of one entry and metric, or None."""
        return self._cells.get((entry_id, metric))

    def means(self) -> pd.DataFrame:
        """Entries x metrics of means (NaN where missing), in display order."""
        wide = self.rows.pivot_table(index="entry_id", columns="metric", values="mean", aggfunc="first")
        return wide.reindex(index=list(self.entries["entry_id"]), columns=self.metrics)


def boards(table: pd.DataFrame) -> list[Board]:
    """The table split into boards: reproduced boards by protocol, dataset and split; published-only last."""
    if table.empty:
        return []
    found = []
    for key, rows in table.groupby("board", sort=False):
        found.append(Board(str(key), str(rows["board_title"].iloc[0]), rows.reset_index(drop=True)))

    def order(board: Board) -> tuple:
        first = board.rows.iloc[0]
        return (
            bool(board.rows["reported"].all()),
            first["protocol_id"],
            first["dataset_name"],
            first["split"],
            board.key,
        )

    return sorted(found, key=order)
