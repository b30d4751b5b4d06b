"""Batched rotation conversions in the conventions of HumanML3D's ``common/quaternion.py``.

Quaternions are ``(w, x, y, z)`` with the Hamilton product; ``qrot`` rotates a vector actively
(``v' = q v q*``); matrices act on column vectors (``v' = R @ v``); axis-angle is the rotation vector
``angle * unit_axis``; the continuous 6D representation is the first two *columns* of the rotation
matrix, ``cat(R[..., :, 0], R[..., :, 1])``, turned back into a matrix by Gram-Schmidt.

Every function takes any leading batch shape and works on torch tensors or numpy arrays: numpy in gives
numpy out with the same dtype, torch in gives torch out on the same device. Arithmetic runs in the input's
floating dtype (float32 and float64 are tested). A wrong trailing shape or a non-floating dtype raises
``MogenBenchError`` naming the function, the expected shape and the shape given. Formulas with a removable
singularity (zero rotation, parallel quaternions) switch to a series or a linear fallback with the
"double where" pattern, so neither values nor gradients become NaN there.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.tensors import floating_tensor, shape_text

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "cont6d_to_matrix",
    "cont6d_to_quaternion",
    "matrix_to_axis_angle",
    "matrix_to_cont6d",
    "matrix_to_quaternion",
    "qbetween",
    "qinv",
    "qmul",
    "qnormalize",
    "qrot",
    "qstandardize",
    "quaternion_to_axis_angle",
    "quaternion_to_cont6d",
    "quaternion_to_matrix",
    "slerp",
]

Array = TypeVar("Array", torch.Tensor, np.ndarray)

# Below this squared angle (radians^2; tan^2 of the half angle for quaternion -> axis-angle) the
# axis-angle <-> quaternion maps use Taylor series truncated after the 4th power, whose error
# (~1e-18) is below float64 eps.
_SMALL_ANGLE_SQ = 1e-6
# Below this angle between two quaternions slerp is replaced by normalised lerp; the two differ by
# O(theta^3) ~ 1e-13 there, and sin(theta) is no longer a divisor.
_SLERP_LINEAR_ANGLE = 1e-4


# ----------------------------------------------------------------------------------------- input checks


def _to_tensor(func: str, name: str, value: object, trailing: tuple[int, ...]) -> torch.Tensor:
    """Check one rotation argument and view it as a tensor (sharing a numpy array's memory)."""
    expected = "(..., " + ", ".join(str(s) for s in trailing) + ")"
    tensor = floating_tensor(func, name, value, expected)
    shape, n = tuple(tensor.shape), len(trailing)
    if len(shape) < n or shape[len(shape) - n :] != trailing:
        raise MogenBenchError(
            f"{func}() expects {name} of shape {expected}, got shape {shape_text(shape)}",
            field=name,
            fix=f"give {name} trailing dimensions {shape_text(trailing)}",
        )
    return tensor


def _prepare(func: str, *args: tuple[str, object, tuple[int, ...]]) -> tuple[list[torch.Tensor], bool]:
    """Check every argument, bring them to one dtype and device; say whether the result goes back to numpy."""
    tensors = [_to_tensor(func, name, value, trailing) for name, value, trailing in args]
    as_numpy = not any(isinstance(value, torch.Tensor) for _, value, _ in args)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    devices = [value.device for _, value, _ in args if isinstance(value, torch.Tensor)]
    device = devices[0] if devices else None
    tensors = [t.to(dtype=dtype, device=device) for t in tensors]
    return tensors, as_numpy


def _check_broadcast(func: str, names: str, *shapes: torch.Size) -> None:
    try:
        torch.broadcast_shapes(*shapes)
    except RuntimeError:
        given = ", ".join(shape_text(tuple(s)) for s in shapes)
        raise MogenBenchError(
            f"{func}() cannot broadcast the batch shapes of {names}: {given}",
            field=names,
            fix="give the inputs leading shapes that broadcast against each other",
        ) from None


def _out(result: torch.Tensor, as_numpy: bool):
    return result.numpy() if as_numpy else result


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over the last dim, written per component: about twice as fast as
    ``torch.linalg.cross`` on CPU for the (..., 3) tensors of the motion pipeline."""
    a, b = torch.broadcast_tensors(a, b)
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=-1, keepdim=True)


def _normalize(v: torch.Tensor) -> torch.Tensor:
    # Clamping keeps a zero vector at zero instead of NaN.
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


# ------------------------------------------------------------------------------------- quaternion algebra


def _qmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = torch.broadcast_tensors(a, b)
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def qmul(q: Array, r: Array) -> Array:
    """Hamilton product ``q * r`` of quaternions ``(..., 4)`` (``r`` acts first); shapes broadcast."""
    (q_t, r_t), as_numpy = _prepare("qmul", ("q", q, (4,)), ("r", r, (4,)))
    _check_broadcast("qmul", "q and r", q_t.shape[:-1], r_t.shape[:-1])
    return _out(_qmul(q_t, r_t), as_numpy)


def qinv(q: Array) -> Array:
    """Conjugate ``(w, -x, -y, -z)`` of quaternions ``(..., 4)``: the inverse of a unit quaternion."""
    (q_t,), as_numpy = _prepare("qinv", ("q", q, (4,)))
    return _out(torch.cat([q_t[..., :1], -q_t[..., 1:]], dim=-1), as_numpy)


def qnormalize(q: Array) -> Array:
    """Quaternions ``(..., 4)`` scaled to unit norm (a zero quaternion stays zero instead of becoming NaN)."""
    (q_t,), as_numpy = _prepare("qnormalize", ("q", q, (4,)))
    return _out(_normalize(q_t), as_numpy)


def _qstandardize(q: torch.Tensor) -> torch.Tensor:
    return torch.where(q[..., :1] < 0, -q, q)


def qstandardize(q: Array) -> Array:
    """Quaternions ``(..., 4)`` signed so that ``w >= 0`` (``q`` and ``-q`` are the same rotation)."""
    (q_t,), as_numpy = _prepare("qstandardize", ("q", q, (4,)))
    return _out(_qstandardize(q_t), as_numpy)


def _qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    w, u = q[..., :1], q[..., 1:]
    u, v = torch.broadcast_tensors(u, v)
    uv = _cross(u, v)
    uuv = _cross(u, uv)
    return v + 2 * (w * uv + uuv)


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors ``v`` ``(..., 3)`` by unit quaternions ``q`` ``(..., 4)``; leading shapes broadcast."""
    (q_t, v_t), as_numpy = _prepare("qrot", ("q", q, (4,)), ("v", v, (3,)))
    _check_broadcast("qrot", "q and v", q_t.shape[:-1], v_t.shape[:-1])
    return _out(_qrot(q_t, v_t), as_numpy)


def qbetween(v0: Array, v1: Array) -> Array:
    """Unit quaternions of the shortest-arc rotations taking the directions ``v0`` to ``v1`` (``(..., 3)``).

    ``normalize([|v0||v1| + v0.v1, v0 x v1])`` as in HumanML3D. Opposite vectors have no unique shortest arc;
    there the result is the half turn about an axis perpendicular to ``v0`` (HumanML3D would give NaN).
    A zero vector gives the identity.
    """
    (a, b), as_numpy = _prepare("qbetween", ("v0", v0, (3,)), ("v1", v1, (3,)))
    _check_broadcast("qbetween", "v0 and v1", a.shape[:-1], b.shape[:-1])
    a, b = torch.broadcast_tensors(a, b)
    finfo = torch.finfo(a.dtype)
    lengths = torch.sqrt(_dot(a, a) * _dot(b, b))
    raw = torch.cat([lengths + _dot(a, b), _cross(a, b)], dim=-1)
    raw_norm = torch.linalg.vector_norm(raw, dim=-1, keepdim=True)
    zero = lengths <= finfo.tiny
    # |raw| = |v0||v1| sqrt(2 (1 + cos)): relative to the lengths it vanishes only for opposite vectors.
    opposite = (raw_norm <= math.sqrt(finfo.eps) * lengths) & ~zero
    special = opposite | zero
    q = raw / torch.where(special, torch.ones_like(raw_norm), raw_norm)
    # The fallbacks cost as much as the formula itself, so they run only when some pair needs them.
    if bool(special.any()):
        # Half turn about v0 x e, with e the basis axis least aligned with v0 (never parallel to it).
        least = torch.argmin(a.abs(), dim=-1)
        e = torch.nn.functional.one_hot(least, 3).to(a.dtype)
        half_turn = torch.cat([torch.zeros_like(raw[..., :1]), _normalize(_cross(a, e))], -1)
        identity = torch.zeros_like(raw)
        identity[..., 0] = 1
        q = torch.where(opposite, half_turn, q)
        q = torch.where(zero, identity, q)
    return _out(q, as_numpy)


# ------------------------------------------------------------------------------------------- axis-angle


def _axis_angle_to_quaternion(aa: torch.Tensor) -> torch.Tensor:
    theta_sq = _dot(aa, aa)
    small = theta_sq < _SMALL_ANGLE_SQ
    # Double where: the branch not taken never sees theta = 0, so its gradient stays finite too.
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    half = theta / 2
    # sin(theta/2)/theta and cos(theta/2) as series in theta^2 near zero.
    k = torch.where(small, 0.5 - theta_sq / 48 + theta_sq**2 / 3840, torch.sin(half) / theta)
    w = torch.where(small, 1 - theta_sq / 8 + theta_sq**2 / 384, torch.cos(half))
    return torch.cat([w, aa * k], dim=-1)


def axis_angle_to_quaternion(aa: Array) -> Array:
    """Unit quaternions ``(w, x, y, z)`` ``(..., 4)`` for rotation vectors ``angle * axis`` ``(..., 3)``.

    ``w = cos(angle / 2)``, so angles above pi give ``w < 0`` (use ``qstandardize`` for ``w >= 0``).
    The zero vector gives the identity, with finite gradients.
    """
    (aa_t,), as_numpy = _prepare("axis_angle_to_quaternion", ("aa", aa, (3,)))
    return _out(_axis_angle_to_quaternion(aa_t), as_numpy)


def _quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    q = _qstandardize(q)
    w, u = q[..., :1], q[..., 1:]
    s_sq = _dot(u, u)
    ones = torch.ones_like(w)
    # |u| / w is tiny: near the identity, or a zero quaternion (which maps to the zero vector).
    small = s_sq <= _SMALL_ANGLE_SQ * w * w
    s = torch.sqrt(torch.where(small, ones, s_sq))
    w_safe = torch.where(w > 0, w, ones)
    r_sq = s_sq / (w_safe * w_safe)
    # angle / |u| = 2 atan(r) / (r w) with r = |u| / w, as a series in r^2 when r is small.
    factor_small = (2 / w_safe) * (1 - r_sq / 3 + r_sq**2 / 5)
    factor = torch.where(small, factor_small, 2 * torch.atan2(s, w) / s)
    return u * factor


def quaternion_to_axis_angle(q: Array) -> Array:
    """Rotation vectors ``(..., 3)``, angle in ``[0, pi]``, for quaternions ``(..., 4)`` of any nonzero norm.

    Uses ``angle = 2 atan2(|u|, |w|)``, accurate at every angle; at exactly pi the sign of the axis is that of
    the input's vector part.
    """
    (q_t,), as_numpy = _prepare("quaternion_to_axis_angle", ("q", q, (4,)))
    return _out(_quaternion_to_axis_angle(q_t), as_numpy)


def axis_angle_to_matrix(aa: Array) -> Array:
    """Rotation matrices ``(..., 3, 3)`` for rotation vectors ``angle * axis`` ``(..., 3)``."""
    (aa_t,), as_numpy = _prepare("axis_angle_to_matrix", ("aa", aa, (3,)))
    return _out(_quaternion_to_matrix(_axis_angle_to_quaternion(aa_t)), as_numpy)


def matrix_to_axis_angle(matrix: Array) -> Array:
    """Rotation vectors ``(..., 3)`` with angle in ``[0, pi]`` for rotation matrices ``(..., 3, 3)``."""
    (m,), as_numpy = _prepare("matrix_to_axis_angle", ("matrix", matrix, (3, 3)))
    return _out(_quaternion_to_axis_angle(_matrix_to_quaternion(m)), as_numpy)


# -------------------------------------------------------------------------------------------- matrices


def _quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    w, x, y, z = _normalize(q).unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = [
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def quaternion_to_matrix(q: Array) -> Array:
    """Rotation matrices ``(..., 3, 3)`` for quaternions ``(..., 4)``; the input is normalised first."""
    (q_t,), as_numpy = _prepare("quaternion_to_matrix", ("q", q, (4,)))
    return _out(_quaternion_to_matrix(q_t), as_numpy)


def _matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Shepperd's method. Row k below equals 4 q_k (w, x, y, z), and its k-th entry is 4 q_k^2; dividing
    # the row with the largest q_k^2 (at least 1/4 for a rotation) never divides by a small number,
    # which keeps half turns (w = 0) and near half turns exact.
    candidates = torch.stack(
        [
            torch.stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, 1 + m00 - m11 - m22, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, 1 - m00 + m11 - m22, m21 + m12], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, 1 - m00 - m11 + m22], dim=-1),
        ],
        dim=-2,
    )
    best = torch.diagonal(candidates, dim1=-2, dim2=-1).argmax(dim=-1)
    chosen = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    # Normalising the chosen row (rather than dividing by 4 q_k) also projects a slightly
    # non-orthogonal matrix onto a unit quaternion.
    return _qstandardize(_normalize(chosen))


