"""MoGen-Synth: layout, determinism, texts that match the motion, feet on the floor, subject sizes,
mirroring, held-out combinations and the HumanML3D export."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from annotation.humanml3d_text import read_caption_file
from annotation.humman_json import check_humman_json, read_humman_json
from annotation.parts import PARTS
from mogen_bench.data.splits import parse_sequence_id, subject_split
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion import smpl
from mogen_bench.motion.guo_features import extract_features, recover_from_ric
from mogen_bench.motion.mirror import mirror_joints
from mogen_bench.motion.resample import num_resampled_frames, resample_positions
from mogen_bench.motion.skeletons import SMPL24
from mogen_bench.motion.smpl import smpl_joints_builtin
from mogen_bench.motion.up_axis import points_to_y_up
from mogen_bench.synth import SYNTH_PRESETS, SynthConfig, generate_synth, mirror_smpl_params, write_synth
from mogen_bench.synth.assemble import assemble, mirror_motions
from mogen_bench.synth.catalogue import NEUTRAL, PART_KIND, Primitive, stage_spec
from mogen_bench.synth.heldout import HeldOut, mirror_combination
from mogen_bench.synth.kinematics import (
    axis_angle_to_quaternion,
    builtin_joints,
    smpl_params_joints,
    synthetic_shape_space,
)
from mogen_bench.synth.pos_tags import tokenize
from mogen_bench.synth.primitives import JOINT_LIMITS_DEG
from mogen_bench.synth.sampling import SequenceSpec
from mogen_bench.synth.subjects import Subject, SubjectStyle, betas_of_size, make_subjects, size_of_betas
from mogen_bench.synth.texts import PART_TEMPLATES, mirror_text

# A small configuration that still has train, val and test subjects (p000011 is val, p000017 test).
SMALL = SynthConfig(num_sequences=24, num_subjects=30, seed=3)
L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST = 16, 17, 20, 21
L_FOOT_JOINTS, R_FOOT_JOINTS = (7, 10), (8, 11)
SHAPES = synthetic_shape_space()


# ------------------------------------------------------------------------------------------------ helpers


def file_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def joints_of(params: dict) -> np.ndarray:
    """Joints of SMPL parameters in the synthetic body model with their betas (zero betas if none: the
    built-in neutral skeleton), as ``prepare synth`` computes them."""
    keys = ("global_orient", "body_pose", "transl", "betas")
    params = {"betas": np.zeros(10), **params}
    return smpl_params_joints({k: np.asarray(params[k], dtype=np.float64) for k in keys}, SHAPES)


def motion_of(
    stages: list[tuple[int, dict[str, Primitive]]], style: SubjectStyle | None = None, size: float = 1.0
):
    """SMPL parameters (float64) of hand-made stages performed by a subject of ``size`` (its other betas
    zero); parts not given do nothing."""
    specs = []
    for frames, parts in stages:
        primitives = {p: Primitive(NEUTRAL[PART_KIND[p]]) for p in PARTS}
        primitives.update(parts)
        specs.append(stage_spec(frames, primitives, 9))
    subject = Subject("p000001", "train", style or SubjectStyle(), betas_of_size(size, np.zeros(9)))
    return assemble([SequenceSpec("p000001_a000001", subject, tuple(specs))])[0]


def both_legs(name: str, **kw) -> dict[str, Primitive]:
    """A whole-body trajectory primitive with the legs it drives (alternating legs half a cycle apart)."""
    leg = {"turn": "turn_step"}.get(name, name)
    phase = 0.5 if leg in ("walk", "turn_step") else 0.0
    return {
        "trajectory": Primitive(name, **kw),
        "left_leg": Primitive(leg, **kw),
        "right_leg": Primitive(leg, **{**kw, "phase": phase}),
    }


def stage_frames(motion) -> list[tuple[object, object, slice]]:
    """``(stage, stage spec, frames after the blend)`` of every stage of a generated motion (a blend takes
    at most half its stage)."""
    out = []
    for stage, spec in zip(motion.annotation.stages, motion.spec.stages, strict=True):
        out.append((stage, spec, slice(stage.start_frame + stage.num_frames // 2, stage.end_frame)))
    return out


def head_yaw_degrees(body_pose: np.ndarray) -> np.ndarray:
    """Yaw of the head relative to the torso (neck and head rotations), + = to the subject's left."""
    neck, head = (axis_angle_to_quaternion(body_pose.reshape(-1, 23, 3)[:, j - 1]) for j in (12, 15))
    from mogen_bench.synth.kinematics import quaternion_to_matrix
    from mogen_bench.synth.primitives import qmul

    forward = quaternion_to_matrix(qmul(neck, head))[..., :, 2]  # image of the body's +z
    return np.degrees(np.arctan2(forward[:, 0], forward[:, 2]))


FOLDER_CONFIG = SMALL.replace(num_sequences=12)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_synth(tmp_path_factory.mktemp("synth") / "small", FOLDER_CONFIG)


@pytest.fixture(scope="module")
def tiny_dataset():
    return generate_synth("tiny")


