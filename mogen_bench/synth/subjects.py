"""Synthetic subjects: ids ``p000001...``, their split, how many sequences each performs, and their style.

A subject's split is ``mogen_bench.data.splits.subject_split`` of its id, the rule every HuMMan-MoGen-layout
source uses, so MoGen-Synth prepared like a real release lands in the same splits. The hash puts subjects
80/5/15 into train/val/test only on average; with few subjects one split can get much more or less than
its share. So the sequences are handed out per split (80/5/15 of them, at least one for every split that
has a subject) and then round-robin over that split's subjects.

Subject size. Every subject has a body of its own, in the shape space of the project's synthetic SMPL
model (``motion.synthetic_smpl``, written beside the data as ``body_model/SMPL_NEUTRAL.npz``), where beta 0
scales the whole skeleton about the pelvis by 5% per unit: a bone-length scale. A subject's ``size`` is
drawn uniformly from ``[config.min_size, config.max_size]`` (0.85 to 1.15 by default; see the README for
the heights that gives) and stored as ``beta0 = (size - 1) / 0.05``. Betas 1 and 2 are random proportions
(``N(0, betas_std)``, clipped at 3 std): beta 1 stretches the body vertically and beta 2 widens it, by 5%
per unit. Betas 3-9, which move single joints by at most 5 mm per unit in no symmetric way, are drawn a
fifth as wide (``DETAIL_SHARE``), so a subject's left and right stay mirror images to within about 2.5 cm
(the neutral skeleton's own asymmetry is 1.4 cm, at the hands) and the mirrored copies stay faithful. The
betas are constant over the subject's frames, as in HuMMan-MoGen. The generator poses, grounds and
foot-locks every motion on the subject's own skeleton (``assemble``), so a bigger subject stands with its
pelvis higher and takes longer steps, and its feet stay on the floor. Besides its body a subject has a
style: how far and how fast it moves, how wide it stands, how its arms hang.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mogen_bench.data.splits import SPLITS, subject_split

#: Scale of the whole body per unit of beta 0 in the synthetic SMPL model's shape space
#: (``motion.synthetic_smpl``: "+1 = 5% larger", about the pelvis).
SIZE_PER_BETA0 = 0.05

#: Spread of betas 3-9 (asymmetric per-joint details) relative to ``betas_std``.
DETAIL_SHARE = 0.2

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
    #: ``(10,)`` float32 SMPL shape coefficients in the synthetic model's space, written to every frame of
    #: the subject's sequences; ``betas[0]`` encodes the size.
    betas: np.ndarray

    @property
    def size(self) -> float:
        """Bone-length scale of the body (1 = the neutral skeleton), as the stored beta 0 says."""
        return size_of_betas(self.betas)


def size_of_betas(betas: np.ndarray) -> float:
    """The bone-length scale that beta 0 encodes: ``1 + 0.05 * betas[0]``."""
    return 1.0 + SIZE_PER_BETA0 * float(np.asarray(betas, dtype=np.float64).reshape(-1)[0])


def betas_of_size(size: float, proportions: np.ndarray) -> np.ndarray:
    """float32 betas ``(1 + len(proportions),)``: beta 0 for ``size``, then the other coefficients."""
    return np.concatenate([[(size - 1.0) / SIZE_PER_BETA0], proportions]).astype(np.float32)


def subject_id(index: int) -> str:
    """``p000001`` for index 1, as HuMMan-MoGen names its subjects."""
    return f"p{index:06d}"


def make_subjects(
    num_subjects: int, seed: int, betas_std: float, size_range: tuple[float, float] = (1.0, 1.0)
) -> list[Subject]:
    """Subjects ``p000001 .. p{num_subjects}`` with styles, sizes (uniform in ``size_range``) and betas
    drawn from their own seed stream."""
    subjects = []
    for index in range(1, num_subjects + 1):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1, index]))
        style = SubjectStyle(
            amplitude=float(rng.uniform(0.85, 1.1)),
            tempo=float(rng.uniform(0.85, 1.15)),
            arm_rest_deg=float(rng.uniform(70.0, 82.0)),
            stance_deg=float(rng.uniform(1.0, 5.0)),
        )
        # Clipped so that no subject has extreme proportions.
        proportions = np.clip(rng.normal(0.0, betas_std, size=10), -3 * betas_std, 3 * betas_std)[1:]
        proportions[2:] *= DETAIL_SHARE
        size = float(rng.uniform(*size_range))
        pid = subject_id(index)
        subjects.append(Subject(pid, subject_split(pid), style, betas_of_size(size, proportions)))
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
