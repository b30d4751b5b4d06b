"""The compiled ``recover_from_ric`` kernel: same numbers as the torch code, built once, never required."""

from __future__ import annotations

import shutil
import stat

import pytest
import torch

from mogen_bench import native
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion import guo_features
from mogen_bench.motion.guo_features import extract_features, recover_from_ric, recover_from_rot, recover_root

from .benchmarks.test_feature_speed import synthetic_motions

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")


@pytest.fixture
def fresh_native(tmp_path, monkeypatch):
    """``mogen_bench.native`` with nothing loaded and an empty cache; restored afterwards."""
    monkeypatch.setenv("MOGEN_BENCH_CACHE", str(tmp_path / "cache"))
    native.forget()
    yield tmp_path / "cache" / "native"
    native.forget()


@pytest.fixture(scope="module")
def walking_features() -> torch.Tensor:
    """Features of 5 smooth synthetic motions of 40 frames (turning, walking), float64."""
    return extract_features(synthetic_motions(5, 40, seed=7).double())


@needs_compiler
def test_the_kernel_builds_once_and_is_reused(fresh_native, monkeypatch):
    assert native.library("recover_ric") is not None
    builds = list(fresh_native.glob("recover_ric-*.so"))
    assert len(builds) == 1 and native.status("recover_ric") == f"built at {builds[0]}"
    assert [p.name for p in fresh_native.iterdir()] == [builds[0].name]  # no partial files left
    # A new process (here: forgotten state) loads the cached build and never runs the compiler.
    native.forget()
    monkeypatch.setattr(native, "_build", lambda *args: pytest.fail("rebuilt a cached kernel"))
    assert native.library("recover_ric") is not None


@needs_compiler
def test_a_cached_build_that_does_not_load_is_rebuilt(fresh_native):
    build = native.build_path("recover_ric")
    build.write_bytes(b"not a shared library")  # what a full disk may leave
    assert native.library("recover_ric") is not None
    assert build.read_bytes().startswith(b"\x7fELF")


@needs_compiler
def test_an_unwritable_cache_builds_in_a_private_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MOGEN_BENCH_CACHE", str(blocker))  # $MOGEN_BENCH_CACHE/native cannot be made
    native.forget()
    try:
        assert native.library("recover_ric") is not None
        assert "/mogen-bench-native-" in native.status("recover_ric")
    finally:
        native.forget()


@needs_compiler
@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_kernel_agrees_with_the_torch_code(walking_features, dtype, atol):
    features = walking_features.to(dtype)
    assert native.library("recover_ric") is not None
    kernel = guo_features._recover_from_ric_native(features, 22)
    torch_ops = guo_features._recover_from_ric_torch(features)
    assert kernel.dtype == dtype and kernel.shape == (5, 39, 22, 3)
    # Measured: 4.4e-16 in float64, 4.8e-7 in float32 (sin / cos of torch's SLEEF vs the C library's).
    assert (kernel - torch_ops).abs().max() <= atol
    assert torch.equal(recover_from_ric(features), kernel)


@needs_compiler
def test_kernel_reads_strided_batches_and_kit_features():
    features = torch.randn(3, 2, 30, 300, dtype=torch.float64) * 0.1
    views = {
        "leading dims": features[..., :263],
        "every other frame": features[:, :, ::2, 5:268],
        "frames first": features[..., :263].transpose(0, 2),
        "negated view": torch._neg_view(features[..., :263]),
    }
    for name, view in views.items():
        expected = guo_features._recover_from_ric_torch(view.resolve_neg().contiguous())
        assert (guo_features._recover_from_ric_native(view, 22) - expected).abs().max() <= 1e-12, name
    kit = features[..., :251]
    expected = guo_features._recover_from_ric_torch(kit.contiguous(), 21)
    assert (recover_from_ric(kit, 21) - expected).abs().max() <= 1e-12


