"""Training: the trainer's configuration, checkpoints, distributed helpers, EMA, optimisers, logs, the loop.

Modules are imported where they are used (``from mogen_bench.training.config import TrainConfig``), so
importing this package costs nothing.
"""
