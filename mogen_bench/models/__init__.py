"""Motion-generation models: the interface every model implements and the registry that finds them.

A model is a ``MotionModel`` subclass registered under the ``mogen_bench.models`` entry-point group
(``baselines.mdm:MDM`` for MDM), so a third-party package can put its own model on the same benchmark by
declaring an entry point; ``get_model_class(name)`` and ``available_models()`` read the group.
"""

from mogen_bench.models.base import ModelContext, MotionModel
from mogen_bench.models.conditions import GenerationRequest, as_requests
from mogen_bench.models.registry import available_models, get_model_class

__all__ = [
    "GenerationRequest",
    "ModelContext",
    "MotionModel",
    "as_requests",
    "available_models",
    "get_model_class",
]