def matrix_to_quaternion(matrix: Array) -> Array:
    """Unit quaternions ``(..., 4)``, ``w >= 0``, for rotation matrices ``(..., 3, 3)``, any angle."""
    (m,), as_numpy = _prepare("matrix_to_quaternion", ("matrix", matrix, (3, 3)))
    return _out(_matrix_to_quaternion(m), as_numpy)


# ------------------------------------------------------------------------------------------ continuous 6D


def _matrix_to_cont6d(m: torch.Tensor) -> torch.Tensor:
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def _cont6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    x = _normalize(d6[..., 0:3])
    z = _normalize(_cross(x, d6[..., 3:6]))
    y = _cross(z, x)
    return torch.stack([x, y, z], dim=-1)


def matrix_to_cont6d(matrix: Array) -> Array:
    """Continuous 6D ``(..., 6)``, the first two columns of ``(..., 3, 3)``: R00, R10, R20, R01, R11, R21."""
    (m,), as_numpy = _prepare("matrix_to_cont6d", ("matrix", matrix, (3, 3)))
    return _out(_matrix_to_cont6d(m), as_numpy)


def cont6d_to_matrix(cont6d: Array) -> Array:
    """Rotation matrices ``(..., 3, 3)`` from continuous 6D ``(..., 6)`` by Gram-Schmidt.

    ``x = normalize(a)``, ``z = normalize(x cross b)``, ``y = z cross x`` and the columns are ``[x, y, z]``,
    where ``a`` and ``b`` are the first and last three numbers; any ``a``, ``b`` that are not parallel work.
    """
    (d6,), as_numpy = _prepare("cont6d_to_matrix", ("cont6d", cont6d, (6,)))
    return _out(_cont6d_to_matrix(d6), as_numpy)


