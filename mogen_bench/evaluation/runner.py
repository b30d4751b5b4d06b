"""``evaluate``: run a protocol on a trained model (or on the ground truth) and collect its metrics.

One replication re-generates every motion of the evaluation set at its ground-truth length from its
stages (a caption is a one-stage request), embeds them with the evaluator and scores them against the
cached ground truth: R-precision and MM-Dist in pools of 32 (a fresh pool order per replication), FID,
Diversity, MultiModality, and, by protocol, part-level R-precision and jerk at stage boundaries.

Determinism does not depend on the number of processes: the set is cut into canonical generation
batches of ``protocol.generation_batch`` motions, batch ``b`` of replication ``r`` is sampled with seed
``seed_for(seed, "generate", r, b)``, processes take batches round robin, and embeddings are gathered and
put back in canonical order before any metric is computed (rank 0 computes them all).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from annotation.files import atomic_write_bytes
from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluation.evaluation_set import EvaluationSet, evaluation_set
from mogen_bench.evaluation.protocols import Protocol
from mogen_bench.evaluators.interface import EmbeddingEvaluator
from mogen_bench.metrics import (
    diversity,
    fid,
    fid_from_statistics,
    fid_statistics,
    mean_jerk,
    multimodality,
    replication_statistics,
    retrieval_metrics,
    transition_jerk,
)
from mogen_bench.metrics.physical import foot_skating_ratio, ground_penetration, skating_settings
from mogen_bench.training.distributed import DistributedContext, seed_for


@dataclass
class GroundTruth:
    """Embeddings of pass 0 (what is cached): motions, texts, and per part where the evaluator has them."""

    motions: np.ndarray
    texts: np.ndarray
    part_motions: dict[str, np.ndarray] = field(default_factory=dict)
    part_texts: dict[str, np.ndarray] = field(default_factory=dict)
    #: Per part, which motions have a text for it (part texts exist only for those).
    part_present: dict[str, np.ndarray] = field(default_factory=dict)
    mean_jerk: float | None = None
    #: Stages of multi-stage motions cut out (``composition``): their motions and overall texts.
    stage_motions: np.ndarray | None = None
    stage_texts: np.ndarray | None = None
    #: Windows centred on the stage boundaries (``composition``): transition FID and Diversity.
    transition_motions: np.ndarray | None = None
    _statistics: object = field(default=None, repr=False)

    @property
    def statistics(self):
        """FID statistics of the ground-truth motions, computed once for every replication."""
        if self._statistics is None:
            self._statistics = fid_statistics(self.motions)
        return self._statistics


def _finite(name: str, values: torch.Tensor, ids: list[str]) -> np.ndarray:
    array = values.detach().float().cpu().numpy().astype(np.float64)
    bad = ~np.isfinite(array).all(axis=tuple(range(1, array.ndim)))
    if bad.any():
        shown = ", ".join(ids[i] for i in np.flatnonzero(bad)[:8])
        raise MogenBenchError(
            f"the evaluator gave NaN or inf {name} embeddings for {int(bad.sum())} motions ({shown})",
            field=name,
            fix="check those motions' features (and the model's output) for NaN or extreme values",
        )
    return array


def _cache_key(
    evaluator: EmbeddingEvaluator, fingerprint: str, split: str, protocol: Protocol, seed: int
) -> str:
    # Everything that decides what the ground truth's cache entry holds.
    names = (
        "max_frames",
        "unit_crop",
        "unit_length",
        "part_level",
        "transitions",
        "stage_min_frames",
        "stage_handshake",
        "transition_fid_window",
    )
    crop = {k: getattr(protocol, k) for k in names}
    payload = {
        "evaluator": evaluator.hash(),
        "dataset": fingerprint,
        "split": split,
        "crop": crop,
        "seed": seed,
        "parts": list(evaluator.parts),
        "version": 2,  # 2: transition windows, stage intervals without handshakes
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def embedding_cache_folder() -> Path:
    root = os.environ.get("MOGEN_BENCH_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "mogen-bench") / "embeddings"


def _embed_pass(
    evaluator: EmbeddingEvaluator, eval_set: EvaluationSet, part_level: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    motions, parts = [], {p: [] for p in evaluator.parts} if part_level else {}
    with torch.no_grad():
        for positions, batch in eval_set.chunks():
            ids = [eval_set.motion_ids[i] for i in positions]
            motions.append(
                _finite("motion", evaluator.encode_motions(batch["features"], batch["lengths"]), ids)
            )
            if parts:
                for part, value in evaluator.encode_part_motions(batch["features"], batch["lengths"]).items():
                    parts[part].append(_finite(f"{part} motion", value, ids))
    return np.concatenate(motions), {p: np.concatenate(v) for p, v in parts.items()}


def _embed_texts(evaluator: EmbeddingEvaluator, eval_set: EvaluationSet) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(eval_set), 256):
            stop = start + 256
            value = evaluator.encode_texts(eval_set.captions[start:stop], eval_set.tokens[start:stop])
            out.append(_finite("text", value, eval_set.motion_ids[start:stop]))
    return np.concatenate(out)


def _embed_part_texts(evaluator: EmbeddingEvaluator, eval_set: EvaluationSet):
    texts, present = eval_set.part_texts(), {}
    embedded = {}
    with torch.no_grad():
        for part in evaluator.parts:
            have = np.array([t is not None for t in texts[part]])
            present[part] = have
            chosen = [t for t in texts[part] if t is not None]
            rows = [
                evaluator.encode_part_texts({part: chosen[i : i + 256]})[part]
                for i in range(0, len(chosen), 256)
            ]
            ids = [m for m, h in zip(eval_set.motion_ids, have, strict=True) if h]
            embedded[part] = (
                _finite(f"{part} text", torch.cat(rows), ids) if rows else np.zeros((0, 1), np.float64)
            )
    return embedded, present


def ground_truth(
    evaluator: EmbeddingEvaluator,
    eval_set: EvaluationSet,
    protocol: Protocol,
    cache_key: str | None,
    representation=None,
) -> GroundTruth:
    """Pass-0 embeddings, read from the cache when an earlier evaluation computed them."""
    path = embedding_cache_folder() / f"{cache_key}.npz" if cache_key else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as data:
                return _from_npz(data)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed and rewritten
    part_level = protocol.part_level and bool(evaluator.parts)
    motions, part_motions = _embed_pass(evaluator, eval_set, part_level)
    texts = _embed_texts(evaluator, eval_set)
    part_texts, present = _embed_part_texts(evaluator, eval_set) if part_level else ({}, {})
    jerk = _gt_mean_jerk(eval_set, representation) if protocol.transitions and representation else None
    truth = GroundTruth(motions, texts, part_motions, part_texts, present, jerk)
    if protocol.transitions:
        staged = staged_pass(evaluator, eval_set, protocol)
        truth.stage_motions = staged.stage_motions
        truth.stage_texts = embed_stage_texts(evaluator, staged.stage_captions)
        truth.transition_motions = staged.transition_motions
    if path is not None:
        arrays = {"motions": motions, "texts": texts}
        for part in part_motions:
            arrays[f"part_motion:{part}"] = part_motions[part]
            arrays[f"part_text:{part}"] = part_texts[part]
            arrays[f"part_present:{part}"] = present[part]
        if jerk is not None:
            arrays["mean_jerk"] = np.array(jerk)
        if truth.stage_motions is not None:
            arrays["stage_motions"], arrays["stage_texts"] = truth.stage_motions, truth.stage_texts
        if truth.transition_motions is not None:
            arrays["transition_motions"] = truth.transition_motions
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    return truth


def _from_npz(data) -> GroundTruth:
    truth = GroundTruth(np.array(data["motions"]), np.array(data["texts"]))
    for key in data.files:
        kind, _, part = key.partition(":")
        if kind == "part_motion":
            truth.part_motions[part] = np.array(data[key])
        elif kind == "part_text":
            truth.part_texts[part] = np.array(data[key])
        elif kind == "part_present":
            truth.part_present[part] = np.array(data[key])
    if "mean_jerk" in data.files:
        truth.mean_jerk = float(data["mean_jerk"])
    if "stage_motions" in data.files:
        truth.stage_motions, truth.stage_texts = (
            np.array(data["stage_motions"]),
            np.array(data["stage_texts"]),
        )
    if "transition_motions" in data.files:
        truth.transition_motions = np.array(data["transition_motions"])
    return truth


def _gt_mean_jerk(eval_set: EvaluationSet, representation) -> float:
    """The ground-truth reference for AUJ: mean jerk over every valid frame of the set's joints."""
    total, frames = 0.0, 0
    for _, batch in eval_set.chunks():
        joints = representation.to_joints(batch["features"].double())
        lengths = batch["lengths"]
        usable = lengths >= 4
        if usable.any():
            count = int((lengths[usable] - 3).sum())
            total += mean_jerk(joints[usable], lengths[usable]) * count
            frames += count
    return total / max(frames, 1)


