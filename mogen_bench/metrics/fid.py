"""FID: the Fréchet distance between Gaussians fitted to two sets of evaluator embeddings.

Matches ``calculate_activation_statistics`` and ``calculate_frechet_distance`` of
``EricGuo5513/text-to-motion:utils/metrics.py`` (copied unchanged by MDM, MotionDiffuse, MoMask, T2M-GPT,
PriorMDM and FlowMDM)::

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))

The official code takes ``scipy.linalg.sqrtm(S1 @ S2)`` of a non-symmetric product: a Schur decomposition
(~0.3 s at 512 dims on one core with SciPy 1.17, against ~30 ms for the route below), which can fail with
"Imaginary component" on degenerate covariances, retries with ``1e-6 * I`` only on non-finite output,
and calls ``disp=False``, which SciPy 1.18 removed. Only the trace is needed, and the eigenvalues of
``S1 S2`` are those of the symmetric positive semi-definite ``F^T S2 F`` for any factor ``F F^T = S1``, so
here (all float64)::

    tr(sqrt(S1 S2)) = sum_i sqrt(lambda_i(F^T S2 F))

``F`` is the Cholesky factor of ``S1`` when ``S1`` is positive definite (the usual case: more samples than
dimensions; ~4 ms at 512 dims, where ``sqrt(S1)`` from ``eigh`` with eigenvectors costs ~100 ms),
otherwise ``V diag(sqrt(w))`` from the symmetric eigen-decomposition ``S1 = V diag(w) V^T`` (a
rank-deficient set, e.g. fewer samples than dimensions or a collapsed model). Both factors give the same
eigenvalues as ``sqrt(S1) S2 sqrt(S1)``. Eigenvalues of the positive semi-definite ``S1`` and ``F^T S2 F``
at rounding level (below ``n * eps * largest``, ``np.linalg.matrix_rank``'s tolerance, negative ones
included) are set to 0 before the square root: they are zeros of a PSD matrix that rounding moved, the
clamp keeps the result real where ``sqrtm`` returns a complex matrix, and zeroing the tiny positive ones
keeps ``sqrt`` from magnifying rounding on rank-deficient sets (fewer samples than dimensions).

On 4,384 x 512 embeddings this equals the classic formula to ~1e-11 relative, and on rank-deficient sets the
exact ``tr(sqrt(S1 S2))`` (the nuclear norm of the centred cross-Gram matrix) to ~1e-12
(``tests/test_metrics.py``).

The ground truth is the same in every replication (its embeddings are computed once and cached), so its
statistics and its factor ``F`` can be too: ``fid_statistics(gt)`` once, then ``fid_from_statistics(gt_stats,
generated)`` per replication, which computes the generated set's covariance (``np.cov``'s rank-k update, the
bulk of the time), two triangular products and one ``eigvalsh``. It runs exactly the operations of
``fid(gt, generated)`` minus the ground truth's share, so it returns the same float. (The official drivers
recompute the ground truth's ``calculate_activation_statistics`` in every replication.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from scipy.linalg.blas import dtrmm

from mogen_bench.errors import MogenBenchError
from mogen_bench.metrics._inputs import array64, at_least, embeddings, require_finite
from mogen_bench.motion.tensors import shape_text

__all__ = [
    "FIDStatistics",
    "activation_statistics",
    "fid",
    "fid_from_statistics",
    "fid_statistics",
    "frechet_distance",
]


def activation_statistics(activations: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` of embeddings ``(N, D)``, float64 numpy.

    Matches the official ``calculate_activation_statistics``: ``X.mean(0)`` and ``np.cov(X, rowvar=False)``
    (unbiased, ``N - 1``). The covariance is bit-identical to ``np.cov`` (the same centring, the same
    symmetric ``X^T X`` product, the same ``* 1/(N-1)``) without its extra float64 copy of the data; the
    mean is float64 even for float32 input (``np.mean`` of float32 rounds to float32). Raises
    ``MogenBenchError`` for NaN rows (named) or fewer than 2 samples.
    """
    func = "activation_statistics"
    x = embeddings(func, "activations", activations, check=False)
    at_least(func, "activations", x.shape[0], 2, "samples", "pass at least 2 embeddings")
    mu = x.mean(axis=0, dtype=np.float64)
    if not np.isfinite(mu).all():  # a NaN or infinity anywhere shows in the mean: look for the rows only then
        require_finite(func, "activations", x)
        raise MogenBenchError(
            f"{func}() got embeddings too large to average in float64",
            field="activations",
            fix="check the evaluator's output",
        )
    centred = x - mu  # float64 whatever the input dtype
    sigma = centred.T @ centred  # numpy runs A^T A as one symmetric rank-k update, as in np.cov
    sigma *= np.true_divide(1, x.shape[0] - 1)
    return mu, sigma


