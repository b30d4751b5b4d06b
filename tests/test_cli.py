"""The ``mogen-bench`` command line through Click's test runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from annotation import AnnotationError, humman_json_schema, read_humman_json
from mogen_bench import __version__
from mogen_bench.cli import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(cli, [str(a) for a in args], **kwargs)

    return invoke


@pytest.fixture
def bad_file(tmp_path, example_stages):
    example_stages[1]["num_frames"] = 44
    example_stages[0]["left_hand"] = "Wave."
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(example_stages))
    return path


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and result.output == f"mogen-bench, version {__version__}\n"
    assert __version__ == "0.1.0"


def test_help_lists_only_implemented_commands(run):
    result = run("--help")
    assert result.exit_code == 0
    assert sorted(cli.commands) == [
        "annotation",
        "convert",
        "data",
        "evaluate",
        "generate",
        "leaderboard",
        "prepare",
        "quickstart",
        "train",
    ]
    assert sorted(cli.commands["data"].commands) == ["info", "verify"]
    assert sorted(cli.commands["annotation"].commands) == ["edit", "schema", "stats", "validate"]


def test_validate_valid_release(run, release_root):
    result = run("annotation", "validate", release_root)
    assert result.exit_code == 0
    assert result.output == "checked 1 file(s): 0 error(s), 0 warning(s)\n"


def test_validate_prints_every_problem_and_exits_1(run, bad_file):
    result = run("annotation", "validate", bad_file)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"error: {bad_file}: stage 0: field 'left_hand': unknown key 'left_hand'")
    assert lines[1].startswith(f"error: {bad_file}: stage 1: field 'num_frames': num_frames is 44")
    assert lines[-1] == "checked 1 file(s): 2 error(s), 0 warning(s)"


def test_validate_json_format(run, bad_file, example_path):
    result = run("annotation", "validate", "--format", "json", bad_file, example_path)
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["files"], report["valid"], report["errors"], report["warnings"]) == (2, False, 2, 0)
    assert [(p["stage"], p["field"]) for p in report["problems"]] == [(0, "left_hand"), (1, "num_frames")]


def test_validate_allow_missing_parts(run, tmp_path, example_stages):
    for stage in example_stages:
        del stage["head"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(example_stages))
    assert run("annotation", "validate", path).exit_code == 1
    assert run("annotation", "validate", "--allow-missing-parts", path).exit_code == 0


def test_stats_json(run, release_root):
    result = run("annotation", "stats", "--format", "json", "--top-k", "2", release_root)
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert (stats["motions"], stats["stages"]) == (1, 2)
    assert stats["frames_per_stage"] == {"count": 2, "mean": 33.0, "median": 33.0, "min": 21, "max": 45}
    left_arm = next(f for f in stats["fields"] if f["field"] == "left_arm")
    assert left_arm["top_words"] == [["the", 9], ["arm", 4]]


def test_stats_table(run, release_root):
    result = run("annotation", "stats", release_root)
    assert result.exit_code == 0
    assert "1 motions, 2 stages" in result.output and "trajectory" in result.output


def test_stats_on_bad_file_is_a_one_line_error(run, bad_file):
    result = run("annotation", "stats", bad_file)
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {bad_file}: field 'stages[0].left_hand': unknown key 'left_hand'"
    )
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_debug_shows_the_exception(run, bad_file):
    result = run("--debug", "annotation", "stats", bad_file)
    assert result.exit_code == 1 and isinstance(result.exception, AnnotationError)


def test_schema(run, tmp_path):
    result = run("annotation", "schema")
    assert result.exit_code == 0 and json.loads(result.output) == humman_json_schema()
    out = tmp_path / "schema.json"
    assert run("annotation", "schema", "--allow-missing-texts", "-o", out).exit_code == 0
    assert json.loads(out.read_text()) == humman_json_schema(allow_missing_texts=True)


def test_edit_set_text_to_file(run, release_root, tmp_path):
    source = release_root / "annotations" / "p000459_a000011.json"
    before = source.read_bytes()
    out = tmp_path / "edited.json"
    result = run(
        "annotation", "edit", source, "--stage", 1, "--part", "left_arm", "--text", "Wave.", "-o", out
    )
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before
    edited = read_humman_json(out)
    assert edited.stages[1].left_arm == "Wave."
    assert edited.stages[0] == read_humman_json(source).stages[0]


def test_edit_that_changes_nothing_keeps_the_bytes(run, example_path, tmp_path):
    text = read_humman_json(example_path).stages[0].head
    result = run("annotation", "edit", example_path, "--stage", 0, "--part", "head", "--text", text)
    assert result.exit_code == 0 and result.output.encode() == example_path.read_bytes()


def test_edit_in_place_split_and_delete(run, release_root):
    path = release_root / "annotations" / "p000459_a000011.json"
    assert run("annotation", "edit", path, "--stage", 1, "--split-at", 40, "--in-place").exit_code == 0
    assert [(s.start_frame, s.end_frame) for s in read_humman_json(path).stages] == [
        (0, 21),
        (21, 40),
        (40, 66),
    ]
    # The motion still has 66 frames, so deleting a stage (which shortens the motion) cannot be
    # validated against it; write elsewhere and check the shift.
    out = release_root / "deleted.json"
    assert run("annotation", "edit", path, "--stage", 0, "--delete", "-o", out).exit_code == 0
    assert [(s.start_frame, s.end_frame) for s in read_humman_json(out).stages] == [(0, 19), (19, 45)]


def test_edit_insert_with_texts(run, example_path):
    result = run(
        "annotation", "edit", example_path, "--stage", 1, "--insert", "--length", 10,
        "--text", "Pause.", "--part-text", "stem=Stay upright.",
        "--allow-missing-parts",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stages = json.loads(result.output)
    assert [(s["start_frame"], s["end_frame"]) for s in stages] == [(0, 21), (21, 31), (31, 76)]
    assert (stages[1]["all"], stages[1]["stem"], stages[1]["head"]) == ("Pause.", "Stay upright.", None)


def test_edit_insert_without_part_texts_is_rejected(run, example_path):
    result = run(
        "annotation", "edit", example_path, "--stage", 1, "--insert", "--length", 10, "--text", "Pause."
    )
    assert result.exit_code == 1
    assert "field 'stages[1].head'" in result.output and "missing or blank" in result.output


def test_edit_merge_and_length(run, example_path):
    merged = json.loads(run("annotation", "edit", example_path, "--stage", 0, "--merge-next").output)
    assert [(s["start_frame"], s["end_frame"]) for s in merged] == [(0, 66)]
    assert merged[0]["head"] == "Maintain a neutral position, facing forward."  # equal texts kept once
    longer = json.loads(run("annotation", "edit", example_path, "--stage", 0, "--length", 30).output)
    assert [(s["start_frame"], s["end_frame"], s["num_frames"]) for s in longer] == [
        (0, 30, 30),
        (30, 75, 45),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stage", "0"], "choose exactly one operation"),
        (["--stage", "0", "--delete", "--merge-next"], "got --merge-next, --delete"),
        (["--stage", "0", "--delete", "--in-place", "-o", "x.json"], "either --out or --in-place"),
        (["--stage", "0", "--insert", "--text", "x"], "--insert needs --length"),
    ],
)
def test_edit_usage_errors(run, example_path, args, message):
    result = run("annotation", "edit", example_path, *args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stage", "5", "--delete"], "stage 5 does not exist; the annotation has 2 stages"),
        (["--stage", "0", "--part", "left_hand", "--text", "x"], "unknown body part 'left_hand'"),
        (["--stage", "0", "--split-at", "21"], "cannot split stage 0 [0, 21) at frame 21"),
        (["--stage", "0", "--merge-next", "--part-text", "nonsense"], "is not PART=TEXT"),
    ],
)
def test_edit_errors_are_one_line(run, example_path, args, message):
    result = run("annotation", "edit", example_path, *args)
    assert result.exit_code == 1 and message in result.output
    assert result.output.startswith("Error: ") and len(result.output.splitlines()) == 1


def test_edit_missing_file(run, tmp_path):
    result = run("annotation", "edit", tmp_path / "nope.json", "--stage", 0, "--delete")
    assert result.exit_code == 1 and "nope.json: no such file (fix: check the path)" in result.output