def quaternion_to_cont6d(q: Array) -> Array:
    """Continuous 6D ``(..., 6)`` for quaternions ``(..., 4)`` (normalised first)."""
    (q_t,), as_numpy = _prepare("quaternion_to_cont6d", ("q", q, (4,)))
    return _out(_matrix_to_cont6d(_quaternion_to_matrix(q_t)), as_numpy)


def cont6d_to_quaternion(cont6d: Array) -> Array:
    """Unit quaternions ``(..., 4)`` with ``w >= 0`` for continuous 6D ``(..., 6)``."""
    (d6,), as_numpy = _prepare("cont6d_to_quaternion", ("cont6d", cont6d, (6,)))
    return _out(_matrix_to_quaternion(_cont6d_to_matrix(d6)), as_numpy)


# ---------------------------------------------------------------------------------------- interpolation


def slerp(q0: Array, q1: Array, t: float | Array) -> Array:
    """Spherical linear interpolation from ``q0`` (``t = 0``) to ``q1`` (``t = 1``), quaternions ``(..., 4)``.

    ``t`` is a number or an array that broadcasts against the batch shape (``q.shape[:-1]``); e.g. ``t`` of
    shape ``(T, 1)`` with ``q0``, ``q1`` of shape ``(N, 4)`` gives ``(T, N, 4)``. The inputs are normalised;
    ``q1`` is negated where ``q0 . q1 < 0`` so the path is the shorter one; for nearly equal rotations the
    result is normalised linear interpolation, so nothing divides by ``sin(angle) ~ 0``. ``t`` outside
    ``[0, 1]`` extrapolates along the same great circle.
    """
    (a, b), as_numpy = _prepare("slerp", ("q0", q0, (4,)), ("q1", q1, (4,)))
    if isinstance(t, torch.Tensor):
        as_numpy = False
        t_t = t.to(dtype=a.dtype, device=a.device)
    elif isinstance(t, (int, float, np.ndarray, np.number)) and not isinstance(t, bool):
        t_t = torch.as_tensor(np.asarray(t), dtype=a.dtype, device=a.device)
    else:
        raise MogenBenchError(
            f"slerp() needs t as a number, a torch tensor or a numpy array, got {type(t).__name__}",
            field="t",
            fix="pass t as a float or an array that broadcasts against the batch shape",
        )
    _check_broadcast("slerp", "q0, q1 and t", a.shape[:-1], b.shape[:-1], t_t.shape)
    a, b = _normalize(a), _normalize(b)
    a, b = torch.broadcast_tensors(a, b)
    b = torch.where(_dot(a, b) < 0, -b, b)
    t_t = t_t[..., None]
    # The angle from |a - b| and |a + b| (2 sin and 2 cos of its half) stays accurate near 0, unlike acos.
    half = torch.atan2(
        torch.linalg.vector_norm(a - b, dim=-1, keepdim=True),
        torch.linalg.vector_norm(a + b, dim=-1, keepdim=True),
    )
    angle = 2 * half
    linear = angle < _SLERP_LINEAR_ANGLE
    safe = torch.where(linear, torch.ones_like(angle), angle)
    sin_angle = torch.sin(safe)
    w0 = torch.where(linear, 1 - t_t, torch.sin((1 - t_t) * safe) / sin_angle)
    w1 = torch.where(linear, t_t, torch.sin(t_t * safe) / sin_angle)
    out = w0 * a + w1 * b
    out = torch.where(linear, _normalize(out), out)
    return _out(out, as_numpy)


