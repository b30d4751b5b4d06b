"""Editing operations of ``annotation.edit``: exact frames, texts, immutability and every error path."""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from annotation.edit import (
    delete_stage,
    insert_stage,
    merge_stages,
    set_stage_length,
    set_text,
    split_stage,
)
from annotation.errors import AnnotationError, MogenBenchError
from annotation.humman_json import read_humman_json
from annotation.model import Annotation, Provenance, Stage
from annotation.parts import PARTS, TEXT_FIELDS
from annotation.validate import ValidationOptions


def texts_for(tag: str) -> dict[str, str]:
    """All nine texts of a stage, each naming its stage tag and field, e.g. ``"s1 head"``."""
    return {name: f"{tag} {name}" for name in TEXT_FIELDS}


def make_annotation(
    bounds: tuple[int, ...] = (0, 10, 25, 40), num_frames: int | None = 40, **changes
) -> Annotation:
    """Stages ``[bounds[i], bounds[i + 1])`` tagged ``s0``, ``s1``, ... with every text present."""
    stages = tuple(
        Stage(start, end, **texts_for(f"s{i}")) for i, (start, end) in enumerate(itertools.pairwise(bounds))
    )
    return Annotation("m001", stages, num_frames=num_frames, **changes)


def frames(annotation: Annotation) -> list[tuple[int, int]]:
    return [(s.start_frame, s.end_frame) for s in annotation.stages]


NEW_TEXTS = texts_for("new")


@pytest.fixture
def ann() -> Annotation:
    # Three stages: [0, 10) [10, 25) [25, 40) of a 40-frame motion.
    return make_annotation()


@pytest.fixture
def example(example_path) -> Annotation:
    # The published HuMMan-MoGen example: stages [0, 21) and [21, 66) of a 66-frame motion.
    return read_humman_json(example_path, num_frames=66)


def only_problem(exc_info: pytest.ExceptionInfo[AnnotationError]):
    assert len(exc_info.value.problems) == 1
    return exc_info.value.problems[0]


# --------------------------------------------------------------------------------------------- set_text


def test_set_text_replaces_one_part_of_one_stage(ann):
    edited = set_text(ann, 1, "left_arm", "wave the left hand")
    assert edited.stages[1].left_arm == "wave the left hand"
    expected = {**texts_for("s1"), "left_arm": "wave the left hand"}
    assert edited.stages[1].texts == expected
    assert edited.stages[0] == ann.stages[0]
    assert edited.stages[2] == ann.stages[2]
    assert frames(edited) == [(0, 10), (10, 25), (25, 40)]
    assert edited.num_frames == 40
    assert edited.motion_id == "m001"


@pytest.mark.parametrize(
    ("alias", "field"), [("stem", "spine"), ("pelvis", "trajectory"), ("all", "overall"), ("spine", "spine")]
)
def test_set_text_accepts_humman_aliases(ann, alias, field):
    edited = set_text(ann, 0, alias, "changed")
    assert getattr(edited.stages[0], field) == "changed"
    # Exactly one text changed.
    changed = [n for n in TEXT_FIELDS if edited.stages[0].texts[n] != ann.stages[0].texts[n]]
    assert changed == [field]


def test_set_text_negative_index_counts_from_the_end(ann):
    edited = set_text(ann, -1, "head", "nod")
    assert edited.stages[2].head == "nod"
    assert edited.stages[:2] == ann.stages[:2]
    assert set_text(ann, -3, "head", "nod").stages[0].head == "nod"


def test_set_text_on_the_example(example):
    edited = set_text(example, 1, "pelvis", "The pelvis moves to the left.")
    assert edited.stages[1].trajectory == "The pelvis moves to the left."
    assert edited.stages[0] == example.stages[0]
    assert frames(edited) == [(0, 21), (21, 66)]
    assert edited.num_frames == 66


def test_set_overall_text_drops_stale_tokens():
    stage = Stage(0, 20, overall="a man walks", tokens=("a/DET", "man/NOUN", "walk/VERB"))
    caption = Annotation("c", (stage,), num_frames=20)
    edited = set_text(caption, 0, "overall", "a man runs")
    assert edited.stages[0].overall == "a man runs"
    assert edited.stages[0].tokens is None
    # A part text leaves the tokens alone (they describe the overall text).
    assert set_text(caption, 0, "head", "looks up").stages[0].tokens == stage.tokens


