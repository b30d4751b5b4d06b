"""The HumanML3D / KIT-ML source: the official loader's items, filters and windows; the files end to end."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mogen_bench.data.reader import PreparedDataset
from mogen_bench.data.schema import Caption, MotionRecord, Skipped
from mogen_bench.data.sources.humanml3d import HumanML3DSource, KitMLSource
from mogen_bench.data.writer import prepare_dataset
from mogen_bench.errors import MogenBenchError
from tests.conftest import shared_sample_dir
from tests.hml3d_tree import REAL_CLIP, build_tree, caption_line, write_clip


def collect(source) -> tuple[dict[str, MotionRecord], dict[str, Skipped]]:
    records: dict[str, MotionRecord] = {}
    skipped: dict[str, Skipped] = {}
    for item in source.items():
        target = skipped if isinstance(item, Skipped) else records
        key = item.item if isinstance(item, Skipped) else item.motion_id
        assert key not in target, key
        target[key] = item
    return records, skipped


@pytest.fixture
def tree(tmp_path):
    return build_tree(tmp_path / "HumanML3D")


@pytest.fixture
def items(tree):
    return collect(HumanML3DSource(tree.root))


# ------------------------------------------------------------------------------------ the tree


def test_check_accepts_the_release_layout(tree):
    source = HumanML3DSource(tree.root)
    source.check()
    assert (source.name, source.representation, source.fps, source.dims) == (
        "humanml3d",
        "humanml3d-263",
        20.0,
        263,
    )


@pytest.mark.parametrize(
    "missing",
    ["new_joint_vecs", "texts", "Mean.npy", "Std.npy", "train.txt", "val.txt", "test.txt"],
)
def test_check_names_the_missing_part_and_shows_the_tree(tree, missing):
    path = tree.root / missing
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(MogenBenchError) as info:
        HumanML3DSource(tree.root).check()
    message = info.value.message
    assert missing in message.splitlines()[0]
    assert "new_joint_vecs/<id>.npy" in message and "texts/<id>.txt" in message and "(T, 263)" in message
    assert info.value.file == str(tree.root)


def test_check_without_the_folder(tmp_path):
    with pytest.raises(MogenBenchError, match="no such folder"):
        HumanML3DSource(tmp_path / "nowhere").check()


def test_check_points_at_the_zipped_texts(tree):
    shutil.rmtree(tree.root / "texts")
    (tree.root / "texts.zip").write_bytes(b"PK")
    with pytest.raises(MogenBenchError) as info:
        HumanML3DSource(tree.root).check()
    assert "unzip texts.zip" in info.value.fix


@pytest.mark.parametrize(
    ("file", "value", "expected"),
    [
        ("Mean.npy", np.zeros(251, np.float32), r"shape \(251,\)"),
        ("Mean.npy", np.full(263, np.nan, np.float32), "NaN"),
        ("Std.npy", np.zeros(263, np.float32), "must be positive"),
        ("Std.npy", np.zeros((2, 263), np.float32), r"shape \(2, 263\)"),
    ],
)
def test_broken_statistics_are_an_error_naming_the_file(tree, file, value, expected):
    np.save(tree.root / file, value)
    for call in (HumanML3DSource(tree.root).check, HumanML3DSource(tree.root).statistics):
        with pytest.raises(MogenBenchError, match=expected) as info:
            call()
        assert info.value.file == str(tree.root / file)


def test_unknown_dataset_is_an_error(tree):
    with pytest.raises(MogenBenchError, match="unknown"):
        HumanML3DSource(tree.root, "babel")


# ------------------------------------------------------------------------------------ the loader's rules


def test_whole_clip_captions_go_to_the_clip(tree, items):
    records, _ = items
    clip = records["000001"]
    assert clip.split == "test" and clip.source_id == "000001" and clip.fps == 20.0
    assert clip.stages is None and not clip.mirrored
    assert clip.captions == [
        Caption("a person walks forward.", ("a/NOUN", "person/NOUN", "walks/VERB", "forward/NOUN"), 0.0, 0.0),
        # NaN tags count as 0, so this caption describes the whole clip too
        Caption("someone strolls ahead.", ("someone/NOUN", "strolls/VERB", "ahead/NOUN"), 0.0, 0.0),
    ]
    assert np.array_equal(clip.features, tree.features["000001"])


def test_a_timed_caption_is_its_own_window(tree, items):
    records, _ = items
    window = records["000001#25-80"]  # 1.25 s .. 4.0 s at the loader's 20 fps
    assert window.source_id == "000001" and window.split == "test" and window.num_frames == 55
    assert window.features.tobytes() == tree.features["000001"][25:80].tobytes()
    assert window.captions == [
        Caption("the person raises the left arm.", window.captions[0].tokens, 1.25, 4.0)
    ]


@pytest.mark.parametrize(
    ("motion_id", "start", "end", "text"),
    [
        ("000001#0-60", 0.0, 3.0, "a person starts walking."),  # a NaN start counts as 0
        ("000001#25-99", 1.27, 4.99, "a person kneels."),  # int() truncates 25.4 and 99.8
        ("000001#40-80", 2.0, 4.0, "a person stands."),  # exactly 40 frames: kept
    ],
)
def test_window_frames_follow_int_of_seconds_times_20(tree, items, motion_id, start, end, text):
    records, _ = items
    first, last = (int(v) for v in motion_id.split("#")[1].split("-"))
    assert (first, last) == (int(start * 20), int(end * 20))
    window = records[motion_id]
    assert np.array_equal(window.features, tree.features["000001"][first:last])
    assert [(c.text, c.start, c.end) for c in window.captions] == [(text, start, end)]


def test_identical_windows_stay_separate_items_as_in_the_official_loader(tree, items):
    records, _ = items
    first, second = records["000001#40-100"], records["000001#40-100#2"]
    assert [c.text for c in first.captions] == ["the person turns around."]
    assert [c.text for c in second.captions] == ["someone spins."]
    assert np.array_equal(first.features, second.features)
    assert np.array_equal(first.features, tree.features["000001"][40:100])


def test_window_ids_are_the_annotation_librarys(tree, items):
    # `prepare` and annotation.read_caption_file name a timed caption's window the same way, repeats included.
    from annotation import read_caption_file

    records, _ = items
    frames = len(tree.features["000001"])
    annotations = read_caption_file(tree.root / "texts" / "000001.txt", num_frames=frames)
    windows = {a.motion_id: a.clip for a in annotations if a.clip is not None}
    prepared = {m: r for m, r in records.items() if r.source_id == "000001" and m != "000001"}
    assert {"000001#40-100", "000001#40-100#2"} <= set(prepared) <= set(windows)
    for motion_id, record in prepared.items():
        first, last = windows[motion_id]
        assert np.array_equal(record.features, tree.features["000001"][first:last])


def test_windows_under_the_length_filter_are_skipped_with_the_reason(items):
    records, skipped = items
    for motion_id in ("000001#25-60", "000001#40-79", "000001#100-120"):  # 35, 39, 20 (cut at T) frames
        assert motion_id not in records
        assert skipped[motion_id].reason.startswith("caption window shorter than 40 frames")
        assert skipped[motion_id].file.endswith("texts/000001.txt")


def test_length_filter_bounds(items):
    records, skipped = items
    assert "000002" not in records  # 39 frames
    assert skipped["000002"].reason == "clip shorter than 40 frames (official filter 40 <= T < 200)"
    assert records["000003"].num_frames == 40
    assert records["000004"].num_frames == 199
    assert "000005" not in records  # 200 frames
    assert skipped["000005"].reason.startswith("clip 200 or more frames (official filter 40 <= T < 200)")
    # As the official loader, a clip outside the bounds takes its timed captions with it.
    assert "timed captions are dropped" in skipped["000005"].reason
    assert not [r for r in records.values() if r.source_id == "000005"]


def test_a_clip_without_whole_clip_captions_keeps_its_windows(tree, items):
    records, skipped = items
    assert "000101" not in records
    assert "no whole-clip caption" in skipped["000101"].reason
    window = records["000101#10-55"]
    assert window.split == "train"
    assert np.array_equal(window.features, tree.features["000101"][10:55])


def test_nan_clip_is_skipped_with_the_reason(items):
    records, skipped = items
    assert not [r for r in records.values() if r.source_id == "000006"]
    assert skipped["000006"].reason.startswith("NaN frames")
    assert skipped["000006"].file.endswith("new_joint_vecs/000006.npy")


@pytest.mark.parametrize(
    ("clip_id", "reason"),
    [
        ("000007", "no feature file new_joint_vecs/<id>.npy"),
        ("000008", "no caption file texts/<id>.txt"),
        ("000009", "features are (80, 251) float32, expected (T, 263) float"),
        ("000010", "invalid caption file: line 1: expected 4 '#'-separated fields"),
    ],
)
def test_broken_clips_are_skipped_with_the_reason(items, clip_id, reason):
    records, skipped = items
    assert clip_id not in records
    assert skipped[clip_id].reason.startswith(reason)


def test_mirrored_clips(tree, items):
    records, _ = items
    for motion_id in ("M000001", "M000001#25-80"):
        assert records[motion_id].mirrored and records[motion_id].source_id == "M000001"
    assert not records["000001"].mirrored and not records["000001#25-80"].mirrored
    assert np.array_equal(records["M000001#25-80"].features, tree.features["M000001"][25:80])


def test_every_listed_clip_and_caption_is_accounted_for(tree, items):
    records, skipped = items
    source_ids = {r.source_id for r in records.values()} | {s.item.split("#")[0] for s in skipped.values()}
    listed = {i for ids in tree.splits.values() for i in ids}
    assert source_ids == listed
    assert "999999" not in source_ids  # only in all.txt
    assert sorted(records) == sorted(
        [
            "000001", "000001#25-80", "000001#40-100", "000001#40-100#2", "000001#0-60", "000001#25-99",
            "000001#40-80", "M000001", "M000001#25-80", "000003", "000004", "000100", "000101#10-55",
            "000200",
        ]
    )  # fmt: skip


def test_items_are_deterministic(tree):
    first = [getattr(i, "motion_id", None) or i.item for i in HumanML3DSource(tree.root).items()]
    second = [getattr(i, "motion_id", None) or i.item for i in HumanML3DSource(tree.root).items()]
    assert first == second


def test_a_clip_in_two_split_files_stays_in_the_first(tree):
    (tree.root / "val.txt").write_text("000200\n000100\n")
    records, skipped = collect(HumanML3DSource(tree.root))
    assert records["000100"].split == "train"
    assert "more than one split file" in skipped["000100"].reason


def test_ids_that_are_paths_are_skipped(tree):
    (tree.root / "val.txt").write_text("000200\n../escape\n")
    _, skipped = collect(HumanML3DSource(tree.root))
    assert skipped["../escape"].reason.startswith("not a clip id")


# ------------------------------------------------------------------------------------ source facts


def test_options_split_rule_and_statistics(tree):
    source = HumanML3DSource(tree.root)
    assert source.options() == {
        "filters": {"min_frames": 40, "max_frames_exclusive": 200, "applies_to": "clips and caption windows"},
        "representation": "humanml3d-263",
    }
    assert source.split_rule() == "official split files"
    mean, std = source.statistics()
    assert mean.tobytes() == np.load(tree.root / "Mean.npy").tobytes()
    assert std.tobytes() == np.load(tree.root / "Std.npy").tobytes()


def test_input_files_are_what_the_output_depends_on(tree):
    files = HumanML3DSource(tree.root).input_files()
    names = {str(p.relative_to(tree.root)) for p in files}
    assert {"train.txt", "val.txt", "test.txt", "Mean.npy", "Std.npy"} <= names
    assert "all.txt" not in names and "train_val.txt" not in names
    assert "new_joint_vecs/000001.npy" in names and "texts/000001.txt" in names
    assert "texts/000009.txt" in names and "new_joint_vecs/000008.npy" in names
    assert "texts/000008.txt" not in names  # absent files are not inputs
    assert len(files) == len(set(files)) and all(p.is_file() for p in files)
    write_clip(tree.root, "000999", np.zeros((50, 263), np.float32), [caption_line("unlisted.")])
    assert "new_joint_vecs/000999.npy" not in {
        str(p.relative_to(tree.root)) for p in HumanML3DSource(tree.root).input_files()
    }


# ------------------------------------------------------------------------------------ end to end


def prepared(tree, tmp_path, source):
    out = tmp_path / "prepared"
    result = prepare_dataset(source, out)
    return result, PreparedDataset(out)


def test_prepare_end_to_end_is_bit_exact(tree, tmp_path):
    source = HumanML3DSource(tree.root)
    _, dataset = prepared(tree, tmp_path, source)
    info = dataset.info
    assert (info.source, info.representation, info.fps, info.dims) == (
        "humanml3d",
        "humanml3d-263",
        20.0,
        263,
    )
    assert info.split_rule == "official split files"
    assert info.normalisation["method"] == "shipped with the source"
    assert info.mean.tobytes() == np.load(tree.root / "Mean.npy").tobytes()
    assert info.std.tobytes() == np.load(tree.root / "Std.npy").tobytes()
    records, skipped = collect(source)
    assert {s["item"]: s["reason"] for s in info.skipped} == {k: s.reason for k, s in skipped.items()}

    test = dataset.split("test")
    assert len(test) == sum(r.split == "test" for r in records.values())
    for index, motion_id in enumerate(test.motion_ids):
        clip_id, _, window = motion_id.partition("#")
        features = np.load(tree.root / "new_joint_vecs" / f"{clip_id}.npy")
        if window:
            first, last = (int(v) for v in window.split("#")[0].split("-"))
            features = features[first:last]
        assert test.features(index).dtype == np.float32
        assert test.features(index).tobytes() == features.tobytes(), motion_id
        assert test.captions(index) == list(records[motion_id].captions)
        assert test.stages(index) is None
    assert test.column("source_id")[test.motion_ids.index("000001#25-80")] == "000001"
    assert test.mirrored[test.motion_ids.index("M000001")]

    again = prepare_dataset(HumanML3DSource(tree.root), tmp_path / "prepared")
    assert again.reused


def test_the_real_sample_clip_goes_through_unchanged(tmp_path):
    sample = shared_sample_dir()
    tree = build_tree(tmp_path / "HumanML3D", real_sample=sample)
    _, dataset = prepared(tree, tmp_path, HumanML3DSource(tree.root))
    train = dataset.split("train")
    original = np.load(sample / "new_joint_vecs" / f"{REAL_CLIP}.npy")
    assert original.shape == (170, 263)
    clip = train.motion_ids.index(REAL_CLIP)
    assert train.features(clip).tobytes() == original.tobytes()
    assert [c.text for c in train.captions(clip)] == ["a person walks in a circle."]
    window = train.motion_ids.index(f"{REAL_CLIP}#20-100")
    assert train.features(window).tobytes() == original[20:100].tobytes()
    assert dataset.info.mean.tobytes() == np.load(sample / "Mean.npy").tobytes()
    assert dataset.info.std.tobytes() == np.load(sample / "Std.npy").tobytes()


# ------------------------------------------------------------------------------------ KIT-ML


def test_kit_ml_variant(tmp_path):
    tree = build_tree(tmp_path / "KIT-ML", "kit-ml")
    source = KitMLSource(tree.root)
    assert (source.name, source.representation, source.fps, source.dims) == ("kit-ml", "kit-251", 12.5, 251)
    assert source.options()["filters"]["min_frames"] == 24
    source.check()
    records, skipped = collect(source)
    assert "000002" not in records  # 23 frames
    assert skipped["000002"].reason == "clip shorter than 24 frames (official filter 24 <= T < 200)"
    assert records["000003"].num_frames == 24 and records["000004"].num_frames == 199
    assert skipped["000005"].reason.startswith("clip 200 or more frames")
    # Windows are still cut at 20 frames per second of caption time, and filtered at 24 frames.
    assert records["000001#25-60"].num_frames == 35 and records["000001#40-79"].num_frames == 39
    assert "000001#100-120" in skipped  # 20 frames
    assert skipped["000009"].reason.startswith("features are (80, 239) float32, expected (T, 251)")
    assert all(r.fps == 12.5 for r in records.values())

    _, dataset = prepared(tree, tmp_path, source)
    assert (dataset.info.source, dataset.info.representation, dataset.info.dims) == ("kit-ml", "kit-251", 251)
    assert dataset.info.fps == 12.5
    test = dataset.split("test")
    index = test.motion_ids.index("000001#25-60")
    assert test.features(index).tobytes() == tree.features["000001"][25:60].tobytes()
    assert dataset.info.mean.tobytes() == np.load(tree.root / "Mean.npy").tobytes()


def test_kit_ml_rejects_humanml3d_statistics(tmp_path):
    tree = build_tree(tmp_path / "KIT-ML", "kit-ml")
    np.save(tree.root / "Mean.npy", np.zeros(263, np.float32))
    with pytest.raises(MogenBenchError, match=r"\(251,\)") as info:
        HumanML3DSource(tree.root, "kit-ml").check()
    assert "kit-ml folder" in info.value.fix


def test_kit_ml_source_is_the_parameterisation(tmp_path):
    tree = build_tree(tmp_path / "KIT-ML", "kit-ml")
    a, b = KitMLSource(tree.root), HumanML3DSource(tree.root, dataset="kit-ml")
    assert a.options() == b.options() and a.name == b.name == "kit-ml"
    assert [getattr(i, "motion_id", None) or i.item for i in a.items()] == [
        getattr(i, "motion_id", None) or i.item for i in b.items()
    ]
