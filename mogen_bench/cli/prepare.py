"""``mogen-bench prepare SOURCE``: a download in its published layout -> a prepared Parquet dataset.

One sub-command per source; all share ``--out``, ``--name`` and ``--force`` and the same back end
(``mogen_bench.data.writer.prepare_dataset``). Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

REPRESENTATION_CHOICE = click.Choice(["humanml3d-263", "smpl-rot6d-135"])


def output_options(command):
    """``--out``, ``--name``, ``--force``: where the prepared dataset goes."""

    @click.option(
        "--out",
        required=True,
        type=click.Path(path_type=Path, file_okay=False),
        help="Folder of the prepared dataset (created; replaced only with --force).",
    )
    @click.option(
        "--name", default=None, help="Dataset name recorded in dataset.json [default: the folder name]."
    )
    @click.option("--force", is_flag=True, help="Rebuild even if --out already holds this dataset.")
    @functools.wraps(command)
    def wrapper(**kwargs):
        return command(**kwargs)

    return wrapper


def run_prepare(source, out: Path, name: str | None, force: bool) -> None:
    """Prepare ``source`` into ``out`` with a progress bar, then print what was written and skipped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mogen_bench.data.writer import prepare_dataset

    console = Console(stderr=True)
    source.check()
    total = source.expected_items()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"prepare {source.name}", total=total)
        result = prepare_dataset(
            source, out, name=name, force=force, progress=lambda n: progress.update(task, completed=n)
        )
    info = result.info
    if result.reused:
        click.echo(
            f"{out}: already prepared from the same input and options; nothing to do (--force rebuilds)"
        )
        return
    counts = ", ".join(f"{split} {s['motions']}" for split, s in info.splits.items())
    click.echo(f"{out}: {info.num_motions} motions ({counts}), {info.representation} at {info.fps:g} fps")
    if info.skipped:
        from collections import Counter

        click.echo(f"skipped {len(info.skipped)} items (all listed in dataset.json):")
        for reason, count in Counter(s["reason"] for s in info.skipped).most_common(8):
            click.echo(f"  {count:6d}  {reason}")


@click.group()
def prepare() -> None:
    """Convert a dataset in its published layout into a prepared (Parquet) dataset."""


@prepare.command("humman-mogen")
@click.argument("root", type=click.Path(path_type=Path, exists=True, file_okay=False))
@output_options
@click.option("--representation", type=REPRESENTATION_CHOICE, default="humanml3d-263", show_default=True)
@click.option(
    "--source-fps",
    type=float,
    default=30.0,
    show_default=True,
    help="Frame rate of the release's SMPL sequences (unstated in the release; 30 is HuMMan's rate).",
)
@click.option(
    "--up-axis",
    type=click.Choice(["auto", "y", "z"]),
    default="auto",
    show_default=True,
    help="Vertical axis of the SMPL world; auto detects it per sequence from the body.",
)
@click.option(
    "--smpl-model",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="SMPL body-model folder or file: exact joints with each subject's betas [default: built-in].",
)
@click.option(
    "--gender", type=click.Choice(["neutral", "male", "female"]), default="neutral", show_default=True
)
@click.option(
    "--split-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help='JSON {"train": [...], "val": [...], "test": [...]} of subject or sequence ids.',
)
def humman_mogen(root, out, name, force, representation, source_fps, up_axis, smpl_model, gender, split_file):
    """HuMMan-MoGen release (smpl_on_ground/*.npz + annotations/*.json) at ROOT."""
    from mogen_bench.data.sources.humman_mogen import HummanMogenOptions, HummanMogenSource

    options = HummanMogenOptions(
        representation=representation,
        source_fps=source_fps,
        up_axis=up_axis,
        smpl_model=smpl_model,
        gender=gender,
        split_file=split_file,
    )
    run_prepare(HummanMogenSource(root, options), out, name, force)


