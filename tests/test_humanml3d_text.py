"""HumanML3D / KIT-ML caption files (``annotation.humanml3d_text``): lines, windows, files and errors."""

from __future__ import annotations

import hashlib

import pytest

from annotation.errors import AnnotationError, MogenBenchError
from annotation.humanml3d_text import (
    LOADER_FPS,
    SOURCE,
    CaptionLine,
    caption_annotation,
    parse_caption_file,
    parse_caption_line,
    read_caption_file,
)
from annotation.model import Stage
from annotation.parts import PARTS

WALK = "a man walks forward#a/DET man/NOUN walk/VERB forward/ADV#0.0#0.0"
WALK_TOKENS = ("a/DET", "man/NOUN", "walk/VERB", "forward/ADV")
TIMED = "the person waves#the/DET person/NOUN wave/VERB#1.5#4.25"
TIMED_TOKENS = ("the/DET", "person/NOUN", "wave/VERB")


# ------------------------------------------------------------------------------------ parse_caption_line


def test_parse_whole_clip_line():
    line = parse_caption_line(WALK)
    assert line == CaptionLine("a man walks forward", WALK_TOKENS, 0.0, 0.0)
    assert line.whole_clip


def test_parse_timed_line():
    line = parse_caption_line(TIMED)
    assert line == CaptionLine("the person waves", TIMED_TOKENS, 1.5, 4.25)
    assert not line.whole_clip
    assert line.window() == (30, 85)  # int(1.5 * 20), int(4.25 * 20)


def test_parse_line_strips_the_line_end_only():
    assert parse_caption_line(TIMED + "\r\n") == parse_caption_line(TIMED)
    # Spaces inside the caption are kept as they are.
    assert parse_caption_line(" a man walks #a/DET#0#0").caption == " a man walks "


def test_parse_line_with_empty_token_field():
    line = parse_caption_line("a man walks##0.0#0.0")
    assert line.tokens == ()
    assert line.caption == "a man walks"


@pytest.mark.parametrize(
    ("times", "start", "end", "window"),
    [
        ("nan#3.0", 0.0, 3.0, (0, 60)),
        ("NaN#2", 0.0, 2.0, (0, 40)),
        ("0.5#nan", 0.5, 0.0, (10, 0)),
        ("0#10", 0.0, 10.0, (0, 200)),
        # The loader's int() truncates rather than rounds: 1.19 * 20 = 23.8 -> 23.
        ("1.19#2.0", 1.19, 2.0, (23, 40)),
        ("0.049#0.051", 0.049, 0.051, (0, 1)),
    ],
)
def test_times_and_windows(times, start, end, window):
    line = parse_caption_line(f"a man walks#a/DET man/NOUN walk/VERB#{times}")
    assert (line.start_seconds, line.end_seconds) == (start, end)
    assert line.window() == window


def test_nan_nan_is_a_whole_clip_caption():
    line = parse_caption_line("a man walks#a/DET#nan#nan")
    assert (line.start_seconds, line.end_seconds) == (0.0, 0.0)
    assert line.whole_clip


def test_window_defaults_to_the_loader_rate():
    line = parse_caption_line(TIMED)
    assert LOADER_FPS == 20.0
    assert line.window() == line.window(LOADER_FPS) == (30, 85)
    assert line.window(12.5) == (18, 53)  # int(1.5 * 12.5), int(4.25 * 12.5): an explicit rate is honoured


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (
            "a man walks#a/DET#0.0",
            "line",
            "line 3: expected 4 '#'-separated fields (caption#tokens#start#end), found 3",
        ),
        (
            "a man #1 walks#a/DET#0.0#0.0",
            "line",
            "line 3: expected 4 '#'-separated fields (caption#tokens#start#end), found 5",
        ),
        (
            "a man walks",
            "line",
            "line 3: expected 4 '#'-separated fields (caption#tokens#start#end), found 1",
        ),
        ("   #a/DET#0.0#0.0", "caption", "line 3: the caption is empty"),
        ("#a/DET#0.0#0.0", "caption", "line 3: the caption is empty"),
        ("a man#a man/NOUN#0.0#0.0", "tokens", "line 3: token 'a' is not of the form word/POS"),
        ("a man#a/DET  man/NOUN#0.0#0.0", "tokens", "line 3: token '' is not of the form word/POS"),
        ("a man#/DET#0.0#0.0", "tokens", "line 3: token '/DET' is not of the form word/POS"),
        ("a man#a/#0.0#0.0", "tokens", "line 3: token 'a/' is not of the form word/POS"),
        ("a man#a/DET/X#0.0#0.0", "tokens", "line 3: token 'a/DET/X' is not of the form word/POS"),
        ("a man#a/DET#abc#1.0", "start", "line 3: start time 'abc' is not a number"),
        ("a man#a/DET#0.0#", "end", "line 3: end time '' is not a number"),
        ("a man#a/DET#-1.0#2.0", "start", "line 3: start time -1.0 is out of range"),
        ("a man#a/DET#0.0#-0.5", "end", "line 3: end time -0.5 is out of range"),
        ("a man#a/DET#0.0#inf", "end", "line 3: end time inf is out of range"),
    ],
)
def test_malformed_lines_name_the_file_and_line(line, field, message):
    with pytest.raises(AnnotationError) as exc_info:
        parse_caption_line(line, path="texts/000001.txt", line_number=3)
    (problem,) = exc_info.value.problems
    assert problem.message == message
    assert problem.file == "texts/000001.txt"
    assert problem.field == field
    assert problem.fix
    assert str(exc_info.value).startswith(f"texts/000001.txt: field {field!r}: line 3: ")


