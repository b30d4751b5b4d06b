"""Baselines for fine-grained and composed motion generation, one sub-package each.

``mdm``: MDM (Tevet et al. 2023), the first model on the training core; ``priormdm``: PriorMDM's
DoubleTake composition with a trained MDM as the prior (no retraining); ``teach``: a TEACH-style
transformer VAE with past-motion conditioning. Each registers under the ``mogen_bench.models`` entry points.
"""
