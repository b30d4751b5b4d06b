"""Writing frames to a video file, chosen by suffix: ``.gif`` through Pillow, ``.mp4`` through ffmpeg.

Both are written atomically (a temporary file beside the target, renamed into place), so a crash
never leaves a half video under the target's name. GIF frames share one palette, the commonest
colours of frames spread over the clip, so colours neither flicker nor drift (white stays white).
GIF delays are whole centiseconds, so each frame's delay is rounded such that the clip's total
length stays exact. Pillow merges identical consecutive frames into one longer frame, which keeps
the timing.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from annotation.files import atomic_writer
from mogen_bench.errors import MogenBenchError

VIDEO_SUFFIXES: tuple[str, ...] = (".gif", ".mp4")

#: Frames sampled to build a GIF's shared palette.
_PALETTE_FRAMES = 8


def video_format(path: str | os.PathLike) -> str:
    """``"gif"`` or ``"mp4"`` from the suffix of ``path``; for MP4 also checks that ffmpeg is there.

    Called before rendering, so a wrong name or a missing ffmpeg fails before any work.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise MogenBenchError(
            f"cannot write a video with suffix {suffix or '(none)'!r}",
            file=str(path),
            field="path",
            fix=f"name the output with one of {', '.join(VIDEO_SUFFIXES)}",
        )
    if suffix == ".mp4":
        _ffmpeg(path)
    return suffix[1:]


def check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or fps <= 0:
        raise MogenBenchError(
            f"fps must be a positive number, got {fps!r}",
            field="fps",
            fix="pass the motion's frame rate (20 for HumanML3D, 12.5 for KIT-ML)",
        )
    return float(fps)


def write_video(frames: np.ndarray, path: str | os.PathLike, *, fps: float) -> Path:
    """Write ``frames`` ``(F, H, W, 3)`` uint8 to ``path`` (``.gif`` or ``.mp4``) at ``fps``; returns it."""
    fps = check_fps(fps)
    kind = video_format(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise MogenBenchError(
            f"frames must be a non-empty uint8 array (F, H, W, 3), got {frames.dtype} {frames.shape}",
            field="frames",
            fix="pass the output of render_frames",
        )
    if kind == "gif":
        return write_gif(frames, path, fps=fps)
    return write_mp4(frames, path, fps=fps)


def gif_durations(num_frames: int, fps: float) -> list[int]:
    """Per-frame GIF delays in milliseconds: multiples of 10 whose running sum tracks ``frame / fps``."""
    edges = np.round(np.arange(num_frames + 1) * 100.0 / fps) * 10
    return [int(d) for d in np.diff(edges)]


def write_gif(frames: np.ndarray, path: str | os.PathLike, *, fps: float) -> Path:
    """An endlessly looping GIF of ``frames`` ``(F, H, W, 3)`` uint8 at ``fps``."""
    palette = gif_palette(frames)
    lookup = _ColourLookup(palette)
    images = []
    for frame in frames:
        image = Image.fromarray(lookup(frame), mode="P")
        image.putpalette(palette.tobytes())
        images.append(image)
    with atomic_writer(path) as handle:
        images[0].save(
            handle,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=gif_durations(len(frames), fps),
            loop=0,
        )
    return Path(path)


def gif_palette(frames: np.ndarray) -> np.ndarray:
    """The 256 commonest colours ``(N, 3)`` of frames spread over the clip.

    Stick figures are flat colours plus anti-aliased edges, so the commonest colours are exactly the
    background, floor, limb and text colours; only rare edge blends are approximated.
    """
    picks = np.linspace(0, len(frames) - 1, min(len(frames), _PALETTE_FRAMES)).round().astype(int)
    colours, counts = np.unique(_packed(frames[picks]), return_counts=True)
    common = colours[np.argsort(-counts, kind="stable")[:256]]
    return np.stack([common >> 16, (common >> 8) & 255, common & 255], axis=-1).astype(np.uint8)


class _ColourLookup:
    """Palette index of every pixel: the nearest palette colour (Pillow's own lookup is approximate).

    A table over all 2^24 colours remembers each colour once matched, so after the first frames only
    the few new colours of a frame are searched.
    """

    def __init__(self, palette: np.ndarray) -> None:
        self.palette = palette.astype(np.float64)
        self.table = np.full(1 << 24, -1, dtype=np.int16)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        packed = _packed(frame)
        index = self.table[packed]
        missing = index < 0
        if missing.any():
            new = np.unique(packed[missing])
            rgb = np.stack([new >> 16, (new >> 8) & 255, new & 255], axis=-1).astype(np.float64)
            # Squared distances as |a|^2 - 2ab + |b|^2: exact in float64 for 8-bit colours.
            distance = (rgb**2).sum(1)[:, None] - 2 * rgb @ self.palette.T + (self.palette**2).sum(1)
            self.table[new] = distance.argmin(axis=1)
            index = self.table[packed]
        return index.astype(np.uint8).reshape(frame.shape[:2])


def _packed(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels ``(..., 3)`` uint8 as one int64 per pixel, flattened."""
    flat = pixels.reshape(-1, 3).astype(np.int64)
    return (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]


def write_mp4(frames: Iterable[np.ndarray], path: str | os.PathLike, *, fps: float) -> Path:
    """An H.264 (or ffmpeg's default MP4 codec) video of ``frames``, piped to ffmpeg as raw RGB."""
    ffmpeg = _ffmpeg(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    command = [
        ffmpeg, "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-",
        # yuv420p (what players expect) needs even sizes.
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        "-f", "mp4", str(temporary),
    ]  # fmt: skip
    try:
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
            try:
                for frame in (first, *frames):
                    process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            except BrokenPipeError:
                pass  # ffmpeg stopped early; its exit status and log say why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
                code = process.wait()
            log.seek(0)
            message = log.read().decode(errors="replace").strip()
        if code != 0:
            raise MogenBenchError(
                f"ffmpeg failed (exit status {code}): {message[-500:] or 'no message'}",
                file=str(target),
                fix="check the ffmpeg installation, or render to .gif",
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def _ffmpeg(path: str | os.PathLike) -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise MogenBenchError(
            "writing .mp4 needs ffmpeg, which is not on PATH",
            file=str(path),
            fix="install ffmpeg (apt install ffmpeg, conda install ffmpeg, brew install ffmpeg) or use .gif",
        )
    return found
