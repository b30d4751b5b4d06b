"""The stick-figure renderer: frames, captions, camera, GIF / MP4 writing, side by side, and bad input."""

from __future__ import annotations

import itertools
import json
import os
import stat
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from annotation.model import Stage
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.part_slices import JOINT_GROUPS
from mogen_bench.motion.skeletons import KIT21, SMPL22, SMPL24, Skeleton
from mogen_bench.render import (
    PART_COLOURS,
    RenderConfig,
    frame_captions,
    gif_durations,
    joint_parts,
    plan_view,
    render_frames,
    render_motion,
    render_side_by_side,
    render_side_by_side_frames,
    write_video,
)
from mogen_bench.render.camera import floor_grid
from mogen_bench.render.inputs import resolve_bones
from tests.conftest import shared_sample_dir

# Small frames keep the whole file fast: 160 x 144 pixels a panel.
SMALL = RenderConfig(panel_width=160, panel_height=144, dpi=40)


def rest_pose(skeleton: Skeleton, bone: float = 0.25) -> np.ndarray:
    """The skeleton's rest pose (J, 3): every bone ``bone`` long along its published rest direction."""
    pose = np.zeros((skeleton.num_joints, 3))
    pose[skeleton.chains[0][0], 1] = 1.0  # the root a metre above the ground
    for chain in skeleton.chains:
        for parent, child in itertools.pairwise(chain):
            pose[child] = pose[parent] + bone * np.asarray(skeleton.raw_offsets[child])
    return pose


def swinging(skeleton: Skeleton, frames: int = 10) -> np.ndarray:
    """The rest pose with both arms swinging forward and back: a motion that changes every frame."""
    poses = np.repeat(rest_pose(skeleton)[None], frames, axis=0)
    arms = [j for j, name in enumerate(skeleton.joint_names) if "elbow" in name or "wrist" in name]
    poses[:, arms, 2] += 0.3 * np.sin(np.linspace(0, 2 * np.pi, frames))[:, None]
    return poses


@pytest.fixture(scope="module")
def real_clip() -> np.ndarray:
    """Ten frames of the real HumanML3D clip 012314 (22 joints, metres, y up)."""
    joints = np.load(shared_sample_dir() / "new_joints" / "012314.npy")
    return joints[::17].astype(np.float32)


def test_frames_of_a_real_clip_have_the_count_and_size_and_change_over_time(real_clip):
    frames = render_frames(real_clip, skeleton=SMPL22, fps=20 / 17, config=SMALL)
    assert frames.shape == (10, 144, 160, 3) and frames.dtype == np.uint8
    # A moving figure changes every frame, and it is drawn: each frame has pixels of every limb colour.
    assert all((frames[i] != frames[i + 1]).any() for i in range(9))
    for colour in (PART_COLOURS["left_arm"], PART_COLOURS["right_leg"], PART_COLOURS["head"]):
        assert all(_colour_columns(frame, colour).size for frame in frames), colour


def _colour_columns(frame: np.ndarray, colour: str) -> np.ndarray:
    rgb = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)])
    return np.nonzero(np.abs(frame.astype(int) - rgb).sum(axis=-1) < 30)[1]


