"""HuMMan-MoGen JSON: reading the published example, byte-stable round trips, and every format rule."""

from __future__ import annotations

import hashlib
import json

import pytest

from annotation import AnnotationError, MogenBenchError, Stage, ValidationOptions
from annotation.humman_json import (
    DEFAULT_KEY_ORDER,
    dumps_humman_json,
    parse_humman_json,
    read_humman_json,
    write_humman_json,
)
from annotation.model import Annotation

from .conftest import HUMMAN_EXAMPLE_FRAMES


def test_reads_the_published_example(example_path):
    annotation = read_humman_json(example_path)
    assert annotation.motion_id == "p000459_a000011"
    assert [(s.start_frame, s.end_frame, s.num_frames) for s in annotation.stages] == [
        (0, 21, 21),
        (21, 66, 45),
    ]
    first = annotation.stages[0]
    assert first.overall == "Stand with legs open."
    assert first.spine == "Keep the spine straight and aligned."  # HuMMan "stem"
    assert first.trajectory == "The pelvis remains stable and centered in its natural position."  # "pelvis"
    assert first.text("stem") == first.spine and first.text("all") == first.overall
    assert annotation.length == HUMMAN_EXAMPLE_FRAMES
    assert annotation.provenance.source == "humman-mogen"
    assert annotation.provenance.sha256 == hashlib.sha256(example_path.read_bytes()).hexdigest()


def test_example_round_trips_byte_for_byte(example_path, tmp_path):
    annotation = read_humman_json(example_path)
    assert dumps_humman_json(annotation).encode() == example_path.read_bytes()
    out = write_humman_json(annotation, tmp_path / "copy.json")
    assert out.read_bytes() == example_path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    "dump_kwargs, newline",
    [
        ({}, False),  # json.dumps defaults: one line, ", " and ": "
        ({"separators": (",", ":")}, False),
        ({"indent": 2}, True),
        ({"indent": "\t"}, False),
        ({"indent": 4, "ensure_ascii": False}, True),
        ({"indent": 1, "separators": (", ", ": ")}, True),
    ],
)
def test_round_trip_is_byte_stable_for_json_module_layouts(example_stages, dump_kwargs, newline):
    example_stages[1]["head"] = "Tête haute — facing forward."  # non-ASCII to exercise ensure_ascii
    text = json.dumps(example_stages, **dump_kwargs) + ("\n" if newline else "")
    annotation = parse_humman_json(text, motion_id="m")
    assert dumps_humman_json(annotation) == text


def test_round_trip_keeps_a_different_key_order(example_stages):
    reordered = [
        {k: s[k] for k in [*list(s)[3:], "start_frame", "end_frame", "num_frames"]} for s in example_stages
    ]
    text = json.dumps(reordered, indent=4)
    assert dumps_humman_json(parse_humman_json(text, motion_id="m")) == text


def test_canonical_names_are_accepted_and_humman_keys_written(example_stages):
    renamed = []
    for stage in example_stages:
        stage = dict(stage)
        stage["overall"] = stage.pop("all")
        stage["spine"] = stage.pop("stem")
        stage["trajectory"] = stage.pop("pelvis")
        renamed.append(stage)
    annotation = parse_humman_json(json.dumps(renamed), motion_id="m")
    assert annotation.stages[0].spine == "Keep the spine straight and aligned."
    written = json.loads(dumps_humman_json(annotation))
    # HuMMan keys on output, in the order the input had them (the renamed keys went last).
    assert list(written[0]) == [
        "start_frame", "end_frame", "num_frames", "head", "left_arm", "right_arm", "left_leg", "right_leg",
        "all", "stem", "pelvis",
    ]  # fmt: skip
    assert written[0]["stem"] == "Keep the spine straight and aligned."


def test_new_annotation_is_written_in_the_default_layout():
    annotation = Annotation("m", (Stage(0, 5, **{f: f"{f} text" for f in Stage(0, 1).texts}),))
    text = dumps_humman_json(annotation)
    assert text.endswith("}\n]\n") and text.startswith('[\n    {\n        "start_frame": 0,')
    assert list(json.loads(text)[0]) == list(DEFAULT_KEY_ORDER)


