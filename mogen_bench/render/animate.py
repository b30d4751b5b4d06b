"""The renderer's public functions: one motion or several side by side, to frames or to a GIF / MP4 file.

Inputs are joint positions ``(T, J, 3)``, y up, in any unit (the view scales to the figure). The
skeleton is a ``Skeleton``, its name, explicit ``chains``, or guessed from the joint count (22: SMPL-22,
21: KIT-21, 24: SMPL-24). Captions come from ``stages`` (see ``inputs.frame_captions``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.skeletons import Skeleton
from mogen_bench.render.inputs import as_joints, frame_captions, resolve_bones
from mogen_bench.render.scene import RenderConfig, Scene
from mogen_bench.render.video import check_fps, video_format, write_video

Chains = Sequence[Sequence[int]]


def render_frames(
    joints: object,
    *,
    skeleton: Skeleton | str | None = None,
    chains: Chains | None = None,
    fps: float = 20.0,
    stages: object = None,
    title: str | None = None,
    config: RenderConfig | None = None,
) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` uint8 of one motion ``joints`` ``(T, J, 3)``.

    ``fps`` matters to frames only through the camera, which follows the root smoothed over a second.
    """
    return _render([joints], [None], skeleton, chains, fps, stages, title, config, names=["joints"])


def render_side_by_side_frames(
    motions: Sequence[object],
    *,
    titles: Sequence[str | None] | None = None,
    skeleton: Skeleton | str | None = None,
    chains: Chains | None = None,
    fps: float = 20.0,
    stages: object = None,
    title: str | None = None,
    config: RenderConfig | None = None,
) -> np.ndarray:
    """Frames ``(F, H, n * panel_width, 3)`` uint8 of ``n`` motions next to each other, one panel each.

    ``F`` is the longest motion's length; shorter ones hold their last frame. ``titles`` name the
    panels (e.g. "ground truth", "MDM"), ``title`` the whole figure. ``stages`` is one caption source
    for all panels (written once across the figure) or a list with one per motion (each stage list,
    string or ``None`` written under its own panel).
    """
    if isinstance(motions, np.ndarray) or not isinstance(motions, Sequence) or not motions:
        raise MogenBenchError(
            "motions must be a non-empty list of joint arrays (T, J, 3)",
            field="motions",
            fix="pass [ground_truth_joints, generated_joints, ...]",
        )
    if titles is None:
        titles = [None] * len(motions)
    elif isinstance(titles, str) or len(titles) != len(motions):
        got = "one string" if isinstance(titles, str) else f"{len(titles)} titles"
        raise MogenBenchError(
            f"got {got} for {len(motions)} motions", field="titles", fix="give one title per motion"
        )
    names = [f"motions[{i}]" for i in range(len(motions))]
    return _render(list(motions), list(titles), skeleton, chains, fps, stages, title, config, names=names)


def render_motion(
    joints: object,
    path: str | os.PathLike,
    *,
    skeleton: Skeleton | str | None = None,
    chains: Chains | None = None,
    fps: float = 20.0,
    stages: object = None,
    title: str | None = None,
    config: RenderConfig | None = None,
) -> Path:
    """Render one motion to ``path`` (``.gif`` or ``.mp4``, by suffix) played at ``fps``; returns the path."""
    video_format(path)  # a bad suffix or a missing ffmpeg fails before the rendering work
    frames = render_frames(
        joints, skeleton=skeleton, chains=chains, fps=fps, stages=stages, title=title, config=config
    )
    return write_video(frames, path, fps=fps)


def render_side_by_side(
    motions: Sequence[object],
    path: str | os.PathLike,
    *,
    titles: Sequence[str | None] | None = None,
    skeleton: Skeleton | str | None = None,
    chains: Chains | None = None,
    fps: float = 20.0,
    stages: object = None,
    title: str | None = None,
    config: RenderConfig | None = None,
) -> Path:
    """Render several motions side by side to ``path`` (``.gif`` or ``.mp4``); returns the path."""
    video_format(path)
    frames = render_side_by_side_frames(
        motions, titles=titles, skeleton=skeleton, chains=chains, fps=fps, stages=stages, title=title,
        config=config,
    )  # fmt: skip
    return write_video(frames, path, fps=fps)


def _render(
    motions: list[object],
    titles: list[str | None],
    skeleton: Skeleton | str | None,
    chains: Chains | None,
    fps: float,
    stages: object,
    title: str | None,
    config: RenderConfig | None,
    *,
    names: list[str],
) -> np.ndarray:
    fps = check_fps(fps)
    config = config or RenderConfig()
    arrays = [as_joints(m, name=name) for m, name in zip(motions, names, strict=True)]
    bones = [resolve_bones(a.shape[1], skeleton, chains, name=n) for a, n in zip(arrays, names, strict=True)]
    num_frames = max(a.shape[0] for a in arrays)
    sources = stages if _per_panel(stages, len(arrays), num_frames) else [stages] * len(arrays)
    captions = [frame_captions(source, num_frames, config.caption_field) for source in sources]
    scene = Scene(arrays, bones, fps=fps, captions=captions, titles=titles, title=title, config=config)
    out = np.empty((num_frames, *scene.size, 3), dtype=np.uint8)
    for index, frame in enumerate(scene.frames()):
        out[index] = frame
    return out


def _per_panel(stages: object, panels: int, num_frames: int) -> bool:
    """Whether ``stages`` gives each panel its own captions rather than one source for all.

    Per panel: a list with one entry per motion, each ``None``, a string, an ``Annotation`` or a stage
    list. A list of strings as long as the clip stays one caption per frame.
    """
    if panels < 2 or isinstance(stages, str) or not isinstance(stages, Sequence) or len(stages) != panels:
        return False
    if all(isinstance(s, str) or s is None for s in stages):
        return len(stages) != num_frames
    # A stage itself (a dict or a Stage) is no Sequence, so a shared stage list never matches.
    return all(s is None or isinstance(s, str | Sequence) or hasattr(s, "stages") for s in stages)