def test_the_subject_faces_the_camera_unmirrored():
    # SMPL faces +z with its own left at +x; seen from the front, the left arm is on the image's right.
    frame = render_frames(np.repeat(rest_pose(SMPL22)[None], 1, axis=0), config=SMALL)[0]
    left = _colour_columns(frame, PART_COLOURS["left_arm"])
    right = _colour_columns(frame, PART_COLOURS["right_arm"])
    assert left.size and right.size and left.mean() > right.mean() + 10
    # y up becomes matplotlib's z up by a rotation, not a reflection (which would also mirror the
    # subject while showing its back, and so pass the check above).
    view = plan_view(np.zeros((1, 1, 3)), root=0, fps=20)
    basis = view.to_plot(np.eye(3)[None])[0] - view.to_plot(np.zeros((1, 1, 3)))[0]
    np.testing.assert_allclose(basis, [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert np.linalg.det(basis) == pytest.approx(1.0)
    # The head is drawn above the feet (y up).
    head_rows = np.nonzero(np.abs(frame.astype(int) - np.array([0xCC, 0x79, 0xA7])).sum(axis=-1) < 30)[0]
    leg_rows = np.nonzero(np.abs(frame.astype(int) - np.array([0x56, 0xB4, 0xE9])).sum(axis=-1) < 30)[0]
    assert head_rows.mean() < leg_rows.mean()


def test_a_static_motion_gives_identical_frames():
    static = np.repeat(rest_pose(SMPL22)[None], 8, axis=0)
    frames = render_frames(static, fps=20, stages="standing still", title="static", config=SMALL)
    assert len(frames) == 8
    assert all(np.array_equal(frames[0], f) for f in frames[1:])
    assert (frames[0] != 255).any()  # something was drawn


def test_the_caption_follows_the_active_stage_and_only_the_caption_band_changes():
    static = np.repeat(rest_pose(SMPL22)[None], 10, axis=0)
    stages = [
        {"start_frame": 0, "end_frame": 5, "overall": "raise both arms"},
        {"start_frame": 5, "end_frame": 10, "all": "sit down"},  # the HuMMan-MoGen key works too
    ]
    frames = render_frames(static, fps=20, stages=stages, config=SMALL)
    assert frames.shape[1] > SMALL.panel_height  # a caption band below the panel
    assert all(np.array_equal(frames[0], frames[i]) for i in range(1, 5))
    assert all(np.array_equal(frames[5], frames[i]) for i in range(6, 10))
    rows = np.flatnonzero((frames[4] != frames[5]).any(axis=(1, 2)))
    assert rows.size and rows.min() >= SMALL.panel_height  # the figure itself did not move


def test_captions_that_come_back_are_drawn_the_same_as_the_first_time():
    # Text bands are drawn once per caption and reused: a returning caption must look identical.
    static = np.repeat(rest_pose(SMPL22)[None], 4, axis=0)
    frames = render_frames(static, stages=["walk", "run", "walk", "run"], title="t", config=SMALL)
    assert np.array_equal(frames[0], frames[2]) and np.array_equal(frames[1], frames[3])
    assert not np.array_equal(frames[0], frames[1])
    assert (frames[0, :10] != 255).any()  # the title is there in the reused frames too
    assert np.array_equal(frames[2, :20], frames[1, :20])


def test_frame_captions_from_stages_dicts_objects_and_per_frame_lists():
    stages = [Stage(0, 3, overall="walk", left_arm="wave"), Stage(3, 5, overall="stop")]
    assert frame_captions(stages, 6) == ["1/2: walk"] * 3 + ["2/2: stop"] * 2 + [""]
    assert frame_captions(stages, 4, field="left_arm") == ["1/2: wave"] * 3 + [""]
    assert frame_captions([{"start_frame": 1, "end_frame": 3, "all": "jump"}], 4) == ["", "jump", "jump", ""]
    assert frame_captions(["a", None, "c"], 3) == ["a", "", "c"]
    assert frame_captions("the whole clip", 2) == ["the whole clip"] * 2
    assert frame_captions(None, 2) == ["", ""]


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        (["a", "b"], "stages"),  # 2 per-frame captions for 3 frames
        ([{"start_frame": 0, "overall": "x"}], "stages[0]"),
        ([{"start_frame": 2, "end_frame": 2, "overall": "x"}], "stages[0]"),
        ([{"start_frame": 0, "end_frame": 3, "overall": 5}], "stages[0].overall"),
        (42, "stages"),
    ],
)
def test_bad_stages_are_rejected(stages, field):
    with pytest.raises(MogenBenchError) as error:
        frame_captions(stages, 3)
    assert error.value.field == field


def test_gif_has_every_frame_its_duration_and_loops(tmp_path, real_clip):
    path = render_motion(real_clip, tmp_path / "clip.gif", fps=20, stages="a person walks", config=SMALL)
    expected = render_frames(real_clip, fps=20, stages="a person walks", config=SMALL)
    with Image.open(path) as gif:
        assert gif.n_frames == 10 and gif.info["loop"] == 0
        assert gif.size == (expected.shape[2], expected.shape[1])
        durations, decoded = [], []
        for frame in ImageSequence.Iterator(gif):
            durations.append(frame.info["duration"])
            decoded.append(np.asarray(frame.convert("RGB")))
    assert durations == [50] * 10
    # One shared palette of the commonest colours: those (background, limbs) stay exact, only rare
    # anti-aliasing blends are approximated.
    error = np.abs(np.stack(decoded).astype(int) - expected).sum(axis=-1)
    assert (error == 0).mean() > 0.97 and error.mean() < 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]  # no temporary file left