def test_malformed_line_without_a_line_number():
    with pytest.raises(AnnotationError) as exc_info:
        parse_caption_line("a man walks")
    (problem,) = exc_info.value.problems
    assert problem.file is None
    assert problem.message.startswith("line: expected 4 '#'-separated fields")


@pytest.mark.parametrize(
    "line",
    [
        CaptionLine("a man walks forward", WALK_TOKENS, 0.0, 0.0),
        CaptionLine("the person waves", TIMED_TOKENS, 1.5, 4.25),
        CaptionLine("jumps", (), 0.1, 12.0),
    ],
)
def test_to_line_round_trip(line):
    assert parse_caption_line(line.to_line()) == line


def test_to_line_text():
    assert parse_caption_line(TIMED).to_line() == TIMED
    assert parse_caption_line(WALK).to_line() == WALK
    # Integer and NaN times are written as the floats they were read as.
    assert parse_caption_line("jump#jump/VERB#0#nan").to_line() == "jump#jump/VERB#0.0#0.0"


# ------------------------------------------------------------------------------------ caption_annotation


def test_whole_clip_caption_covers_the_motion():
    annotation = caption_annotation(parse_caption_line(WALK), source_id="000001", num_frames=120)
    assert annotation.motion_id == "000001"
    assert annotation.source_id == "000001"
    assert annotation.num_frames == 120
    assert annotation.fps == 20.0
    assert annotation.clip is None
    assert annotation.stages == (Stage(0, 120, overall="a man walks forward", tokens=WALK_TOKENS),)
    stage = annotation.stages[0]
    assert all(stage.texts[part] is None for part in PARTS)
    assert annotation.provenance.source == SOURCE == "humanml3d"
    assert annotation.provenance.sha256 is None


def test_timed_caption_is_a_window_of_its_own():
    annotation = caption_annotation(parse_caption_line(TIMED), source_id="000001", num_frames=200)
    assert annotation.motion_id == "000001#30-85"
    assert annotation.source_id == "000001"
    assert annotation.clip == (30, 85)
    assert annotation.num_frames == 55
    assert annotation.stages == (Stage(0, 55, overall="the person waves", tokens=TIMED_TOKENS),)


def test_timed_caption_without_motion_length_keeps_the_window():
    annotation = caption_annotation(parse_caption_line(TIMED), source_id="000001")
    assert (annotation.clip, annotation.num_frames) == ((30, 85), 55)


def test_nan_start_counts_as_zero():
    line = parse_caption_line("a man walks#a/DET#nan#3.0")
    annotation = caption_annotation(line, source_id="M000002", num_frames=100)
    assert annotation.clip == (0, 60)
    assert annotation.motion_id == "M000002#0-60"
    assert annotation.num_frames == 60


def test_window_past_the_motion_end_is_cut_to_the_motion():
    line = parse_caption_line("a man walks#a/DET#2.0#10.0")  # window (40, 200)
    annotation = caption_annotation(line, source_id="000003", num_frames=100)
    assert annotation.clip == (40, 100)
    assert annotation.motion_id == "000003#40-100"
    assert annotation.num_frames == 60
    assert annotation.stages[0].end_frame == 60


