"""Finding annotation files in the published layouts and checking them against their motions."""

from __future__ import annotations

import numpy as np
import pytest

from annotation import AnnotationError, MogenBenchError, check_paths, read_annotations
from annotation.discover import annotation_files, motion_length

from .conftest import HUMMAN_EXAMPLE_FRAMES, write_smpl_npz


def test_release_root_is_read_with_motion_lengths(release_root):
    report = check_paths([release_root])
    assert report.ok and report.problems == []
    assert [a.num_frames for a in report.annotations] == [HUMMAN_EXAMPLE_FRAMES]
    assert report.files == [str(release_root / "annotations" / "p000459_a000011.json")]


def test_annotations_folder_and_single_file_find_the_motion(release_root):
    for path in (release_root / "annotations", release_root / "annotations" / "p000459_a000011.json"):
        annotations, warnings = read_annotations([path])
        assert warnings == [] and annotations[0].num_frames == HUMMAN_EXAMPLE_FRAMES


def test_motion_shorter_than_the_stages_is_an_error(release_root):
    write_smpl_npz(release_root / "smpl_on_ground" / "p000459_a000011.npz", 60)
    report = check_paths([release_root])
    assert [(p.stage, p.field) for p in report.errors] == [(1, "end_frame")]
    assert "past the end of the motion (60 frames)" in report.errors[0].message
    with pytest.raises(AnnotationError):
        read_annotations([release_root])


def test_motion_longer_than_the_stages_is_an_error(release_root):
    write_smpl_npz(release_root / "smpl_on_ground" / "p000459_a000011.npz", 90)
    report = check_paths([release_root])
    assert "the motion has 90 frames" in report.errors[0].message


def test_missing_motion_file_is_a_warning(release_root):
    (release_root / "smpl_on_ground" / "p000459_a000011.npz").unlink()
    report = check_paths([release_root])
    assert report.ok and len(report.warnings) == 1
    assert "no motion file smpl_on_ground/p000459_a000011.npz" in report.warnings[0].message


def test_unreadable_motion_file_is_a_warning(release_root):
    (release_root / "smpl_on_ground" / "p000459_a000011.npz").write_bytes(b"not a zip")
    assert motion_length(release_root / "annotations" / "p000459_a000011.json")[0] is None
    report = check_paths([release_root])
    assert report.ok and "cannot read the motion file" in report.warnings[0].message


def test_folder_without_annotations(tmp_path):
    with pytest.raises(MogenBenchError, match=r"no annotation files \(\*\.json\)"):
        annotation_files(tmp_path)
    report = check_paths([tmp_path, tmp_path / "missing"])
    assert [p.message for p in report.errors] == [
        "no annotation files (*.json) in this folder",
        "no such file or folder",
    ]


def test_one_bad_file_does_not_hide_the_good_ones(release_root):
    (release_root / "annotations" / "p000460_a000011.json").write_text("{")
    write_smpl_npz(release_root / "smpl_on_ground" / "p000460_a000011.npz", 10)
    report = check_paths([release_root])
    assert len(report.files) == 2 and len(report.annotations) == 1
    assert report.errors[0].file.endswith("p000460_a000011.json")


def test_humanml3d_texts_folder_uses_new_joint_vecs(tmp_path):
    root = tmp_path / "HumanML3D"
    (root / "texts").mkdir(parents=True)
    (root / "new_joint_vecs").mkdir()
    np.save(root / "new_joint_vecs" / "000001.npy", np.zeros((120, 263), np.float32))
    (root / "texts" / "000001.txt").write_text(
        "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
        "a person turns around.#a/DET person/NOUN turn/VERB around/ADV#2.0#5.5\n"
    )
    report = check_paths([root])
    assert report.ok
    assert [(a.motion_id, a.num_frames, a.clip) for a in report.annotations] == [
        ("000001", 120, None),
        ("000001#40-110", 70, (40, 110)),
    ]


def test_caption_file_without_motion_checks_syntax_and_warns(tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "000002.txt").write_text("a person waves.#a/DET person/NOUN wave/VERB#0.0#0.0\nbroken line\n")
    report = check_paths([texts])
    assert [p.severity for p in report.problems] == ["error", "warning"]
    assert report.errors[0].message.startswith("line 2: expected 4 '#'-separated fields")
    assert "1 whole-clip caption(s) were checked for syntax only" in report.warnings[0].message


def test_folder_round_trip(release_root, tmp_path):
    from annotation import write_humman_folder

    annotations, _ = read_annotations([release_root])
    renamed = annotations[0].replace(motion_id="p000460_a000011")
    written = write_humman_folder([annotations[0], renamed], tmp_path / "out" / "annotations")
    assert [p.name for p in written] == ["p000459_a000011.json", "p000460_a000011.json"]
    source = (release_root / "annotations" / "p000459_a000011.json").read_bytes()
    assert all(p.read_bytes() == source for p in written)
    again, _ = read_annotations([tmp_path / "out"])
    assert [a.stages for a in again] == [annotations[0].stages] * 2


@pytest.mark.parametrize("ids, message", [(["a", "a"], "appears twice"), (["../x"], "cannot be a file name")])
def test_folder_writer_rejects_bad_ids_before_writing(release_root, tmp_path, ids, message):
    from annotation import write_humman_folder

    annotation = read_annotations([release_root])[0][0]
    with pytest.raises(MogenBenchError, match=message):
        write_humman_folder([annotation.replace(motion_id=i) for i in ids], tmp_path / "out")
    assert not (tmp_path / "out").exists()