@pytest.fixture(scope="module")
def tiny_joints(tiny_dataset) -> dict[str, np.ndarray]:
    return {m.motion_id: joints_of(m.params) for m in tiny_dataset.motions}


# ------------------------------------------------------------------------------------------ configuration


def test_presets_have_the_promised_sizes():
    assert SYNTH_PRESETS["tiny"].num_sequences == 48
    assert SYNTH_PRESETS["small"].num_sequences == 600
    assert SYNTH_PRESETS["full"].num_sequences == 6000
    for config in SYNTH_PRESETS.values():
        assert config.validate() is config
        assert config.fps == 30.0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_sequences": 0}, "num_sequences"),
        ({"num_sequences": True}, "num_sequences"),
        ({"max_stages": 0}, "max_stages"),
        ({"fps": -30.0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"max_stage_seconds": 0.5}, "max_stage_seconds"),
        ({"held_out_rate": 1.5}, "held_out_rate"),
        ({"seed": -1}, "seed"),
        ({"num_held_out": 10_000}, "num_held_out"),
        ({"mirror": "yes"}, "mirror"),
        ({"min_size": 0.2}, "min_size"),
        ({"max_size": 0.8}, "max_size"),
    ],
)
def test_bad_settings_name_the_field(changes, field):
    with pytest.raises(MogenBenchError) as info:
        SynthConfig(**changes).validate()
    assert info.value.field == field
    assert info.value.fix


def test_unknown_preset_and_unknown_setting():
    with pytest.raises(MogenBenchError, match="unknown MoGen-Synth preset"):
        generate_synth("huge")
    with pytest.raises(MogenBenchError) as info:
        SynthConfig.from_dict({"num_sequence": 3})
    assert info.value.field == "num_sequence"
    assert SynthConfig.from_dict(SMALL.to_dict()) == SMALL


# ----------------------------------------------------------------------------------------------- layout


def test_release_layout(folder):
    assert sorted(p.name for p in folder.iterdir()) == [
        "annotations",
        "body_model",
        "smpl_on_ground",
        "synth.json",
    ]
    # The synthetic SMPL model the betas belong to, where smpl.load_smpl_model finds it.
    assert smpl.find_smpl_model_file(folder / "body_model") == folder / "body_model" / "SMPL_NEUTRAL.npz"
    motions = sorted(p.stem for p in (folder / "smpl_on_ground").iterdir())
    annotations = sorted(p.stem for p in (folder / "annotations").iterdir())
    assert motions == annotations
    assert len(motions) == 2 * FOLDER_CONFIG.num_sequences
    assert all(p.suffix == ".npz" for p in (folder / "smpl_on_ground").iterdir())
    originals = {m for m in motions if "_a" in m}
    assert {m.replace("_a", "_r") for m in originals} == set(motions) - originals
    betas_of_subject: dict[str, np.ndarray] = {}
    for name in motions:
        assert re.fullmatch(r"p\d{6}_[ar]\d{6}", name)
        with np.load(folder / "smpl_on_ground" / f"{name}.npz", allow_pickle=False) as npz:
            assert sorted(npz.files) == ["betas", "body_pose", "global_orient", "transl"]
            arrays = {k: npz[k] for k in npz.files}
        frames = arrays["transl"].shape[0]
        shapes = {"betas": (frames, 10), "body_pose": (frames, 69), "global_orient": (frames, 3)}
        for key, shape in {**shapes, "transl": (frames, 3)}.items():
            assert arrays[key].dtype == np.float32 and arrays[key].shape == shape, key
            assert np.isfinite(arrays[key]).all()
        # betas: one random shape per subject, constant over frames and sequences.
        assert (arrays["betas"] == arrays["betas"][0]).all() and np.abs(arrays["betas"]).max() > 0
        subject = name.split("_")[0]
        assert np.array_equal(betas_of_subject.setdefault(subject, arrays["betas"][0]), arrays["betas"][0])

        path = folder / "annotations" / f"{name}.json"
        annotation, problems = check_humman_json(path.read_bytes(), motion_id=name, num_frames=frames)
        assert problems == [], problems
        annotation = read_humman_json(path, num_frames=frames)
        stages = annotation.stages
        assert 1 <= len(stages) <= 4
        assert stages[0].start_frame == 0 and stages[-1].end_frame == frames
        for k, stage in enumerate(stages):
            assert 30 <= stage.num_frames <= 90  # 1 to 3 s at 30 fps
            if k:
                assert stage.start_frame == stages[k - 1].end_frame
            for text in stage.texts.values():
                assert isinstance(text, str) and text.strip() and text.strip()[-1] == "."
        raw = json.loads(path.read_text())
        keys = ["start_frame", "end_frame", "num_frames", "all", "head", "stem", "left_arm", "right_arm"]
        assert list(raw[0]) == [*keys, "left_leg", "right_leg", "pelvis"]


