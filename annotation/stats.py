"""Corpus statistics of annotations: stages per motion, frames per stage, words and vocabulary per part.

These are the numbers a dataset paper reports (and a researcher checks after conversion): how motions
are cut, how long the texts are, how rich each part's vocabulary is and how many texts are missing.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from annotation.model import Annotation
from annotation.parts import TEXT_FIELDS
from annotation.validate import is_missing_text

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def words(text: str) -> list[str]:
    """Lower-case words of a text (letters and inner apostrophes; digits and punctuation dropped)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))  # a typographic apostrophe is one too


@dataclass(frozen=True)
class Distribution:
    """Summary of a list of counts."""

    count: int
    mean: float
    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        values = list(values)
        if not values:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        return cls(len(values), statistics.fmean(values), statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class TextFieldStats:
    """Statistics of one text field (``overall`` or a body part) over all stages."""

    field: str
    texts: int
    missing: int
    words_per_text: Distribution
    vocabulary_size: int
    top_words: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class AnnotationStats:
    motions: int
    stages: int
    stages_per_motion: Distribution
    frames_per_stage: Distribution
    frames_per_motion: Distribution
    fields: tuple[TextFieldStats, ...]

    def field(self, name: str) -> TextFieldStats:
        return next(f for f in self.fields if f.field == name)

    def to_dict(self) -> dict:
        return asdict(self)


def compute_stats(annotations: Iterable[Annotation], top_k: int = 10) -> AnnotationStats:
    """Statistics over ``annotations``; ``top_k`` most frequent words are kept per field."""
    annotations = list(annotations)
    stages = [stage for a in annotations for stage in a.stages]
    per_field = []
    for name in TEXT_FIELDS:
        counter: Counter[str] = Counter()
        lengths = []
        missing = 0
        for stage in stages:
            text = stage.texts[name]
            if not isinstance(text, str) or is_missing_text(text):
                missing += 1
                continue
            tokens = words(text)
            lengths.append(len(tokens))
            counter.update(tokens)
        # Ties are broken alphabetically so the table is the same on every run.
        top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
        per_field.append(
            TextFieldStats(name, len(lengths), missing, Distribution.of(lengths), len(counter), tuple(top))
        )
    return AnnotationStats(
        motions=len(annotations),
        stages=len(stages),
        stages_per_motion=Distribution.of(len(a.stages) for a in annotations),
        frames_per_stage=Distribution.of(s.num_frames for s in stages),
        frames_per_motion=Distribution.of(a.length for a in annotations),
        fields=tuple(per_field),
    )
