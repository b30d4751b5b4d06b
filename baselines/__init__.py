"""Baselines for fine-grained and composed motion generation: MDM, TEACH-style and PriorMDM-style.

Not built yet: each baseline arrives with its own issue; until then the package only reserves the name.
"""
