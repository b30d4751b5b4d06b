"""Speed of reading and checking annotations: a HuMMan-MoGen release has 6,264 files of a few stages each.

Run with ``python -m pytest tests/benchmarks --benchmark-enable``; in the default run each benchmark
executes once as an ordinary test.
"""

from __future__ import annotations

import json

from annotation import compute_stats, parse_humman_json
from annotation.humman_json import dumps_humman_json


def _long_document(example_stages, stages: int = 200) -> str:
    document, start = [], 0
    for index in range(stages):
        stage = dict(example_stages[index % 2])
        length = stage["num_frames"]
        stage.update(start_frame=start, end_frame=start + length)
        document.append(stage)
        start += length
    return json.dumps(document, indent=4)


def test_parse_and_check_200_stages(benchmark, example_stages):
    text = _long_document(example_stages)
    annotation = benchmark(parse_humman_json, text, motion_id="m")
    assert len(annotation.stages) == 200 and dumps_humman_json(annotation) == text


def test_stats_over_1000_motions(benchmark, example_path):
    annotation = parse_humman_json(example_path.read_bytes(), motion_id="m")
    stats = benchmark(compute_stats, [annotation] * 1000)
    assert stats.stages == 2000 and stats.field("overall").vocabulary_size == 30
