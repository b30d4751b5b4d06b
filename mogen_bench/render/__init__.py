"""Stick-figure rendering of motions: frames as arrays, GIF (Pillow) and MP4 (ffmpeg) files, side by side.

    from mogen_bench.render import render_motion, render_side_by_side
    render_motion(joints, "walk.gif", skeleton="smpl-22", fps=20, stages=stages, title="sample 0")
    render_side_by_side([truth, generated], "compare.mp4", titles=["ground truth", "MDM"], fps=20)

A 3D stick figure (bones coloured by body part), the floor under it, the root's path on the floor, a
caption per frame from the active stage, and a camera that follows clips that travel. Frames are drawn
with matplotlib on an Agg canvas, without pyplot.
"""

from mogen_bench.render.animate import (
    render_frames,
    render_motion,
    render_side_by_side,
    render_side_by_side_frames,
)
from mogen_bench.render.camera import View, plan_view
from mogen_bench.render.inputs import PART_COLOURS, frame_captions, joint_parts
from mogen_bench.render.scene import RenderConfig
from mogen_bench.render.video import VIDEO_SUFFIXES, gif_durations, video_format, write_video

__all__ = [
    "PART_COLOURS",
    "VIDEO_SUFFIXES",
    "RenderConfig",
    "View",
    "frame_captions",
    "gif_durations",
    "joint_parts",
    "plan_view",
    "render_frames",
    "render_motion",
    "render_side_by_side",
    "render_side_by_side_frames",
    "video_format",
    "write_video",
]
