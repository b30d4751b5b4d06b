"""Resampling motions between frame rates (HuMMan / AMASS at 30, 60, 120 fps -> 20 fps and back).

Time convention. Source frame ``i`` is at time ``i / source_fps`` and target frame ``k`` at
``k / target_fps``; both start at 0. The target keeps every frame whose time is not past the source's last
frame, so a motion of ``N`` frames becomes ``K = floor((N - 1) * target_fps / source_fps) + 1`` frames
(computed exactly on the fps values, so 121 frames at 120 fps give exactly 21 frames at 20 fps). Target
frame ``k`` reads source position ``u_k = k * source_fps / target_fps`` (in frames) and blends frames
``floor(u_k)`` and ``floor(u_k) + 1`` with weight ``u_k - floor(u_k)``; a target frame that falls exactly on
a source frame (every frame of an integer-ratio downsampling such as 120 -> 20, and every frame of an
identity resampling) is a bit-exact copy of it.

Positions and translations interpolate linearly; rotations (quaternions or axis-angle) by slerp between the
two neighbouring frames, which keeps them on the rotation manifold; per-frame ``betas`` are taken from the
nearest source frame (``floor(u_k + 1/2)``, ties to the later frame). There is no low-pass filter before
downsampling, as in HumanML3D and TEACH, which pick frames too.

Unlike HumanML3D's ``down_sample = int(fps / 20)`` stride, a rate that does not divide evenly (e.g. 30 -> 20,
or 250 -> 20) gives true 20 fps frames by interpolation rather than a truncated stride.

Stage boundaries move with ``rescale_frame_index``: boundary ``f`` (an inclusive start or an exclusive end)
maps to ``floor(f * target_fps / source_fps + 1/2)`` (round half up, exact arithmetic). Neighbouring stages
share one boundary, so they stay contiguous; ``rescale_stage_bounds`` also pins the last end to ``K`` and
raises if a stage would become empty.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.rotations import (
    axis_angle_to_quaternion,
    quaternion_to_axis_angle,
    slerp,
)
from mogen_bench.motion.tensors import floating_tensor

__all__ = [
    "num_resampled_frames",
    "resample_positions",
    "resample_rotations",
    "resample_smpl",
    "resample_times",
    "rescale_frame_index",
    "rescale_stage_bounds",
]

# Keys of an SMPL parameter dict that resample_smpl knows how to treat.
_AXIS_ANGLE_KEYS = ("global_orient", "body_pose", "poses")
_LINEAR_KEYS = ("transl", "trans")


# ----------------------------------------------------------------------------------------- input checks


def _fps(name: str, value: object) -> Fraction:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise MogenBenchError(
            f"{name} must be a positive, finite frame rate in frames per second, got {value!r}",
            field=name,
            fix=f"pass {name} as a number > 0, e.g. 20 or 29.97",
        )
    # Fraction of the float's exact binary value: ratios of integer rates stay exact.
    return Fraction(float(value)) if not isinstance(value, (int, np.integer)) else Fraction(int(value))


def _num_frames(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MogenBenchError(
            f"{name} must be a whole number of frames >= 1 to resample, got {value!r}",
            field=name,
            fix="resample motions with at least one frame",
        )
    return int(value)


def _tensor(func: str, name: str, value: object, expected: str, min_dims: int) -> torch.Tensor:
    tensor = floating_tensor(func, name, value, expected, copy=True)
    if tensor.ndim < min_dims:
        raise MogenBenchError(
            f"{func}() expects {name} of shape {expected}, got shape {tuple(tensor.shape)}",
            field=name,
            fix=f"give {name} a frame axis and the trailing dimensions {expected}",
        )
    return tensor


def _frames_of(func: str, name: str, t: torch.Tensor, dim: int, expected: str) -> int:
    n = t.shape[dim]
    if n < 1:
        raise MogenBenchError(
            f"{func}() got {name} with 0 frames (shape {tuple(t.shape)}, expected {expected}); "
            "there is nothing to resample",
            field=name,
            fix="drop empty motions before resampling",
        )
    return n


# ------------------------------------------------------------------------------------------ the grid


def num_resampled_frames(num_frames: int, source_fps: float, target_fps: float) -> int:
    """``K = floor((N - 1) * target_fps / source_fps) + 1``: target frames not past the last source frame."""
    n = _num_frames("num_frames", num_frames)
    ratio = _fps("target_fps", target_fps) / _fps("source_fps", source_fps)
    return math.floor((n - 1) * ratio) + 1


def resample_times(num_frames: int, source_fps: float, target_fps: float) -> np.ndarray:
    """Times (seconds, float64) of the target frames: ``k / target_fps`` for ``k < K`` (module doc)."""
    k = num_resampled_frames(num_frames, source_fps, target_fps)
    return np.arange(k, dtype=np.float64) / float(target_fps)


def _plan(n: int, source_fps: float, target_fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left and right source frames ``(K,)`` and the weight of the right one for every target frame."""
    k = num_resampled_frames(n, source_fps, target_fps)
    src, tgt = _fps("source_fps", source_fps), _fps("target_fps", target_fps)
    # k * source / target in float64, the division last: for integer (or dyadic, e.g. 12.5) rates this is
    # exact wherever the true value is representable (every integer position), so frames on the source
    # grid get weight exactly 0.
    position = np.arange(k, dtype=np.float64) * float(src.numerator * tgt.denominator)
    position = position / float(src.denominator * tgt.numerator)
    position = np.minimum(position, n - 1)
    left = np.floor(position).astype(np.int64)
    right = np.minimum(left + 1, n - 1)
    return left, right, position - left