def test_set_text_keeps_clip_and_provenance_fields():
    ann = make_annotation(bounds=(0, 30), num_frames=30, clip=(10, 40), source_id="src")
    edited = set_text(ann, 0, "head", "tilt")
    assert edited.clip == (10, 40)
    assert edited.source_id == "src"


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_set_required_text_to_blank_is_an_annotation_error(ann, blank):
    with pytest.raises(AnnotationError) as exc_info:
        set_text(ann, 1, "head", blank)
    problem = only_problem(exc_info)
    assert problem.stage == 1
    assert problem.field == "head"
    assert problem.message == "the text of body part 'head' (HuMMan-MoGen key 'head') is missing or blank"
    assert exc_info.value.field == "stages[1].head"


def test_set_overall_text_to_blank_names_the_humman_key(ann):
    with pytest.raises(AnnotationError) as exc_info:
        set_text(ann, 0, "all", "")
    problem = only_problem(exc_info)
    assert (problem.stage, problem.field) == (0, "overall")
    assert problem.message == "the overall text (HuMMan-MoGen key 'all') is missing or blank"


def test_set_text_to_blank_is_allowed_where_parts_were_already_missing():
    caption = Annotation("c", (Stage(0, 20, overall="a man walks"), Stage(20, 30, overall="he sits")), 30)
    edited = set_text(caption, 1, "head", None)
    assert edited.stages == caption.stages
    # ... but the overall text is still required: none was missing before.
    with pytest.raises(AnnotationError):
        set_text(caption, 1, "overall", " ")


def test_set_text_with_explicit_options_allows_blank(ann):
    edited = set_text(ann, 0, "head", "", ValidationOptions(allow_missing_parts=True))
    assert edited.stages[0].head == ""


@pytest.mark.parametrize(
    ("part", "hint"),
    [("left_am", "left_arm"), ("stm", "stem"), ("pelvs", "pelvis"), ("overal", "overall"), ("Head", "head")],
)
def test_unknown_part_suggests_the_closest_name(ann, part, hint):
    with pytest.raises(MogenBenchError) as exc_info:
        set_text(ann, 0, part, "text")
    exc = exc_info.value
    assert not isinstance(exc, AnnotationError)
    assert exc.field == "part"
    assert f"unknown body part {part!r} (did you mean {hint!r}?)" in exc.message
    assert "use one of overall, head, spine, left_arm, right_arm, left_leg, right_leg, trajectory" in (
        exc.message
    )


def test_unknown_part_without_a_close_match_has_no_hint(ann):
    with pytest.raises(MogenBenchError) as exc_info:
        set_text(ann, 0, "xyzzy", "text")
    assert "did you mean" not in exc_info.value.message
    assert exc_info.value.message.startswith("unknown body part 'xyzzy'; use one of overall")


@pytest.mark.parametrize("stage", [3, 17, -4, True, "1", 1.0, None])
def test_bad_stage_index_is_an_annotation_error(ann, stage):
    with pytest.raises(AnnotationError) as exc_info:
        set_text(ann, stage, "head", "text")
    problem = only_problem(exc_info)
    assert problem.message == f"stage {stage!r} does not exist; the annotation has 3 stages"
    assert problem.fix == "give a stage index from 0 to 2"
    assert problem.stage is None


def test_bad_stage_index_of_a_one_stage_annotation_uses_the_singular():
    single = make_annotation(bounds=(0, 5), num_frames=5)
    with pytest.raises(AnnotationError) as exc_info:
        set_text(single, 1, "head", "x")
    assert only_problem(exc_info).message == "stage 1 does not exist; the annotation has 1 stage"


def test_bad_stage_index_is_reported_before_a_bad_part(ann):
    with pytest.raises(AnnotationError):
        set_text(ann, 5, "nonsense", "x")


# ------------------------------------------------------------------------------------------ split_stage


