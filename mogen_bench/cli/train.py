"""``mogen-bench train MODEL``: train a registered model on a prepared dataset into a run folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("model")
@click.option(
    "--dataset", "dataset", required=True, type=click.Path(path_type=Path), help="Prepared dataset folder."
)
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Run folder to create (or resume)."
)
@click.option("--preset", default=None, help="A preset the model ships (e.g. mdm: paper, tiny).")
@click.option(
    "--config", "config_file", default=None, type=click.Path(path_type=Path), help="A TOML config file."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one setting, e.g. --set train.lr=2e-4 (repeatable; values are TOML literals).",
)
@click.option(
    "--clip-weights", default=None, type=click.Path(path_type=Path), help="Local CLIP ViT-B-32 weights file."
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--stop-at-step", type=int, default=None, help="Stop after this many steps (resume later).")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to metrics.jsonl).")
def train(
    model: str,
    dataset: Path,
    out: Path,
    preset: str | None,
    config_file: Path | None,
    overrides: tuple[str, ...],
    clip_weights: Path | None,
    resume: bool,
    stop_at_step: int | None,
    no_progress: bool,
) -> None:
    """Train MODEL (mdm, finemogen, ... see the registry) on a prepared dataset.

    Settings come from the model's defaults (the paper's), then --preset, then --config, then --set;
    the resolved config is written to OUT/config.json. Under torchrun every process trains its share
    (DDP); on one machine it runs on the GPU when there is one, else the CPU.
    """
    from mogen_bench.training.loop import TrainRequest
    from mogen_bench.training.loop import train as run_training

    extra = [f'model.clip_weights="{clip_weights.resolve()}"'] if clip_weights is not None else []
    result = run_training(
        TrainRequest(
            model=model,
            dataset=dataset,
            out=out,
            preset=preset,
            config_file=config_file,
            overrides=[*overrides, *extra],
            resume=resume,
            stop_at_step=stop_at_step,
            progress=not no_progress,
        )
    )
    losses = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.last_losses.items()))
    click.echo(f"{result.run_dir}: step {result.step}" + (f"; {losses}" if losses else ""))
