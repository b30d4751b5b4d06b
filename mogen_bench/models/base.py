"""The interface every motion-generation model implements, and what it is told about its data.

A model is an ``nn.Module`` with a dataclass config (``config_class``) and a ``ModelContext`` (the
representation, feature size, frame rate, body-part slices, longest motion and training vocabulary of
the dataset it is trained on). It implements two things:

- ``training_losses(batch, generator)``: the loss terms on one batch of ``collate_motions``, ``loss`` being
  the total the trainer minimises; every random number comes from ``generator``, so a run repeats exactly;
- ``sample(requests, generator, guidance)``: normalised features ``(B, T, dims)`` for a list of
  ``GenerationRequest`` (texts or stages with per-part texts, and lengths).

``generate(conditions, lengths, seed, guidance)`` is the public face of ``sample``: it accepts texts,
annotations or stage lists, checks lengths, seeds a generator on the model's device and zeroes the frames
past each motion's end. The trainer, ``mogen-bench generate`` and the evaluation protocol all go
through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.models.conditions import GenerationRequest, as_requests


@dataclass
class ModelContext:
    """What a model needs to know about its data, saved in the run's ``config.json``."""

    representation: str
    dims: int
    fps: float
    max_frames: int
    part_slices: dict[str, list[int]] = field(default_factory=dict)
    #: Words of the training texts, most frequent first (for word-level text encoders).
    vocabulary: list[str] = field(default_factory=list)
    #: The dataset statistics of model space (``(features - mean) / std``); ``None`` for raw features.
    #: Models that work in feature space (TEACH's root alignment) read them.
    mean: list[float] | None = None
    std: list[float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelContext:
        return cls(**data)


@dataclass
class GeneratedMotions:
    """Normalised features ``(B, T, dims)`` (zero past each end) and the length of each motion."""

    features: torch.Tensor
    lengths: torch.Tensor
    requests: list[GenerationRequest]


class MotionModel(nn.Module):
    """Base class of every model on the benchmark (see the module docstring)."""

    #: Registry name (``mogen-bench train NAME``).
    name: ClassVar[str] = ""
    #: The model's config dataclass (the ``[model]`` section of a preset).
    config_class: ClassVar[type]
    #: Representations the model can be trained on; ``None``: any.
    representations: ClassVar[tuple[str, ...] | None] = None
    #: Package holding the model's ``presets/*.toml`` (``importlib.resources`` name).
    presets_package: ClassVar[str] = ""

    def __init__(self, config: Any, context: ModelContext):
        super().__init__()
        self.check_context(context)
        self.config = config
        self.context = context

    @classmethod
    def check_context(cls, context: ModelContext) -> None:
        """A project error when the model cannot use the dataset's representation."""
        if cls.representations is not None and context.representation not in cls.representations:
            raise MogenBenchError(
                f"model {cls.name!r} cannot be trained on {context.representation} features "
                f"(it needs {' or '.join(cls.representations)})",
                field="representation",
                fix=f"prepare the dataset as {cls.representations[0]}",
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def max_generation_frames(self) -> int | None:
        """The longest motion ``generate`` accepts (``None``: no limit beyond each stage's)."""
        return self.context.max_frames

    def training_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        # The trainer calls the module (not ``training_losses``) so DistributedDataParallel's hooks run.
        return self.training_losses(batch, generator)

    def sample(
        self, requests: list[GenerationRequest], generator: torch.Generator, guidance: float | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        conditions: Sequence,
        lengths: int | Sequence[int | None] | None = None,
        seed: int = 0,
        guidance: float | None = None,
    ) -> GeneratedMotions:
        """Motions for texts (with lengths) or stage lists, the same for the same seed."""
        requests = as_requests(conditions, lengths, self.max_generation_frames)
        was_training = self.training
        self.eval()
        try:
            generator = torch.Generator(device=self.device).manual_seed(int(seed))
            features = self.sample(requests, generator, guidance)
        finally:
            self.train(was_training)
        lengths_t = torch.tensor([r.length for r in requests], device=features.device)
        frames = torch.arange(features.shape[1], device=features.device)
        features = features * (frames[None, :] < lengths_t[:, None])[..., None]
        return GeneratedMotions(features=features, lengths=lengths_t, requests=requests)