def test_synth_json_describes_the_data(folder):
    meta = json.loads((folder / "synth.json").read_text())
    assert meta["generator"] == "mogen-synth" and meta["version"]
    assert meta["seed"] == 3 and meta["fps"] == 30.0 and meta["up_axis"] == "z"
    assert meta["config"] == FOLDER_CONFIG.to_dict()
    assert meta["held_out_combinations"] == HeldOut.draw(FOLDER_CONFIG.num_held_out, 3).labels()
    counts = meta["counts"]
    assert counts["sequences"] == 12 and counts["motions"] == 24 and counts["subjects"] == 30
    assert sum(s["sequences"] for s in counts["splits"].values()) == 12
    assert all(counts["splits"][split]["sequences"] > 0 for split in ("train", "val", "test"))
    for subject, split in meta["subjects"].items():
        assert subject_split(subject) == split
    # Every subject's size, which is beta 0 of its sequences (1 + 0.05 beta0).
    sizes = meta["subject_sizes"]
    assert (
        sizes.keys() == meta["subjects"].keys() and meta["body_model_file"] == "body_model/SMPL_NEUTRAL.npz"
    )
    assert all(FOLDER_CONFIG.min_size <= size <= FOLDER_CONFIG.max_size for size in sizes.values())
    for npz_file in (folder / "smpl_on_ground").iterdir():
        with np.load(npz_file) as npz:
            beta0 = float(npz["betas"][0, 0])
        assert sizes[npz_file.name[:7]] == pytest.approx(1 + 0.05 * beta0, abs=1e-6)
    assert len(meta["sequences"]) == 12
    for motion_id, entry in meta["sequences"].items():
        subject, _, mirrored = parse_sequence_id(motion_id)
        assert not mirrored and entry["split"] == subject_split(subject)
        assert all(len(labels) == len(PARTS) for labels in entry["stages"])


def test_output_folder_must_be_new_or_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(MogenBenchError) as info:
        write_synth(tmp_path / "full", SMALL.replace(num_sequences=2))
    assert info.value.file == str(tmp_path / "full") and info.value.fix
    (tmp_path / "afile").write_text("x")
    with pytest.raises(MogenBenchError):
        write_synth(tmp_path / "afile", SMALL.replace(num_sequences=2))
    (tmp_path / "empty").mkdir()
    assert (write_synth(tmp_path / "empty", SMALL.replace(num_sequences=2)) / "synth.json").is_file()


def test_a_failed_run_leaves_nothing_behind(tmp_path, monkeypatch):
    from mogen_bench.synth import writer

    def broken(config):
        yield from ()
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "iter_synth_chunks", broken)
    with pytest.raises(RuntimeError):
        write_synth(tmp_path / "out", SMALL.replace(num_sequences=2))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    config = SMALL.replace(num_sequences=5)
    first = file_digests(write_synth(tmp_path / "a", config))
    second = file_digests(write_synth(tmp_path / "b", config))
    assert first == second
    other = file_digests(write_synth(tmp_path / "c", config.replace(seed=4)))
    # Every motion and annotation file differs; the body model is the same fixed synthetic model.
    fixed = ("synth.json", "body_model/SMPL_NEUTRAL.npz")
    assert other.keys() != first.keys() or all(other[k] != first[k] for k in first if k not in fixed)
    assert other["body_model/SMPL_NEUTRAL.npz"] == first["body_model/SMPL_NEUTRAL.npz"]
    npz = [k for k in first if k.startswith("smpl_on_ground/")]
    assert npz and all(first[k] != other.get(k) for k in npz)


def test_batching_does_not_change_the_data():
    small_batches = generate_synth(SMALL.replace(num_sequences=8, chunk_size=3)).by_id()
    one_batch = generate_synth(SMALL.replace(num_sequences=8)).by_id()
    assert small_batches.keys() == one_batch.keys()
    for motion_id, motion in small_batches.items():
        for key, value in motion.params.items():
            assert np.array_equal(value, one_batch[motion_id].params[key])
        assert motion.annotation == one_batch[motion_id].annotation


# ------------------------------------------------------------------------------- texts match the motion


@pytest.mark.parametrize("amplitude", [0.0, 1.0])
@pytest.mark.parametrize("name", ["raise_forward", "raise_side", "overhead", "wave"])
def test_a_raised_left_arm_lifts_the_left_wrist_only(name, amplitude):
    motion = motion_of([(60, {"left_arm": Primitive(name, amplitude=amplitude, count=2)})])
    joints = joints_of(motion.params())[20:]
    assert (joints[:, L_WRIST, 2] > joints[:, L_SHOULDER, 2] + 0.05).all()
    assert (joints[:, R_WRIST, 2] < joints[:, R_SHOULDER, 2] - 0.3).all()
    # SMPL's left is the subject's own: the raised wrist is on the body's left (-x in the world at start).
    assert joints[-1, L_WRIST, 0] < joints[-1, 0, 0]