# --------------------------------------------------------------------------- stages cut out
#: ``(slot, start, end, stage)``: frames ``[start, end)`` of the motion in batch slot ``slot``, and the stage
#: (the stage scored, or the stage a transition window leads into).
Segment = tuple[int, int, int, int]


def stage_segments(stages: list[list[dict]], positions, protocol: Protocol) -> list[Segment]:
    """The intervals of the stages of multi-stage motions scored on their own, handshakes excluded.

    As PriorMDM scores its intervals (``--eval_on motion``) without their handshakes: around every stage
    boundary ``b`` the handshake ``[b - h // 2, b - h // 2 + h)`` of ``h = protocol.stage_handshake``
    frames belongs to neither stage (a motion's own ends have none). What is left must be at least
    ``stage_min_frames`` long.
    """
    before = protocol.stage_handshake // 2
    after = protocol.stage_handshake - before
    out = []
    for slot, position in enumerate(positions):
        motion_stages = stages[position]
        if len(motion_stages) < 2:
            continue
        last = len(motion_stages) - 1
        for number, stage in enumerate(motion_stages):
            start = stage["start_frame"] + (after if number > 0 else 0)
            end = stage["end_frame"] - (before if number < last else 0)
            if end - start >= protocol.stage_min_frames:
                out.append((slot, start, end, number))
    return out