def frechet_distance(
    mu1: np.ndarray | torch.Tensor,
    sigma1: np.ndarray | torch.Tensor,
    mu2: np.ndarray | torch.Tensor,
    sigma2: np.ndarray | torch.Tensor,
) -> float:
    """Fréchet distance of N(mu1, sigma1) and N(mu2, sigma2), as the official ``calculate_frechet_distance``.

    The official drivers call it as ``(gt_mu, gt_cov, mu, cov)``; the distance is symmetric. See the module
    docstring for how ``tr(sqrt(S1 S2))`` is computed without ``sqrtm``.
    """
    func = "frechet_distance"
    m1 = _vector(func, "mu1", mu1)
    m2 = _vector(func, "mu2", mu2)
    s1 = _covariance(func, "sigma1", sigma1, m1.shape[0])
    s2 = _covariance(func, "sigma2", sigma2, m1.shape[0])
    if m2.shape != m1.shape:
        raise MogenBenchError(
            f"{func}() got means of different sizes {m1.shape[0]} and {m2.shape[0]}",
            field="mu2",
            fix="compare embeddings of the same evaluator (same embedding size)",
        )
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))


@dataclass(frozen=True, eq=False)
class FIDStatistics:
    """One embedding set's FID statistics, computed once to be compared with many sets.

    ``mu`` ``(D,)`` and ``sigma`` ``(D, D)`` are the official ``calculate_activation_statistics``;
    ``factor`` is ``F`` with ``F F^T = sigma`` (lower Cholesky factor, or ``V sqrt(w)`` from ``eigh`` when
    ``sigma`` is singular; ``triangular`` says which) and ``trace`` is ``np.trace(sigma)``. Unpacks as
    ``mu, sigma = stats`` like ``activation_statistics``. Build it with ``fid_statistics(embeddings)`` or
    ``FIDStatistics.from_moments(mu, sigma)``.
    """

    mu: np.ndarray
    sigma: np.ndarray
    factor: np.ndarray
    triangular: bool
    trace: float

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.mu, self.sigma))

    @classmethod
    def from_moments(cls, mu: np.ndarray | torch.Tensor, sigma: np.ndarray | torch.Tensor) -> FIDStatistics:
        """Statistics from a given mean ``(D,)`` and covariance ``(D, D)`` (e.g. published ground-truth
        statistics), checked as ``frechet_distance`` checks them."""
        func = "FIDStatistics.from_moments"
        m = _vector(func, "mu", mu)
        return _statistics(m, _covariance(func, "sigma", sigma, m.shape[0]), symmetric=False)


def fid_statistics(embeddings: np.ndarray | torch.Tensor) -> FIDStatistics:
    """``FIDStatistics`` of embeddings ``(N, D)``: the official ``calculate_activation_statistics`` (as
    ``activation_statistics``) plus the covariance's factor for ``fid_from_statistics``.

    Compute it once for the ground truth, which is the same in every replication. Raises
    ``MogenBenchError`` as ``activation_statistics`` does.
    """
    mu, sigma = activation_statistics(embeddings)
    return _statistics(mu, sigma, symmetric=True)


