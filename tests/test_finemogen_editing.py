"""Editing a staged motion with FineMoGen: regenerate with the same seed and the unchanged stages stay close.

The workflow of the README ("Training and generation"), run through the CLI as a user runs it::

    mogen-bench generate RUN --stages a.json --seed 7 --out gen-a
    mogen-bench annotation edit a.json --stage -1 --part left_arm --text "the left arm waves" \\
        --allow-missing-parts -o b.json
    mogen-bench annotation edit b.json --stage -1 --part overall --text "then sits" \\
        --allow-missing-parts -o c.json
    mogen-bench generate RUN --stages b.json --seed 7 --out gen-b      # and c.json, gen-c

``a.json`` has three stages (frames 0-13, 13-26, 26-40) with overall and part texts; ``b.json`` changes the
left-arm text of the last stage, ``c.json`` also its overall text. The same seed gives the same initial
noise and the same DDIM trajectory wherever the network's output does not change, and the network keeps
each stage's texts to that stage's templates (``finemogen/conditioning.py``), so stages 0 and 1 move only
through what reaches them from stage 2: frames read the templates of every stage with Gaussian weights in
time (the composition rule), so the frames next to the edited stage feel it most, and the experts'
capacity is shared by all tokens of a forward.

The model is the tiny FineMoGen of ``tests/test_finemogen.py`` (8-wide part tokens, 2 layers, 4 experts,
learned text encoder, 100 diffusion steps, 5 DDIM steps, guidance ``1 + 6.5 t / 1000``) trained 40 steps
(batch 4, Adam 5e-3) on the ``tiny_dataset`` fixture: about 4 s on one CPU thread, so a trained model is
used (the fallback, an untrained model with its zero-initialised layers filled at random, was not needed:
it would measure the architecture without any learned text reading at all). The file takes 15-17 s on
its own on the shared 2-core machine, most of it preparing the dataset, the training and the one-time
import of ``torch._dynamo`` (Adam's constructor); inside the suite, which shares the dataset and the
import, about 4 s.

Measured on that machine (normalised features: mean absolute difference over the stage's frames and 263
dims; joints: mean distance of the 22 recovered joints, in the dataset's units, metres for HumanML3D),
edited generation against the original, same seed:

=============================  =========  =========  ================
difference                      stage 0    stage 1    stage 2 (edited)
=============================  =========  =========  ================
left-arm text, features         9.0e-8     1.7e-6     4.1e-5
left-arm text, joints (m)       1.0e-6     8.3e-6     9.2e-4
+ overall text, features        2.4e-7     5.9e-5     1.1e-3
+ overall text, joints (m)      1.7e-6     5.9e-4     3.2e-2
new seed (7 -> 8), features     1.1        1.0        1.0
new seed (7 -> 8), joints (m)   3.1        6.7        10.9
=============================  =========  =========  ================

The stage next to the edit moves 4-5 % as much as the edited stage (features; joints 1-2 %), and that
change sits at its end: per frame it grows from ~2e-6 over its first frames to ~2e-4 over its last three,
the reach of the Gaussian read-out. The stage before moves 0.02-0.2 % as much as the edited stage (joints
0.005-0.1 %), and both stay within 1e-4 of what a new seed changes. In trials with other texts, 24-300
training steps and learning rates 3e-3 to 1e-2, neighbour / edited stayed within 0.03-0.2 and the first
stage below 0.01 of the edited one, which the assertions (0.35 and 0.02) leave room for.

The caveat is the model: after a few dozen steps on 28 motions the tiny model hardly reads its texts (the
overall-text edit moves the edited stage by about 0.1 % of what a new seed moves it; the tiny MDM is no
different after as many steps), and the tiny data's part texts never vary, so a part-text edit moves it
less still. The figures show the locality of the architecture and of the fixed noise, not how far a
well-trained model follows an edit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from annotation.humman_json import dumps_humman_json, read_humman_json
from annotation.model import Annotation, Stage
from annotation.validate import ValidationOptions
from mogen_bench.cli import cli
from mogen_bench.training.run import load_run
from tests.tiny_runs import DIMS, _train

#: The tiny FineMoGen of tests/test_finemogen.py, trained long enough to move its zero-initialised output
#: layers (40 steps at a high learning rate: ~0.1 s a step on one CPU thread).
OVERRIDES = [
    "model.part_dim=8",
    "model.layers=2",
    "model.time_embed_dim=32",
    "model.text_latent_dim=16",
    "model.ffn_dim=16",
    "model.text_ffn_dim=16",
    "model.num_experts=4",
    "model.top_k=2",
    'model.text_encoder="learned"',
    "model.learned_dim=12",
    "model.learned_layers=1",
    "model.learned_heads=2",
    "model.diffusion_steps=100",
    'model.sampling_steps="ddim5"',
    "train.batch_size=4",
    "train.lr=5e-3",
    "train.max_steps=40",
    "train.log_every=40",
    "train.checkpoint_every=40",
    "data.max_frames=40",
    'data.feature_cache=""',
]
SEED = 7
STAGES = (
    Stage(0, 13, overall="a person walks", left_arm="the left arm swings"),
    Stage(13, 26, overall="then jumps", right_leg="the right leg kicks"),
    Stage(26, 40, overall="then waves", left_arm="the left arm swings"),
)
PART_EDIT = ("left_arm", "the left arm waves")
OVERALL_EDIT = ("overall", "then sits")


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finemogen_edit") / "run"
    _train(tiny_dataset, out, model="finemogen", overrides=OVERRIDES)
    return out


def invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output


def generate(run: Path, stages_file: Path, seed: int, out: Path) -> dict[str, np.ndarray]:
    invoke("generate", run, "--stages", stages_file, "--seed", seed, "--out", out)
    return {kind: np.load(out / f"sample_000.{kind}.npy") for kind in ("features", "joints")}


@pytest.fixture(scope="module")
def workflow(run, tmp_path_factory) -> dict:
    """The README's workflow: generate from a.json, edit it twice with the CLI, regenerate each with the
    same seed (and a.json with another seed, for scale)."""
    folder = tmp_path_factory.mktemp("edit_workflow")
    original = folder / "a.json"
    original.write_text(dumps_humman_json(Annotation("edit", STAGES)))
    part, both = folder / "b.json", folder / "c.json"
    for source, target, (field, text) in ((original, part, PART_EDIT), (part, both, OVERALL_EDIT)):
        invoke(
            "annotation",
            "edit",
            source,
            "--stage",
            -1,
            "--part",
            field,
            "--text",
            text,
            "--allow-missing-parts",
            "-o",
            target,
        )
    return {
        "files": (original, part, both),
        "original": generate(run, original, SEED, folder / "gen-a"),
        "again": generate(run, original, SEED, folder / "gen-a2"),
        "part": generate(run, part, SEED, folder / "gen-b"),
        "both": generate(run, both, SEED, folder / "gen-c"),
        "reseeded": generate(run, original, SEED + 1, folder / "gen-a-seed8"),
        "std": load_run(run).std,
    }


def stage_differences(workflow: dict, name: str) -> dict[str, list[float]]:
    """Per stage: mean absolute difference of the normalised features and mean joint distance, ``name``
    against the original generation."""
    original, other, std = workflow["original"], workflow[name], workflow["std"]
    features = np.abs(original["features"] - other["features"]) / std  # normalised: every dim counts alike
    joints = np.linalg.norm(original["joints"] - other["joints"], axis=-1)
    return {
        "features": [float(features[s.start_frame : s.end_frame].mean()) for s in STAGES],
        "joints": [float(joints[s.start_frame : s.end_frame].mean()) for s in STAGES],
    }


def report(name: str, differences: dict[str, list[float]]) -> None:
    for kind, values in differences.items():
        print(f"\n{name:>9s} {kind:>8s}: " + "  ".join(f"stage {i} {v:.2e}" for i, v in enumerate(values)))


def test_the_edits_change_one_text_of_the_last_stage_and_the_same_seed_repeats(run, workflow):
    original, part, both = (
        read_humman_json(path, options=ValidationOptions(allow_missing_parts=True))
        for path in workflow["files"]
    )
    assert part.stages[:2] == original.stages[:2] == STAGES[:2]
    assert part.stages[2].texts == {**STAGES[2].texts, PART_EDIT[0]: PART_EDIT[1]}
    assert both.stages[2].texts == {**part.stages[2].texts, OVERALL_EDIT[0]: OVERALL_EDIT[1]}
    # The edited texts are words the model was trained on (the learned encoder maps others to one token).
    vocabulary = set(json.loads((run / "config.json").read_text())["context"]["vocabulary"])
    assert set(f"{PART_EDIT[1]} {OVERALL_EDIT[1]}".split()) <= vocabulary
    # Same file, same seed: the same motion, bit for bit; the whole length is generated.
    for kind in ("features", "joints"):
        assert np.array_equal(workflow["original"][kind], workflow["again"][kind])
    assert workflow["original"]["features"].shape == (40, DIMS)
    assert workflow["original"]["joints"].shape == (40, 22, 3)


def test_a_part_text_edit_moves_the_edited_stage_and_hardly_the_others(workflow):
    differences = stage_differences(workflow, "part")
    report("left arm", differences)
    for kind in ("features", "joints"):
        before, neighbour, edited = differences[kind]
        assert edited > 0
        # The edit reaches the earlier stages only through the read-out's tail and the shared capacity.
        assert neighbour < 0.35 * edited, (kind, differences[kind])
        assert before < 0.02 * edited, (kind, differences[kind])
    assert differences["features"][2] > 1e-5  # well above float rounding (~1e-7 here)


def test_an_overall_text_edit_moves_the_edited_stage_and_hardly_the_others(workflow):
    differences = stage_differences(workflow, "both")
    report("+ overall", differences)
    for kind in ("features", "joints"):
        before, neighbour, edited = differences[kind]
        assert neighbour < 0.35 * edited, (kind, differences[kind])
        assert before < 0.02 * edited, (kind, differences[kind])
    assert differences["features"][2] > 2e-4
    # The neighbour feels the edit near the boundary (frames read nearby stages' templates), not at its start.
    features = np.abs(workflow["original"]["features"] - workflow["both"]["features"]) / workflow["std"]
    per_frame = features.mean(-1)
    start, end = STAGES[1].start_frame, STAGES[1].end_frame
    assert per_frame[end - 3 : end].mean() > 5 * per_frame[start : start + 3].mean()


def test_unchanged_stages_stay_far_closer_than_a_new_seed_would_leave_them(workflow):
    reseeded = stage_differences(workflow, "reseeded")
    edited = stage_differences(workflow, "both")
    report("new seed", reseeded)
    for kind in ("features", "joints"):
        for stage in (0, 1):
            assert edited[kind][stage] < 1e-3 * reseeded[kind][stage], (kind, stage)
