"""Mean and 95% confidence interval of each metric over replications, as papers report "mean ± interval".

Matches ``get_metric_statistics`` of ``text-to-motion:final_evaluations.py`` (the same in MDM, T2M-GPT,
MoMask, FlowMDM)::

    mean = np.mean(values, axis=0)
    conf_interval = 1.96 * np.std(values, axis=0) / np.sqrt(replication_times)

with ``np.std``'s default ``ddof=0`` (the population deviation, not the sample one) and ``R = 20``
replications for HumanML3D / KIT-ML (10 for BABEL in FlowMDM). A metric may be a vector per replication
(R-precision top-1/2/3): statistics are then per component, as ``axis=0`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError

__all__ = ["Z_95", "ReplicationStatistics", "mean_and_interval", "replication_statistics"]

Z_95 = 1.96


@dataclass(frozen=True)
class ReplicationStatistics:
    """Per metric: the mean, the 95% interval half-width and the number of replications it came from.

    Values are floats, or float64 arrays for vector metrics such as R-precision ``(3,)``.
    """

    mean: dict[str, float | np.ndarray]
    interval: dict[str, float | np.ndarray]
    replications: dict[str, int]

    def formatted(self, metric: str, digits: int = 3) -> str:
        """``"0.511±0.003"`` (vector metrics: one such string per component, separated by ``", "``)."""
        means = np.atleast_1d(self.mean[metric])
        intervals = np.atleast_1d(self.interval[metric])
        return ", ".join(f"{m:.{digits}f}±{i:.{digits}f}" for m, i in zip(means, intervals, strict=True))

    def to_dict(self) -> dict[str, dict[str, object]]:
        """JSON-ready ``{metric: {"mean": ..., "interval": ..., "replications": R}}``."""

        def plain(value: float | np.ndarray) -> float | list[float]:
            return value.tolist() if isinstance(value, np.ndarray) else float(value)

        return {
            name: {
                "mean": plain(self.mean[name]),
                "interval": plain(self.interval[name]),
                "replications": self.replications[name],
            }
            for name in self.mean
        }


def mean_and_interval(
    values: Sequence[float] | np.ndarray | torch.Tensor,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Mean and ``1.96 * std / sqrt(R)`` (``std`` with ``ddof=0``) over the first axis of ``values``.

    The official ``get_metric_statistics(values, replication_times=len(values))``. Raises
    ``MogenBenchError`` for no replications or non-finite values.
    """
    array = _values("values", values)
    mean = array.mean(axis=0)
    interval = Z_95 * array.std(axis=0) / np.sqrt(array.shape[0])
    if array.ndim == 1:
        return float(mean), float(interval)
    return mean, interval


def replication_statistics(
    results: Mapping[str, Sequence[float] | Sequence[Sequence[float]] | np.ndarray | torch.Tensor],
) -> ReplicationStatistics:
    """Statistics of every metric in ``{metric: values over replications}``.

    Each metric's ``R`` is its own number of values (MultiModality may run on fewer replications than the
    rest, as in MDM's ``mm_short`` mode).
    """
    means: dict[str, float | np.ndarray] = {}
    intervals: dict[str, float | np.ndarray] = {}
    counts: dict[str, int] = {}
    for name, values in results.items():
        means[name], intervals[name] = mean_and_interval(_values(name, values))
        counts[name] = len(values)
    return ReplicationStatistics(mean=means, interval=intervals, replications=counts)


def _values(name: str, values: object) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MogenBenchError(
            f"metric {name!r} needs a list of numbers (one per replication), got {type(values).__name__}",
            field=name,
            fix="pass {metric: [value of replication 1, value of replication 2, ...]}",
        ) from None
    if array.ndim == 0 or array.shape[0] == 0 or array.ndim > 2:
        raise MogenBenchError(
            f"metric {name!r} needs one value (or one vector) per replication, got shape {array.shape}",
            field=name,
            fix="pass at least one replication",
        )
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)).tolist()
        raise MogenBenchError(
            f"metric {name!r} has NaN or infinite values in replication(s) {bad}",
            field=name,
            fix="find why those replications failed (NaN embeddings?) and rerun them",
        )
    return array
