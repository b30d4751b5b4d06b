"""``mogen-bench quickstart``: the whole benchmark on MoGen-Synth from one command, as a plan of named stages.

``build_plan(options)`` lays out the stages, what each one writes and what its output depends on;
``run_plan(plan)`` runs them in order; ``run_quickstart(options)`` does both and collects the leaderboard.

    data                          generate MoGen-Synth and prepare it (humanml3d-263)
    train-evaluator               the contrastive evaluator (``tiny`` preset, with part heads)
    train-mdm, train-finemogen-supervised, train-finemogen-zero-shot, train-teach
                                  the models (``tiny`` presets; FineMoGen in both of its training modes)
    train-priormdm                PriorMDM over the MDM run (its presets train nothing)
    sample-<model>                a rendered GIF per model, RUN/generated/quickstart/sample.gif
    evaluate-<model>-<protocol>   every model and the Real motions row under t2m@1, fine@1, composition@1
    report                        the leaderboard report in OUT/report (Markdown, LaTeX, CSV, HTML, plots)

Folders: ``OUT/data/mogen-synth`` (and ``-raw``), ``OUT/runs/<model>`` (each with its ``results.json``),
``OUT/real/results.json``, ``OUT/report`` and ``OUT/.quickstart`` (markers, the plan, the sample request).

Resuming. A finished stage leaves ``OUT/.quickstart/<stage>.done`` with its *key*: a hash of its settings and
of the markers of the stages it reads. A stage runs when its marker is missing or its key differs (other
settings, or an input stage redone since, which gave that stage a new marker), and what it writes is
removed first, so a redone stage never mixes old and new files. ``force`` redoes every stage. A training
interrupted with the same key resumes from its newest checkpoint (written every quarter of the run).

Seeds come from the one ``seed``: MoGen-Synth is generated with it (as ``prepare synth --seed``), the
evaluations use it, each training and the samples use seeds derived from it (``seed_for``).

Sizes (``SIZES``). The issue's budget is minutes on a 2-core CPU, so a size scales down what costs time,
and every change is recorded where the numbers are: step counts and sampling steps in each run's
``config.json`` and in the results' model entries, protocol changes and the evaluated subset in every
``results.json`` (the leaderboard titles such a board as a variant and never mixes it with the standard
protocol). The README's quickstart section has the table of both sizes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from annotation.files import atomic_write_text
from mogen_bench.errors import MogenBenchError

PROTOCOLS = ("t2m@1", "fine@1", "composition@1")
REPRESENTATION = "humanml3d-263"
MARKERS = ".quickstart"
#: Published rows join only the boards they match (none do on MoGen-Synth; the report stays about the runs).
PUBLISHED = "attach"


@dataclass(frozen=True)
class QuickstartSettings:
    """What one size runs. All of it goes into the stage keys: changing a setting redoes what it touches."""

    #: MoGen-Synth preset (``mogen_bench.synth.SYNTH_PRESETS``).
    synth: str
    #: Optimiser steps of the evaluator and of each generative model (PriorMDM trains nothing).
    evaluator_steps: int
    model_steps: int
    #: Training batch of every run (the ``tiny`` presets' 32 halved: more updates for the same CPU time).
    batch_size: int
    #: Sampling steps per registered model.
    sampling_steps: Mapping[str, str]
    #: Replications of every protocol.
    replications: int
    #: Protocol constants changed for the size (recorded in every result).
    protocol_changes: Mapping[str, object]
    #: Evaluate only the first N motions of the test split (``None``: all; recorded as the result's subset).
    max_motions: int | None = None
    #: Extra ``--set`` overrides per registered model name, applied last (the tests shrink the models).
    overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# The presets' 50-step samplers at a fifth of their steps, each keeping its sampler and shape: FineMoGen's
# DDIM sections "15,15,8,6,6" become "3,3,2,1,1"; MDM's and PriorMDM's ddim50 ddim10. Sampling is most of
# an evaluation's time on a CPU (every protocol regenerates every test motion in every replication).
_SAMPLING = {"mdm": "ddim10", "finemogen": "3,3,2,1,1", "priormdm": "ddim10"}

SIZES: dict[str, QuickstartSettings] = {
    "tiny": QuickstartSettings(
        synth="tiny",
        evaluator_steps=60,
        model_steps=30,
        batch_size=16,
        sampling_steps=_SAMPLING,
        replications=2,
        # 14 test motions: pools of 8, Diversity over 10 pairs, MultiModality over 2 texts x 3 samples. Crops
        # of at most 120 frames: the tiny presets train on (and so generate) at most 120.
        protocol_changes={
            "max_frames": 120,
            "pool_size": 8,
            "diversity_times": 10,
            "mm_num_samples": 2,
            "mm_repeats": 3,
            "mm_times": 2,
        },
    ),
    "small": QuickstartSettings(
        synth="small",
        evaluator_steps=400,
        model_steps=250,
        batch_size=16,
        sampling_steps=_SAMPLING,
        replications=2,
        # The first 96 of the 180 test motions (3 pools of the standard 32), Diversity over 64 pairs,
        # MultiModality over 5 texts x 4 samples.
        protocol_changes={
            "max_frames": 120,
            "diversity_times": 64,
            "mm_num_samples": 5,
            "mm_repeats": 4,
            "mm_times": 3,
        },
        max_motions=96,
    ),
}


@dataclass(frozen=True)
class ModelSpec:
    """A run the quickstart trains: its folder name, registered model, preset and extra settings."""

    key: str
    model: str
    preset: str
    overrides: tuple[str, ...] = ()
    #: The run this one is built over (PriorMDM's prior), by key.
    prior: str | None = None


EVALUATOR = ModelSpec("evaluator", "evaluator", "tiny")
MODELS = (
    ModelSpec("mdm", "mdm", "tiny"),
    ModelSpec("finemogen-supervised", "finemogen", "tiny", ("model.training_mode=supervised",)),
    ModelSpec("finemogen-zero-shot", "finemogen", "tiny", ("model.training_mode=zero_shot",)),
    ModelSpec("teach", "teach", "tiny"),
    ModelSpec("priormdm", "priormdm", "tiny", prior="mdm"),
)


@dataclass
class QuickstartOptions:
    out: Path
    size: str = "tiny"
    seed: int = 0
    force: bool = False
    progress: bool = True
    #: torch's CPU threads while the quickstart runs (``None``: leave torch's). One is the safe choice for
    #: its small models: on a busy 2-core CPU torch's thread pool stalls on every op (tiny: 547 s wall with
    #: 2 threads, 168 s with 1), on a quiet one 2 threads gain less (123 s against 173 s).
    threads: int | None = 1
    #: Replaces the size's settings (the tests run the plan with smaller ones).
    settings: QuickstartSettings | None = None


@dataclass(frozen=True)
class QuickstartPaths:
    out: Path

    @property
    def markers(self) -> Path:
        return self.out / MARKERS

    @property
    def data(self) -> Path:
        return self.out / "data" / "mogen-synth"

    @property
    def raw(self) -> Path:
        return self.out / "data" / "mogen-synth-raw"

    def run(self, key: str) -> Path:
        return self.out / "runs" / key

    def sample(self, key: str) -> Path:
        return self.run(key) / "generated" / "quickstart" / "sample.gif"

    def results(self, key: str) -> Path:
        return self.out / "real" / "results.json" if key == "real" else self.run(key) / "results.json"

    @property
    def report(self) -> Path:
        return self.out / "report"

    @property
    def sample_stages(self) -> Path:
        return self.markers / "sample-stages.json"


@dataclass
class Stage:
    """One named step of a plan: what it does, what its output depends on, and how to run it."""

    name: str
    description: str
    #: What the output depends on besides the stages in ``after`` (hashed into the stage's key).
    settings: dict
    #: Runs the stage; a ``resumable`` stage's is called with ``resume=True`` to continue an interrupted run.
    run: Callable[..., None]
    #: Stages whose outputs this one reads.
    after: tuple[str, ...] = ()
    #: Files and folders the stage writes (removed before it is redone).
    outputs: tuple[Path, ...] = ()
    resumable: bool = False


@dataclass
class Plan:
    options: QuickstartOptions
    settings: QuickstartSettings
    paths: QuickstartPaths
    stages: list[Stage]


@dataclass
class StageRecord:
    name: str
    skipped: bool
    wall_s: float = 0.0
    cpu_s: float = 0.0


@dataclass
class QuickstartResult:
    plan: Plan
    records: list[StageRecord] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    #: The leaderboard of the results (``leaderboard.report.Report``), set by ``run_quickstart``.
    report: object = None

    @property
    def html(self) -> Path:
        return self.plan.paths.report / "index.html"

    @property
    def ran(self) -> list[str]:
        return [r.name for r in self.records if not r.skipped]


# --------------------------------------------------------------------------- the plan
def settings_for(options: QuickstartOptions) -> QuickstartSettings:
    if options.settings is not None:
        return options.settings
    if options.size not in SIZES:
        raise MogenBenchError(
            f"unknown quickstart size {options.size!r}", field="size", fix=f"use one of {', '.join(SIZES)}"
        )
    return SIZES[options.size]


def training_overrides(spec: ModelSpec, settings: QuickstartSettings, seed: int, paths) -> list[str]:
    """The ``--set`` overrides of ``spec``'s training on top of its preset."""
    from mogen_bench.training.distributed import seed_for

    if spec.prior is not None:
        # PriorMDM's presets train nothing (max_steps = 0): its run is the prior's weights and its sampler.
        overrides = [f"model.prior_run={json.dumps(str(paths.run(spec.prior).resolve()))}"]
    else:
        steps = _steps(spec, settings)
        overrides = [
            f"train.max_steps={steps}",
            f"train.batch_size={settings.batch_size}",
            f"train.seed={seed_for(seed, 'quickstart', 'train', spec.key)}",
            # A quarter of the run between checkpoints: an interrupted training loses little.
            f"train.checkpoint_every={max(1, -(-steps // 4))}",
            f"train.log_every={max(1, min(50, steps))}",
        ]
    if spec.model in settings.sampling_steps:
        overrides.append(f"model.sampling_steps={json.dumps(settings.sampling_steps[spec.model])}")
    return [*overrides, *spec.overrides, *settings.overrides.get(spec.model, ())]


