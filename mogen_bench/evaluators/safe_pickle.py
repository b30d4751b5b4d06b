"""A restricted unpickler for the few pickle files the official evaluators ship (GloVe word lists).

``pickle.load`` runs whatever callable a file names, so a downloaded ``our_vab_words.pkl`` could run any
command. This unpickler resolves only an allow-list of globals: the plain containers and scalars
(``dict``, ``list``, ``tuple``, ``set``, ``frozenset``, ``str``, ``bytes``, ``bytearray``, ``int``,
``float``, ``bool``; ``None`` needs no global) and what numpy needs to rebuild arrays and scalars
(``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``, ``multiarray.scalar``,
``numeric._frombuffer``) under both spellings, ``numpy.core`` (numpy 1) and ``numpy._core`` (numpy 2).
Every other global is refused with a ``MogenBenchError`` naming the file and the global, before anything
is called. Protocol 0-2 pickles spell builtins ``__builtin__`` and rebuild ``bytes`` via
``_codecs.encode(text, 'latin1')``; both are admitted, the latter only with a latin-1 encoding.
"""

from __future__ import annotations

import builtins
import codecs
import importlib
import io
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mogen_bench.errors import MogenBenchError

_BUILTINS = ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float", "bool")

# numpy globals admitted: (submodule below numpy.core / numpy._core, name); plus numpy.ndarray, numpy.dtype.
_NUMPY_CORE = {
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
}
_NUMPY_TOP = ("ndarray", "dtype")

_FIX = "use the official file or re-create it holding only lists, dicts, strings, numbers and numpy arrays"


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 0-2 pickles use it for ``bytes``; any other codec is refused."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin1", errors)


def _numpy_core(submodule: str) -> Any:
    """``numpy._core.<submodule>`` (numpy 2) or ``numpy.core.<submodule>`` (numpy 1), no shim warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for package in ("numpy._core", "numpy.core"):
            try:
                return importlib.import_module(f"{package}.{submodule}")
            except ImportError:
                continue
    raise pickle.UnpicklingError(f"numpy has no core.{submodule}")  # pragma: no cover - every numpy has one


def _allowed(module: str, name: str) -> Callable[..., Any] | type | None:
    """The object an allowed ``module.name`` stands for, or None when it is not on the allow-list."""
    if module in ("builtins", "__builtin__") and name in _BUILTINS:
        return getattr(builtins, name)
    if module == "_codecs" and name == "encode":
        return _latin1_encode
    if module == "numpy" and name in _NUMPY_TOP:
        import numpy

        return getattr(numpy, name)
    for package in ("numpy.core.", "numpy._core."):
        if module.startswith(package) and (module[len(package) :], name) in _NUMPY_CORE:
            return getattr(_numpy_core(module[len(package) :]), name)
    return None


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only allow-listed globals (see the module docstring)."""

    def __init__(self, file: io.BufferedIOBase, *, source: str = "<bytes>") -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is None:
            raise MogenBenchError(
                f"refusing to unpickle: the file names the forbidden global '{module}.{name}' "
                "(only plain containers, numbers, strings and numpy arrays are allowed)",
                file=self.source,
                fix=_FIX,
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise MogenBenchError(
            "refusing to unpickle: the file uses persistent ids, which plain data never needs",
            file=self.source,
            fix=_FIX,
        )


def safe_loads(data: bytes, *, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the restricted unpickler; ``source`` names it in errors."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source).load()
    except MogenBenchError:
        raise
    except Exception as exc:  # a truncated or corrupt pickle raises many different types
        raise MogenBenchError(
            f"not a readable pickle: {type(exc).__name__}: {exc}",
            file=source,
            fix="download the file again; it may be truncated or not a pickle at all",
        ) from exc


def safe_load(path: str | Path) -> Any:
    """Read and unpickle the file at ``path`` with the restricted unpickler."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MogenBenchError("file not found", file=str(path), fix="check the path") from exc
    except OSError as exc:
        raise MogenBenchError(f"cannot read the file: {exc}", file=str(path)) from exc
    return safe_loads(data, source=str(path))
