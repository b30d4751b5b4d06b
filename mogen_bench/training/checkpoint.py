"""Training checkpoints: atomic writes, safe loads, the random-number state, and which files to keep.

A checkpoint is one ``torch.save`` file of a dict (model, optimiser, scheduler, EMA, step, RNG states ...)
plus a format marker, ``{"format": "mogen-bench-checkpoint", "format_version": 1}``, that tells it apart
from any other PyTorch file. Files are written through a temporary file in the same folder, fsynced and
renamed into place, so a crash leaves the previous checkpoint intact and never a half file under a
checkpoint's name. Loading uses ``torch.load(weights_only=True)`` only: a checkpoint holds tensors and
plain Python data, never pickled objects.

A run keeps its checkpoints in ``RUN_DIR/checkpoints/`` as ``step-00001000.pt`` (``checkpoint_path``),
optionally with a ``last.pt``; ``prune_checkpoints`` keeps the newest ``keep`` step files and never
deletes the newest one or ``last.pt``.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotation.files import atomic_writer
from mogen_bench.errors import MogenBenchError

FORMAT = "mogen-bench-checkpoint"
FORMAT_VERSION = 1
#: The folder of a run directory that holds its checkpoints.
CHECKPOINT_FOLDER = "checkpoints"
#: A checkpoint pruning never deletes (e.g. the state at an interruption).
LAST_NAME = "last.pt"
_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")
_FIX_FOREIGN = (
    "give a checkpoint written by `mogen-bench train` (RUN_DIR/checkpoints/step-*.pt); "
    "published weights are read by the model's own importer"
)


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """Where a run keeps its checkpoint of optimiser step ``step``."""
    return Path(run_dir) / CHECKPOINT_FOLDER / f"step-{step:08d}.pt"


def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (plus the format marker) to ``path`` atomically and return the path.

    Put the model's registry name under ``"model_name"`` so ``load_checkpoint(expect_model=...)`` can tell
    a checkpoint of another model. Values must be what ``torch.load(weights_only=True)`` reads back:
    tensors, numbers, strings, ``None`` and lists / tuples / dicts of those.
    """
    reserved = {"format", "format_version"} & set(payload)
    if reserved:
        raise ValueError(f"checkpoint payload keys {sorted(reserved)} are reserved for the format marker")
    path = Path(path)
    with atomic_writer(path) as handle:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, handle)
    return path


def load_checkpoint(
    path: str | os.PathLike, *, map_location: Any = "cpu", expect_model: str | None = None
) -> dict:
    """The dict that ``save_checkpoint`` wrote to ``path``, tensors moved to ``map_location``.

    Raises ``MogenBenchError`` naming the file when it is missing, a folder, corrupt or truncated, not a
    mogen-bench checkpoint (an official release's ``.pt``, a bare state dict, a pickle), written by a newer
    mogen-bench, or (with ``expect_model``) a checkpoint of another model.
    """
    path = Path(path)
    if path.is_dir():
        latest = find_latest_checkpoint(path)
        fix = f"give a checkpoint file, e.g. {latest}" if latest else "give a checkpoint file (step-*.pt)"
        raise MogenBenchError("is a folder, not a checkpoint file", file=str(path), fix=fix)
    if not path.is_file():
        raise MogenBenchError("no such checkpoint", file=str(path), fix="check the path")
    try:
        state = load_weights_only(path, map_location)
    except PickledObjects as exc:
        raise MogenBenchError(
            f"not a mogen-bench checkpoint: it holds pickled Python objects ({exc.name}), which are "
            "never loaded (they can run code)",
            file=str(path),
            fix=_FIX_FOREIGN,
        ) from None
    except UnreadableFile:
        raise _corrupt(path) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        what = _describe_foreign(state)
        raise MogenBenchError(f"not a mogen-bench checkpoint ({what})", file=str(path), fix=_FIX_FOREIGN)
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise MogenBenchError(
            f"checkpoint format version {version!r} is newer than this mogen-bench reads ({FORMAT_VERSION})",
            file=str(path),
            fix="upgrade mogen-bench",
        )
    if expect_model is not None and state.get("model_name") != expect_model:
        raise MogenBenchError(
            f"a checkpoint of model {state.get('model_name')!r}, not {expect_model!r}",
            file=str(path),
            fix=f"give a checkpoint of a {expect_model!r} run, or use the model {state.get('model_name')!r}",
        )
    return state


