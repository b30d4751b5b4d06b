"""A JSON Schema (draft 2020-12) for HuMMan-MoGen annotation files, generated from ``annotation.model``.

The properties come from the ``Stage`` dataclass (its fields, types and descriptions) and the key
table in ``annotation.parts``, so the schema cannot drift from the reader. JSON Schema cannot say
that stages are contiguous or that ``num_frames == end_frame - start_frame``; those rules are in the
descriptions and enforced by ``mogen-bench annotation validate``.
"""

from __future__ import annotations

from dataclasses import fields

from annotation.model import Stage
from annotation.parts import HUMMAN_KEYS, TEXT_FIELDS

SCHEMA_ID = "https://mogen-bench.invalid/schemas/humman-mogen-annotation.schema.json"


def humman_json_schema(allow_missing_texts: bool = False) -> dict:
    """The schema of one ``annotations/<motion_id>.json`` file.

    With ``allow_missing_texts`` a text may be ``null`` or absent (as in files converted from
    whole-body captions); by default every stage carries all eight texts, as the release does.
    """
    stage_fields = {f.name: f for f in fields(Stage) if f.metadata.get("serialised", True)}
    frame = {"type": "integer", "minimum": 0}
    properties: dict[str, dict] = {
        "start_frame": {**frame, "description": stage_fields["start_frame"].metadata["description"]},
        "end_frame": {
            **frame,
            "exclusiveMinimum": 0,
            "description": stage_fields["end_frame"].metadata["description"],
        },
        "num_frames": {
            "type": "integer",
            "minimum": 1,
            "description": "Length of the stage in frames; must equal end_frame - start_frame.",
        },
    }
    text_type: dict = (
        {"type": ["string", "null"]} if allow_missing_texts else {"type": "string", "minLength": 1}
    )
    for name in TEXT_FIELDS:
        description = stage_fields[name].metadata["description"]
        key = HUMMAN_KEYS[name]
        alias = f" Canonical name in mogen-bench: {name!r}." if key != name else ""
        properties[key] = {**text_type, "description": description + alias}
    required = ["start_frame", "end_frame", "num_frames"]
    if not allow_missing_texts:
        required += [HUMMAN_KEYS[name] for name in TEXT_FIELDS]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "HuMMan-MoGen stage annotation",
        "description": (
            "One motion's stages, in order. Stages are contiguous: the first starts at frame 0, each "
            "starts where the previous ends (end_frame is exclusive), and the last ends at the motion's "
            "last frame."
        ),
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    }