def _portable(overrides: list[str], paths: QuickstartPaths) -> list[str]:
    # The prior's absolute path is no setting (the prior's marker stands for it), so a moved quickstart
    # folder keeps its markers.
    return [o.replace(str(paths.out.resolve()), "OUT") for o in overrides]


def build_plan(options: QuickstartOptions) -> Plan:
    """The stages of ``options`` in the order they run (see the module docstring)."""
    settings = settings_for(options)
    if options.seed < 0:
        raise MogenBenchError(f"--seed must be >= 0, got {options.seed}", field="seed", fix="e.g. --seed 0")
    paths = QuickstartPaths(Path(options.out))
    seed, progress = options.seed, options.progress
    stages = [
        Stage(
            "data",
            f"generate MoGen-Synth ({settings.synth}, seed {seed}) and prepare it as {REPRESENTATION}",
            {"synth": settings.synth, "seed": seed, "representation": REPRESENTATION},
            lambda: _prepare_data(paths, settings, seed, progress),
            outputs=(paths.data, paths.raw),
        )
    ]
    for spec in (EVALUATOR, *MODELS):
        overrides = training_overrides(spec, settings, seed, paths)
        what = f"over the {spec.prior} run" if spec.prior else f"{_steps(spec, settings)} steps"
        stages.append(
            Stage(
                f"train-{spec.key}",
                f"train {spec.model} ({spec.preset} preset, {what})",
                {"model": spec.model, "preset": spec.preset, "overrides": _portable(overrides, paths)},
                _trainer(spec, overrides, paths, progress),
                after=("data",) if spec.prior is None else ("data", f"train-{spec.prior}"),
                outputs=(paths.run(spec.key),),
                resumable=spec.prior is None,
            )
        )
    cap = int(settings.protocol_changes.get("max_frames", 196))
    for spec in MODELS:
        stages.append(
            Stage(
                f"sample-{spec.key}",
                f"render a sample of {spec.key} (a multi-stage test motion)",
                {"seed": seed, "max_frames": cap},
                _sampler(spec, paths, seed, cap),
                after=("data", f"train-{spec.key}"),
                outputs=(paths.sample(spec.key).parent,),
            )
        )
    evaluation = {
        "split": "test",
        "seed": seed,
        "replications": settings.replications,
        "protocol_changes": dict(settings.protocol_changes),
        "max_motions": settings.max_motions,
    }
    for key in ("real", *(spec.key for spec in MODELS)):
        model_stage = () if key == "real" else (f"train-{key}",)
        for protocol in PROTOCOLS:
            stages.append(
                Stage(
                    f"evaluate-{key}-{protocol.split('@')[0]}",
                    f"evaluate {'the real motions' if key == 'real' else key} under {protocol}",
                    {"protocol": protocol, **evaluation},
                    _evaluation(key, protocol, paths, settings, seed, progress),
                    after=("data", "train-evaluator", *model_stage),
                )
            )
    stages.append(
        Stage(
            "report",
            "write the leaderboard report (Markdown, LaTeX, CSV, HTML, plots)",
            {"published": PUBLISHED, "title": _title(options)},
            lambda: _report(paths, options),
            after=tuple(s.name for s in stages if s.name.startswith(("evaluate-", "sample-"))),
            outputs=(paths.report,),
        )
    )
    return Plan(options, settings, paths, stages)


