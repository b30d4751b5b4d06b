"""In-memory ``MotionRecord``s as a ``Source`` for the dataset writer: prepared datasets in milliseconds."""

from __future__ import annotations

from pathlib import Path

from mogen_bench.data.schema import MotionRecord


class RecordSource:
    """In-memory records as a ``Source`` for the writer."""

    name = "records"

    def __init__(
        self,
        root: Path,
        records: list[MotionRecord],
        representation: str = "smpl-rot6d-135",
        fps: float = 20.0,
    ):
        self.root, self.records = root, records
        self.representation, self.fps = representation, fps
        root.mkdir(parents=True, exist_ok=True)

    def check(self):
        pass

    def input_files(self):
        return []

    def options(self):
        return {"n": len(self.records)}

    def split_rule(self):
        return "given"

    def statistics(self):
        return None

    def expected_items(self):
        return len(self.records)

    def items(self):
        yield from self.records
