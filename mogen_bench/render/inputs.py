"""What the renderer draws, checked: joint positions, the bones and their body-part colours, the captions.

Every user mistake (a wrong shape, NaN, a skeleton that does not fit, a stage without frames) becomes a
``MogenBenchError`` naming the argument and what was expected, before any figure is made. Bones are
coloured by the body part of their child joint, with the joint groups FineMoGen uses for its part tokens
(``mogen_bench.motion.part_slices.JOINT_GROUPS``), so the colours mean the same parts as the annotation.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from annotation.parts import PARTS, canonical_text_field
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.part_slices import JOINT_GROUPS, REPRESENTATION_SKELETONS
from mogen_bench.motion.skeletons import KIT21, SKELETONS, SMPL22, SMPL24, Skeleton, get_skeleton
from mogen_bench.motion.tensors import floating_tensor, shape_text

#: Colour of each body part (Okabe-Ito, readable by colour-blind viewers): left limbs blue, right limbs
#: orange, the trajectory trace green.
PART_COLOURS: dict[str, str] = {
    "head": "#CC79A7",
    "spine": "#4D4D4D",
    "left_arm": "#0072B2",
    "right_arm": "#D55E00",
    "left_leg": "#56B4E9",
    "right_leg": "#E69F00",
    "trajectory": "#009E73",
}

#: Colours of the chains of a skeleton given only as chains (no joint names, so no body parts).
_CHAIN_COLOURS = ("#4D4D4D", "#0072B2", "#D55E00", "#56B4E9", "#E69F00", "#CC79A7", "#009E73", "#F0E442")

#: Skeletons guessed from the joint count when the caller names none.
_BY_JOINT_COUNT: dict[int, Skeleton] = {s.num_joints: s for s in (SMPL22, KIT21, SMPL24)}


@dataclass(frozen=True)
class Bones:
    """The segments to draw: ``(parent, child)`` joint pairs, one colour each, and the root joint."""

    pairs: np.ndarray  # (B, 2) int
    colours: tuple[str, ...]
    root: int
    num_joints: int
    name: str


def as_joints(joints: object, *, name: str = "joints") -> np.ndarray:
    """``joints`` (numpy or torch, ``(T, J, 3)``, finite, at least one frame) as a float64 numpy array."""
    expected = "(T, J, 3)"
    tensor = floating_tensor("render", name, joints, expected)
    shape = tuple(tensor.shape)
    if len(shape) == 4 and shape[-1] == 3:
        raise MogenBenchError(
            f"{name} has shape {shape_text(shape)}: a batch of motions, but one motion {expected} is drawn",
            field=name,
            fix=f"pass {name}[i] for one motion, or a list of motions to render_side_by_side",
        )
    if len(shape) != 3 or shape[-1] != 3:
        raise MogenBenchError(
            f"{name} must be joint positions of shape {expected}, got {shape_text(shape)}",
            field=name,
            fix="recover joint positions from features first (e.g. the representation's to_joints)",
        )
    if shape[0] == 0 or shape[1] == 0:
        raise MogenBenchError(
            f"{name} is empty: shape {shape_text(shape)}, a motion needs at least one frame and one joint",
            field=name,
            fix="render a motion with frames",
        )
    array = tensor.detach().to("cpu", torch.float64).numpy()
    finite = np.isfinite(array).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise MogenBenchError(
            f"{name} has NaN or infinite positions in {bad.size} of {shape[0]} frames (first {bad[0]})",
            field=name,
            fix="check the model output or the feature-to-joint conversion for NaN",
        )
    return array


def joint_parts(skeleton: Skeleton) -> tuple[str, ...] | None:
    """The body part of every joint of ``skeleton``, or ``None`` when no part table fits it.

    The table is the joint groups of a representation whose skeleton's joints begin ``skeleton``'s
    (SMPL-22 for SMPL-24); a joint the groups leave out (SMPL-24's hands) takes its parent's part.
    """
    for representation, known in REPRESENTATION_SKELETONS.items():
        if skeleton.joint_names[: known.num_joints] != known.joint_names:
            continue
        parts: list[str | None] = [None] * skeleton.num_joints
        for part, group in JOINT_GROUPS[representation].items():
            for joint in group:
                parts[joint] = part
        parents = skeleton.parents
        for chain in skeleton.chains:  # chains are ordered so that a parent is placed before its children
            for joint in chain:
                if parts[joint] is None and parents[joint] >= 0:
                    parts[joint] = parts[parents[joint]]
        if all(p in PARTS for p in parts):
            return tuple(p for p in parts if p is not None)
    return None


def resolve_bones(
    num_joints: int,
    skeleton: Skeleton | str | None = None,
    chains: Sequence[Sequence[int]] | None = None,
    *,
    name: str = "joints",
) -> Bones:
    """The bones of a ``num_joints``-joint motion: from ``skeleton``, from ``chains``, or by joint count.

    ``name`` is how messages call the motion (``motions[1]`` in a side-by-side rendering).
    """
    if skeleton is not None and chains is not None:
        raise MogenBenchError(
            "give either skeleton or chains, not both",
            field="chains",
            fix="pass skeleton= for a known skeleton, or chains= for a custom one",
        )
    if isinstance(skeleton, str):
        skeleton = get_skeleton(skeleton)
    if chains is None:
        if skeleton is None:
            skeleton = _BY_JOINT_COUNT.get(num_joints)
            if skeleton is None:
                known = ", ".join(f"{s.name} ({s.num_joints})" for s in SKELETONS.values())
                raise MogenBenchError(
                    f"{name} has {num_joints} joints and no known skeleton has that many",
                    field="skeleton",
                    fix=f"pass chains= (lists of joint indices) or a skeleton: {known}",
                )
        elif not isinstance(skeleton, Skeleton):
            raise MogenBenchError(
                f"skeleton must be a Skeleton or a skeleton name, got {type(skeleton).__name__}",
                field="skeleton",
                fix=f"use one of {', '.join(SKELETONS)}",
            )
        if skeleton.num_joints != num_joints:
            raise MogenBenchError(
                f"{name} has {num_joints} joints, skeleton {skeleton.name!r} has {skeleton.num_joints}",
                field="skeleton",
                fix=f"pass joints of shape (T, {skeleton.num_joints}, 3) or the skeleton of the data",
            )
        chains, skeleton_name = skeleton.chains, skeleton.name
        parts = joint_parts(skeleton)
    else:
        skeleton_name, parts = "custom", None
    pairs, colours = [], []
    for index, chain in enumerate(chains):
        chain = [int(j) for j in chain]
        if len(chain) < 2 or not all(0 <= j < num_joints for j in chain):
            raise MogenBenchError(
                f"chain {index} {chain} must list at least two joint indices in 0..{num_joints - 1}",
                field="chains",
                fix=f"give chains of joint indices of {name}, which has {num_joints} joints",
            )
        chain_colour = _CHAIN_COLOURS[index % len(_CHAIN_COLOURS)]
        for parent, child in itertools.pairwise(chain):
            pairs.append((parent, child))
            colours.append(PART_COLOURS[parts[child]] if parts else chain_colour)
    pairs_array = np.asarray(pairs, dtype=np.int64)
    return Bones(pairs_array, tuple(colours), int(chains[0][0]), num_joints, skeleton_name)


def frame_captions(stages: object, num_frames: int, field: str = "overall") -> list[str]:
    """One caption per frame, from ``stages``.

    ``stages`` is ``None`` (no captions), one string for the whole clip, one string per frame, an
    ``Annotation``, or stages: ``Stage`` objects or dicts with ``start_frame``, ``end_frame`` and texts
    (canonical or HuMMan-MoGen keys). A stage's caption is its ``field`` text, numbered when there are
    several stages; frames no stage covers get an empty caption.
    """
    canonical = canonical_text_field(field)
    if canonical is None:
        raise MogenBenchError(
            f"unknown caption field {field!r}", field="caption_field", fix="use 'overall' or a body part name"
        )
    if stages is None:
        return [""] * num_frames
    if isinstance(stages, str):
        return [stages] * num_frames
    stages = getattr(stages, "stages", stages)  # an Annotation
    if not isinstance(stages, Sequence) or isinstance(stages, bytes):
        raise MogenBenchError(
            f"stages must be a list of stages or of per-frame captions, got {type(stages).__name__}",
            field="stages",
            fix="pass [{'start_frame': 0, 'end_frame': T, 'overall': '...'}] or one string per frame",
        )
    if all(s is None or isinstance(s, str) for s in stages) and stages:
        if len(stages) != num_frames:
            raise MogenBenchError(
                f"got {len(stages)} per-frame captions for {num_frames} frames",
                field="stages",
                fix="give one caption per frame, or stages with start_frame/end_frame",
            )
        return [s or "" for s in stages]
    captions = [""] * num_frames
    for index, stage in enumerate(stages):
        start, end, text = _stage_fields(stage, index, canonical)
        label = f"{index + 1}/{len(stages)}: {text}" if len(stages) > 1 and text else text
        for frame in range(max(start, 0), min(end, num_frames)):
            captions[frame] = label
    return captions


def _stage_fields(stage: object, index: int, field: str) -> tuple[int, int, str]:
    if isinstance(stage, Mapping):
        texts = {canonical_text_field(str(k)): v for k, v in stage.items()}
        start, end, text = stage.get("start_frame"), stage.get("end_frame"), texts.get(field)
    else:
        start = getattr(stage, "start_frame", None)
        end = getattr(stage, "end_frame", None)
        text = getattr(stage, field, None)
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (start, end)):
        raise MogenBenchError(
            f"stage {index} needs integer start_frame and end_frame, got {start!r} and {end!r}",
            field=f"stages[{index}]",
            fix="give each stage 'start_frame' (inclusive) and 'end_frame' (exclusive)",
        )
    if end <= start:
        raise MogenBenchError(
            f"stage {index} ends (frame {end}) before it starts (frame {start})",
            field=f"stages[{index}]",
            fix="end_frame is exclusive and must be greater than start_frame",
        )
    if text is not None and not isinstance(text, str):
        raise MogenBenchError(
            f"stage {index}'s {field} text must be a string, got {type(text).__name__}",
            field=f"stages[{index}].{field}",
        )
    return int(start), int(end), text or ""


def wrap_caption(text: str, width: int, lines: int) -> str:
    """``text`` wrapped to ``width`` characters, at most ``lines`` lines (the rest cut with an ellipsis)."""
    wrapped = textwrap.wrap(text, width=max(width, 8))
    if len(wrapped) > lines:
        rest = " ".join(wrapped[lines - 1 :])
        wrapped = [*wrapped[: lines - 1], textwrap.shorten(rest, width, placeholder=" …")]
    return "\n".join(wrapped)
