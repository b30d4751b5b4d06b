"""The matplotlib scene: one or more stick-figure panels drawn on an Agg canvas, frame by frame.

The figure, axes and artists are made once; each frame only moves them (new bone segments, trace,
grid lines, caption text) and redraws the canvas, whose RGBA buffer becomes the frame. The figure is
a bare ``matplotlib.figure.Figure`` on its own ``FigureCanvasAgg``, never pyplot, so rendering does not
touch the user's backend or open windows. Layout is in pixels: every panel is ``panel_width`` x
``panel_height``, with bands for titles above and the caption below when there are any.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

from annotation.parts import canonical_text_field
from mogen_bench.errors import MogenBenchError
from mogen_bench.render.camera import CAMERA_MODES, View, floor_grid, plan_view
from mogen_bench.render.inputs import PART_COLOURS, Bones, wrap_caption


@dataclass(frozen=True)
class RenderConfig:
    """How frames look. Sizes are pixels per panel; ``dpi`` scales text and line widths."""

    panel_width: int = 320
    panel_height: int = 320
    dpi: int = 80
    elev: float = 20.0  # camera elevation above the floor, degrees
    azim: float = -60.0  # camera azimuth, degrees (the subject faces the camera at about -90)
    zoom: float = 1.2  # how much of the panel the 3D box fills
    lift: float = 0.25  # how far the figure is raised in the panel, as a fraction of its height
    camera: str = "auto"  # "fixed" window, "follow" the root, or "auto" (follow clips that travel)
    line_width: float = 2.5
    font_size: float = 9.0
    caption_field: str = "overall"  # which stage text is the caption (overall or a body part)
    caption_lines: int = 2
    floor: bool = True
    trace: bool = True  # the root's path so far, drawn on the floor
    background: str = "white"

    def __post_init__(self) -> None:
        for name in ("panel_width", "panel_height", "dpi", "caption_lines"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MogenBenchError(
                    f"{name} must be a positive integer, got {value!r}", field=name, fix=f"set {name} >= 1"
                )
        if self.camera not in CAMERA_MODES:
            raise MogenBenchError(
                f"unknown camera mode {self.camera!r}",
                field="camera",
                fix=f"use one of {', '.join(CAMERA_MODES)}",
            )
        if canonical_text_field(self.caption_field) is None:
            raise MogenBenchError(
                f"unknown caption field {self.caption_field!r}",
                field="caption_field",
                fix="use 'overall' or a body part (head, spine, left_arm, ...)",
            )
        if not (self.line_width > 0 and self.font_size > 0 and self.zoom > 0 and self.lift >= 0):
            raise MogenBenchError(
                "line_width, font_size and zoom must be positive and lift not negative",
                field="config",
                fix="use positive sizes",
            )


@dataclass
class _Panel:
    """One motion's axes and the artists that move, with its precomputed plot-space geometry."""

    view: View
    bones: np.ndarray  # (T, B, 2, 3) plot-space bone segments
    trace: np.ndarray  # (T, 2) data (x, z) of the root
    skeleton: Line3DCollection
    trace_line: object
    grid: Line3DCollection | None

    @property
    def num_frames(self) -> int:
        return self.bones.shape[0]

    def update(self, frame: int) -> None:
        t = min(frame, self.num_frames - 1)  # shorter motions hold their last frame
        self.skeleton.set_segments(self.bones[t])
        if self.grid is not None and (self.view.follows or frame == 0):
            self.grid.set_segments(floor_grid(self.view, t))
        if self.trace_line is not None:
            centre = self.view.centres[t]
            x = self.trace[: t + 1, 0] - centre[0]
            y = centre[1] - self.trace[: t + 1, 1]
            # mplot3d does not clip to the axes limits, so the path outside the window is cut here.
            outside = np.maximum(np.abs(x), np.abs(y)) > self.view.radius
            x, y = np.where(outside, np.nan, x), np.where(outside, np.nan, y)
            self.trace_line.set_data_3d(x, y, np.zeros_like(x))


