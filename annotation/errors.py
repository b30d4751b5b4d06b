"""The project's error type and the located problems that annotation checks report.

``MogenBenchError`` is the one exception type for mistakes a user can make and fix (a bad file, a
wrong option, missing weights); the CLI prints it as one line without a traceback. It is defined here,
at the bottom of the import graph, because ``annotation`` depends on nothing else of ours;
``mogen_bench.errors`` re-exports it so the rest of the project imports it from there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


class MogenBenchError(Exception):
    """A problem the user can fix. The message names the file, the field and the fix where known."""

    def __init__(
        self, message: str, *, file: str | None = None, field: str | None = None, fix: str | None = None
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.field = field
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.field and f"field {self.field!r}") if p]
        text = ": ".join([*parts, self.message])
        return f"{text} (fix: {self.fix})" if self.fix else text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an annotation, located as precisely as the input allows."""

    message: str
    file: str | None = None
    stage: int | None = None
    field: str | None = None
    fix: str | None = None
    severity: Literal["error", "warning"] = "error"

    def location(self) -> str:
        bits = []
        if self.file:
            bits.append(self.file)
        if self.stage is not None:
            bits.append(f"stage {self.stage}")
        if self.field:
            bits.append(f"field {self.field!r}")
        return ": ".join(bits)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text

    def to_dict(self) -> dict:
        return asdict(self)


class AnnotationError(MogenBenchError):
    """An annotation failed its checks; ``problems`` lists every error found, not only the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        if not self.problems:
            raise ValueError("AnnotationError needs at least one problem")
        first = self.problems[0]
        more = len(self.problems) - 1
        message = first.message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        field = (
            first.field if first.stage is None else f"stages[{first.stage}].{first.field or ''}".rstrip(".")
        )
        super().__init__(message, file=first.file, field=field, fix=first.fix)