def _steps(spec: ModelSpec, settings: QuickstartSettings) -> int:
    return settings.evaluator_steps if spec is EVALUATOR else settings.model_steps


def _title(options: QuickstartOptions) -> str:
    return f"mogen-bench quickstart ({options.size}, seed {options.seed})"


def results_files(paths: QuickstartPaths) -> list[Path]:
    """The results file of the Real motions row and of every model."""
    return [paths.results(key) for key in ("real", *(spec.key for spec in MODELS))]


# --------------------------------------------------------------------------- stage bodies
def _prepare_data(paths: QuickstartPaths, settings: QuickstartSettings, seed: int, progress: bool) -> None:
    # What `mogen-bench prepare synth` does, into folders the stage owns (it removes them before a redo).
    from mogen_bench.cli.prepare import run_prepare
    from mogen_bench.data.sources.synth import SynthSource
    from mogen_bench.synth import SYNTH_PRESETS, write_synth

    if settings.synth not in SYNTH_PRESETS:
        raise MogenBenchError(
            f"unknown MoGen-Synth preset {settings.synth!r}",
            field="synth",
            fix=f"use one of {', '.join(SYNTH_PRESETS)}",
        )
    write_synth(paths.raw, SYNTH_PRESETS[settings.synth].replace(seed=seed), progress=progress)
    run_prepare(SynthSource(paths.raw, REPRESENTATION), paths.data, f"mogen-synth-{settings.synth}", False)


