"""The published T2M evaluator behind the ``EmbeddingEvaluator`` interface the evaluation protocol uses.

``T2MEvaluator`` (``t2m.py``) speaks the official protocol's language: evaluator-normalised, zero-padded
features and GloVe word vectors with POS one-hots. ``T2MEmbeddingEvaluator`` puts it behind the same
interface as the contrastive evaluator:

- ``encode_motions`` takes features in the dataset's space (the stored HumanML3D / KIT-ML features),
  normalises them with the EVALUATOR's own statistics (``meta/mean.npy``, ``meta/std.npy``, never the
  dataset's), zeroes every frame past each length (the official loader pads with zeros in normalised space)
  and runs the movement and motion encoders;
- ``encode_texts`` reads the ``word/POS`` tokens (HumanML3D's), wraps them in sos/eos and pads them as
  ``Text2MotionDatasetV2`` does (``WordVectorizer``) and runs the text encoder over each sentence's true
  length; the official code sorts a batch by length, ``T2MEvaluator`` does not need it, so row ``i`` of
  the output is text ``i``;
- it has no body-part heads (``parts == ()``).

Its ``hash()`` covers what decides its embeddings: the evaluator's weights and statistics
(``T2MEvaluator.hash``) and the GloVe vectors (word, vector) of the vocabulary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluators.glove import WordVectorizer
from mogen_bench.evaluators.t2m import T2MEvaluator

#: The representation each T2M evaluator reads.
REPRESENTATIONS = {"t2m": "humanml3d-263", "kit": "kit-251"}
_HASH_FORMAT = "mogen-bench/t2m-embedding-evaluator/1"


def glove_digest(vectorizer: WordVectorizer) -> str:
    """sha256 of a vocabulary: every word (sorted) with its float32 vector's bytes."""
    digest = hashlib.sha256(f"glove|{vectorizer.dim}".encode())
    for word in sorted(vectorizer.word2vec):
        digest.update(word.encode() + b"\0")
        digest.update(np.ascontiguousarray(vectorizer.word2vec[word], dtype="<f4").tobytes())
    return digest.hexdigest()


class T2MEmbeddingEvaluator:
    """Guo et al.'s evaluator as an ``EmbeddingEvaluator`` (see the module docstring)."""

    name = "t2m"
    parts: tuple[str, ...] = ()

    def __init__(self, evaluator: T2MEvaluator, vectorizer: WordVectorizer) -> None:
        if vectorizer.dim != evaluator.dims.dim_word:
            raise MogenBenchError(
                f"the word vectors have {vectorizer.dim} dims, the evaluator reads {evaluator.dims.dim_word}",
                file=vectorizer.source,
                field="our_vab_data.npy",
                fix="use the official GloVe files (glove.zip) that come with the evaluator",
            )
        self.evaluator = evaluator
        self.vectorizer = vectorizer
        self.representation = REPRESENTATIONS[evaluator.dataset]
        self.embed_dim = evaluator.dims.dim_coemb_hidden
        self._hash: str | None = None

    @property
    def device(self) -> torch.device:
        return self.evaluator.device

    def hash(self) -> str:
        """sha256 of the evaluator's weights and statistics and of the GloVe vocabulary."""
        # Frozen and never modified in place here, so computed once (hashing 18M weights takes a while).
        if self._hash is None:
            digest = hashlib.sha256(_HASH_FORMAT.encode())
            digest.update(f"|evaluator|{self.evaluator.hash}|glove|{glove_digest(self.vectorizer)}".encode())
            self._hash = digest.hexdigest()
        return self._hash

    def normalise(self, features: Any) -> torch.Tensor:
        """Dataset-space features -> evaluator-normalised float32 (``T2MEvaluator.normalise``)."""
        return self.evaluator.normalise(features)

    def encode_motions(self, features: Any, lengths: Any) -> torch.Tensor:
        """``(B, T, dim_pose)`` dataset-space features, ``(B,)`` frame counts -> ``(B, 512)``, input order."""
        x = features if torch.is_tensor(features) else torch.as_tensor(np.asarray(features))
        if x.ndim != 3 or x.shape[-1] != self.evaluator.dims.dim_pose:
            raise MogenBenchError(
                f"features must be (B, T, {self.evaluator.dims.dim_pose}) {self.representation} features, "
                f"got {tuple(x.shape)}",
                field="features",
                fix=f"pass dataset-space {self.representation} features padded to one length",
            )
        n = lengths if torch.is_tensor(lengths) else torch.as_tensor(np.asarray(lengths))
        if n.shape != (x.shape[0],) or n.is_floating_point():
            raise MogenBenchError(
                f"lengths must be {x.shape[0]} integers (one per motion), got {tuple(n.shape)} {n.dtype}",
                field="lengths",
            )
        normalised = self.normalise(x)
        keep = torch.arange(x.shape[1], device=normalised.device)[None, :] < n.to(normalised.device)[:, None]
        # The official loader pads with zeros AFTER normalising; garbage past the end must not leak in.
        normalised = torch.where(keep[..., None], normalised, 0.0)
        return self.evaluator.encode_motion(normalised, n)

    def encode_texts(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str] | str | None]
    ) -> torch.Tensor:
        """``B`` texts and their ``word/POS`` tokens -> ``(B, 512)`` in input order (the tokens are read)."""
        if tokens is None or len(tokens) != len(texts):
            count = "no" if tokens is None else len(tokens)
            raise MogenBenchError(
                f"{len(texts)} texts but {count} token lists",
                field="tokens",
                fix="pass each text's word/POS tokens (HumanML3D's texts/*.txt carry them)",
            )
        missing = [i for i, t in enumerate(tokens) if t is None or (not isinstance(t, str) and len(t) == 0)]
        if missing:
            raise MogenBenchError(
                f"texts {missing[:8]}{' ...' if len(missing) > 8 else ''} have no word/POS tokens, which the "
                "T2M evaluator reads (GloVe vectors + part-of-speech)",
                field="tokens",
                fix="use a dataset prepared from HumanML3D / KIT-ML texts with tokens, or evaluate with a "
                "contrastive evaluator (`mogen-bench train evaluator`)",
            )
        sentences = [t.split() if isinstance(t, str) else list(t) for t in tokens]
        words, pos, sent_lens = self.vectorizer.encode_batch(sentences)
        return self.evaluator.encode_text(words, pos, sent_lens)

    def encode_part_motions(self, features: Any, lengths: Any) -> dict[str, torch.Tensor]:
        raise self._no_parts()

    def encode_part_texts(self, part_texts: dict[str, Sequence[str]]) -> dict[str, torch.Tensor]:
        raise self._no_parts()

    @staticmethod
    def _no_parts() -> MogenBenchError:
        return MogenBenchError(
            "the T2M evaluator has no body-part heads",
            field="parts",
            fix="part-level metrics need a part-aware evaluator: train one with "
            "`mogen-bench train evaluator --dataset DIR --out RUN` and pass --evaluator RUN",
        )
