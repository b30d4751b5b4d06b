"""The FineMoGen reference model (SAMI attention, mixture of experts, part-wise FFN) and its inference.

Not built yet: the model arrives with its own issue; until then the package only reserves the name.
"""
