"""SMPL parameters -> the 24 SMPL joint positions ``(..., T, 24, 3)``, with or without a body model.

Two ways, with the same joint order (``skeletons.SMPL24``) and the same coordinates (SMPL's own: the rest
body stands along +y, faces +z, and its left is +x; ``transl`` is added last, as smplx does):

- ``smpl_joints_smplx(params, model_path)`` runs the user's SMPL body model through the ``smplx`` package.
  It is exact and uses the shape: ``betas`` move the joints. Frames go through smplx in chunks, one call per
  chunk, never one per frame.
- ``smpl_joints_builtin(params)`` needs no body model. It is forward kinematics of a built-in rest skeleton,
  the joints of the SMPL *neutral* model with zero betas (``SMPL_NEUTRAL_REST_JOINTS``), posed with
  ``global_orient`` (pelvis) and ``body_pose`` (joints 1..23) and shifted by ``transl``. ``betas`` are
  ignored, so every body has the average neutral proportions; use it where a body model cannot be shipped
  (tests, CI, quick looks), and the smplx path where bone lengths matter.

Both follow SMPL's kinematics (smplx ``lbs.batch_rigid_transform``): joint ``j`` sits at its parent's
position plus the parent's global rotation applied to the rest offset ``J_j - J_parent``; the global
orientation turns the body about the rest pelvis joint ``J_0`` (not the origin), and ``transl`` moves it.

Body model files, and why ``.npz`` is preferred. smplx 0.1.28's ``SMPL`` reads only pickles:
``SMPL_{GENDER}.pkl`` in a folder (or any file path) goes through ``pickle.load``, which runs code a
crafted file carries, and the official ``.pkl`` files also need the unmaintained ``chumpy`` package. Here a
``.npz`` model (numpy arrays only) is preferred: it is read with ``np.load(..., allow_pickle=False)`` and
handed to smplx as ``data_struct``, so nothing is unpickled. A ``.pkl`` is used only when the caller passes
``allow_pickle=True`` (do that only for a file from the official SMPL download); ``export_smpl_npz`` then
turns the loaded model into an ``.npz`` once, so later runs need no pickle. A folder is searched for
``SMPL_{GENDER}.npz``, ``smpl/SMPL_{GENDER}.npz`` (smplx.create's layout), then the same two ``.pkl`` names.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from annotation.files import atomic_writer
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.rotations import axis_angle_to_matrix
from mogen_bench.motion.skeletons import SMPL24
from mogen_bench.motion.tensors import floating_tensor, shape_text

if TYPE_CHECKING:  # smplx is imported lazily: the built-in path and `--help` do not need it
    import smplx

__all__ = [
    "SMPL_NEUTRAL_REST_JOINTS",
    "SMPL_NEUTRAL_REST_OFFSETS",
    "SMPL_NUM_VERTICES",
    "SMPL_PARENTS",
    "export_smpl_npz",
    "find_smpl_model_file",
    "load_smpl_model",
    "smpl_joints_builtin",
    "smpl_joints_smplx",
]

SMPL_PARENTS: tuple[int, ...] = SMPL24.parents  # SMPL's kintree_table[0], with -1 for the pelvis
SMPL_NUM_VERTICES = 6890
GENDERS = ("neutral", "male", "female")

# Rest skeleton of the SMPL neutral model with zero betas, in metres and SMPL's own axes: the pelvis as an
# absolute position, every other joint as the offset from its parent (J_j - J_parent), in SMPL joint order.
# Source: the body positions ("pos") in ZhengyiLuo/PHC, phc/data/assets/mjcf/smpl_humanoid.xml (commit
# 557d6c068069e1d90966b44432e90c069e26377b), one MuJoCo body per SMPL joint, rounded to 4 decimals. PHC
# computes them in uhc/smpllib/smpl_parser.py (SMPL_Parser.get_offsets / get_mesh_offsets: the smplx joints
# of the zero pose, each minus its parent's, the pelvis absolute) with SMPL_Robot's defaults in
# uhc/smpllib/smpl_local_robot.py: gender 0 (neutral) and betas zeros. The neutral model is the one PHC's
# README asks for: basicmodel_neutral_lbs_10_207_0_v1.1.0, renamed SMPL_NEUTRAL.pkl. Cross-checks: NVlabs/
# ProtoMotions, protomotions/data/assets/mjcf/smpl_humanoid.xml has the same numbers (axes reordered to
# z-up), and EDGE-derived dance code carries the same skeleton to 8 decimals (pelvis -0.00179506,
# -0.22333345, 0.02821913), equal to these after rounding. Copied numbers, since the model is licensed.
SMPL_NEUTRAL_REST_OFFSETS: tuple[tuple[float, float, float], ...] = (
    (-0.0018, -0.2233, 0.0282),   # 0 pelvis (absolute)
    (0.0695, -0.0914, -0.0068),   # 1 left_hip
    (-0.0677, -0.0905, -0.0043),  # 2 right_hip
    (-0.0025, 0.1090, -0.0267),   # 3 spine1
    (0.0343, -0.3752, -0.0045),   # 4 left_knee
    (-0.0383, -0.3826, -0.0089),  # 5 right_knee
    (0.0055, 0.1352, 0.0011),     # 6 spine2
    (-0.0136, -0.3980, -0.0437),  # 7 left_ankle
    (0.0158, -0.3984, -0.0423),   # 8 right_ankle
    (0.0015, 0.0529, 0.0254),     # 9 spine3
    (0.0264, -0.0558, 0.1193),    # 10 left_foot
    (-0.0254, -0.0481, 0.1233),   # 11 right_foot
    (-0.0028, 0.2139, -0.0429),   # 12 neck
    (0.0788, 0.1217, -0.0341),    # 13 left_collar
    (-0.0818, 0.1188, -0.0386),   # 14 right_collar
    (0.0052, 0.0650, 0.0513),     # 15 head
    (0.0910, 0.0305, -0.0089),    # 16 left_shoulder
    (-0.0960, 0.0326, -0.0091),   # 17 right_shoulder
    (0.2596, -0.0128, -0.0275),   # 18 left_elbow
    (-0.2537, -0.0133, -0.0214),  # 19 right_elbow
    (0.2492, 0.0090, -0.0012),    # 20 left_wrist
    (-0.2553, 0.0078, -0.0056),   # 21 right_wrist
    (0.0840, -0.0082, -0.0149),   # 22 left_hand
    (-0.0846, -0.0061, -0.0103),  # 23 right_hand
)  # fmt: skip


def _rest_joints_from_offsets(offsets: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    joints = np.zeros((len(offsets), 3), dtype=np.float64)
    for j, offset in enumerate(offsets):
        parent = SMPL_PARENTS[j]
        joints[j] = offset if parent < 0 else joints[parent] + np.asarray(offset)
    joints.flags.writeable = False
    return joints


# Absolute rest joint positions (24, 3), float64, read-only: the offsets summed along the kinematic tree
# (so the 4-decimal rounding adds up to at most 0.35 mm at the hands and the head).
SMPL_NEUTRAL_REST_JOINTS: np.ndarray = _rest_joints_from_offsets(SMPL_NEUTRAL_REST_OFFSETS)
_REST_JOINTS_TENSOR = torch.tensor(SMPL_NEUTRAL_REST_JOINTS.tolist(), dtype=torch.float64)

# Trailing shape of each SMPL parameter; betas take any number of shape components.
_PARAM_SHAPES = {"global_orient": 3, "body_pose": 69, "transl": 3}
_PARAM_HINTS = {
    "global_orient": "the pelvis rotation as one axis-angle vector (3 numbers) per frame",
    "body_pose": (
        "SMPL joints 1..23 as axis-angle, 23 x 3 = 69 numbers per frame; 63 numbers are an SMPL-H / "
        "SMPL-X body pose (21 joints) and 66 usually the root plus those, while SMPL needs all 23 joints"
    ),
    "transl": "the root translation (3 numbers) per frame",
    "betas": "the shape coefficients, (..., T, num_betas) or one row (..., num_betas) for the whole motion",
}


# ------------------------------------------------------------------------------------------- input checks


def _as_tensor(func: str, name: str, value: object, trailing: int | None) -> torch.Tensor:
    expected = f"(..., T, {trailing if trailing is not None else 'num_betas'})"
    tensor = floating_tensor(func, name, value, expected, label=f"params[{name!r}]")
    shape = tuple(tensor.shape)
    if len(shape) == 0 or (trailing is not None and shape[-1] != trailing):
        raise MogenBenchError(
            f"{func}() expects params[{name!r}] of shape {expected}, got shape {shape_text(shape)}",
            field=name,
            fix=f"pass {_PARAM_HINTS[name]}",
        )
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = tuple(int(i) for i in torch.nonzero(~finite)[0].tolist())
        raise MogenBenchError(
            f"{func}(): params[{name!r}] holds NaN or infinite values (first at index {bad})",
            field=name,
            fix=f"clean or drop the frames with non-finite {name} before computing joints",
        )
    return tensor


class _Params:
    """Checked SMPL parameters flattened to ``N`` rows, and how to give the result back."""

    def __init__(self, func: str, params: object, need_betas: bool) -> None:
        if not isinstance(params, Mapping) and not (
            hasattr(params, "keys") and hasattr(params, "__getitem__")
        ):
            raise MogenBenchError(
                f"{func}() needs params as a mapping of SMPL parameter names to arrays, "
                f"got {type(params).__name__}",
                field="params",
                fix="pass a dict (or an np.load'ed .npz) with global_orient, body_pose and optionally "
                "transl and betas",
            )
        given: dict[str, object] = {}
        for name in ("global_orient", "body_pose"):
            if name not in params:
                raise MogenBenchError(
                    f"{func}() needs params[{name!r}], which is missing",
                    field=name,
                    fix=f"add {name}: {_PARAM_HINTS[name]}",
                )
            given[name] = params[name]
        for name in ("transl", "betas"):
            if name in params and params[name] is not None:
                given[name] = params[name]
        if not need_betas:
            given.pop("betas", None)

        tensors = {name: _as_tensor(func, name, v, _PARAM_SHAPES.get(name)) for name, v in given.items()}
        self.as_numpy = not any(isinstance(v, torch.Tensor) for v in given.values())
        dtype = tensors["global_orient"].dtype
        for t in tensors.values():
            dtype = torch.promote_types(dtype, t.dtype)
        devices = [v.device for v in given.values() if isinstance(v, torch.Tensor)]
        self.device = devices[0] if devices else torch.device("cpu")
        self.dtype = dtype
        tensors = {k: v.to(dtype=dtype, device=self.device) for k, v in tensors.items()}

        self.lead = tuple(tensors["global_orient"].shape[:-1])
        for name in ("body_pose", "transl"):
            if name in tensors and tuple(tensors[name].shape[:-1]) != self.lead:
                raise MogenBenchError(
                    f"{func}(): params[{name!r}] has leading shape "
                    f"{shape_text(tuple(tensors[name].shape[:-1]))} but global_orient has "
                    f"{shape_text(self.lead)}; they must match frame for frame",
                    field=name,
                    fix=f"give {name} the shape {shape_text((*self.lead, _PARAM_SHAPES[name]))}",
                )
        self.num_frames = int(np.prod(self.lead, dtype=np.int64))
        self.global_orient = tensors["global_orient"].reshape(self.num_frames, 3)
        self.body_pose = tensors["body_pose"].reshape(self.num_frames, 69)
        transl = tensors.get("transl")
        self.transl = (
            torch.zeros((self.num_frames, 3), dtype=dtype, device=self.device)
            if transl is None
            else transl.reshape(self.num_frames, 3)
        )
        self.betas: torch.Tensor | None = None
        if "betas" in tensors:
            betas = tensors["betas"]
            lead_b = tuple(betas.shape[:-1])
            try:
                ok = torch.broadcast_shapes(lead_b, self.lead) == torch.Size(self.lead)
            except RuntimeError:
                ok = False
            if not ok:
                raise MogenBenchError(
                    f"{func}(): params['betas'] has leading shape {shape_text(lead_b)}, which does not "
                    f"broadcast to the frames' shape {shape_text(self.lead)}",
                    field="betas",
                    fix=f"give betas the shape {shape_text((*self.lead, betas.shape[-1]))} or one row "
                    f"{shape_text((betas.shape[-1],))} for the whole motion",
                )
            self.betas = betas.expand(*self.lead, betas.shape[-1]).reshape(self.num_frames, betas.shape[-1])

    def give_back(self, joints: torch.Tensor) -> np.ndarray | torch.Tensor:
        joints = joints.to(dtype=self.dtype, device=self.device).reshape(*self.lead, 24, 3)
        return joints.detach().cpu().numpy() if self.as_numpy else joints


# ------------------------------------------------------------------------------------- built-in skeleton


def _forward_kinematics(rest: torch.Tensor, rotations: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """SMPL forward kinematics: rest joints ``(24, 3)``, local rotation matrices ``(N, 24, 3, 3)``."""
    parents = SMPL_PARENTS
    positions: list[torch.Tensor] = [rest[0].expand(rotations.shape[0], 3)]
    global_rot: list[torch.Tensor] = [rotations[:, 0]]
    for j in range(1, 24):  # SMPL orders parents before children
        p = parents[j]
        offset = rest[j] - rest[p]
        positions.append(positions[p] + global_rot[p] @ offset)
        global_rot.append(global_rot[p] @ rotations[:, j])
    return torch.stack(positions, dim=-2) + transl[:, None, :]


def smpl_joints_builtin(params: Mapping[str, Any]) -> np.ndarray | torch.Tensor:
    """Joint positions ``(..., T, 24, 3)`` from SMPL parameters, without a body model.

    ``params`` maps ``global_orient`` ``(..., T, 3)``, ``body_pose`` ``(..., T, 69)`` and optionally
    ``transl`` ``(..., T, 3)`` (zero if absent) to numpy arrays or torch tensors; ``betas`` and other keys
    are ignored. The rest skeleton is ``SMPL_NEUTRAL_REST_JOINTS`` (SMPL neutral, zero betas), so the
    result equals the smplx joints of the neutral model only for zero betas; a body of another shape gets
    the neutral bone lengths. Numpy in gives numpy out, torch in gives torch out on the input's device and
    dtype (differentiable). Wrong shapes, non-float dtypes and NaN raise ``MogenBenchError`` naming the field.
    """
    p = _Params("smpl_joints_builtin", params, need_betas=False)
    rest = _REST_JOINTS_TENSOR.to(dtype=p.dtype, device=p.device)
    axis_angles = torch.cat([p.global_orient, p.body_pose], dim=-1).reshape(p.num_frames, 24, 3)
    rotations = axis_angle_to_matrix(axis_angles)
    return p.give_back(_forward_kinematics(rest, rotations, p.transl))


# ------------------------------------------------------------------------------------------ smplx models


def _import_smplx():
    try:
        import smplx
    except ImportError as error:  # pragma: no cover - smplx is a declared dependency
        raise MogenBenchError(
            f"the smplx package is not importable ({error})",
            field="smplx",
            fix="pip install 'smplx>=0.1.28', or use smpl_joints_builtin, which needs no body model",
        ) from None
    return smplx


def _check_gender(gender: str) -> str:
    if not isinstance(gender, str) or gender.lower() not in GENDERS:
        raise MogenBenchError(
            f"unknown SMPL gender {gender!r}", field="gender", fix=f"use one of {', '.join(GENDERS)}"
        )
    return gender.lower()


def _missing_model_fix(gender: str) -> str:
    name = f"SMPL_{gender.upper()}"
    official = {
        "neutral": "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl "
        "(or basicModel_neutral_lbs_10_207_0_v1.0.0.pkl)",
        "male": "basicmodel_m_lbs_10_207_0_v1.1.0.pkl",
        "female": "basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
    }[gender]
    return (
        f"put {name}.npz (numpy arrays only, loaded without pickle) or {name}.pkl into the folder (or into "
        f"its smpl/ subfolder). The .pkl is the official {official} from https://smpl.is.tue.mpg.de "
        f"(licence required), renamed; it is loaded with pickle only if you pass allow_pickle=True, and "
        f"export_smpl_npz turns it into {name}.npz once. Without a body model, use smpl_joints_builtin"
    )


def find_smpl_model_file(model_path: str | os.PathLike, gender: str = "neutral") -> Path:
    """The SMPL model file that ``model_path`` (a folder or a file) names for ``gender``.

    A folder is searched for ``SMPL_{GENDER}.npz``, ``smpl/SMPL_{GENDER}.npz``, ``SMPL_{GENDER}.pkl`` and
    ``smpl/SMPL_{GENDER}.pkl``, in that order. Raises ``MogenBenchError`` naming the path, the files looked
    for and where the official files come from when nothing is there.
    """
    gender = _check_gender(gender)
    path = Path(model_path).expanduser()
    name = f"SMPL_{gender.upper()}"
    if path.is_file():
        return path
    if not path.exists():
        raise MogenBenchError(
            f"SMPL body model path does not exist (expected a folder holding {name}.npz or {name}.pkl, "
            "or the model file itself)",
            file=str(path),
            field="model_path",
            fix=_missing_model_fix(gender),
        )
    candidates = [path / f"{name}.npz", path / "smpl" / f"{name}.npz"]
    candidates += [path / f"{name}.pkl", path / "smpl" / f"{name}.pkl"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c.relative_to(path)) for c in candidates)
    raise MogenBenchError(
        f"no SMPL {gender} model in this folder (looked for {looked})",
        file=str(path),
        field="model_path",
        fix=_missing_model_fix(gender),
    )


def _read_npz_model(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise MogenBenchError(
                "the model .npz holds pickled Python objects, which are not loaded (they can run code)",
                file=str(path),
                fix="save every model array as a plain numeric numpy array (export_smpl_npz does)",
            ) from None
        raise MogenBenchError(f"cannot read the model .npz ({error})", file=str(path)) from None
    except (OSError, EOFError, KeyError) as error:  # truncated zip, not a zip, ...
        raise MogenBenchError(
            f"cannot read the model .npz ({type(error).__name__}: {error})",
            file=str(path),
            fix="download or export the model file again",
        ) from None
    if "f" not in arrays and "faces" in arrays:
        arrays["f"] = arrays.pop("faces")
    required = ("v_template", "f", "J_regressor", "weights", "posedirs", "shapedirs", "kintree_table")
    for key in required:
        if key not in arrays:
            raise MogenBenchError(
                f"the SMPL model .npz has no array {key!r} (it has {', '.join(sorted(arrays)) or 'none'})",
                file=str(path),
                field=key,
                fix="give an SMPL model with v_template, f, J_regressor, weights, posedirs, shapedirs and "
                "kintree_table",
            )
    _check_model_arrays(
        path,
        v_template=arrays["v_template"],
        J_regressor=arrays["J_regressor"],
        weights=arrays["weights"],
        posedirs=arrays["posedirs"],
        shapedirs=arrays["shapedirs"],
        parents=np.asarray(arrays["kintree_table"])[0],
        faces=arrays["f"],
    )
    return arrays


def _check_model_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Check an SMPL model's array shapes, so a SMPL-H / SMPL-X file fails here, not inside smplx."""
    v = np.shape(arrays["v_template"])
    num_vertices = v[0] if len(v) == 2 else -1
    expected = {
        "v_template": (SMPL_NUM_VERTICES, 3),
        "J_regressor": (24, SMPL_NUM_VERTICES),
        "weights": (SMPL_NUM_VERTICES, 24),
    }
    for key, shape in expected.items():
        if tuple(np.shape(arrays[key])) != shape:
            raise MogenBenchError(
                f"model array {key!r} has shape {shape_text(tuple(np.shape(arrays[key])))}, expected "
                f"{shape_text(shape)} for SMPL (6890 vertices, 24 joints)"
                + (" - this looks like an SMPL-H / SMPL-X / other model" if num_vertices != 6890 else ""),
                file=str(path),
                field=key,
                fix="give an SMPL model (SMPL_NEUTRAL / SMPL_MALE / SMPL_FEMALE), not SMPL-H or SMPL-X",
            )
    for key in ("posedirs", "shapedirs"):
        shape = tuple(np.shape(arrays[key]))
        if len(shape) == 2 and key == "posedirs":  # smplx's own layout: (207, V*3)
            shape_ok = shape == (207, SMPL_NUM_VERTICES * 3)
        else:
            shape_ok = len(shape) == 3 and shape[:2] == (SMPL_NUM_VERTICES, 3)
            shape_ok = shape_ok and (shape[2] == 207 if key == "posedirs" else shape[2] >= 1)
        if not shape_ok:
            want = "(6890, 3, 207)" if key == "posedirs" else "(6890, 3, num_betas)"
            raise MogenBenchError(
                f"model array {key!r} has shape {shape_text(shape)}, expected {want}",
                file=str(path),
                field=key,
                fix="give an SMPL model file with the standard array layout",
            )
    parents = np.asarray(arrays["parents"]).astype(np.int64)
    if parents.shape != (24,) or tuple(parents[1:].tolist()) != SMPL_PARENTS[1:]:
        raise MogenBenchError(
            "model kinematic tree is not SMPL's 24-joint tree (kintree_table[0] = parents)",
            file=str(path),
            field="kintree_table",
            fix=f"give an SMPL model; its parents are {list(SMPL_PARENTS)}",
        )
    faces = np.asarray(arrays["faces"])
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and int(faces.max()) >= num_vertices):
        raise MogenBenchError(
            f"model faces 'f' have shape {shape_text(faces.shape)} or index past the vertices",
            file=str(path),
            field="f",
            fix="give (F, 3) triangle vertex indices",
        )