def _problems(text, **kwargs):
    with pytest.raises(AnnotationError) as info:
        parse_humman_json(text, motion_id="m", path="m.json", **kwargs)
    return info.value.problems


def _one(text, **kwargs):
    problems = _problems(text, **kwargs)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def _dump(stages):
    return json.dumps(stages, indent=4)


def test_invalid_json_names_line_and_column():
    problem = _one('[\n  {"start_frame": 0,,}\n]')
    assert problem.file == "m.json"
    assert "invalid JSON at line 2, column 21" in problem.message


def test_top_level_must_be_a_list(example_stages):
    assert (
        "top level must be a list of stages, got a JSON object" in _one(json.dumps(example_stages[0])).message
    )


def test_empty_list_has_no_stages():
    assert "no stages" in _one("[]").message


def test_stage_must_be_an_object(example_stages):
    problem = _one(_dump([example_stages[0], "stage two"]))
    assert (problem.stage, problem.message) == (1, "a stage must be a JSON object, got a JSON string")


def test_unknown_key_is_reported_with_a_suggestion(example_stages):
    example_stages[1]["left_hand"] = "Wave."
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (1, "left_hand")
    assert problem.message.startswith("unknown key 'left_hand' (did you mean 'left_")


def test_duplicate_key_is_reported(example_stages):
    text = _dump(example_stages).replace('"head": "Maintain', '"head": "x", "head": "Maintain', 1)
    problem = _one(text)
    assert (problem.stage, problem.field, problem.message) == (0, "head", "key 'head' appears more than once")


def test_alias_and_canonical_name_for_the_same_text_is_a_duplicate(example_stages):
    example_stages[0]["spine"] = "Another spine text."
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (0, "spine")
    assert "keys 'stem' and 'spine' both give the spine text" in problem.message


@pytest.mark.parametrize("key", ["start_frame", "end_frame", "num_frames"])
def test_missing_frame_key(example_stages, key):
    del example_stages[1][key]
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field, problem.message) == (1, key, f"missing key {key!r}")


@pytest.mark.parametrize(
    "value, expected",
    [
        (21.5, "end_frame must be an integer, got 21.5"),
        (21.0, "end_frame must be an integer, got 21.0"),
        ("21", "end_frame must be an integer, got str '21'"),
        (True, "end_frame must be an integer, got bool True"),
        (None, "end_frame must be an integer, got NoneType None"),
        (-3, "end_frame is negative (-3)"),
    ],
)
def test_bad_frame_values(example_stages, value, expected):
    example_stages[0]["end_frame"] = value
    problems = _problems(_dump(example_stages))
    assert problems[0].message == expected
    assert (problems[0].stage, problems[0].field) == (0, "end_frame")


def test_nan_frame_is_named(example_stages):
    text = _dump(example_stages).replace('"start_frame": 21', '"start_frame": NaN')
    problem = _one(text)
    assert (problem.stage, problem.field, problem.message) == (1, "start_frame", "start_frame is NaN")


def test_num_frames_must_equal_end_minus_start(example_stages):
    example_stages[1]["num_frames"] = 44
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (1, "num_frames")
    assert problem.message == "num_frames is 44 but end_frame - start_frame is 45"
    assert "set num_frames to 45" in problem.fix


def test_empty_stage(example_stages):
    example_stages[1].update(end_frame=21, num_frames=0)
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (1, "end_frame")
    assert problem.message.startswith("the stage is empty")


def test_gap_between_stages(example_stages):
    example_stages[1].update(start_frame=25, num_frames=41)
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (1, "start_frame")
    assert problem.message.startswith("gap of 4 frames: stage 0 ends at frame 21")


def test_overlapping_stages(example_stages):
    example_stages[1].update(start_frame=20, num_frames=46)
    problem = _one(_dump(example_stages))
    assert problem.message.startswith("overlaps stage 0")
    assert "set start_frame to 21" in problem.fix


def test_stages_out_of_order(example_stages):
    problems = _problems(_dump(example_stages[::-1]))
    assert any(p.stage == 1 and p.message.startswith("stages are out of order") for p in problems)
    assert any(p.stage == 0 and "starts at frame 21, not 0" in p.message for p in problems)


