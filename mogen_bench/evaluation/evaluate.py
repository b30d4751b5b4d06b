"""The ``mogen-bench evaluate`` job: a run (or the ground truth) x a split x an evaluator x a protocol.

``evaluate(EvaluationJob(...))`` checks everything first (the run has a model, the dataset has the split,
the evaluator reads the dataset's representation), then computes or loads the ground truth, runs the
replications and writes one entry into ``results.json`` (see ``results.py``). Works the same in one
process and under ``torchrun``: ranks share the generation, rank 0 scores and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mogen_bench.data.info import INFO_FILE, read_info
from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluation.evaluation_set import evaluation_set
from mogen_bench.evaluation.protocols import Protocol, get_protocol
from mogen_bench.evaluation.results import RESULTS_FILE, record_result
from mogen_bench.evaluation.runner import (
    Generated,
    _cache_key,
    _embed_part_texts,
    _embed_pass,
    _embed_texts,
    embed_stage_texts,
    generate_embeddings,
    ground_truth,
    physical_pass,
    score_replication,
    stage_segments,
    staged_pass,
    summarise,
    transition_scores,
)
from mogen_bench.evaluators.interface import EmbeddingEvaluator
from mogen_bench.training.distributed import DistributedContext, seed_for, setup_distributed


@dataclass
class EvaluationJob:
    dataset: Path
    evaluator: EmbeddingEvaluator | Path
    run_dir: Path | None = None
    real: bool = False
    protocol: str | Protocol = "t2m@1"
    replications: int | None = None
    split: str = "test"
    seed: int = 0
    out: Path | None = None
    device: str = "auto"
    glove: Path | None = None
    #: Evaluate only the first N motions of the split (a quick look; recorded in the result).
    max_motions: int | None = None
    #: Overrides of protocol constants (a variant; recorded in the result).
    protocol_changes: dict | None = None
    progress: bool = True
    #: The run's respaced sampling steps for this evaluation (e.g. ``"ddim10"``; recorded in the result).
    sampling_steps: str | None = None


def _check_dataset(job: EvaluationJob):
    info = read_info(job.dataset)
    if job.split not in info.splits:
        raise MogenBenchError(
            f"the dataset has no {job.split!r} split (it has {', '.join(info.splits)})",
            file=str(Path(job.dataset) / INFO_FILE),
            field="split",
            fix=f"use --split {next(iter(info.splits), 'test')}",
        )
    return info


def _load_evaluator(job: EvaluationJob, info, device) -> EmbeddingEvaluator:
    if not isinstance(job.evaluator, str | Path):
        return job.evaluator
    from mogen_bench.evaluators.loading import load_evaluator

    return load_evaluator(job.evaluator, dataset_info=info, glove_dir=job.glove, device=device)


def evaluate(job: EvaluationJob) -> dict:
    """Run ``job``; returns the result entry (also written to ``results.json`` by rank 0)."""
    if job.real == (job.run_dir is not None):
        raise MogenBenchError(
            "give either a run folder or --real (the ground truth against itself)",
            field="run_dir",
            fix="mogen-bench evaluate RUN_DIR --dataset DIR ..., or evaluate --real --dataset DIR ...",
        )
    protocol = get_protocol(job.protocol) if isinstance(job.protocol, str) else job.protocol
    changes = dict(job.protocol_changes or {})
    if job.replications is not None:
        changes["replications"] = job.replications
    if changes:
        protocol = protocol.with_changes(**changes)
    info = _check_dataset(job)
    dist = setup_distributed(job.device)
    try:
        return _evaluate(job, protocol, info, dist)
    finally:
        dist.cleanup()


def _evaluate(job: EvaluationJob, protocol: Protocol, info, dist: DistributedContext) -> dict:
    from mogen_bench.motion.representations import get_representation
    from mogen_bench.training.loop import dataset_fingerprint

    device = dist.device
    run = None
    if job.run_dir is not None:
        from mogen_bench.training.run import load_run

        overrides = {"sampling_steps": job.sampling_steps} if job.sampling_steps is not None else None
        run = load_run(job.run_dir, device=device, model_overrides=overrides)
        if run.model.context.representation != info.representation:
            raise MogenBenchError(
                f"the run makes {run.model.context.representation} features but the dataset holds "
                f"{info.representation}",
                file=str(Path(job.dataset) / INFO_FILE),
                field="representation",
                fix="evaluate on a dataset prepared in the run's representation",
            )
    evaluator = _load_evaluator(job, info, device)
    if evaluator.representation != info.representation:
        raise MogenBenchError(
            f"the evaluator reads {evaluator.representation} features, "
            f"but the dataset holds {info.representation}",
            field="evaluator",
            fix="use an evaluator trained on this representation",
        )
    if protocol.part_level and not evaluator.parts:
        raise MogenBenchError(
            f"protocol {protocol.id} needs a part-aware evaluator; {evaluator.name} has no part heads",
            field="protocol",
            fix="use t2m@1, or an evaluator from `mogen-bench train evaluator`",
        )
    representation = get_representation(info.representation)
    fingerprint = dataset_fingerprint(Path(job.dataset))
    eval_set = evaluation_set(job.dataset, job.split, protocol, job.seed, epoch=0)
    if job.max_motions is not None:
        _truncate(eval_set, job.max_motions)
    if len(eval_set) < protocol.pool_size:
        raise MogenBenchError(
            f"the {job.split} split has {len(eval_set)} motions, fewer than one pool of {protocol.pool_size}",
            field="split",
            fix="evaluate a bigger split",
        )
    longest = int(eval_set.lengths.max())
    limit = None if run is None else run.model.max_generation_frames
    if limit is not None and longest > limit:
        raise MogenBenchError(
            f"the protocol crops motions to {protocol.max_frames} frames ({longest} here), but the model "
            f"makes at most {limit}",
            field="protocol.max_frames",
            fix="train with data.max_frames equal to the protocol's (196 for t2m@1)",
        )
    key = (
        None
        if job.max_motions is not None
        else _cache_key(evaluator, fingerprint, job.split, protocol, job.seed)
    )
    truth = ground_truth(evaluator, eval_set, protocol, key, representation)
    part_level = protocol.part_level and bool(evaluator.parts)
    stages = eval_set.stages if protocol.transitions else None
    requests = [eval_set.stage_objects(i) for i in range(len(eval_set))]

    sample = _sampler(run) if run is not None else None
    per_replication = []
    with _Progress(protocol.replications, len(eval_set), job.progress and dist.is_main) as progress:
        for replication in range(protocol.replications):
            progress.start(replication)
            if run is None:
                again = evaluation_set(job.dataset, job.split, protocol, job.seed, epoch=replication + 1)
                if job.max_motions is not None:
                    _truncate(again, job.max_motions)
                motions, parts = _embed_pass(evaluator, again, part_level)
                texts = _embed_texts(evaluator, again)
                generated = Generated(motions, parts, physical=physical_pass(again, representation))
                if protocol.transitions:
                    # The real motions' own stages and boundaries: the reference row of every stage metric.
                    staged = staged_pass(evaluator, again, protocol, representation)
                    generated.stage_motions = staged.stage_motions
                    generated.stage_texts = embed_stage_texts(evaluator, staged.stage_captions)
                    generated.transition_motions = staged.transition_motions
                    generated.transitions = transition_scores(staged.jerk_windows, protocol)
                pass_parts = _embed_part_texts(evaluator, again) if part_level else None
                progress.advance(len(again))
                mm = stage_mm = None
            else:
                generated = generate_embeddings(
                    sample,
                    evaluator,
                    requests,
                    eval_set.lengths,
                    eval_set.motion_ids,
                    protocol,
                    ("generate", replication),
                    job.seed,
                    dist,
                    part_level=part_level,
                    representation=representation,
                    stages=stages,
                    progress=progress.advance,
                )
                texts, pass_parts = truth.texts, None
                mm, stage_mm = _multimodality_set(
                    sample, evaluator, requests, eval_set, protocol, job.seed, replication, dist
                )
            if dist.is_main:
                per_replication.append(
                    score_replication(
                        truth, texts, generated, protocol, job.seed, replication, mm, pass_parts, stage_mm
                    )
                )
    entry = {
        "protocol": {
            "id": protocol.id,
            "description": protocol.description,
            "constants": protocol.constants(),
        },
        "split": job.split,
        "seed": job.seed,
        "num_motions": len(eval_set),
        "subset": job.max_motions,
        "model": _model_entry(run),
        "dataset": {
            "name": info.name,
            "path": str(Path(job.dataset).resolve()),
            "source": info.source,
            "representation": info.representation,
            "fingerprint": fingerprint,
        },
        "evaluator": {"name": evaluator.name, "hash": evaluator.hash(), "path": _evaluator_path(job)},
        "world_size": dist.world_size,
        "metrics": summarise(per_replication) if dist.is_main else {},
    }
    if dist.is_main:
        out = job.out or (Path(job.run_dir) / RESULTS_FILE if job.run_dir is not None else Path(RESULTS_FILE))
        record_result(out, entry)
        entry["written_to"] = str(out)
    dist.barrier()
    return entry


def _truncate(eval_set, count: int) -> None:
    if count < 1:
        raise MogenBenchError("--max-motions must be >= 1", field="max_motions", fix="e.g. --max-motions 256")
    for name in ("rows", "lengths"):
        setattr(eval_set, name, getattr(eval_set, name)[:count])
    for name in ("motion_ids", "captions", "tokens", "stages"):
        setattr(eval_set, name, getattr(eval_set, name)[:count])


def _sampler(run) -> Callable:
    def sample(stage_lists: list, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        result = run.model.generate(stage_lists, None, seed=seed)
        return run.denormalise(result.features.float()), result.lengths

    return sample


def _multimodality_set(sample, evaluator, requests, eval_set, protocol, seed, replication, dist):
    """``(S, R, E)``: ``R = mm_repeats`` generations for each of ``S = mm_num_samples`` chosen motions.

    Under ``composition`` also ``(G, R, E)`` for the ``G`` stage intervals of the chosen multi-stage motions
    (per-stage MultiModality, handshakes excluded as in PriorMDM's intervals); otherwise ``None``.
    """
    count = min(protocol.mm_num_samples, len(requests))
    if protocol.mm_repeats <= protocol.mm_times or count == 0:
        return None, None
    rng = np.random.default_rng(seed_for(seed, "mm-choice", replication))
    chosen = np.sort(rng.choice(len(requests), count, replace=False))
    repeated = np.repeat(chosen, protocol.mm_repeats)
    stages = [eval_set.stages[i] for i in repeated] if protocol.transitions else None
    generated = generate_embeddings(
        sample,
        evaluator,
        [requests[i] for i in repeated],
        eval_set.lengths[repeated],
        [eval_set.motion_ids[i] for i in repeated],
        protocol,
        ("mm", replication),
        seed,
        dist,
        stages=stages,
        transitions=False,
    )
    mm = generated.motions.reshape(count, protocol.mm_repeats, -1)
    if stages is None or generated.stage_motions is None:
        return mm, None
    # Stage rows come motion by motion (each repeat of a motion cuts the same stages): group them by stage.
    groups: dict[tuple[int, int], list[int]] = {}
    segments = stage_segments(stages, np.arange(len(repeated)), protocol)
    for row, (slot, _, _, number) in enumerate(segments):
        groups.setdefault((slot // protocol.mm_repeats, number), []).append(row)
    return mm, np.stack([generated.stage_motions[rows] for rows in groups.values()])


def _model_entry(run) -> dict:
    if run is None:
        return {"name": "real", "real": True}
    return {
        "name": run.config["model"],
        "run": str(Path(run.run_dir).resolve()),
        "checkpoint": str(run.checkpoint),
        "step": run.step,
        "guidance": getattr(run.model.config, "guidance", None),
        "sampling_steps": getattr(run.model.config, "sampling_steps", None),
        "real": False,
    }


def _evaluator_path(job: EvaluationJob) -> str | None:
    return str(Path(job.evaluator).resolve()) if isinstance(job.evaluator, str | Path) else None


class _Progress:
    """A rich progress bar per replication (only on the main process and a terminal)."""

    def __init__(self, replications: int, motions: int, enabled: bool):
        self.enabled, self.replications, self.motions = enabled, replications, motions
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            )
            self.bar.__enter__()
        return self

    def start(self, replication: int) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(
                f"replication {replication + 1}/{self.replications}", total=self.motions
            )

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, count)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False