def centred_windows(stages: list[dict], length: int, window: int) -> list[tuple[int, int]]:
    """``(stage, start)`` of the ``window``-frame windows centred on a motion's stage boundaries.

    Window ``[b - window // 2, b - window // 2 + window)`` around the start ``b`` of every stage after the
    first; windows that would reach past either end of the motion's ``length`` frames are left out.
    """
    out = []
    for number, stage in enumerate(stages[1:], 1):
        start = stage["start_frame"] - window // 2
        if start >= 0 and start + window <= length:
            out.append((number, start))
    return out


def transition_segments(stages: list[list[dict]], positions, lengths, protocol: Protocol) -> list[Segment]:
    """The ``transition_fid_window``-frame windows centred on the boundaries (PriorMDM's transitions)."""
    window = protocol.transition_fid_window
    return [
        (slot, start, start + window, number)
        for slot, position in enumerate(positions)
        for number, start in centred_windows(stages[position], int(lengths[slot]), window)
    ]


def _embed_segments(
    evaluator, features: torch.Tensor, segments: list[Segment], ids: list[str], what: str
) -> np.ndarray | None:
    if not segments:
        return None
    longest = max(end - start for _, start, end, _ in segments)
    cut = features.new_zeros(len(segments), longest, features.shape[-1])
    for row, (slot, start, end, _) in enumerate(segments):
        cut[row, : end - start] = features[slot, start:end]
    lengths = torch.tensor([end - start for _, start, end, _ in segments])
    names = [f"{ids[slot]} {what} {number}" for slot, _, _, number in segments]
    return _finite(f"{what} motion", evaluator.encode_motions(cut, lengths), names)


