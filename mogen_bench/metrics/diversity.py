"""Diversity and MultiModality: mean distances between randomly paired embeddings.

Official (``text-to-motion:utils/metrics.py``, copied by MDM, MoMask, T2M-GPT, PriorMDM, FlowMDM):

- ``calculate_diversity(X (N, D), diversity_times=300)``: asserts ``N > 300``; ``first =
  np.random.choice(N, 300, replace=False)``, then ``second = np.random.choice(N, 300, replace=False)``,
  drawn independently (a pair can be ``(i, i)``); returns ``mean |X[first] - X[second]|``.
- ``calculate_multimodality(A (S, R, D), multimodality_times=10)``: asserts ``R > 10``; ``first =
  np.random.choice(R, 10, replace=False)``, then ``second`` likewise; the same index pairs serve every text;
  returns the mean of ``|A[:, first] - A[:, second]|`` over the ``S x 10`` pairs. The published setup is
  ``S = 100`` texts and ``R = 30`` generations each.

The official code draws from NumPy's global legacy ``RandomState`` (``np.random.choice``), whatever state the
driver's ``fixseed`` and data loaders left it in. Two variants of each metric:

- ``diversity`` / ``multimodality`` take an explicit ``np.random.Generator`` (or an int seed for
  ``np.random.default_rng``) and make the same two ``choice(n, times, replace=False)`` calls on it:
  same algorithm and reproducible, but a ``Generator`` draws different indices from a ``RandomState`` with
  the same seed.
- ``diversity_legacy`` / ``multimodality_legacy`` make exactly the official calls on a legacy
  ``RandomState``: ``None`` uses (and advances) NumPy's global state, as the official code does, so after
  ``np.random.seed(s)`` they return the official numbers for seed ``s``; an int ``s`` uses
  ``np.random.RandomState(s)``, which draws the same indices as the global state after ``np.random.seed(s)``.

Distances are computed in float64 numpy, all pairs (and texts) at once; the official code computes them in
the embeddings' own dtype (float32 from the evaluator), so the two agree to ~1e-7 relative on float32 input
and exactly on float64.
"""

from __future__ import annotations

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.metrics import _inputs

__all__ = [
    "DIVERSITY_TIMES",
    "MULTIMODALITY_TIMES",
    "diversity",
    "diversity_legacy",
    "multimodality",
    "multimodality_legacy",
]

DIVERSITY_TIMES = 300
MULTIMODALITY_TIMES = 10


def diversity(
    embeddings: np.ndarray | torch.Tensor,
    *,
    rng: np.random.Generator | int,
    times: int = DIVERSITY_TIMES,
) -> float:
    """Diversity of embeddings ``(N, D)``: mean distance of ``times`` random pairs, indices from ``rng``.

    The official ``calculate_diversity`` with its two ``choice(N, times, replace=False)`` draws made on an
    explicit ``np.random.Generator`` (an int seeds ``np.random.default_rng``). Needs ``N > times``.
    """
    x = _set("diversity", embeddings, times)
    return _pairs_mean(x, *_draw(_generator(rng), x.shape[0], times))


def diversity_legacy(
    embeddings: np.ndarray | torch.Tensor,
    *,
    random_state: np.random.RandomState | int | None = None,
    times: int = DIVERSITY_TIMES,
) -> float:
    """Diversity exactly as the official ``calculate_diversity``, drawing from a legacy ``RandomState``.

    ``random_state=None`` draws from (and advances) NumPy's global state like the official code; an int
    seeds a fresh ``np.random.RandomState`` (the same indices as ``np.random.seed(int)`` then the official
    call).
    """
    x = _set("diversity_legacy", embeddings, times)
    return _pairs_mean(x, *_draw(_legacy(random_state), x.shape[0], times))


def multimodality(
    embeddings: np.ndarray | torch.Tensor,
    *,
    rng: np.random.Generator | int,
    times: int = MULTIMODALITY_TIMES,
) -> float:
    """MultiModality of embeddings ``(S, R, D)`` (``R`` generations for each of ``S`` texts).

    The official ``calculate_multimodality``: ``times`` index pairs drawn once (two ``choice(R, times,
    replace=False)`` on ``rng``), shared by all texts; the mean distance over the ``S x times`` pairs.
    Needs ``R > times``.
    """
    x = _mm_set("multimodality", embeddings, times)
    return _pairs_mean(x, *_draw(_generator(rng), x.shape[1], times))


def multimodality_legacy(
    embeddings: np.ndarray | torch.Tensor,
    *,
    random_state: np.random.RandomState | int | None = None,
    times: int = MULTIMODALITY_TIMES,
) -> float:
    """MultiModality exactly as the official ``calculate_multimodality`` (legacy ``RandomState``; ``None`` =
    NumPy's global state, as in ``diversity_legacy``)."""
    x = _mm_set("multimodality_legacy", embeddings, times)
    return _pairs_mean(x, *_draw(_legacy(random_state), x.shape[1], times))


def _set(func: str, value: object, times: int) -> np.ndarray:
    x = _inputs.embeddings(func, "embeddings", value)
    _check_times(func, times)
    if x.shape[0] <= times:
        raise MogenBenchError(
            f"{func}() needs more than {times} samples (the official code asserts N > diversity_times), "
            f"got {x.shape[0]}",
            field="embeddings",
            fix=f"evaluate more than {times} samples, or pass a smaller times= (and report it)",
        )
    return x


def _mm_set(func: str, value: object, times: int) -> np.ndarray:
    x = _inputs.embeddings(func, "embeddings", value, ndim=3, expected="(texts, repeats, D)")
    _check_times(func, times)
    if x.shape[0] == 0 or x.shape[1] <= times:
        raise MogenBenchError(
            f"{func}() needs at least one text and more than {times} generations per text, got "
            f"{x.shape[0]} texts x {x.shape[1]} generations",
            field="embeddings",
            fix="generate 30 motions for each of the 100 MultiModality texts (the published setup)",
        )
    return x


def _check_times(func: str, times: int) -> None:
    if int(times) < 1:
        raise MogenBenchError(f"{func}() needs times >= 1, got {times}", field="times", fix="use the default")


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise MogenBenchError(
        f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}",
        field="rng",
        fix="pass rng=np.random.default_rng(seed), or use the *_legacy function for the global RandomState",
    )


def _legacy(random_state: np.random.RandomState | int | None):
    if random_state is None:
        return np.random  # the module-level functions: NumPy's global RandomState, as the official code
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise MogenBenchError(
        f"random_state must be None, a numpy RandomState or an int seed, got {type(random_state).__name__}",
        field="random_state",
        fix="pass None to use NumPy's global state as the official code does",
    )


def _draw(source, n: int, times: int) -> tuple[np.ndarray, np.ndarray]:
    # Two independent draws, in this order: the official code's exact sequence of calls.
    first = source.choice(n, times, replace=False)
    second = source.choice(n, times, replace=False)
    return first, second


def _pairs_mean(x: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """Mean distance between ``x[..., first, :]`` and ``x[..., second, :]``, all pairs (and texts) at once."""
    a = x[..., first, :].astype(np.float64, copy=False)
    b = x[..., second, :].astype(np.float64, copy=False)
    return float(np.linalg.norm(a - b, axis=-1).mean())