def test_generated_texts_match_the_motion(tiny_dataset, tiny_joints):
    """For every stage of every motion (mirrors included): what the texts say, the joints do."""
    checked = dict.fromkeys(["raise", "head", "walk", "side_step", "squat", "jump", "kick", "still"], 0)
    for motion in tiny_dataset.motions:
        joints = tiny_joints[motion.motion_id]
        yaw = head_yaw_degrees(motion.params["body_pose"].astype(np.float64))
        for stage, spec, held in stage_frames(motion):
            frames = joints[held]
            for side, other in (("left", "right"), ("right", "left")):
                arm = spec[f"{side}_arm"]
                wrist, shoulder = (L_WRIST, L_SHOULDER) if side == "left" else (R_WRIST, R_SHOULDER)
                text = stage.text(f"{side}_arm")
                assert side in text and other not in text
                if arm.name in ("raise_forward", "raise_side", "overhead", "wave"):
                    assert (frames[:, wrist, 2] > frames[:, shoulder, 2]).all(), (motion.motion_id, text)
                    checked["raise"] += 1
                if arm.name == "rest":
                    assert (frames[:, wrist, 2] < frames[:, shoulder, 2] - 0.3).all(), (
                        motion.motion_id,
                        text,
                    )
            head = spec["head"]
            if head.name == "turn":
                sign = 1 if head.direction == "left" else -1
                assert (sign * yaw[held] > 25).all(), (motion.motion_id, stage.head)
                assert head.direction in stage.head
                checked["head"] += 1
            elif head.name == "still":
                assert np.abs(yaw[held]).max() < 1.0
            trajectory = spec["trajectory"]
            pelvis = frames[:, 0]
            start, end = joints[stage.start_frame, 0], joints[stage.end_frame - 1, 0]
            heading = motion.params["global_orient"][stage.start_frame].astype(np.float64)
            facing = smpl.axis_angle_to_matrix(heading)[:, 2]  # the body's +z (forward) in the world
            left = np.cross([0.0, 0.0, 1.0], facing)  # z up: turning the facing a quarter to the left
            if trajectory.name == "walk":
                moved = float(np.dot(end - start, facing))
                assert (moved > 0.15) if trajectory.direction == "forward" else (moved < -0.15), moved
                checked["walk"] += 1
            if trajectory.name == "side_step":
                moved = float(np.dot(end - start, left))
                assert (moved > 0.1) if trajectory.direction == "left" else (moved < -0.1), moved
                assert trajectory.direction in stage.trajectory
                checked["side_step"] += 1
            if trajectory.name == "squat":
                assert pelvis[:, 2].min() < joints[stage.start_frame, 0, 2] - 0.1
                checked["squat"] += 1
            if trajectory.name == "jump":
                assert frames[..., 2].min(axis=1).max() > 0.04  # off the floor
                checked["jump"] += 1
            for leg in ("left_leg", "right_leg"):
                if spec[leg].name == "kick":
                    foot, stance = (10, R_FOOT_JOINTS) if leg == "left_leg" else (11, L_FOOT_JOINTS)
                    assert frames[:, foot, 2].max() > 0.15
                    assert frames[:, list(stance), 2].min(axis=1).max() < 0.02  # the other foot stays down
                    checked["kick"] += 1
            if trajectory.name == "stand" and spec["left_leg"].name == spec["right_leg"].name == "stand":
                # Standing still: neither foot slides (horizontal motion under 3 mm over the stage).
                feet = frames[:, [7, 8, 10, 11], :2]
                assert np.abs(feet - feet[0]).max() < 0.003, motion.motion_id
                checked["still"] += 1
    assert all(count > 0 for count in checked.values()), checked


@pytest.mark.parametrize(
    ("parts", "check"),
    [
        (both_legs("walk", direction="forward", amplitude=0.5, count=2), "forward"),
        (both_legs("walk", direction="backward", amplitude=0.5, count=2), "backward"),
        (both_legs("side_step", direction="left", amplitude=0.5, count=2), "left"),
        (both_legs("turn", direction="left", amplitude=0.5, count=2), "turn_left"),
    ],
)
def test_locomotion_moves_the_root_the_way_the_text_says(parts, check):
    motion = motion_of([(75, parts)])
    pelvis = joints_of(motion.params())[:, 0]
    step = pelvis[-1] - pelvis[0]
    # At the start the subject faces +y and its left is -x (z up).
    if check == "forward":
        assert step[1] > 0.5 and abs(step[0]) < 0.05
    elif check == "backward":
        assert step[1] < -0.3 and abs(step[0]) < 0.05
    elif check == "left":
        assert step[0] < -0.2 and abs(step[1]) < 0.05
    else:
        facing = smpl.axis_angle_to_matrix(motion.global_orient[-1])[:, 2]
        assert np.degrees(np.arctan2(-facing[0], facing[1])) == pytest.approx(90, abs=10)


def test_feet_stay_on_the_floor(tiny_dataset, tiny_joints):
    for motion in tiny_dataset.motions:
        lowest = tiny_joints[motion.motion_id][..., 2].min(axis=1)
        assert lowest.min() > -1e-4, motion.motion_id  # nothing goes through the floor
        airborne = lowest > 1e-3
        jumping = np.zeros_like(airborne)
        for stage, spec, _ in stage_frames(motion):
            jumping[stage.start_frame : stage.end_frame] = spec["trajectory"].name == "jump"
        # Off the floor only in a jump, and otherwise the lowest joint touches it.
        assert not (airborne & ~jumping).any(), motion.motion_id
        assert np.abs(lowest[~jumping]).max() < 1e-4


