"""composition@1's cuts: stage intervals without handshakes, transition windows, per-stage MultiModality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mogen_bench.evaluation import get_protocol
from mogen_bench.evaluation.evaluate import _multimodality_set
from mogen_bench.evaluation.runner import (
    Generated,
    GroundTruth,
    score_replication,
    stage_segments,
    transition_segments,
)
from mogen_bench.training.distributed import DistributedContext

COMPOSITION = get_protocol("composition@1")


def _stages(*bounds: tuple[int, int]) -> list[dict]:
    return [{"start_frame": a, "end_frame": b, "overall": f"stage {i}"} for i, (a, b) in enumerate(bounds)]


def test_the_published_window_sizes():
    # PriorMDM's HumanML3D evaluation: handshake 20, transition margins 40, so 60-frame transitions.
    assert (COMPOSITION.stage_handshake, COMPOSITION.transition_fid_window) == (20, 60)
    assert COMPOSITION.id == "composition@1"


def test_stage_intervals_leave_out_the_handshake_around_each_boundary():
    stages = [_stages((0, 30), (30, 70), (70, 100)), _stages((0, 50)), _stages((0, 25), (25, 60))]
    segments = stage_segments(stages, [0, 1, 2], COMPOSITION)
    # Motion 0: 10 frames before and 10 after each boundary go; the outer ends keep theirs. Motion 1 has
    # one stage (nothing to compose); motion 2's first stage keeps 15 frames, under the 20 required.
    assert segments == [(0, 0, 20, 0), (0, 40, 60, 1), (0, 80, 100, 2), (2, 35, 60, 1)]
    odd = COMPOSITION.with_changes(stage_handshake=7, stage_min_frames=1)
    # h // 2 = 3 frames before the boundary, the other 4 after it: the handshake PriorMDM places.
    assert stage_segments([_stages((0, 30), (30, 70))], [0], odd) == [(0, 0, 27, 0), (0, 34, 70, 1)]
    # Positions index the stage lists; slots number the batch.
    assert stage_segments(stages, [2], COMPOSITION) == [(0, 35, 60, 1)]


def test_transition_windows_are_centred_on_boundaries_and_fit_the_motion():
    stages = [_stages((0, 30), (30, 70), (70, 100)), _stages((0, 20), (20, 90))]
    windows = transition_segments(stages, [0, 1], [100, 90], COMPOSITION)
    # Motion 0: [0, 60) around 30 and [40, 100) around 70. Motion 1's boundary at 20 would start at -10.
    assert windows == [(0, 0, 60, 1), (0, 40, 100, 2)]
    assert transition_segments(stages, [0], [99], COMPOSITION) == [(0, 0, 60, 1)]


class _MeanEvaluator:
    """Embeds a motion as the mean of its first two feature channels over its frames."""

    def encode_motions(self, features, lengths):
        mask = (torch.arange(features.shape[1])[None] < lengths[:, None]).double()
        return (features[..., :2].double() * mask[..., None]).sum(1) / lengths[:, None].double()


class _EvalSet:
    def __init__(self, stages, lengths):
        self.stages = stages
        self.lengths = np.asarray(lengths)
        self.motion_ids = [f"m{i}" for i in range(len(stages))]


def test_stage_multimodality_groups_the_repeats_of_each_stage():
    # Channel 0 holds motion * 100 + stage number on every frame of the stage; channel 1 the seed's noise.
    stages = [_stages((0, 40), (40, 80)), _stages((0, 80)), _stages((0, 30), (30, 60), (60, 90))]
    eval_set = _EvalSet(stages, [80, 80, 90])

    def sample(requests, seed):
        generator = torch.Generator().manual_seed(seed)
        features = torch.zeros(len(requests), 90, 3)
        for slot, motion in enumerate(requests):
            for number, stage in enumerate(stages[motion]):
                features[slot, stage["start_frame"] : stage["end_frame"], 0] = motion * 100 + number
        features[..., 1] = torch.randn(len(requests), 1, generator=generator)
        return features, torch.tensor([int(eval_set.lengths[m]) for m in requests])

    protocol = COMPOSITION.with_changes(
        mm_num_samples=3, mm_repeats=4, mm_times=2, stage_min_frames=10, generation_batch=5
    )
    mm, stage_mm = _multimodality_set(
        sample, _MeanEvaluator(), [0, 1, 2], eval_set, protocol, 0, 0, DistributedContext()
    )
    assert mm.shape == (3, 4, 2)
    # Motion 0's two stages and motion 2's three (its middle one is 30 - 20 = 10 frames long): 5 groups of
    # the 4 repeats, each repeat from its own seed.
    assert stage_mm.shape == (5, 4, 2)
    np.testing.assert_allclose(stage_mm[:, :, 0], np.repeat([[0], [1], [200], [201], [202]], 4, axis=1))
    assert len(np.unique(stage_mm[0, :, 1])) == 4
    # Without composition there is nothing to group.
    _, none = _multimodality_set(
        sample,
        _MeanEvaluator(),
        [0, 1, 2],
        eval_set,
        get_protocol("fine@1").with_changes(mm_num_samples=3, mm_repeats=4, mm_times=2),
        0,
        0,
        DistributedContext(),
    )
    assert none is None


def _truth(windows: np.ndarray, stages: np.ndarray) -> GroundTruth:
    rng = np.random.default_rng(1)
    return GroundTruth(
        rng.normal(size=(40, 4)),
        rng.normal(size=(40, 4)),
        stage_motions=stages,
        stage_texts=rng.normal(size=(len(stages), 4)),
        transition_motions=windows,
    )


def test_transition_and_stage_scores():
    rng = np.random.default_rng(0)
    windows, stages = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    truth = _truth(windows, stages)
    protocol = COMPOSITION.with_changes(pool_size=8, diversity_times=20, mm_times=3)
    generated = Generated(truth.motions, {}, stage_motions=stages, transition_motions=windows)
    stage_mm = rng.normal(size=(6, 5, 4))
    values = score_replication(truth, truth.texts, generated, protocol, 0, 0, None, stage_mm=stage_mm)
    # The ground truth's own windows and intervals: no distance.
    assert values["transition_FID"] == pytest.approx(0, abs=1e-6)
    assert values["stage_FID"] == pytest.approx(0, abs=1e-6)
    # Unit Gaussians in 4-D: pairs lie sqrt(2 * 4) apart on average (within sampling error).
    for name in ("transition_Diversity", "stage_Diversity", "stage_MultiModality"):
        assert 2.2 < values[name] < 3.4, name
    shifted = Generated(truth.motions, {}, stage_motions=stages, transition_motions=windows + 1.0)
    moved = score_replication(truth, truth.texts, shifted, protocol, 0, 0, None)
    # A shift of 1 in each of 4 dims moves the mean by |1|^2 * 4 = 4 and leaves the covariance.
    assert moved["transition_FID"] == pytest.approx(4.0, abs=1e-6)
    assert moved["transition_Diversity"] == values["transition_Diversity"]
    # Too few to score: 20 pairs need more than 20 windows; MultiModality needs more than 3 repeats.
    few = Generated(truth.motions, {}, stage_motions=stages[:5], transition_motions=windows[:20])
    sparse = score_replication(truth, truth.texts, few, protocol, 0, 0, None, stage_mm=stage_mm[:, :3])
    assert "transition_Diversity" not in sparse and "stage_Diversity" not in sparse
    assert "stage_MultiModality" not in sparse and "stage_R_precision_top1" not in sparse
    assert np.isfinite(sparse["transition_FID"])
