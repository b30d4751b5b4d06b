"""``mogen-bench generate RUN_DIR``: motions from texts or a stages file with a trained run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--text", "texts", multiple=True, help="A description to generate (repeatable).")
@click.option(
    "--length", "lengths", multiple=True, type=int, help="Frames per text (one for all, or one per text)."
)
@click.option(
    "--stages",
    "stages_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A stages file in the HuMMan-MoGen annotation format (stages with overall and per-part texts).",
)
@click.option("--num-samples", default=1, type=int, help="Motions per text (seeds derived from --seed).")
@click.option("--seed", default=0, type=int)
@click.option(
    "--guidance", default=None, type=float, help="Classifier-free guidance scale (default: the run's)."
)
@click.option(
    "--steps",
    "sampling_steps",
    default=None,
    help='Respaced sampling steps, e.g. "ddim50" (default: the run\'s).',
)
@click.option(
    "--checkpoint", default=None, type=click.Path(path_type=Path), help="A checkpoint other than the newest."
)
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@click.option(
    "--out", "out", default=None, type=click.Path(path_type=Path), help="Output folder [RUN_DIR/generated]."
)
@click.option(
    "--render", default=None, type=click.Path(path_type=Path), help="Also render to a .gif or .mp4 file."
)
@click.option(
    "--compare",
    "compare",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Another run to generate the same requests with the same seeds (repeatable; side by side in "
    "the video; its files go to OUT/<its folder name>).",
)
def generate(
    run_dir: Path,
    texts: tuple[str, ...],
    lengths: tuple[int, ...],
    stages_file: Path | None,
    num_samples: int,
    seed: int,
    guidance: float | None,
    sampling_steps: str | None,
    checkpoint: Path | None,
    device: str,
    out: Path | None,
    render: Path | None,
    compare: tuple[Path, ...],
) -> None:
    """Generate motions with the model of RUN_DIR: features and joints (.npy), a manifest, a video."""
    from mogen_bench.generation import GenerationJob, generate_motions

    written = generate_motions(
        GenerationJob(
            run_dir=run_dir,
            out=out if out is not None else run_dir / "generated",
            texts=list(texts),
            lengths=list(lengths),
            stages_file=stages_file,
            num_samples=num_samples,
            seed=seed,
            guidance=guidance,
            sampling_steps=sampling_steps,
            checkpoint=checkpoint,
            device=device,
            render=render,
            compare=list(compare),
        )
    )
    for path in written:
        click.echo(str(path))