def fid_from_statistics(
    reference: FIDStatistics, generated: np.ndarray | torch.Tensor | FIDStatistics
) -> float:
    """FID of ``generated`` (embeddings ``(N, D)``, or their ``FIDStatistics``) against cached ``reference``
    statistics: the official ``calculate_frechet_distance(gt_mu, gt_cov, mu, cov)`` after
    ``calculate_activation_statistics`` of the generated embeddings.

    The same float as ``fid(reference embeddings, generated)`` and ``frechet_distance(gt_mu, gt_cov, mu,
    cov)``: the same operations, without recomputing the reference's covariance and factor.
    """
    if not isinstance(reference, FIDStatistics):
        raise MogenBenchError(
            f"fid_from_statistics() needs the reference as FIDStatistics, got {type(reference).__name__}",
            field="reference",
            fix="pass fid_statistics(ground_truth_embeddings), computed once",
        )
    if isinstance(generated, FIDStatistics):
        mu, sigma = generated.mu, generated.sigma
    else:
        mu, sigma = activation_statistics(generated)
    if mu.shape != reference.mu.shape:
        raise MogenBenchError(
            f"fid_from_statistics() got embeddings of size {mu.shape[0]} for a reference of size "
            f"{reference.mu.shape[0]}",
            field="generated",
            fix="embed both sets with the same evaluator",
        )
    diff = reference.mu - mu
    # sigma is exactly symmetric (activation_statistics fills one triangle from the other), so the
    # symmetrisation in trace_sqrt_product would return it unchanged
    root = _trace_sqrt_from_factor(reference.factor, reference.triangular, sigma)
    return float(diff @ diff + reference.trace + np.trace(sigma) - 2.0 * root)


def fid(reference: np.ndarray | torch.Tensor, generated: np.ndarray | torch.Tensor) -> float:
    """FID between two embedding sets ``(N1, D)`` and ``(N2, D)``.

    This is the official ``evaluate_fid`` step: ``calculate_activation_statistics`` of the ground-truth
    embeddings and of the generated ones, then ``calculate_frechet_distance(gt_mu, gt_cov, mu, cov)``; the
    same float as ``frechet_distance`` of the two ``activation_statistics``. Against a reference used more
    than once, compute ``fid_statistics(reference)`` once and call ``fid_from_statistics``.
    """
    return fid_from_statistics(fid_statistics(reference), generated)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, *, factor: str = "auto") -> float:
    """``tr(sqrt(sigma1 @ sigma2))`` for symmetric PSD float64 matrices, via a symmetric eigenproblem.

    ``factor`` picks how ``sigma1 = F F^T`` is factored: ``"auto"`` (Cholesky, falling back to the
    eigen-decomposition when ``sigma1`` is not positive definite) or ``"eigh"`` (always the
    eigen-decomposition, ``F = V sqrt(w)``: the textbook ``sqrt(S1) S2 sqrt(S1)`` route, for cross-checks).
    """
    if factor not in ("auto", "eigh"):
        raise ValueError(f"factor must be 'auto' or 'eigh', got {factor!r}")
    s1 = 0.5 * (sigma1 + sigma1.T)
    s2 = 0.5 * (sigma2 + sigma2.T)
    f, triangular = _factor(s1, cholesky=factor == "auto")
    return _trace_sqrt_from_factor(f, triangular, s2)


def _statistics(mu: np.ndarray, sigma: np.ndarray, *, symmetric: bool) -> FIDStatistics:
    """``FIDStatistics`` of ``(mu, sigma)``, factoring ``sigma`` as ``trace_sqrt_product`` does."""
    s = sigma if symmetric else 0.5 * (sigma + sigma.T)
    f, triangular = _factor(s, cholesky=True)
    return FIDStatistics(mu=mu, sigma=s, factor=f, triangular=triangular, trace=np.trace(s))