def test_fps_is_recorded_but_windows_stay_at_20_fps():
    # KIT-ML motions are 12.5 fps, but the official loader multiplies times by 20 for it too.
    annotation = caption_annotation(parse_caption_line(TIMED), source_id="k1", num_frames=200, fps=12.5)
    assert annotation.fps == 12.5
    assert annotation.clip == (30, 85)


@pytest.mark.parametrize(
    ("times", "num_frames", "message"),
    [
        ("3.0#3.0", None, "line 7: the caption's window [60, 60) frames is empty"),
        ("4.0#2.0", None, "line 7: the caption's window [80, 40) frames is empty"),
        ("0.0#0.04", 50, "line 7: the caption's window [0, 0) frames is empty (the motion has 50 frames)"),
        ("0.5#nan", None, "line 7: the caption's window [10, 0) frames is empty"),
        (
            "5.0#10.0",
            100,
            "line 7: the caption's window [100, 100) frames is empty (the motion has 100 frames)",
        ),
        (
            "6.0#10.0",
            100,
            "line 7: the caption's window [120, 100) frames is empty (the motion has 100 frames)",
        ),
    ],
)
def test_empty_window_is_an_annotation_error(times, num_frames, message):
    line = parse_caption_line(f"a man walks#a/DET#{times}")
    with pytest.raises(AnnotationError) as exc_info:
        caption_annotation(line, source_id="x", num_frames=num_frames, path="texts/x.txt", line_number=7)
    (problem,) = exc_info.value.problems
    assert problem.message == message
    assert problem.file == "texts/x.txt"
    assert problem.field == "end"


def test_whole_clip_caption_needs_the_motion_length():
    with pytest.raises(MogenBenchError) as exc_info:
        caption_annotation(parse_caption_line(WALK), source_id="000001", path="texts/000001.txt")
    exc = exc_info.value
    assert not isinstance(exc, AnnotationError)
    assert exc.message == "a whole-clip caption needs the motion's frame count"
    assert exc.field == "num_frames"
    assert exc.file == "texts/000001.txt"


def test_whole_clip_caption_with_zero_frames_is_invalid():
    with pytest.raises(AnnotationError) as exc_info:
        caption_annotation(parse_caption_line(WALK), source_id="000001", num_frames=0)
    assert exc_info.value.problems[0].field == "num_frames"


# ------------------------------------------------------------------------------------ parse_caption_file


FILE_TEXT = "\n".join(
    [
        WALK,
        "",
        TIMED,
        "   ",
        "someone jumps#someone/PRON jump/VERB#nan#3.0",
        "",
    ]
)


def test_parse_caption_file_in_order_skipping_blank_lines():
    annotations = parse_caption_file(FILE_TEXT, source_id="000001", num_frames=200, path="texts/000001.txt")
    assert [a.motion_id for a in annotations] == ["000001", "000001#30-85", "000001#0-60"]
    assert [a.clip for a in annotations] == [None, (30, 85), (0, 60)]
    assert [a.num_frames for a in annotations] == [200, 55, 60]
    assert [a.stages[0].overall for a in annotations] == [
        "a man walks forward",
        "the person waves",
        "someone jumps",
    ]
    assert all(a.source_id == "000001" for a in annotations)
    assert all(a.provenance.path == "texts/000001.txt" for a in annotations)


def test_parse_caption_file_with_crlf_line_ends():
    text = f"{WALK}\r\n{TIMED}\r\n"
    annotations = parse_caption_file(text, source_id="000001", num_frames=100)
    assert [a.stages[0].overall for a in annotations] == ["a man walks forward", "the person waves"]


def test_parse_caption_file_reports_every_bad_line():
    text = "\n".join([TIMED, "bad line without fields", TIMED, "a man#a/DET#-2#1.0", ""])
    with pytest.raises(AnnotationError) as exc_info:
        parse_caption_file(text, source_id="000001", num_frames=200, path="texts/000001.txt")
    problems = exc_info.value.problems
    assert [p.message for p in problems] == [
        "line 2: expected 4 '#'-separated fields (caption#tokens#start#end), found 1",
        "line 4: start time -2.0 is out of range",
    ]
    assert [p.field for p in problems] == ["line", "start"]
    assert all(p.file == "texts/000001.txt" for p in problems)
    assert exc_info.value.message.endswith("(and 1 more problem)")


