"""SMPL parameters -> joints: the built-in skeleton, the smplx path on the synthetic model, input checks."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import smplx
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.smpl import (
    SMPL_NEUTRAL_REST_JOINTS,
    SMPL_PARENTS,
    export_smpl_npz,
    find_smpl_model_file,
    load_smpl_model,
    smpl_joints_builtin,
    smpl_joints_smplx,
)
from mogen_bench.motion.synthetic_smpl import synthetic_smpl_arrays, write_synthetic_smpl_model

BOTH = ("builtin", "smplx")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("body_models")
    write_synthetic_smpl_model(folder)
    return folder


@pytest.fixture(scope="module")
def model(model_dir):
    return load_smpl_model(model_dir)


@pytest.fixture
def joints_fn(request, model):
    """``params -> joints`` for either path (the smplx one on the synthetic model)."""
    if request.param == "builtin":
        return smpl_joints_builtin
    return lambda params: smpl_joints_smplx(params, model)


def random_params(shape=(40,), seed=0, betas=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {
        "global_orient": rng.normal(scale=1.0, size=(*shape, 3)),
        "body_pose": rng.normal(scale=0.4, size=(*shape, 69)),
        "transl": rng.normal(scale=0.5, size=(*shape, 3)),
    }
    if betas:
        params["betas"] = rng.normal(scale=1.0, size=(*shape, 10))
    return {k: v.astype(dtype) for k, v in params.items()}


def zero_params(num_frames=3, dtype=np.float64):
    return {
        "global_orient": np.zeros((num_frames, 3), dtype),
        "body_pose": np.zeros((num_frames, 69), dtype),
        "transl": np.zeros((num_frames, 3), dtype),
    }


def rotation_y(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# ------------------------------------------------------------------------------------------ rest skeleton


def test_parents_are_smpl_kintree():
    assert SMPL_PARENTS == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)


def test_rest_joints_golden_values():
    rest = SMPL_NEUTRAL_REST_JOINTS
    assert rest.shape == (24, 3) and rest.dtype == np.float64 and not rest.flags.writeable
    # Pelvis as published, and three joints summed along the tree from the published offsets.
    np.testing.assert_allclose(rest[0], [-0.0018, -0.2233, 0.0282], atol=1e-12)
    np.testing.assert_allclose(rest[1], [0.0677, -0.3147, 0.0214], atol=1e-12)  # left hip
    np.testing.assert_allclose(rest[15], [0.0051, 0.3527, 0.0364], atol=1e-12)  # head
    np.testing.assert_allclose(rest[20], [0.6813, 0.2222, -0.0437], atol=1e-12)  # left wrist


def test_rest_skeleton_is_an_upright_t_pose_with_left_at_plus_x():
    rest = SMPL_NEUTRAL_REST_JOINTS
    left = [1, 4, 7, 10, 13, 16, 18, 20, 22]
    right = [2, 5, 8, 11, 14, 17, 19, 21, 23]
    assert (rest[left, 0] > 0.05).all() and (rest[right, 0] < -0.05).all()
    # Nearly mirror-symmetric: the neutral body's sides differ by under 1.5 cm.
    mirrored = rest[right] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(rest[left] - mirrored).max() < 0.015
    assert rest[15, 1] > rest[12, 1] > rest[9, 1] > rest[0, 1] > rest[4, 1] > rest[7, 1]
    assert abs(rest[20, 1] - rest[16, 1]) < 0.01  # arms horizontal
    height = rest[15, 1] - min(rest[10, 1], rest[11, 1])
    assert 1.4 < height < 1.6  # head joint to toe joint of a 1.7 m body


# ------------------------------------------------------------------------------------------ built-in path


def test_builtin_zero_pose_gives_rest_joints():
    joints = smpl_joints_builtin(zero_params(3))
    assert joints.shape == (3, 24, 3) and joints.dtype == np.float64
    np.testing.assert_array_equal(joints, np.broadcast_to(SMPL_NEUTRAL_REST_JOINTS, (3, 24, 3)))


def test_builtin_float32_and_missing_transl():
    params = zero_params(2, np.float32)
    del params["transl"]
    joints = smpl_joints_builtin(params)
    assert joints.dtype == np.float32
    np.testing.assert_allclose(joints[1], SMPL_NEUTRAL_REST_JOINTS, atol=1e-7)


def test_builtin_ignores_betas():
    params = random_params(betas=True)
    without = {k: v for k, v in params.items() if k != "betas"}
    np.testing.assert_array_equal(smpl_joints_builtin(params), smpl_joints_builtin(without))


def test_builtin_bent_knee_golden():
    """A 90 degree knee bend about +x swings the shin forward (+z) by its length (matrix convention)."""
    params = zero_params(1)
    params["body_pose"][0, 3 * 3 : 3 * 3 + 3] = [math.pi / 2, 0.0, 0.0]  # joint 4, left knee: pose slot 3
    joints = smpl_joints_builtin(params)[0]
    rest = SMPL_NEUTRAL_REST_JOINTS
    shin = rest[7] - rest[4]
    expected_ankle = rest[4] + np.array([shin[0], -shin[2], shin[1]])  # Rx(90) (x, y, z) = (x, -z, y)
    np.testing.assert_allclose(joints[7], expected_ankle, atol=1e-12)
    np.testing.assert_allclose(joints[:5], rest[:5], atol=1e-12)  # nothing above the knee moves
    np.testing.assert_allclose(joints[8], rest[8], atol=1e-12)  # nor the other leg


def test_builtin_torch_gradients_and_dtype():
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in random_params().items()}
    joints = smpl_joints_builtin(params)
    assert isinstance(joints, torch.Tensor) and joints.dtype == torch.float64
    joints.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in params.values())
    np.testing.assert_allclose(params["transl"].grad.numpy(), 24.0)  # every joint moves one for one


def test_builtin_single_frame_without_time_axis():
    params = random_params((5,))
    single = {k: v[2] for k, v in params.items()}
    joints = smpl_joints_builtin(single)
    assert joints.shape == (24, 3)
    np.testing.assert_allclose(joints, smpl_joints_builtin(params)[2], atol=1e-12)


# ---------------------------------------------------------------------------------------- both paths agree


@pytest.mark.parametrize("joints_fn", BOTH, indirect=True)
def test_rotating_global_orient_rotates_about_the_pelvis(joints_fn):
    angle = math.pi / 2
    params = zero_params(1)
    params["global_orient"][0] = [0.0, angle, 0.0]
    joints = np.asarray(joints_fn(params))[0]
    rest = SMPL_NEUTRAL_REST_JOINTS
    expected = rest[0] + (rest - rest[0]) @ rotation_y(angle).T
    np.testing.assert_allclose(joints, expected, atol=1e-5)
    # 90 degrees about +y turns the left hip (+x) towards -z
    assert joints[1, 2] < joints[0, 2] - 0.05


@pytest.mark.parametrize("joints_fn", BOTH, indirect=True)
def test_transl_shifts_every_joint(joints_fn):
    params = random_params((6,), seed=3)
    moved = dict(params, transl=params["transl"] + np.array([0.3, -1.2, 2.5]))
    np.testing.assert_allclose(
        np.asarray(joints_fn(moved)) - np.asarray(joints_fn(params)),
        np.broadcast_to([0.3, -1.2, 2.5], (6, 24, 3)),
        atol=1e-5,
    )


@pytest.mark.parametrize("joints_fn", BOTH, indirect=True)
def test_leading_batch_dimensions(joints_fn):
    params = random_params((2, 3, 5), seed=4)
    joints = joints_fn(params)
    assert joints.shape == (2, 3, 5, 24, 3)
    flat = joints_fn({k: v.reshape(30, -1) for k, v in params.items()})
    np.testing.assert_allclose(joints.reshape(30, 24, 3), flat, atol=1e-6)
    one = joints_fn({k: v[1, 2] for k, v in params.items()})
    np.testing.assert_allclose(joints[1, 2], one, atol=1e-6)


def test_paths_agree_for_zero_betas(model):
    params = random_params((2, 40), seed=0)
    params["betas"] = np.zeros((2, 40, 10))
    exact = smpl_joints_smplx(params, model, chunk_size=16)  # 80 frames in 5 uneven chunks
    builtin = smpl_joints_builtin(params)
    assert exact.shape == builtin.shape == (2, 40, 24, 3)
    np.testing.assert_allclose(exact, builtin, atol=1e-5)


def test_paths_agree_on_torch_float32(model):
    params = {k: torch.tensor(v) for k, v in random_params(seed=7, dtype=np.float32).items()}
    exact = smpl_joints_smplx(params, model)
    assert isinstance(exact, torch.Tensor) and exact.dtype == torch.float32
    torch.testing.assert_close(exact, smpl_joints_builtin(params), atol=1e-5, rtol=0)


# -------------------------------------------------------------------------------------------- smplx path


def test_smplx_zero_pose_gives_model_rest_joints(model_dir):
    joints = smpl_joints_smplx(zero_params(2), model_dir)
    np.testing.assert_allclose(joints, np.broadcast_to(SMPL_NEUTRAL_REST_JOINTS, (2, 24, 3)), atol=1e-6)


def test_betas_move_smplx_joints_but_not_builtin(model):
    params = random_params(seed=1, betas=True)
    zero = dict(params, betas=np.zeros_like(params["betas"]))
    shaped = smpl_joints_smplx(params, model)
    assert np.abs(shaped - smpl_joints_smplx(zero, model)).max() > 0.01
    np.testing.assert_array_equal(smpl_joints_builtin(params), smpl_joints_builtin(zero))


def test_first_beta_scales_the_synthetic_body(model):
    """Golden: the synthetic model's beta 0 = +1 scales the rest skeleton by 5% about the pelvis."""
    params = zero_params(1)
    params["betas"] = np.zeros((1, 10))
    params["betas"][0, 0] = 1.0
    joints = smpl_joints_smplx(params, model)[0]
    rest = SMPL_NEUTRAL_REST_JOINTS
    np.testing.assert_allclose(joints, rest[0] + 1.05 * (rest - rest[0]), atol=1e-6)


