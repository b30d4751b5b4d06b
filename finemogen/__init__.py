"""The FineMoGen reference model: SAMI attention, mixture of experts, part-wise FFN, and its fine-grained
(per-part, per-stage) conditioning and temporal composition. ``mogen-bench train finemogen``.
"""

from finemogen.config import FineMoGenConfig
from finemogen.model import FineMoGen

__all__ = ["FineMoGen", "FineMoGenConfig"]