def test_parse_caption_file_reports_an_empty_window_with_its_line():
    text = f"{TIMED}\n\na man#a/DET#9.0#12.0\n"
    with pytest.raises(AnnotationError) as exc_info:
        parse_caption_file(text, source_id="s", num_frames=100, path="t.txt")
    (problem,) = exc_info.value.problems
    # The window [180, 240) is cut at the motion's end: [180, 100), empty.
    assert (
        problem.message
        == "line 3: the caption's window [180, 100) frames is empty (the motion has 100 frames)"
    )


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_parse_caption_file_without_captions(text):
    with pytest.raises(AnnotationError) as exc_info:
        parse_caption_file(text, source_id="s", path="t.txt")
    (problem,) = exc_info.value.problems
    assert problem.message == "the caption file has no captions"
    assert problem.file == "t.txt"


def test_parse_caption_file_whole_clip_without_num_frames_is_a_user_error():
    with pytest.raises(MogenBenchError) as exc_info:
        parse_caption_file(f"{TIMED}\n{WALK}\n", source_id="s")
    assert not isinstance(exc_info.value, AnnotationError)
    assert exc_info.value.field == "num_frames"


def test_parse_caption_file_timed_captions_need_no_num_frames():
    (annotation,) = parse_caption_file(TIMED, source_id="s")
    assert (annotation.clip, annotation.num_frames) == ((30, 85), 55)


# ------------------------------------------------------------------------------------- read_caption_file


def test_read_caption_file_sets_provenance_and_source_id(tmp_path):
    path = tmp_path / "texts" / "000042.txt"
    path.parent.mkdir()
    data = FILE_TEXT.encode("utf-8")
    path.write_bytes(data)
    annotations = read_caption_file(path, num_frames=200)
    digest = hashlib.sha256(data).hexdigest()
    assert [a.motion_id for a in annotations] == ["000042", "000042#30-85", "000042#0-60"]
    for annotation in annotations:
        assert annotation.source_id == "000042"
        assert annotation.provenance.source == "humanml3d"
        assert annotation.provenance.path == str(path)
        assert annotation.provenance.sha256 == digest
        assert annotation.fps == 20.0


def test_read_caption_file_accepts_a_str_path_and_fps(tmp_path):
    path = tmp_path / "M00007.txt"
    path.write_text(TIMED + "\n", encoding="utf-8")
    (annotation,) = read_caption_file(str(path), fps=12.5)
    assert annotation.motion_id == "M00007#30-85"
    assert annotation.fps == 12.5


def test_read_caption_file_errors_name_the_file(tmp_path):
    path = tmp_path / "000005.txt"
    path.write_text(f"{WALK}\nno fields here\n", encoding="utf-8")
    with pytest.raises(AnnotationError) as exc_info:
        read_caption_file(path, num_frames=50)
    (problem,) = exc_info.value.problems
    assert problem.file == str(path)
    assert problem.message.startswith("line 2: expected 4 '#'-separated fields")


def test_read_caption_file_rejects_non_utf8(tmp_path):
    path = tmp_path / "000006.txt"
    path.write_bytes(b"a man\xff walks#a/DET#0.0#0.0\n")
    with pytest.raises(MogenBenchError) as exc_info:
        read_caption_file(path, num_frames=50)
    exc = exc_info.value
    assert not isinstance(exc, AnnotationError)
    assert exc.message == "not UTF-8 text (byte 5)"
    assert exc.file == str(path)
    assert exc.fix == "save the file as UTF-8"


def test_read_caption_file_missing_file(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(MogenBenchError) as exc_info:
        read_caption_file(path, num_frames=50)
    assert (exc_info.value.message, exc_info.value.fix) == ("no such file", "check the path")
    assert exc_info.value.file == str(path)


def test_read_caption_file_keeps_utf8_text(tmp_path):
    path = tmp_path / "000008.txt"
    path.write_text("a man does a pirouette \u2014 twice#a/DET man/NOUN#0.0#1.0\n", encoding="utf-8")
    (annotation,) = read_caption_file(path)
    assert annotation.stages[0].overall == "a man does a pirouette \u2014 twice"
    assert annotation.clip == (0, 20)
    assert annotation.num_frames == 20


def test_read_caption_file_ignores_a_byte_order_mark(tmp_path):
    path = tmp_path / "000003.txt"
    path.write_bytes(b"\xef\xbb\xbfa person jumps.#a/DET person/NOUN jump/VERB#0.0#0.0\n")
    (annotation,) = read_caption_file(path, num_frames=50)
    assert annotation.stages[0].overall == "a person jumps."
