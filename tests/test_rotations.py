"""Rotation conversions (``mogen_bench.motion.rotations``): hand-worked golden values, cross-checks against
``scipy.spatial.transform`` on a fixed-seed batch, round trips over batch shapes and dtypes, the singular
cases (zero rotation, half turns, parallel quaternions) and the errors a caller gets for bad input.

scipy writes quaternions ``(x, y, z, w)``; ours are ``(w, x, y, z)`` as in HumanML3D.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation, Slerp

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    cont6d_to_matrix,
    cont6d_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_cont6d,
    matrix_to_quaternion,
    qbetween,
    qinv,
    qmul,
    qnormalize,
    qrot,
    qstandardize,
    quaternion_to_axis_angle,
    quaternion_to_cont6d,
    quaternion_to_matrix,
    slerp,
)

DTYPES = [torch.float32, torch.float64]
# Agreement with scipy (which computes in float64) and the tolerance of our own round trips.
SCIPY_TOL = {torch.float32: 1e-5, torch.float64: 1e-6}
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
SHAPES = [(), (5,), (2, 3, 4)]
N_SCIPY = 1000

C45 = math.cos(math.pi / 4)  # = sin 45 degrees
RZ90 = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def t64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def random_quaternions(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Uniformly distributed unit quaternions (a normalised 4D Gaussian), made in float64 then cast."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape, 4, generator=g, dtype=torch.float64)
    return (q / q.norm(dim=-1, keepdim=True)).to(dtype)


def random_vectors(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, 3, generator=g, dtype=torch.float64).to(dtype)


def random_axis_angles(shape, dtype, seed, max_angle=math.pi - 1e-3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    axis = torch.randn(*shape, 3, generator=g, dtype=torch.float64)
    angle = torch.rand(*shape, 1, generator=g, dtype=torch.float64) * max_angle
    return (axis / axis.norm(dim=-1, keepdim=True) * angle).to(dtype)


def to_xyzw(q_wxyz: np.ndarray) -> np.ndarray:
    return np.concatenate([q_wxyz[..., 1:], q_wxyz[..., :1]], axis=-1)


def to_wxyz(q_xyzw: np.ndarray) -> np.ndarray:
    return np.concatenate([q_xyzw[..., 3:], q_xyzw[..., :3]], axis=-1)


def max_err(a, b) -> float:
    a = a.detach().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
    b = b.detach().double().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, np.float64)
    assert a.shape == b.shape
    return float(np.abs(a - b).max()) if a.size else 0.0


def rotation_angle(q0: torch.Tensor, q1: torch.Tensor) -> torch.Tensor:
    """The angle in [0, pi] of the rotation taking q0 to q1 (atan2 keeps small angles exact, unlike acos)."""
    rel = qmul(qinv(q0), q1)
    return 2 * torch.atan2(rel[..., 1:].norm(dim=-1), rel[..., 0].abs())


def err_up_to_sign(a, b) -> float:
    """Largest difference between ``a`` and ``b`` or ``-b``, whichever is nearer (``q`` and ``-q`` are one
    rotation; so are the rotation vectors ``pi * axis`` and ``-pi * axis``)."""
    a = a.detach().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
    b = b.detach().double().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, np.float64)
    sign = np.where((a * b).sum(-1, keepdims=True) < 0, -1.0, 1.0)
    return max_err(a, sign * b)


# --------------------------------------------------------------------------------- golden values by hand


def test_golden_quarter_turn_about_z():
    aa = t64([0.0, 0.0, math.pi / 2])
    q = axis_angle_to_quaternion(aa)
    assert max_err(q, [C45, 0.0, 0.0, C45]) < 1e-15
    assert max_err(quaternion_to_matrix(q), RZ90) < 1e-15
    assert max_err(axis_angle_to_matrix(aa), RZ90) < 1e-15
    assert max_err(qrot(q, t64([1.0, 0.0, 0.0])), [0.0, 1.0, 0.0]) < 1e-15
    assert max_err(qrot(q, t64([0.0, 1.0, 0.0])), [-1.0, 0.0, 0.0]) < 1e-15
    assert max_err(matrix_to_quaternion(t64(RZ90)), [C45, 0.0, 0.0, C45]) < 1e-15
    assert max_err(matrix_to_axis_angle(t64(RZ90)), [0.0, 0.0, math.pi / 2]) < 1e-15
    assert max_err(quaternion_to_axis_angle(q), [0.0, 0.0, math.pi / 2]) < 1e-15


def test_golden_quarter_turn_about_z_6d():
    # The first two columns of RZ90: (0, 1, 0) and (-1, 0, 0).
    expected = [0.0, 1.0, 0.0, -1.0, 0.0, 0.0]
    assert max_err(matrix_to_cont6d(t64(RZ90)), expected) == 0
    assert max_err(quaternion_to_cont6d(t64([C45, 0.0, 0.0, C45])), expected) < 1e-15
    assert max_err(cont6d_to_matrix(t64(expected)), RZ90) == 0
    assert max_err(cont6d_to_quaternion(t64(expected)), [C45, 0.0, 0.0, C45]) < 1e-15


def test_golden_gram_schmidt_of_non_orthonormal_6d():
    # a = (2, 0, 0) -> x = (1, 0, 0); x cross b with b = (1, 3, 0) is (0, 0, 3) -> z = (0, 0, 1); y = z x x.
    assert max_err(cont6d_to_matrix(t64([2.0, 0.0, 0.0, 1.0, 3.0, 0.0])), np.eye(3)) == 0
    # a = (0, 0, 5), b = (1, 1, 0): x = (0, 0, 1), z = normalize(x cross b) = (-1, 1, 0)/sqrt2, y = z cross x.
    r = math.sqrt(0.5)
    expected = [[0.0, r, -r], [0.0, r, r], [1.0, 0.0, 0.0]]
    assert max_err(cont6d_to_matrix(t64([0.0, 0.0, 5.0, 1.0, 1.0, 0.0])), expected) < 1e-15


def test_golden_qbetween_z_to_x_is_quarter_turn_about_y():
    expected = [C45, 0.0, C45, 0.0]
    assert max_err(qbetween(t64([0.0, 0.0, 1.0]), t64([1.0, 0.0, 0.0])), expected) < 1e-15
    # Only the directions matter.
    assert max_err(qbetween(t64([0.0, 0.0, 2.0]), t64([3.0, 0.0, 0.0])), expected) < 1e-15
    q = qbetween(t64([0.0, 0.0, 1.0]), t64([1.0, 0.0, 0.0]))
    assert max_err(qrot(q, t64([0.0, 0.0, 1.0])), [1.0, 0.0, 0.0]) < 1e-15


def test_golden_slerp_halfway_is_45_degrees_about_z():
    identity = t64([1.0, 0.0, 0.0, 0.0])
    q90 = t64([C45, 0.0, 0.0, C45])
    half = slerp(identity, q90, 0.5)
    expected = [math.cos(math.pi / 8), 0.0, 0.0, math.sin(math.pi / 8)]
    assert max_err(half, expected) < 1e-15
    assert max_err(slerp(identity, q90, 0.0), identity) < 1e-15
    assert max_err(slerp(identity, q90, 1.0), q90) < 1e-15
    # A quarter of the way: 22.5 degrees.
    quarter = [math.cos(math.pi / 16), 0.0, 0.0, math.sin(math.pi / 16)]
    assert max_err(slerp(identity, q90, 0.25), quarter) < 1e-15


def test_golden_hamilton_products():
    i, j, k = t64([0.0, 1.0, 0.0, 0.0]), t64([0.0, 0.0, 1.0, 0.0]), t64([0.0, 0.0, 0.0, 1.0])
    assert max_err(qmul(i, j), k) == 0
    assert max_err(qmul(j, i), -k) == 0
    assert max_err(qmul(j, k), i) == 0
    assert max_err(qmul(i, i), [-1.0, 0.0, 0.0, 0.0]) == 0
    assert max_err(qmul(t64([1.0, 2.0, 3.0, 4.0]), t64([5.0, 6.0, 7.0, 8.0])), [-60.0, 12.0, 30.0, 24.0]) == 0
    assert max_err(qinv(t64([1.0, 2.0, 3.0, 4.0])), [1.0, -2.0, -3.0, -4.0]) == 0
    assert max_err(qnormalize(t64([0.0, 3.0, 0.0, 4.0])), [0.0, 0.6, 0.0, 0.8]) < 1e-16
    signs = t64([[-0.6, 0.0, 0.8, 0.0], [0.6, 0.0, -0.8, 0.0]])
    assert max_err(qstandardize(signs), [[0.6, 0.0, -0.8, 0.0]] * 2) == 0


def test_golden_half_turns():
    assert max_err(axis_angle_to_quaternion(t64([math.pi, 0.0, 0.0])), [0.0, 1.0, 0.0, 0.0]) < 1e-16
    assert max_err(axis_angle_to_matrix(t64([math.pi, 0.0, 0.0])), np.diag([1.0, -1.0, -1.0])) < 1e-15
    assert max_err(matrix_to_quaternion(t64(np.diag([1.0, -1.0, -1.0]))), [0.0, 1.0, 0.0, 0.0]) == 0
    assert max_err(matrix_to_quaternion(t64(np.diag([-1.0, 1.0, -1.0]))), [0.0, 0.0, 1.0, 0.0]) == 0
    assert max_err(matrix_to_quaternion(t64(np.diag([-1.0, -1.0, 1.0]))), [0.0, 0.0, 0.0, 1.0]) == 0
    assert err_up_to_sign(matrix_to_axis_angle(t64(np.diag([-1.0, -1.0, 1.0]))), [0.0, 0.0, math.pi]) == 0
    # Half turn about (1, 1, 0)/sqrt2: R = 2 a a^T - I.
    a = np.array([1.0, 1.0, 0.0]) / math.sqrt(2)
    half_turn = 2 * np.outer(a, a) - np.eye(3)
    assert err_up_to_sign(matrix_to_quaternion(t64(half_turn)), [0.0, *a]) < 1e-15
    assert err_up_to_sign(matrix_to_axis_angle(t64(half_turn)), a * math.pi) < 2e-15


def test_qrot_is_q_v_qinv():
    q = random_quaternions((50,), torch.float64, seed=1)
    v = random_vectors((50,), torch.float64, seed=2)
    pure = torch.cat([torch.zeros(50, 1, dtype=torch.float64), v], dim=-1)
    sandwich = qmul(qmul(q, pure), qinv(q))
    assert max_err(sandwich[:, 0], torch.zeros(50)) < 1e-15
    assert max_err(qrot(q, v), sandwich[:, 1:]) < 1e-14


# ------------------------------------------------------------------------------------- scipy cross-checks


@pytest.fixture(scope="module")
def scipy_batch():
    """A fixed-seed batch of 1000 uniformly random rotations: float64 (w, x, y, z) and scipy Rotations."""
    q = random_quaternions((N_SCIPY,), torch.float64, seed=20240607).numpy()
    return q, Rotation.from_quat(to_xyzw(q))


def _cast(x: np.ndarray, dtype: torch.dtype) -> tuple[torch.Tensor, np.ndarray]:
    """The input in ``dtype`` and, for scipy, the same (rounded) numbers in float64."""
    t = torch.from_numpy(x).to(dtype)
    return t, t.double().numpy()


@pytest.mark.parametrize("dtype", DTYPES)
def test_quaternion_to_matrix_matches_scipy(scipy_batch, dtype):
    q, ref_in = _cast(scipy_batch[0], dtype)
    expected = Rotation.from_quat(to_xyzw(ref_in)).as_matrix()
    assert max_err(quaternion_to_matrix(q), expected) < SCIPY_TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_quaternion_to_axis_angle_matches_scipy_as_rotvec(scipy_batch, dtype):
    q, ref_in = _cast(scipy_batch[0], dtype)
    expected = Rotation.from_quat(to_xyzw(ref_in)).as_rotvec()
    assert max_err(quaternion_to_axis_angle(q), expected) < SCIPY_TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_to_quaternion_matches_scipy_from_matrix(scipy_batch, dtype):
    m, ref_in = _cast(scipy_batch[1].as_matrix(), dtype)
    expected = to_wxyz(Rotation.from_matrix(ref_in).as_quat())
    ours = matrix_to_quaternion(m)
    assert err_up_to_sign(ours, expected) < SCIPY_TOL[dtype]
    assert bool((ours[:, 0] >= 0).all())


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_to_axis_angle_matches_scipy(scipy_batch, dtype):
    m, ref_in = _cast(scipy_batch[1].as_matrix(), dtype)
    expected = Rotation.from_matrix(ref_in).as_rotvec()
    assert max_err(matrix_to_axis_angle(m), expected) < SCIPY_TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_angle_conversions_match_scipy_from_rotvec(dtype):
    # Angles up to 2 pi, so w = cos(angle / 2) takes both signs.
    rotvecs = random_axis_angles((N_SCIPY,), torch.float64, seed=7, max_angle=2 * math.pi).numpy()
    aa, ref_in = _cast(rotvecs, dtype)
    rotation = Rotation.from_rotvec(ref_in)
    assert max_err(axis_angle_to_matrix(aa), rotation.as_matrix()) < SCIPY_TOL[dtype]
    ours = axis_angle_to_quaternion(aa)
    assert err_up_to_sign(ours, to_wxyz(rotation.as_quat())) < SCIPY_TOL[dtype]
    angle = np.linalg.norm(ref_in, axis=-1)
    assert max_err(ours[:, 0], np.cos(angle / 2)) < SCIPY_TOL[dtype]  # not standardised: w = cos(angle/2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_qmul_and_qrot_match_scipy_composition_and_apply(scipy_batch, dtype):
    q, ref_in = _cast(scipy_batch[0], dtype)
    r, r_ref = _cast(random_quaternions((N_SCIPY,), torch.float64, seed=11).numpy(), dtype)
    v, v_ref = _cast(random_vectors((N_SCIPY,), torch.float64, seed=12).numpy(), dtype)
    a, b = Rotation.from_quat(to_xyzw(ref_in)), Rotation.from_quat(to_xyzw(r_ref))
    # scipy's a * b applies b first, like the Hamilton product.
    assert err_up_to_sign(qmul(q, r), to_wxyz((a * b).as_quat())) < SCIPY_TOL[dtype]
    assert max_err(qrot(q, v), a.apply(v_ref)) < 3 * SCIPY_TOL[dtype]  # |v| is up to ~4


@pytest.mark.parametrize("dtype", DTYPES)
def test_slerp_matches_scipy_slerp(scipy_batch, dtype):
    # One scipy Slerp over a chain of key rotations interpolates between neighbours i, i + 1 at time i + t.
    keys, keys_ref = _cast(scipy_batch[0], dtype)
    t = torch.rand(N_SCIPY - 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    interpolator = Slerp(np.arange(N_SCIPY, dtype=np.float64), Rotation.from_quat(to_xyzw(keys_ref)))
    expected = to_wxyz(interpolator(np.arange(N_SCIPY - 1) + t.numpy()).as_quat())
    ours = slerp(keys[:-1], keys[1:], t.to(dtype))
    assert ours.dtype == dtype
    assert err_up_to_sign(ours, expected) < SCIPY_TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_singular_rotations_match_scipy(dtype):
    """Half turns, nearly half turns, the identity and tiny angles: where naive formulas lose digits."""
    axes = random_vectors((20,), torch.float64, seed=5).numpy()
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    basis = np.eye(3)
    angles = [0.0, 1e-12, 1e-7, 1e-4, 1e-3, 2e-3, math.pi - 1e-3, math.pi - 1e-6, math.pi]
    rotvecs = np.concatenate([(a * angle) for a in (axes, basis, -basis) for angle in angles])
    m, m_ref = _cast(Rotation.from_rotvec(rotvecs).as_matrix(), dtype)
    rotation = Rotation.from_matrix(m_ref)
    assert err_up_to_sign(matrix_to_quaternion(m), to_wxyz(rotation.as_quat())) < SCIPY_TOL[dtype]
    # At exactly pi the rotation vector's sign is arbitrary, so compare the rotations as matrices.
    assert max_err(axis_angle_to_matrix(matrix_to_axis_angle(m)), m_ref) < SCIPY_TOL[dtype]
    aa, aa_ref = _cast(rotvecs, dtype)
    assert max_err(axis_angle_to_matrix(aa), Rotation.from_rotvec(aa_ref).as_matrix()) < SCIPY_TOL[dtype]
    q, q_ref = _cast(to_wxyz(Rotation.from_rotvec(rotvecs).as_quat()), dtype)
    small = np.linalg.norm(rotvecs, axis=-1) < 3
    expected = Rotation.from_quat(to_xyzw(q_ref[small])).as_rotvec()
    assert max_err(quaternion_to_axis_angle(q[torch.from_numpy(small)]), expected) < SCIPY_TOL[dtype]


# ---------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
class TestRoundTrips:
    def test_axis_angle_quaternion_axis_angle(self, shape, dtype):
        aa = random_axis_angles(shape, dtype, seed=1)
        q = axis_angle_to_quaternion(aa)
        assert q.shape == (*shape, 4) and q.dtype == dtype
        assert max_err(quaternion_to_axis_angle(q), aa) < 4 * TOL[dtype]
        assert max_err(matrix_to_axis_angle(axis_angle_to_matrix(aa)), aa) < 4 * TOL[dtype]

    def test_quaternion_matrix_quaternion(self, shape, dtype):
        q = random_quaternions(shape, dtype, seed=2)
        m = quaternion_to_matrix(q)
        assert m.shape == (*shape, 3, 3) and m.dtype == dtype
        assert max_err(matrix_to_quaternion(m), qstandardize(q)) < TOL[dtype]
        # A rotation matrix: orthonormal with determinant +1.
        eye = torch.eye(3, dtype=dtype).expand(*shape, 3, 3)
        assert max_err(m @ m.transpose(-1, -2), eye) < TOL[dtype]
        assert max_err(torch.linalg.det(m), torch.ones(shape)) < TOL[dtype]

    def test_matrix_6d_matrix(self, shape, dtype):
        m = quaternion_to_matrix(random_quaternions(shape, dtype, seed=3))
        d6 = matrix_to_cont6d(m)
        assert d6.shape == (*shape, 6) and d6.dtype == dtype
        assert max_err(d6[..., :3], m[..., :, 0]) == 0 and max_err(d6[..., 3:], m[..., :, 1]) == 0
        assert max_err(cont6d_to_matrix(d6), m) < TOL[dtype]

    def test_quaternion_6d_quaternion(self, shape, dtype):
        q = random_quaternions(shape, dtype, seed=4)
        d6 = quaternion_to_cont6d(q)
        assert d6.shape == (*shape, 6) and d6.dtype == dtype
        assert max_err(cont6d_to_quaternion(d6), qstandardize(q)) < TOL[dtype]

    def test_q_times_inverse_is_identity(self, shape, dtype):
        q = random_quaternions(shape, dtype, seed=5)
        identity = torch.zeros(*shape, 4, dtype=dtype)
        identity[..., 0] = 1
        assert max_err(qmul(q, qinv(q)), identity) < TOL[dtype]
        assert max_err(qmul(qinv(q), q), identity) < TOL[dtype]

    def test_qrot_agrees_with_matrix(self, shape, dtype):
        q = random_quaternions(shape, dtype, seed=6)
        v = random_vectors(shape, dtype, seed=7)
        expected = (quaternion_to_matrix(q) @ v[..., None])[..., 0]
        assert max_err(qrot(q, v), expected) < 4 * TOL[dtype]

    def test_composition(self, shape, dtype):
        a = random_quaternions(shape, dtype, seed=8)
        b = random_quaternions(shape, dtype, seed=9)
        expected = quaternion_to_matrix(a) @ quaternion_to_matrix(b)
        assert max_err(quaternion_to_matrix(qmul(a, b)), expected) < TOL[dtype]
        # Rotating by b then by a is rotating by a * b.
        v = random_vectors(shape, dtype, seed=10)
        assert max_err(qrot(qmul(a, b), v), qrot(a, qrot(b, v))) < 4 * TOL[dtype]


def test_broadcasting_over_leading_shapes():
    q = random_quaternions((4, 1), torch.float64, seed=1)
    r = random_quaternions((5,), torch.float64, seed=2)
    v = random_vectors((5,), torch.float64, seed=3)
    assert qmul(q, r).shape == (4, 5, 4)
    assert max_err(qmul(q, r)[2, 3], qmul(q[2, 0], r[3])) == 0
    assert qrot(q, v).shape == (4, 5, 3)
    assert max_err(qrot(q, v)[1, 4], qrot(q[1, 0], v[4])) == 0
    # slerp's t broadcasts against the batch shape: T times for N pairs gives (T, N, 4).
    t = torch.linspace(0, 1, 7, dtype=torch.float64)[:, None]
    curve = slerp(r, qmul(r, q[0, 0]), t)
    assert curve.shape == (7, 5, 4)
    assert max_err(curve[3, 2], slerp(r[2], qmul(r[2], q[0, 0]), 0.5)) < 1e-15


# ------------------------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_axis_angle_is_identity_with_finite_gradients(dtype):
    aa = torch.zeros(3, 3, dtype=dtype, requires_grad=True)
    q = axis_angle_to_quaternion(aa)
    m = axis_angle_to_matrix(aa)
    assert max_err(q, [[1.0, 0.0, 0.0, 0.0]] * 3) == 0
    assert max_err(m, torch.eye(3).expand(3, 3, 3)) == 0
    (q.sum() + m.sum()).backward()
    assert torch.isfinite(aa.grad).all()
    # d q / d aa at zero is 1/2 for the vector part, 0 for w; d R / d aa sums to zero (skew-symmetric).
    assert max_err(aa.grad, torch.full((3, 3), 0.5)) < TOL[dtype]

    q_id = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=dtype, requires_grad=True)
    back = quaternion_to_axis_angle(q_id)
    assert max_err(back, [0.0, 0.0, 0.0]) == 0
    back.sum().backward()
    assert max_err(q_id.grad, [0.0, 2.0, 2.0, 2.0]) == 0
    assert max_err(matrix_to_axis_angle(torch.eye(3, dtype=dtype)), [0.0, 0.0, 0.0]) == 0


def test_small_angle_series_has_correct_values_and_gradients():
    # Both sides of the series switch (1e-3 rad) agree with the closed form; gradcheck checks derivatives.
    for angle in [1e-9, 5e-4, 9.99e-4, 1.001e-3, 0.3]:
        aa = t64([angle * 0.6, 0.0, -angle * 0.8])
        expected = [math.cos(angle / 2), math.sin(angle / 2) * 0.6, 0.0, -math.sin(angle / 2) * 0.8]
        assert max_err(axis_angle_to_quaternion(aa), expected) < 3e-16  # about one unit in the last place
        assert max_err(quaternion_to_axis_angle(t64(expected)), aa) < 3e-16
        x = (aa * 1.0).requires_grad_()
        assert torch.autograd.gradcheck(axis_angle_to_quaternion, (x,))
        assert torch.autograd.gradcheck(quaternion_to_axis_angle, (t64(expected).requires_grad_(),))


@pytest.mark.parametrize("dtype", DTYPES)
def test_half_turns_round_trip(dtype):
    axes = torch.cat([torch.eye(3, dtype=torch.float64), random_vectors((50,), torch.float64, seed=4)])
    aa = (axes / axes.norm(dim=-1, keepdim=True) * math.pi).to(dtype)
    q = axis_angle_to_quaternion(aa)
    assert max_err(q[:, 0], torch.zeros(53)) < TOL[dtype]
    back = quaternion_to_axis_angle(q)
    assert max_err(back.norm(dim=-1), torch.full((53,), math.pi, dtype=torch.float64)) < 4 * TOL[dtype]
    assert max_err(axis_angle_to_matrix(back), axis_angle_to_matrix(aa)) < 4 * TOL[dtype]
    # Through the matrix as well: trace -1 is where the w-based formula divides by zero.
    m = axis_angle_to_matrix(aa)
    assert max_err(axis_angle_to_matrix(matrix_to_axis_angle(m)), m) < 4 * TOL[dtype]
    assert err_up_to_sign(matrix_to_quaternion(m), q) < TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_unit_quaternion_to_matrix_normalises_first(dtype):
    q = random_quaternions((10,), dtype, seed=5)
    scale = torch.logspace(-3, 3, 10, dtype=dtype)[:, None]
    assert max_err(quaternion_to_matrix(q * scale), quaternion_to_matrix(q)) < TOL[dtype]
    assert max_err(quaternion_to_matrix(-q), quaternion_to_matrix(q)) == 0
    assert max_err(quaternion_to_axis_angle(q * scale), quaternion_to_axis_angle(q)) < 4 * TOL[dtype]
    assert max_err(quaternion_to_cont6d(q * scale), quaternion_to_cont6d(q)) < TOL[dtype]
    # The hand-worked case: (2, 0, 0, 2) is the quarter turn about z.
    assert max_err(quaternion_to_matrix(t64([2.0, 0.0, 0.0, 2.0])), RZ90) < 1e-15


def test_zero_quaternion_normalises_to_zero_not_nan():
    assert max_err(qnormalize(torch.zeros(4)), torch.zeros(4)) == 0
    assert max_err(quaternion_to_matrix(torch.zeros(4)), torch.eye(3)) == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_slerp_shorter_path_and_parallel_fallback(dtype):
    q0 = random_quaternions((20,), dtype, seed=6)
    q1 = random_quaternions((20,), dtype, seed=7)
    t = torch.linspace(-0.5, 1.5, 20, dtype=dtype)
    # -q1 is the same rotation as q1, so the interpolation is the same rotation path.
    assert err_up_to_sign(slerp(q0, -q1, t), slerp(q0, q1, t)) < TOL[dtype]
    # The shorter path: at time t the angle from q0 is t times the angle between the rotations (<= pi).
    for time in (0.25, 0.5, 0.9):
        along = rotation_angle(q0, slerp(q0, q1, time))
        assert max_err(along, time * rotation_angle(q0, q1)) < 4 * TOL[dtype]
    # Identical and antipodal quaternions: no division by sin(0), the result is q0.
    for other in (q0, -q0):
        out = slerp(q0, other, t)
        assert torch.isfinite(out).all()
        assert err_up_to_sign(out, q0) < TOL[dtype]
    # Nearly parallel: halfway along a rotation of 1e-9 rad is a rotation of 5e-10 rad.
    tiny = qmul(q0, axis_angle_to_quaternion(torch.tensor([1e-9, 0.0, 0.0], dtype=dtype)))
    halfway = qmul(q0, axis_angle_to_quaternion(torch.tensor([5e-10, 0.0, 0.0], dtype=dtype)))
    assert err_up_to_sign(slerp(q0, tiny, 0.5), halfway) < TOL[dtype]
    assert max_err(slerp(q0, tiny, 0.5).norm(dim=-1), torch.ones(20)) < TOL[dtype]


def test_slerp_nearly_parallel_matches_closed_form_and_has_finite_gradients():
    q0 = t64([1.0, 0.0, 0.0, 0.0])
    for angle in [1e-12, 5e-5, 2e-4]:  # both sides of the linear fallback at 1e-4
        q1 = t64([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])
        expected = [math.cos(0.3 * angle / 2), 0.0, 0.0, math.sin(0.3 * angle / 2)]
        assert max_err(slerp(q0, q1, 0.3), expected) < 3e-16
    a = q0.clone().requires_grad_()
    b = q0.clone().requires_grad_()
    slerp(a, b, 0.3).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_qbetween_rotates_v0_onto_v1_by_the_shortest_arc(dtype):
    v0 = random_vectors((200,), dtype, seed=8)
    v1 = random_vectors((200,), dtype, seed=9)
    q = qbetween(v0, v1)
    u0, u1 = v0 / v0.norm(dim=-1, keepdim=True), v1 / v1.norm(dim=-1, keepdim=True)
    assert max_err(q.norm(dim=-1), torch.ones(200)) < TOL[dtype]
    assert max_err(qrot(q, u0), u1) < 4 * TOL[dtype]
    # Shortest arc: the axis is perpendicular to both vectors and the angle is the angle between them.
    axis_angle = quaternion_to_axis_angle(q)
    assert max_err((axis_angle * u0).sum(-1), torch.zeros(200)) < 4 * TOL[dtype]
    assert max_err((axis_angle * u1).sum(-1), torch.zeros(200)) < 4 * TOL[dtype]
    between = torch.atan2(torch.linalg.cross(u0, u1).norm(dim=-1), (u0 * u1).sum(-1))
    assert max_err(axis_angle.norm(dim=-1), between) < 4 * TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_qbetween_degenerate_vectors(dtype):
    v = torch.cat([torch.eye(3, dtype=dtype), random_vectors((20,), dtype, seed=10)])
    identity = torch.zeros(23, 4, dtype=dtype)
    identity[:, 0] = 1
    assert max_err(qbetween(v, 2.5 * v), identity) < TOL[dtype]
    opposite = qbetween(v, -3 * v)
    assert torch.isfinite(opposite).all()
    assert max_err(opposite[:, 0], torch.zeros(23)) < TOL[dtype]
    assert max_err(qrot(opposite, v), -v) < 4 * TOL[dtype]
    assert max_err(qbetween(torch.zeros(3, dtype=dtype), v[0]), identity[0]) == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1, 1, allow_nan=False, allow_infinity=False), min_size=4, max_size=4).filter(
        lambda q: math.fsum(x * x for x in q) > 1e-6
    )
)
def test_property_quaternion_matrix_round_trip(values):
    q = t64(values)
    back = matrix_to_quaternion(quaternion_to_matrix(q))
    assert err_up_to_sign(back, q / q.norm()) < 1e-12
    assert float(back[0]) >= 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-6, 6, allow_nan=False, allow_infinity=False), min_size=3, max_size=3))
def test_property_axis_angle_round_trip(values):
    aa = t64(values)
    back = quaternion_to_axis_angle(axis_angle_to_quaternion(aa))
    assert float(back.norm()) <= math.pi + 1e-12
    assert max_err(axis_angle_to_matrix(back), axis_angle_to_matrix(aa)) < 1e-12
    if float(aa.norm()) < math.pi - 1e-6:
        assert max_err(back, aa) < 1e-12


# ----------------------------------------------------------------------------------------- numpy in and out

NUMPY_CASES = [
    (qmul, [(5, 4), (5, 4)]),
    (qinv, [(5, 4)]),
    (qnormalize, [(5, 4)]),
    (qstandardize, [(5, 4)]),
    (qrot, [(5, 4), (5, 3)]),
    (qbetween, [(5, 3), (5, 3)]),
    (axis_angle_to_quaternion, [(5, 3)]),
    (quaternion_to_axis_angle, [(5, 4)]),
    (axis_angle_to_matrix, [(5, 3)]),
    (matrix_to_axis_angle, [(5, 3, 3)]),
    (quaternion_to_matrix, [(5, 4)]),
    (matrix_to_quaternion, [(5, 3, 3)]),
    (matrix_to_cont6d, [(5, 3, 3)]),
    (cont6d_to_matrix, [(5, 6)]),
    (quaternion_to_cont6d, [(5, 4)]),
    (cont6d_to_quaternion, [(5, 6)]),
]


def _numpy_inputs(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    inputs = []
    for shape in shapes:
        if shape[-2:] == (3, 3):
            x = Rotation.from_quat(rng.normal(size=(*shape[:-2], 4))).as_matrix()
        else:
            x = rng.normal(size=shape)
            if shape[-1] == 4:
                x /= np.linalg.norm(x, axis=-1, keepdims=True)
        inputs.append(x.astype(dtype))
    return inputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("func", "shapes"), NUMPY_CASES, ids=[f.__name__ for f, _ in NUMPY_CASES])
def test_numpy_in_numpy_out(func, shapes, dtype):
    inputs = _numpy_inputs(shapes, dtype)
    out = func(*inputs)
    assert isinstance(out, np.ndarray)
    assert out.dtype == dtype
    expected = func(*[torch.from_numpy(x) for x in inputs])
    assert isinstance(expected, torch.Tensor) and expected.dtype == torch.from_numpy(inputs[0]).dtype
    np.testing.assert_array_equal(out, expected.numpy())
    # The inputs are left untouched and the output does not alias them.
    assert all(not np.shares_memory(out, x) for x in inputs)


def test_numpy_slerp_and_awkward_arrays():
    q0, q1 = _numpy_inputs([(6, 4), (6, 4)], np.float32)
    out = slerp(q0, q1, np.float32(0.25))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (6, 4)
    out = slerp(q0, q1, np.linspace(0, 1, 3)[:, None])
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (3, 6, 4)
    # A torch t makes the result torch.
    assert isinstance(slerp(q0, q1, torch.tensor(0.5)), torch.Tensor)
    # Read-only, non-contiguous and big-endian arrays work without warnings.
    (m,) = _numpy_inputs([(4, 3, 3)], np.float64)
    readonly = m.copy()
    readonly.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reference = matrix_to_quaternion(m)
        np.testing.assert_array_equal(matrix_to_quaternion(readonly), reference)
        transposed = np.ascontiguousarray(m.transpose(0, 2, 1)).transpose(0, 2, 1)
        np.testing.assert_array_equal(matrix_to_quaternion(transposed), reference)
        np.testing.assert_array_equal(matrix_to_quaternion(m[::-1])[::-1], reference)
        np.testing.assert_array_equal(matrix_to_quaternion(m.astype(">f8")), reference)


def test_mixed_inputs_promote_to_torch_and_wider_dtype():
    q32 = random_quaternions((3,), torch.float32, seed=1)
    q64 = random_quaternions((3,), torch.float64, seed=2).numpy()
    out = qmul(q32, q64)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    v = np.ones((3, 3), np.float32)
    out = qrot(q32.numpy(), v)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def test_float32_is_computed_in_float32():
    q = random_quaternions((100,), torch.float32, seed=3)
    m = quaternion_to_matrix(q)
    for out in (m, matrix_to_quaternion(m), matrix_to_axis_angle(m), slerp(q, q.flip(0), 0.3)):
        assert out.dtype == torch.float32


# ---------------------------------------------------------------------------------------------- bad input

BAD_SHAPES = [
    (qmul, [(5, 3), (5, 4)], "q", "(..., 4)", "(5, 3)"),
    (qmul, [(5, 4), (4, 5)], "r", "(..., 4)", "(4, 5)"),
    (qrot, [(4,), (4,)], "v", "(..., 3)", "(4,)"),
    (qinv, [(3,)], "q", "(..., 4)", "(3,)"),
    (qbetween, [(2, 4), (2, 3)], "v0", "(..., 3)", "(2, 4)"),
    (quaternion_to_matrix, [(7, 3)], "q", "(..., 4)", "(7, 3)"),
    (quaternion_to_axis_angle, [()], "q", "(..., 4)", "()"),
    (axis_angle_to_quaternion, [(2, 4)], "aa", "(..., 3)", "(2, 4)"),
    (axis_angle_to_matrix, [(3, 4)], "aa", "(..., 3)", "(3, 4)"),
    (matrix_to_quaternion, [(5, 3, 4)], "matrix", "(..., 3, 3)", "(5, 3, 4)"),
    (matrix_to_axis_angle, [(9,)], "matrix", "(..., 3, 3)", "(9,)"),
    (matrix_to_cont6d, [(2, 2)], "matrix", "(..., 3, 3)", "(2, 2)"),
    (cont6d_to_matrix, [(5, 9)], "cont6d", "(..., 6)", "(5, 9)"),
    (cont6d_to_quaternion, [(3, 2)], "cont6d", "(..., 6)", "(3, 2)"),
    (quaternion_to_cont6d, [(6,)], "q", "(..., 4)", "(6,)"),
]


@pytest.mark.parametrize("as_numpy", [False, True], ids=["torch", "numpy"])
@pytest.mark.parametrize(
    ("func", "shapes", "name", "expected", "given"), BAD_SHAPES, ids=[c[0].__name__ for c in BAD_SHAPES]
)
def test_wrong_trailing_shape_is_a_project_error(func, shapes, name, expected, given, as_numpy):
    inputs = [np.zeros(s) if as_numpy else torch.zeros(s) for s in shapes]
    with pytest.raises(MogenBenchError) as info:
        func(*inputs)
    message = str(info.value)
    assert f"{func.__name__}()" in message
    assert expected in message
    assert f"got shape {given}" in message
    assert info.value.field == name and info.value.fix


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(2, 4, dtype=torch.int64),
        torch.zeros(2, 4, dtype=torch.bool),
        torch.zeros(2, 4, dtype=torch.complex64),
        np.zeros((2, 4), np.int32),
        np.zeros((2, 4), np.complex128),
        np.zeros((2, 4), object),
    ],
    ids=["torch-int64", "torch-bool", "torch-complex", "numpy-int32", "numpy-complex", "numpy-object"],
)
def test_non_floating_dtype_is_a_project_error(bad):
    with pytest.raises(MogenBenchError, match=r"quaternion_to_matrix\(\) needs a floating-point q, got"):
        quaternion_to_matrix(bad)
    with pytest.raises(MogenBenchError, match=r"qmul\(\) needs a floating-point r"):
        qmul(torch.zeros(2, 4), bad)


def test_other_bad_input_is_a_project_error():
    with pytest.raises(MogenBenchError, match=r"qrot\(\) needs q as a torch tensor or numpy array.*got list"):
        qrot([1.0, 0.0, 0.0, 0.0], torch.zeros(3))
    with pytest.raises(MogenBenchError, match=r"qmul\(\) cannot broadcast.*\(2,\), \(3,\)"):
        qmul(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(MogenBenchError, match=r"slerp\(\) cannot broadcast"):
        slerp(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(3))
    with pytest.raises(MogenBenchError, match=r"slerp\(\) needs t as a number"):
        slerp(torch.zeros(2, 4), torch.zeros(2, 4), "half")