@needs_compiler
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_thread_count_does_not_change_the_numbers(walking_features, threads):
    previous = torch.get_num_threads()
    one = guo_features._recover_from_ric_native(walking_features, 22)
    try:
        torch.set_num_threads(threads)
        assert torch.equal(guo_features._recover_from_ric_native(walking_features, 22), one)
    finally:
        torch.set_num_threads(previous)


def test_a_machine_without_a_compiler_uses_the_torch_code(fresh_native, monkeypatch, walking_features):
    monkeypatch.setenv("CC", "/nonexistent/bin/cc")
    assert native.library("recover_ric") is None
    assert "no C compiler '/nonexistent/bin/cc' on PATH" in native.status("recover_ric")
    assert guo_features._recover_from_ric_native(walking_features, 22) is None
    assert torch.equal(
        recover_from_ric(walking_features), guo_features._recover_from_ric_torch(walking_features)
    )


def test_a_failed_build_is_reported_and_leaves_nothing(fresh_native, monkeypatch, tmp_path):
    compiler = tmp_path / "broken-cc"
    compiler.write_text("#!/bin/sh\necho 'recover_ric.c:1:1: error: no such luck' >&2\nexit 1\n")
    compiler.chmod(compiler.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(compiler))
    assert native.library("recover_ric") is None
    assert native.status("recover_ric").endswith(
        "failed on recover_ric.c: recover_ric.c:1:1: error: no such luck"
    )
    assert list(fresh_native.iterdir()) == []


def test_mogen_bench_native_0_turns_the_kernels_off(fresh_native, monkeypatch, walking_features):
    monkeypatch.setenv("MOGEN_BENCH_NATIVE", "0")
    assert native.library("recover_ric") is None
    assert native.status("recover_ric") == "turned off by MOGEN_BENCH_NATIVE"
    assert not fresh_native.exists()
    assert torch.equal(
        recover_from_ric(walking_features), guo_features._recover_from_ric_torch(walking_features)
    )


def test_features_that_need_a_gradient_get_one(walking_features):
    # A joint-position loss on predicted features: the compiled kernel and the torch code's out= ops do not
    # record a graph, so such features take a differentiable path with the same numbers.
    features = walking_features[:2, :8].clone().requires_grad_()
    joints = recover_from_ric(features)
    assert joints.requires_grad
    assert (joints.detach() - guo_features._recover_from_ric_torch(features.detach())).abs().max() <= 1e-12
    # The root and ric columns (the only ones read) of a few frames, against numerical derivatives.
    assert torch.autograd.gradcheck(
        recover_from_ric, (walking_features[:1, :5, :67].clone().requires_grad_(),)
    )
    with torch.no_grad():
        assert not recover_from_ric(features).requires_grad
    # The root recovery underneath is shared with recover_root and recover_from_rot, which differentiate too.
    heading, root = recover_root(features)
    assert heading.requires_grad and root.requires_grad
    recover_from_rot(features).sum().backward()
    assert torch.isfinite(features.grad).all() and features.grad[..., :4].abs().sum() > 0


@pytest.mark.parametrize("shape", [(0, 5, 263), (2, 0, 263), (1, 263)])
def test_empty_and_one_frame_batches(shape):
    features = torch.zeros(shape)
    joints = recover_from_ric(features)
    assert joints.shape == (*shape[:-1], 22, 3)
    if joints.numel():  # one frame: the root at the origin at its height 0, the ric block as given
        assert torch.equal(joints, torch.zeros_like(joints))


def test_features_too_narrow_for_the_joints_are_refused():
    with pytest.raises(
        MogenBenchError, match=r"features for 22 joints need at least 67 dimensions.*\(3, 10, 60\)"
    ):
        recover_from_ric(torch.zeros(3, 10, 60))


def test_numpy_and_integer_features_are_taken(walking_features):
    joints = recover_from_ric(walking_features.numpy())
    assert isinstance(joints, torch.Tensor) and torch.equal(joints, recover_from_ric(walking_features))
    assert recover_from_ric(torch.zeros(2, 5, 263, dtype=torch.int64)).dtype == torch.float32