def test_joint_limits_and_smooth_stage_transitions(tiny_dataset, tiny_joints):
    limits = np.radians(np.asarray(JOINT_LIMITS_DEG[1:])) + 1e-5
    for motion in tiny_dataset.motions:
        angles = np.linalg.norm(motion.params["body_pose"].reshape(-1, 23, 3), axis=-1)
        assert (angles <= limits).all()
        # No jumps between frames, at stage boundaries or elsewhere: relative to the pelvis no joint moves
        # faster than 7.5 m/s (a fast arm circle's hand), and the pelvis at most 3.6 m/s (a jump's take-off).
        joints = tiny_joints[motion.motion_id]
        relative = np.linalg.norm(np.diff(joints - joints[:, :1], axis=0), axis=-1)
        assert relative.max() < 0.25, motion.motion_id
        assert np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1).max() < 0.12, motion.motion_id
        # Across a stage boundary the pose changes no faster than inside the stages.
        for stage in motion.annotation.stages[1:]:
            b = stage.start_frame
            assert relative[b - 2 : b + 2].max() <= relative.max()
            assert relative[b - 2 : b + 2].max() < 0.15, (motion.motion_id, b)


def test_parts_that_do_nothing_say_so(tiny_dataset):
    stay = {kind: PART_TEMPLATES[(kind, f"{name}/stay")] for kind, name in NEUTRAL.items()}
    back = {kind: PART_TEMPLATES[(kind, f"{name}/return")] for kind, name in NEUTRAL.items()}
    for motion in tiny_dataset.motions:
        for k, (stage, spec, _) in enumerate(stage_frames(motion)):
            for part in PARTS:
                kind = PART_KIND[part]
                if spec[part].name != NEUTRAL[kind]:
                    continue
                side = part.split("_")[0]
                text = stage.text(part)
                previous = motion.spec.stages[k - 1][part].name if k else NEUTRAL[kind]
                options = back[kind] if previous != NEUTRAL[kind] else stay[kind]
                assert text in [t.format(side=side) for t in options], (part, text)


def test_overall_text_mentions_the_trajectory(tiny_dataset):
    words = {"walk": "walks", "side_step": "sideways", "turn": "turns", "jump": "jumps", "squat": "squats"}
    for motion in tiny_dataset.motions:
        for stage, spec, _ in stage_frames(motion):
            name = spec["trajectory"].name
            if name in words:
                assert words[name] in stage.overall, stage.overall


# ------------------------------------------------------------------------------------------ subject size


def test_sizes_are_drawn_in_range_and_stored_as_beta0():
    subjects = make_subjects(300, seed=5, betas_std=0.5, size_range=(0.85, 1.15))
    sizes = np.array([s.size for s in subjects])
    assert 0.85 <= sizes.min() < 0.86 and 1.14 < sizes.max() <= 1.15  # uniform over the whole range
    for s in subjects:
        assert s.betas.dtype == np.float32 and s.size == size_of_betas(s.betas)
        assert np.abs(s.betas[1:3]).max() <= 1.5 and np.abs(s.betas[3:]).max() <= 0.3  # 3 std; a fifth
    again = make_subjects(300, seed=5, betas_std=0.5, size_range=(0.85, 1.15))
    assert all(
        np.array_equal(a.betas, b.betas) and a.style == b.style for a, b in zip(subjects, again, strict=True)
    )
    other = make_subjects(300, seed=6, betas_std=0.5, size_range=(0.85, 1.15))
    assert not np.array_equal(sizes, [s.size for s in other])
    # Equal bounds give every subject that size; the style draws do not depend on the sizes.
    fixed = make_subjects(300, seed=5, betas_std=0.5, size_range=(1.0, 1.0))
    assert all(s.betas[0] == 0 and s.style == t.style for s, t in zip(fixed, subjects, strict=True))
    assert SYNTH_PRESETS["small"].min_size == 0.85 and SYNTH_PRESETS["small"].max_size == 1.15


def test_beta0_is_a_bone_length_scale_of_the_synthetic_model():
    rest = smpl.SMPL_NEUTRAL_REST_JOINTS
    for size in (0.85, 1.0, 1.12):
        scaled = SHAPES.rest_joints(betas_of_size(size, np.zeros(9)))
        assert np.abs(scaled - (rest[0] + size * (rest - rest[0]))).max() < 1e-6
        bones = np.linalg.norm(scaled[1:] - scaled[list(SMPL24.parents[1:])], axis=-1)
        neutral = np.linalg.norm(rest[1:] - rest[list(SMPL24.parents[1:])], axis=-1)
        assert np.abs(bones / neutral - size).max() < 1e-6


def test_joints_of_shaped_bodies_equal_the_smplx_joints_of_the_written_model(tmp_path):
    """The generator's and ``prepare synth``'s joints are smplx's on the synthetic model, betas included."""
    from mogen_bench.motion.synthetic_smpl import write_synthetic_smpl_model

    model = smpl.load_smpl_model(write_synthetic_smpl_model(tmp_path), dtype=torch.float64)
    dataset = generate_synth(SMALL.replace(num_sequences=3, num_subjects=3))
    assert len({float(m.params["betas"][0, 0]) for m in dataset.motions}) == 3
    for motion in dataset.motions:
        params = {k: v.astype(np.float64) for k, v in motion.params.items()}
        exact = smpl.smpl_joints_smplx(params, model)
        # (smplx's Rodrigues adds 1e-8 to every rotation vector, hence not 1e-12.)
        assert np.abs(joints_of(params) - exact).max() < 1e-6, motion.motion_id
    # ShapeSpace.from_file reads the same space from the written model.
    from mogen_bench.synth.kinematics import ShapeSpace

    written = ShapeSpace.from_file(tmp_path / "SMPL_NEUTRAL.npz")
    assert np.abs(written.directions - SHAPES.directions).max() < 1e-12


