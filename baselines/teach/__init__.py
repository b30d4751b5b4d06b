"""TEACH (Athanasiou et al., 3DV 2022), a TEMOS-style VAE with past frames: ``mogen-bench train teach``."""

from baselines.teach.model import TEACH, TEACHConfig

__all__ = ["TEACH", "TEACHConfig"]
