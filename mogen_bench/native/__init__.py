"""Optional compiled CPU kernels, built on first use with the machine's C compiler and cached.

A few hot loops (``recover_from_ric``) are memory-bound passes that stock torch ops can only express as
several strided passes over a batch; a small C file does each in one. Nothing here is required: when no
compiler is found, the build fails, the platform cannot load it, or ``MOGEN_BENCH_NATIVE=0`` is set,
``library`` returns ``None`` and callers use their portable torch code, which gives the same numbers.

Built libraries are cached in ``$MOGEN_BENCH_CACHE/native`` (default ``~/.cache/mogen-bench/native``)
under a name that hashes the source, the compiler command and the platform, so a changed source or
compiler is rebuilt and never mistaken for an old build. ``$CC`` picks the compiler (default ``cc``).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Flags for every kernel. ISO C (``-std=c99``) keeps gcc from fusing multiply-adds, so the kernels round
#: as torch's separate CPU ops do; no ``-march=native``, so a cached build runs on any CPU of the platform.
CFLAGS = ("-O3", "-std=c99", "-shared", "-fPIC", "-pthread")
_OFF = {"0", "off", "false", "no"}
_BUILD_SECONDS = 120


@dataclass(frozen=True)
class Kernel:
    """One C source in this package and the C signatures of the functions it exports."""

    source: str
    functions: dict[str, tuple[type, tuple[type, ...]]]

    @property
    def path(self) -> Path:
        return Path(__file__).with_name(self.source)


KERNELS = {
    "recover_ric": Kernel(
        "recover_ric.c",
        {
            "mogen_recover_from_ric": (
                ctypes.c_int,
                (ctypes.c_void_p, *[ctypes.c_int64] * 6, ctypes.c_void_p, ctypes.c_int, ctypes.c_int),
            )
        },
    ),
}

_loaded: dict[str, ctypes.CDLL | None] = {}
_reasons: dict[str, str] = {}


def enabled() -> bool:
    """False when ``$MOGEN_BENCH_NATIVE`` turns the compiled kernels off."""
    return os.environ.get("MOGEN_BENCH_NATIVE", "1").strip().lower() not in _OFF


def cache_dir() -> Path:
    """``$MOGEN_BENCH_CACHE/native`` if set, else ``~/.cache/mogen-bench/native``."""
    root = os.environ.get("MOGEN_BENCH_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "mogen-bench") / "native"


def library(name: str) -> ctypes.CDLL | None:
    """The loaded kernel ``name`` (built now if no cached build fits), or ``None`` if it cannot be had.

    The outcome is remembered for the process, so a machine without a compiler tries once.
    """
    if not enabled():
        return None
    if name not in _loaded:
        try:
            _loaded[name] = _load(name)
            _reasons[name] = f"built at {_loaded[name]._name}"
        except (OSError, AttributeError, subprocess.SubprocessError, _BuildFailed) as exc:
            _loaded[name], _reasons[name] = None, str(exc)
            log.info("compiled kernel %s unavailable, using the torch code: %s", name, exc)
    return _loaded[name]


def status(name: str) -> str:
    """How kernel ``name`` stands, in words: where its build lies, or why the torch code is used."""
    if not enabled():
        return "turned off by MOGEN_BENCH_NATIVE"
    library(name)
    return _reasons[name]


def forget() -> None:
    """Drop what this process loaded or failed to load, so the next ``library`` call looks again."""
    _loaded.clear()
    _reasons.clear()


class _BuildFailed(RuntimeError):
    pass


def _compiler() -> list[str]:
    command = shlex.split(os.environ.get("CC", "") or "cc")
    if shutil.which(command[0]) is None:
        raise _BuildFailed(f"no C compiler {command[0]!r} on PATH (set CC to one)")
    return command


def build_path(name: str) -> Path:
    """Where kernel ``name``'s build for this source, compiler and platform lies (or will lie)."""
    key = hashlib.sha256(
        b"\0".join(
            [
                KERNELS[name].path.read_bytes(),
                " ".join(_compiler() + list(CFLAGS)).encode(),
                platform.platform().encode(),
            ]
        )
    ).hexdigest()[:16]
    suffix = ".dll" if sys.platform == "win32" else ".so"
    return _writable(cache_dir()) / f"{name}-{key}{suffix}"


def _load(name: str) -> ctypes.CDLL:
    kernel, target = KERNELS[name], build_path(name)
    lib = None
    if target.exists():
        try:
            lib = ctypes.CDLL(str(target))
        except OSError:  # a cached file that does not load (truncated by a full disk, say): build anew
            log.info("rebuilding %s: the cached build does not load", target)
    if lib is None:
        _build(_compiler(), kernel.path, target)
        lib = ctypes.CDLL(str(target))
    for function, (result, arguments) in kernel.functions.items():
        entry = getattr(lib, function)
        entry.restype, entry.argtypes = result, list(arguments)
    return lib


def _writable(folder: Path) -> Path:
    """``folder``, created; or, where it cannot be written, a private folder for this process only (never a
    shared temporary path another user could have put a library at)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            return folder
    except OSError:
        return Path(tempfile.mkdtemp(prefix="mogen-bench-native-"))


def _build(compiler: list[str], source: Path, target: Path) -> None:
    # Build beside the target and rename into place: a process that finds the name finds a whole library,
    # and two processes building at once each rename a complete file.
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=target.suffix)
    os.close(handle)
    try:
        run = subprocess.run(
            [*compiler, *CFLAGS, str(source), "-o", partial, "-lm"],
            capture_output=True,
            text=True,
            timeout=_BUILD_SECONDS,
        )
        if run.returncode != 0:
            lines = (run.stderr or run.stdout).strip().splitlines() or [f"exit status {run.returncode}"]
            first_error = next((line for line in lines if "error" in line.lower()), lines[0])
            raise _BuildFailed(f"{' '.join(compiler)} failed on {source.name}: {first_error}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