def _trainer(spec: ModelSpec, overrides: list[str], paths: QuickstartPaths, progress: bool):
    def run(resume: bool = False) -> None:
        from mogen_bench.training.loop import TrainRequest, train

        run_dir = paths.run(spec.key)
        # A resumed run reads its preset and overrides from its config.json.
        preset, settings = (None, ()) if resume else (spec.preset, overrides)
        train(
            TrainRequest(
                spec.model, paths.data, run_dir, preset, overrides=settings, resume=resume, progress=progress
            )
        )

    return run


def sample_request(paths: QuickstartPaths, cap: int) -> Path:
    """A stages file of the first test motion that has several stages and fits in ``cap`` frames.

    Without one, the first test motion cut to ``cap`` frames. Every model renders the same request.
    """
    from annotation.humman_json import write_humman_json
    from annotation.model import Annotation
    from mogen_bench.data.reader import PreparedDataset

    split = PreparedDataset(paths.data).split("test")
    lengths = [int(n) for n in split.lengths]
    fits = [i for i in range(len(split)) if lengths[i] <= cap and len(split.stages(i) or ()) > 1]
    index = fits[0] if fits else 0
    end = min(lengths[index], cap) if lengths else 0
    stages = [s for s in ((split.stages(index) or []) if lengths else []) if s.start_frame < end]
    if not stages:
        raise MogenBenchError(
            "the test split has no motion with stages to render",
            file=str(paths.data),
            fix="prepare the dataset from MoGen-Synth (every motion of it has stages)",
        )
    stages[-1] = replace(stages[-1], end_frame=min(stages[-1].end_frame, end))
    paths.markers.mkdir(parents=True, exist_ok=True)
    annotation = Annotation(split.motion_ids[index], tuple(stages), num_frames=stages[-1].end_frame)
    return write_humman_json(annotation, paths.sample_stages)


