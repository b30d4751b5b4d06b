"""MDM (Tevet et al., ICLR 2023) on the benchmark: ``mogen-bench train mdm``."""

from baselines.mdm.model import MDM, MDMConfig

__all__ = ["MDM", "MDMConfig"]