class Scene:
    """A figure of side-by-side panels, one per motion, with one caption row below them.

    ``captions`` holds one caption per frame for each panel; when every panel has the same captions
    they are written once across the figure, otherwise each under its own panel.
    """

    def __init__(
        self,
        motions: Sequence[np.ndarray],
        bones: Sequence[Bones],
        *,
        fps: float,
        captions: Sequence[Sequence[str]],
        titles: Sequence[str | None],
        title: str | None,
        config: RenderConfig,
    ) -> None:
        self.config = config
        self.num_panels = len(motions)
        self.num_frames = max(m.shape[0] for m in motions)
        c = config
        shared = all(list(other) == list(captions[0]) for other in captions[1:])
        slots = [captions[0]] if shared else list(captions)
        # Wrapped once per distinct text: DejaVu Sans averages about 0.55 em a character.
        chars = int(c.panel_width * self.num_panels / len(slots) / (c.font_size * 0.55 * c.dpi / 72)) - 2
        wrapped = {text: wrap_caption(text, chars, c.caption_lines) for slot in slots for text in slot}
        self.captions = [tuple(wrapped[slot[frame]] for slot in slots) for frame in range(self.num_frames)]
        points = c.dpi / 72.0  # pixels per typographic point
        line_px = c.font_size * 1.35 * points
        # Panel titles wrap within their panel (two lines at most), so neighbours never run into each other.
        title_chars = int(c.panel_width / (c.font_size * 1.1 * 0.55 * points)) - 2
        titles = [wrap_caption(t, title_chars, 2) if t else t for t in titles]
        title_lines = max((t.count("\n") + 1 for t in titles if t), default=0)
        title_px = round((title_lines + 1) * line_px) if title_lines else 0
        suptitle_px = round(2.0 * line_px) if title else 0
        lines = max((text.count("\n") + 1 for text in wrapped.values() if text), default=0)
        caption_px = round(lines * line_px + 0.8 * line_px) if lines else 0
        width = c.panel_width * len(motions)
        height = c.panel_height + title_px + suptitle_px + caption_px
        self.size = (height, width)
        self._bands = (title_px + suptitle_px, caption_px)  # text rows above and below the panels

        # Agg truncates the figure's pixel size, so a hair over the exact size keeps it exact.
        inches = ((width + 0.01) / c.dpi, (height + 0.01) / c.dpi)
        self.figure = Figure(figsize=inches, dpi=c.dpi, facecolor=c.background)
        self.canvas = FigureCanvasAgg(self.figure)
        self.panels = []
        for index, (joints, panel_bones) in enumerate(zip(motions, bones, strict=True)):
            rect = (
                index / len(motions),
                caption_px / height,
                1 / len(motions),
                c.panel_height / height,
            )
            self.panels.append(self._panel(joints, panel_bones, fps, rect))
            if titles[index]:
                self.figure.text(
                    (index + 0.5) / len(motions),
                    (caption_px + c.panel_height + title_px / 2) / height,
                    titles[index],
                    ha="center",
                    va="center",
                    fontsize=c.font_size * 1.1,
                )
        if title:
            y, size = 1 - suptitle_px / 2 / height, c.font_size * 1.25
            self.figure.text(0.5, y, title, ha="center", va="center", fontsize=size, weight="bold")
        y = caption_px / 2 / height
        self.caption_texts = [
            self.figure.text((k + 0.5) / len(slots), y, "", ha="center", va="center", fontsize=c.font_size)
            for k in range(len(slots) if caption_px else 0)
        ]

    def _panel(self, joints: np.ndarray, bones: Bones, fps: float, rect: tuple[float, ...]) -> _Panel:
        c = self.config
        view = plan_view(joints, bones.root, fps, c.camera)
        ax = self.figure.add_axes(rect, projection="3d", facecolor=c.background)
        ax.set_axis_off()
        ax.computed_zorder = False  # draw floor, grid, trace, figure in that order whatever the view
        ax.view_init(elev=c.elev, azim=c.azim)
        grid = None
        if c.floor:
            r = view.radius
            square = [[(-r, -r, 0.0), (r, -r, 0.0), (r, r, 0.0), (-r, r, 0.0)]]
            ax.add_collection3d(Poly3DCollection(square, facecolors="#EDEDED", edgecolors="none", zorder=0))
            grid = Line3DCollection(floor_grid(view, 0), colors="#C8C8C8", linewidths=0.6, zorder=1)
            ax.add_collection3d(grid)
        trace_line = None
        if c.trace:
            (trace_line,) = ax.plot(
                np.zeros(1), np.zeros(1), np.zeros(1), color=PART_COLOURS["trajectory"], lw=1.2, zorder=2
            )
        segments = view.to_plot(joints)[:, bones.pairs]  # (T, B, 2, 3)
        skeleton = Line3DCollection(
            segments[0], colors=list(bones.colours), linewidths=c.line_width, capstyle="round", zorder=3
        )
        ax.add_collection3d(skeleton)
        # Limits last: adding a collection widens the data limits, setting them fixes the view.
        ax.set_xlim(-view.radius, view.radius)
        ax.set_ylim(-view.radius, view.radius)
        # The hidden box's top face leaves an empty band above the head; starting the vertical range a
        # little below the floor lowers the box centre and so lifts the figure into that space.
        below = c.lift * view.height
        ax.set_zlim(-below, view.height)
        ax.set_box_aspect((2 * view.radius, 2 * view.radius, view.height + below), zoom=c.zoom)
        return _Panel(view, segments, joints[:, bones.root][:, [0, 2]], skeleton, trace_line, grid)

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame as an ``(H, W, 3)`` uint8 view of the canvas, valid until the next frame is drawn.

        Text is a third of the drawing time and changes only with the caption, and the axes are clipped
        to their panels, so the text bands are drawn once per caption and pasted into the other frames.
        """
        top, bottom = self._bands
        height = self.size[0]
        texts = self.figure.texts
        bands: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        for frame in range(self.num_frames):
            for panel in self.panels:
                panel.update(frame)
            caption = self.captions[frame]
            known = caption in bands
            for text in texts:
                text.set_visible(not known)
            if not known:
                for artist, line in zip(self.caption_texts, caption, strict=False):
                    artist.set_text(line)
            self.canvas.draw()
            image = np.asarray(self.canvas.buffer_rgba())[..., :3]
            if known:
                image[:top], image[height - bottom :] = bands[caption]
            else:
                bands[caption] = (image[:top].copy(), image[height - bottom :].copy())
            yield image
