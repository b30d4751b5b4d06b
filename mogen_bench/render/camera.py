"""Where the renderer looks: floor height, view window and camera centre per frame, for one clip.

Everything is measured against the figure's own size, so metres (HumanML3D) and millimetres (KIT-ML)
render alike without a units option. The window's size is fixed per clip, so the figure never jumps:
a clip that stays in a small area gets one fixed window; one that travels (a long walk) gets a window
that follows the root, smoothed over about a second so the camera does not sway with the hips.

Plot coordinates: matplotlib's 3D axes are z-up, the data y-up. ``(x, y, z) -> (x, -z, y)`` is a proper
rotation (a quarter turn about x), so left and right are not mirrored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

CameraMode = Literal["auto", "fixed", "follow"]
CAMERA_MODES: tuple[str, ...] = ("auto", "fixed", "follow")

#: A travelling clip is followed when its planar extent is this many times the follow window.
_FOLLOW_WHEN = 2.0
#: Room left around the figure inside the window.
_MARGIN = 1.1


@dataclass(frozen=True)
class View:
    """The view of one clip: plot-space floor, window half-width and the camera centre of each frame."""

    floor: float  # data y of the floor (the lowest point of the clip)
    height: float  # plot z extent above the floor
    radius: float  # half-width of the square planar window
    centres: np.ndarray  # (T, 2) data (x, z) at the window's centre, per frame
    grid_step: float  # spacing of the floor grid, a round number in the data's units
    follows: bool

    def to_plot(self, points: np.ndarray) -> np.ndarray:
        """Data points ``(T, ..., 3)`` of each frame in that frame's plot coordinates."""
        centre = self.centres.reshape(self.centres.shape[0], *([1] * (points.ndim - 2)), 2)
        return np.stack(
            [points[..., 0] - centre[..., 0], centre[..., 1] - points[..., 2], points[..., 1] - self.floor],
            axis=-1,
        )


def plan_view(joints: np.ndarray, root: int, fps: float, mode: str = "auto") -> View:
    """The view of ``joints`` ``(T, J, 3)`` (y up) whose root joint is ``root``."""
    floor = float(joints[..., 1].min())
    extent = joints.max(axis=1) - joints.min(axis=1)  # (T, 3) per-frame size of the figure
    size = float(extent.max())
    if size <= 0:  # every joint at one point: nothing sets a scale, so pick one
        size = max(float(np.abs(joints).max()), 1.0)
    planar = joints[..., [0, 2]]
    low, high = planar.min(axis=(0, 1)), planar.max(axis=(0, 1))
    fixed_radius = max(float((high - low).max()) / 2, 0.5 * size)

    centres = _smooth(planar[:, root], window=max(1, round(fps)))
    reach = float(np.abs(planar - centres[:, None]).max())
    follow_radius = max(reach, 0.5 * size)

    follows = mode == "follow" or (mode == "auto" and fixed_radius > _FOLLOW_WHEN * follow_radius)
    if follows:
        radius = follow_radius
    else:
        radius = fixed_radius
        centres = np.broadcast_to((low + high) / 2, centres.shape)
    height = max(float(joints[..., 1].max()) - floor, 0.25 * size)
    return View(floor, height * 1.02, radius * _MARGIN, np.array(centres), _round_step(size / 3), follows)


def floor_grid(view: View, frame: int) -> np.ndarray:
    """The floor grid lines inside the window at ``frame``: ``(L, 2, 3)`` plot-space segments.

    Lines sit at multiples of ``grid_step`` in data space, so they slide past as the camera follows.
    """
    r, step = view.radius, view.grid_step
    segments = []
    for axis, centre in enumerate(view.centres[frame]):
        sign = 1.0 if axis == 0 else -1.0  # plot y is -z
        first, last = np.ceil((centre - r) / step), np.floor((centre + r) / step)
        offsets = sign * (np.arange(first, last + 1) * step - centre)
        ends = np.zeros((offsets.size, 2, 3))
        ends[:, :, axis] = offsets[:, None]
        ends[:, :, 1 - axis] = (-r, r)
        segments.append(ends)
    return np.concatenate(segments)


def _smooth(track: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of ``track`` ``(T, 2)`` over ``window`` frames, edges held."""
    half = window // 2
    padded = np.pad(track, ((half, half), (0, 0)), mode="edge")
    sums = np.cumsum(np.pad(padded, ((1, 0), (0, 0))), axis=0)
    return (sums[2 * half + 1 :] - sums[: -(2 * half + 1)]) / (2 * half + 1)


def _round_step(length: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``length``."""
    power = 10.0 ** np.floor(np.log10(length))
    return float(max(m for m in (1.0, 2.0, 5.0) if m * power <= length * (1 + 1e-9)) * power)
