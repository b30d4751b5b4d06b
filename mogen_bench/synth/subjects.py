"""Synthetic subjects: ids ``p000001...``, their split, how many sequences each performs, and their style.

A subject's split is ``mogen_bench.data.splits.subject_split`` of its id, the rule every HuMMan-MoGen-layout
source uses, so MoGen-Synth prepared like a real release lands in the same splits. The hash puts subjects
80/5/15 into train/val/test only on average; with few subjects one split can get much more or less than
its share. So the sequences are handed out per split (80/5/15 of them, at least one for every split that
has a subject) and then round-robin over that split's subjects.

Subject size. ``smpl_joints_builtin`` ignores ``betas`` (it poses one built-in neutral skeleton), and the
motions are grounded and foot-locked on that skeleton, so bone lengths cannot vary without feet leaving
the floor. What varies per subject is its style (how far and how fast it moves, how wide it stands, how
its arms hang) and its ``betas``: small random shape coefficients, constant over the subject's frames as
in HuMMan-MoGen, for body models that use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mogen_bench.data.splits import SPLITS, subject_split

#: Target share of the sequences per split (the subject hash's own 80/5/15).
SPLIT_SHARES: dict[str, float] = {"train": 0.80, "val": 0.05, "test": 0.15}


@dataclass(frozen=True)
class SubjectStyle:
    """How one subject moves: multipliers and resting angles shared by all its sequences."""

    #: Multiplies the amplitude (in [0, 1]) drawn for every primitive: how far the subject tends to move.
    amplitude: float = 1.0
    #: Multiplies the repetition rate drawn for every primitive: how fast the subject tends to move.
    tempo: float = 1.0
    #: Angle of the resting arms below the horizontal, in degrees (90 would hang straight down).
    arm_rest_deg: float = 75.0
    #: Hip abduction of the standing legs, in degrees (stance width).
    stance_deg: float = 3.0


@dataclass(frozen=True)
class Subject:
    subject_id: str
    split: str
    style: SubjectStyle
    #: ``(10,)`` SMPL shape coefficients, written to every frame of the subject's sequences.
    betas: np.ndarray


def subject_id(index: int) -> str:
    """``p000001`` for index 1, as HuMMan-MoGen names its subjects."""
    return f"p{index:06d}"


def make_subjects(num_subjects: int, seed: int, betas_std: float) -> list[Subject]:
    """Subjects ``p000001 .. p{num_subjects}`` with styles and betas drawn from their own seed stream."""
    subjects = []
    for index in range(1, num_subjects + 1):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1, index]))
        style = SubjectStyle(
            amplitude=float(rng.uniform(0.85, 1.1)),
            tempo=float(rng.uniform(0.85, 1.15)),
            arm_rest_deg=float(rng.uniform(70.0, 82.0)),
            stance_deg=float(rng.uniform(1.0, 5.0)),
        )
        # Clipped so that no subject is an extreme body in a real shape space.
        betas = np.clip(rng.normal(0.0, betas_std, size=10), -3 * betas_std, 3 * betas_std)
        pid = subject_id(index)
        subjects.append(Subject(pid, subject_split(pid), style, betas.astype(np.float32)))
    return subjects


def allocate_sequences(subjects: list[Subject], num_sequences: int) -> list[Subject]:
    """The performing subject of each sequence, ordered by subject (and so by split share per subject)."""
    by_split = {split: [s for s in subjects if s.split == split] for split in SPLITS}
    present = [split for split in SPLITS if by_split[split]]
    counts = {split: 0 for split in SPLITS}
    if present:
        total_share = sum(SPLIT_SHARES[s] for s in present)
        for split in present:
            counts[split] = round(num_sequences * SPLIT_SHARES[split] / total_share)
        # Every split with a subject gets a sequence if there are enough; the largest split absorbs rounding.
        for split in present:
            if counts[split] == 0 and num_sequences >= len(present):
                counts[split] = 1
        largest = max(present, key=lambda s: SPLIT_SHARES[s])
        counts[largest] += num_sequences - sum(counts.values())
    per_subject: dict[str, int] = {}
    for split in present:
        members = by_split[split]
        base, extra = divmod(counts[split], len(members))
        for i, subject in enumerate(members):
            per_subject[subject.subject_id] = base + (1 if i < extra else 0)
    return [s for s in subjects for _ in range(per_subject.get(s.subject_id, 0))]
