"""The evaluation metrics against straightforward transcriptions of the published code, on fixed seeds.

The ``official_*`` functions below are line-by-line numpy transcriptions of
``EricGuo5513/text-to-motion:utils/metrics.py`` and its driver loop (``final_evaluations.py``), FlowMDM's
``calculate_jerk`` / ``evaluate_jerk`` and GMD's ``calculate_skating_ratio``; the batched float64 metrics must
reproduce them, and golden literals pin the numbers on fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter1d

from mogen_bench.errors import MogenBenchError
from mogen_bench.metrics import (
    FLOWMDM_GT_MEAN_JERK,
    FIDStatistics,
    activation_statistics,
    diversity,
    diversity_legacy,
    fid,
    fid_from_statistics,
    fid_statistics,
    foot_skating_ratio,
    frame_jerk,
    frechet_distance,
    ground_penetration,
    mean_and_interval,
    mean_jerk,
    mm_dist,
    multimodality,
    multimodality_legacy,
    peak_jerk_and_auj,
    pool_distances,
    r_precision,
    replication_statistics,
    retrieval_metrics,
    transition_jerk,
    transition_windows,
)
from mogen_bench.metrics.fid import trace_sqrt_product
from tests import official_metrics as official

# ---------------------------------------------------------------------------------------------------------
# Transcriptions of the published driver loops and of FlowMDM's and GMD's code, kept as written there (the
# text-to-motion metric functions themselves are in tests/official_metrics.py).


def official_matching(text, motion, batch_size=32, drop_last=True):
    """The driver loop of ``evaluate_matching_score``: per batch, R-precision counts and the trace."""
    matching_score_sum, top_k_count, all_size = 0.0, 0, 0
    stop = len(text) - len(text) % batch_size if drop_last else len(text)
    for start in range(0, stop, batch_size):
        t, m = text[start : start + batch_size], motion[start : start + batch_size]
        dist_mat = official.euclidean_distance_matrix(t, m)
        matching_score_sum += dist_mat.trace()
        argsmax = np.argsort(dist_mat, axis=1)
        top_k_count += official.calculate_top_k(argsmax, top_k=3).sum(axis=0)
        all_size += t.shape[0]
    return top_k_count / all_size, matching_score_sum / all_size


def flowmdm_calculate_jerk(poses, lengths):
    """FlowMDM ``data_loaders/humanml/utils/metrics.py:calculate_jerk``."""
    vel = poses[:, 1:] - poses[:, :-1]
    acc = vel[:, 1:] - vel[:, :-1]
    jerk = acc[:, 1:] - acc[:, :-1]
    for i in range(jerk.shape[0]):
        vel[i, lengths[i] - 1 :] = 0
        acc[i, lengths[i] - 2 :] = 0
        jerk[i, lengths[i] - 3 :] = 0
    jerk = np.sum(np.abs(jerk), axis=-1)
    return np.max(np.abs(jerk), axis=(-1))


def flowmdm_evaluate_jerk(batches, gt_jerk):
    """FlowMDM ``utils/metrics.py:evaluate_jerk`` over ``(motions, lengths)`` batches of windows."""
    all_jerks = np.concatenate([flowmdm_calculate_jerk(m, n) for m, n in batches], axis=0)
    seq_jerks = all_jerks.mean(axis=0)
    return seq_jerks.max(), np.sum(np.abs(seq_jerks - gt_jerk)), seq_jerks


def gmd_calculate_skating_ratio(motions):
    """GMD ``data_loaders/humanml/utils/metrics.py:calculate_skating_ratio``, motions ``(bs, 22, 3, T)``."""
    thresh_height = 0.05
    fps = 20.0
    thresh_vel = 0.50
    avg_window = 5
    verts_feet = motions[:, [10, 11], :, :]
    verts_feet_plane_vel = (
        np.linalg.norm(verts_feet[:, :, [0, 2], 1:] - verts_feet[:, :, [0, 2], :-1], axis=2) * fps
    )
    vel_avg = uniform_filter1d(verts_feet_plane_vel, axis=-1, size=avg_window, mode="constant", origin=0)
    verts_feet_height = verts_feet[:, :, 1, :]
    feet_contact = np.logical_and(
        (verts_feet_height[:, :, :-1] < thresh_height), (verts_feet_height[:, :, 1:] < thresh_height)
    )
    skating = np.logical_and(feet_contact, (verts_feet_plane_vel > thresh_vel))
    skating = np.logical_and(skating, (vel_avg > thresh_vel))
    skating = np.logical_or(skating[:, 0, :], skating[:, 1, :])
    return np.sum(skating, axis=1) / skating.shape[1]


# ---------------------------------------------------------------------------------------------------------
# Fixtures: evaluator-like embeddings (low rank + isotropic noise, diversity ~9-10 like Guo's evaluator).

N_TEST, DIM = 4384, 512  # the HumanML3D test split and the evaluator's embedding size


def embedding_set(rng, n, d=DIM, *, basis=None, shift=0.0, tilt=0.0, rank=32):
    if basis is None:
        basis = rng.standard_normal((d, rank)) * (np.linspace(1.5, 0.2, rank) / np.sqrt(rank))
    basis = basis + tilt * rng.standard_normal(basis.shape) / np.sqrt(rank)
    return rng.standard_normal((n, rank)) @ basis.T + 0.12 * rng.standard_normal((n, d)) + shift, basis


@pytest.fixture(scope="module")
def published_size():
    rng = np.random.default_rng(2024)
    gt, basis = embedding_set(rng, N_TEST, basis=None)
    gen, _ = embedding_set(rng, N_TEST, basis=basis, shift=0.02 * rng.standard_normal(DIM), tilt=0.1)
    return gt, gen


def paired_set(seed, n, d=64, noise=3.0):
    rng = np.random.default_rng(seed)
    motion, _ = embedding_set(rng, n, d, rank=16)
    text = motion + noise * rng.standard_normal(motion.shape)
    return text, motion


# ---------------------------------------------------------------------------------------------------------
# FID


def test_activation_statistics_are_the_official_ones(published_size):
    gt, _ = published_size
    mu, sigma = activation_statistics(gt)
    ref_mu, ref_sigma = official.calculate_activation_statistics(gt)
    np.testing.assert_array_equal(mu, ref_mu)
    np.testing.assert_array_equal(sigma, ref_sigma)
    mu_t, sigma_t = activation_statistics(torch.from_numpy(gt))
    np.testing.assert_array_equal(mu_t, ref_mu)
    np.testing.assert_array_equal(sigma_t, ref_sigma)


def test_fid_equals_the_classic_formula_at_the_published_size(published_size):
    gt, gen = published_size
    mu1, sigma1 = official.calculate_activation_statistics(gt)
    mu2, sigma2 = official.calculate_activation_statistics(gen)
    reference = official.calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert abs(ours - reference) <= 1e-6 * abs(reference)  # measured: ~1e-12
    assert ours == pytest.approx(6.865872244768639, rel=1e-9)
    assert fid(gt, gen) == ours
    # the textbook route (sqrt(S1) from eigh) agrees with the Cholesky one
    eigh = np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2, factor="eigh")
    assert abs(eigh + (mu1 - mu2) @ (mu1 - mu2) - reference) <= 1e-6 * abs(reference)


def test_fid_of_a_set_with_itself_is_zero(published_size):
    gt, _ = published_size
    _, sigma = activation_statistics(gt)
    value = fid(gt, gt)
    assert abs(value) < 1e-12 * np.trace(sigma)


def test_fid_is_symmetric_and_takes_torch(published_size):
    gt, gen = published_size
    a = fid(torch.from_numpy(gt[:1000]).float(), torch.from_numpy(gen[:1000]).float())
    b = fid(gen[:1000].astype(np.float32), gt[:1000].astype(np.float32))
    assert a == pytest.approx(b, rel=1e-9)


def test_trace_sqrt_product_on_rank_deficient_sets(published_size):
    """Fewer samples than dimensions: S1 is singular (the eigen route), checked against the exact value."""
    gt, gen = published_size
    x, y = gt[:300], gen[:400]
    xc, yc = x - x.mean(0), y - y.mean(0)
    # eig(S1 S2) = sigma(Xc Yc^T)^2 / ((n1-1)(n2-1)): the trace of the root is a nuclear norm
    exact = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / np.sqrt(299 * 399)
    _, s1 = activation_statistics(x)
    _, s2 = activation_statistics(y)
    assert trace_sqrt_product(s1, s2) == pytest.approx(exact, rel=1e-10)
    assert trace_sqrt_product(s2, s1) == pytest.approx(exact, rel=1e-10)


def test_fid_golden_value():
    rng = np.random.default_rng(7)
    a, basis = embedding_set(rng, 600, 32, rank=8)
    b, _ = embedding_set(rng, 500, 32, rank=8, basis=basis, shift=0.1, tilt=0.2)
    value = fid(a, b)
    assert value == pytest.approx(GOLDEN_FID, rel=1e-9)
    assert value == pytest.approx(
        official.calculate_frechet_distance(
            *official.calculate_activation_statistics(a), *official.calculate_activation_statistics(b)
        ),
        rel=1e-9,
    )


GOLDEN_FID = 1.5019479174478718


def test_cached_ground_truth_statistics_give_the_same_fid(published_size):
    """``fid_statistics`` once + ``fid_from_statistics`` per replication = ``fid`` = ``frechet_distance``."""
    gt, gen = published_size
    stats = fid_statistics(gt)
    mu, sigma = stats  # unpacks like activation_statistics
    ref_mu, ref_sigma = official.calculate_activation_statistics(gt)
    np.testing.assert_array_equal(mu, ref_mu)
    np.testing.assert_array_equal(sigma, ref_sigma)
    assert stats.triangular and stats.trace == np.trace(ref_sigma)
    np.testing.assert_allclose(stats.factor @ stats.factor.T, sigma, rtol=0, atol=1e-13 * np.abs(sigma).max())
    old = frechet_distance(*activation_statistics(gt), *activation_statistics(gen))
    for generated in (gen, torch.from_numpy(gen), fid_statistics(gen)):
        assert fid_from_statistics(stats, generated) == pytest.approx(old, rel=1e-12)
    assert fid(gt, gen) == pytest.approx(old, rel=1e-12)
    single = gen.astype(np.float32)  # evaluator output: the covariance of the float32 values, in float64
    assert fid_from_statistics(stats, single) == pytest.approx(fid(gt, single), rel=1e-12)
    assert fid_from_statistics(stats, gen) == pytest.approx(6.865872244768639, rel=1e-9)
    # published ground-truth statistics (a mean and a covariance) work the same way
    given = FIDStatistics.from_moments(ref_mu, ref_sigma)
    assert fid_from_statistics(given, gen) == pytest.approx(old, rel=1e-12)
    # per replication, several generated sets against the one cached reference
    for start in (0, 1000, 2000):
        part = gen[start : start + 1500]
        assert fid_from_statistics(stats, part) == pytest.approx(fid(gt, part), rel=1e-12)


def test_cached_statistics_of_a_rank_deficient_reference(published_size):
    """Fewer reference samples than dimensions: the factor comes from ``eigh``, the numbers stay the same."""
    gt, gen = published_size
    stats = fid_statistics(gt[:300])
    assert not stats.triangular
    old = frechet_distance(*activation_statistics(gt[:300]), *activation_statistics(gen))
    assert fid_from_statistics(stats, gen) == pytest.approx(old, rel=1e-12)
    xc, yc = gt[:300] - gt[:300].mean(0), gen - gen.mean(0)
    exact_root = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / np.sqrt(299 * (len(gen) - 1))
    diff = stats.mu - gen.mean(0)
    exact = diff @ diff + stats.trace + np.trace(np.cov(gen, rowvar=False)) - 2 * exact_root
    assert fid_from_statistics(stats, gen) == pytest.approx(exact, rel=1e-10)


def test_cached_statistics_golden_value_and_errors():
    rng = np.random.default_rng(7)
    a, basis = embedding_set(rng, 600, 32, rank=8)
    b, _ = embedding_set(rng, 500, 32, rank=8, basis=basis, shift=0.1, tilt=0.2)
    stats = fid_statistics(a)
    assert fid_from_statistics(stats, b) == pytest.approx(GOLDEN_FID, rel=1e-9)
    assert fid_from_statistics(stats, b) == pytest.approx(fid(a, b), rel=1e-12)
    with pytest.raises(MogenBenchError, match="size 16 for a reference of size 32"):
        fid_from_statistics(stats, b[:, :16])
    with pytest.raises(MogenBenchError, match="needs the reference as FIDStatistics"):
        fid_from_statistics(activation_statistics(a), b)
    b[[4, 9], 0] = np.nan
    with pytest.raises(MogenBenchError, match=r"NaN in activations, 2 row\(s\): 4, 9"):
        fid_from_statistics(stats, b)
    with pytest.raises(MogenBenchError, match="symmetric covariance"):
        FIDStatistics.from_moments(stats.mu, stats.sigma + np.triu(np.ones((32, 32)), 1))


def test_nan_embeddings_are_named():
    x = np.random.default_rng(0).standard_normal((50, 8))
    x[[3, 17], 2] = np.nan
    with pytest.raises(MogenBenchError, match=r"NaN in activations, 2 row\(s\): 3, 17"):
        activation_statistics(x)
    with pytest.raises(MogenBenchError, match=r"3, 17"):
        fid(x, x)
    with pytest.raises(MogenBenchError, match="at least 2 samples"):
        activation_statistics(x[:1])
    with pytest.raises(MogenBenchError, match="floating-point"):
        activation_statistics(np.ones((10, 4), dtype=np.int64))
    with pytest.raises(MogenBenchError, match=r"shape \(N, D\)"):
        activation_statistics(np.ones(10))


# ---------------------------------------------------------------------------------------------------------
# R-precision and MM-Dist


def test_r_precision_of_perfectly_matched_embeddings_is_one():
    _, motion = paired_set(0, 96)
    result = retrieval_metrics(motion, motion.copy())
    np.testing.assert_array_equal(result.r_precision, [1.0, 1.0, 1.0])
    assert result.mm_dist == 0.0
    assert (result.num_pairs, result.num_pools) == (96, 3)


def test_retrieval_matches_the_official_per_batch_loop():
    text, motion = paired_set(1, 32 * 20 + 13)
    ours = retrieval_metrics(text, motion)
    ref_r, ref_mm = official_matching(text, motion)
    np.testing.assert_array_equal(ours.r_precision, ref_r)
    assert ours.mm_dist == pytest.approx(ref_mm, rel=1e-12)
    assert (ours.num_pairs, ours.num_pools) == (640, 20)
    np.testing.assert_allclose(ours.r_precision, GOLDEN_R_PRECISION, rtol=0, atol=0)
    assert ours.mm_dist == pytest.approx(GOLDEN_MM_DIST, rel=1e-9)
    # FlowMDM's loader keeps the last incomplete batch (drop_last=False): one more, smaller pool
    kept = retrieval_metrics(text, motion, drop_last=False)
    ref_r, ref_mm = official_matching(text, motion, drop_last=False)
    np.testing.assert_array_equal(kept.r_precision, ref_r)
    assert kept.mm_dist == pytest.approx(ref_mm, rel=1e-12)
    assert (kept.num_pairs, kept.num_pools) == (653, 21)
    # the convenience wrappers and float32 torch input
    np.testing.assert_array_equal(r_precision(torch.from_numpy(text).float(), motion), ours.r_precision)
    assert mm_dist(text, motion) == ours.mm_dist


GOLDEN_R_PRECISION = [329 / 640, 445 / 640, 499 / 640]  # chance would be 1/32, 2/32, 3/32
GOLDEN_MM_DIST = 23.8600767902565


def test_pool_distances_are_the_official_matrices():
    text, motion = paired_set(2, 70)
    distances = pool_distances(text, motion)
    assert distances.shape == (2, 32, 32)
    for p in range(2):
        block = slice(32 * p, 32 * p + 32)
        np.testing.assert_allclose(
            distances[p], official.euclidean_distance_matrix(text[block], motion[block]), rtol=1e-10
        )


def test_retrieval_needs_one_full_pool():
    text, motion = paired_set(3, 31)
    with pytest.raises(MogenBenchError, match="at least 32 pairs"):
        retrieval_metrics(text, motion)
    assert retrieval_metrics(text, motion, drop_last=False).num_pools == 1
    with pytest.raises(MogenBenchError, match="same shape"):
        retrieval_metrics(text, motion[:30], drop_last=False)
    text[5] = np.inf
    with pytest.raises(MogenBenchError, match=r"infinite values in text, 1 row\(s\): 5"):
        retrieval_metrics(text, motion, drop_last=False)


# ---------------------------------------------------------------------------------------------------------
# Diversity and MultiModality


def test_diversity_legacy_reproduces_the_official_global_rng_path():
    _, x = paired_set(4, 1000)
    np.random.seed(1234)
    reference = official.calculate_diversity(x, 300)
    after_reference = np.random.random()
    np.random.seed(1234)
    ours = diversity_legacy(x)
    assert np.random.random() == after_reference  # it consumed the global state exactly as the official code
    assert ours == pytest.approx(reference, rel=1e-13)
    assert diversity_legacy(x, random_state=1234) == ours
    assert diversity_legacy(x, random_state=np.random.RandomState(1234)) == ours
    assert ours == pytest.approx(GOLDEN_DIVERSITY_LEGACY, rel=1e-9)


GOLDEN_DIVERSITY_LEGACY = 10.509659267705981


def test_diversity_with_a_generator():
    _, x = paired_set(4, 1000)
    rng = np.random.default_rng(5)
    first, second = rng.choice(1000, 300, replace=False), rng.choice(1000, 300, replace=False)
    expected = np.linalg.norm(x[first] - x[second], axis=1).mean()
    assert diversity(x, rng=np.random.default_rng(5)) == pytest.approx(expected, rel=1e-13)
    assert diversity(x, rng=5) == diversity(torch.from_numpy(x), rng=np.random.default_rng(5))
    assert diversity(x, rng=5) == pytest.approx(GOLDEN_DIVERSITY, rel=1e-9)


GOLDEN_DIVERSITY = 10.454046163185513


def test_diversity_needs_more_samples_than_pairs():
    _, x = paired_set(4, 300)
    with pytest.raises(MogenBenchError, match="more than 300 samples"):
        diversity(x, rng=0)
    assert diversity(x, rng=0, times=100) > 0
    with pytest.raises(MogenBenchError, match="rng must be"):
        diversity(x, rng=None, times=100)


def test_multimodality_reproduces_the_official_code():
    rng = np.random.default_rng(6)
    centres, _ = embedding_set(rng, 100, 64, rank=16)
    x = centres[:, None, :] + 0.5 * rng.standard_normal((100, 30, 64))
    np.random.seed(99)
    reference = official.calculate_multimodality(x, 10)
    np.random.seed(99)
    assert multimodality_legacy(x) == pytest.approx(reference, rel=1e-13)
    assert multimodality_legacy(x, random_state=99) == multimodality_legacy(x, random_state=99)
    g = np.random.default_rng(8)
    first, second = g.choice(30, 10, replace=False), g.choice(30, 10, replace=False)
    expected = np.linalg.norm(x[:, first] - x[:, second], axis=2).mean()
    ours = multimodality(x, rng=8)
    assert ours == pytest.approx(expected, rel=1e-13)
    assert reference == pytest.approx(GOLDEN_MULTIMODALITY_LEGACY, rel=1e-9)
    assert ours == pytest.approx(GOLDEN_MULTIMODALITY, rel=1e-9)
    with pytest.raises(MogenBenchError, match="more than 10 generations"):
        multimodality(x[:, :10], rng=0)
    x[42, 7, 0] = np.nan
    with pytest.raises(MogenBenchError, match=r"\(42, 7\)"):
        multimodality(x, rng=0)


GOLDEN_MULTIMODALITY_LEGACY = 5.621848602889144
GOLDEN_MULTIMODALITY = 5.645358950154286


# ---------------------------------------------------------------------------------------------------------
# Replication statistics


def test_interval_is_196_std_over_sqrt_r():
    values = [0.511, 0.507, 0.515, 0.509, 0.512]
    mean, interval = mean_and_interval(values)
    ref_mean, ref_interval = official.get_metric_statistics(np.array(values), len(values))
    assert mean == ref_mean and interval == ref_interval
    assert interval == pytest.approx(1.96 * np.std(values, ddof=0) / np.sqrt(5), rel=1e-15)
    assert mean_and_interval([1.0, 2.0, 3.0, 4.0]) == (
        2.5,
        pytest.approx(1.96 * np.sqrt(1.25) / 2, rel=1e-15),
    )


def test_replication_statistics_of_a_results_dict():
    stats = replication_statistics(
        {"FID": [0.1, 0.3], "R_precision": [[0.5, 0.7, 0.8], [0.52, 0.7, 0.82]], "MModality": [2.0]}
    )
    assert stats.mean["FID"] == pytest.approx(0.2)
    assert stats.interval["FID"] == pytest.approx(1.96 * 0.1 / np.sqrt(2))
    np.testing.assert_allclose(stats.mean["R_precision"], [0.51, 0.7, 0.81])
    np.testing.assert_allclose(
        stats.interval["R_precision"], [1.96 * 0.01 / np.sqrt(2), 0, 1.96 * 0.01 / np.sqrt(2)]
    )
    assert stats.replications == {"FID": 2, "R_precision": 2, "MModality": 1}
    assert stats.interval["MModality"] == 0.0
    assert stats.formatted("FID") == "0.200±0.139"
    assert stats.formatted("R_precision", 2) == "0.51±0.01, 0.70±0.00, 0.81±0.01"
    assert stats.to_dict()["R_precision"]["mean"] == pytest.approx([0.51, 0.7, 0.81])
    with pytest.raises(MogenBenchError, match=r"replication\(s\) \[1\]"):
        replication_statistics({"FID": [0.1, float("nan")]})
    with pytest.raises(MogenBenchError, match="at least one replication"):
        replication_statistics({"FID": []})


# ---------------------------------------------------------------------------------------------------------
# Transitions: jerk, Peak Jerk, AUJ


def cubic_motion(frames, fps=None):
    """Every coordinate a cubic in time with dyadic coefficients, so its third difference is exact."""
    t = np.arange(frames, dtype=np.float64)[:, None, None]
    if fps is not None:
        t = t / fps
    a = np.array([[0.125, -0.25, 0.0], [0.5, 0.0625, -0.75], [-0.125, 0.125, 0.125]])[None]  # 3 joints
    b = np.array([1.0, -2.0, 0.5])
    return a * t**3 + b * t**2 - 3.0 * t + 0.25


def test_jerk_of_a_cubic_motion_is_constant():
    jerk = frame_jerk(cubic_motion(40))
    # third difference of a t^3 is 6a; L1 over coordinates, max over joints: joint 1, 6 * 1.3125
    np.testing.assert_array_equal(jerk, np.full(37, 6 * 1.3125))
    np.testing.assert_array_equal(
        frame_jerk(cubic_motion(40), norm="l2"), np.full(37, 6 * np.sqrt(0.8164062500))
    )
    per_second = frame_jerk(cubic_motion(40, fps=20.0), fps=20.0)
    np.testing.assert_allclose(per_second, 6 * 1.3125, rtol=1e-9)


def test_frame_jerk_matches_flowmdm_with_lengths():
    rng = np.random.default_rng(9)
    poses = np.cumsum(0.01 * rng.standard_normal((4, 50, 22, 3)), axis=1)
    lengths = np.array([50, 31, 4, 12])
    reference = flowmdm_calculate_jerk(poses.copy(), lengths)
    np.testing.assert_allclose(frame_jerk(poses, lengths), reference, rtol=1e-12, atol=1e-15)
    assert mean_jerk(poses, lengths) == pytest.approx(reference.sum() / (lengths - 3).sum(), rel=1e-12)
    with pytest.raises(MogenBenchError, match="between 4 and 50"):
        frame_jerk(poses, [50, 3, 4, 12])


def test_transition_jerk_matches_flowmdm_evaluate_jerk():
    rng = np.random.default_rng(10)
    joints = np.cumsum(0.01 * rng.standard_normal((3, 120, 22, 3)), axis=1)
    joints[:, 60:] += 0.05  # a jump at frame 60: the boundary of every motion
    boundaries = [[60], [40, 60, 90], [60, 100]]
    window = 30
    windows = transition_windows(joints, boundaries, window=window)
    assert windows.shape == (6, 30, 22, 3)
    manual = [joints[i, b - 15 : b + 15] for i, row in enumerate(boundaries) for b in row]
    np.testing.assert_array_equal(windows.numpy(), np.stack(manual))
    # FlowMDM sees the windows as batches of equal-length (window) motions
    batches = [(np.stack(manual[:4]), np.full(4, window)), (np.stack(manual[4:]), np.full(2, window))]
    peak, auj, curve = flowmdm_evaluate_jerk(batches, FLOWMDM_GT_MEAN_JERK["babel"])
    ours = transition_jerk(joints, boundaries, gt_mean_jerk="babel", window=window)
    assert ours.num_transitions == 6
    np.testing.assert_allclose(ours.curve, curve, rtol=1e-12)
    assert ours.peak_jerk == pytest.approx(peak, rel=1e-12)
    assert ours.auj == pytest.approx(auj, rel=1e-12)
    assert (ours.peak_jerk, ours.auj) == (
        pytest.approx(GOLDEN_PEAK_JERK, rel=1e-9),
        pytest.approx(GOLDEN_AUJ, rel=1e-9),
    )
    # the same boundaries as a (B, K) array padded with -1, and as torch
    padded = torch.tensor([[60, -1, -1], [40, 60, 90], [60, 100, -1]])
    again = transition_jerk(torch.from_numpy(joints), padded, gt_mean_jerk=FLOWMDM_GT_MEAN_JERK["babel"])
    assert again.auj == ours.auj
    direct = peak_jerk_and_auj(frame_jerk(windows), "babel")
    assert direct.peak_jerk == ours.peak_jerk


GOLDEN_PEAK_JERK = 0.24757261109311832
GOLDEN_AUJ = 2.845278450298685


def test_transition_windows_must_fit_in_the_motion():
    joints = np.zeros((2, 50, 22, 3))
    with pytest.raises(MogenBenchError, match="leaves the motion's 40 frames"):
        transition_windows(joints, [[25], [30]], lengths=[50, 40], window=30)
    with pytest.raises(MogenBenchError, match="no stage boundaries"):
        transition_windows(joints, [[], [-1]])
    with pytest.raises(MogenBenchError, match="one list per motion"):
        transition_windows(joints, [[25]])
    with pytest.raises(MogenBenchError, match="babell"):
        transition_jerk(joints, [[25], [25]], gt_mean_jerk="babell")


# ---------------------------------------------------------------------------------------------------------
# Physical plausibility


UP = np.array([0.0, 1.0, 0.0])


def standing_motion(frames):
    """22 joints standing still: feet (10, 11) at 2 cm, everything else above 0.5 m."""
    joints = np.zeros((frames, 22, 3))
    joints[..., 1] = 0.9
    joints[:, 10] = [0.1, 0.02, 0.0]
    joints[:, 11] = [-0.1, 0.02, 0.0]
    return joints


def test_foot_skating_of_a_sliding_foot():
    motion = standing_motion(41)  # 40 steps at 20 fps
    # the left foot slides 5 cm per frame (1 m/s) during steps 10..19, stays put otherwise
    step = np.zeros(40)
    step[10:20] = 0.05
    motion[1:, 10, 2] = np.cumsum(step)
    assert foot_skating_ratio(motion) == 10 / 40  # edges: the 5-step mean is 0.6 m/s > 0.5
    slow = standing_motion(41)
    slow[1:, 10, 2] = np.cumsum(step * 0.4)  # 0.4 m/s: below the 0.5 m/s threshold
    lifted = motion.copy()
    lifted[:, 10, 1] = 0.06  # 6 cm up: not in contact
    short = motion.copy()
    short[1:, 10, 2] = np.cumsum(np.where(np.arange(40) == 15, 0.05, 0.0))  # one fast step: mean 0.2 m/s
    batch = np.stack([motion, slow, lifted, short])
    np.testing.assert_array_equal(foot_skating_ratio(batch), [0.25, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gmd_calculate_skating_ratio(batch.transpose(0, 2, 3, 1)), [0.25, 0, 0, 0])
    # heights from another floor
    assert foot_skating_ratio(motion + UP, floor=1.0) == 0.25


def test_foot_skating_matches_gmd_and_masks_padding():
    rng = np.random.default_rng(11)
    joints = np.zeros((6, 60, 22, 3))
    joints[..., 1] = 0.5
    joints[:, :, [10, 11]] = np.cumsum(rng.normal(0, 0.02, (6, 60, 2, 3)), axis=1) + 0.04 * UP
    reference = gmd_calculate_skating_ratio(joints.transpose(0, 2, 3, 1))
    ours = foot_skating_ratio(joints)
    np.testing.assert_array_equal(ours, reference)
    assert ours.min() > 0 and ours.max() < 1
    lengths = [60, 45, 30, 20, 10, 2]
    padded = joints.copy()
    for i, n in enumerate(lengths):
        padded[i, n:] = rng.normal(0, 5, padded[i, n:].shape)  # garbage in the padding
    masked = foot_skating_ratio(padded, lengths)
    cut = [
        gmd_calculate_skating_ratio(joints[i : i + 1, :n].transpose(0, 2, 3, 1))[0]
        for i, n in enumerate(lengths)
    ]
    np.testing.assert_array_equal(masked, cut)


def test_ground_penetration_of_a_constructed_motion():
    motion = standing_motion(10)
    motion[:, 10, 1] = 0.0  # a foot exactly on the floor does not penetrate
    motion[3, 11, 1] = -0.02
    motion[4, 11, 1] = -0.05
    motion[4, 5, 1] = -0.01  # another joint, less deep in the same frame
    result = ground_penetration(motion)
    assert result.mean == pytest.approx(0.07 / 10, rel=1e-15)
    assert result.max == 0.05
    assert result.ratio == 0.2
    padded = np.concatenate([motion, np.full((5, 22, 3), -1.0)])[None].repeat(2, 0)
    batch = ground_penetration(padded, lengths=[10, 4])
    np.testing.assert_allclose(batch.mean, [0.007, 0.02 / 4], rtol=1e-15)
    np.testing.assert_array_equal(batch.max, [0.05, 0.02])
    np.testing.assert_array_equal(batch.ratio, [0.2, 0.25])
    assert ground_penetration(motion + 0.5 * UP, floor=0.5).max == pytest.approx(0.05, rel=1e-14)
    with pytest.raises(MogenBenchError, match=r"shape \(B, T, J, 3\)"):
        ground_penetration(motion[..., :2])


def test_physical_and_jerk_metrics_of_a_real_humanml3d_clip():
    """Clip 012314 (170 frames of ground truth): the floor at y = 0, a plausible skating ratio and jerk."""
    from tests.conftest import shared_sample_dir

    joints = np.load(shared_sample_dir() / "new_joints" / "012314.npy")
    reference = gmd_calculate_skating_ratio(joints[None].transpose(0, 2, 3, 1).astype(np.float64))[0]
    assert foot_skating_ratio(joints) == reference == 23 / 169
    penetration = ground_penetration(joints)
    assert (penetration.mean, penetration.max, penetration.ratio) == (0.0, 0.0, 0.0)
    # FlowMDM's HumanML3D ground-truth mean jerk, over transition windows of the test set, is 0.033
    assert mean_jerk(joints) == pytest.approx(0.0707408, rel=1e-5)
    np.testing.assert_allclose(
        frame_jerk(joints), flowmdm_calculate_jerk(joints[None].astype(np.float64), [170])[0], rtol=1e-12
    )