SIZES = (0.85, 1.0, 1.15)
SCALED_STAGES = [
    (60, both_legs("walk", direction="forward", amplitude=0.7, count=2)),
    (45, both_legs("squat", amplitude=0.8, count=1)),
    (45, {"left_leg": Primitive("kick", amplitude=1.0, count=1)}),
    (60, both_legs("side_step", direction="left", amplitude=0.5, count=2)),
]


def test_a_bigger_subject_performs_the_same_motion_on_longer_bones():
    """Same stages, three sizes: the same rotations (so the same joint limits), and joints that are the
    size-1 motion scaled about the pelvis: the pelvis stands higher and the steps go further in proportion,
    with the feet on the floor at every size."""
    motions = {size: motion_of(SCALED_STAGES, size=size) for size in SIZES}
    joints = {
        size: joints_of(m.params() | {"betas": betas_of_size(size, np.zeros(9))})
        for size, m in motions.items()
    }
    base = joints[1.0]
    for size, motion in motions.items():
        assert np.array_equal(motion.body_pose, motions[1.0].body_pose)
        assert np.array_equal(motion.global_orient, motions[1.0].global_orient)
        lowest = joints[size][..., 2].min(axis=1)
        assert np.abs(lowest).max() < 1e-9  # no jump here: the lowest joint on the floor in every frame
        # Pelvis height and pelvis track (from the start) scale with the size.
        assert np.abs(joints[size][:, 0, 2] - size * base[:, 0, 2]).max() < 1e-9
        track = joints[size][:, 0, :2] - joints[size][:1, 0, :2]
        assert np.abs(track - size * (base[:, 0, :2] - base[:1, 0, :2])).max() < 1e-9
        # Every joint relative to the pelvis, too.
        relative = joints[size] - joints[size][:, :1]
        assert np.abs(relative - size * (base - base[:, :1])).max() < 1e-9
    standing = {size: float(joints[size][0, 0, 2]) for size in SIZES}
    assert standing[0.85] < 0.85 * 0.93 and standing[1.15] > 1.15 * 0.9  # about 0.92 m at size 1
    walked = {size: float(joints[size][59, 0, 1] - joints[size][0, 0, 1]) for size in SIZES}
    assert walked[1.15] / walked[0.85] == pytest.approx(1.15 / 0.85, rel=1e-9)


def test_a_bigger_subject_jumps_further_and_lands_on_the_floor():
    stages = [(45, both_legs("jump", direction="forward", amplitude=0.5, count=1))]
    distance, flight = {}, {}
    for size in SIZES:
        motion = motion_of(stages, size=size)
        joints = joints_of(motion.params() | {"betas": betas_of_size(size, np.zeros(9))})
        lowest = joints[..., 2].min(axis=1)
        assert lowest.min() > -1e-9 and abs(lowest[0]) < 1e-9 and abs(lowest[-1]) < 1e-9
        distance[size] = float(joints[-1, 0, 1] - joints[0, 0, 1])
        flight[size] = float(lowest.max())
    assert distance[1.15] / distance[0.85] == pytest.approx(1.15 / 0.85, rel=1e-6)
    # The flight height is the time in the air (physics), not the body's size.
    assert flight[1.15] == pytest.approx(flight[0.85], rel=0.2)


def test_the_smallest_and_largest_subjects_keep_feet_on_the_floor_and_joint_limits(tiny_dataset, tiny_joints):
    performing = {m.subject_id for m in tiny_dataset.motions}
    subjects = sorted((s for s in tiny_dataset.subjects if s.subject_id in performing), key=lambda s: s.size)
    smallest, largest = subjects[0], subjects[-1]
    assert smallest.size < 0.9 and largest.size > 1.1
    limits = np.radians(np.asarray(JOINT_LIMITS_DEG[1:])) + 1e-5
    legs = {}
    for subject in (smallest, largest):
        motions = [m for m in tiny_dataset.motions if m.subject_id == subject.subject_id]
        for motion in motions:
            joints = tiny_joints[motion.motion_id]
            lowest = joints[..., 2].min(axis=1)
            jumping = np.zeros(len(lowest), dtype=bool)
            for stage, spec, _ in stage_frames(motion):
                jumping[stage.start_frame : stage.end_frame] = spec["trajectory"].name == "jump"
            assert lowest.min() > -1e-4 and np.abs(lowest[~jumping]).max() < 1e-4, motion.motion_id
            angles = np.linalg.norm(motion.params["body_pose"].reshape(-1, 23, 3), axis=-1)
            assert (angles <= limits).all()
        # The leg (hip -> knee -> ankle) is the subject's own: the neutral leg scaled by the size, and
        # stretched a little by beta 1 (at most 1.5 x 5%).
        joints = tiny_joints[motions[0].motion_id]
        leg = np.linalg.norm(joints[:, [4, 7]] - joints[:, [1, 4]], axis=-1).sum(axis=-1)
        own = SHAPES.rest_joints(subject.betas)
        assert np.abs(leg - np.linalg.norm(own[[4, 7]] - own[[1, 4]], axis=-1).sum()).max() < 1e-6
        rest = smpl.SMPL_NEUTRAL_REST_JOINTS
        neutral = np.linalg.norm(rest[[4, 7]] - rest[[1, 4]], axis=-1).sum()
        assert abs(leg[0] / neutral - subject.size) < 0.08
        legs[subject.subject_id] = leg[0]
    assert legs[largest.subject_id] / legs[smallest.subject_id] > 1.2


