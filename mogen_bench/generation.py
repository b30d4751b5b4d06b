"""Generating motions with a trained run and writing them out: features, joints, a manifest, a video.

``generate_motions`` is what ``mogen-bench generate`` does: load the run (``load_run``), turn texts or a
stages file into requests, sample ``num_samples`` motions per request with seeds derived from one base
seed, map the model's normalised output back to features and then to joint positions through the
representation, and write

    OUT/sample_NNN.features.npy    (T, dims) float32, the dataset's feature space
    OUT/sample_NNN.joints.npy      (T, J, 3) float32, y up (metres; KIT: millimetres)
    OUT/generation.json            the run, checkpoint, seed, guidance and each sample's request

and, with ``render``, a GIF or MP4 of all samples side by side (one motion: on its own). ``compare``
names other runs (of the same representation) that generate the same requests with the same seeds, each
into ``OUT/<run folder name>/`` with its own manifest; the video then shows every run's motions side by
side, each panel titled with its run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotation.files import atomic_write_bytes, atomic_write_text
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.conditions import as_requests, read_stages_file
from mogen_bench.training.distributed import seed_for, select_device
from mogen_bench.training.run import load_run

MANIFEST = "generation.json"


@dataclass
class GenerationJob:
    run_dir: Path
    out: Path
    texts: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    stages_file: Path | None = None
    num_samples: int = 1
    seed: int = 0
    guidance: float | None = None
    sampling_steps: str | None = None
    checkpoint: Path | None = None
    device: str = "auto"
    render: Path | None = None
    #: Other runs that generate the same requests with the same seeds (side by side in the video).
    compare: list[Path] = field(default_factory=list)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _conditions(job: GenerationJob, fps: float) -> tuple[list, list]:
    if job.stages_file is not None and job.texts:
        raise MogenBenchError(
            "give either --text or --stages, not both", field="stages", fix="drop one of them"
        )
    if job.stages_file is not None:
        return [read_stages_file(job.stages_file, fps=fps)], [job.lengths[0] if job.lengths else None]
    if not job.texts:
        raise MogenBenchError(
            "nothing to generate", field="text", fix='give --text "..." --length N, or --stages FILE'
        )
    lengths = job.lengths or [None]
    if len(lengths) == 1:
        lengths = lengths * len(job.texts)
    return list(job.texts), list(lengths)


def generate_motions(job: GenerationJob) -> list[Path]:
    """Run ``job`` and return the files written (see the module docstring)."""
    if job.num_samples < 1:
        raise MogenBenchError("--num-samples must be >= 1", field="num_samples", fix="e.g. --num-samples 3")
    overrides = {"sampling_steps": job.sampling_steps} if job.sampling_steps is not None else None
    device = select_device(job.device)
    run = load_run(job.run_dir, job.checkpoint, device, model_overrides=overrides)
    representation = run.representation
    conditions, lengths = _conditions(job, representation.fps)
    # Validate everything (the other runs and their limits included) before any sampling work.
    requests = as_requests(conditions, lengths, run.model.max_generation_frames)
    if job.render is not None and job.render.suffix.lower() not in (".gif", ".mp4"):
        raise MogenBenchError(
            f"cannot render to {job.render.name}", field="render", fix="use a .gif or .mp4 file name"
        )
    names = [Path(job.run_dir).name] + [Path(other).name for other in job.compare]
    shared = sorted({name for name in names if names.count(name) > 1})
    if shared:
        raise MogenBenchError(
            f"two runs to compare share the folder name {shared[0]!r}",
            field="compare",
            fix="give runs in folders with different names (their outputs go to OUT/<folder name>)",
        )
    others = []
    for other in job.compare:
        # Each run samples with its own settings; --steps and --guidance apply to the main run only.
        loaded = load_run(other, None, device)
        if loaded.representation.name != representation.name:
            raise MogenBenchError(
                f"{other} makes {loaded.representation.name} motions, {job.run_dir} "
                f"{representation.name}: they cannot be compared",
                field="compare",
                fix="compare runs trained on the same representation",
            )
        as_requests(conditions, lengths, loaded.model.max_generation_frames)
        others.append(loaded)

    job.out.mkdir(parents=True, exist_ok=True)
    label = names[0] if others else None  # panels are named by their run when there are several
    written, panels = _generate_run(run, requests, job, job.out, job.guidance, label)
    for loaded, name in zip(others, names[1:], strict=True):
        files, more = _generate_run(loaded, requests, job, job.out / name, None, name)
        written += files
        panels += more
    if job.render is not None:
        written.append(_render(job.render, panels, representation))
    return written


def _generate_run(
    run, requests: list, job: GenerationJob, out: Path, guidance: float | None, label: str | None
) -> tuple[list[Path], list[tuple]]:
    """Sample ``requests`` with one run into ``out``: files written and ``(joints, title, stages)`` panels."""
    representation = run.representation
    written, manifest, panels = [], [], []
    out.mkdir(parents=True, exist_ok=True)
    for sample in range(job.num_samples):
        seed = seed_for(job.seed, "generate", sample) if sample else job.seed
        result = run.model.generate([r.stages for r in requests], None, seed=seed, guidance=guidance)
        features = run.denormalise(result.features.float()).cpu()
        for number, request in enumerate(requests):
            index = len(manifest)
            motion = features[number, : request.length]
            joints = representation.to_joints(motion).numpy().astype(np.float32)
            stem = f"sample_{index:03d}"
            for suffix, array in (("features", motion.numpy().astype(np.float32)), ("joints", joints)):
                path = out / f"{stem}.{suffix}.npy"
                atomic_write_bytes(path, _npy_bytes(array))
                written.append(path)
            stages = [
                {"start_frame": s.start_frame, "end_frame": s.end_frame, **s.texts} for s in request.stages
            ]
            manifest.append(
                {
                    "file": stem,
                    "request": number,
                    "sample": sample,
                    "seed": seed,
                    "length": request.length,
                    "caption": request.caption,
                    "stages": stages,
                }
            )
            title = request.caption if len(request.caption) < 60 else request.caption[:57] + "..."
            if label:  # one motion per run: the run's name says it all (the stages are captioned below)
                title = label if len(requests) * job.num_samples == 1 else f"{label}: {title}"
            panels.append((joints, title, stages))
    info = {
        "run": str(run.run_dir),
        "model": run.config["model"],
        "checkpoint": str(run.checkpoint),
        "step": run.step,
        "representation": representation.name,
        "fps": representation.fps,
        "seed": job.seed,
        "guidance": getattr(run.model.config, "guidance", None) if guidance is None else guidance,
        "sampling_steps": getattr(run.model.config, "sampling_steps", None),
        "samples": manifest,
    }
    atomic_write_text(out / MANIFEST, json.dumps(info, indent=2) + "\n")
    written.append(out / MANIFEST)
    return written, panels


def _render(path: Path, panels: list[tuple], representation) -> Path:
    from mogen_bench.render import render_motion, render_side_by_side

    joints, titles, stages = (list(column) for column in zip(*panels, strict=True))
    if len(joints) == 1:
        return render_motion(
            joints[0],
            path,
            skeleton=representation.skeleton,
            fps=representation.fps,
            stages=stages[0],
            title=titles[0],
        )
    return render_side_by_side(
        joints, path, skeleton=representation.skeleton, fps=representation.fps, titles=titles, stages=stages
    )