class PickledObjects(Exception):
    """The weights-only reader refused the file: it holds a pickled class (``name``), never loaded."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class UnreadableFile(Exception):
    """The file is damaged, truncated or not a PyTorch file; ``reason`` is what the reader said."""

    def __init__(self, path: str, reason: str = ""):
        super().__init__(path)
        self.reason = reason


def load_weights_only(path: str | os.PathLike, map_location=None, admitted_globals=()) -> Any:
    """``torch.load(weights_only=True)`` of ``path``; ``PickledObjects`` or ``UnreadableFile`` if it fails.

    Every reader of foreign or own ``.pt`` files goes through here, so none ever unpickles code.
    ``admitted_globals`` are ``torch.serialization.safe_globals`` entries a format needs besides tensors
    and plain containers (the official evaluator's numpy-scalar epochs).
    """
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(list(admitted_globals)):
            # Old or foreign pickles make the weights-only reader warn about their protocol first.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # The reader refuses a class it does not know ("Unsupported global: GLOBAL argparse.Namespace
        # ...") or one of a blocked module ("unsupported GLOBAL posix.system whose module posix is
        # blocked"); any other refusal means bytes that are not a pickle it can follow.
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:
            raise UnreadableFile(str(path), _first_line(exc)) from None
        raise PickledObjects(found.group(1)) from None
    except Exception as exc:  # a damaged file fails as RuntimeError, EOFError, KeyError ... where it breaks
        raise UnreadableFile(str(path), _first_line(exc)) from None


def _first_line(exc: Exception) -> str:
    # torch's messages run to paragraphs; their first line names what broke.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _corrupt(path: Path) -> MogenBenchError:
    return MogenBenchError(
        "cannot read the checkpoint: the file is corrupt or truncated, or not a PyTorch file",
        file=str(path),
        fix="use an earlier checkpoint of the run (or copy the file again)",
    )


def _describe_foreign(state: Any) -> str:
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return f"a bare state dict of {len(state)} tensors"
    if isinstance(state, dict):
        keys = ", ".join(repr(k) for k in list(state)[:5])
        return f"a dict with keys {keys}{' ...' if len(state) > 5 else ''} and no format marker"
    return f"a {type(state).__name__}"


# ----------------------------------------------------------------------------------------- files of a run


def _checkpoint_folder(path: str | os.PathLike) -> Path:
    """``path/checkpoints`` for a run directory, ``path`` itself for a checkpoints folder."""
    path = Path(path)
    return path / CHECKPOINT_FOLDER if (path / CHECKPOINT_FOLDER).is_dir() else path


def _step_files(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return sorted((step, p) for step, p in found if p.is_file())


def find_latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest checkpoint of a run (its folder or its ``checkpoints/`` folder), or ``None``.

    The highest ``step-N.pt``, unless ``last.pt`` was written after it (modification time; ties go to
    ``last.pt``, which is only written as the newest state).
    """
    folder = _checkpoint_folder(run_dir)
    steps = _step_files(folder)
    newest = steps[-1][1] if steps else None
    last = folder / LAST_NAME
    if last.is_file() and (newest is None or last.stat().st_mtime_ns >= newest.stat().st_mtime_ns):
        return last
    return newest


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``step-N.pt`` files (0 keeps all) and return the deleted paths.

    The newest step file and ``last.pt`` always stay. Temporary files that an interrupted write left behind
    are removed too (only the main process writes checkpoints, so none of them is still being written).
    """
    folder = _checkpoint_folder(run_dir)
    steps = _step_files(folder)
    doomed = [path for _, path in steps[: -max(keep, 1)]] if keep > 0 else []
    if folder.is_dir():
        doomed += [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# ------------------------------------------------------------------------------------------- RNG state


def capture_rng_state() -> dict:
    """The global random state of Python ``random``, NumPy, torch's CPU generator and the current CUDA device.

    Only tensors and plain numbers, so ``torch.load(weights_only=True)`` reads it back. CUDA is captured for
    the current device only, and only once CUDA is in use: asking for every device's state would create a
    CUDA context on each GPU from each rank.
    """
    version, internal, gauss_next = random.getstate()
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = {
        "python": {
            "version": int(version),
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": None,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state(torch.cuda.current_device())
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Set the global random state that ``capture_rng_state`` returned (CUDA: on the current device).

    A CUDA state is skipped when this machine has no CUDA (the CPU streams are still restored).
    """
    try:
        python, numpy_state = state["python"], state["numpy"]
        internal = tuple(int(v) for v in python["state"].tolist())
        random.setstate((int(python["version"]), internal, python["gauss_next"]))
        keys = numpy_state["keys"].numpy().astype(np.uint32)
        position, has_gauss = int(numpy_state["pos"]), int(numpy_state["has_gauss"])
        np.random.set_state(("MT19937", keys, position, has_gauss, float(numpy_state["cached_gaussian"])))
        torch.set_rng_state(state["torch"].cpu())
        if state.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"].cpu(), torch.cuda.current_device())
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise MogenBenchError(
            f"the checkpoint's random-number state is unreadable ({exc})",
            field="rng",
            fix="resume from another checkpoint, or start a new run",
        ) from None