def test_split_stage_cuts_at_the_frame_and_copies_texts(ann):
    edited = split_stage(ann, 1, 18)
    assert frames(edited) == [(0, 10), (10, 18), (18, 25), (25, 40)]
    assert edited.num_frames == 40
    assert edited.stages[1].texts == texts_for("s1")
    assert edited.stages[2].texts == texts_for("s1")
    assert edited.stages[0] == ann.stages[0]
    assert edited.stages[3] == ann.stages[2]


def test_split_stage_texts_override_the_second_half_only(ann):
    edited = split_stage(ann, 1, 11, texts={"stem": "bend forward", "overall": "bow", "left_arm": "reach"})
    assert edited.stages[1].texts == texts_for("s1")
    assert edited.stages[2].texts == {
        **texts_for("s1"),
        "spine": "bend forward",
        "overall": "bow",
        "left_arm": "reach",
    }
    assert frames(edited) == [(0, 10), (10, 11), (11, 25), (25, 40)]


def test_split_stage_negative_index(ann):
    edited = split_stage(ann, -1, 39)
    assert frames(edited) == [(0, 10), (10, 25), (25, 39), (39, 40)]
    assert edited.num_frames == 40


def test_split_stage_on_the_example(example):
    edited = split_stage(example, 1, 40, texts={"all": "Lift the right leg."})
    assert frames(edited) == [(0, 21), (21, 40), (40, 66)]
    assert edited.num_frames == 66
    assert edited.stages[1].overall == example.stages[1].overall
    assert edited.stages[2].overall == "Lift the right leg."
    assert edited.stages[2].left_leg == "Take several steps to the left."


def test_split_stage_tokens_follow_the_overall_text():
    stage = Stage(0, 20, overall="a man walks", tokens=("a/DET", "man/NOUN", "walk/VERB"))
    caption = Annotation("c", (stage,), num_frames=20)
    plain = split_stage(caption, 0, 5)
    assert [s.tokens for s in plain.stages] == [stage.tokens, stage.tokens]
    overridden = split_stage(caption, 0, 5, texts={"overall": "a man stops"})
    assert overridden.stages[0].tokens == stage.tokens
    assert overridden.stages[1].tokens is None


@pytest.mark.parametrize("at_frame", [10, 25, 9, 0, 26, 40, -3])
def test_split_outside_or_on_the_boundary_is_an_error(ann, at_frame):
    with pytest.raises(AnnotationError) as exc_info:
        split_stage(ann, 1, at_frame)
    problem = only_problem(exc_info)
    assert problem.message == f"cannot split stage 1 [10, 25) at frame {at_frame}"
    assert problem.fix == "split at a frame strictly between 10 and 25"
    assert (problem.stage, problem.field) == (1, "start_frame")


def test_split_error_reports_the_normalised_index(ann):
    with pytest.raises(AnnotationError) as exc_info:
        split_stage(ann, -1, 25)
    assert only_problem(exc_info).message == "cannot split stage 2 [25, 40) at frame 25"


def test_split_errors_for_bad_index_bad_part_and_blank_text(ann):
    with pytest.raises(AnnotationError):
        split_stage(ann, 3, 30)
    with pytest.raises(MogenBenchError) as exc_info:
        split_stage(ann, 1, 15, texts={"left_hand": "x"})
    assert "did you mean 'left_arm'?" in exc_info.value.message
    with pytest.raises(AnnotationError) as exc_info:
        split_stage(ann, 1, 15, texts={"pelvis": ""})
    problem = only_problem(exc_info)
    assert (problem.stage, problem.field) == (2, "trajectory")


# ----------------------------------------------------------------------------------------- merge_stages


def test_merge_stages_joins_frames_and_texts(ann):
    edited = merge_stages(ann, 0)
    assert frames(edited) == [(0, 25), (25, 40)]
    assert edited.num_frames == 40
    assert edited.stages[0].texts == {name: f"s0 {name} s1 {name}" for name in TEXT_FIELDS}
    assert edited.stages[1] == ann.stages[2]


def test_merge_stages_negative_index_merges_the_last_two(ann):
    edited = merge_stages(ann, -2)
    assert frames(edited) == [(0, 10), (10, 40)]
    assert edited.stages[1].head == "s1 head s2 head"


