"""Corpus statistics (``annotation.stats``) on hand-built annotations with numbers worked out by hand."""

from __future__ import annotations

import pytest

from annotation.humman_json import read_humman_json
from annotation.model import Annotation, Stage
from annotation.parts import TEXT_FIELDS
from annotation.stats import AnnotationStats, Distribution, TextFieldStats, compute_stats, words

# ----------------------------------------------------------------------------------------------- words()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A man WALKS forward.", ["a", "man", "walks", "forward"]),
        ("Don't stop; it's fine", ["don't", "stop", "it's", "fine"]),
        # Apostrophes only count inside a word: quotes and a plural possessive's are dropped.
        ("'quoted' words", ["quoted", "words"]),
        ("the legs' position", ["the", "legs", "position"]),
        ("rock'n'roll", ["rock'n'roll"]),
        # A typographic apostrophe is an apostrophe too.
        ("Don\u2019t", ["don't"]),
        # Digits and punctuation are dropped; they split words.
        ("step 2 times, 3x!", ["step", "times", "x"]),
        ("left-arm/right_arm", ["left", "arm", "right", "arm"]),
        ("walk2run", ["walk", "run"]),
        ("  \t\n", []),
        ("123 ... !!!", []),
        ("", []),
    ],
)
def test_words(text, expected):
    assert words(text) == expected


# ------------------------------------------------------------------------------------------ distribution


def test_distribution_of_values():
    # [1, 2, 4, 9]: mean 16 / 4 = 4.0, median (2 + 4) / 2 = 3.0.
    assert Distribution.of([4, 1, 9, 2]) == Distribution(4, 4.0, 3.0, 1, 9)
    assert Distribution.of(iter([7])) == Distribution(1, 7.0, 7.0, 7, 7)


