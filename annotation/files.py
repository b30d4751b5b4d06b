"""Reading and writing users' files safely.

Reads turn every operating-system error into a ``MogenBenchError`` that names the file. Writes are
atomic: a temporary file beside the target is renamed into place, so a crash or a full disk never
leaves a half-written file under the target's name, and an existing file is only replaced once its
successor is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from annotation.errors import MogenBenchError


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write; on success it replaces ``path``, on any error it vanishes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            # Keep the permissions of the file being replaced (mkstemp creates 0600).
            os.chmod(tmp_name, target.stat().st_mode & 0o777)
        else:
            os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def read_user_file(path: str | os.PathLike, expected: str = "a file") -> bytes:
    """The bytes of ``path``; a ``MogenBenchError`` naming the file if it cannot be read.

    ``expected`` says what should be there (e.g. "a .json file") for the fix when ``path`` is a folder.
    """
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MogenBenchError("no such file", file=str(path), fix="check the path") from None
    except IsADirectoryError:
        raise MogenBenchError(
            f"is a folder, not {expected}", file=str(path), fix=f"give {expected}"
        ) from None
    except OSError as exc:
        raise MogenBenchError(f"cannot read: {exc.strerror}", file=str(path)) from None


def read_user_json(path: str | os.PathLike, expected: str = "a JSON file", fix: str | None = None) -> object:
    """The parsed JSON of ``path``; a ``MogenBenchError`` naming the file (and the line) if unreadable.

    ``fix`` says how to get a good file (re-download, re-run ...) for broken or non-UTF-8 content.
    """
    data = read_user_file(path, expected)
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise MogenBenchError("not UTF-8 text", file=str(path), fix=fix) from None
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno}: {exc.msg}"
        raise MogenBenchError(message, file=str(path), fix=fix) from None