# ---------------------------------------------------------------------------------------------- mirroring


def test_mirror_smpl_params_is_an_involution():
    rng = np.random.default_rng(0)
    params = {
        "global_orient": rng.normal(size=(7, 3)),
        "body_pose": rng.normal(size=(7, 69)),
        "transl": rng.normal(size=(7, 3)),
        "betas": rng.normal(size=(7, 10)),
    }
    twice = mirror_smpl_params(mirror_smpl_params(params))
    for key, value in params.items():
        assert np.array_equal(twice[key], value)
    pelvis = smpl.SMPL_NEUTRAL_REST_JOINTS[0]
    twice = mirror_smpl_params(mirror_smpl_params(params, rest_pelvis=pelvis), rest_pelvis=pelvis)
    assert np.allclose(twice["transl"], params["transl"], atol=1e-12)
    once = mirror_smpl_params({k: torch.from_numpy(v) for k, v in params.items()})
    assert isinstance(once["body_pose"], torch.Tensor)
    assert np.array_equal(once["body_pose"].numpy(), mirror_smpl_params(params)["body_pose"])
    # left hip (SMPL joint 1) takes the right hip's rotation, y and z negated
    right_hip = params["body_pose"][:, 3:6]
    assert np.array_equal(mirror_smpl_params(params)["body_pose"][:, 0:3], right_hip * [1, -1, -1])
    with pytest.raises(MogenBenchError) as info:
        mirror_smpl_params({**params, "poses": params["body_pose"]})
    assert info.value.field == "poses"


def test_mirrored_params_pose_the_mirrored_joints_exactly_on_a_symmetric_skeleton():
    rng = np.random.default_rng(1)
    params = {
        "global_orient": rng.normal(size=(5, 3)),
        "body_pose": rng.normal(size=(5, 69)) * 0.5,
        "transl": rng.normal(size=(5, 3)),
    }
    # The built-in skeleton made left-right symmetric: then mirroring is exact.
    rest = smpl.SMPL_NEUTRAL_REST_JOINTS
    perm = list(SMPL24.mirror_permutation())
    symmetric = torch.from_numpy((rest + rest[perm] * [-1, 1, 1]) / 2)

    def pose(p):
        aa = np.concatenate([p["global_orient"], p["body_pose"]], axis=-1).reshape(-1, 24, 3)
        rotations = smpl.axis_angle_to_matrix(torch.from_numpy(aa))
        return smpl._forward_kinematics(symmetric, rotations, torch.from_numpy(p["transl"])).numpy()

    mirrored = pose(mirror_smpl_params(params))
    assert np.abs(mirrored - mirror_joints(pose(params), SMPL24)).max() < 1e-12
    # On the built-in (slightly asymmetric) skeleton they agree to the asymmetry, about a centimetre.
    builtin = joints_of(mirror_smpl_params(params, rest_pelvis=rest[0]))
    assert np.abs(builtin - mirror_joints(joints_of(params), SMPL24)).max() < 0.03


def test_mirrored_sequences_are_the_mirrored_motion_with_swapped_texts(tiny_dataset, tiny_joints):
    motions = tiny_dataset.by_id()
    for motion in tiny_dataset.motions:
        if not motion.mirrored:
            continue
        original = motions[motion.source_id]
        assert motion.motion_id == original.motion_id.replace("_a", "_r")
        assert motion.split == original.split
        mirrored_joints = mirror_joints(tiny_joints[original.motion_id], SMPL24)
        assert np.abs(tiny_joints[motion.motion_id] - mirrored_joints).max() < 0.025
        for stage, source in zip(motion.annotation.stages, original.annotation.stages, strict=True):
            assert (stage.start_frame, stage.end_frame) == (source.start_frame, source.end_frame)
            assert stage.left_arm == mirror_text(source.right_arm)
            assert stage.right_leg == mirror_text(source.left_leg)
            assert stage.overall == mirror_text(source.overall)
            assert stage.head == mirror_text(source.head)
    assert (
        mirror_text("Turn Left, then raise the right arm. LEFT")
        == "Turn Right, then raise the left arm. RIGHT"
    )