def test_merge_stages_on_the_example_keeps_one_copy_of_equal_texts(example):
    edited = merge_stages(example, 0)
    assert frames(edited) == [(0, 66)]
    assert edited.num_frames == 66
    merged = edited.stages[0]
    # The head text is the same in both stages: one copy.
    assert merged.head == "Maintain a neutral position, facing forward."
    # Different texts are joined by one space.
    assert merged.left_leg == "Open the legs apart. Take several steps to the left."
    assert merged.spine == (
        "Keep the spine straight and aligned. Keep the spine straight and aligned throughout the motion."
    )
    assert merged.overall.startswith("Stand with legs open. Take several steps to the left")


def test_merge_stages_trims_the_whitespace_at_the_join():
    a = Annotation(
        "m",
        (Stage(0, 5, overall="walk  "), Stage(5, 9, overall="  run")),
        num_frames=9,
    )
    assert merge_stages(a, 0).stages[0].overall == "walk run"


def test_merge_stages_with_missing_texts_keeps_the_present_one():
    a = Annotation(
        "m",
        (
            Stage(0, 5, overall="walk", head="look up", left_arm=None, right_arm=""),
            Stage(5, 9, overall="run", head=None, left_arm="swing", right_arm="wave"),
        ),
        num_frames=9,
    )
    merged = merge_stages(a, 0).stages[0]
    assert merged.overall == "walk run"
    assert merged.head == "look up"
    assert merged.left_arm == "swing"
    # A blank text is missing, so nothing is joined to it (no stray leading space).
    assert merged.right_arm == "wave"
    assert merged.spine is None


def test_merge_stages_blank_second_text_leaves_no_trailing_space():
    a = Annotation("m", (Stage(0, 5, overall="walk", head="nod"), Stage(5, 9, overall="run", head="  ")), 9)
    assert merge_stages(a, 0).stages[0].head == "nod"


def test_merge_stages_texts_override_the_joined_ones(ann):
    edited = merge_stages(ann, 1, texts={"pelvis": "moves left", "all": "step and turn"})
    merged = edited.stages[1]
    assert merged.trajectory == "moves left"
    assert merged.overall == "step and turn"
    assert merged.head == "s1 head s2 head"
    assert frames(edited) == [(0, 10), (10, 40)]


def test_merge_stages_tokens_kept_only_when_the_overall_text_is_unchanged():
    tokens = ("a/DET", "man/NOUN", "walk/VERB")
    same = Annotation(
        "c",
        (
            Stage(0, 5, overall="a man walks", tokens=tokens),
            Stage(5, 9, overall="a man walks", tokens=tokens),
        ),
        9,
    )
    assert merge_stages(same, 0).stages[0].tokens == tokens
    different = Annotation(
        "c",
        (
            Stage(0, 5, overall="a man walks", tokens=tokens),
            Stage(5, 9, overall="he runs", tokens=("he/PRON",)),
        ),
        9,
    )
    assert merge_stages(different, 0).stages[0].tokens is None
    assert merge_stages(same, 0, texts={"overall": "walking"}).stages[0].tokens is None


@pytest.mark.parametrize("stage", [2, -1])
def test_merging_the_last_stage_is_an_error(ann, stage):
    with pytest.raises(AnnotationError) as exc_info:
        merge_stages(ann, stage)
    problem = only_problem(exc_info)
    assert problem.message == "stage 2 is the last stage; there is no next stage to merge it with"
    assert problem.fix == "merge stage 1 with its next instead"
    assert problem.stage == 2


def test_merging_a_single_stage_has_nothing_to_merge():
    with pytest.raises(AnnotationError) as exc_info:
        merge_stages(make_annotation(bounds=(0, 8), num_frames=8), 0)
    assert only_problem(exc_info).fix == "nothing to merge"


def test_merge_errors_for_bad_index_and_bad_part(ann):
    with pytest.raises(AnnotationError):
        merge_stages(ann, -4)
    with pytest.raises(MogenBenchError) as exc_info:
        merge_stages(ann, 0, texts={"torso": "x"})
    assert exc_info.value.field == "part"


# ------------------------------------------------------------------------------------- set_stage_length


def test_set_stage_length_shrinks_and_shifts_later_stages(ann):
    edited = set_stage_length(ann, 1, 5)
    assert frames(edited) == [(0, 10), (10, 15), (15, 30)]
    assert edited.num_frames == 30
    assert [s.texts for s in edited.stages] == [s.texts for s in ann.stages]