def _sampler(spec: ModelSpec, paths: QuickstartPaths, seed: int, cap: int):
    def run() -> None:
        from mogen_bench.generation import GenerationJob, generate_motions
        from mogen_bench.training.distributed import seed_for

        out = paths.sample(spec.key)
        job = GenerationJob(
            run_dir=paths.run(spec.key),
            out=out.parent,
            stages_file=sample_request(paths, cap),
            seed=seed_for(seed, "quickstart", "sample"),
            render=out,
        )
        generate_motions(job)

    return run


def _forget(results: Path, protocol: str) -> None:
    """Drop earlier entries of ``protocol`` from ``results``: the stage owns them, a redo replaces them."""
    from mogen_bench.evaluation.results import read_results

    if not results.is_file():
        return
    document = read_results(results)
    kept = [e for e in document["evaluations"] if e.get("protocol", {}).get("id") != protocol]
    if len(kept) != len(document["evaluations"]):
        document["evaluations"] = kept
        atomic_write_text(results, json.dumps(document, indent=2) + "\n")


def _evaluation(key: str, protocol: str, paths: QuickstartPaths, settings, seed: int, progress: bool):
    def run() -> None:
        from mogen_bench.evaluation import EvaluationJob, evaluate

        results = paths.results(key)
        _forget(results, protocol)
        job = EvaluationJob(
            dataset=paths.data,
            evaluator=paths.run(EVALUATOR.key),
            run_dir=None if key == "real" else paths.run(key),
            real=key == "real",
            protocol=protocol,
            replications=settings.replications,
            split="test",
            seed=seed,
            out=results,
            max_motions=settings.max_motions,
            protocol_changes=dict(settings.protocol_changes),
            progress=progress,
        )
        evaluate(job)

    return run


def _report(paths: QuickstartPaths, options: QuickstartOptions) -> None:
    from leaderboard.report import write_report
    from mogen_bench import __version__

    footer = f"Written by mogen-bench {__version__} quickstart on {time.strftime('%Y-%m-%d %H:%M')}."
    write_report(results_files(paths), paths.report, PUBLISHED, _title(options), footer)


