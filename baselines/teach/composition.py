"""Composing TEACH's actions into one motion: the stage layout, root alignment and the transition frames.

TEACH generates a sequence action by action (``baselines.md`` 1.8, ``teach.py forward_seq``): action ``i > 0``
is decoded for ``length_i - w`` frames and its first ``w`` frames (``slerp_window``, released 8) are left
for an interpolation from the last pose of action ``i - 1`` to the first decoded pose of action ``i``. A
stage too short for that keeps at least 2 decoded frames (TEACH asserts ``length_i - w > 1``):
``w_i = clamp(min(w, length_i - 2), 0)``. Then, boundary after boundary (the previous stage already
aligned), in the dataset's feature space:

``smpl-rot6d-135`` (TEACH's representation; ``mogen_bench.motion.smpl_rot6d``). Root height and the 22
rotations are absolute per frame; the planar velocity is in each frame's heading frame, so positions are
the sum of the steps.

- ``align = "full"`` (TEACH's default, ``aligining_bodies``): the pelvis orientation of every decoded frame
  of the stage is turned about the vertical so that its first decoded frame has the heading of the
  previous stage's last frame (TEACH: the z component of the axis-angle; here the exact heading of
  ``smpl_rot6d.heading_matrix``). Velocities are in the heading frame, so the trajectory turns with it;
- ``"full"`` and ``"trans"`` (``align_trajectory``) put the first decoded frame at the previous stage's
  last planar position and interpolate the position linearly in between, as TEACH does: the planar
  velocity is zero on the transition frames and on the first decoded frame. The root stands still for
  ``w + 1`` frames, TEACH's behaviour, kept so that the baseline is the published one;
- transition frames: quaternion slerp of all 22 rotations (pelvis included, after the alignment) and a
  linear blend of the height and (with ``"none"``) the velocity, at ``t = j / (w + 1)``, ``j = 1 .. w``.

``humanml3d-263`` and ``kit-251`` (Guo et al.'s features). The root is relative already: frame ``t`` stores
the root's angular velocity, its planar velocity in the heading frame and its height, and the joints are
relative to the root in the heading frame, so concatenated stages have a continuous root by construction
(``guo_features.recover_root`` integrates across the boundary) and ``align`` has nothing to do. The
transition frames are a linear blend of every feature between the two bounding frames: the features hold
positions, velocities and 6D rotations that the recovery does not read (``recover_from_ric``), so there is
no rotation to slerp. A linear blend commutes with the z-normalisation, so it may run in model space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.rotations import (
    cont6d_to_matrix,
    cont6d_to_quaternion,
    matrix_to_cont6d,
    quaternion_to_cont6d,
    slerp,
)
from mogen_bench.motion.smpl_rot6d import NUM_JOINTS, ROTATIONS, VELOCITY, heading_matrix

ALIGN_MODES = ("full", "trans", "none")
#: Representations whose root must be aligned and whose rotations are slerped.
ROTATION_REPRESENTATIONS = ("smpl-rot6d-135",)
#: Representations with a relative root whose transitions are blended linearly.
LINEAR_REPRESENTATIONS = ("humanml3d-263", "kit-251")
PELVIS = slice(ROTATIONS.start, ROTATIONS.start + 6)


@dataclass
class StageLayout:
    """Where the stages of a batch of requests lie: ``(B, S)`` frames, 0-length past a request's stages.

    ``windows[b, s]`` transition frames open stage ``s`` (0 for the first stage); the decoder makes the
    rest, ``lengths - windows`` frames from ``starts + windows``.
    """

    starts: torch.Tensor
    lengths: torch.Tensor
    counts: torch.Tensor
    windows: torch.Tensor

    @classmethod
    def from_stage_lengths(
        cls, stage_lengths: Sequence[Sequence[int]], slerp_window: int, device: torch.device | str = "cpu"
    ) -> StageLayout:
        if not stage_lengths or any(not lengths for lengths in stage_lengths):
            raise MogenBenchError(
                "every request needs at least one stage",
                field="stages",
                fix="give each motion one stage or more",
            )
        if any(length < 1 for lengths in stage_lengths for length in lengths):
            raise MogenBenchError(
                "every stage needs at least one frame",
                field="stages",
                fix="make each stage end after it starts",
            )
        most = max(len(lengths) for lengths in stage_lengths)
        padded = [list(lengths) + [0] * (most - len(lengths)) for lengths in stage_lengths]
        lengths = torch.tensor(padded, dtype=torch.long, device=device)
        counts = torch.tensor([len(x) for x in stage_lengths], dtype=torch.long, device=device)
        starts = torch.cumsum(lengths, 1) - lengths
        later = torch.arange(most, device=device)[None, :] >= 1
        windows = (lengths - 2).clamp(min=0, max=max(int(slerp_window), 0)) * later
        return cls(starts=starts, lengths=lengths, counts=counts, windows=windows)

    @property
    def totals(self) -> torch.Tensor:
        return self.lengths.sum(1)

    @property
    def decoded_starts(self) -> torch.Tensor:
        return self.starts + self.windows

    @property
    def decoded_lengths(self) -> torch.Tensor:
        return self.lengths - self.windows


def composition_kind(representation: str) -> str:
    """``"rotation"`` (align + slerp) or ``"linear"`` (blend) for a representation name."""
    if representation in ROTATION_REPRESENTATIONS:
        return "rotation"
    if representation in LINEAR_REPRESENTATIONS:
        return "linear"
    raise MogenBenchError(
        f"TEACH cannot compose {representation} features",
        field="representation",
        fix=f"use one of {', '.join(ROTATION_REPRESENTATIONS + LINEAR_REPRESENTATIONS)}",
    )


def _at(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """``features[b, frames[b]]`` for every ``b``: ``(B, D)``."""
    return features[torch.arange(features.shape[0], device=features.device), frames]


def _align_heading(
    features: torch.Tensor, last: torch.Tensor, first: torch.Tensor, end: torch.Tensor, valid: torch.Tensor
) -> None:
    """Turn the pelvis of frames ``first .. end`` so frame ``first`` has the heading of frame ``last``."""
    before = cont6d_to_matrix(_at(features, last)[:, PELVIS])
    after = cont6d_to_matrix(_at(features, first)[:, PELVIS])
    turn = heading_matrix(before) @ heading_matrix(after).transpose(-1, -2)
    frames = torch.arange(features.shape[1], device=features.device)
    inside = valid[:, None] & (frames[None, :] >= first[:, None]) & (frames[None, :] < end[:, None])
    pelvis = features[..., PELVIS]
    turned = matrix_to_cont6d(turn[:, None] @ cont6d_to_matrix(pelvis))
    features[..., PELVIS] = torch.where(inside[..., None], turned, pelvis)


def _fill_window(
    features: torch.Tensor,
    last: torch.Tensor,
    first: torch.Tensor,
    window: torch.Tensor,
    valid: torch.Tensor,
    rotations: bool,
) -> None:
    """Frames ``last + 1 .. first - 1``: interpolated between frames ``last`` and ``first``."""
    widest = int((window * valid).max()) if valid.any() else 0
    if widest == 0:
        return
    count = features.shape[0]
    step = torch.arange(widest, device=features.device)
    inside = valid[:, None] & (step[None, :] < window[:, None])
    t = ((step[None, :] + 1) / (window[:, None] + 1).to(features.dtype)).to(features.dtype)
    a, b = _at(features, last), _at(features, first)
    blend = a[:, None] * (1 - t[..., None]) + b[:, None] * t[..., None]
    if rotations:
        qa = cont6d_to_quaternion(a[:, ROTATIONS].reshape(count, 1, NUM_JOINTS, 6))
        qb = cont6d_to_quaternion(b[:, ROTATIONS].reshape(count, 1, NUM_JOINTS, 6))
        q = slerp(qa, qb, t[..., None])
        blend = torch.cat(
            [blend[..., : ROTATIONS.start], quaternion_to_cont6d(q).reshape(count, widest, NUM_JOINTS * 6)],
            dim=-1,
        )
    rows = torch.arange(count, device=features.device)[:, None].expand(-1, widest)
    frames = last[:, None] + 1 + step[None, :]
    features[rows[inside], frames[inside]] = blend[inside].to(features.dtype)


def compose(
    features: torch.Tensor, layout: StageLayout, representation: str, align: str = "full"
) -> torch.Tensor:
    """Stages laid out by ``layout`` in dataset-space ``features`` ``(B, T, D)``, aligned and joined.

    The decoded frames of every stage must be in place; the transition frames are overwritten. Returns a
    new tensor (the input is left as it is).
    """
    if align not in ALIGN_MODES:
        raise MogenBenchError(
            f"unknown align mode {align!r}", field="model.align", fix=f"use one of {', '.join(ALIGN_MODES)}"
        )
    rotations = composition_kind(representation) == "rotation"
    features = features.clone()
    frames = torch.arange(features.shape[1], device=features.device)
    for stage in range(1, layout.starts.shape[1]):
        valid = layout.counts > stage
        if not valid.any():
            break
        start = layout.starts[:, stage]
        last = (start - 1).clamp_min(0)
        first = layout.decoded_starts[:, stage].clamp(max=features.shape[1] - 1)
        end = start + layout.lengths[:, stage]
        if rotations and align == "full":
            _align_heading(features, last, first, end, valid)
        _fill_window(features, last, first, layout.windows[:, stage], valid, rotations)
        if rotations and align in ("full", "trans"):
            still = valid[:, None] & (frames[None, :] >= start[:, None]) & (frames[None, :] <= first[:, None])
            features[..., VELOCITY] = features[..., VELOCITY] * (~still[..., None]).to(features.dtype)
    return features
