"""An exponential moving average of a model's weights, for sampling from a smoother model than the last step.

After every optimiser step, ``shadow = decay * shadow + (1 - decay) * weight`` for each trainable parameter
and each persistent floating-point buffer (BatchNorm statistics, say). Frozen parameters (a frozen CLIP
text encoder) never change, so averaging them would only cost memory; integer buffers (step counters) are
not averaged. ``swapped(model)`` lends the averaged weights to the model for evaluation or sampling and
puts the training weights back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from mogen_bench.errors import MogenBenchError


def _unwrap(model: nn.Module) -> nn.Module:
    # DistributedDataParallel names everything "module.*"; the average belongs to the model itself.
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _tracked_names(model: nn.Module) -> list[str]:
    persistent = set(model.state_dict(keep_vars=True))
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    names += [name for name, b in model.named_buffers() if b.is_floating_point() and name in persistent]
    return names


class ExponentialMovingAverage:
    """The moving average of ``model``'s trainable parameters and persistent float buffers."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise MogenBenchError(
                f"the EMA decay must lie in (0, 1), got {decay}",
                field="train.ema_decay",
                fix="use e.g. 0.9999",
            )
        model = _unwrap(model)
        self.decay = float(decay)
        self.num_updates = 0
        self.names = _tracked_names(model)
        with torch.no_grad():
            self._shadow = [t.detach().clone() for t in self._tensors(model)]

    def _tensors(self, model: nn.Module) -> list[torch.Tensor]:
        model = _unwrap(model)
        found = dict(model.named_parameters())
        found.update(model.named_buffers())
        missing = [name for name in self.names if name not in found]
        if missing:
            raise ValueError(f"the model has no {missing[0]!r}; the EMA was made for another model")
        return [found[name] for name in self.names]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights (call after each optimiser step)."""
        current = [t.detach() for t in self._tensors(model)]
        # lerp(shadow, w, 1 - decay) = decay * shadow + (1 - decay) * w, for all tensors in one batched call.
        torch._foreach_lerp_(self._shadow, current, 1.0 - self.decay)
        self.num_updates += 1

    @property
    def shadow(self) -> dict[str, torch.Tensor]:
        """The averaged tensors by name (the live tensors, not copies)."""
        return dict(zip(self.names, self._shadow, strict=True))

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a saved average (the decay stays this object's: it comes from the run's config)."""
        saved = state["shadow"]
        if set(saved) != set(self.names):
            extra = sorted(set(saved) - set(self.names))
            missing = sorted(set(self.names) - set(saved))
            raise MogenBenchError(
                f"the saved EMA does not fit this model (missing {missing[:3]}, unexpected {extra[:3]})",
                field="ema",
                fix="resume with the model config the run was trained with",
            )
        with torch.no_grad():
            for name, tensor in zip(self.names, self._shadow, strict=True):
                if saved[name].shape != tensor.shape:
                    raise MogenBenchError(
                        f"the saved EMA of {name!r} has shape {tuple(saved[name].shape)}, the model "
                        f"{tuple(tensor.shape)}",
                        field="ema",
                        fix="resume with the model config the run was trained with",
                    )
                tensor.copy_(saved[name])
        self.num_updates = int(state.get("num_updates", 0))

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s tracked weights with the average."""
        for target, average in zip(self._tensors(model), self._shadow, strict=True):
            target.copy_(average)

    @contextlib.contextmanager
    def swapped(self, model: nn.Module) -> Iterator[nn.Module]:
        """Inside the block ``model`` holds the averaged weights; its own come back afterwards."""
        targets = self._tensors(model)
        with torch.no_grad():
            backup = [t.detach().clone() for t in targets]
            self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for target, saved in zip(targets, backup, strict=True):
                    target.copy_(saved)
