"""The text-encoder settings shared by model configs, and building the encoder they describe.

``learned`` (a small word-level transformer over the training vocabulary, trained with the model) is the
default: it needs no download and runs everywhere, tests included. ``clip`` is the frozen open_clip
``ViT-B-32-quickgelu`` text tower of MDM and FineMoGen; its weights come from ``clip_weights`` (a local
file) or, when the user allows it, open_clip's download, and its features are cached on disk per text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mogen_bench.models.base import ModelContext


@dataclass
class TextConfig:
    """Which text encoder a model reads its texts with (model configs inherit these fields)."""

    text_encoder: Literal["learned", "clip"] = "learned"
    #: ``clip``: a local weights file (.safetensors / .bin / .pt) of ViT-B-32-quickgelu ...
    clip_weights: str = ""
    #: ... or allow open_clip to download the OpenAI weights (needs the internet).
    clip_download: bool = False
    #: ``clip``: tokens per text (77 = CLIP's context; MDM truncates to 20 words, context 22).
    clip_context: int = 77
    #: ``clip``: where token features are cached per text ("" = no cache; "auto" = the user cache folder).
    text_cache: str = "auto"
    #: ``learned``: width, layers, heads and longest text in words.
    learned_dim: int = 256
    learned_layers: int = 2
    learned_heads: int = 4
    learned_max_words: int = 32


def build_model_text_encoder(config: TextConfig, context: ModelContext):
    """The ``TextEncoder`` a model config names, for the dataset described by ``context``."""
    from mogen_bench.text import build_text_encoder

    if config.text_encoder == "clip":
        return build_text_encoder(
            "clip",
            weights=config.clip_weights or None,
            download=config.clip_download,
            context_length=config.clip_context,
            cache_dir=config.text_cache or None,
        )
    return build_text_encoder(
        "learned",
        vocabulary=context.vocabulary,
        dim=config.learned_dim,
        layers=config.learned_layers,
        heads=config.learned_heads,
        max_words=config.learned_max_words,
    )