def test_one_row_of_betas_broadcasts_over_frames(model):
    params = random_params(seed=2, betas=True)
    row = params["betas"][0]
    per_frame = dict(params, betas=np.broadcast_to(row, params["betas"].shape).copy())
    np.testing.assert_allclose(
        smpl_joints_smplx(dict(params, betas=row), model), smpl_joints_smplx(per_frame, model), atol=1e-6
    )


def test_chunk_size_does_not_change_results(model):
    params = random_params((13,), seed=5, betas=True)
    np.testing.assert_allclose(
        smpl_joints_smplx(params, model, chunk_size=1),
        smpl_joints_smplx(params, model, chunk_size=1000),
        atol=1e-6,
    )


def test_humman_npz_file_as_params(model, tmp_path):
    """A HuMMan-MoGen motion file (np.load'ed, read-only arrays) can be passed as it is."""
    params = random_params((7,), seed=6, betas=True, dtype=np.float32)
    np.savez(tmp_path / "p000459_a000011.npz", **params)
    with np.load(tmp_path / "p000459_a000011.npz") as motion:
        exact = smpl_joints_smplx(motion, model)
        builtin = smpl_joints_builtin(motion)
    assert exact.shape == builtin.shape == (7, 24, 3) and exact.dtype == np.float32


# --------------------------------------------------------------------------------- model files and loading