def load_smpl_model(
    model_path: str | os.PathLike,
    gender: str = "neutral",
    *,
    num_betas: int = 10,
    allow_pickle: bool = False,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
) -> smplx.SMPL:
    """An ``smplx.SMPL`` module for the model that ``model_path`` names (see ``find_smpl_model_file``).

    ``.npz`` files are read with ``np.load(allow_pickle=False)`` and passed to smplx as ``data_struct``.
    ``.pkl`` files are loaded by smplx with ``pickle.load``, which can execute code hidden in the file, so
    they need ``allow_pickle=True``; the official ones also need ``chumpy``. The module has no parameters
    of its own (every call passes betas, pose and translation). Load once and pass the module to
    ``smpl_joints_smplx`` when converting many motions.
    """
    smplx = _import_smplx()
    gender = _check_gender(gender)
    path = find_smpl_model_file(model_path, gender)
    if not isinstance(num_betas, int) or num_betas < 1:
        raise MogenBenchError(f"num_betas must be a positive integer, got {num_betas!r}", field="num_betas")
    options = dict(
        gender=gender,
        num_betas=num_betas,
        dtype=dtype,
        create_betas=False,
        create_global_orient=False,
        create_body_pose=False,
        create_transl=False,
    )
    # smplx prints a warning to stdout for models with fewer than 300 shape components (every SMPL file).
    quiet = contextlib.redirect_stdout(io.StringIO())
    if path.suffix.lower() == ".npz":
        arrays = _read_npz_model(path)
        with quiet:
            model = smplx.SMPL(model_path=str(path), data_struct=smplx.utils.Struct(**arrays), **options)
    else:
        if not allow_pickle:
            raise MogenBenchError(
                "this SMPL model is a pickle; smplx would load it with pickle.load, which can run code "
                "hidden in the file, so it is not loaded unless you allow it",
                file=str(path),
                field="allow_pickle",
                fix="if the file is the official SMPL download, pass allow_pickle=True (and consider "
                "export_smpl_npz(model, 'SMPL_NEUTRAL.npz') once, to use the pickle-free .npz from then on)",
            )
        try:
            with quiet:
                model = smplx.SMPL(model_path=str(path), **options)
        except ModuleNotFoundError as error:
            raise MogenBenchError(
                f"loading the SMPL pickle needs the module {error.name!r} ({error})",
                file=str(path),
                fix="the official SMPL .pkl files hold chumpy objects: install a chumpy build that works "
                "with your numpy, or remove them with smplx's tools/clean_ch.py, then export_smpl_npz the "
                "model",
            ) from None
        except (pickle.UnpicklingError, EOFError, UnicodeDecodeError, AttributeError, ImportError) as error:
            raise MogenBenchError(
                f"cannot unpickle the SMPL model ({type(error).__name__}: {error}); the file may be "
                "truncated or an HTML page saved under the model's name",
                file=str(path),
                fix="download the model again from https://smpl.is.tue.mpg.de",
            ) from None
        _check_model_arrays(
            path,
            v_template=model.v_template.cpu().numpy(),
            J_regressor=model.J_regressor.cpu().numpy(),
            weights=model.lbs_weights.cpu().numpy(),
            posedirs=model.posedirs.cpu().numpy(),
            shapedirs=model.shapedirs.cpu().numpy(),
            parents=model.parents.cpu().numpy(),
            faces=np.asarray(model.faces),
        )
    model.model_file = str(path)  # where it came from, for error messages
    model.eval()
    return model.to(device) if device is not None else model