def test_set_stage_length_grows_the_motion(ann):
    edited = set_stage_length(ann, 0, 12)
    assert frames(edited) == [(0, 12), (12, 27), (27, 42)]
    assert edited.num_frames == 42


def test_set_stage_length_of_the_last_stage_by_negative_index(ann):
    edited = set_stage_length(ann, -1, 1)
    assert frames(edited) == [(0, 10), (10, 25), (25, 26)]
    assert edited.num_frames == 26


def test_set_stage_length_on_the_example(example):
    edited = set_stage_length(example, 0, 30)
    assert frames(edited) == [(0, 30), (30, 75)]
    assert edited.num_frames == 75


def test_set_stage_length_unchanged_keeps_clip_changed_drops_it():
    clipped = make_annotation(bounds=(0, 4, 10), num_frames=10, clip=(30, 40), source_id="src")
    same = set_stage_length(clipped, 0, 4)
    assert same == clipped
    assert same.clip == (30, 40)
    changed = set_stage_length(clipped, 0, 5)
    assert changed.clip is None
    assert changed.source_id == "src"
    assert frames(changed) == [(0, 5), (5, 11)]
    assert changed.num_frames == 11


def test_set_stage_length_with_unknown_motion_length_keeps_it_unknown():
    edited = set_stage_length(make_annotation(num_frames=None), 1, 20)
    assert frames(edited) == [(0, 10), (10, 30), (30, 45)]
    assert edited.num_frames is None
    assert edited.length == 45


@pytest.mark.parametrize("length", [0, -3, 2.5, True, "5"])
def test_set_stage_length_non_positive_or_non_integer_is_an_error(ann, length):
    with pytest.raises(AnnotationError) as exc_info:
        set_stage_length(ann, 1, length)
    problem = only_problem(exc_info)
    assert problem.message == f"a stage needs at least one frame, got {length!r}"
    assert (problem.stage, problem.field) == (1, "num_frames")
    assert problem.fix == "give a positive length"


def test_set_stage_length_bad_index(ann):
    with pytest.raises(AnnotationError) as exc_info:
        set_stage_length(ann, 3, 5)
    assert only_problem(exc_info).message == "stage 3 does not exist; the annotation has 3 stages"


# ----------------------------------------------------------------------------------------- insert_stage


def test_insert_stage_in_the_middle(ann):
    edited = insert_stage(ann, 1, 5, NEW_TEXTS)
    assert frames(edited) == [(0, 10), (10, 15), (15, 30), (30, 45)]
    assert edited.num_frames == 45
    assert edited.stages[1].texts == NEW_TEXTS
    assert [s.texts for s in edited.stages[::2]] == [texts_for("s0"), texts_for("s1")]
    assert edited.stages[3].texts == texts_for("s2")


def test_insert_stage_at_the_front(ann):
    edited = insert_stage(ann, 0, 5, NEW_TEXTS)
    assert frames(edited) == [(0, 5), (5, 15), (15, 30), (30, 45)]
    assert edited.num_frames == 45


def test_insert_stage_at_len_appends(ann):
    edited = insert_stage(ann, 3, 5, NEW_TEXTS)
    assert frames(edited) == [(0, 10), (10, 25), (25, 40), (40, 45)]
    assert edited.num_frames == 45
    assert edited.stages[3].texts == NEW_TEXTS


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (-1, [(0, 10), (10, 25), (25, 30), (30, 45)]),  # before the last stage, like list.insert
        (-2, [(0, 10), (10, 15), (15, 30), (30, 45)]),
        (-3, [(0, 5), (5, 15), (15, 30), (30, 45)]),
    ],
)
def test_insert_stage_negative_positions(ann, index, expected):
    assert frames(insert_stage(ann, index, 5, NEW_TEXTS)) == expected


def test_insert_stage_accepts_humman_keys():
    texts = {"all": "jump", "head": "h", "stem": "s", "left_arm": "la", "right_arm": "ra"}
    texts |= {"left_leg": "ll", "right_leg": "rl", "pelvis": "up"}
    edited = insert_stage(make_annotation(), 2, 3, texts)
    new = edited.stages[2]
    assert (new.overall, new.spine, new.trajectory) == ("jump", "s", "up")
    assert frames(edited) == [(0, 10), (10, 25), (25, 28), (28, 43)]


