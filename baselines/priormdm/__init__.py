"""PriorMDM-style composition (DoubleTake, Shafir et al. ICLR 2024) on the benchmark: ``mogen-bench train
priormdm --set model.prior_run=RUN`` wraps a trained MDM, with no training of its own."""

from baselines.priormdm.model import PriorMDM, PriorMDMConfig

__all__ = ["PriorMDM", "PriorMDMConfig"]