def export_smpl_npz(model: smplx.SMPL, path: str | os.PathLike) -> Path:
    """Write a loaded SMPL module's arrays to an ``.npz`` of plain numpy arrays (no pickle needed to read).

    The file holds ``v_template``, ``f``, ``J_regressor``, ``weights``, ``posedirs`` ``(V, 3, 207)``,
    ``shapedirs`` ``(V, 3, num_betas)`` (only the model's ``num_betas`` components) and ``kintree_table``.
    It is written to a temporary file and renamed, so a crash never leaves half a model. The model licence
    still applies to the exported file.
    """
    path = Path(path)
    num_vertices = int(model.v_template.shape[0])
    posedirs = model.posedirs.detach().cpu().numpy()  # smplx keeps (207, V*3)
    parents = model.parents.detach().cpu().numpy().astype(np.int64)
    arrays = {
        "v_template": model.v_template.detach().cpu().numpy(),
        "f": np.asarray(model.faces, dtype=np.int64),
        "J_regressor": model.J_regressor.detach().cpu().numpy(),
        "weights": model.lbs_weights.detach().cpu().numpy(),
        "posedirs": posedirs.T.reshape(num_vertices, 3, posedirs.shape[0]),
        "shapedirs": model.shapedirs.detach().cpu().numpy(),
        "kintree_table": np.stack([parents, np.arange(len(parents), dtype=np.int64)]),
    }
    with atomic_writer(path) as handle:  # a file object keeps numpy from appending ".npz"
        np.savez_compressed(handle, **arrays)
    return path


