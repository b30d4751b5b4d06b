"""Frame-rate resampling (``mogen_bench.motion.resample``): the time grid, exact frame picking at integer
ratios, golden values on a linear ramp, slerp against scipy, SMPL dicts, stage boundaries, and errors.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation, Slerp

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.resample import (
    num_resampled_frames,
    resample_positions,
    resample_rotations,
    resample_smpl,
    resample_times,
    rescale_frame_index,
    rescale_stage_bounds,
)
from tests.conftest import HUMMAN_EXAMPLE, HUMMAN_EXAMPLE_FRAMES


def random_quaternions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.normal(size=(*shape, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------- the grid


def test_frame_counts_and_times():
    assert num_resampled_frames(121, 120, 20) == 21  # exactly on the last frame
    assert num_resampled_frames(126, 120, 20) == 21  # 125/6 = 20.8: frame 21 would be past the end
    assert num_resampled_frames(10, 30, 20) == 7
    assert num_resampled_frames(1, 60, 20) == 1
    assert num_resampled_frames(3, 20, 30) == 4  # upsampling
    np.testing.assert_allclose(resample_times(10, 30, 20), [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    times = resample_times(1000, 29.97, 20)
    assert times[-1] <= 999 / 29.97 < times[-1] + 1 / 20


def test_integer_ratio_picks_every_sixth_frame_exactly():
    rng = np.random.default_rng(0)
    for frames in (121, 125):
        x = rng.normal(size=(2, frames, 5))
        np.testing.assert_array_equal(resample_positions(x, 120, 20), x[:, 0:121:6])
        q = random_quaternions(rng, (frames, 22))
        np.testing.assert_array_equal(resample_rotations(q, 120, 20), q[0:121:6])
        params = {
            "global_orient": rng.normal(size=(frames, 3)),
            "body_pose": rng.normal(size=(frames, 69)),
            "transl": rng.normal(size=(frames, 3)),
            "betas": rng.normal(size=(frames, 10)),
        }
        out = resample_smpl(params, 120, 20)
        for key, value in params.items():
            np.testing.assert_array_equal(out[key], value[0:121:6])


def test_non_integer_ratio_golden_values_on_a_linear_ramp():
    ramp = (2.0 + 0.5 * np.arange(10.0))[:, None] * np.array([1.0, -2.0])  # 30 fps, 10 frames
    out = resample_positions(ramp, 30, 20)  # source positions 0, 1.5, 3, ..., 9
    expected = np.array([2.0, 2.75, 3.5, 4.25, 5.0, 5.75, 6.5])[:, None] * np.array([1.0, -2.0])
    np.testing.assert_allclose(out, expected, atol=1e-15)
    up = resample_positions(np.array([[0.0], [3.0], [6.0]]), 20, 30)  # positions 0, 2/3, 4/3, 2
    np.testing.assert_allclose(up[:, 0], [0.0, 2.0, 4.0, 6.0], atol=1e-15)


def test_identity_resampling_returns_the_input():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 17, 4)).astype(np.float32)
    np.testing.assert_array_equal(resample_positions(x, 30, 30), x)
    q = random_quaternions(rng, (17, 5))
    np.testing.assert_array_equal(resample_rotations(q, 12.5, 12.5), q)
    params = {"global_orient": rng.normal(size=(17, 3)), "transl": x[0, :, :3].astype(np.float64)}
    out = resample_smpl(params, 30, 30)
    for key, value in params.items():
        np.testing.assert_array_equal(out[key], value)


def test_batch_shapes_types_and_devices():
    x = torch.arange(2 * 4 * 9 * 3, dtype=torch.float64).reshape(2, 4, 9, 3)
    out = resample_positions(x, 60, 20)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4, 3, 3) and out.dtype == torch.float64
    torch.testing.assert_close(out, x[:, :, ::3])
    q = torch.as_tensor(random_quaternions(np.random.default_rng(2), (3, 9, 2)), dtype=torch.float32)
    out = resample_rotations(q, 30, 20)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 6, 2, 4) and out.dtype == torch.float32


# ------------------------------------------------------------------------------------------- rotations


def test_rotations_stay_unit_and_match_scipy_slerp():
    rng = np.random.default_rng(3)
    frames, joints = 13, 4
    q = random_quaternions(rng, (frames, joints))
    out = resample_rotations(q, 30, 20)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-14)
    times = resample_times(frames, 30, 20)
    for j in range(joints):
        key_rots = Rotation.from_quat(q[:, j][:, [1, 2, 3, 0]])  # scipy is (x, y, z, w)
        expected = Slerp(np.arange(frames) / 30, key_rots)(times).as_matrix()
        got = Rotation.from_quat(out[:, j][:, [1, 2, 3, 0]]).as_matrix()
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_smpl_axis_angle_is_slerped_and_betas_come_from_the_nearest_frame():
    rng = np.random.default_rng(4)
    frames = 10
    rotvec = Rotation.random(frames * 24, random_state=rng).as_rotvec().reshape(frames, 24, 3)
    params = {
        "global_orient": rotvec[:, 0],
        "body_pose": rotvec[:, 1:].reshape(frames, 69),
        "transl": np.arange(frames * 3.0).reshape(frames, 3),
        "betas": np.arange(frames, dtype=np.float64)[:, None].repeat(10, axis=1),
    }
    out = resample_smpl(params, 30, 20)  # source positions 0, 1.5, 3, 4.5, 6, 7.5, 9
    assert {k: v.shape for k, v in out.items()} == {
        "global_orient": (7, 3), "body_pose": (7, 69), "transl": (7, 3), "betas": (7, 10)
    }  # fmt: skip
    np.testing.assert_allclose(out["transl"][:, 0], [0.0, 4.5, 9.0, 13.5, 18.0, 22.5, 27.0])
    np.testing.assert_array_equal(out["betas"][:, 0], [0, 2, 3, 5, 6, 8, 9])  # ties go to the later frame
    times = resample_times(frames, 30, 20)
    got = np.concatenate([out["global_orient"][:, None], out["body_pose"].reshape(7, 23, 3)], axis=1)
    for j in range(24):
        expected = Slerp(np.arange(frames) / 30, Rotation.from_rotvec(rotvec[:, j]))(times).as_matrix()
        np.testing.assert_allclose(Rotation.from_rotvec(got[:, j]).as_matrix(), expected, atol=1e-12)
    # Betas without a frame axis pass through unchanged; torch stays torch.
    torch_params = {"transl": torch.as_tensor(params["transl"]), "betas": torch.zeros(10)}
    torch_out = resample_smpl(torch_params, 30, 20)
    assert isinstance(torch_out["transl"], torch.Tensor) and torch_out["betas"].shape == (10,)


def test_resample_smpl_rejects_unknown_keys_and_mismatched_frames():
    with pytest.raises(MogenBenchError, match="'dmpls'"):
        resample_smpl({"transl": np.zeros((5, 3)), "dmpls": np.zeros((5, 8))}, 60, 20)
    with pytest.raises(MogenBenchError, match=r"same leading shape \(\.\.\., T\)"):
        resample_smpl({"transl": np.zeros((5, 3)), "global_orient": np.zeros((6, 3))}, 60, 20)
    with pytest.raises(MogenBenchError, match=r"body_pose of shape \(\.\.\., T, 3 m\)"):
        resample_smpl({"body_pose": np.zeros((5, 70))}, 60, 20)
    with pytest.raises(MogenBenchError, match="0 frames"):
        resample_smpl({"transl": np.zeros((0, 3))}, 60, 20)


# -------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("fps", [0, -20, 0.0, float("nan"), float("inf"), True, "20"])
def test_bad_fps_raises(fps):
    with pytest.raises(MogenBenchError, match="frame rate"):
        resample_positions(np.zeros((4, 3)), fps, 20)
    with pytest.raises(MogenBenchError, match="frame rate"):
        resample_times(4, 30, fps)
    with pytest.raises(MogenBenchError, match="frame rate"):
        rescale_frame_index(3, fps, 20)


def test_too_short_or_misshapen_inputs_raise():
    with pytest.raises(MogenBenchError, match="0 frames"):
        resample_positions(np.zeros((2, 0, 3)), 30, 20)
    with pytest.raises(MogenBenchError, match="0 frames"):
        resample_rotations(np.zeros((0, 22, 4)), 30, 20)
    with pytest.raises(MogenBenchError, match="num_frames"):
        resample_times(0, 30, 20)
    with pytest.raises(MogenBenchError, match=r"\(\.\.\., T, J, 4\)"):
        resample_rotations(np.zeros((5, 22, 3)), 30, 20)
    with pytest.raises(MogenBenchError, match=r"\(\.\.\., T, C\)"):
        resample_positions(np.zeros(5), 30, 20)
    with pytest.raises(MogenBenchError, match="floating-point"):
        resample_positions(np.zeros((5, 3), dtype=int), 30, 20)


# ------------------------------------------------------------------------------------ stage boundaries


def test_rescale_frame_index_golden_values():
    assert [rescale_frame_index(f, 30, 20) for f in (0, 1, 2, 3, 4, 15, 66)] == [0, 1, 1, 2, 3, 10, 44]
    assert [rescale_frame_index(f, 120, 20) for f in (3, 9, 2, 8)] == [1, 2, 0, 1]  # halves round up
    assert rescale_frame_index(7, 20, 30) == 11  # 10.5 -> 11
    np.testing.assert_array_equal(rescale_frame_index(np.array([0, 3, 9, 15]), 120, 20), [0, 1, 2, 3])
    out = rescale_frame_index(torch.tensor([0, 4, 66]), 30, 20)
    assert isinstance(out, torch.Tensor) and out.tolist() == [0, 3, 44]
    with pytest.raises(MogenBenchError, match=">= 0"):
        rescale_frame_index(-1, 30, 20)
    with pytest.raises(MogenBenchError, match="integers"):
        rescale_frame_index(np.array([1.5]), 30, 20)


def test_the_humman_example_stages_stay_contiguous_at_20_fps():
    stages = json.loads(HUMMAN_EXAMPLE.read_text())
    bounds = [(s["start_frame"], s["end_frame"]) for s in stages]
    out = rescale_stage_bounds(bounds, HUMMAN_EXAMPLE_FRAMES, 30, 20)
    k = num_resampled_frames(HUMMAN_EXAMPLE_FRAMES, 30, 20)
    assert out[0][0] == 0 and out[-1][1] == k
    assert all(s < e for s, e in out) and all(a[1] == b[0] for a, b in itertools.pairwise(out))


def test_the_last_end_is_pinned_to_the_resampled_length():
    # 121 frames at 120 fps -> 21 frames; round(121 / 6) would say 20.
    assert rescale_stage_bounds([(0, 60), (60, 121)], 121, 120, 20) == [(0, 10), (10, 21)]


def test_a_stage_too_short_for_the_new_rate_raises():
    with pytest.raises(MogenBenchError, match=r"stage 1 .* becomes empty"):
        rescale_stage_bounds([(0, 60), (60, 62), (62, 121)], 121, 120, 20)
    with pytest.raises(MogenBenchError, match="contiguous"):
        rescale_stage_bounds([(0, 10), (11, 20)], 20, 30, 20)
    with pytest.raises(MogenBenchError, match="non-empty range"):
        rescale_stage_bounds([(0, 10), (10, 10)], 20, 30, 20)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    rates=st.sampled_from([(30, 20), (60, 20), (120, 20), (20, 30), (25, 12.5), (29.97, 20)]),
)
def test_contiguous_stages_stay_contiguous_and_non_empty_or_raise(lengths, rates):
    source, target = rates
    edges = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    n = edges[-1]
    bounds = list(itertools.pairwise(edges))
    try:
        out = rescale_stage_bounds(bounds, n, source, target)
    except MogenBenchError as error:
        assert "becomes empty" in str(error)
        # Only a stage shorter than a couple of source frames per target frame can vanish.
        assert min(lengths) <= 2 * source / target + 1
        return
    assert len(out) == len(bounds)
    assert out[0][0] == 0 and out[-1][1] == num_resampled_frames(n, source, target)
    assert all(s < e for s, e in out)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(out))
