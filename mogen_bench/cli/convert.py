"""``mogen-bench convert``: checkpoints of released models as run folders (``generate``, ``evaluate``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def convert() -> None:
    """Import the checkpoint of a released model into a run folder."""


@convert.command("finemogen-official", context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--mean", default=None, type=click.Path(path_type=Path), help="The dataset's Mean.npy (required)."
)
@click.option(
    "--std", default=None, type=click.Path(path_type=Path), help="The dataset's Std.npy (required)."
)
@click.option(
    "--representation",
    "--dataset-kind",
    "representation",
    default=None,
    type=click.Choice(["humanml3d-263", "kit-251"]),
    help="What the checkpoint was trained on [default: told by its shapes].",
)
@click.option(
    "--clip-weights",
    default=None,
    type=click.Path(path_type=Path),
    help="CLIP ViT-B/32 weights, for a checkpoint saved without its CLIP (model.clip.*).",
)
def finemogen_official(
    checkpoint: Path,
    out: Path,
    mean: Path | None,
    std: Path | None,
    representation: str | None,
    clip_weights: Path | None,
) -> None:
    """Convert a checkpoint of the released FineMoGen code (mingyuan-zhang/FineMoGen) into the run folder OUT.

    OUT gets config.json (the paper preset, the dataset's Mean/Std), checkpoints/step-00000000.pt and the
    checkpoint's CLIP text tower as clip_text.safetensors; `mogen-bench generate OUT ...` then works.
    Every released tensor is mapped by an explicit table; unknown or missing keys are refused.
    """
    from finemogen.convert import convert_finemogen_official

    result = convert_finemogen_official(
        checkpoint, out, mean=mean, std=std, representation=representation, clip_weights=clip_weights
    )
    clip = (
        f"{result.clip_tensors} CLIP text-tower tensors -> {result.clip_weights.name}"
        if result.clip_tensors
        else f"CLIP from {result.clip_weights}"
    )
    click.echo(
        f"{result.run_dir}: {result.representation}; {result.released_tensors} released tensors -> "
        f"{result.model_tensors} of this FineMoGen; {clip}; {len(result.dropped)} dropped "
        "(key_motion, _num_global_experts, CLIP's image tower)"
    )
    click.echo(str(result.checkpoint))