def _factor(s1: np.ndarray, *, cholesky: bool) -> tuple[np.ndarray, bool]:
    """``F`` with ``F F^T = s1`` (symmetric PSD) and whether it is the lower Cholesky factor.

    The Cholesky factor when ``cholesky`` and ``s1`` is positive definite, else ``V sqrt(w)`` from
    ``s1 = V diag(w) V^T`` with rounding-level eigenvalues zeroed.
    """
    if cholesky:
        try:
            return scipy.linalg.cholesky(s1, lower=True, check_finite=False), True
        except np.linalg.LinAlgError:
            pass  # singular or numerically indefinite: the eigen route below handles it
    w, v = np.linalg.eigh(s1)
    return v * np.sqrt(_zero_rounding(w)), False


def _trace_sqrt_from_factor(f: np.ndarray, triangular: bool, s2: np.ndarray) -> float:
    """``sum sqrt(eig(F^T S2 F))`` = ``tr(sqrt(S1 S2))`` for ``F F^T = S1`` and a symmetric PSD ``s2``."""
    if triangular:
        # F^T (S2 F) with F triangular: two triangular products, half the work of two full ones, in place on
        # one Fortran-order copy of S2 (= S2^T, whose memory is already in Fortran order: a plain copy)
        product = dtrmm(1.0, f, np.array(s2.T, order="F"), side=1, lower=1, overwrite_b=1)
        inner = dtrmm(1.0, f, product, side=0, lower=1, trans_a=1, overwrite_b=1)
    else:
        inner = f.T @ s2 @ f
    # F^T S2 F is symmetric up to rounding; eigvalsh reads its lower triangle only
    eigenvalues = np.linalg.eigvalsh(inner, UPLO="L")
    return float(np.sqrt(_zero_rounding(eigenvalues)).sum())


def _zero_rounding(eigenvalues: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with the ones at rounding level (``<= n * eps * max``) set to exactly 0.

    Negative ones are rounding by definition; tiny positive ones would add ``sqrt(1e-13 * scale)`` each to
    the trace (the square root magnifies rounding), which is visible when the covariance is rank-deficient.
    The tolerance is the one ``np.linalg.matrix_rank`` uses.
    """
    tolerance = eigenvalues.shape[0] * np.finfo(np.float64).eps * max(float(eigenvalues.max()), 0.0)
    return np.where(eigenvalues > tolerance, eigenvalues, 0.0)


def _check_finite(func: str, name: str, x: np.ndarray) -> None:
    if not np.isfinite(x).all():
        raise MogenBenchError(
            f"{func}() found NaN or infinity in {name}",
            field=name,
            fix="check the embeddings for NaN rows (activation_statistics names them)",
        )


def _vector(func: str, name: str, value: object) -> np.ndarray:
    x = array64(func, name, value, "(D,)")
    if x.ndim != 1:
        raise MogenBenchError(
            f"{func}() needs {name} of shape (D,), got {shape_text(x.shape)}",
            field=name,
            fix="pass the mean returned by activation_statistics()",
        )
    _check_finite(func, name, x)
    return x


def _covariance(func: str, name: str, value: object, size: int) -> np.ndarray:
    array = array64(func, name, value, f"({size}, {size})")
    if array.shape != (size, size):
        raise MogenBenchError(
            f"{func}() needs {name} of shape ({size}, {size}), got {shape_text(array.shape)}",
            field=name,
            fix="pass the covariance returned by activation_statistics()",
        )
    _check_finite(func, name, array)
    scale = float(np.abs(array).max()) or 1.0
    if float(np.abs(array - array.T).max()) > 1e-8 * scale:
        raise MogenBenchError(
            f"{func}() needs a symmetric covariance {name}", field=name, fix="pass np.cov(X, rowvar=False)"
        )
    return array
