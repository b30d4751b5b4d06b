"""Timestep respacing: sample with a subset of the training timesteps (guided-diffusion's ``respace.py``).

``space_timesteps(1000, "15,15,8,6,6")`` splits the 1000 steps into 5 equal sections and takes 15, 15, 8, 6
and 6 evenly spaced steps from them (FineMoGen's 50-step test set); ``"ddim50"`` takes every ``1000 / 50``-th
step as the DDIM paper. ``SpacedDiffusion`` keeps the kept steps' ``alpha_bar`` and recomputes
``beta_i = 1 - ab[i] / ab[prev kept]``, so its marginals ``q(x_t | x_0)`` are those of the original process at
the kept timesteps. Samplers give denoisers the original timestep ``timestep_map[i]`` of index ``i`` (as
guided-diffusion's ``_WrappedModel`` with ``rescale_timesteps=False``, which FineMoGen and MDM use).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from mogen_bench.diffusion.gaussian import GaussianDiffusion
from mogen_bench.errors import MogenBenchError

__all__ = ["SpacedDiffusion", "space_timesteps"]


def space_timesteps(num_timesteps: int, section_counts: str | Sequence[int]) -> set[int]:
    """The timesteps to keep, with guided-diffusion's section semantics.

    ``section_counts`` is a comma-separated string (or a list) of step counts, one per equal section of
    ``range(num_timesteps)`` (the first ``num_timesteps % len`` sections are one step longer); each section
    keeps its first and last step and spreads the rest at a fractional stride, rounded (Python ``round``).
    ``"ddimN"`` keeps ``range(0, num_timesteps, stride)`` for the integer stride that gives exactly ``N``.
    """
    if isinstance(section_counts, str):
        text = section_counts.strip()
        if text.startswith("ddim"):
            try:
                desired = int(text[len("ddim") :])
            except ValueError:
                raise _bad(section_counts, num_timesteps) from None
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return set(range(0, num_timesteps, stride))
            raise MogenBenchError(
                f"cannot take exactly {desired} of {num_timesteps} steps with an integer stride",
                field="respacing",
                fix="pick a count whose stride is an integer (ddim50, ddim100, ...) or use a section string",
            )
        try:
            counts = [int(part) for part in text.split(",")]
        except ValueError:
            raise _bad(section_counts, num_timesteps) from None
    else:
        counts = [int(c) for c in section_counts]
    if not counts or any(c < 0 for c in counts):
        raise _bad(section_counts, num_timesteps)

    size_per, extra = divmod(num_timesteps, len(counts))
    start = 0
    steps: list[int] = []
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise MogenBenchError(
                f"section {i} of the respacing has {size} steps, cannot take {count} from it",
                field="respacing",
                fix=f"take at most {size} steps per section of {num_timesteps} // {len(counts)}",
            )
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        # Accumulate the fractional index as guided-diffusion does, so rounding lands on the same steps.
        position = 0.0
        for _ in range(count):
            steps.append(start + round(position))
            position += stride
        start += size
    return set(steps)


def _bad(value: object, num_timesteps: int) -> MogenBenchError:
    return MogenBenchError(
        f"cannot read the respacing {value!r}",
        field="respacing",
        fix=f"give comma-separated step counts (e.g. '15,15,8,6,6') or 'ddimN' (N steps of {num_timesteps})",
    )


class SpacedDiffusion(GaussianDiffusion):
    """``base`` restricted to the original timesteps ``use_timesteps``; index ``i`` is ``timestep_map[i]``."""

    def __init__(self, base: GaussianDiffusion, use_timesteps: Iterable[int]) -> None:
        kept = np.array(sorted({int(t) for t in use_timesteps}), dtype=np.int64)
        positions = np.searchsorted(base.timestep_map, kept)
        inside = positions < base.timestep_map.size
        if kept.size == 0 or not inside.all() or (base.timestep_map[positions] != kept).any():
            known = base.timestep_map
            raise MogenBenchError(
                f"respacing must keep a non-empty subset of the diffusion's timesteps "
                f"({known[0]}..{known[-1]}, {known.size} of them), got {kept.tolist()[:8]}"
                f"{'...' if kept.size > 8 else ''}",
                field="respacing",
                fix="keep timesteps the diffusion has, e.g. diffusion.respaced('ddim50')",
            )
        alphas_cumprod = base.alphas_cumprod[positions]
        betas = 1.0 - alphas_cumprod / np.append(1.0, alphas_cumprod[:-1])
        super().__init__(betas, prediction=base.prediction, variance=base.variance)
        self.base = base
        self.timestep_map = base.timestep_map[positions]

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, of {self.base.num_timesteps})"
