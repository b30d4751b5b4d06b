"""Physical plausibility of joint positions: foot skating ratio and ground penetration (y up, metres).

**Foot skating ratio** follows GMD's ``calculate_skating_ratio`` (Karunratanakul et al., ICCV 2023;
``korrawe/guided-motion-diffusion:data_loaders/humanml/utils/metrics.py``, reused verbatim by OmniControl
and later controllable-motion papers), on HumanML3D joints at 20 fps:

- feet = joints 10 and 11 (SMPL left_foot, right_foot: the toe-base joints, not the ankles 7 / 8);
- a foot is *in contact* over the step ``t -> t+1`` when its height is below **0.05 m** in both frames;
- its horizontal speed is ``|Δ(x, z)| * fps`` (m/s), and its smoothed speed the mean over a **5-frame**
  window centred on the step with zeros beyond the ends (``scipy.ndimage.uniform_filter1d(size=5,
  mode='constant')``);
- the step *skates* when a foot is in contact and both its speed and its smoothed speed exceed **0.5 m/s**
  (= 0.025 m per frame at 20 fps; GMD's comment says "20 cm/s" but the value is 0.50);
- the ratio is the fraction of the ``T - 1`` steps in which either foot skates.

GMD divides by the padded length (``max_len - 1``) of whatever tensor it is given; here ``lengths`` mask
padded frames and each motion is divided by its own ``length - 1`` steps, which equals GMD run on the motion
cut to its length. Heights are measured from ``floor`` (0 for HumanML3D, whose pipeline puts the lowest
joint of each clip at y = 0).

**Ground penetration** (no single published joint-based definition; PhysDiff's "Penetrate" uses mesh
vertices): per frame, the depth of the lowest joint below the floor, ``max(0, floor - min_j y_j)``;
reported per motion as the mean and the max over its valid frames, and the fraction of frames with depth
above zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mogen_bench.errors import MogenBenchError
from mogen_bench.metrics import _inputs

__all__ = [
    "GMD_FEET",
    "GroundPenetration",
    "foot_skating_ratio",
    "ground_penetration",
    "skating_settings",
]

GMD_FEET = (10, 11)  # SMPL / HumanML3D left_foot, right_foot (KIT-ML: 15 and 20 in GMD's KIT variant)

#: GMD's settings per representation. KIT-ML joints are in millimetres at 12.5 fps, so the 5 cm contact
#: height and 0.5 m/s speed become 50 and 500, and the feet are KIT's toe joints 15 (left) and 20 (right).
_SKATING = {
    "humanml3d-263": {"feet": (10, 11), "fps": 20.0, "height_threshold": 0.05, "speed_threshold": 0.5},
    "smpl-rot6d-135": {"feet": (10, 11), "fps": 20.0, "height_threshold": 0.05, "speed_threshold": 0.5},
    "kit-251": {"feet": (15, 20), "fps": 12.5, "height_threshold": 50.0, "speed_threshold": 500.0},
}


def skating_settings(representation: str) -> dict:
    """Keyword arguments of ``foot_skating_ratio`` for the joints of ``representation`` (units, fps, feet)."""
    if representation not in _SKATING:
        raise MogenBenchError(
            f"no foot-skating settings for {representation!r}",
            field="representation",
            fix=f"use one of {', '.join(_SKATING)}, or pass feet/fps/thresholds yourself",
        )
    return dict(_SKATING[representation])


@dataclass(frozen=True)
class GroundPenetration:
    """Per motion ``(B,)``, floats for one motion: mean and max depth below the floor (m), share of frames."""

    mean: np.ndarray | float
    max: np.ndarray | float
    ratio: np.ndarray | float


def foot_skating_ratio(
    joints: np.ndarray | torch.Tensor,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    *,
    feet: Sequence[int] = GMD_FEET,
    fps: float = 20.0,
    height_threshold: float = 0.05,
    speed_threshold: float = 0.5,
    window: int = 5,
    floor: float = 0.0,
) -> np.ndarray | float:
    """Fraction of steps in which a foot slides while touching the ground, per motion ``(B,)``.

    GMD's ``calculate_skating_ratio`` (see the module docstring for the definition and thresholds) on joints
    ``(B, T, J, 3)`` or one motion ``(T, J, 3)``, y up, metres; ``lengths`` masks padded frames.
    """
    func = "foot_skating_ratio"
    x, single = _inputs.joints(func, "joints", joints)
    n = _inputs.lengths(func, lengths, x.shape[0], x.shape[1], 2)
    feet = _feet(func, feet, x.shape[2])
    if window < 1 or fps <= 0:
        raise MogenBenchError(
            f"{func}() needs window >= 1 and fps > 0, got {window} and {fps}",
            field="window",
            fix="use GMD's window=5 at the motion's own fps",
        )
    foot = x[:, :, feet]  # (B, T, F, 3)
    height = foot[..., 1] - floor
    steps = _inputs.frame_mask(n - 1, x.shape[1] - 1, x.device)[..., None]  # (B, T-1, 1)
    speed = (foot[:, 1:, :, 0::2] - foot[:, :-1, :, 0::2]).norm(dim=-1) * fps * steps
    smoothed = _box_mean(speed, window)
    contact = (height[:, :-1] < height_threshold) & (height[:, 1:] < height_threshold)
    skating = contact & (speed > speed_threshold) & (smoothed > speed_threshold) & steps
    ratio = skating.any(-1).sum(-1).double() / (n - 1).to(x.device)
    out = ratio.cpu().numpy()
    return float(out[0]) if single else out


def ground_penetration(
    joints: np.ndarray | torch.Tensor,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    *,
    floor: float = 0.0,
) -> GroundPenetration:
    """Depth of the lowest joint below ``floor`` (y up, metres), per motion: mean, max and frame fraction."""
    func = "ground_penetration"
    x, single = _inputs.joints(func, "joints", joints)
    n = _inputs.lengths(func, lengths, x.shape[0], x.shape[1], 1)
    valid = _inputs.frame_mask(n, x.shape[1], x.device)
    depth = (floor - x[..., 1].amin(-1)).clamp_min(0.0) * valid  # (B, T)
    frames = n.to(x.device).double()
    mean = (depth.sum(-1) / frames).cpu().numpy()
    deepest = depth.amax(-1).cpu().numpy()
    ratio = (((depth > 0) & valid).sum(-1) / frames).cpu().numpy()
    if single:
        return GroundPenetration(mean=float(mean[0]), max=float(deepest[0]), ratio=float(ratio[0]))
    return GroundPenetration(mean=mean, max=deepest, ratio=ratio)


def _box_mean(values: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over ``size`` steps along axis 1 of ``(B, S, F)``, zeros beyond both ends.

    ``scipy.ndimage.uniform_filter1d(values, size, axis=1, mode='constant', origin=0)``: the window of step
    ``i`` is ``[i - size//2, i - size//2 + size)``.
    """
    b, s, f = values.shape
    series = values.permute(0, 2, 1).reshape(b * f, 1, s)
    padded = F.pad(series, (size // 2, size - 1 - size // 2))
    return F.avg_pool1d(padded, size, stride=1).reshape(b, f, s).permute(0, 2, 1)


def _feet(func: str, feet: Sequence[int], num_joints: int) -> list[int]:
    indices = [int(i) for i in feet]
    if not indices or any(not 0 <= i < num_joints for i in indices):
        raise MogenBenchError(
            f"{func}() got foot joints {indices} for a {num_joints}-joint skeleton",
            field="feet",
            fix="use (10, 11) for SMPL / HumanML3D (left_foot, right_foot) or (15, 20) for KIT-ML",
        )
    return indices