@dataclass
class Staged:
    """What ``composition`` scores in one batch of staged motions (``None`` where there is none)."""

    #: Stage intervals (handshakes excluded) and their stages' overall captions.
    stage_motions: np.ndarray | None
    stage_captions: list[str]
    #: Windows centred on the stage boundaries (transition FID and Diversity).
    transition_motions: np.ndarray | None
    #: ``(joints, boundaries, length)`` of every motion with a boundary inside the jerk window.
    jerk_windows: list


def staged_embeddings(
    evaluator,
    features: torch.Tensor,
    lengths,
    positions,
    stages: list[list[dict]],
    ids: list[str],
    protocol: Protocol,
    joints: torch.Tensor | None = None,
    transitions: bool = True,
) -> Staged:
    """Embeddings of the stage intervals and transition windows of one batch (``positions`` index ``stages``).

    ``transitions=False`` cuts the stages alone (MultiModality needs nothing else); jerk windows need the
    batch's recovered ``joints``.
    """
    segments = stage_segments(stages, positions, protocol)
    captions = [stages[positions[slot]][number]["overall"] or "" for slot, _, _, number in segments]
    staged = Staged(_embed_segments(evaluator, features, segments, ids, "stage"), captions, None, [])
    if not transitions:
        return staged
    windows = transition_segments(stages, positions, lengths, protocol)
    staged.transition_motions = _embed_segments(evaluator, features, windows, ids, "transition")
    if joints is not None:
        for slot, position in enumerate(positions):
            length = int(lengths[slot])
            motion_stages = stages[position]
            jerk = centred_windows(motion_stages, length, protocol.transition_window)
            cuts = [motion_stages[number]["start_frame"] for number, _ in jerk]
            if cuts:
                staged.jerk_windows.append((joints[slot], cuts, length))
    return staged


def recovered_joints(representation, features: torch.Tensor) -> torch.Tensor | None:
    """Joint positions of a batch in float64 on the CPU (what the jerk and physical metrics read), once."""
    return None if representation is None else representation.to_joints(features.double()).cpu()


def staged_pass(evaluator, eval_set: EvaluationSet, protocol: Protocol, representation=None) -> Staged:
    """``staged_embeddings`` over a whole pass of the data; the captions are embedded into ``stage_texts``."""
    parts: list[Staged] = []
    with torch.no_grad():
        for positions, batch in eval_set.chunks():
            ids = [eval_set.motion_ids[i] for i in positions]
            parts.append(
                staged_embeddings(
                    evaluator,
                    batch["features"],
                    batch["lengths"],
                    positions,
                    eval_set.stages,
                    ids,
                    protocol,
                    recovered_joints(representation, batch["features"]),
                )
            )
    return _join_staged(parts)


def _join_staged(parts: list[Staged]) -> Staged:
    stage = [p.stage_motions for p in parts if p.stage_motions is not None]
    windows = [p.transition_motions for p in parts if p.transition_motions is not None]
    return Staged(
        np.concatenate(stage) if stage else None,
        [caption for p in parts for caption in p.stage_captions],
        np.concatenate(windows) if windows else None,
        [w for p in parts for w in p.jerk_windows],
    )


def embed_stage_texts(evaluator, captions: list[str]) -> np.ndarray | None:
    if not captions:
        return None
    with torch.no_grad():
        return _finite("stage text", evaluator.encode_texts(captions, [None] * len(captions)), captions)