def test_synthetic_model_is_structurally_smpl():
    arrays = synthetic_smpl_arrays()
    shapes = {k: v.shape for k, v in arrays.items()}
    assert shapes["v_template"] == (6890, 3) and shapes["J_regressor"] == (24, 6890)
    assert shapes["weights"] == (6890, 24) and shapes["posedirs"] == (6890, 3, 207)
    assert shapes["shapedirs"] == (6890, 3, 10) and shapes["kintree_table"] == (2, 24)
    assert arrays["f"].shape[1] == 3 and arrays["f"].min() >= 0 and arrays["f"].max() < 6890
    assert np.unique(arrays["f"]).size == 6890  # every vertex is on some face
    np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0)
    np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0)
    np.testing.assert_allclose(
        arrays["J_regressor"] @ arrays["v_template"], SMPL_NEUTRAL_REST_JOINTS, atol=1e-12
    )
    assert tuple(arrays["kintree_table"][0, 1:]) == SMPL_PARENTS[1:]
    joint_dirs = np.einsum("jv,vck->jck", arrays["J_regressor"], arrays["shapedirs"])
    assert (np.abs(joint_dirs).max(axis=(0, 1)) > 1e-3).all()  # every shape component moves some joint


def test_model_file_layouts_are_found(tmp_path):
    flat = write_synthetic_smpl_model(tmp_path / "flat")
    nested = write_synthetic_smpl_model(tmp_path / "nested" / "smpl", gender="male")
    assert flat.name == "SMPL_NEUTRAL.npz" and nested.name == "SMPL_MALE.npz"
    assert find_smpl_model_file(tmp_path / "flat") == flat
    assert find_smpl_model_file(tmp_path / "nested", gender="MALE") == nested
    assert find_smpl_model_file(flat) == flat
    params = random_params((4,))
    np.testing.assert_allclose(
        smpl_joints_smplx(params, nested, gender="male"), smpl_joints_smplx(params, flat), atol=1e-6
    )