def test_gif_durations_keep_the_total_length_on_the_centisecond_grid():
    assert gif_durations(4, 20) == [50, 50, 50, 50]
    assert gif_durations(4, 12.5) == [80, 80, 80, 80]  # KIT-ML
    assert gif_durations(3, 30) == [30, 40, 30]
    assert sum(gif_durations(300, 30)) == 10_000


def test_side_by_side_panels_share_the_frame_and_the_shorter_motion_holds_its_last_frame(real_clip):
    short = swinging(SMPL22, frames=6)
    frames = render_side_by_side_frames(
        [real_clip, short], titles=["ground truth", "model"], fps=20, config=SMALL
    )
    width = SMALL.panel_width
    assert frames.shape[0] == 10 and frames.shape[2] == 2 * width
    single = render_frames(short, fps=20, title="model", config=SMALL)
    assert frames.shape[1] == single.shape[1]
    left, right = frames[:, :, :width], frames[:, :, width:]
    assert all(np.array_equal(right[5], right[i]) for i in range(6, 10))  # held
    assert all((left[i] != left[i + 1]).any() for i in range(9))  # the other panel goes on
    # Each panel is drawn as it would be alone (up to sub-pixel text and line placement).
    difference = np.abs(right[:6].astype(int) - single).sum(axis=-1)
    assert (difference == 0).mean() > 0.97 and difference.mean() < 2.0


def test_long_panel_titles_wrap_inside_their_panel(real_clip):
    long = "finemogen: The person squats down while raising both arms forward and looks up"
    frames = render_side_by_side_frames([real_clip, real_clip], titles=[long, long], fps=20, config=SMALL)
    short = render_side_by_side_frames([real_clip, real_clip], titles=["a", "b"], fps=20, config=SMALL)
    band = frames.shape[1] - short.shape[1] + 20  # the title rows (wrapped onto two lines: a taller band)
    assert frames.shape[1] > short.shape[1]
    # Nothing is drawn across the boundary between the two panels' titles.
    width = SMALL.panel_width
    assert (frames[0, :band, width - 2 : width + 2] == 255).all()
    assert (frames[0, :band, : width - 2] < 128).any() and (frames[0, :band, width + 2 :] < 128).any()


def test_side_by_side_panels_can_each_have_their_own_stages():
    static = np.repeat(rest_pose(SMPL22)[None], 4, axis=0)
    left_stages = [Stage(0, 2, overall="walk"), Stage(2, 4, overall="run")]
    frames = render_side_by_side_frames([static, static], stages=[left_stages, "stand"], config=SMALL)
    band = frames[:, SMALL.panel_height :]
    assert band.shape[1] > 0
    width = SMALL.panel_width
    assert (band[1, :, :width] != band[2, :, :width]).any()  # the left stage changed
    assert np.array_equal(band[1, :, width:], band[2, :, width:])  # the right caption did not
    # One shared stage list is written once across the figure: both halves change together.
    shared = render_side_by_side_frames([static, static], stages=left_stages, config=SMALL)
    changed = np.flatnonzero((shared[1] != shared[2]).any(axis=(0, 2)))
    assert changed.min() < width < changed.max()  # centred on the figure, across the two panels
    assert np.array_equal(shared[0], shared[1]) and not np.array_equal(shared[1], shared[2])
    # Per-frame captions as long as the clip stay per-frame, even with as many entries as motions.
    two = render_side_by_side_frames([static[:2], static[:2]], stages=["walk", "run"], config=SMALL)
    assert not np.array_equal(two[0], two[1])


def test_side_by_side_writes_a_gif(tmp_path):
    motions = [swinging(SMPL22, 8), swinging(KIT21, 8) * 1000.0]
    path = render_side_by_side(motions, tmp_path / "pair.gif", titles=["smpl", "kit"], fps=12.5, config=SMALL)
    with Image.open(path) as gif:
        assert gif.n_frames == 8 and gif.size[0] == 2 * SMALL.panel_width
        assert gif.info["duration"] == 80