# --------------------------------------------------------------------------- generation
@dataclass
class Generated:
    motions: np.ndarray
    part_motions: dict[str, np.ndarray]
    transitions: dict[str, float] | None = None
    #: ``composition``: stage intervals (handshakes excluded) and windows centred on the boundaries.
    stage_motions: np.ndarray | None = None
    #: Per motion: foot skating ratio and mean ground penetration of the recovered joints.
    physical: np.ndarray | None = None
    transition_motions: np.ndarray | None = None
    #: Texts of ``stage_motions`` when they are not the ground truth's (a later pass of real motions).
    stage_texts: np.ndarray | None = None


def physical_scores(representation, joints: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    """``(B, 2)``: GMD's foot skating ratio and the mean ground penetration of each motion's ``joints``
    (``recovered_joints``)."""
    lengths = lengths.cpu()
    usable = lengths >= 2
    out = np.full((len(lengths), 2), np.nan)
    if usable.any():
        settings = skating_settings(representation.name)
        out[usable.numpy(), 0] = foot_skating_ratio(joints[usable], lengths[usable], **settings)
        out[usable.numpy(), 1] = ground_penetration(joints[usable], lengths[usable]).mean
    return out


def generate_embeddings(
    sample: Callable[[list, int], tuple[torch.Tensor, torch.Tensor]],
    evaluator: EmbeddingEvaluator,
    requests: list,
    lengths: np.ndarray,
    ids: list[str],
    protocol: Protocol,
    seed_keys: tuple,
    base_seed: int,
    dist: DistributedContext,
    part_level: bool = False,
    representation=None,
    stages: list[list[dict]] | None = None,
    progress: Callable[[int], None] | None = None,
    transitions: bool = True,
) -> Generated:
    """Embeddings of motions generated for ``requests`` in canonical batches, gathered in canonical order.

    ``sample(stage_lists, seed)`` returns dataset-space features ``(B, T, dims)`` and lengths. With
    ``stages`` (one list per request) the stage intervals are cut out too and, with ``transitions``, the
    windows around the boundaries (and their jerk, given the ``representation``).
    """
    size = protocol.generation_batch
    batches = [np.arange(s, min(s + size, len(requests))) for s in range(0, len(requests), size)]
    mine: list[tuple] = []
    for number, positions in enumerate(batches):
        if number % dist.world_size != dist.rank:
            continue
        seed = seed_for(base_seed, *seed_keys, number)
        with torch.no_grad():
            features, batch_lengths = sample([requests[i] for i in positions], seed)
            batch_ids = [ids[i] for i in positions]
            motion = _finite("generated motion", evaluator.encode_motions(features, batch_lengths), batch_ids)
            parts = {}
            if part_level:
                for part, value in evaluator.encode_part_motions(features, batch_lengths).items():
                    parts[part] = _finite(f"generated {part} motion", value, batch_ids)
            # Joints once per batch: the jerk windows and the physical metrics both read them.
            joints = recovered_joints(representation, features)
            staged = None
            if stages is not None:
                staged = staged_embeddings(
                    evaluator,
                    features,
                    lengths[positions],
                    positions,
                    stages,
                    batch_ids,
                    protocol,
                    joints,
                    transitions=transitions,
                )
        physical = physical_scores(representation, joints, batch_lengths) if representation else None
        mine.append((number, motion, parts, staged, physical))
        if progress is not None:
            progress(len(positions))
    gathered = [entry for rank_entries in dist.all_gather_objects(mine) for entry in rank_entries]
    gathered.sort(key=lambda entry: entry[0])
    motions = np.concatenate([entry[1] for entry in gathered])
    part_motions = {
        part: np.concatenate([entry[2][part] for entry in gathered])
        for part in (gathered[0][2] if gathered else {})
    }
    physical = [entry[4] for entry in gathered if entry[4] is not None]
    generated = Generated(motions, part_motions, physical=np.concatenate(physical) if physical else None)
    if stages is not None:
        staged = _join_staged([entry[3] for entry in gathered])
        generated.stage_motions = staged.stage_motions
        generated.transition_motions = staged.transition_motions
        if transitions:
            generated.transitions = transition_scores(staged.jerk_windows, protocol)
    return generated


def transition_scores(windows: list, protocol: Protocol) -> dict | None:
    if not windows:
        return None
    frames = max(length for _, _, length in windows)
    joints = torch.zeros(len(windows), frames, *windows[0][0].shape[1:], dtype=torch.float64)
    for slot, (motion, _, length) in enumerate(windows):
        joints[slot, :length] = motion[:length]
    boundaries = [cuts for _, cuts, _ in windows]
    lengths = [length for _, _, length in windows]
    score = transition_jerk(
        joints, boundaries, gt_mean_jerk=0.0, lengths=lengths, window=protocol.transition_window
    )
    return {
        "peak_jerk": score.peak_jerk,
        "curve": score.curve.tolist(),
        "num_transitions": score.num_transitions,
    }


def physical_pass(eval_set: EvaluationSet, representation) -> np.ndarray:
    """``physical_scores`` of every motion of a pass (the ground truth's own plausibility)."""
    return np.concatenate(
        [
            physical_scores(
                representation, recovered_joints(representation, batch["features"]), batch["lengths"]
            )
            for _, batch in eval_set.chunks()
        ]
    )


# --------------------------------------------------------------------------- scoring
def part_r_precision(
    part_texts: dict[str, np.ndarray],
    part_present: dict[str, np.ndarray],
    part_motions: dict[str, np.ndarray],
    protocol: Protocol,
    rng_seed: int,
) -> dict[str, np.ndarray]:
    """Per part: R-precision of part motion embeddings against the part texts, in pools of 32.

    Only motions whose stage has a text for the part take part; a part with fewer than one pool of them
    is left out.
    """
    out = {}
    for part, motions in part_motions.items():
        present = part_present.get(part)
        if present is None or present.sum() < protocol.pool_size:
            continue
        texts = part_texts[part]
        order = np.random.default_rng(seed_for(rng_seed, part)).permutation(len(texts))
        result = retrieval_metrics(
            texts[order], motions[present][order], pool_size=protocol.pool_size, top_k=protocol.top_k
        )
        out[part] = result.r_precision
    return out


def score_replication(
    truth: GroundTruth,
    texts: np.ndarray,
    generated: Generated,
    protocol: Protocol,
    seed: int,
    replication: int,
    mm: np.ndarray | None,
    part_texts: tuple[dict, dict] | None = None,
    stage_mm: np.ndarray | None = None,
) -> dict[str, float | np.ndarray]:
    """Every metric of one replication (canonical orders and seeds from ``(seed, replication)``).

    ``texts`` (and ``part_texts``: embeddings and presence per part; default the ground truth's) are the
    texts the motions were made from. ``stage_mm`` holds ``(G, R, E)`` stage intervals: ``R`` generations
    of each of ``G`` stages (per-stage MultiModality).
    """
    motions = generated.motions
    order = np.random.default_rng(seed_for(seed, "pools", replication)).permutation(len(motions))
    retrieval = retrieval_metrics(
        texts[order], motions[order], pool_size=protocol.pool_size, top_k=protocol.top_k
    )
    values: dict[str, float | np.ndarray] = {
        **{f"R_precision_top{k + 1}": float(retrieval.r_precision[k]) for k in range(protocol.top_k)},
        "MM_Dist": float(retrieval.mm_dist),
        "FID": fid_from_statistics(truth.statistics, motions),
    }
    if len(motions) > protocol.diversity_times:
        values["Diversity"] = diversity(
            motions, rng=seed_for(seed, "diversity", replication), times=protocol.diversity_times
        )
    if mm is not None:
        values["MultiModality"] = multimodality(
            mm, rng=seed_for(seed, "mm", replication), times=protocol.mm_times
        )
    embedded, present = part_texts or (truth.part_texts, truth.part_present)
    parts_seed = seed_for(seed, "parts", replication)
    for part, precision in part_r_precision(
        embedded, present, generated.part_motions, protocol, parts_seed
    ).items():
        values[f"part_R_precision_top1/{part}"] = float(precision[0])
    values.update(_stage_scores(truth, generated, protocol, seed, replication, stage_mm))
    if generated.physical is not None and np.isfinite(generated.physical).any():
        values["foot_skating_ratio"] = float(np.nanmean(generated.physical[:, 0]))
        values["ground_penetration"] = float(np.nanmean(generated.physical[:, 1]))
    if generated.transitions is not None and truth.mean_jerk is not None:
        curve = np.asarray(generated.transitions["curve"])
        values["transition_peak_jerk"] = float(generated.transitions["peak_jerk"])
        values["transition_AUJ"] = float(np.abs(curve - truth.mean_jerk).sum())
    return values


def _stage_scores(
    truth: GroundTruth,
    generated: Generated,
    protocol: Protocol,
    seed: int,
    replication: int,
    stage_mm: np.ndarray | None,
) -> dict[str, float]:
    """``composition``: per-stage retrieval, FID, Diversity and MultiModality; transition FID and Diversity.

    Each needs enough embeddings: a pool for retrieval, two for FID, more than ``diversity_times`` for
    Diversity, more than ``mm_times`` generations for MultiModality; what has too few is left out.
    """
    values: dict[str, float] = {}
    cut = generated.stage_motions
    if cut is not None and truth.stage_motions is not None:
        texts = generated.stage_texts if generated.stage_texts is not None else truth.stage_texts
        if len(cut) >= protocol.pool_size:
            order = np.random.default_rng(seed_for(seed, "stage-pools", replication)).permutation(len(cut))
            staged = retrieval_metrics(
                texts[order], cut[order], pool_size=protocol.pool_size, top_k=protocol.top_k
            )
            values["stage_R_precision_top1"] = float(staged.r_precision[0])
            values["stage_R_precision_top3"] = float(staged.r_precision[-1])
        if len(cut) > 1 and len(truth.stage_motions) > 1:
            values["stage_FID"] = fid(truth.stage_motions, cut)
    if cut is not None and len(cut) > protocol.diversity_times:
        rng = seed_for(seed, "stage-diversity", replication)
        values["stage_Diversity"] = diversity(cut, rng=rng, times=protocol.diversity_times)
    if stage_mm is not None and len(stage_mm) and stage_mm.shape[1] > protocol.mm_times:
        rng = seed_for(seed, "stage-mm", replication)
        values["stage_MultiModality"] = multimodality(stage_mm, rng=rng, times=protocol.mm_times)
    windows = generated.transition_motions
    truth_windows = truth.transition_motions
    if windows is not None and truth_windows is not None and len(windows) > 1 and len(truth_windows) > 1:
        values["transition_FID"] = fid(truth.transition_motions, windows)
    if windows is not None and len(windows) > protocol.diversity_times:
        rng = seed_for(seed, "transition-diversity", replication)
        values["transition_Diversity"] = diversity(windows, rng=rng, times=protocol.diversity_times)
    return values


def summarise(per_replication: list[dict]) -> dict[str, dict]:
    """``{metric: {"mean", "interval", "values"}}`` over replications (95 % interval, 1.96 std / sqrt(R))."""
    names = sorted({name for values in per_replication for name in values})
    series = {name: [values[name] for values in per_replication if name in values] for name in names}
    stats = replication_statistics(series)
    return {
        name: {
            "mean": float(stats.mean[name]),
            "interval": float(stats.interval[name]),
            "values": [float(v) for v in series[name]],
        }
        for name in names
    }


__all__ = [
    "Generated",
    "GroundTruth",
    "Staged",
    "embedding_cache_folder",
    "evaluation_set",
    "generate_embeddings",
    "ground_truth",
    "score_replication",
    "stage_segments",
    "staged_embeddings",
    "staged_pass",
    "summarise",
    "transition_scores",
    "transition_segments",
]