@prepare.command("humanml3d")
@click.argument("root", type=click.Path(path_type=Path, exists=True, file_okay=False))
@output_options
def humanml3d(root, out, name, force):
    """HumanML3D release (new_joint_vecs/, texts/, Mean.npy, Std.npy, split files) at ROOT."""
    from mogen_bench.data.sources.humanml3d import HumanML3DSource

    run_prepare(HumanML3DSource(root, "humanml3d"), out, name, force)


@prepare.command("kit-ml")
@click.argument("root", type=click.Path(path_type=Path, exists=True, file_okay=False))
@output_options
def kit_ml(root, out, name, force):
    """KIT-ML release in the HumanML3D layout (251-dim new_joint_vecs/, texts/, ...) at ROOT."""
    from mogen_bench.data.sources.humanml3d import HumanML3DSource

    run_prepare(HumanML3DSource(root, "kit-ml"), out, name, force)


@prepare.command("babel")
@click.argument("root", type=click.Path(path_type=Path, exists=True, file_okay=False))
@output_options
@click.option("--representation", type=REPRESENTATION_CHOICE, default="humanml3d-263", show_default=True)
@click.option("--seq-labels", is_flag=True, help="Keep sequences with only sequence labels, as one stage.")
@click.option(
    "--val-fraction",
    type=float,
    default=0.05,
    show_default=True,
    help="Share of train.json sequences (by a hash of babel_sid) held out as the val split.",
)
def babel(root, out, name, force, representation, seq_labels, val_fraction):
    """BABEL frame labels (babel/{train,val}.json) over AMASS SMPL-H npz files (amass/<feat_p>) at ROOT."""
    from mogen_bench.data.sources.babel import BabelOptions, BabelSource

    options = BabelOptions(representation=representation, seq_labels=seq_labels, val_fraction=val_fraction)
    run_prepare(BabelSource(root, options), out, name, force)


@prepare.command("synth")
@output_options
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "full"]),
    default="small",
    show_default=True,
    help="Preset: tiny 48 sequences, small 600, full 6,000 (HuMMan-MoGen-like); mirrored copies double them.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--representation", type=REPRESENTATION_CHOICE, default="humanml3d-263", show_default=True)
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the generated HuMMan-MoGen-layout files go [default: <out>-raw beside --out].",
)
@click.option("--humanml3d", is_flag=True, help="Also write a HumanML3D-layout copy under <raw>/humanml3d.")
@click.option(
    "--smpl-model",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Pose the bodies with this SMPL model through smplx [default: the synthetic model the generator "
    "writes to <raw>/body_model, in whose shape space the betas and subject sizes are].",
)
def synth(out, name, force, size, seed, representation, raw_dir, humanml3d, smpl_model):
    """Generate MoGen-Synth (procedural fine-grained motions) and prepare it."""
    from mogen_bench.data.sources.synth import SYNTH_FILE, SynthSource, read_synth_meta
    from mogen_bench.errors import MogenBenchError
    from mogen_bench.synth import SYNTH_PRESETS, write_synth
    from mogen_bench.synth.writer import SYNTH_VERSION

    config = SYNTH_PRESETS[size].replace(seed=seed, humanml3d=humanml3d)
    raw_dir = raw_dir or out.parent / f"{out.name}-raw"
    meta_file = raw_dir / SYNTH_FILE
    existing = read_synth_meta(raw_dir) if meta_file.is_file() else None
    if existing is not None and (
        existing["config"] != config.to_dict() or existing.get("version") != SYNTH_VERSION
    ):
        if not force:
            raise MogenBenchError(
                "holds MoGen-Synth data generated with another size, seed, options or generator version",
                file=str(raw_dir),
                fix="pass --force to regenerate it, or choose another --raw / --out",
            )
        import shutil

        shutil.rmtree(raw_dir)
    if not meta_file.is_file():
        write_synth(raw_dir, config, progress=True)
        click.echo(f"{raw_dir}: generated MoGen-Synth ({size}, seed {seed})")
    run_prepare(SynthSource(raw_dir, representation, smpl_model=smpl_model), out, name, force)
