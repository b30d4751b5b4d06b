"""Reading users' ``.npz`` motion files with checked keys, shapes and values.

``np.load(allow_pickle=False)`` only: an ``.npz`` from the internet can hold pickled objects, which would
run code on load. Every problem becomes a ``MogenBenchError`` naming the file and the key.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mogen_bench.errors import MogenBenchError


def load_npz(
    path: Path, shapes: Mapping[str, tuple[int | None, ...]], optional: tuple[str, ...] = ()
) -> dict:
    """The arrays of ``path`` named in ``shapes`` (``None`` = any size; ``-1`` as a dim = "same T").

    ``shapes`` maps a key to its expected shape, e.g. ``{"transl": (-1, 3), "betas": (-1, 10)}``: every
    ``-1`` must be the same number (the frame count). Keys in ``optional`` may be absent. Floating arrays
    must be finite.
    """
    if path.is_file() and not zipfile.is_zipfile(path):
        # np.load would call it "pickled (object) data", which points users the wrong way.
        raise MogenBenchError(
            "not an .npz (zip) archive: truncated, corrupt or another format",
            file=str(path),
            fix="re-download or re-export the file",
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MogenBenchError("no such file", file=str(path)) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise MogenBenchError(
            f"not a readable .npz archive ({exc})", file=str(path), fix="re-download or re-export the file"
        ) from None
    with archive:
        out: dict[str, np.ndarray] = {}
        frames: int | None = None
        for key, shape in shapes.items():
            if key not in archive.files:
                if key in optional:
                    continue
                raise MogenBenchError(
                    f"missing array {key!r} (the file has {', '.join(archive.files) or 'no arrays'})",
                    file=str(path),
                    field=key,
                    fix=f"the file must hold {', '.join(k for k in shapes if k not in optional)}",
                )
            try:
                value = archive[key]
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
                raise MogenBenchError(
                    f"cannot read array {key!r}: {exc}", file=str(path), field=key
                ) from None
            expected = (
                "(" + ", ".join("T" if d == -1 else "any" if d is None else str(d) for d in shape) + ")"
            )
            ok = value.ndim == len(shape) and all(
                d is None or d == -1 or d == n for d, n in zip(shape, value.shape, strict=False)
            )
            if ok:
                for d, n in zip(shape, value.shape, strict=False):
                    if d == -1:
                        if frames is None:
                            frames = n
                        ok = ok and n == frames
            if not ok:
                raise MogenBenchError(
                    f"array {key!r} has shape {value.shape}, expected {expected}"
                    + (f" with T = {frames} frames like the other arrays" if frames is not None else ""),
                    file=str(path),
                    field=key,
                )
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                bad = (
                    np.argwhere(~np.isfinite(value.reshape(value.shape[0], -1)).all(-1)) if value.ndim else []
                )
                where = f" (first bad frame {int(bad[0][0])})" if len(bad) else ""
                raise MogenBenchError(
                    f"array {key!r} contains NaN or inf{where}",
                    file=str(path),
                    field=key,
                    fix="repair or remove the broken frames",
                )
            if value.dtype.kind not in "fiu":
                raise MogenBenchError(
                    f"array {key!r} is not numeric ({value.dtype})", file=str(path), field=key
                )
            out[key] = value
        return out
