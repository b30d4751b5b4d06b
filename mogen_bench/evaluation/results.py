"""``results.json``: every evaluation of a run, in the schema the leaderboard reads.

    {"format": "mogen-bench-results", "schema_version": 1,
     "evaluations": [{"protocol": {"id", "description", "constants"}, "split", "seed", "num_motions",
                      "subset", "model": {...}, "dataset": {... "fingerprint"}, "evaluator": {"name", "hash"},
                      "world_size", "metrics": {name: {"mean", "interval", "values"}},
                      "tool": {"name", "version"}, "created"}, ...]}

An evaluation replaces an earlier one with the same protocol, split, seed, subset, dataset fingerprint,
evaluator hash and model (run and checkpoint, or the ground truth); others are kept, so one file holds a
run's numbers under every protocol and evaluator. The file is rewritten atomically.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from annotation.files import atomic_write_text
from mogen_bench import __version__
from mogen_bench.errors import MogenBenchError

RESULTS_FILE = "results.json"
RESULTS_FORMAT = "mogen-bench-results"
SCHEMA_VERSION = 1


def _identity(entry: dict) -> tuple:
    model = entry.get("model", {})
    return (
        entry.get("protocol", {}).get("id"),
        entry.get("split"),
        entry.get("seed"),
        entry.get("subset"),
        entry.get("dataset", {}).get("fingerprint"),
        entry.get("evaluator", {}).get("hash"),
        model.get("run"),
        model.get("checkpoint"),
        model.get("real"),
    )


def read_results(path: str | Path) -> dict:
    """The results document at ``path`` (an empty one when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {"format": RESULTS_FORMAT, "schema_version": SCHEMA_VERSION, "evaluations": []}
    try:
        document = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MogenBenchError(
            f"not valid JSON ({exc})",
            file=str(path),
            fix="restore it or move it away; a new one will be written",
        ) from exc
    if not isinstance(document, dict) or document.get("format") != RESULTS_FORMAT:
        raise MogenBenchError(
            "not a mogen-bench results file",
            file=str(path),
            field="format",
            fix="write results to another --out",
        )
    if document.get("schema_version", 0) > SCHEMA_VERSION:
        raise MogenBenchError(
            f"written by a newer mogen-bench (schema {document['schema_version']})",
            file=str(path),
            field="schema_version",
            fix="upgrade mogen-bench",
        )
    return document


def record_result(path: str | Path, entry: dict) -> Path:
    """Add ``entry`` to the results file at ``path`` (replacing an earlier one of the same evaluation)."""
    path = Path(path)
    document = read_results(path)
    entry = {**entry, "tool": {"name": "mogen-bench", "version": __version__}}
    entry.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    kept = [e for e in document["evaluations"] if _identity(e) != _identity(entry)]
    document["evaluations"] = [*kept, entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    return path