def smpl_joints_smplx(
    params: Mapping[str, Any],
    model_path: str | os.PathLike | smplx.SMPL,
    gender: str = "neutral",
    *,
    allow_pickle: bool = False,
    chunk_size: int = 256,
) -> np.ndarray | torch.Tensor:
    """Exact SMPL joint positions ``(..., T, 24, 3)`` through the user's body model and ``smplx``.

    ``params`` maps ``global_orient`` ``(..., T, 3)``, ``body_pose`` ``(..., T, 69)`` and optionally
    ``transl`` ``(..., T, 3)`` and ``betas`` (``(..., T, B)``, or a row ``(B,)`` / ``(..., 1, B)`` that
    broadcasts over frames; zero if absent) to numpy arrays or torch tensors. ``model_path`` is a folder or
    file for ``load_smpl_model`` (with ``gender`` and ``allow_pickle``), or an already loaded ``smplx.SMPL``
    whose ``num_betas`` matches ``B``. Frames go through smplx ``chunk_size`` at a time (its vertex
    skinning takes about 0.4 MB per frame in float32). The computation runs in the model's dtype and device;
    the result comes back in the input's (numpy in gives numpy out).
    """
    func = "smpl_joints_smplx"
    p = _Params(func, params, need_betas=True)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise MogenBenchError(
            f"{func}() needs a positive integer chunk_size, got {chunk_size!r}", field="chunk_size"
        )
    num_betas = 10 if p.betas is None else int(p.betas.shape[-1])
    if isinstance(model_path, torch.nn.Module):
        model = model_path
        if not hasattr(model, "J_regressor") or int(model.J_regressor.shape[0]) != 24:
            raise MogenBenchError(
                f"{func}() needs an smplx.SMPL module (24 joints), got {type(model).__name__}",
                field="model_path",
                fix="pass the folder of the SMPL model, or load_smpl_model(folder)",
            )
    else:
        model = load_smpl_model(model_path, gender, num_betas=num_betas, allow_pickle=allow_pickle)
    if int(model.num_betas) != num_betas:
        raise MogenBenchError(
            f"{func}(): params['betas'] has {num_betas} shape components but the body model uses "
            f"{model.num_betas}",
            file=getattr(model, "model_file", None),
            field="betas",
            fix=f"load the model with num_betas={num_betas} (it has {model.shapedirs.shape[-1]} components),"
            " or pass that many betas",
        )
    model_dtype, model_device = model.v_template.dtype, model.v_template.device
    if p.num_frames == 0:
        return p.give_back(torch.zeros((0, 24, 3), dtype=p.dtype))
    betas = p.betas if p.betas is not None else torch.zeros((p.num_frames, num_betas), dtype=p.dtype)
    inputs = [x.to(dtype=model_dtype, device=model_device) for x in (p.global_orient, p.body_pose, p.transl)]
    betas = betas.to(dtype=model_dtype, device=model_device)
    chunks = []
    # numpy callers cannot use gradients; skipping autograd saves the skinning's memory.
    with torch.no_grad() if p.as_numpy else contextlib.nullcontext():
        for start in range(0, p.num_frames, chunk_size):
            part = slice(start, start + chunk_size)
            out = model(
                betas=betas[part],
                global_orient=inputs[0][part],
                body_pose=inputs[1][part],
                transl=inputs[2][part],
                pose2rot=True,
            )
            chunks.append(out.joints[:, :24])
    return p.give_back(torch.cat(chunks, dim=0))
