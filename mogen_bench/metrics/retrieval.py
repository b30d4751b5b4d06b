"""R-precision (top-1/2/3) and MM-Dist ("matching score") in pools of 32, formed as the official code does.

The official drivers (``text-to-motion:final_evaluations.py:evaluate_matching_score``, MDM's
``eval/eval_humanml.py``, PriorMDM/FlowMDM's BABEL copies) iterate a ``DataLoader(batch_size=32,
drop_last=True)`` and, per batch, compute the 32 x 32 Euclidean ``euclidean_distance_matrix(text, motion)``,
``argsort`` each text's row, count the texts whose own motion ranks within the first k (``calculate_top_k``),
and add ``trace(dist_mat)``. R-precision is ``sum of counts / number of pairs seen`` and MM-Dist is ``sum of
traces / number of pairs seen``. A pool is therefore one batch: the pairs at positions ``32p .. 32p + 31`` in
the order given (dataloader order), and a last incomplete batch is dropped (``drop_last=True``). FlowMDM's
composition loader keeps it: ``drop_last=False`` here scores it as one smaller pool. (FlowMDM also ranks
only the first of duplicated captions within a pool and rescales the count; that needs the captions and is
not done here.)

Here the pools are scored a block at a time as ``(P, 32, 32)`` arrays, in float64. Differences from the
official float32 code, none of which changes a published number beyond rounding:

- distances use ``sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))`` in float64 (the official float32 version has no
  clamp and returns NaN for near-identical vectors); for MM-Dist, pairs close enough for that expansion to
  lose precision (``d^2 < 1e-6 (|a|^2 + |b|^2)``) use ``|a_i - b_i|`` directly;
- a text's rank is the number of motions strictly closer than its own. ``np.argsort`` is not stable, so the
  official rank of exactly tied distances (duplicated embeddings within a pool) is arbitrary; here ties
  count in the text's favour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.metrics._inputs import embeddings

__all__ = [
    "POOL_SIZE",
    "TOP_K",
    "RetrievalMetrics",
    "mm_dist",
    "pool_distances",
    "r_precision",
    "retrieval_metrics",
]

POOL_SIZE = 32  # "This must be 32! Don't change it!" (MDM eval_humanml.py): chance level is k/32
TOP_K = 3


@dataclass(frozen=True)
class RetrievalMetrics:
    """R-precision ``(top_k,)`` (top-1, top-2, ...), MM-Dist, and how many pairs and pools were scored."""

    r_precision: np.ndarray
    mm_dist: float
    num_pairs: int
    num_pools: int


def retrieval_metrics(
    text: np.ndarray | torch.Tensor,
    motion: np.ndarray | torch.Tensor,
    *,
    pool_size: int = POOL_SIZE,
    top_k: int = TOP_K,
    drop_last: bool = True,
) -> RetrievalMetrics:
    """R-precision and MM-Dist of paired embeddings ``(N, D)``: ``text[i]`` describes ``motion[i]``.

    Matches the official per-batch ``calculate_R_precision(text, motion, top_k=3, sum_all=True)`` and
    ``euclidean_distance_matrix(...).trace()`` accumulated over batches of ``pool_size`` (see the module
    docstring). ``drop_last`` (the official loader's setting) drops the final ``N % pool_size`` pairs;
    ``False`` scores them as one smaller pool.
    """
    func = "retrieval_metrics"
    t = embeddings(func, "text", text)
    m = embeddings(func, "motion", motion)
    if t.shape != m.shape:
        raise MogenBenchError(
            f"{func}() needs text and motion embeddings of the same shape, got {t.shape} and {m.shape}",
            field="motion",
            fix="pass one motion embedding per text embedding, from the same evaluator",
        )
    if pool_size < 1 or not 1 <= top_k <= pool_size:
        raise MogenBenchError(
            f"{func}() needs pool_size >= 1 and 1 <= top_k <= pool_size, got {pool_size} and {top_k}",
            field="top_k",
            fix="use the published pool_size=32, top_k=3",
        )
    n = t.shape[0]
    full = n // pool_size
    if full == 0 and (drop_last or n == 0):
        raise MogenBenchError(
            f"{func}() needs at least {pool_size} pairs to form one pool, got {n}",
            field="text",
            fix=f"evaluate at least {pool_size} samples (the official loader drops an incomplete last batch)",
        )
    dim = t.shape[1]
    pools = []  # at most two shapes: all full pools at once, then the remainder as one smaller pool
    if full:
        end = full * pool_size
        pools.append((t[:end].reshape(full, pool_size, dim), m[:end].reshape(full, pool_size, dim)))
    if not drop_last and n % pool_size:
        pools.append((t[full * pool_size :][None], m[full * pool_size :][None]))
    hits = np.zeros(top_k, dtype=np.int64)
    distance_sum = 0.0
    scored = 0
    for pool_text, pool_motion in pools:
        pool_hits, pool_sum = _score_pools(pool_text, pool_motion, top_k)
        hits += pool_hits
        distance_sum += pool_sum
        scored += pool_text.shape[0] * pool_text.shape[1]
    return RetrievalMetrics(
        r_precision=hits / scored,
        mm_dist=distance_sum / scored,
        num_pairs=scored,
        num_pools=full + int(not drop_last and n % pool_size > 0),
    )


def r_precision(
    text: np.ndarray | torch.Tensor,
    motion: np.ndarray | torch.Tensor,
    *,
    pool_size: int = POOL_SIZE,
    top_k: int = TOP_K,
    drop_last: bool = True,
) -> np.ndarray:
    """Top-1..top-k R-precision ``(top_k,)`` in pools of ``pool_size`` (see ``retrieval_metrics``)."""
    return retrieval_metrics(text, motion, pool_size=pool_size, top_k=top_k, drop_last=drop_last).r_precision


def mm_dist(
    text: np.ndarray | torch.Tensor,
    motion: np.ndarray | torch.Tensor,
    *,
    pool_size: int = POOL_SIZE,
    drop_last: bool = True,
) -> float:
    """MM-Dist (the official "matching score"): mean distance of each text to its own motion, over the pairs
    the pools keep (see ``retrieval_metrics``)."""
    return retrieval_metrics(text, motion, pool_size=pool_size, top_k=1, drop_last=drop_last).mm_dist


def pool_distances(
    text: np.ndarray | torch.Tensor, motion: np.ndarray | torch.Tensor, *, pool_size: int = POOL_SIZE
) -> np.ndarray:
    """The ``(P, pool_size, pool_size)`` float64 text-to-motion distance matrices of the full pools.

    Entry ``[p, i, j]`` is the distance of text ``p * pool_size + i`` to motion ``p * pool_size + j``: one
    official ``euclidean_distance_matrix`` per batch.
    """
    t = embeddings("pool_distances", "text", text)
    m = embeddings("pool_distances", "motion", motion)
    if t.shape != m.shape:
        raise MogenBenchError(
            f"pool_distances() needs text and motion of the same shape, got {t.shape} and {m.shape}",
            field="motion",
            fix="pass one motion embedding per text embedding",
        )
    full, dim = t.shape[0] // pool_size, t.shape[1]
    end = full * pool_size
    t, m = t[:end].astype(np.float64, copy=False), m[:end].astype(np.float64, copy=False)
    return _distances(t[:end].reshape(full, pool_size, dim), m[:end].reshape(full, pool_size, dim))


def _distances(text: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(P, S, S)`` between pooled texts ``(P, S, D)`` and motions ``(P, S, D)``."""
    squared = _squared_distances(text, motion, _squared_norms(text), _squared_norms(motion))
    return np.sqrt(squared, out=squared)


def _squared_norms(x: np.ndarray) -> np.ndarray:
    # a (1, D) x (D, 1) product per row: BLAS dot products, ~2.5x faster than einsum's loop
    return np.matmul(x[..., None, :], x[..., :, None])[..., 0, 0]


def _squared_distances(
    text: np.ndarray, motion: np.ndarray, text_norms: np.ndarray, motion_norms: np.ndarray
) -> np.ndarray:
    """``|t|^2 + |m|^2 - 2 t.m`` per pool, clamped at 0: one small matrix product per pool."""
    squared = np.matmul(text, motion.transpose(0, 2, 1))
    squared *= -2.0
    squared += text_norms[:, :, None]
    squared += motion_norms[:, None, :]
    return np.maximum(squared, 0.0, out=squared)


def _score_pools(text: np.ndarray, motion: np.ndarray, top_k: int) -> tuple[np.ndarray, float]:
    """Top-1..top-k hit counts ``(top_k,)`` and the sum of own-pair distances over pools ``(P, S, D)``.

    Pools go in blocks of about 2 MB of float64 per side, cast from the input dtype block by block: no
    full-size float64 copy (two fresh 18 MB arrays per call at the published size, whose page faults cost
    more than the distances).
    """
    pools, size, dim = text.shape
    block = max(1, _BLOCK_VALUES // (size * dim))
    hits = np.zeros(top_k, dtype=np.int64)
    distance_sum = 0.0
    for start in range(0, pools, block):
        t = text[start : start + block].astype(np.float64, copy=False)
        m = motion[start : start + block].astype(np.float64, copy=False)
        block_hits, block_sum = _score_block(t, m, top_k)
        hits += block_hits
        distance_sum += block_sum
    return hits, distance_sum


_BLOCK_VALUES = 1 << 18  # float64 values per side and block: 2 MB, cache-sized


def _score_block(text: np.ndarray, motion: np.ndarray, top_k: int) -> tuple[np.ndarray, float]:
    """``_score_pools`` of one block of float64 pools ``(P, S, D)``."""
    text_norms, motion_norms = _squared_norms(text), _squared_norms(motion)
    squared = _squared_distances(text, motion, text_norms, motion_norms)
    own = np.diagonal(squared, axis1=1, axis2=2).copy()
    # Rank of each text's own motion = how many motions of its pool are strictly closer (squares rank alike).
    rank = (squared < own[..., None]).sum(-1)
    hits = (rank[..., None] < np.arange(1, top_k + 1)).sum((0, 1))
    # The expansion loses relative precision eps * (|t|^2 + |m|^2) / d^2 on a pair's own distance d; where
    # that could exceed ~1e-9 (near-identical pairs), take the difference itself.
    close = own < 1e-6 * (text_norms + motion_norms)
    if close.any():
        own[close] = _squared_norms(text[close] - motion[close])
    return hits, float(np.sqrt(own).sum())