def _gather(t: torch.Tensor, index: np.ndarray, dim: int) -> torch.Tensor:
    return torch.index_select(t, dim, torch.as_tensor(index, device=t.device))


# ---------------------------------------------------------------------------------------- resamplers


def resample_positions(x: torch.Tensor | np.ndarray, source_fps: float, target_fps: float):
    """Linear interpolation of ``x`` ``(..., T, C)`` (positions, translations, any smooth channels) in time.

    Returns ``(..., K, C)`` in ``x``'s type, dtype and device.
    """
    t = _tensor("resample_positions", "x", x, "(..., T, C)", 2)
    n = _frames_of("resample_positions", "x", t, -2, "(..., T, C)")
    left, right, w = _plan(n, source_fps, target_fps)
    x0, x1 = _gather(t, left, -2), _gather(t, right, -2)
    weight = torch.as_tensor(w, dtype=t.dtype, device=t.device)[:, None]
    # lerp is exactly x0 at weight 0, so on-grid frames are copies.
    out = torch.lerp(x0, x1, weight)
    return out.numpy() if isinstance(x, np.ndarray) else out


def _slerp_frames(q: torch.Tensor, left, right, w) -> torch.Tensor:
    """Slerp of quaternions ``q`` ``(..., T, J, 4)`` to ``(..., K, J, 4)``, on-grid frames copied."""
    q0, q1 = _gather(q, left, -3), _gather(q, right, -3)
    # (K, 1) broadcasts against the quaternions' batch shape (..., K, J).
    weight = torch.as_tensor(w, dtype=q.dtype, device=q.device)[:, None]
    out = slerp(q0, q1, weight)
    return torch.where((weight == 0)[..., None], q0, out)


def resample_rotations(q: torch.Tensor | np.ndarray, source_fps: float, target_fps: float):
    """Slerp of quaternions ``q`` ``(..., T, J, 4)`` ``(w, x, y, z)`` between neighbouring frames.

    Interpolated frames are unit quaternions (``rotations.slerp`` normalises and takes the shorter arc);
    frames on the source grid are copied unchanged. Returns ``(..., K, J, 4)``.
    """
    func = "resample_rotations"
    t = _tensor(func, "q", q, "(..., T, J, 4)", 3)
    if t.shape[-1] != 4:
        raise MogenBenchError(
            f"{func}() expects q of shape (..., T, J, 4), got shape {tuple(t.shape)}",
            field="q",
            fix="pass quaternions (w, x, y, z) with a frame axis and a joint axis",
        )
    n = _frames_of(func, "q", t, -3, "(..., T, J, 4)")
    out = _slerp_frames(t, *_plan(n, source_fps, target_fps))
    return out.numpy() if isinstance(q, np.ndarray) else out


