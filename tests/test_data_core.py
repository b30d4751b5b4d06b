"""The prepared-dataset contract: row schema, statistics, atomic writing, no-op re-runs, verify, reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from annotation.model import Stage
from mogen_bench.data.info import read_info
from mogen_bench.data.normalisation import RunningMoments, feature_groups, grouped_statistics
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.schema import Caption, MotionRecord, Skipped, records_to_table, row_schema
from mogen_bench.data.splits import parse_sequence_id, subject_split
from mogen_bench.data.verify import verify_dataset
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError


class ListSource:
    """A source over in-memory records, for testing the writer on its own."""

    name = "list"
    representation = "smpl-rot6d-135"
    fps = 20.0

    def __init__(self, root: Path, items, fail_after: int | None = None):
        self.root = root
        self._items = items
        self.fail_after = fail_after
        root.mkdir(parents=True, exist_ok=True)
        (root / "input.txt").write_text(f"{len(items)} items\n")

    def check(self):
        pass

    def input_files(self):
        return [self.root / "input.txt"]

    def options(self):
        return {"n": len(self._items)}

    def split_rule(self):
        return "given"

    def statistics(self):
        return None

    def expected_items(self):
        return len(self._items)

    def items(self):
        for i, item in enumerate(self._items):
            if self.fail_after is not None and i == self.fail_after:
                raise KeyboardInterrupt  # an interrupted run
            yield item


def record(i: int, split: str = "train", frames: int = 10, seed: int = 0) -> MotionRecord:
    rng = np.random.default_rng(seed + i)
    stages = [
        Stage(0, frames // 2, overall=f"walk {i}", left_arm="waves", trajectory="forward"),
        Stage(frames // 2, frames, overall=f"sit {i}", tokens=("sit/VERB",)),
    ]
    return MotionRecord(
        motion_id=f"m{i:03d}",
        split=split,
        source_id=f"s{i:03d}",
        features=rng.normal(size=(frames, 135)).astype(np.float32),
        fps=20.0,
        mirrored=bool(i % 2),
        stages=stages,
        captions=[Caption("a person walks", ("a/DET", "person/NOUN", "walk/VERB"), 0.0, 0.0)]
        if i % 3
        else None,
    )


def test_row_schema_round_trip_through_parquet(tmp_path):
    records = [record(i, frames=5 + i) for i in range(4)]
    path = tmp_path / "shard.parquet"
    pq.write_table(records_to_table(records, 135), path)
    table = pq.read_table(path)
    assert table.schema.equals(row_schema(135), check_metadata=False)
    assert table.column("num_frames").to_pylist() == [5, 6, 7, 8]
    rows = table.to_pylist()
    np.testing.assert_array_equal(np.asarray(rows[2]["features"], np.float32), records[2].features)
    assert rows[1]["stages"][0]["left_arm"] == "waves" and rows[1]["stages"][0]["head"] is None
    assert rows[1]["stages"][1]["tokens"] == ["sit/VERB"]
    assert rows[0]["captions"] is None and rows[1]["captions"][0]["tokens"][2] == "walk/VERB"


def test_running_moments_match_numpy_over_uneven_chunks():
    rng = np.random.default_rng(3)
    frames = rng.normal(5.0, 2.0, size=(1000, 135))
    moments = RunningMoments(135)
    for chunk in np.split(frames, [1, 7, 300, 301, 999]):
        moments.add(chunk)
    np.testing.assert_allclose(moments.mean, frames.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(moments.std(), frames.std(0), rtol=1e-12)


def test_grouped_std_averages_within_the_humanml3d_groups():
    groups = feature_groups("humanml3d-263", 263)
    assert groups == [(0, 1), (1, 3), (3, 4), (4, 67), (67, 193), (193, 259), (259, 263)]
    assert feature_groups("kit-251", 251)[-1] == (247, 251)
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(500, 263)) * np.linspace(0.5, 2.0, 263)
    moments = RunningMoments(263)
    moments.add(frames)
    mean, std = grouped_statistics(moments, "humanml3d-263")
    raw = frames.std(0)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(std[4:67], raw[4:67].mean(), rtol=1e-6)
    np.testing.assert_allclose(std[1:3], raw[1:3].mean(), rtol=1e-6)
    assert std[0] == pytest.approx(raw[0], rel=1e-6)


def test_shipped_humanml3d_std_is_group_averaged(shared_sample):
    # The published Std.npy is constant within each group: our grouping is the one it was made with.
    std = np.load(shared_sample / "Std.npy")
    for start, end in feature_groups("humanml3d-263", 263):
        assert np.ptp(std[start:end]) == 0.0


@pytest.fixture
def shared_sample():
    from tests.conftest import shared_sample_dir

    return shared_sample_dir()


def test_split_rule_is_a_fixed_function_of_the_subject():
    assert parse_sequence_id("p000459_a000011") == ("p000459", "000011", False)
    assert parse_sequence_id("p000459_r000011") == ("p000459", "000011", True)
    assert parse_sequence_id("012314") is None
    counts = {s: 0 for s in ("train", "val", "test")}
    for i in range(2000):
        counts[subject_split(f"p{i:06d}")] += 1
    assert 0.77 < counts["train"] / 2000 < 0.83 and 0.03 < counts["val"] / 2000 < 0.07
    assert subject_split("p000001", {"p000001": "test"}) == "test"


def test_split_golden_values():
    got = {f"p{i:06d}": subject_split(f"p{i:06d}") for i in (1, 11, 17, 459)}
    assert got == {"p000001": "train", "p000011": "val", "p000017": "test", "p000459": "train"}


def _prepare(tmp_path, items, **kwargs):
    return prepare_dataset(ListSource(tmp_path / "in", items), tmp_path / "out", **kwargs)


def test_prepare_writes_shards_info_and_reads_back(tmp_path):
    items = [record(i, "train" if i < 6 else "test", frames=8 + i) for i in range(8)]
    items.insert(3, Skipped("bad", "too short", "bad.npz"))
    result = _prepare(tmp_path, items, max_shard_bytes=3 * 12 * 135 * 4)
    out = tmp_path / "out"
    assert not result.reused
    info = read_info(out)
    assert info.splits["train"]["motions"] == 6 and info.splits["test"]["motions"] == 2
    assert len(info.splits["train"]["shards"]) > 1  # the small shard size forced several shards
    n = len(info.splits["train"]["shards"])
    assert info.splits["train"]["shards"][0] == f"data/train-00000-of-{n:05d}.parquet"
    assert info.skipped == [{"item": "bad", "reason": "too short", "file": "bad.npz"}]
    assert info.normalisation["computed_on"] == "train"
    train_frames = np.concatenate([r.features for r in items[:7] if isinstance(r, MotionRecord)])
    np.testing.assert_allclose(info.mean, train_frames.mean(0), atol=1e-6)
    dataset = PreparedDataset(out)
    train = dataset.split("train")
    assert len(train) == 6 and train.motion_ids[0] == "m000"
    np.testing.assert_array_equal(train.features(4), items[5].features)
    assert train.stages(1)[0].left_arm == "waves"
    assert train.captions(0) is None and train.captions(1)[0].tokens[1] == "person/NOUN"
    assert list(train.mirrored[:3]) == [False, True, False]
    assert verify_dataset(out).ok
    with pytest.raises(MogenBenchError, match="no 'val' split"):
        dataset.split("val")


def test_rerun_is_a_no_op_and_force_rebuilds(tmp_path):
    items = [record(i) for i in range(3)]
    _prepare(tmp_path, items)
    info = (tmp_path / "out" / "dataset.json").read_bytes()
    again = _prepare(tmp_path, items)
    assert again.reused and (tmp_path / "out" / "dataset.json").read_bytes() == info
    forced = _prepare(tmp_path, items, force=True)
    assert not forced.reused and verify_dataset(tmp_path / "out").ok
    # Other input: refused without --force.
    with pytest.raises(MogenBenchError, match="--force"):
        _prepare(tmp_path, [record(i) for i in range(4)])


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(
            ListSource(tmp_path / "in", [record(i) for i in range(5)], fail_after=3), tmp_path / "out"
        )
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]
    # An existing dataset survives a failed rebuild untouched.
    _prepare(tmp_path, [record(i) for i in range(5)])
    before = (tmp_path / "out" / "dataset.json").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(
            ListSource(tmp_path / "in", [record(i) for i in range(5)], fail_after=2),
            tmp_path / "out",
            force=True,
        )
    assert (tmp_path / "out" / "dataset.json").read_bytes() == before and verify_dataset(tmp_path / "out").ok


def test_refuses_to_replace_a_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    with pytest.raises(MogenBenchError, match="not a prepared dataset"):
        _prepare(tmp_path, [record(0)], force=True)
    assert (tmp_path / "out" / "thesis.tex").read_text() == "precious"


def test_duplicate_ids_bad_shapes_and_empty_input_are_errors(tmp_path):
    with pytest.raises(MogenBenchError, match="twice"):
        _prepare(tmp_path / "a", [record(0), record(0)])
    bad = record(1)
    bad.features = bad.features[:, :100]
    with pytest.raises(MogenBenchError, match=r"expected \(T>0, 135\)"):
        _prepare(tmp_path / "b", [bad])
    with pytest.raises(MogenBenchError, match="no usable motions"):
        _prepare(tmp_path / "c", [Skipped("x", "broken")])
    for name in ("a", "b", "c"):
        assert not (tmp_path / name / "out").exists()


def test_verify_names_corrupt_truncated_missing_and_stray_shards(tmp_path):
    _prepare(tmp_path, [record(i, "train" if i < 4 else "val") for i in range(6)])
    out = tmp_path / "out"
    train, val = out / "data/train-00000-of-00001.parquet", out / "data/val-00000-of-00001.parquet"
    data = bytearray(train.read_bytes())
    data[len(data) // 2] ^= 0xFF
    train.write_bytes(bytes(data))
    val.write_bytes(val.read_bytes()[:-50])
    (out / "data/test-00000-of-00001.parquet").write_bytes(b"stray")
    problems = dict(verify_dataset(out).problems)
    assert "sha256" in problems["data/train-00000-of-00001.parquet"]
    assert "truncated" in problems["data/val-00000-of-00001.parquet"]
    assert "not listed" in problems["data/test-00000-of-00001.parquet"]
    train.unlink()
    assert dict(verify_dataset(out).problems)["data/train-00000-of-00001.parquet"] == "missing"
    # A damaged dataset is not silently reused.
    with pytest.raises(MogenBenchError, match="damaged"):
        _prepare(tmp_path, [record(i, "train" if i < 4 else "val") for i in range(6)])


def test_read_info_errors_name_the_problem(tmp_path):
    with pytest.raises(MogenBenchError, match="no such dataset folder"):
        read_info(tmp_path / "nope")
    with pytest.raises(MogenBenchError, match=r"no dataset\.json"):
        read_info(tmp_path)
    (tmp_path / "dataset.json").write_text("{broken")
    with pytest.raises(MogenBenchError, match="invalid JSON"):
        read_info(tmp_path)
    _prepare(tmp_path / "x", [record(0)])
    path = tmp_path / "x" / "out" / "dataset.json"
    raw = json.loads(path.read_text())
    raw["schema_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(MogenBenchError, match="schema version 99"):
        read_info(path.parent)
    raw["schema_version"] = 1
    del raw["shards"]
    path.write_text(json.dumps(raw))
    with pytest.raises(MogenBenchError, match="missing fields: shards"):
        read_info(path.parent)