# --------------------------------------------------------------------------- component form (for batches)
#
# The batched motion pipelines (``guo_features``) handle millions of small vectors. Kept as (..., 3) or
# (..., 4) tensors, every elementwise op runs a strided, unvectorised loop and every stack or unbind copies;
# kept as one contiguous tensor per component (structure of arrays), the same ops run vectorised over
# contiguous memory. These helpers take and return tuples of component tensors that broadcast against each
# other, and evaluate the formulas of the functions above term by term in the same order. They agree with
# them to a rounding step, not bit for bit: ``torch.addcmul(t, a, b)`` (``t + a * b`` in one kernel) may use
# a fused multiply-add, and ``vector_norm`` may sum in another precision than the explicit sums here.

Vec3 = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Quat = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _dot_components(a: Vec3, b: Vec3) -> torch.Tensor:
    return torch.addcmul(torch.addcmul(a[0] * b[0], a[1], b[1]), a[2], b[2])


def _cross_components(a: Vec3, b: Vec3) -> Vec3:
    ax, ay, az = a
    bx, by, bz = b
    return (
        torch.addcmul(ay * bz, az, by, value=-1),
        torch.addcmul(az * bx, ax, bz, value=-1),
        torch.addcmul(ax * by, ay, bx, value=-1),
    )


