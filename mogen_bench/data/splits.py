"""Deterministic train / val / test splits by subject, for sources that ship without an official split.

HuMMan-MoGen (and MoGen-Synth, which copies its layout) has no official split, so the project defines one:
a subject's split is a pure function of its id. ``sha256("mogen-bench-split-v1:" + subject)`` read as a
fraction ``u`` in [0, 1) puts the subject in ``train`` when ``u < 0.80``, ``val`` when ``u < 0.85`` and
``test`` otherwise (80 / 5 / 15). Hashing instead of shuffling keeps a subject in the same split whatever
subset of the release a user has, and keeps every sequence of a subject (and its mirrored copies) in one
split, so no test subject is ever seen in training.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

SPLITS = ("train", "val", "test")
SPLIT_RULE = "subject-sha256-v1 80/5/15"
_FRACTIONS = (("train", 0.80), ("val", 0.85))

_SEQUENCE = re.compile(r"^(?P<subject>p\d+)_(?P<kind>[ar])(?P<action>\d+)$")


def parse_sequence_id(sequence_id: str) -> tuple[str, str, bool] | None:
    """``(subject, action, mirrored)`` of an id ``pXXXXXX_aXXXXXX`` (``r`` = mirrored), else None."""
    match = _SEQUENCE.match(sequence_id)
    if match is None:
        return None
    return match["subject"], match["action"], match["kind"] == "r"


def subject_fraction(subject: str) -> float:
    """The subject's position in [0, 1) under the split hash."""
    digest = hashlib.sha256(f"mogen-bench-split-v1:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def subject_split(subject: str, overrides: Mapping[str, str] | None = None) -> str:
    """The split of a subject: an entry of ``overrides`` (subject -> split) wins, else the hash rule."""
    if overrides and subject in overrides:
        return overrides[subject]
    u = subject_fraction(subject)
    for split, bound in _FRACTIONS:
        if u < bound:
            return split
    return "test"
