"""``mogen-bench evaluate``: score a run (or the ground truth) under a named protocol into results.json."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option("--dataset", required=True, type=click.Path(path_type=Path), help="Prepared dataset folder.")
@click.option(
    "--evaluator",
    required=True,
    type=click.Path(path_type=Path),
    help="A `train evaluator` run folder, or the T2M evaluator's folder / finest.tar (with --glove).",
)
@click.option(
    "--glove", type=click.Path(path_type=Path), default=None, help="GloVe folder (our_vab_*) for T2M."
)
@click.option("--protocol", default="t2m@1", help="t2m@1, fine@1 or composition@1.")
@click.option("--replications", type=int, default=None, help="Override the protocol's 20 replications.")
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="protocol.KEY=VALUE",
    help="Change a protocol constant (e.g. protocol.mm_repeats=10): a variant, recorded in the result.",
)
@click.option(
    "--steps",
    "sampling_steps",
    default=None,
    help='Respaced sampling steps, e.g. "ddim10" (default: the run\'s; recorded in the result).',
)
@click.option("--split", default="test")
@click.option("--seed", default=0, type=int)
@click.option(
    "--real", is_flag=True, help="Evaluate the ground truth against itself (the 'Real motions' row)."
)
@click.option("--max-motions", type=int, default=None, help="Only the first N motions (a quick look).")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Results file [RUN_DIR/results.json]."
)
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@click.option("--no-progress", is_flag=True)
def evaluate(
    run_dir: Path | None,
    dataset: Path,
    evaluator: Path,
    glove: Path | None,
    protocol: str,
    replications: int | None,
    changes: tuple[str, ...],
    sampling_steps: str | None,
    split: str,
    seed: int,
    real: bool,
    max_motions: int | None,
    out: Path | None,
    device: str,
    no_progress: bool,
) -> None:
    """Generate with RUN_DIR's model and compute the protocol's metrics (mean and 95% interval)."""
    from rich.console import Console
    from rich.table import Table

    from mogen_bench.errors import MogenBenchError
    from mogen_bench.evaluation import EvaluationJob
    from mogen_bench.evaluation import evaluate as run_evaluation
    from mogen_bench.training.config import parse_overrides

    layer = parse_overrides(list(changes))
    if set(layer) - {"protocol"}:
        raise MogenBenchError(
            f"evaluate --set changes protocol constants only, not {sorted(set(layer) - {'protocol'})[0]!r}",
            field="--set",
            fix="write --set protocol.KEY=VALUE, e.g. --set protocol.mm_repeats=10",
        )

    entry = run_evaluation(
        EvaluationJob(
            dataset=dataset,
            evaluator=evaluator,
            run_dir=run_dir,
            real=real,
            protocol=protocol,
            replications=replications,
            protocol_changes=layer.get("protocol"),
            sampling_steps=sampling_steps,
            split=split,
            seed=seed,
            out=out,
            device=device,
            glove=glove,
            max_motions=max_motions,
            progress=not no_progress,
        )
    )
    if not entry["metrics"]:
        return  # not the main process
    table = Table(title=f"{entry['model']['name']} on {entry['dataset']['name']} ({entry['protocol']['id']})")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("95% interval", justify="right")
    for name, value in entry["metrics"].items():
        table.add_row(name, f"{value['mean']:.4f}", f"±{value['interval']:.4f}")
    console = Console()
    console.print(table)
    used = entry["evaluator"]
    console.print(f"evaluator {used['name']} {used['hash'][:12]}; written to {entry['written_to']}")