def test_builtin_joints_equal_smpl_joints_builtin():
    rng = np.random.default_rng(2)
    params = {"global_orient": rng.normal(size=(9, 3)), "body_pose": rng.normal(size=(9, 69))}
    params["transl"] = rng.normal(size=(9, 3))
    aa = np.concatenate([params["global_orient"][:, None], params["body_pose"].reshape(9, 23, 3)], axis=1)
    fast = builtin_joints(axis_angle_to_quaternion(aa), params["transl"])
    assert np.abs(fast - smpl_joints_builtin(params)).max() < 1e-9


def test_mirror_motions_keep_the_floor():
    motion = motion_of([(45, both_legs("jump", direction="forward", amplitude=0.5, count=1))])
    mirrored = mirror_motions([motion])[0]
    lowest = joints_of(motion.params())[..., 2].min(axis=1)
    assert lowest.max() > 0.05 and np.abs(lowest - motion.lowest).max() < 1e-9
    assert np.abs(joints_of(mirrored.params())[..., 2].min(axis=1) - lowest).max() < 1e-9


# -------------------------------------------------------------------------------------- held-out combos


def test_held_out_combinations_occur_only_in_test_subjects(tiny_dataset):
    held = {tuple(c) for c in tiny_dataset.held_out.labels()}
    assert len(held) >= SYNTH_PRESETS["tiny"].num_held_out
    closed = tiny_dataset.held_out
    assert all(mirror_combination(c) in closed.combinations for c in closed.combinations)
    in_test = 0
    for motion in tiny_dataset.motions:
        for spec in motion.spec.stages:
            names = {f"{part}:{p.name}" for part, p in spec.parts}
            found = [c for c in held if set(c) <= names]
            if found:
                assert motion.split == "test", (motion.motion_id, found)
                in_test += 1
    assert in_test > 0
    labelled = [m for m in tiny_dataset.motions if m.held_out]
    assert labelled and all(m.split == "test" for m in labelled)


# ---------------------------------------------------------------------------------------- HumanML3D export


def test_humanml3d_export(tmp_path):
    config = SMALL.replace(num_sequences=4, captions_per_motion=2)
    root = write_synth(tmp_path / "synth", config, humanml3d=True)
    folder = root / "humanml3d"
    meta = json.loads((root / "synth.json").read_text())
    assert meta["humanml3d"]["motions"] == 8
    ids = (folder / "all.txt").read_text().split()
    assert len(ids) == 8 and sum(i.startswith("M") for i in ids) == 4
    for split in ("train", "val", "test"):
        assert set((folder / f"{split}.txt").read_text().split()) <= set(ids)
    for name in ids:
        source = name[1:] if name.startswith("M") else name
        motion_file = source.replace("_a", "_r") if name.startswith("M") else source
        with np.load(root / "smpl_on_ground" / f"{motion_file}.npz") as npz:
            params = {k: npz[k] for k in npz.files}
        frames = num_resampled_frames(params["transl"].shape[0], 30, 20)
        vecs = np.load(folder / "new_joint_vecs" / f"{name}.npy")
        joints = np.load(folder / "new_joints" / f"{name}.npy")
        assert vecs.dtype == joints.dtype == np.float32
        assert vecs.shape == (frames - 1, 263) and joints.shape == (frames - 1, 22, 3)
        assert np.allclose(joints, recover_from_ric(torch.from_numpy(vecs)).numpy(), atol=1e-6)
        # The same numbers ``prepare`` gets from the release layout: builtin joints -> y up -> 20 fps.
        y_up = points_to_y_up(torch.from_numpy(joints_of(params)[:, :22]), "z")
        moving = resample_positions(y_up.flatten(-2), 30, 20).unflatten(-1, (22, 3))
        assert np.abs(extract_features(moving).numpy() - vecs).max() < 1e-4
        captions = read_caption_file(folder / "texts" / f"{name}.txt", num_frames=frames - 1)
        assert len(captions) == 2
        for caption in captions:
            (stage,) = caption.stages
            assert (stage.start_frame, stage.end_frame) == (0, frames - 1)
            assert stage.overall.endswith(".") and stage.overall == stage.overall.lower()
            assert all(re.fullmatch(r"[a-z]+/[A-Z]+", t) for t in stage.tokens)
    for stat in ("Mean", "Std"):
        values = np.load(folder / f"{stat}.npy")
        assert values.shape == (263,) and values.dtype == np.float32 and np.isfinite(values).all()
    assert (np.load(folder / "Std.npy") > 0).all()


def test_pos_tags_follow_humanml3d():
    tokens = tokenize("a person walks forward while waving the left hand, then turns to the right.")
    assert tokens == [
        "a/DET",
        "person/NOUN",
        "walk/VERB",
        "forward/ADV",
        "while/SCONJ",
        "wave/VERB",
        "the/DET",
        "left/ADJ",
        "hand/NOUN",
        "then/ADV",
        "turn/VERB",
        "to/ADP",
        "the/DET",
        "right/NOUN",
    ]


def test_every_caption_word_has_a_tag(tiny_dataset):
    for motion in tiny_dataset.motions:
        for caption in motion.captions:
            assert len(tokenize(caption)) == len(re.findall(r"[a-z]+", caption))
        for stage in motion.annotation.stages:
            tokenize(stage.overall)
