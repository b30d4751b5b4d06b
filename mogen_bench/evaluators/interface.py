"""What the evaluation protocol asks of an evaluator: embeddings of motions and texts, and a hash.

Every embedding model behind FID / R-precision / MM-Dist (the published T2M evaluator, the project's
trainable contrastive evaluator) is used through this one interface, so the protocol does not care which
it has. Motions arrive as features in the *dataset's* space (denormalised, the stored representation)
with their lengths; the evaluator applies its own normalisation. Texts arrive as strings with their
``word/POS`` tokens where the dataset has them (the T2M evaluator needs the tokens, others the strings).

A part-aware evaluator (``parts`` non-empty) also embeds each body part's features and each part's
text, for part-level R-precision (``fine@1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class EmbeddingEvaluator(Protocol):
    #: A short name for reports (``t2m``, ``contrastive``).
    name: str
    #: The representation whose features it reads (``humanml3d-263``, ...).
    representation: str
    #: Body parts it embeds separately (empty: none).
    parts: tuple[str, ...]

    def hash(self) -> str:
        """sha256 of everything that decides its embeddings (weights and statistics)."""
        ...

    def encode_motions(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, dims)`` dataset-space features, ``(B,)`` lengths -> ``(B, E)`` embeddings."""
        ...

    def encode_texts(self, texts: Sequence[str], tokens: Sequence[Sequence[str] | None]) -> torch.Tensor:
        """``B`` texts (and their ``word/POS`` tokens or ``None``) -> ``(B, E)`` embeddings."""
        ...

    def encode_part_motions(self, features: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Part name -> ``(B, E)`` embeddings of that part's features (only for part-aware evaluators)."""
        ...

    def encode_part_texts(self, part_texts: dict[str, Sequence[str]]) -> dict[str, torch.Tensor]:
        """Part name -> ``(B, E)`` embeddings of that part's texts (only for part-aware evaluators)."""
        ...