def test_units_do_not_matter_kit_in_millimetres_renders_like_metres():
    metres = swinging(KIT21, 8)
    in_metres = render_frames(metres, fps=12.5, config=SMALL)
    in_mm = render_frames(metres * 1000.0, skeleton="kit-21", fps=12.5, config=SMALL)
    assert np.abs(in_metres.astype(int) - in_mm).max() <= 1


def test_torch_and_numpy_inputs_render_the_same():
    motion = swinging(SMPL22, 8).astype(np.float32)
    assert np.array_equal(
        render_frames(motion, config=SMALL), render_frames(torch.from_numpy(motion), config=SMALL)
    )


def test_bones_are_coloured_by_the_finemogen_joint_groups():
    parts = joint_parts(SMPL22)
    for part, joints in JOINT_GROUPS["humanml3d-263"].items():
        assert {parts[j] for j in joints} == {part}
    assert joint_parts(KIT21)[4] == "head" and joint_parts(KIT21)[5] == "left_arm"
    # SMPL-24's hands are not in FineMoGen's groups; they take their wrist's part.
    assert joint_parts(SMPL24)[22:] == ("left_arm", "right_arm")
    bones = resolve_bones(22, SMPL22)
    colour = dict(zip(map(tuple, bones.pairs.tolist()), bones.colours, strict=True))
    assert colour[(0, 1)] == PART_COLOURS["left_leg"] and colour[(9, 14)] == PART_COLOURS["right_arm"]
    assert colour[(12, 15)] == PART_COLOURS["head"] and len(bones.pairs) == 21
    # A custom skeleton given as chains gets a colour per chain.
    custom = resolve_bones(4, chains=[[0, 1, 2], [1, 3]])
    assert custom.pairs.tolist() == [[0, 1], [1, 2], [1, 3]] and custom.colours[0] == custom.colours[1]


def test_the_camera_follows_a_long_walk_and_stays_put_for_a_small_motion():
    pose = rest_pose(SMPL22)
    walk = np.repeat(pose[None], 40, axis=0)
    walk[:, :, 2] += np.linspace(0, 20, 40)[:, None]  # 20 m forward
    view = plan_view(walk, root=0, fps=20)
    assert view.follows
    # Away from the clip's ends the smoothed centre of a straight walk is the root itself.
    np.testing.assert_allclose(view.centres[10:30], walk[10:30, 0][:, [0, 2]], atol=1e-9)
    plot = view.to_plot(walk)
    assert np.abs(plot[..., :2]).max() <= view.radius  # the whole figure in the window every frame
    np.testing.assert_allclose(plot[..., 2].min(), 0.0, atol=1e-12)  # the lowest point on the floor
    assert view.grid_step == 0.5  # figure ~1.7 m tall: a 50 cm grid

    small = plan_view(swinging(SMPL22, 10), root=0, fps=20)
    assert not small.follows and np.ptp(small.centres, axis=0).max() == 0
    mm = plan_view(swinging(SMPL22, 10) * 1000, root=0, fps=20)
    assert mm.grid_step == 500.0 and mm.radius == pytest.approx(1000 * small.radius)
    lines = floor_grid(view, 20)
    assert np.abs(lines[..., :2]).max() <= view.radius + 1e-9 and (lines[..., 2] == 0).all()


def test_mp4_without_ffmpeg_says_to_install_it_or_use_gif(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)
    with pytest.raises(MogenBenchError) as error:
        render_motion(swinging(SMPL22, 4), tmp_path / "clip.mp4", config=SMALL)
    assert "ffmpeg" in str(error.value) and ".gif" in error.value.fix
    assert not any(tmp_path.iterdir())


def _fake_ffmpeg(folder: Path, body: str) -> None:
    folder.mkdir()
    script = folder / "ffmpeg"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nargs = sys.argv[1:]\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(os.name == "nt", reason="the fake ffmpeg is a script with a shebang")