def test_insert_stage_appends_to_the_example(example):
    edited = insert_stage(example, 2, 10, NEW_TEXTS)
    assert frames(edited) == [(0, 21), (21, 66), (66, 76)]
    assert edited.num_frames == 76


def test_insert_stage_with_unknown_motion_length():
    edited = insert_stage(make_annotation(num_frames=None), 3, 4, NEW_TEXTS)
    assert frames(edited)[-1] == (40, 44)
    assert edited.num_frames is None


def test_insert_stage_appends_after_the_last_stage_when_the_tail_is_uncovered():
    # Stages cover [0, 25) of a 40-frame motion; the new stage follows the last stage, at frame 25.
    partial = make_annotation(bounds=(0, 10, 25), num_frames=40)
    options = ValidationOptions(require_full_coverage=False)
    edited = insert_stage(partial, 2, 5, NEW_TEXTS, options)
    assert frames(edited) == [(0, 10), (10, 25), (25, 30)]
    assert edited.num_frames == 45


def test_insert_stage_drops_clip(ann):
    clipped = ann.replace(clip=(100, 140))
    assert insert_stage(clipped, 1, 2, NEW_TEXTS).clip is None


@pytest.mark.parametrize("index", [4, 10, -4])
def test_insert_position_out_of_range_is_an_error(ann, index):
    with pytest.raises(AnnotationError) as exc_info:
        insert_stage(ann, index, 5, NEW_TEXTS)
    problem = only_problem(exc_info)
    assert problem.message == f"cannot insert at position {index}: the annotation has 3 stages"
    assert problem.fix == "insert at a position from 0 to 3 (3 appends)"


@pytest.mark.parametrize("length", [0, -1])
def test_insert_non_positive_length_is_an_error(ann, length):
    with pytest.raises(AnnotationError) as exc_info:
        insert_stage(ann, 1, length, NEW_TEXTS)
    problem = only_problem(exc_info)
    assert problem.message == f"a stage needs at least one frame, got {length}"
    assert (problem.stage, problem.field) == (1, "num_frames")


def test_insert_stage_with_missing_texts_reports_every_missing_part(ann):
    with pytest.raises(AnnotationError) as exc_info:
        insert_stage(ann, 1, 5, {"overall": "jump"})
    problems = exc_info.value.problems
    assert [(p.stage, p.field) for p in problems] == [(1, part) for part in PARTS]
    assert exc_info.value.message.endswith("(and 6 more problems)")


def test_insert_stage_unknown_part(ann):
    with pytest.raises(MogenBenchError) as exc_info:
        insert_stage(ann, 1, 5, {**NEW_TEXTS, "rigth_leg": "x"})
    assert "did you mean 'right_leg'?" in exc_info.value.message


# ----------------------------------------------------------------------------------------- delete_stage


def test_delete_middle_stage_shifts_later_stages_back(ann):
    edited = delete_stage(ann, 1)
    assert frames(edited) == [(0, 10), (10, 25)]
    assert edited.num_frames == 25
    assert [s.texts for s in edited.stages] == [texts_for("s0"), texts_for("s2")]


def test_delete_first_stage(ann):
    edited = delete_stage(ann, 0)
    assert frames(edited) == [(0, 15), (15, 30)]
    assert edited.num_frames == 30  # 40 - 10
    assert [s.texts for s in edited.stages] == [texts_for("s1"), texts_for("s2")]


def test_delete_last_stage_by_negative_index(ann):
    edited = delete_stage(ann, -1)
    assert frames(edited) == [(0, 10), (10, 25)]
    assert edited.num_frames == 25
    assert edited.stages == ann.stages[:2]


def test_delete_stage_of_the_example(example):
    edited = delete_stage(example, 0)
    assert frames(edited) == [(0, 45)]
    assert edited.num_frames == 45
    assert edited.stages[0].overall == example.stages[1].overall


def test_delete_stage_drops_clip(ann):
    assert delete_stage(ann.replace(clip=(0, 40)), 0).clip is None