def _qmul_conj_components(a: Quat, b: Quat) -> Quat:
    """``qmul(qinv(a), b)``, the rotation ``b`` relative to ``a``, term by term as ``_qmul`` computes it."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        torch.addcmul(torch.addcmul(torch.addcmul(aw * bw, ax, bx), ay, by), az, bz),
        torch.addcmul(torch.addcmul(torch.addcmul(aw * bx, ax, bw, value=-1), ay, bz, value=-1), az, by),
        torch.addcmul(torch.addcmul(torch.addcmul(aw * by, ax, bz), ay, bw, value=-1), az, bx, value=-1),
        torch.addcmul(torch.addcmul(torch.addcmul(aw * bz, ax, by, value=-1), ay, bx), az, bw, value=-1),
    )


def _qbetween_components(a: Vec3, b: Vec3) -> torch.Tensor | None:
    """``qbetween(a, b)`` as one tensor ``(4, ...)`` of components, or ``None`` where some pair needs the
    zero or opposite fallback of ``qbetween``."""
    finfo = torch.finfo(b[0].dtype)
    lengths = torch.sqrt(_dot_components(a, a) * _dot_components(b, b))
    w = lengths + _dot_components(a, b)
    x, y, z = _cross_components(a, b)
    norm = torch.sqrt(torch.addcmul(torch.addcmul(torch.addcmul(w * w, x, x), y, y), z, z))
    if bool(((lengths <= finfo.tiny) | (norm <= math.sqrt(finfo.eps) * lengths)).any()):
        return None
    q = torch.empty(4, *norm.shape, dtype=norm.dtype, device=norm.device)
    for k, component in enumerate((w, x, y, z)):
        torch.div(component, norm, out=q[k])
    return q


def _quaternion_to_cont6d_components(q: Quat, out: tuple[torch.Tensor, ...]) -> None:
    """Write ``quaternion_to_cont6d(q)`` by components, ``R00, R10, R20, R01, R11, R21``, into ``out``."""
    w, x, y, z = q
    norm = torch.sqrt(torch.addcmul(torch.addcmul(torch.addcmul(w * w, x, x), y, y), z, z))
    norm = norm.clamp_min(torch.finfo(w.dtype).tiny)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    # 2 (a b) rounds exactly as (2 a) b, so the factors of 2 of _quaternion_to_matrix go on x, y, z once.
    x2, y2, z2 = 2 * x, 2 * y, 2 * z
    one = torch.ones((), dtype=w.dtype, device=w.device)
    torch.sub(one, torch.addcmul(y2 * y, z2, z), out=out[0])
    torch.addcmul(x2 * y, z2, w, out=out[1])
    torch.addcmul(x2 * z, y2, w, value=-1, out=out[2])
    torch.addcmul(x2 * y, z2, w, value=-1, out=out[3])
    torch.sub(one, torch.addcmul(x2 * x, z2, z), out=out[4])
    torch.addcmul(y2 * z, x2, w, out=out[5])


def _qrot_components(q: Quat, v: Vec3) -> Vec3:
    """``qrot(q, v)`` by components: ``v + 2 (w (u x v) + u x (u x v))``."""
    w, u = q[0], q[1:]
    uv = _cross_components(u, v)
    uuv = _cross_components(u, uv)
    return tuple(vi + 2 * torch.addcmul(uuvi, w, uvi) for vi, uvi, uuvi in zip(v, uv, uuv, strict=True))  # type: ignore[return-value]


def _yaw_coefficients(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(k, s)`` with ``qrot(q, v) = (x + (s z - k x), y, z - (s x + k z))`` for ``q`` ``(..., 4)``.

    For a turn about +y, ``q = (w, 0, q_y, 0)``, the product ``v + 2 (w (u x v) + u x (u x v))`` reduces
    to a 2D rotation of x and z with ``k = 2 q_y^2`` (one minus the cosine) and ``s = 2 w q_y`` (the sine):
    three multiply-adds per coordinate instead of the quaternion formula's dozen. Like that formula it adds
    a correction to ``v`` rather than scaling ``v`` by the cosine, which keeps the rounding error of large
    coordinates turned by small angles as small. ``None`` when some ``q`` has a nonzero x or z.
    """
    w, qx, qy, qz = q.unbind(-1)
    if bool(((qx != 0) | (qz != 0)).any()):
        return None
    return 2 * qy * qy, 2 * w * qy


def _yaw_rotate(
    k: torch.Tensor, s: torch.Tensor, x: torch.Tensor, z: torch.Tensor, out: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """Write x and z of ``qrot(q, v)`` into ``out`` for the coefficients ``k, s`` of ``_yaw_coefficients``."""
    torch.add(x, torch.addcmul(s * z, k, x, value=-1), out=out[0])
    torch.sub(z, torch.addcmul(s * x, k, z), out=out[1])
