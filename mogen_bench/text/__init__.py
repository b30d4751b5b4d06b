"""Text encoders behind one interface: the frozen CLIP text tower and a small learned word-level transformer.

``build_text_encoder(name, **options)`` builds one by name (``clip``, ``learned``); every encoder maps a
list of texts to ``TextFeatures`` (token features, their mask, a pooled vector) on its own device.
open_clip is imported only when a CLIP encoder is built, so the learned encoder costs no open_clip import.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace

from mogen_bench.errors import MogenBenchError
from mogen_bench.text.cache import TextFeatureCache, default_cache_dir
from mogen_bench.text.clip import TINY_CONFIG, ClipTextEncoder
from mogen_bench.text.features import TextEncoder, TextFeatures
from mogen_bench.text.learned import (
    LearnedTextConfig,
    LearnedTextEncoder,
    Vocabulary,
    build_vocabulary,
    split_words,
)

__all__ = [
    "TEXT_ENCODERS",
    "TINY_CONFIG",
    "ClipTextEncoder",
    "LearnedTextConfig",
    "LearnedTextEncoder",
    "TextEncoder",
    "TextFeatureCache",
    "TextFeatures",
    "Vocabulary",
    "build_text_encoder",
    "build_vocabulary",
    "default_cache_dir",
    "split_words",
]


def _build_learned(
    vocabulary: Vocabulary | Sequence[str] | None = None,
    texts: Iterable[str] | None = None,
    min_count: int = 1,
    max_size: int | None = None,
    config: LearnedTextConfig | None = None,
    **config_fields,
) -> LearnedTextEncoder:
    """``vocabulary`` (words, most frequent first) or ``texts`` to build it from; ``config`` or its fields."""
    if vocabulary is not None and texts is not None:
        raise MogenBenchError(
            "give the learned text encoder a vocabulary or texts, not both", field="vocabulary"
        )
    config = replace(config or LearnedTextConfig(), **config_fields)
    if texts is not None:
        vocabulary = build_vocabulary(texts, min_count=min_count, max_size=max_size)
    return LearnedTextEncoder(vocabulary, config)


#: name -> builder(**options) -> TextEncoder
TEXT_ENCODERS: dict[str, Callable[..., TextEncoder]] = {
    "clip": ClipTextEncoder,
    "learned": _build_learned,
}


def _options(name: str) -> list[str]:
    names = [
        p.name
        for p in inspect.signature(TEXT_ENCODERS[name]).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if name == "learned":
        names += [f.name for f in fields(LearnedTextConfig)]
    return names


def build_text_encoder(name: str, **options) -> TextEncoder:
    """The text encoder registered as ``name``, built with ``options`` (checked before anything is built)."""
    if name not in TEXT_ENCODERS:
        known = ", ".join(sorted(TEXT_ENCODERS))
        raise MogenBenchError(
            f"unknown text encoder {name!r}; known text encoders: {known}",
            field="text_encoder",
            fix=f"use one of: {known}",
        )
    accepted = _options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        near = difflib.get_close_matches(unknown[0], accepted, n=1)
        raise MogenBenchError(
            f"the {name} text encoder has no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(accepted)}",
            field=unknown[0],
            fix=f"did you mean {near[0]!r}?" if near else f"use one of: {', '.join(accepted)}",
        )
    return TEXT_ENCODERS[name](**options)
