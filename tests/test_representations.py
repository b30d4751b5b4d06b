"""The representation registry: declared sizes, part slices, mirroring and the way back to joints."""

from __future__ import annotations

import pytest
import torch

from annotation.parts import PARTS
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.guo_features import extract_features, recover_from_ric
from mogen_bench.motion.mirror import mirror_features
from mogen_bench.motion.representations import REPRESENTATIONS, get_representation

from .benchmarks.test_feature_speed import synthetic_motions


@pytest.mark.parametrize(
    "name, dims, fps, joints",
    [("humanml3d-263", 263, 20.0, 22), ("kit-251", 251, 12.5, 21), ("smpl-rot6d-135", 135, 20.0, 22)],
)
def test_declared_sizes(name, dims, fps, joints):
    representation = get_representation(name)
    assert (representation.dims, representation.fps, representation.num_joints) == (dims, fps, joints)
    slices = representation.part_slices
    assert list(slices) == [*PARTS, "body"]
    assert sorted(i for part in PARTS for i in slices[part]) == list(range(dims))


def test_humanml3d_mirror_and_joints_delegate_to_the_feature_code():
    representation = get_representation("humanml3d-263")
    features = extract_features(synthetic_motions(2, 30, seed=4))
    assert torch.equal(representation.mirror(features), mirror_features(features))
    assert torch.equal(representation.to_joints(features), recover_from_ric(features))


@pytest.mark.parametrize("name", list(REPRESENTATIONS))
def test_mirror_twice_is_the_identity(name):
    representation = get_representation(name)
    features = torch.randn(
        3, 7, representation.dims, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    assert torch.equal(representation.mirror(representation.mirror(features)), features)


@pytest.mark.parametrize(
    "features, message",
    [
        (torch.zeros(5, 262), r"must have shape \(\.\.\., T, 263\), got \(5, 262\)"),
        (torch.zeros(263), r"got \(263,\)"),
        (torch.zeros(0, 263), "have no frames"),
        (torch.full((4, 263), float("inf")), "NaN or inf"),
    ],
)
def test_bad_features(features, message):
    with pytest.raises(MogenBenchError, match=message):
        get_representation("humanml3d-263").to_joints(features)


def test_unknown_representation_lists_the_known_ones():
    with pytest.raises(
        MogenBenchError, match=r"unknown motion representation 'humanml3d-262'.*humanml3d-263, kit-251"
    ):
        get_representation("humanml3d-262")


def test_rot6d_to_joints_reproduces_the_motion_up_to_its_heading_and_start():
    from mogen_bench.motion.smpl import smpl_joints_builtin
    from mogen_bench.motion.smpl_rot6d import smpl_to_rot6d

    rng = torch.Generator().manual_seed(7)
    params = {
        "global_orient": torch.randn(10, 3, generator=rng, dtype=torch.float64) * 0.4,
        "body_pose": torch.randn(10, 69, generator=rng, dtype=torch.float64) * 0.3,
        "transl": torch.cumsum(torch.randn(10, 3, generator=rng, dtype=torch.float64) * 0.05, 0),
    }
    params["body_pose"][:, 63:] = 0  # smpl-rot6d-135 keeps 21 body joints; the hands are dropped
    original = smpl_joints_builtin(params)[..., :22, :]
    recovered = get_representation("smpl-rot6d-135").to_joints(smpl_to_rot6d(**params))
    assert recovered.shape == (10, 22, 3)
    # A rigid motion about the vertical is all that may differ: every distance within a frame and across
    # frames is kept, and heights are kept too.
    flat_o, flat_r = original.reshape(-1, 3), recovered.reshape(-1, 3)
    exact = "donot_use_mm_for_euclid_dist"
    distances_o = torch.cdist(flat_o, flat_o, compute_mode=exact)
    assert torch.allclose(torch.cdist(flat_r, flat_r, compute_mode=exact), distances_o, atol=1e-12)
    assert torch.allclose(
        recovered[..., 1] - recovered[0, 0, 1], original[..., 1] - original[0, 0, 1], atol=1e-9
    )
