"""Held-out part combinations: pairs of primitives that only test subjects ever perform together.

Compositional generalisation is what fine-grained annotations are for, so the test split should hold
part combinations a model never saw in training (e.g. "waves the left hand" while "walking backward").
A combination is a pair of ``(part, primitive name)`` on two different parts. The set is drawn from the
seed and closed under mirroring (with ``left_arm:wave`` + ``head:nod`` comes ``right_arm:wave`` +
``head:nod``), because every sequence ships with its mirrored copy in the same split: a train sequence
avoids the whole set, so its mirror does too. Only freely combinable parts take part (head, spine,
arms, trajectory); the legs follow the trajectory.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from mogen_bench.synth.catalogue import CATALOGUE, INCOMPATIBLE, NEUTRAL, PART_KIND, StageSpec, mirror_part

#: The parts whose primitives can be forced freely (legs are fixed by the trajectory or a free leg choice).
COMBINABLE_PARTS: tuple[str, ...] = ("head", "spine", "left_arm", "right_arm", "trajectory")

Combination = tuple[tuple[str, str], tuple[str, str]]


def _normalise(a: tuple[str, str], b: tuple[str, str]) -> Combination:
    return (a, b) if a <= b else (b, a)


def mirror_combination(combination: Combination) -> Combination:
    (pa, na), (pb, nb) = combination
    return _normalise((mirror_part(pa), na), (mirror_part(pb), nb))


def candidate_combinations() -> list[Combination]:
    """Every compatible pair of non-neutral primitives on two different combinable parts, in a fixed order."""
    options = [
        (part, name)
        for part in COMBINABLE_PARTS
        for name in CATALOGUE[PART_KIND[part]]
        if name != NEUTRAL[PART_KIND[part]]
    ]
    return sorted(
        _normalise(a, b)
        for a, b in itertools.combinations(options, 2)
        if a[0] != b[0] and frozenset({(PART_KIND[a[0]], a[1]), (PART_KIND[b[0]], b[1])}) not in INCOMPATIBLE
    )


@dataclass(frozen=True)
class HeldOut:
    """A mirror-closed set of held-out combinations."""

    combinations: tuple[Combination, ...]

    @classmethod
    def draw(cls, count: int, seed: int) -> HeldOut:
        """``count`` combinations drawn from the seed, plus their mirror images."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        candidates = candidate_combinations()
        chosen: set[Combination] = set()
        drawn = 0
        for index in rng.permutation(len(candidates)):
            if drawn >= count:
                break
            combination = candidates[index]
            if combination in chosen:  # the mirror image of one drawn before
                continue
            chosen.update({combination, mirror_combination(combination)})
            drawn += 1
        return cls(tuple(sorted(chosen)))

    def found_in(self, stage: StageSpec) -> list[Combination]:
        """The held-out combinations a stage performs."""
        names = {(part, p.name) for part, p in stage.parts}
        return [c for c in self.combinations if c[0] in names and c[1] in names]

    def labels(self) -> list[list[str]]:
        """``[["head:nod", "left_arm:wave"], ...]`` for ``synth.json``."""
        return [[f"{p}:{n}" for p, n in c] for c in self.combinations]
