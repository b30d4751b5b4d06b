"""What a training run reports: ``metrics.jsonl``, optional TensorBoard scalars, and a progress bar.

``MetricsLog`` appends one JSON object per line (step, loss terms, learning rate, throughput, wall time)
and flushes it at once, so the file is complete up to the last record even after a crash; only the main
process writes. ``read_metrics`` reads it back. When ``tensorboard`` is installed the same numbers also go
to ``tensorboard/`` beside the log (it is optional and not a dependency).

``TrainingProgress`` is a rich progress bar over optimiser steps with the running loss and an ETA; it
shows only on the main process and only in a terminal (a log file or CI output gets no bar).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from annotation.files import atomic_write_text, read_user_file
from mogen_bench.errors import MogenBenchError
from mogen_bench.training.distributed import is_main

#: The folder beside ``metrics.jsonl`` that TensorBoard event files go to.
TENSORBOARD_FOLDER = "tensorboard"


def tensorboard_available() -> bool:
    """Whether ``tensorboard`` and ``torch.utils.tensorboard`` can be imported."""
    if importlib.util.find_spec("tensorboard") is None:
        return False
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def open_tensorboard(log_dir: str | os.PathLike):
    """A ``SummaryWriter`` writing to ``log_dir``, or ``None`` when TensorBoard is not installed."""
    if not tensorboard_available():
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


def _plain(value: Any) -> Any:
    """A JSON-ready number or text: tensors and NumPy scalars become Python numbers; NaN/inf become null."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null keeps the file readable by every JSON reader
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class MetricsLog:
    """Appends records to a JSON-lines file (and TensorBoard when installed), on the main process only.

    Args:
        path: the ``metrics.jsonl`` file; its folder is made on the first write.
        enabled: write at all; default: only on the main process (``distributed.is_main()``).
        tensorboard: also write scalars to ``path.parent / "tensorboard"`` when TensorBoard is installed.
        resume_step: a resumed run's step: records after it (logged by the interrupted run after its last
            checkpoint, and about to be logged again) are dropped from the file first.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        enabled: bool | None = None,
        tensorboard: bool = True,
        resume_step: int | None = None,
    ):
        self.path = Path(path)
        self.enabled = is_main() if enabled is None else bool(enabled)
        self._writer = None
        if self.enabled and tensorboard:
            self._writer = open_tensorboard(self.path.parent / TENSORBOARD_FOLDER)
        if self.enabled and resume_step is not None and self.path.is_file():
            kept = [r for r in read_metrics(self.path) if not _after(r, resume_step)]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (``step`` and numbers; ``time`` is added if missing) and flush it."""
        if not self.enabled:
            return
        record = {key: _plain(value) for key, value in record.items()}
        record.setdefault("time", time.time())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened per record: a record is on disk as soon as write returns, and nothing stays open.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None and isinstance(record.get("step"), int):
            for key, value in record.items():
                if key not in ("step", "time") and _is_number(value):
                    self._writer.add_scalar(key, value, record["step"])
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _after(record: dict, step: int) -> bool:
    return _is_number(record.get("step")) and record["step"] > step


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a ``metrics.jsonl`` file in order.

    A last line cut short (the process was killed while writing it) is skipped; a bad line elsewhere is an
    error naming the line.
    """
    text = read_user_file(path, expected="a metrics.jsonl file").decode("utf-8", errors="replace")
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: a write that never finished
                continue
            raise MogenBenchError(
                f"line {number} is not a JSON record", file=str(path), fix="delete or repair that line"
            ) from None
        if not isinstance(record, dict):
            raise MogenBenchError(
                f"line {number} is not a JSON object", file=str(path), fix="delete or repair that line"
            )
        records.append(record)
    return records


class TrainingProgress:
    """A progress bar over optimiser steps (``start`` of ``total`` done) with the loss and an ETA.

    Disabled, it does nothing: on processes other than the main one, and when the console is not a
    terminal. Use it as a context manager and call ``update(step, loss)`` after each step.
    """

    def __init__(self, total: int, start: int = 0, *, enabled: bool | None = None, console=None):
        from rich.console import Console

        self.console = console if console is not None else Console(stderr=True)
        wanted = is_main() if enabled is None else bool(enabled)
        self.enabled = wanted and self.console.is_terminal
        self.total = total
        self.start = start
        self._progress = None
        self._task = None

    def __enter__(self) -> TrainingProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress = Progress(*columns, console=self.console, transient=True, refresh_per_second=4)
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, completed=self.start, loss="-")
        return self

    def update(self, step: int, loss: float | None = None) -> None:
        if self._progress is None:
            return
        fields = {} if loss is None else {"loss": f"{loss:.4g}"}
        self._progress.update(self._task, completed=step, **fields)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
