"""Input checks shared by the metric modules: arrays or tensors in, float64 out, or a clear error.

Every metric accepts a numpy array or a torch tensor (any floating dtype, any device) and works in float64:
the published numbers are small differences of large sums (FID) or rankings of near-equal distances, where
float32 rounding is visible. Non-finite embeddings are refused with the rows named, because one NaN row
(HumanML3D's 007975 / M007975, pitfall 5 of the evaluation notes) silently turns FID and every mean into NaN.

Embedding metrics work on numpy arrays, in float64 (a tensor is moved to the CPU): they are a few BLAS calls
on at most 4,384 x 512 numbers, and keeping torch's OpenMP pool out of them keeps it from fighting OpenBLAS's
threads, which on a busy few-core machine made every call 10-50x slower. Joint-position metrics (jerk, foot
skating) work on float64 torch tensors on the input's device.
"""

from __future__ import annotations

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.tensors import floating_tensor, shape_text

_SHOWN_ROWS = 10


def float64(func: str, name: str, value: object, expected: str) -> torch.Tensor:
    """``value`` as a float64 tensor on its own device (a view of float64 numpy memory where possible)."""
    return floating_tensor(func, name, value, expected).to(torch.float64)


def embeddings(
    func: str, name: str, value: object, *, ndim: int = 2, expected: str = "(N, D)", check: bool = True
) -> np.ndarray:
    """A floating numpy embedding array of ``ndim`` dimensions whose every row is finite.

    The dtype is left as given (float32 evaluator outputs stay float32, with no 17 MB copy per call): each
    metric casts what it computes on to float64. A "row" is one sample: index ``i`` of a ``(N, D)`` set,
    ``(i, j)`` of a ``(texts, repeats, D)`` set. ``check=False`` leaves the finiteness check to the caller.
    """
    x = floating_array(func, name, value, expected)
    if x.ndim != ndim:
        raise MogenBenchError(
            f"{func}() needs {name} of shape {expected}, got shape {shape_text(x.shape)}",
            field=name,
            fix=f"pass {name} with shape {expected}",
        )
    if x.shape[-1] == 0:
        raise MogenBenchError(
            f"{func}() got {name} with embedding size 0", field=name, fix="pass non-empty embeddings"
        )
    if check:
        require_finite(func, name, x)
    return x


def floating_array(func: str, name: str, value: object, expected: str) -> np.ndarray:
    """``value`` as a floating numpy array, without a copy where possible (a tensor comes to the CPU)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        value = value.detach().cpu()
        # numpy has no bfloat16; float16 would lose the precision these metrics are computed at
        return (value if value.dtype in (torch.float32, torch.float64) else value.double()).numpy()
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value
    floating_tensor(func, name, value, expected)  # raises the project's message for a wrong type or dtype
    raise AssertionError("unreachable")  # pragma: no cover


def array64(func: str, name: str, value: object, expected: str) -> np.ndarray:
    """``value`` as a float64 numpy array (no copy when it already is one)."""
    return np.asarray(floating_array(func, name, value, expected), dtype=np.float64)


def require_finite(func: str, name: str, x: np.ndarray | torch.Tensor) -> None:
    """Raise naming the samples (all axes but the last) that hold NaN or infinity."""
    lib = torch if isinstance(x, torch.Tensor) else np
    # A NaN or infinity makes the sum non-finite, so a finite sum clears the whole array at the cost of one
    # reduction (an elementwise isfinite costs several times more); only a non-finite sum looks closer.
    if (x.numel() if lib is torch else x.size) == 0 or bool(lib.isfinite(x.sum())):
        return
    bad = ~lib.isfinite(x)
    if not bool(bad.any()):
        return  # the sum overflowed, no element is bad
    rows = bad.reshape(*x.shape[:-1], -1).any(-1) if x.ndim > 1 else bad
    where = rows.nonzero().cpu().numpy() if lib is torch else np.argwhere(rows)
    shown = [str(tuple(int(i) for i in w)) if len(w) > 1 else str(int(w[0])) for w in where[:_SHOWN_ROWS]]
    more = f" and {len(where) - _SHOWN_ROWS} more" if len(where) > _SHOWN_ROWS else ""
    kind = "NaN" if bool(lib.isnan(x).any()) else "infinite values"
    raise MogenBenchError(
        f"{func}() found {kind} in {name}, {len(where)} row(s): {', '.join(shown)}{more}",
        field=name,
        fix="drop or regenerate those samples before evaluating (HumanML3D's 007975 and M007975 in test.txt "
        "come out NaN from the official pipeline)",
    )


def at_least(func: str, name: str, count: int, needed: int, what: str, fix: str) -> None:
    if count < needed:
        raise MogenBenchError(
            f"{func}() needs at least {needed} {what} in {name}, got {count}", field=name, fix=fix
        )


def joints(func: str, name: str, value: object) -> tuple[torch.Tensor, bool]:
    """Float64 joints ``(B, T, J, 3)`` (a ``(T, J, 3)`` motion gains a batch axis) and whether it was one."""
    x = float64(func, name, value, "(B, T, J, 3) or (T, J, 3)")
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise MogenBenchError(
            f"{func}() needs {name} of shape (B, T, J, 3) or (T, J, 3), got {shape_text(tuple(x.shape))}",
            field=name,
            fix="pass joint positions in metres, y up, e.g. recover_from_ric(features)",
        )
    require_finite(func, name, x.flatten(-2))
    return x, single


def lengths(func: str, value: object, batch: int, frames: int, minimum: int) -> torch.Tensor:
    """Valid frame counts per motion ``(B,)`` as int64 (all ``frames`` when ``value`` is None)."""
    if value is None:
        n = torch.full((batch,), frames, dtype=torch.int64)
    else:
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if array.ndim == 0:
            array = array[None]
        if array.shape != (batch,) or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
            raise MogenBenchError(
                f"{func}() needs lengths as {batch} integers (one per motion), got "
                f"{shape_text(array.shape)} {array.dtype}",
                field="lengths",
                fix="pass the number of valid frames of every motion, e.g. torch.tensor([196, 120])",
            )
        n = torch.from_numpy(array.astype(np.int64))
    bad = ((n < minimum) | (n > frames)).nonzero().flatten().tolist()
    if bad:
        raise MogenBenchError(
            f"{func}() needs every length between {minimum} and {frames} frames; "
            f"motion(s) {bad[:_SHOWN_ROWS]} have {n[bad[:_SHOWN_ROWS]].tolist()}",
            field="lengths",
            fix=f"drop motions shorter than {minimum} frames, or pass lengths within the padded tensor",
        )
    return n


def frame_mask(n: torch.Tensor, frames: int, device: torch.device) -> torch.Tensor:
    """``(B, frames)`` True where frame ``t < n[b]``."""
    return torch.arange(frames, device=device)[None, :] < n.to(device)[:, None]
