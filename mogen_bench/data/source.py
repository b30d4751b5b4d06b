"""What a data source is to ``prepare``: a checked input tree that yields motion records.

Each published layout (HuMMan-MoGen, HumanML3D, KIT-ML, BABEL, MoGen-Synth) has one module under
``mogen_bench.data.sources`` with a class following ``Source``. The writer (``mogen_bench.data.writer``)
does the rest the same way for all of them: shards, statistics, checksums and ``dataset.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from mogen_bench.data.schema import MotionRecord, Skipped
from mogen_bench.errors import MogenBenchError


class Source(Protocol):
    """A dataset download in its published layout."""

    #: Source name as the CLI spells it (``humman-mogen``, ``humanml3d`` ...).
    name: str
    #: The representation of the features the source yields (``humanml3d-263`` ...).
    representation: str
    #: Frame rate of the yielded features.
    fps: float
    #: The input folder.
    root: Path

    def check(self) -> None:
        """Raise a ``MogenBenchError`` naming the missing file and the expected tree if unusable."""

    def input_files(self) -> list[Path]:
        """Every file the output depends on (checksummed into ``dataset.json``)."""

    def options(self) -> dict:
        """The options that shape the output, as JSON values (recorded, and part of the no-op check)."""

    def split_rule(self) -> str:
        """How items were assigned to splits, in words."""

    def items(self) -> Iterator[MotionRecord | Skipped]:
        """Every input item, as a record or as a skip with its reason; never silently dropped."""

    def statistics(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Normalisation ``(mean, std)`` shipped with the source, or ``None`` to compute them from train."""

    def expected_items(self) -> int | None:
        """How many items ``items()`` will yield, for the progress bar, if cheap to know."""


def expected_tree_error(
    source: str, root: Path, missing: str, tree: str, fix: str | None = None
) -> MogenBenchError:
    """The error for an input folder that lacks part of its published layout, showing the expected tree."""
    return MogenBenchError(
        f"{source} input is missing {missing}; expected the published layout:\n{tree}",
        file=str(root),
        fix=fix or f"point the command at the folder that holds the {source} download",
    )


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def inputs_checksum(root: Path, files: Iterable[Path]) -> tuple[str, int]:
    """sha256 over the sorted relative paths and contents of ``files``, and how many there were."""
    digest = hashlib.sha256()
    count = 0
    for path in sorted(files, key=lambda p: str(p.relative_to(root)) if p.is_relative_to(root) else str(p)):
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        digest.update(name.encode() + b"\0" + file_sha256(path).encode() + b"\n")
        count += 1
    return digest.hexdigest(), count