def test_distribution_of_nothing_is_all_zero():
    assert Distribution.of([]) == Distribution(0, 0.0, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------------------- compute_stats


@pytest.fixture
def corpus() -> list[Annotation]:
    m1 = Annotation(
        "m1",
        (
            Stage(
                0,
                10,
                overall="A man walks forward.",
                head="Look left; look up.",
                left_arm="Don't lift the arm; it's the arm's turn.",
            ),
            Stage(10, 30, overall="The man walks, then waves.", head=""),
        ),
        num_frames=None,  # length = last end_frame = 30
    )
    m2 = Annotation(
        "m2",
        (Stage(0, 40, overall="He waves 2 times!"),),
        num_frames=50,  # length = num_frames = 50 (the stage ends at 40)
    )
    m3 = Annotation(
        "m3",
        (Stage(0, 6, overall="WALK"), Stage(6, 12, overall=None), Stage(12, 18, overall="   ")),
        num_frames=18,
    )
    return [m1, m2, m3]


def test_counts_and_frame_distributions(corpus):
    stats = compute_stats(corpus)
    assert stats.motions == 3
    assert stats.stages == 6
    # Stages per motion [2, 1, 3]: mean 6 / 3 = 2.0, median 2, min 1, max 3.
    assert stats.stages_per_motion == Distribution(3, 2.0, 2, 1, 3)
    # Frames per stage [10, 20, 40, 6, 6, 6] -> sorted [6, 6, 6, 10, 20, 40]:
    # mean 88 / 6 = 14.666..., median (6 + 10) / 2 = 8.0, min 6, max 40.
    assert stats.frames_per_stage == Distribution(6, pytest.approx(88 / 6), 8.0, 6, 40)
    # Frames per motion [30, 50, 18]: mean 98 / 3 = 32.666..., median 30, min 18, max 50.
    assert stats.frames_per_motion == Distribution(3, pytest.approx(98 / 3), 30, 18, 50)


def test_overall_field(corpus):
    overall = compute_stats(corpus, top_k=4).field("overall")
    # Present texts: "A man walks forward." -> 4 words, "The man walks, then waves." -> 5,
    # "He waves 2 times!" -> 3 (the digit is dropped), "WALK" -> 1. None and "   " are missing.
    assert overall.texts == 4
    assert overall.missing == 2
    # [4, 5, 3, 1] -> mean 13 / 4 = 3.25, median (3 + 4) / 2 = 3.5.
    assert overall.words_per_text == Distribution(4, 3.25, 3.5, 1, 5)
    # Vocabulary: a, man, walks, forward, the, then, waves, he, times, walk = 10 words.
    assert overall.vocabulary_size == 10
    # man, walks and waves occur twice (alphabetical among themselves); then the first of the
    # seven words seen once, alphabetically: "a".
    assert overall.top_words == (("man", 2), ("walks", 2), ("waves", 2), ("a", 1))


def test_top_words_default_k_lists_ties_alphabetically(corpus):
    overall = compute_stats(corpus).field("overall")
    # top_k = 10 = the whole vocabulary: three words twice, then the seven singles in alphabetical order.
    assert overall.top_words == (
        ("man", 2),
        ("walks", 2),
        ("waves", 2),
        ("a", 1),
        ("forward", 1),
        ("he", 1),
        ("the", 1),
        ("then", 1),
        ("times", 1),
        ("walk", 1),
    )


def test_top_k_zero_and_larger_than_vocabulary(corpus):
    assert compute_stats(corpus, top_k=0).field("overall").top_words == ()
    assert len(compute_stats(corpus, top_k=100).field("overall").top_words) == 10


def test_part_field_with_blank_and_none_texts(corpus):
    head = compute_stats(corpus, top_k=4).field("head")
    # One text, "Look left; look up." -> look, left, look, up (4 words). The blank "" of m1's second
    # stage and the four None heads are missing: 5.
    assert head.texts == 1
    assert head.missing == 5
    assert head.words_per_text == Distribution(1, 4.0, 4, 4, 4)
    assert head.vocabulary_size == 3
    assert head.top_words == (("look", 2), ("left", 1), ("up", 1))


def test_apostrophes_in_vocabulary(corpus):
    left_arm = compute_stats(corpus, top_k=4).field("left_arm")
    # "Don't lift the arm; it's the arm's turn." -> don't, lift, the, arm, it's, the, arm's, turn:
    # 8 words, 7 distinct ("the" twice). Ties at 1 sorted: arm < arm's < don't < it's < lift < turn.
    assert left_arm.texts == 1
    assert left_arm.missing == 5
    assert left_arm.words_per_text == Distribution(1, 8.0, 8, 8, 8)
    assert left_arm.vocabulary_size == 7
    assert left_arm.top_words == (("the", 2), ("arm", 1), ("arm's", 1), ("don't", 1))


def test_field_without_any_text(corpus):
    spine = compute_stats(corpus).field("spine")
    assert spine == TextFieldStats("spine", 0, 6, Distribution(0, 0.0, 0.0, 0.0, 0.0), 0, ())


def test_fields_are_in_text_field_order(corpus):
    stats = compute_stats(corpus)
    assert tuple(f.field for f in stats.fields) == TEXT_FIELDS
    # Every stage is counted once per field, present or missing.
    assert all(f.texts + f.missing == 6 for f in stats.fields)


def test_text_of_only_punctuation_is_present_with_zero_words():
    annotation = Annotation("m", (Stage(0, 4, overall="..."), Stage(4, 8, overall="Sit.")), num_frames=8)
    overall = compute_stats([annotation]).field("overall")
    assert (overall.texts, overall.missing) == (2, 0)
    assert overall.words_per_text == Distribution(2, 0.5, 0.5, 0, 1)
    assert overall.top_words == (("sit", 1),)


def test_unknown_field_name_raises(corpus):
    with pytest.raises(StopIteration):
        compute_stats(corpus).field("stem")


def test_to_dict(corpus):
    data = compute_stats(corpus, top_k=2).to_dict()
    assert data["motions"] == 3
    assert data["stages"] == 6
    assert data["stages_per_motion"] == {"count": 3, "mean": 2.0, "median": 2, "min": 1, "max": 3}
    overall = data["fields"][0]
    assert overall["field"] == "overall"
    assert overall["top_words"] == (("man", 2), ("walks", 2))
    assert overall["words_per_text"] == {"count": 4, "mean": 3.25, "median": 3.5, "min": 1, "max": 5}


def test_accepts_any_iterable(corpus):
    assert compute_stats(iter(corpus)) == compute_stats(corpus)
    assert compute_stats(a for a in corpus).motions == 3


def test_empty_input():
    zero = Distribution(0, 0.0, 0.0, 0.0, 0.0)
    stats = compute_stats([])
    assert stats == AnnotationStats(
        motions=0,
        stages=0,
        stages_per_motion=zero,
        frames_per_stage=zero,
        frames_per_motion=zero,
        fields=tuple(TextFieldStats(name, 0, 0, zero, 0, ()) for name in TEXT_FIELDS),
    )


def test_annotation_without_stages():
    stats = compute_stats([Annotation("empty", ())])
    assert stats.motions == 1
    assert stats.stages == 0
    assert stats.stages_per_motion == Distribution(1, 0.0, 0, 0, 0)
    assert stats.frames_per_stage == Distribution(0, 0.0, 0.0, 0.0, 0.0)
    # Its length is 0: no num_frames and no last stage.
    assert stats.frames_per_motion == Distribution(1, 0.0, 0, 0, 0)


def test_example_annotation(example_path):
    stats = compute_stats([read_humman_json(example_path, num_frames=66)], top_k=3)
    assert stats.motions == 1
    assert stats.stages == 2
    # Stages of 21 and 45 frames: mean 33.0, median 33.0.
    assert stats.frames_per_stage == Distribution(2, 33.0, 33.0, 21, 45)
    assert stats.frames_per_motion == Distribution(1, 66.0, 66, 66, 66)
    head = stats.field("head")
    # "Maintain a neutral position, facing forward." twice: 6 words each, 6 distinct.
    assert head.words_per_text == Distribution(2, 6.0, 6.0, 6, 6)
    assert head.vocabulary_size == 6
    assert head.top_words == (("a", 2), ("facing", 2), ("forward", 2))
    right_leg = stats.field("right_leg")
    # "Open the legs apart." (4) and "Take several steps to the left and lift the right leg." (11).
    assert right_leg.words_per_text == Distribution(2, 7.5, 7.5, 4, 11)
    assert right_leg.top_words == (("the", 3), ("and", 1), ("apart", 1))
    assert all(f.missing == 0 for f in stats.fields)
