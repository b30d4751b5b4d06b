"""Pretrained evaluators that embed text and motion for the benchmark metrics (FID, R-precision, ...).

``t2m``: Guo et al.'s T2M evaluator (the HumanML3D / KIT-ML standard), loaded from the official
``finest.tar`` without unpickling arbitrary objects; ``glove``: its word-vector and POS text input;
``safe_pickle``: the restricted unpickler used for the official GloVe word lists; ``interface``: the
``EmbeddingEvaluator`` protocol the evaluation runner uses; ``contrastive``: the trainable TMR-style
evaluator with part heads (``mogen-bench train evaluator``); ``adapters``: the T2M evaluator behind that
protocol; ``loading``: ``load_evaluator`` for a run folder or the official T2M files.

Names are imported lazily so that ``import mogen_bench.evaluators.safe_pickle`` does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "T2MEvaluator": "t2m",
    "TextEncoderBiGRUCo": "t2m",
    "MovementConvEncoder": "t2m",
    "MotionEncoderBiGRUCo": "t2m",
    "renormalise": "t2m",
    "load_evaluator_stats": "t2m",
    "WordVectorizer": "glove",
    "pad_tokens": "glove",
    "safe_load": "safe_pickle",
    "safe_loads": "safe_pickle",
    "EmbeddingEvaluator": "interface",
    "ContrastiveConfig": "contrastive",
    "ContrastiveEvaluator": "contrastive",
    "T2MEmbeddingEvaluator": "adapters",
    "load_evaluator": "loading",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
