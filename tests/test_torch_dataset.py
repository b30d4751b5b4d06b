"""The training data pipeline: MotionDataset items, collate_motions batches, LengthBucketSampler batches."""

from __future__ import annotations

import itertools
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from annotation.model import Stage
from annotation.parts import PARTS, TEXT_FIELDS
from mogen_bench.data.batching import LengthBucketSampler
from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.schema import Caption, MotionRecord
from mogen_bench.data.torch_dataset import (
    ItemBatch,
    MotionDataConfig,
    MotionDataset,
    clip_stages,
    collate_motions,
    crop_windows,
    feature_cache_file,
    item_uniforms,
)
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from tests.record_source import RecordSource

DIMS = 135  # smpl-rot6d-135: small rows


def _stages(motion_id: str, frames: int, cuts: list[int]) -> list[Stage]:
    edges = [0, *cuts, frames]
    return [
        Stage(start, end, **{name: f"{motion_id} s{k} {name}" for name in TEXT_FIELDS})
        for k, (start, end) in enumerate(itertools.pairwise(edges))
    ]


def _records() -> list[MotionRecord]:
    rng = np.random.default_rng(7)
    records = []
    for i in range(24):
        frames = int(rng.integers(8, 60)) if i % 5 else int(rng.integers(90, 140))  # some longer than max
        features = rng.normal(3.0, 2.0, (frames, DIMS)).astype(np.float32)
        motion_id = f"m{i:03d}"
        split = "test" if i >= 20 else "train"
        if i % 3 == 0:  # staged, HuMMan-MoGen style
            cuts = sorted({frames // 3, 2 * frames // 3} - {0})
            records.append(
                MotionRecord(
                    motion_id, split, motion_id, features, 20.0, stages=_stages(motion_id, frames, cuts)
                )
            )
        elif i % 3 == 1:  # captions, HumanML3D style
            captions = [Caption(f"{motion_id} caption {k}", (f"w{k}/NOUN", "x/VERB")) for k in range(3)]
            records.append(MotionRecord(motion_id, split, motion_id, features, 20.0, captions=captions))
        else:  # a single stage with tokens, or no text at all
            stages = [Stage(0, frames, overall=f"{motion_id} only", tokens=("only/ADV",))] if i % 2 else None
            records.append(MotionRecord(motion_id, split, motion_id, features, 20.0, stages=stages))
    return records


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("torch_dataset")
    # Small shards: the split spans several files, so rows cross Arrow chunk boundaries.
    return prepare_dataset(RecordSource(root / "in", _records()), root / "ds", max_shard_bytes=40_000).folder


@pytest.fixture(scope="module")
def reference(prepared):
    """The raw train split through the reader: features, stages, captions per row."""
    table = PreparedDataset(prepared).split("train")
    return table


def _dataset(prepared, **config) -> MotionDataset:
    return MotionDataset(prepared, "train", MotionDataConfig(**config))


# --------------------------------------------------------------------------- items
def test_the_split_spans_several_shards(prepared):
    assert len(PreparedDataset(prepared).info.shard_files("train")) > 2


def test_normalisation_round_trip(prepared, reference):
    dataset = _dataset(prepared, max_frames=1000, random_crop=False)
    info = PreparedDataset(prepared).info
    for index in range(len(dataset)):
        item = dataset[index]
        raw = reference.features(index)
        assert item["length"] == raw.shape[0] and item["crop_start"] == 0
        np.testing.assert_array_equal(item["features"].numpy(), (raw - info.mean) / info.std)
        np.testing.assert_allclose(dataset.denormalise(item["features"]).numpy(), raw, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dataset.normalise(raw), item["features"].numpy())
    plain = _dataset(prepared, normalise=False, max_frames=1000)
    assert plain.mean is None
    for index in range(len(plain)):
        item = plain[index]
        start = item["crop_start"]
        np.testing.assert_array_equal(item["features"].numpy(), reference.features(index)[start:])


def test_crop_length_and_bounds(prepared, reference):
    info = PreparedDataset(prepared).info
    dataset = _dataset(prepared, max_frames=32)
    assert (dataset.lengths > 32).any()
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for item in dataset.__getitems__(range(len(dataset))):
            frames = item["num_frames"]
            assert frames == reference.lengths[item["index"]]
            assert item["length"] == min(frames, 32) == item["features"].shape[0]
            assert 0 <= item["crop_start"] <= frames - item["length"]
            raw = reference.features(item["index"])[item["crop_start"] : item["crop_start"] + item["length"]]
            np.testing.assert_array_equal(item["features"].numpy(), (raw - info.mean) / info.std)


def test_crops_start_everywhere_uniformly():
    config = MotionDataConfig(max_frames=10)
    u = item_uniforms(3, 0, np.arange(20000), 2)
    starts, lengths = crop_windows(np.full(20000, 14), u[:, 0], u[:, 1], config)
    assert (lengths == 10).all()
    counts = np.bincount(starts, minlength=5)
    assert counts.shape == (5,) and (np.abs(counts / 20000 - 0.2) < 0.015).all()


def test_unit_crop_follows_the_official_coin_toss():
    config = MotionDataConfig(unit_crop=True, unit_length=4)
    frames = np.full(30000, 199)
    u = item_uniforms(0, 0, np.arange(30000), 2)
    starts, lengths = crop_windows(frames, u[:, 0], u[:, 1], config)
    # 199 -> 196 frames ('single') two times in three, 192 ('double') one time in three.
    assert set(np.unique(lengths)) == {192, 196}
    assert abs((lengths == 192).mean() - 1 / 3) < 0.01
    assert (starts >= 0).all() and (starts + lengths <= frames).all()
    # Short motions: one unit is kept whole, less than a unit is kept as it is; off leaves lengths alone.
    short = np.array([4, 5, 3, 7])
    _, kept = crop_windows(short, np.zeros(4), np.zeros(4), config)
    assert kept.tolist() == [4, 4, 3, 4]
    _, untouched = crop_windows(short, np.zeros(4), np.zeros(4), MotionDataConfig())
    assert untouched.tolist() == short.tolist()


def _splitmix_reference(seed: int, epoch: int, index: int, draw: int) -> float:
    """The item hash in plain Python integers (SplitMix64's finaliser), to check the uint64 numpy code."""
    mask, golden = (1 << 64) - 1, 0x9E3779B97F4A7C15

    def mix(x: int) -> int:
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    key = mix(mix((seed + golden) & mask) ^ epoch)
    bits = mix((mix(key ^ index) + golden * (draw + 1)) & mask)
    return (bits >> 11) / 2**53


def test_item_randomness_golden_values_and_independence():
    u = item_uniforms(0, 0, np.array([0, 1, 2]), 2)
    golden = [[0.175415616, 0.4732158221], [0.1499069074, 0.9066604223], [0.796733317, 0.7310468511]]
    np.testing.assert_allclose(u, golden, atol=1e-9)
    for seed, epoch, index, draw in [(0, 0, 0, 0), (7, 3, 12345, 2), (2**40, 9, 5, 1)]:
        got = item_uniforms(seed, epoch, np.array([index]), draw + 1)[0, draw]
        assert got == _splitmix_reference(seed, epoch, index, draw)
    many = item_uniforms(11, 4, np.arange(100_000), 3)
    assert many.min() >= 0 and many.max() < 1
    assert np.allclose(many.mean(axis=0), 0.5, atol=0.005)
    assert abs(np.corrcoef(many[:, 0], many[:, 1])[0, 1]) < 0.01
    # An item's numbers do not depend on the other indices of its batch.
    np.testing.assert_array_equal(item_uniforms(11, 4, np.array([77]), 3)[0], many[77])
    assert not np.array_equal(item_uniforms(11, 5, np.arange(10), 3), many[:10])
    assert not np.array_equal(item_uniforms(12, 4, np.arange(10), 3), many[:10])


def _same_items(a: list[dict], b: list[dict]) -> bool:
    for x, y in zip(a, b, strict=True):
        if not torch.equal(x["features"], y["features"]):
            return False
        if {k: v for k, v in x.items() if k != "features"} != {k: v for k, v in y.items() if k != "features"}:
            return False
    return True


def test_items_are_deterministic_per_seed_and_epoch(prepared):
    first, second = _dataset(prepared, max_frames=20, seed=5), _dataset(prepared, max_frames=20, seed=5)
    everything = list(range(len(first)))
    assert _same_items(first.__getitems__(everything), second.__getitems__(everything))
    # One at a time, in another order, or in another batch: the same item.
    singles = [second[i] for i in reversed(everything)][::-1]
    assert _same_items(first.__getitems__(everything), singles)
    assert _same_items(first.__getitems__([3, 1]), [second[3], second[1]])
    starts = [item["crop_start"] for item in first.__getitems__(everything)]
    first.set_epoch(1)
    assert [item["crop_start"] for item in first.__getitems__(everything)] != starts
    other_seed = _dataset(prepared, max_frames=20, seed=6)
    assert [item["crop_start"] for item in other_seed.__getitems__(everything)] != starts


def test_random_caption_choice_and_first_caption(prepared, reference):
    dataset = _dataset(prepared)
    caption_rows = [i for i in range(len(dataset)) if reference.captions(i)]
    assert caption_rows
    for row in caption_rows:
        captions = reference.captions(row)
        seen = set()
        for epoch in range(40):
            dataset.set_epoch(epoch)
            item = dataset[row]
            chosen = next(c for c in captions if c.text == item["caption"])
            assert item["tokens"] == list(chosen.tokens)
            assert item["stages"] == [
                {"start_frame": 0, "end_frame": item["length"], **dict.fromkeys(TEXT_FIELDS)}
                | {"overall": item["caption"], "tokens": item["tokens"]}
            ]
            seen.add(item["caption"])
        assert seen == {c.text for c in captions}
    first = _dataset(prepared, random_caption=False)
    for row in caption_rows:
        assert first[row]["caption"] == reference.captions(row)[0].text


def test_stage_rows_carry_clipped_stages_and_joined_captions(prepared, reference):
    dataset = _dataset(prepared, max_frames=16)
    staged = [i for i in range(len(dataset)) if reference.stages(i) and len(reference.stages(i)) > 1]
    assert staged
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for item in dataset.__getitems__(staged):
            start, end = item["crop_start"], item["crop_start"] + item["length"]
            expected = [
                (max(s.start_frame, start) - start, min(s.end_frame, end) - start, s)
                for s in reference.stages(item["index"])
                if s.end_frame > start and s.start_frame < end
            ]
            assert [(s["start_frame"], s["end_frame"]) for s in item["stages"]] == [e[:2] for e in expected]
            for stage, (_, _, source) in zip(item["stages"], expected, strict=True):
                assert {name: stage[name] for name in TEXT_FIELDS} == source.texts
            # Contiguous and covering the crop.
            assert item["stages"][0]["start_frame"] == 0 and item["stages"][-1]["end_frame"] == item["length"]
            overall = [s["overall"] for s in item["stages"]]
            assert item["caption"] == " ".join(overall)
            assert item["tokens"] is None or len(item["stages"]) == 1


def test_single_stage_and_textless_rows(prepared, reference):
    dataset = _dataset(prepared)
    for index in range(len(dataset)):
        stages, captions = reference.stages(index), reference.captions(index)
        item = dataset[index]
        if stages is not None and len(stages) == 1:
            assert item["caption"] == stages[0].overall and item["tokens"] == list(stages[0].tokens)
        if stages is None and captions is None:
            assert item["caption"] == "" and item["tokens"] is None
            assert item["stages"][0]["overall"] is None and item["stages"][0]["end_frame"] == item["length"]


def test_clip_stages_golden():
    stages = [{"start_frame": 0, "end_frame": 10, "x": 1}, {"start_frame": 10, "end_frame": 25, "x": 2}]
    stages.append({"start_frame": 25, "end_frame": 40, "x": 3})
    assert clip_stages(stages, 8, 12) == [
        {"start_frame": 0, "end_frame": 2, "x": 1},
        {"start_frame": 2, "end_frame": 12, "x": 2},
    ]
    assert clip_stages(stages, 10, 15) == [{"start_frame": 0, "end_frame": 15, "x": 2}]
    assert clip_stages(stages, 0, 40) == stages


# --------------------------------------------------------------------------- batches
def _check_batch(batch: dict, items: list[dict]) -> None:
    lengths = [item["length"] for item in items]
    frames = batch["features"].shape[1]
    assert batch["features"].dtype == torch.float32 and batch["lengths"].dtype == torch.long
    assert batch["lengths"].tolist() == lengths and frames == max(lengths)
    assert batch["mask"].dtype == torch.bool and batch["mask"].sum(1).tolist() == lengths
    for b, item in enumerate(items):
        length = item["length"]
        assert batch["mask"][b, :length].all() and not batch["mask"][b, length:].any()
        assert torch.equal(batch["features"][b, :length], item["features"])
        assert not batch["features"][b, length:].any()
        # stage_index names, for every real frame, the stage that holds it; -1 on padding.
        expected = torch.full((frames,), -1, dtype=torch.long)
        for k, stage in enumerate(item["stages"]):
            expected[stage["start_frame"] : stage["end_frame"]] = k
        assert torch.equal(batch["stage_index"][b], expected)
        assert (batch["stage_index"][b, :length] >= 0).all()
        assert batch["part_texts"][b] == {name: [s[name] for s in item["stages"]] for name in TEXT_FIELDS}
        assert set(batch["part_texts"][b]) == {"overall", *PARTS}
    assert batch["captions"] == [item["caption"] for item in items]
    assert batch["motion_ids"] == [item["motion_id"] for item in items]
    assert batch["indices"].tolist() == [item["index"] for item in items]
    assert batch["stages"] == [item["stages"] for item in items]


def test_collate_pads_masks_and_indexes_stages(prepared):
    dataset = _dataset(prepared, max_frames=40)
    items = dataset.__getitems__(list(range(len(dataset))))
    assert isinstance(items, ItemBatch) and items.padded() is not None
    batch = collate_motions(items)
    _check_batch(batch, items)
    # The same items as a plain list (copied path) give the same batch.
    copied = collate_motions(list(items))
    for key in ("features", "mask", "lengths", "stage_index"):
        assert torch.equal(batch[key], copied[key])
    # A reordered or edited list is not taken for the padded buffer.
    reordered = items[::-1]
    _check_batch(collate_motions(reordered), reordered)
    fixed = collate_motions(items, pad_to=64)
    assert fixed["features"].shape == (len(items), 64, DIMS) and fixed["stage_index"][:, 40:].eq(-1).all()
    with pytest.raises(ValueError, match="pad_to"):
        collate_motions(items, pad_to=10)


def test_edited_item_features_are_used(prepared):
    dataset = _dataset(prepared)
    items = dataset.__getitems__([0, 1])
    items[1]["features"] = torch.ones_like(items[1]["features"])
    assert items.padded() is None
    batch = collate_motions(items)
    assert batch["features"][1, : items[1]["length"]].eq(1).all()


# --------------------------------------------------------------------------- the sampler
LENGTHS = np.random.default_rng(0).integers(40, 197, 1000)


def _flat(batches) -> list[int]:
    return [i for batch in batches for i in batch]


def test_sampler_covers_every_index_once():
    sampler = LengthBucketSampler(LENGTHS, 32, seed=1, bucket_size_multiplier=5)
    batches = list(sampler)
    assert sorted(_flat(batches)) == list(range(1000)) and len(batches) == len(sampler) == 32
    assert sorted(len(b) for b in batches)[0] == 1000 % 32 and all(len(b) <= 32 for b in batches)
    dropped = LengthBucketSampler(LENGTHS, 32, seed=1, drop_last=True)
    assert len(list(dropped)) == len(dropped) == 31 and all(len(b) == 32 for b in dropped)
    assert len(set(_flat(dropped))) == 31 * 32


def test_sampler_batches_are_length_homogeneous():
    sampler = LengthBucketSampler(LENGTHS, 32, seed=1)
    spread = np.mean([np.ptp(LENGTHS[b]) for b in sampler])
    order = np.random.default_rng(1).permutation(1000)
    random_spread = np.mean([np.ptp(LENGTHS[order[i : i + 32]]) for i in range(0, 1000, 32)])
    assert spread < random_spread / 10
    # Padding waste: frames padded in bucketed batches vs random ones.
    assert sum(len(b) * LENGTHS[b].max() - LENGTHS[b].sum() for b in sampler) < 0.05 * LENGTHS.sum()


def test_sampler_is_deterministic_per_seed_and_epoch():
    one, two = LengthBucketSampler(LENGTHS, 16, seed=3), LengthBucketSampler(LENGTHS, 16, seed=3)
    assert list(one) == list(two)
    first = list(one)
    one.set_epoch(1)
    assert list(one) != first and sorted(_flat(one)) == sorted(_flat(first))
    two.set_epoch(1)
    assert list(one) == list(two)
    assert list(LengthBucketSampler(LENGTHS, 16, seed=4)) != first
    ordered = LengthBucketSampler(LENGTHS, 16, shuffle=False, bucket_size_multiplier=1000)
    assert _flat(ordered) == np.argsort(LENGTHS, kind="stable").tolist()


@pytest.mark.parametrize("replicas", [2, 3, 4])
def test_sampler_ranks_are_disjoint_and_cover_everything(replicas):
    lengths = LENGTHS[: 24 * replicas * 5]  # batches split evenly
    ranks = [LengthBucketSampler(lengths, 24, seed=9, num_replicas=replicas, rank=r) for r in range(replicas)]
    for sampler in ranks:
        sampler.set_epoch(2)
    per_rank = [_flat(s) for s in ranks]
    assert all(len(set(a) & set(b)) == 0 for i, a in enumerate(per_rank) for b in per_rank[i + 1 :])
    assert sorted(i for r in per_rank for i in r) == list(range(len(lengths)))
    assert len({len(list(s)) for s in ranks}) == 1 and len(ranks[0]) == 5
    # Ranks of one step get neighbouring batches of one sorted chunk: their longest motions are close,
    # much closer than those of two batches of the epoch taken at random.
    steps = list(zip(*[list(s) for s in ranks], strict=True))
    step_spread = np.mean([np.ptp([lengths[b].max() for b in step]) for step in steps])
    longest = np.array([lengths[b].max() for step in steps for b in step])
    any_pair_spread = np.abs(longest[:, None] - longest[None, :]).sum() / (len(longest) * (len(longest) - 1))
    assert step_spread < 0.5 * any_pair_spread


def test_sampler_ranks_get_equal_steps_when_batches_do_not_divide():
    for drop_last in (False, True):
        ranks = [
            LengthBucketSampler(LENGTHS, 32, num_replicas=3, rank=r, drop_last=drop_last) for r in range(3)
        ]
        counts = [len(list(s)) for s in ranks]
        assert counts == [len(ranks[0])] * 3 == [11 if not drop_last else 10] * 3
        covered = {i for s in ranks for i in _flat(s)}
        assert covered == set(range(1000)) if not drop_last else len(covered) == 30 * 32


def test_sampler_rejects_bad_arguments():
    with pytest.raises(MogenBenchError, match="batch_size"):
        LengthBucketSampler(LENGTHS, 0)
    with pytest.raises(MogenBenchError, match="rank"):
        LengthBucketSampler(LENGTHS, 4, num_replicas=2, rank=2)


# --------------------------------------------------------------------------- DataLoader
def _epoch(dataset, workers: int) -> list[dict]:
    sampler = LengthBucketSampler(dataset.lengths, 5, seed=2)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions, num_workers=workers)
    return list(loader)


def test_dataloader_batches_do_not_depend_on_workers(prepared):
    dataset = _dataset(prepared, max_frames=30, unit_crop=True)
    dataset.set_epoch(3)
    serial, parallel = _epoch(dataset, 0), _epoch(dataset, 2)
    assert len(serial) == len(parallel) == 4
    for a, b in zip(serial, parallel, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            assert torch.equal(value, b[key]) if isinstance(value, torch.Tensor) else value == b[key]
    seen = torch.cat([batch["indices"] for batch in serial])
    assert sorted(seen.tolist()) == list(range(len(dataset)))


def test_pickled_dataset_reopens_its_split(prepared):
    dataset = _dataset(prepared, max_frames=20, seed=8)
    dataset.set_epoch(2)
    data = pickle.dumps(dataset)
    assert len(data) < 5_000  # the folder and the config, never the features
    copy = pickle.loads(data)
    everything = list(range(len(dataset)))
    assert _same_items(dataset.__getitems__(everything), copy.__getitems__(everything))


# --------------------------------------------------------------------------- the feature cache
def test_feature_cache_is_written_once_and_mapped_after(prepared, tmp_path):
    cache = tmp_path / "cache"
    plain = _dataset(prepared, max_frames=25)
    built = _dataset(prepared, max_frames=25, feature_cache=str(cache))
    path = feature_cache_file(cache, PreparedDataset(prepared).info, "train")
    assert path.is_file() and [p.name for p in cache.iterdir()] == [path.name]
    mapped = _dataset(prepared, max_frames=25, feature_cache=str(cache))
    assert isinstance(mapped._flat.base, np.memmap) or isinstance(mapped._flat, np.memmap)
    everything = list(range(len(plain)))
    for dataset in (built, mapped):
        assert _same_items(plain.__getitems__(everything), dataset.__getitems__(everything))
    # A damaged cache file is rebuilt, not trusted.
    path.write_bytes(path.read_bytes()[:-100])
    rebuilt = _dataset(prepared, max_frames=25, feature_cache=str(cache))
    assert _same_items(plain.__getitems__(everything), rebuilt.__getitems__(everything))
    assert np.load(path).shape == (int(plain.lengths.sum()), DIMS)


def test_feature_cache_auto_follows_the_environment(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("MOGEN_BENCH_CACHE", str(tmp_path / "env-cache"))
    _dataset(prepared, feature_cache="auto")
    assert len(list((tmp_path / "env-cache" / "features").glob("train-*.npy"))) == 1
    # An empty setting means no cache, never the working folder.
    monkeypatch.chdir(tmp_path)
    _dataset(prepared, feature_cache="")
    assert not list(tmp_path.glob("*.npy"))


# --------------------------------------------------------------------------- errors
def test_unknown_split_names_the_dataset_and_the_choices(prepared):
    with pytest.raises(MogenBenchError) as error:
        MotionDataset(prepared, "validation")
    assert error.value.field == "split" and error.value.file.endswith("dataset.json")
    assert "train" in error.value.fix and "test" in error.value.fix


def test_missing_statistics_name_the_file_field_and_fix(prepared, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(prepared, broken)
    info = json.loads((broken / "dataset.json").read_text())
    del info["normalisation"]["std"]
    (broken / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(MogenBenchError) as error:
        MotionDataset(broken, "train")
    assert error.value.file == str(broken / "dataset.json") and error.value.field == "normalisation.std"
    assert "normalise=False" in error.value.fix
    assert len(MotionDataset(broken, "train", MotionDataConfig(normalise=False))) == 20
    info["normalisation"]["std"] = [0.0] * DIMS
    (broken / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(MogenBenchError, match="std > 0"):
        MotionDataset(broken, "train")


@pytest.mark.parametrize("field, value", [("max_frames", 0), ("max_frames", -3), ("unit_length", 0)])
def test_bad_config_values(field, value):
    with pytest.raises(MogenBenchError) as error:
        MotionDataConfig(**{field: value})
    assert error.value.field == field and error.value.fix


def test_index_out_of_range(prepared):
    dataset = _dataset(prepared)
    assert dataset[-1]["index"] == len(dataset) - 1
    with pytest.raises(IndexError):
        dataset[len(dataset)]


# --------------------------------------------------------------------------- a real HuMMan-MoGen tree
def test_humman_mogen_rows_carry_all_eight_texts(tmp_path):
    from mogen_bench.data.sources.humman_mogen import HummanMogenOptions, HummanMogenSource
    from tests.humman_tree import write_humman_tree

    tree = write_humman_tree(tmp_path / "tree", subjects=4, frames=60, up_axis="z")
    folder = prepare_dataset(HummanMogenSource(tree, HummanMogenOptions(up_axis="z")), tmp_path / "ds").folder
    split = PreparedDataset(folder).split_names[0]
    dataset = MotionDataset(folder, split, MotionDataConfig(max_frames=24))
    batch = collate_motions(dataset.__getitems__(list(range(len(dataset)))))
    for b, stages in enumerate(batch["stages"]):
        assert stages and all(stage[name] for stage in stages for name in TEXT_FIELDS)
        assert batch["part_texts"][b]["left_arm"] == [s["left_arm"] for s in stages]
        assert batch["captions"][b] == " ".join(s["overall"] for s in stages)
        assert batch["stage_index"][b, : batch["lengths"][b]].ge(0).all()
