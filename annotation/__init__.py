"""The fine-grained annotation schema: stages x body parts, validation, HuMMan-MoGen / HumanML3D io, editing.

Depends on nothing else of the project (numpy only, to read motion lengths), so any tool can read and
check annotations without torch.
"""

from annotation.discover import CheckReport, check_paths, read_annotations
from annotation.edit import delete_stage, insert_stage, merge_stages, set_stage_length, set_text, split_stage
from annotation.errors import AnnotationError, MogenBenchError, Problem
from annotation.humanml3d_text import (
    CaptionLine,
    caption_annotation,
    parse_caption_line,
    read_caption_file,
    window_motion_id,
)
from annotation.humman_json import (
    dumps_humman_json,
    parse_humman_json,
    read_humman_json,
    write_humman_folder,
    write_humman_json,
)
from annotation.model import Annotation, JsonStyle, Provenance, Stage
from annotation.parts import HUMMAN_KEYS, OVERALL, PARTS, TEXT_FIELDS
from annotation.schema import humman_json_schema
from annotation.stats import AnnotationStats, compute_stats
from annotation.validate import ValidationOptions, assert_valid, check_annotation

__all__ = [
    "HUMMAN_KEYS",
    "OVERALL",
    "PARTS",
    "TEXT_FIELDS",
    "Annotation",
    "AnnotationError",
    "AnnotationStats",
    "CaptionLine",
    "CheckReport",
    "JsonStyle",
    "MogenBenchError",
    "Problem",
    "Provenance",
    "Stage",
    "ValidationOptions",
    "assert_valid",
    "caption_annotation",
    "check_annotation",
    "check_paths",
    "compute_stats",
    "delete_stage",
    "dumps_humman_json",
    "humman_json_schema",
    "insert_stage",
    "merge_stages",
    "parse_caption_line",
    "parse_humman_json",
    "read_annotations",
    "read_caption_file",
    "read_humman_json",
    "set_stage_length",
    "set_text",
    "split_stage",
    "window_motion_id",
    "write_humman_folder",
    "write_humman_json",
]