# --------------------------------------------------------------------------- running
def _hash(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _read_marker(path: Path) -> dict:
    try:
        marker = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # missing or unreadable: the stage counts as unfinished
    return marker if isinstance(marker, dict) else {}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MogenBenchError("not a folder", file=str(out), field="out", fix="choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKERS).is_dir():
        raise MogenBenchError(
            f"the folder is not empty and holds no quickstart ({MARKERS}/); the quickstart removes what it "
            "redoes, so it only writes into a new or empty folder or one of its own",
            file=str(out),
            field="out",
            fix="choose a new --out",
        )


class _Lines:
    """The stage lines: rich on stderr, or nothing."""

    def __init__(self, enabled: bool):
        self.console = None
        if enabled:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    def __call__(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)


def run_plan(plan: Plan) -> QuickstartResult:
    """Run the stages of ``plan`` that are not finished with their current key (every one with ``force``)."""
    options, paths = plan.options, plan.paths
    _check_out(paths.out)
    paths.markers.mkdir(parents=True, exist_ok=True)
    atomic_write_text(paths.markers / "plan.json", json.dumps(describe(plan), indent=2) + "\n")
    say = _Lines(options.progress)
    result = QuickstartResult(plan)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tokens: dict[str, str] = {}
    total = len(plan.stages)
    say(f"[bold]quickstart[/bold] {options.size}, seed {options.seed}: {total} stages → {paths.out}")
    for number, stage in enumerate(plan.stages, 1):
        after = [tokens[name] for name in stage.after]
        key = _hash({"stage": stage.name, "settings": stage.settings, "after": after})
        done_file = paths.markers / f"{stage.name}.done"
        running_file = paths.markers / f"{stage.name}.running"
        tag = f"[{number:>2}/{total}] {stage.name}"
        marker = {} if options.force else _read_marker(done_file)
        if marker.get("key") == key:
            tokens[stage.name] = marker["token"]
            result.records.append(StageRecord(stage.name, skipped=True))
            say(f"[dim]· {tag}: done earlier[/dim]")
            continue
        _remove(done_file)
        resume = (
            stage.resumable
            and not options.force
            and _read_marker(running_file).get("key") == key
            and (stage.outputs[0] / "config.json").is_file()
        )
        if not resume:
            for output in stage.outputs:
                _remove(output)
        atomic_write_text(running_file, json.dumps({"stage": stage.name, "key": key}) + "\n")
        say(f"[bold]▶ {tag}[/bold]: {stage.description}{' (resuming)' if resume else ''}")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            if resume:
                stage.run(resume=True)
            else:
                stage.run()
        except BaseException:
            say(f"[red]✗ {tag} failed after {time.perf_counter() - wall:.1f} s[/red]")
            raise
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        # A fresh token per execution: the stages that read this one see a new key and are redone.
        token = uuid.uuid4().hex
        marker = {
            "stage": stage.name,
            "key": key,
            "token": token,
            "settings": stage.settings,
            "after": list(stage.after),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
        }
        atomic_write_text(done_file, json.dumps(marker, indent=2) + "\n")
        _remove(running_file)
        tokens[stage.name] = token
        result.records.append(StageRecord(stage.name, False, wall, cpu))
        say(f"[green]✓ {tag}[/green] {wall:.1f} s (CPU {cpu:.1f} s)")
    result.wall_s, result.cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    return result


def describe(plan: Plan) -> dict:
    """The plan as JSON (written to ``OUT/.quickstart/plan.json``)."""
    return {
        "size": plan.options.size,
        "seed": plan.options.seed,
        "settings": asdict(plan.settings),
        "stages": [
            {"name": s.name, "description": s.description, "settings": s.settings, "after": list(s.after)}
            for s in plan.stages
        ],
    }


def run_quickstart(options: QuickstartOptions) -> QuickstartResult:
    """Build the plan of ``options``, run it, and collect the leaderboard of its results."""
    import torch

    from leaderboard.report import build

    plan = build_plan(options)
    if options.threads is not None and options.threads < 1:
        raise MogenBenchError(
            f"--threads must be >= 1, got {options.threads}", field="threads", fix="e.g. --threads 1"
        )
    before = torch.get_num_threads()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    try:
        result = run_plan(plan)
    finally:
        torch.set_num_threads(before)
    result.report = build(results_files(result.plan.paths), PUBLISHED)
    return result
