"""The JSON Schema is generated from the model and agrees with the reader on the published format."""

from __future__ import annotations

import json
from dataclasses import fields

import jsonschema
import pytest

from annotation import Stage, humman_json_schema
from annotation.humman_json import DEFAULT_KEY_ORDER
from annotation.parts import HUMMAN_KEYS


@pytest.fixture
def validator():
    schema = humman_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_the_published_example(validator, example_stages):
    assert list(validator.iter_errors(example_stages)) == []


def test_schema_properties_come_from_the_stage_model():
    schema = humman_json_schema()
    properties = schema["items"]["properties"]
    assert list(properties) == list(DEFAULT_KEY_ORDER)
    descriptions = {f.name: f.metadata.get("description") for f in fields(Stage)}
    for name, key in HUMMAN_KEYS.items():
        assert properties[key]["description"].startswith(descriptions[name])
    assert "Canonical name in mogen-bench: 'spine'" in properties["stem"]["description"]
    assert "tokens" not in properties


@pytest.mark.parametrize(
    "mutate, keyword",
    [
        (lambda s: s.pop("stem"), "required"),
        (lambda s: s.update(left_hand="x"), "additionalProperties"),
        (lambda s: s.update(start_frame=-1), "minimum"),
        (lambda s: s.update(end_frame="21"), "type"),
        (lambda s: s.update(all=""), "minLength"),
        (lambda s: s.update(head=None), "type"),
    ],
)
def test_schema_rejects_bad_stages(validator, example_stages, mutate, keyword):
    mutate(example_stages[0])
    errors = list(validator.iter_errors(example_stages))
    assert [e.validator for e in errors] == [keyword]


def test_schema_rejects_an_empty_list_and_an_object(validator, example_stages):
    assert [e.validator for e in validator.iter_errors([])] == ["minItems"]
    assert [e.validator for e in validator.iter_errors(example_stages[0])] == ["type"]


def test_lenient_schema_allows_null_and_absent_texts(example_stages):
    validator = jsonschema.Draft202012Validator(humman_json_schema(allow_missing_texts=True))
    example_stages[0]["head"] = None
    del example_stages[1]["pelvis"]
    assert list(validator.iter_errors(example_stages)) == []


def test_schema_is_plain_json():
    schema = humman_json_schema()
    assert json.loads(json.dumps(schema)) == schema
