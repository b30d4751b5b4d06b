"""Transition smoothness at stage boundaries: FlowMDM's Peak Jerk (PJ) and Area Under the Jerk (AUJ).

Definitions from FlowMDM (Barquero et al., CVPR 2024; ``BarqueroGerman/FlowMDM``), read in its code:

- **Jerk per frame** (``data_loaders/humanml/utils/metrics.py:calculate_jerk``): the third forward difference
  of joint positions, ``x[t+3] - 3 x[t+2] + 3 x[t+1] - x[t]`` (``T - 3`` values), its **L1 norm over x, y, z**
  (``np.sum(np.abs(jerk), -1)``), then the **max over joints**. No time step: the unit is metres per frame
  cubed (``fps=`` here multiplies by ``fps**3`` for m/s^3, which no published number uses). Frames from
  ``length - 3`` on are set to 0.
- **Windows** (``data_loaders/datasets_composition.py``): one per boundary between consecutive stages, the
  ``transition_length`` frames ``[b - L//2, b + L - L//2)`` around boundary frame ``b`` (the first frame of
  the next stage). ``L = 30`` frames for BABEL (30 fps, 1 s; the README's BABEL command) and ``60`` for
  HumanML3D (20 fps, 3 s; the parser default and the README's HumanML3D command). The default here is 30,
  FlowMDM's BABEL composition setting.
- **PJ and AUJ** (``utils/metrics.py:evaluate_jerk``): the jerk curves of all windows are averaged frame by
  frame into one curve of ``L - 3`` values; ``PJ = max(curve)`` and ``AUJ = sum_t |curve[t] - GT_jerk|``,
  where ``GT_jerk`` is a constant "extracted from the GT": 0.033031363 for HumanML3D (joints from
  ``recover_from_ric`` of the de-normalised features) and 0.016383045 for BABEL (SMPL-H joints). The script
  that extracted them is not published; ``mean_jerk`` of ground-truth windows is the natural way to derive a
  reference for another dataset (document it next to the numbers).

Everything is batched over motions and boundaries and computed in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.metrics import _inputs

__all__ = [
    "DEFAULT_WINDOW",
    "FLOWMDM_GT_MEAN_JERK",
    "FLOWMDM_TRANSITION_LENGTH",
    "TransitionJerk",
    "frame_jerk",
    "mean_jerk",
    "peak_jerk_and_auj",
    "transition_jerk",
    "transition_windows",
]

FLOWMDM_GT_MEAN_JERK: dict[str, float] = {"humanml3d": 0.033031363, "babel": 0.016383045}
FLOWMDM_TRANSITION_LENGTH: dict[str, int] = {"humanml3d": 60, "babel": 30}
DEFAULT_WINDOW = FLOWMDM_TRANSITION_LENGTH["babel"]

Boundaries = Sequence[int] | Sequence[Sequence[int]] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class TransitionJerk:
    """Peak Jerk, Area Under the Jerk, the mean jerk curve ``(window - 3,)`` and how many windows made it."""

    peak_jerk: float
    auj: float
    curve: np.ndarray
    num_transitions: int


def frame_jerk(
    joints: np.ndarray | torch.Tensor,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    *,
    fps: float | None = None,
    norm: str = "l1",
) -> np.ndarray:
    """Jerk per frame ``(B, T - 3)`` (or ``(T - 3,)`` for one motion) of joints ``(B, T, J, 3)``.

    FlowMDM's ``calculate_jerk``: third finite difference, L1 norm over the coordinates (``norm="l2"`` for the
    Euclidean norm), max over joints, zero from frame ``length - 3`` on. ``fps`` scales to per-second units.
    """
    x, single = _inputs.joints("frame_jerk", "joints", joints)
    n = _inputs.lengths("frame_jerk", lengths, x.shape[0], x.shape[1], 4)
    jerk = _jerk(x, n, fps, norm)
    out = jerk.cpu().numpy()
    return out[0] if single else out


def mean_jerk(
    joints: np.ndarray | torch.Tensor,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    *,
    fps: float | None = None,
    norm: str = "l1",
) -> float:
    """Mean of ``frame_jerk`` over all valid frames of all motions: a ground-truth reference for AUJ."""
    x, _ = _inputs.joints("mean_jerk", "joints", joints)
    n = _inputs.lengths("mean_jerk", lengths, x.shape[0], x.shape[1], 4)
    jerk = _jerk(x, n, fps, norm)
    return float(jerk.sum() / (n - 3).sum())


def transition_windows(
    joints: np.ndarray | torch.Tensor,
    boundaries: Boundaries,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    *,
    window: int = DEFAULT_WINDOW,
) -> torch.Tensor:
    """Frames ``[b - window//2, b + window - window//2)`` around each boundary ``b``: ``(W, window, J, 3)``.

    ``boundaries`` gives, per motion, the first frame of every stage after the first (``stage.start_frame``
    for stages 1..n-1): a list of lists (ragged), or a ``(B, K)`` integer array where negative entries are
    padding; for one motion ``(T, J, 3)``, a flat list. Windows come out motion by motion, boundary by
    boundary. Every window must lie within its motion's valid frames.
    """
    func = "transition_windows"
    x, single = _inputs.joints(func, "joints", joints)
    if window < 4:
        raise MogenBenchError(
            f"{func}() needs window >= 4 frames (jerk needs 4), got {window}",
            field="window",
            fix=f"use FlowMDM's {FLOWMDM_TRANSITION_LENGTH}",
        )
    n = _inputs.lengths(func, lengths, x.shape[0], x.shape[1], 1)
    motion, frame = _boundary_index(boundaries, x.shape[0], single)
    start = frame - window // 2
    end = start + window
    outside = ((start < 0) | (end > n[motion])).nonzero().flatten().tolist()
    if outside:
        i = outside[0]
        raise MogenBenchError(
            f"{func}() got a boundary at frame {int(frame[i])} of motion {int(motion[i])} whose "
            f"{window}-frame window [{int(start[i])}, {int(end[i])}) leaves the motion's "
            f"{int(n[motion[i]])} frames ({len(outside)} such boundaries)",
            field="boundaries",
            fix=f"keep every boundary at least {window // 2} frames from the start and "
            f"{window - window // 2} from the end, or pass a smaller window",
        )
    index = (start[:, None] + torch.arange(window)[None, :]).to(x.device)
    return x[motion.to(x.device)[:, None], index]


def transition_jerk(
    joints: np.ndarray | torch.Tensor,
    boundaries: Boundaries,
    *,
    gt_mean_jerk: float | str,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    window: int = DEFAULT_WINDOW,
    fps: float | None = None,
    norm: str = "l1",
) -> TransitionJerk:
    """FlowMDM's Peak Jerk and AUJ of the windows around every stage boundary (see the module docstring).

    ``gt_mean_jerk`` is the ground-truth reference: a number, or ``"humanml3d"`` / ``"babel"`` for FlowMDM's
    published constants (which assume ``fps=None``, ``norm="l1"`` and the matching ``window``).
    """
    windows = transition_windows(joints, boundaries, lengths, window=window)
    return peak_jerk_and_auj(_jerk(windows, None, fps, norm), gt_mean_jerk)


def peak_jerk_and_auj(window_jerk: np.ndarray | torch.Tensor, gt_mean_jerk: float | str) -> TransitionJerk:
    """PJ and AUJ from per-window jerk curves ``(W, window - 3)`` (``frame_jerk`` of the windows).

    FlowMDM's ``evaluate_jerk``: ``curve = mean over windows``, ``PJ = max(curve)``, ``AUJ = sum |curve -
    gt_mean_jerk|``.
    """
    jerk = _inputs.float64("peak_jerk_and_auj", "window_jerk", window_jerk, "(W, window - 3)")
    if jerk.ndim != 2 or jerk.shape[0] == 0 or jerk.shape[1] == 0:
        raise MogenBenchError(
            "peak_jerk_and_auj() needs jerk curves of shape (W, window - 3) with W >= 1, "
            f"got {tuple(jerk.shape)}",
            field="window_jerk",
            fix="pass frame_jerk() of at least one transition window",
        )
    _inputs.require_finite("peak_jerk_and_auj", "window_jerk", jerk)
    reference = _reference(gt_mean_jerk)
    curve = jerk.mean(0)
    return TransitionJerk(
        peak_jerk=float(curve.max()),
        auj=float((curve - reference).abs().sum()),
        curve=curve.cpu().numpy(),
        num_transitions=int(jerk.shape[0]),
    )


def _jerk(x: torch.Tensor, n: torch.Tensor | None, fps: float | None, norm: str) -> torch.Tensor:
    """Per-frame jerk ``(B, T - 3)`` of float64 joints ``(B, T, J, 3)``; frames ``>= n - 3`` zeroed."""
    third = x[:, 3:] - 3.0 * x[:, 2:-1] + 3.0 * x[:, 1:-2] - x[:, :-3]
    if norm == "l1":
        magnitude = third.abs().sum(-1)
    elif norm == "l2":
        magnitude = third.norm(dim=-1)
    else:
        raise MogenBenchError(
            f"norm must be 'l1' (FlowMDM) or 'l2', got {norm!r}", field="norm", fix="use 'l1'"
        )
    jerk = magnitude.amax(-1)
    if fps is not None:
        jerk = jerk * float(fps) ** 3
    if n is not None:
        jerk = jerk * _inputs.frame_mask(n - 3, jerk.shape[1], jerk.device)
    return jerk


def _reference(gt_mean_jerk: float | str) -> float:
    if isinstance(gt_mean_jerk, str):
        try:
            return FLOWMDM_GT_MEAN_JERK[gt_mean_jerk]
        except KeyError:
            raise MogenBenchError(
                f"no published ground-truth jerk for {gt_mean_jerk!r}",
                field="gt_mean_jerk",
                fix=f"use one of {sorted(FLOWMDM_GT_MEAN_JERK)} or a number (mean_jerk() of GT windows)",
            ) from None
    value = float(gt_mean_jerk)
    if not np.isfinite(value):
        raise MogenBenchError("gt_mean_jerk must be finite", field="gt_mean_jerk", fix="pass a number")
    return value


def _boundary_index(boundaries: Boundaries, batch: int, single: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat ``(motion, frame)`` int64 indices of the boundaries (padding dropped)."""
    if isinstance(boundaries, torch.Tensor):
        boundaries = boundaries.detach().cpu().numpy()
    if isinstance(boundaries, np.ndarray):
        if not np.issubdtype(boundaries.dtype, np.integer) and boundaries.size:
            raise MogenBenchError(
                f"boundaries must be integer frame indices, got dtype {boundaries.dtype}",
                field="boundaries",
                fix="pass the start frames of the stages after the first",
            )
        rows = [boundaries.tolist()] if single else boundaries.tolist()
    else:
        rows = [list(boundaries)] if single else [list(row) for row in boundaries]
    if len(rows) != batch or any(not isinstance(row, list) for row in rows):
        raise MogenBenchError(
            f"boundaries need one list per motion ({batch}), got {len(rows)}",
            field="boundaries",
            fix="pass [[b, ...] for each motion], or a (B, K) array padded with -1",
        )
    try:
        pairs = [(i, int(b)) for i, row in enumerate(rows) for b in row]
    except (TypeError, ValueError):
        raise MogenBenchError(
            "boundaries must be integer frame indices",
            field="boundaries",
            fix="pass [[b, ...] for each motion] (a flat [b, ...] for one (T, J, 3) motion)",
        ) from None
    motion = [i for i, b in pairs if b >= 0]
    frame = [b for _, b in pairs if b >= 0]
    if not frame:
        raise MogenBenchError(
            "no stage boundaries given", field="boundaries", fix="pass at least one boundary frame"
        )
    return torch.tensor(motion, dtype=torch.int64), torch.tensor(frame, dtype=torch.int64)