def test_mp4_pipes_raw_rgb_frames_to_ffmpeg_and_renames_its_output(tmp_path, monkeypatch):
    _fake_ffmpeg(
        tmp_path / "bin",
        "data = sys.stdin.buffer.read()\n"
        "open(args[-1], 'w').write(json.dumps({'args': args, 'bytes': len(data)}))",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    frames = render_frames(swinging(SMPL22, 5), config=SMALL)
    out = tmp_path / "out" / "clip.mp4"
    assert write_video(frames, out, fps=20) == out
    record = json.loads(out.read_text())
    args = record["args"]
    assert record["bytes"] == frames.size
    assert args[args.index("-s") + 1] == f"{frames.shape[2]}x{frames.shape[1]}"
    assert args[args.index("-r") + 1] == "20" and args[args.index("-pix_fmt") + 1] == "rgb24"
    assert args[-1] != str(out) and Path(args[-1]).parent == out.parent  # written beside, then renamed
    assert [p.name for p in out.parent.iterdir()] == ["clip.mp4"]


@pytest.mark.skipif(os.name == "nt", reason="the fake ffmpeg is a script with a shebang")
def test_a_failing_ffmpeg_leaves_no_file_and_reports_its_message(tmp_path, monkeypatch):
    failing = "sys.stdin.buffer.read()\nsys.stderr.write('Unknown encoder')\nsys.exit(1)"
    _fake_ffmpeg(tmp_path / "bin", failing)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(MogenBenchError, match="Unknown encoder"):
        write_video(frames, tmp_path / "clip.mp4", fps=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_an_unknown_suffix_is_refused_before_rendering(tmp_path):
    with pytest.raises(MogenBenchError) as error:
        render_motion(np.zeros((3, 22, 3)), tmp_path / "clip.avi")
    assert ".gif" in error.value.fix and error.value.file == str(tmp_path / "clip.avi")


@pytest.mark.parametrize(
    ("joints", "kwargs", "expected"),
    [
        (np.zeros((10, 66)), {}, r"shape \(T, J, 3\), got \(10, 66\)"),
        (np.zeros((2, 10, 22, 3)), {}, "a batch of motions"),
        (np.zeros((0, 22, 3)), {}, "empty"),
        (np.full((4, 22, 3), np.nan), {}, "NaN or infinite positions in 4 of 4 frames"),
        (np.zeros((4, 22, 3)), {"skeleton": KIT21}, "joints has 22 joints, skeleton 'kit-21' has 21"),
        (np.zeros((4, 5, 3)), {}, "has 5 joints and no known skeleton has that many"),
        (np.zeros((4, 5, 3)), {"chains": [[0, 1, 7]]}, r"indices in 0\.\.4"),
        (np.zeros((4, 22, 3), np.int64), {}, "floating-point"),
        ([[[0.0, 0.0, 0.0]]], {}, "torch tensor or numpy array"),
        (np.zeros((4, 22, 3)), {"fps": 0}, "fps must be a positive number"),
        (np.zeros((4, 22, 3)), {"skeleton": "smpl-23"}, "unknown skeleton"),
    ],
)
def test_bad_input_is_a_clear_error(joints, kwargs, expected):
    with pytest.raises(MogenBenchError, match=expected):
        render_frames(joints, config=SMALL, **kwargs)


def test_bad_side_by_side_and_config_arguments():
    motion = swinging(SMPL22, 3)
    with pytest.raises(MogenBenchError, match="2 titles for 1 motions"):
        render_side_by_side_frames([motion], titles=["a", "b"], config=SMALL)
    with pytest.raises(MogenBenchError, match="non-empty list"):
        render_side_by_side_frames(motion, config=SMALL)
    with pytest.raises(MogenBenchError, match="motions\\[1\\]"):
        render_side_by_side_frames([motion, motion[:, :, :2]], config=SMALL)
    with pytest.raises(MogenBenchError, match="motions\\[1\\] has 21 joints, skeleton 'smpl-22' has 22"):
        render_side_by_side_frames([motion, swinging(KIT21, 3)], skeleton=SMPL22, config=SMALL)
    with pytest.raises(MogenBenchError, match="camera mode"):
        RenderConfig(camera="orbit")
    with pytest.raises(MogenBenchError, match="caption field"):
        RenderConfig(caption_field="tail")
    with pytest.raises(MogenBenchError, match="positive integer"):
        RenderConfig(panel_width=0)


def test_rendering_leaves_the_matplotlib_backend_and_pyplot_alone():
    backend = matplotlib.get_backend()
    render_frames(swinging(SMPL22, 2), config=SMALL)
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
