"""Fuzzing the JSON reader: arbitrary input gives an annotation or the project error, never a crash."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from annotation import Annotation, AnnotationError, parse_humman_json
from annotation.humman_json import DEFAULT_KEY_ORDER, dumps_humman_json

json_scalars = (
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(allow_nan=True) | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
# Stage-shaped objects: known keys (and a few unknown ones) with arbitrary values, so the deep checks run.
stage_keys = st.sampled_from([*DEFAULT_KEY_ORDER, "spine", "overall", "trajectory", "left_hand"])
stages = st.dictionaries(stage_keys, json_scalars | st.integers(0, 100), max_size=12)


def _parse(text):
    try:
        result = parse_humman_json(text, motion_id="fuzz")
    except AnnotationError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return None
    assert isinstance(result, Annotation)
    return result


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_values(value):
    _parse(json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(st.lists(stages, max_size=4))
def test_stage_shaped_documents(document):
    annotation = _parse(json.dumps(document))
    if annotation is not None:
        # Whatever was accepted writes back to a document that reads back to the same annotation.
        assert parse_humman_json(dumps_humman_json(annotation), motion_id="fuzz") == annotation


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_and_text(data):
    _parse(data)


@st.composite
def valid_documents(draw):
    lengths = draw(st.lists(st.integers(1, 50), min_size=1, max_size=5))
    texts = st.text(min_size=1, max_size=20).filter(str.strip)
    document, start = [], 0
    for length in lengths:
        stage = {"start_frame": start, "end_frame": start + length, "num_frames": length}
        stage.update({key: draw(texts) for key in DEFAULT_KEY_ORDER[3:]})
        document.append(stage)
        start += length
    return document


@settings(max_examples=200, deadline=None)
@given(valid_documents(), st.data())
def test_valid_documents_round_trip_and_single_perturbations_are_caught_or_kept(document, data):
    text = json.dumps(document, indent=4)
    annotation = _parse(text)
    assert annotation is not None and dumps_humman_json(annotation) == text
    index = data.draw(st.integers(0, len(document) - 1))
    key = data.draw(st.sampled_from(DEFAULT_KEY_ORDER))
    document[index][key] = data.draw(json_scalars)
    _parse(json.dumps(document))