def resample_smpl(params: Mapping[str, object], source_fps: float, target_fps: float) -> dict:
    """Resample SMPL(-H/-X) axis-angle parameters; returns a new dict with the same keys and array types.

    ``global_orient`` ``(..., T, 3)``, ``body_pose`` / ``poses`` / any ``*_pose`` ``(..., T, 3 m)``:
    axis-angle -> quaternion, slerp, back (on-grid frames copied bit-exactly). ``transl`` / ``trans``
    ``(..., T, 3)``: linear. ``betas``: from the nearest frame when it has the frame axis (same leading shape
    ``(..., T)`` as the others), else unchanged. Every per-frame key must have the same ``T``; any other key
    raises, so no array silently keeps the old frame count.
    """
    func = "resample_smpl"
    if not isinstance(params, Mapping):
        raise MogenBenchError(
            f"{func}() needs a dict of SMPL parameters, got {type(params).__name__}",
            field="params",
            fix="pass e.g. dict(np.load(path)) with global_orient, body_pose, transl (and betas)",
        )
    kinds = {}
    for key in params:
        if key in _AXIS_ANGLE_KEYS or key.endswith("_pose"):
            kinds[key] = "rotation"
        elif key in _LINEAR_KEYS:
            kinds[key] = "linear"
        elif key == "betas":
            kinds[key] = "betas"
        else:
            raise MogenBenchError(
                f"{func}() does not know how to resample the SMPL parameter {key!r}",
                field=key,
                fix="drop it (or resample it yourself); known keys: global_orient, body_pose, poses, *_pose, "
                "transl, trans, betas",
            )
    timed = [k for k, kind in kinds.items() if kind != "betas"]
    if not timed:
        raise MogenBenchError(
            f"{func}() found no per-frame parameter among {sorted(params)}",
            field="params",
            fix="pass at least one of global_orient, body_pose, transl",
        )
    tensors = {}
    for key in timed:
        expected = "(..., T, 3)" if kinds[key] == "linear" else "(..., T, 3 m)"
        t = _tensor(func, key, params[key], expected, 2)
        if t.shape[-1] % 3 or (kinds[key] == "linear" and t.shape[-1] != 3):
            raise MogenBenchError(
                f"{func}() expects {key} of shape {expected}, got shape {tuple(t.shape)}",
                field=key,
                fix="axis-angle rotations are 3 numbers a joint; translations 3 numbers a frame",
            )
        tensors[key] = t
    lead = tensors[timed[0]].shape[:-1]
    for key in timed[1:]:
        if tensors[key].shape[:-1] != lead:
            raise MogenBenchError(
                f"{func}() needs every per-frame parameter with the same leading shape (..., T): "
                f"{timed[0]} has {tuple(lead)}, {key} has {tuple(tensors[key].shape[:-1])}",
                field=key,
                fix="pass parameters of the same frames",
            )
    n = _frames_of(func, timed[0], tensors[timed[0]], -2, "(..., T, C)")
    left, right, w = _plan(n, source_fps, target_fps)

    out: dict = {}
    for key, value in params.items():
        if kinds[key] == "linear":
            out[key] = resample_positions(value, source_fps, target_fps)
            continue
        if kinds[key] == "betas":
            betas = _tensor(func, "betas", value, "(..., T, B) or (..., B)", 1)
            if betas.shape[:-1] == lead:
                nearest = np.minimum(np.floor(left + w + 0.5).astype(np.int64), n - 1)
                betas = _gather(betas, nearest, -2)
            out[key] = betas.numpy() if isinstance(value, np.ndarray) else betas
            continue
        aa = tensors[key]
        joints = aa.reshape(*lead, aa.shape[-1] // 3, 3)
        quats = _slerp_frames(axis_angle_to_quaternion(joints), left, right, w)
        result = quaternion_to_axis_angle(quats).reshape(*lead[:-1], len(left), aa.shape[-1])
        # Copy on-grid frames bit-exactly (the quaternion round trip is exact only to rounding).
        on_grid = torch.as_tensor(w == 0, device=aa.device)[:, None]
        result = torch.where(on_grid, _gather(aa, left, -2), result)
        out[key] = result.numpy() if isinstance(value, np.ndarray) else result
    return out


# ------------------------------------------------------------------------------------ stage boundaries


def rescale_frame_index(frame, source_fps: float, target_fps: float):
    """Boundary frame(s) ``f`` at ``source_fps`` -> ``floor(f * target_fps / source_fps + 1/2)``.

    ``frame`` is a non-negative int or an integer array (numpy or torch; same type back). Round half up, in
    exact rational arithmetic on the fps values.
    """
    src, tgt = _fps("source_fps", source_fps), _fps("target_fps", target_fps)
    if isinstance(frame, (int, np.integer)) and not isinstance(frame, (bool, np.bool_)):
        if frame < 0:
            raise MogenBenchError(
                f"frame indices must be >= 0, got {frame}", field="frame", fix="pass a frame index >= 0"
            )
        return math.floor(Fraction(int(frame)) * tgt / src + Fraction(1, 2))
    if isinstance(frame, (np.ndarray, torch.Tensor)):
        as_torch = isinstance(frame, torch.Tensor)
        array = frame.detach().cpu().numpy() if as_torch else frame
        if not np.issubdtype(array.dtype, np.integer) or (array < 0).any():
            raise MogenBenchError(
                f"frame indices must be integers >= 0, got dtype {array.dtype}",
                field="frame",
                fix="pass integer frame indices >= 0",
            )
        # Exact integer arithmetic on Python ints: floor((2 f a + b) / (2 b)) with target / source = a / b.
        a, b = tgt.numerator * src.denominator, tgt.denominator * src.numerator
        result = ((2 * array.astype(object) * a + b) // (2 * b)).astype(np.int64)
        return torch.as_tensor(result, device=frame.device) if as_torch else result
    raise MogenBenchError(
        f"frame must be an int or an integer array, got {type(frame).__name__}",
        field="frame",
        fix="pass a frame index or an array of them",
    )


def rescale_stage_bounds(
    bounds: Sequence[tuple[int, int]], num_frames: int, source_fps: float, target_fps: float
) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` stages (start inclusive, end exclusive, contiguous) moved to ``target_fps``.

    Every boundary goes through ``rescale_frame_index``, so shared boundaries stay shared; an end equal to
    ``num_frames`` (the motion's last) becomes ``num_resampled_frames(num_frames, ...)``, the resampled
    motion's length, and no end exceeds it. Raises ``MogenBenchError`` if the input is not contiguous or a
    stage becomes empty (too short for the new frame rate; merge it into a neighbour first).
    """
    n = _num_frames("num_frames", num_frames)
    k = num_resampled_frames(n, source_fps, target_fps)
    pairs = [(int(s), int(e)) for s, e in bounds]
    if not pairs:
        raise MogenBenchError("no stages to rescale", field="stages", fix="pass at least one (start, end)")
    for i, (s, e) in enumerate(pairs):
        if not 0 <= s < e <= n:
            raise MogenBenchError(
                f"stage {i} spans [{s}, {e}), which is not a non-empty range inside the {n} frames",
                field=f"stages[{i}]",
                fix="give 0 <= start_frame < end_frame <= num_frames",
            )
        if i and s != pairs[i - 1][1]:
            raise MogenBenchError(
                f"stage {i} starts at {s} but stage {i - 1} ends at {pairs[i - 1][1]}: "
                "stages must be contiguous",
                field=f"stages[{i}].start_frame",
                fix="make each stage start where the previous one ends",
            )
    edges = [pairs[0][0]] + [e for _, e in pairs]
    moved = [k if f == n else min(rescale_frame_index(f, source_fps, target_fps), k) for f in edges]
    out = list(itertools.pairwise(moved))
    for i, (s, e) in enumerate(out):
        if s >= e:
            raise MogenBenchError(
                f"stage {i} [{pairs[i][0]}, {pairs[i][1]}) at {float(source_fps):g} fps becomes empty "
                f"([{s}, {e})) at {float(target_fps):g} fps",
                field=f"stages[{i}]",
                fix="merge the stage into a neighbour before resampling, or keep a higher frame rate",
            )
    return out