def test_missing_model_folder_names_path_files_and_fix(tmp_path):
    missing = tmp_path / "no_such_body_models"
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_smplx(zero_params(), missing)
    text = str(info.value)
    assert str(missing) in text and "SMPL_NEUTRAL.npz" in text and "SMPL_NEUTRAL.pkl" in text
    assert info.value.field == "model_path" and "smpl_joints_builtin" in info.value.fix
    assert "smpl.is.tue.mpg.de" in info.value.fix


def test_empty_model_folder_lists_what_was_looked_for(tmp_path):
    with pytest.raises(MogenBenchError) as info:
        load_smpl_model(tmp_path, gender="female")
    text = str(info.value)
    assert "SMPL_FEMALE.npz" in text and "smpl/SMPL_FEMALE.pkl" in text and info.value.file == str(tmp_path)


def test_pickle_model_needs_allow_pickle(tmp_path):
    pkl = write_synthetic_smpl_model(tmp_path, fmt="pkl")
    assert pkl.name == "SMPL_NEUTRAL.pkl"
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_smplx(zero_params(), tmp_path)
    assert info.value.field == "allow_pickle" and "pickle" in str(info.value)
    params = random_params((5,), betas=True)
    np.testing.assert_allclose(
        smpl_joints_smplx(params, tmp_path, allow_pickle=True),
        smpl_joints_smplx(params, write_synthetic_smpl_model(tmp_path / "npz")),
        atol=1e-6,
    )


def test_smplx_own_loader_reads_the_synthetic_pickle(tmp_path):
    """The synthetic model in smplx.create's layout loads through smplx alone and gives the rest joints."""
    write_synthetic_smpl_model(tmp_path / "smpl", fmt="pkl")
    body = smplx.create(str(tmp_path), model_type="smpl", gender="neutral")
    with torch.no_grad():
        joints = body().joints[0, :24].numpy()
    np.testing.assert_allclose(joints, SMPL_NEUTRAL_REST_JOINTS, atol=1e-6)


def test_export_npz_round_trip(tmp_path, model):
    pkl_model = load_smpl_model(write_synthetic_smpl_model(tmp_path / "pkl", fmt="pkl"), allow_pickle=True)
    exported = export_smpl_npz(pkl_model, tmp_path / "out" / "SMPL_NEUTRAL.npz")
    assert sorted(p.name for p in exported.parent.iterdir()) == ["SMPL_NEUTRAL.npz"]  # no temporary left
    params = random_params((6,), seed=8, betas=True)
    np.testing.assert_allclose(
        smpl_joints_smplx(params, exported.parent), smpl_joints_smplx(params, model), atol=1e-6
    )