def test_deleting_the_only_stage_is_an_error():
    with pytest.raises(AnnotationError) as exc_info:
        delete_stage(make_annotation(bounds=(0, 12), num_frames=12), -1)
    problem = only_problem(exc_info)
    assert problem.message == "cannot delete the only stage"
    assert problem.fix == "an annotation needs at least one stage"
    assert problem.stage == 0


def test_delete_bad_index(ann):
    with pytest.raises(AnnotationError) as exc_info:
        delete_stage(ann, 3)
    assert only_problem(exc_info).fix == "give a stage index from 0 to 2"


# ------------------------------------------------------------------------------------------ immutability


EDITS = [
    ("set_text", lambda a: set_text(a, 1, "stem", "twist")),
    ("split_stage", lambda a: split_stage(a, 1, 12, texts={"all": "x"})),
    ("merge_stages", lambda a: merge_stages(a, 0)),
    ("set_stage_length", lambda a: set_stage_length(a, 0, 3)),
    ("insert_stage", lambda a: insert_stage(a, 1, 4, NEW_TEXTS)),
    ("delete_stage", lambda a: delete_stage(a, 1)),
]


@pytest.mark.parametrize("edit", [e for _, e in EDITS], ids=[name for name, _ in EDITS])
def test_edits_leave_the_input_unchanged(edit):
    original = make_annotation(provenance=Provenance("humman-mogen", path="m001.json", sha256="ab" * 32))
    snapshot = copy.deepcopy(original)
    stages_before = original.stages
    edited = edit(original)
    assert edited != original
    assert original == snapshot
    assert original.stages is stages_before
    assert frames(original) == [(0, 10), (10, 25), (25, 40)]
    assert original.num_frames == 40
    assert original.provenance == snapshot.provenance
    assert isinstance(edited.stages, tuple)


def test_failed_edit_leaves_the_input_unchanged(ann):
    snapshot = copy.deepcopy(ann)
    with pytest.raises(AnnotationError):
        set_text(ann, 0, "head", "")
    with pytest.raises(AnnotationError):
        split_stage(ann, 0, 10)
    assert ann == snapshot


# ------------------------------------------------------------------------------------------- properties


stage_lengths = st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=6)


def annotation_of(lengths: list[int], with_length: bool) -> Annotation:
    bounds = [0]
    for n in lengths:
        bounds.append(bounds[-1] + n)
    return make_annotation(bounds=tuple(bounds), num_frames=bounds[-1] if with_length else None)


@given(lengths=stage_lengths, data=st.data(), new_length=st.integers(1, 30), with_length=st.booleans())
def test_insert_then_delete_restores_the_original(lengths, data, new_length, with_length):
    original = annotation_of(lengths, with_length)
    count = len(lengths)
    index = data.draw(st.integers(min_value=-count, max_value=count), label="index")
    inserted = insert_stage(original, index, new_length, NEW_TEXTS)
    position = index + count if index < 0 else index
    assert inserted.stages[position].texts == NEW_TEXTS
    assert inserted.stages[position].num_frames == new_length
    assert inserted.length == original.length + new_length
    restored = delete_stage(inserted, position)
    assert restored.stages == original.stages
    assert restored.num_frames == original.num_frames
    assert restored == original


@given(lengths=stage_lengths, data=st.data(), with_length=st.booleans())
def test_split_then_merge_restores_the_original(lengths, data, with_length):
    splittable = [i for i, n in enumerate(lengths) if n >= 2]
    assume(splittable)
    original = annotation_of(lengths, with_length)
    index = data.draw(st.sampled_from(splittable), label="stage")
    stage = original.stages[index]
    at = data.draw(st.integers(stage.start_frame + 1, stage.end_frame - 1), label="at_frame")
    split = split_stage(original, index, at)
    assert len(split.stages) == len(original.stages) + 1
    assert (split.stages[index].end_frame, split.stages[index + 1].start_frame) == (at, at)
    merged = merge_stages(split, index)
    assert frames(merged) == frames(original)
    assert merged.num_frames == original.num_frames
    # Both halves carried the same texts, so the merge keeps one copy of each: nothing changed at all.
    assert merged == original
