"""Left-right mirroring of SMPL parameters, as HuMMan-MoGen's ``pXXXXXX_rXXXXXX`` copies of ``..._aXXXXXX``.

The mirror is the reflection ``M = diag(-1, 1, 1)`` through the plane x = 0, applied to the world and to
the body (SMPL's body frame has the subject's left along +x, so x = 0 is its sagittal plane):

- every joint rotation becomes ``M R M``, a rotation about the mirrored axis by the opposite angle; for an
  axis-angle vector ``(x, y, z)`` that is ``(x, -y, -z)``: the components other than the mirror plane's
  normal (x) change sign;
- each of the 23 ``body_pose`` joints takes the (mirrored) rotation of its partner on the other side
  (``skeletons.SMPL24.mirror_permutation``); ``global_orient`` stays on the pelvis;
- ``transl`` is negated along x. SMPL turns the body about the rest pelvis ``J0`` and adds ``transl``
  after, so the pelvis sits at ``J0 + transl``; mirroring it exactly gives
  ``transl_x -> -transl_x - 2 J0_x``. Pass ``rest_pelvis`` to include that term (a few millimetres for
  SMPL's neutral body, ``J0_x = -0.0018``); without it x is simply negated, the usual convention;
- ``betas`` are kept: a body's shape is taken to be its own mirror image.

This works in any world frame whose x axis is horizontal, y-up (SMPL, HumanML3D) or z-up (AMASS,
MoGen-Synth). It is an involution: ``mirror_smpl_params(mirror_smpl_params(p)) == p`` exactly (sign
changes and a permutation; with ``rest_pelvis`` up to rounding). Joints posed from the mirrored
parameters are the mirrored joints up to the asymmetry of the body model's rest skeleton: SMPL's left and
right bones differ by millimetres (up to about 1.5 cm at the hands for the built-in neutral skeleton).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.skeletons import SMPL24

#: For body_pose joint i (SMPL joint i + 1), the body_pose index of its mirror partner.
BODY_POSE_MIRROR: tuple[int, ...] = tuple(j - 1 for j in SMPL24.mirror_permutation()[1:])
_ROTATION_SIGNS = (1.0, -1.0, -1.0)
_KNOWN = ("global_orient", "body_pose", "transl", "betas")


def _signs(value, signs: tuple[float, ...]):
    if isinstance(value, torch.Tensor):
        return torch.tensor(signs, dtype=value.dtype, device=value.device)
    return np.asarray(signs, dtype=np.asarray(value).dtype)


def _check(name: str, value, trailing: int):
    if not isinstance(value, np.ndarray | torch.Tensor):
        value = np.asarray(value)
    if value.ndim < 1 or value.shape[-1] != trailing:
        raise MogenBenchError(
            f"mirror_smpl_params() expects params[{name!r}] of shape (..., {trailing}), "
            f"got {tuple(value.shape)}",
            field=name,
            fix=f"pass {name} with {trailing} numbers per frame",
        )
    if not (value.dtype.is_floating_point if isinstance(value, torch.Tensor) else value.dtype.kind == "f"):
        raise MogenBenchError(
            f"mirror_smpl_params() needs floating-point params[{name!r}], got {value.dtype}",
            field=name,
            fix=f"convert {name} to float32 or float64",
        )
    return value


def mirror_axis_angle(axis_angle):
    """Axis-angle rotations ``(..., 3)`` mirrored through x = 0: ``(x, y, z) -> (x, -y, -z)``."""
    return axis_angle * _signs(axis_angle, _ROTATION_SIGNS)


def mirror_smpl_params(params: Mapping[str, Any], *, rest_pelvis=None) -> dict[str, Any]:
    """The mirrored motion's SMPL parameters (numpy in, numpy out; torch in, torch out).

    ``params`` holds ``global_orient`` ``(..., 3)`` and ``body_pose`` ``(..., 69)``, and optionally
    ``transl`` ``(..., 3)`` and ``betas`` (kept as they are). ``rest_pelvis`` is the body model's rest pelvis
    joint ``J0`` ``(3,)``; when given, ``transl`` is mirrored exactly about the mirrored pelvis.
    """
    if not isinstance(params, Mapping) and not hasattr(params, "keys"):
        raise MogenBenchError(
            f"mirror_smpl_params() needs a mapping of SMPL parameters, got {type(params).__name__}",
            field="params",
            fix="pass a dict (or an np.load'ed .npz) with global_orient, body_pose, transl, betas",
        )
    unknown = [k for k in params if k not in _KNOWN]
    if unknown:
        raise MogenBenchError(
            f"mirror_smpl_params() does not know how to mirror params[{unknown[0]!r}]",
            field=unknown[0],
            fix=f"pass only {', '.join(_KNOWN)}",
        )
    for name in ("global_orient", "body_pose"):
        if name not in params:
            raise MogenBenchError(
                f"mirror_smpl_params() needs params[{name!r}]", field=name, fix=f"add {name}"
            )
    out: dict[str, Any] = {}
    out["global_orient"] = mirror_axis_angle(_check("global_orient", params["global_orient"], 3))
    body_pose = _check("body_pose", params["body_pose"], 69)
    joints = body_pose.reshape(*body_pose.shape[:-1], 23, 3)
    out["body_pose"] = mirror_axis_angle(joints[..., list(BODY_POSE_MIRROR), :]).reshape(body_pose.shape)
    if "transl" in params and params["transl"] is not None:
        transl = _check("transl", params["transl"], 3)
        mirrored = transl * _signs(transl, (-1.0, 1.0, 1.0))
        if rest_pelvis is not None:
            shift = -2.0 * float(np.asarray(rest_pelvis, dtype=np.float64).reshape(3)[0])
            mirrored = mirrored + _signs(transl, (shift, 0.0, 0.0))
        out["transl"] = mirrored
    if "betas" in params:
        out["betas"] = params["betas"]
    return out