def test_npz_with_pickled_objects_is_refused(tmp_path):
    arrays = synthetic_smpl_arrays()
    arrays["f"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    with pytest.raises(MogenBenchError, match="pickled Python objects"):
        load_smpl_model(tmp_path)


def test_smplx_model_file_given_for_smpl_is_refused(tmp_path):
    arrays = synthetic_smpl_arrays()
    arrays["J_regressor"] = np.zeros((55, 6890))  # an SMPL-X regressor
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    with pytest.raises(MogenBenchError) as info:
        load_smpl_model(tmp_path)
    assert info.value.field == "J_regressor" and "(24, 6890)" in str(info.value)


def test_broken_pickle_is_reported(tmp_path):
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"<html>not a model</html>")
    with pytest.raises(MogenBenchError, match="unpickle"):
        load_smpl_model(tmp_path, allow_pickle=True)


def test_npz_missing_an_array_is_reported(tmp_path):
    arrays = synthetic_smpl_arrays()
    del arrays["weights"]
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    with pytest.raises(MogenBenchError) as info:
        load_smpl_model(tmp_path)
    assert info.value.field == "weights"


def test_pickled_synthetic_model_holds_only_numpy_arrays(tmp_path):
    with open(write_synthetic_smpl_model(tmp_path, fmt="pkl"), "rb") as handle:
        data = pickle.load(handle)  # our own file, written just above
    assert all(type(v) is np.ndarray for v in data.values())


# -------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("func", ["builtin", "smplx"])
def test_wrong_body_pose_width_names_field_and_shape(func, model):
    params = zero_params(4)
    params["body_pose"] = np.zeros((4, 66))
    call = smpl_joints_builtin if func == "builtin" else (lambda p: smpl_joints_smplx(p, model))
    with pytest.raises(MogenBenchError) as info:
        call(params)
    assert info.value.field == "body_pose"
    assert "(..., T, 69)" in str(info.value) and "(4, 66)" in str(info.value)


@pytest.mark.parametrize("func", ["builtin", "smplx"])
def test_nan_is_refused(func, model):
    params = zero_params(4)
    params["global_orient"][2, 1] = np.nan
    call = smpl_joints_builtin if func == "builtin" else (lambda p: smpl_joints_smplx(p, model))
    with pytest.raises(MogenBenchError) as info:
        call(params)
    assert info.value.field == "global_orient" and "(2, 1)" in str(info.value)


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [
        (lambda p: p.pop("body_pose"), "body_pose", "missing"),
        (lambda p: p.__setitem__("global_orient", np.zeros((4, 4))), "global_orient", "(..., T, 3)"),
        (lambda p: p.__setitem__("transl", np.zeros((5, 3))), "transl", "must match"),
        (lambda p: p.__setitem__("transl", np.zeros((4, 3), dtype=np.int64)), "transl", "floating-point"),
        (
            lambda p: p.__setitem__("body_pose", [[0.0] * 69] * 4),
            "body_pose",
            "as a torch tensor or numpy array",
        ),
        (lambda p: p.__setitem__("transl", np.full((4, 3), np.inf)), "transl", "infinite"),
    ],
)
def test_bad_parameters_name_the_field(change, field, needle):
    params = zero_params(4)
    change(params)
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_builtin(params)
    assert info.value.field == field and needle in str(info.value)


def test_bad_betas_name_the_field(model):
    params = zero_params(4)
    params["betas"] = np.zeros((3, 10))
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_smplx(params, model)
    assert info.value.field == "betas" and "broadcast" in str(info.value)
    params["betas"] = np.zeros((4, 16))  # the model was loaded with 10 components
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_smplx(params, model)
    assert info.value.field == "betas" and "16" in str(info.value)


def test_params_must_be_a_mapping_and_gender_known(model_dir):
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_builtin(np.zeros((4, 72)))
    assert info.value.field == "params"
    with pytest.raises(MogenBenchError) as info:
        smpl_joints_smplx(zero_params(), model_dir, gender="kid")
    assert info.value.field == "gender"


def test_no_frames_gives_empty_joints(model):
    params = zero_params(0)
    assert smpl_joints_builtin(params).shape == (0, 24, 3)
    assert smpl_joints_smplx(params, model).shape == (0, 24, 3)