def test_first_stage_must_start_at_zero(example_stages):
    example_stages[0].update(start_frame=3, num_frames=18)
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (0, "start_frame")
    assert "frames 0-2 have no stage" in problem.message


def test_partial_coverage_can_be_allowed(example_stages):
    example_stages[0].update(start_frame=3, num_frames=18)
    options = ValidationOptions(require_full_coverage=False)
    annotation = parse_humman_json(_dump(example_stages), motion_id="m", num_frames=80, options=options)
    assert annotation.stages[0].start_frame == 3


def test_stage_past_the_end_of_the_motion(example_stages):
    problem = _one(_dump(example_stages), num_frames=60)
    assert (problem.stage, problem.field) == (1, "end_frame")
    assert problem.message == "end_frame 66 is past the end of the motion (60 frames)"


def test_uncovered_tail_of_the_motion(example_stages):
    problem = _one(_dump(example_stages), num_frames=80)
    assert (problem.stage, problem.field) == (1, "end_frame")
    assert "the last stage ends at frame 66 but the motion has 80 frames" in problem.message


def test_missing_text_key_names_both_spellings(example_stages):
    del example_stages[1]["stem"]
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (1, "spine")
    assert problem.message == "the text of body part 'spine' (HuMMan-MoGen key 'stem') is missing or blank"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_null_or_blank_text(example_stages, value):
    example_stages[0]["all"] = value
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field) == (0, "overall")
    assert "overall text (HuMMan-MoGen key 'all') is missing or blank" in problem.message


def test_text_must_be_a_string(example_stages):
    example_stages[1]["left_leg"] = ["Take", "steps"]
    problem = _one(_dump(example_stages))
    assert (problem.stage, problem.field, problem.message) == (
        1,
        "left_leg",
        "text must be a string, got list",
    )


def test_missing_parts_allowed_only_when_asked(example_stages):
    for stage in example_stages:
        for key in ("head", "stem", "left_arm", "right_arm", "left_leg", "right_leg", "pelvis"):
            del stage[key]
    assert len(_problems(_dump(example_stages))) == 14
    options = ValidationOptions(allow_missing_parts=True)
    annotation = parse_humman_json(_dump(example_stages), motion_id="m", options=options)
    assert annotation.stages[1].left_arm is None and annotation.stages[1].overall.startswith("Take several")
    del example_stages[0]["all"]
    problem = _one(_dump(example_stages), options=options)
    assert (problem.stage, problem.field) == (0, "overall")


def test_every_problem_is_reported_not_only_the_first(example_stages):
    example_stages[0]["num_frames"] = 5
    example_stages[1]["bogus"] = 1
    example_stages[1]["head"] = 7
    problems = _problems(_dump(example_stages))
    assert [(p.stage, p.field) for p in problems] == [(0, "num_frames"), (1, "bogus"), (1, "head")]


def test_error_message_names_file_field_and_fix(example_stages):
    example_stages[1]["num_frames"] = 44
    with pytest.raises(AnnotationError) as info:
        parse_humman_json(_dump(example_stages), motion_id="m", path="ann/m.json")
    assert str(info.value) == (
        "ann/m.json: field 'stages[1].num_frames': num_frames is 44 but end_frame - start_frame is 45 "
        "(fix: set num_frames to 45 (end_frame is exclusive))"
    )


def test_non_utf8_bytes():
    problem = _one(b'[{"all": "\xff"}]')
    assert problem.message.startswith("not UTF-8 text (byte 10")


def test_byte_order_mark_is_accepted(example_path):
    annotation = parse_humman_json(b"\xef\xbb\xbf" + example_path.read_bytes(), motion_id="m")
    assert len(annotation.stages) == 2


def test_missing_file_is_a_project_error(tmp_path):
    with pytest.raises(MogenBenchError, match="no such file"):
        read_humman_json(tmp_path / "nope.json")


def test_a_folder_given_as_the_file_is_a_project_error(tmp_path):
    with pytest.raises(MogenBenchError) as info:
        read_humman_json(tmp_path)
    assert (info.value.message, info.value.fix) == (
        "is a folder, not an annotation .json file",
        "give an annotation .json file",
    )
    assert info.value.file == str(tmp_path)
