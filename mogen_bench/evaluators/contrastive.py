"""A trainable contrastive text-motion evaluator (TMR-style) with body-part heads, for FID and R-precision.

Datasets with no published evaluator (HuMMan-MoGen, MoGen-Synth) need their own embedding model. This one
follows TMR (Petrovich et al. 2023, ``Mathux/TMR``) in small and deterministic form:

- motion encoder: the frames' features (normalised with the run's statistics) -> Linear -> sinusoidal
  positions -> a pre-norm transformer encoder with padded frames masked out of the attention -> final
  layer norm -> mean over the real frames -> Linear to the embedding (``embed_dim``, 256);
- text encoder: the model config's ``TextConfig`` (the learned word encoder by default, frozen CLIP when the
  user has its weights); its pooled vector -> Linear to the embedding;
- symmetric InfoNCE over the batch on L2-normalised embeddings, ``logits = cos / temperature`` with a
  FIXED temperature (0.1, as TMR; a learned one, as in CLIP, buys little at batches of 32 and makes the
  losses of two runs incomparable). TMR filters false negatives
  by a threshold (0.80) on the cosine of sentence embeddings; here a pair whose texts are identical strings
  is removed from the negatives (datasets repeat captions: "a person walks forward"), which is exact and
  needs no second text model;
- body-part heads, for part-level R-precision: each of the seven parts' feature dims (``part_slices`` of the
  representation) -> its own Linear -> plus a learned part embedding -> one SHARED small transformer trunk
  (all parts of a batch in one call) -> mean over real frames -> Linear to the embedding; the part's text
  through the same text encoder and a part-text Linear. Each part has its own InfoNCE; the total is
  ``global + part_weight * mean over the parts with texts in the batch``. A crop's part text is that of
  the stage covering most of the crop (the first such stage on ties); a sample whose stage has no text for
  the part is left out of that part's loss (its row and its column), never paired with an empty string.

Embeddings are L2-normalised, so Euclidean distances (MM-Dist, R-precision by distance) rank exactly as
the cosine the model was trained on. The evaluator implements ``EmbeddingEvaluator``: it takes motion
features in the dataset's space and normalises them itself with the run's statistics (``set_statistics``,
done by ``load_evaluator``), and ``hash()`` identifies its weights and statistics for results.

Registered as the model ``evaluator``: ``mogen-bench train evaluator --dataset DIR --out RUN``. It does not
generate; ``load_evaluator(RUN)`` gives the frozen evaluator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from annotation.parts import PARTS
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext, MotionModel
from mogen_bench.models.text_conditioning import TextConfig, build_model_text_encoder

#: Rows per encoder call at evaluation (bounds the attention memory; the numbers do not depend on it).
ENCODE_BATCH = 256
#: Config fields that cannot change an embedding: left out of the hash (the CLIP weights' identity is in
#: the text encoder's state, their path is not).
_NOT_HASHED = frozenset(
    {"clip_weights", "clip_download", "text_cache", "dropout", "temperature", "part_weight"}
)
#: Entries of a text encoder's extra state that describe a machine, not the weights.
_MACHINE_KEYS = frozenset({"weights_source"})
_HASH_FORMAT = "mogen-bench/contrastive-evaluator/1"


@dataclass
class ContrastiveConfig(TextConfig):
    """The evaluator's network and loss (the ``[model]`` section); sizes as TMR's transformer encoders."""

    #: Embedding size E of motions, texts and parts.
    embed_dim: int = 256
    #: Motion transformer: width, layers, heads, feed-forward width.
    latent_dim: int = 256
    layers: int = 6
    heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    #: Part trunk (shared by the seven parts): width, layers, heads, feed-forward width.
    part_latent_dim: int = 128
    part_layers: int = 2
    part_heads: int = 4
    part_ff_dim: int = 256
    #: Fixed InfoNCE temperature (TMR: 0.1).
    temperature: float = 0.1
    #: Weight of the mean part loss in the total; 0 trains the global heads only (the part heads still exist).
    part_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "embed_dim", "latent_dim", "layers", "heads", "ff_dim",
            "part_latent_dim", "part_layers", "part_heads", "part_ff_dim",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise MogenBenchError(
                    f"{name} must be >= 1, got {getattr(self, name)}", field=f"model.{name}", fix="use e.g. 4"
                )
        for width, heads in (("latent_dim", "heads"), ("part_latent_dim", "part_heads")):
            if getattr(self, width) % getattr(self, heads):
                raise MogenBenchError(
                    f"{width} {getattr(self, width)} is not divisible by {heads} {getattr(self, heads)}",
                    field=f"model.{heads}",
                    fix=f"choose {heads} that divide {width}",
                )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise MogenBenchError(
                f"temperature must be positive, got {self.temperature}",
                field="model.temperature",
                fix="use 0.1",
            )
        if not (math.isfinite(self.part_weight) and self.part_weight >= 0):
            raise MogenBenchError(
                f"part_weight must be >= 0, got {self.part_weight}", field="model.part_weight", fix="use 1.0"
            )


# --------------------------------------------------------------------------- pieces
def sinusoidal_positions(frames: int, width: int, device: torch.device) -> torch.Tensor:
    """``(frames, width)`` sinusoidal positions (sin on even, cos on odd dims), any length."""
    position = torch.arange(frames, dtype=torch.float64, device=device)[:, None]
    frequencies = torch.exp(
        torch.arange(0, width, 2, dtype=torch.float64, device=device) * (-math.log(10000.0) / width)
    )
    table = torch.zeros(frames, width, dtype=torch.float64, device=device)
    table[:, 0::2] = torch.sin(position * frequencies)
    table[:, 1::2] = torch.cos(position * frequencies)[:, : width // 2]
    return table.float()


class SequenceEncoder(nn.Module):
    """Projected frames ``(N, T, W)`` + positions -> pre-norm transformer -> masked mean -> ``(N, E)``."""

    def __init__(self, width: int, layers: int, heads: int, ff_dim: int, dropout: float, embed_dim: int):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=heads,
            dim_feedforward=ff_dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.output = nn.Linear(width, embed_dim)
        self.width = width

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + sinusoidal_positions(x.shape[1], self.width, x.device).to(x.dtype)
        x = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        keep = mask.unsqueeze(-1)
        # where, not a product: whatever the padded rows hold (even NaN) stays out of the mean.
        pooled = torch.where(keep, x, 0.0).sum(1) / keep.sum(1).clamp_min(1).to(x.dtype)
        return self.output(pooled)


def symmetric_info_nce(
    motion: torch.Tensor, text: torch.Tensor, text_ids: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Symmetric InfoNCE of paired unit vectors; identical texts and invalid samples are not negatives.

    ``motion``, ``text`` ``(..., B, E)``; ``text_ids`` ``(..., B)`` (equal ids = identical texts); ``valid``
    ``(..., B)`` bool. For each valid row ``i``: the cross-entropy of ``cos(m_i, t_j) / temperature`` over
    ``j`` in {i} + {valid j whose text differs from i's}, motion->text and text->motion, averaged; the loss
    is the mean over valid rows (0, still attached to the graph, when none is valid). Returns ``(...,)``.
    """
    logits = (motion.float() @ text.float().transpose(-1, -2)) / temperature
    count = logits.shape[-1]
    eye = torch.eye(count, dtype=torch.bool, device=logits.device)
    same = text_ids[..., :, None] == text_ids[..., None, :]
    # Symmetric in i and j, so it serves both directions; the diagonal is always kept (a finite row).
    excluded = (same | ~valid[..., None, :] | ~valid[..., :, None]) & ~eye
    positive = logits.diagonal(dim1=-2, dim2=-1)
    to_text = torch.logsumexp(logits.masked_fill(excluded, -math.inf), dim=-1) - positive
    to_motion = torch.logsumexp(logits.transpose(-1, -2).masked_fill(excluded, -math.inf), dim=-1) - positive
    weights = valid.to(logits.dtype)
    return ((to_text + to_motion) / 2 * weights).sum(-1) / weights.sum(-1).clamp_min(1)


def dominant_stage_part_texts(batch: dict, parts: Sequence[str]) -> dict[str, list[str | None]]:
    """Per part, each sample's text from the stage covering most of its crop (``None`` where it has none).

    Ties go to the first stage. Empty or blank texts count as missing.
    """
    stage_index, mask = batch["stage_index"], batch["mask"]
    stages = max(1, int(stage_index.max()) + 1) if stage_index.numel() else 1
    frames = torch.zeros(stage_index.shape[0], stages, dtype=torch.long)
    frames.scatter_add_(1, stage_index.clamp_min(0).cpu(), mask.long().cpu())
    dominant = frames.argmax(1).tolist()  # the first maximum on ties
    out: dict[str, list[str | None]] = {}
    for part in parts:
        texts: list[str | None] = []
        for item, stage in zip(batch["part_texts"], dominant, strict=True):
            values = item.get(part) or []
            text = values[stage] if stage < len(values) else None
            texts.append(text if isinstance(text, str) and text.strip() else None)
        out[part] = texts
    return out


def _chunks(count: int, size: int = ENCODE_BATCH) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def _unique(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """The distinct texts in first-seen order and each input's index into them."""
    index: dict[str, int] = {}
    ids = [index.setdefault(text, len(index)) for text in texts]
    return list(index), ids


# --------------------------------------------------------------------------- the model
class ContrastiveEvaluator(MotionModel):
    """Motion and text encoders into one embedding space, plus body-part heads (see the module docstring)."""

    #: Registry name (``mogen-bench train evaluator``); the report name is the instance's ``name``.
    name = "evaluator"
    config_class = ContrastiveConfig
    representations = None
    presets_package = "mogen_bench.evaluators.presets"

    def __init__(self, config: ContrastiveConfig, context: ModelContext):
        super().__init__(config, context)
        # The EmbeddingEvaluator's report name; the class keeps the registry name the run folders record.
        self.name = "contrastive"
        self._frozen = False
        self.parts: tuple[str, ...] = tuple(part for part in PARTS if context.part_slices.get(part))
        embed = config.embed_dim

        self.text_encoder = build_model_text_encoder(config, context)
        self.text_projection = nn.Linear(self.text_encoder.dim, embed)
        self.input_projection = nn.Linear(context.dims, config.latent_dim)
        self.motion_encoder = SequenceEncoder(
            config.latent_dim, config.layers, config.heads, config.ff_dim, config.dropout, embed
        )
        if self.parts:
            width = config.part_latent_dim
            for part in self.parts:
                dims = torch.tensor(context.part_slices[part], dtype=torch.long)
                if int(dims.min()) < 0 or int(dims.max()) >= context.dims:
                    raise MogenBenchError(
                        f"the {part} slice indexes dims outside 0..{context.dims - 1}",
                        field=f"part_slices.{part}",
                        fix="re-run prepare so dataset.json's part slices match its features",
                    )
                self.register_buffer(f"_dims_{part}", dims, persistent=False)
            self.part_projections = nn.ModuleDict(
                {part: nn.Linear(len(context.part_slices[part]), width) for part in self.parts}
            )
            self.part_embedding = nn.Parameter(torch.randn(len(self.parts), width) * 0.02)
            self.part_encoder = SequenceEncoder(
                width, config.part_layers, config.part_heads, config.part_ff_dim, config.dropout, embed
            )
            self.part_text_projection = nn.Linear(self.text_encoder.dim, embed)
        # The statistics that take dataset-space features to the run's model space (load_evaluator sets
        # them from config.json); not in the state dict: the trainer never needs them.
        self.register_buffer("feature_mean", torch.zeros(context.dims), persistent=False)
        self.register_buffer("feature_std", torch.ones(context.dims), persistent=False)

    # ------------------------------------------------------------------ EmbeddingEvaluator identity
    @property
    def representation(self) -> str:
        return self.context.representation

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def set_statistics(self, mean: Any, std: Any) -> None:
        """The normalisation of the run's training data: model space = ``(features - mean) / std``."""
        dims = self.context.dims
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if mean.shape != (dims,) or std.shape != (dims,):
            raise MogenBenchError(
                f"statistics must have {dims} dims, got {mean.shape} and {std.shape}",
                field="normalisation",
                fix="use the mean and std of the run's config.json",
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise MogenBenchError(
                "statistics must be finite with every std > 0",
                field="normalisation.std",
                fix="use the mean and std of the run's config.json",
            )
        self.feature_mean.copy_(torch.from_numpy(mean))
        self.feature_std.copy_(torch.from_numpy(std))

    def freeze(self) -> ContrastiveEvaluator:
        """Evaluation mode for good: no dropout, no gradients; ``train()`` no longer switches it back."""
        self.requires_grad_(False)
        self._frozen = True
        return super().train(False)

    def train(self, mode: bool = True) -> ContrastiveEvaluator:
        return super().train(False if getattr(self, "_frozen", False) else mode)

    def hash(self) -> str:
        """sha256 of what decides the embeddings: the architecture, every state entry, the statistics.

        Canonical: entries in sorted key order, each as ``name|dtype|shape`` and its raw bytes (little
        endian, as every platform PyTorch runs on); non-tensor entries (the learned encoder's vocabulary,
        CLIP's weights digest) as sorted JSON, machine-specific paths left out.
        """
        digest = hashlib.sha256(_HASH_FORMAT.encode())
        config = {k: v for k, v in dataclasses.asdict(self.config).items() if k not in _NOT_HASHED}
        context = {
            "representation": self.context.representation,
            "dims": self.context.dims,
            "part_slices": {part: list(self.context.part_slices[part]) for part in self.parts},
        }
        digest.update(json.dumps({"config": config, "context": context}, sort_keys=True).encode())
        named = sorted(self.state_dict().items())
        named += [("statistics.mean", self.feature_mean), ("statistics.std", self.feature_std)]
        for key, value in named:
            if torch.is_tensor(value):
                tensor = value.detach().to("cpu").contiguous()
                digest.update(f"{key}|{tensor.dtype}|{list(tensor.shape)}".encode())
                digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
            else:
                if isinstance(value, dict):
                    value = {k: v for k, v in value.items() if k not in _MACHINE_KEYS}
                digest.update(f"{key}|json|{json.dumps(value, sort_keys=True, default=str)}".encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ encoders (model space)
    def _motion_embeddings(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised-space features ``(B, T, dims)`` -> unit global embeddings ``(B, E)``."""
        features = torch.where(mask[..., None], features, 0.0)
        return F.normalize(self.motion_encoder(self.input_projection(features), mask).float(), dim=-1)

    def _part_motion_embeddings(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised-space features ``(B, T, dims)`` -> unit part embeddings ``(B, P, E)``."""
        features = torch.where(mask[..., None], features, 0.0)
        tokens = torch.stack(
            [
                self.part_projections[part](features[..., getattr(self, f"_dims_{part}")])
                + self.part_embedding[slot]
                for slot, part in enumerate(self.parts)
            ],
            dim=1,
        )  # (B, P, T, W): every part of the batch goes through the shared trunk in one call
        batch, parts, frames, width = tokens.shape
        part_mask = mask[:, None].expand(batch, parts, frames).reshape(batch * parts, frames)
        pooled = self.part_encoder(tokens.reshape(batch * parts, frames, width), part_mask)
        return F.normalize(pooled.float(), dim=-1).reshape(batch, parts, -1)

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled text-encoder features of distinct texts ``(U, C)``."""
        return self.text_encoder(list(texts)).pooled

    def _project(self, projection: nn.Module, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(projection(pooled).float(), dim=-1)

    # ------------------------------------------------------------------ training
    def training_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        device = self.device
        features = batch["features"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        captions = [text or "" for text in batch["captions"]]
        part_texts = dominant_stage_part_texts(batch, self.parts)
        # Every distinct text of the batch (captions and part texts) through the text encoder once.
        texts, ids = _unique(captions + [t for part in self.parts for t in part_texts[part] if t is not None])
        pooled = self._text_features(texts)
        caption_ids = torch.tensor(ids[: len(captions)], device=device)
        motion = self._motion_embeddings(features, mask)
        text = self._project(self.text_projection, pooled[caption_ids])
        # A motion without any text (a staged row whose stages have no overall text) is no pair.
        described = torch.tensor([bool(c.strip()) for c in captions], device=device)
        global_loss = symmetric_info_nce(motion, text, caption_ids, described, self.config.temperature)
        losses = {"loss_global": global_loss}
        if self.parts:
            lookup = dict(zip(texts, range(len(texts)), strict=True))
            # Missing texts point at text 0 (any real text) and are masked out of the loss as invalid.
            part_ids = torch.tensor(
                [[lookup[t] if t is not None else -1 for t in part_texts[part]] for part in self.parts],
                device=device,
            )  # (P, B)
            valid = part_ids >= 0
            part_ids = torch.where(valid, part_ids, 0)
            part_text = self._project(self.part_text_projection, pooled[part_ids])  # (P, B, E)
            part_motion = self._part_motion_embeddings(features, mask).transpose(0, 1)  # (P, B, E)
            per_part = symmetric_info_nce(part_motion, part_text, part_ids, valid, self.config.temperature)
            # The mean over the parts the batch has texts for (a part without any says nothing).
            present = valid.any(1).to(per_part.dtype)
            losses["loss_parts"] = (per_part * present).sum() / present.sum().clamp_min(1)
            losses["loss"] = global_loss + self.config.part_weight * losses["loss_parts"]
        else:
            losses["loss"] = global_loss
        return losses

    # ------------------------------------------------------------------ an evaluator does not generate
    def sample(self, requests, generator, guidance=None):
        raise self._no_generation()

    def generate(self, conditions, lengths=None, seed=0, guidance=None):
        raise self._no_generation()

    @staticmethod
    def _no_generation() -> MogenBenchError:
        return MogenBenchError(
            "an evaluator does not generate motions: it embeds them for the metrics",
            field="model",
            fix="generate with a run of a motion model (mdm, finemogen, ...); use this run with "
            "`mogen-bench evaluate ... --evaluator RUN_DIR`",
        )

    # ------------------------------------------------------------------ EmbeddingEvaluator
    def normalise(self, features: Any) -> torch.Tensor:
        """Dataset-space features -> the run's model space, float32 on the evaluator's device."""
        x = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
        x = x.to(self.feature_mean.device, torch.float32)
        return (x - self.feature_mean) / self.feature_std

    def _checked_motions(self, features: Any, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Dataset-space features and lengths checked -> (model-space features, frame mask), on the device."""
        x = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
        dims = self.context.dims
        if x.ndim != 3 or x.shape[-1] != dims:
            raise MogenBenchError(
                f"features must be (B, T, {dims}) {self.representation} features, got {tuple(x.shape)}",
                field="features",
                fix=f"pass dataset-space {self.representation} features, padded to one length",
            )
        n = torch.as_tensor(np.asarray(lengths) if not torch.is_tensor(lengths) else lengths).to("cpu")
        if n.shape != (x.shape[0],) or n.is_floating_point() or n.dtype == torch.bool:
            raise MogenBenchError(
                f"lengths must be {x.shape[0]} integers (one per motion), got {tuple(n.shape)} {n.dtype}",
                field="lengths",
            )
        n = n.long()
        if n.numel() and (int(n.min()) < 1 or int(n.max()) > x.shape[1]):
            raise MogenBenchError(
                f"lengths must lie in [1, {x.shape[1]}], got min {int(n.min())} max {int(n.max())}",
                field="lengths",
                fix="pass the true lengths, not the padded ones, and no empty motions",
            )
        mask = (torch.arange(x.shape[1])[None, :] < n[:, None]).to(self.feature_mean.device)
        # NaN in a motion's frames is not refused here: it makes that motion's embedding NaN (rows never mix),
        # and the protocol names the motions by id. NaN past a motion's end is ignored.
        return torch.where(mask[..., None], self.normalise(x), 0.0), mask

    @torch.no_grad()
    def encode_motions(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, dims)`` dataset-space features, ``(B,)`` lengths -> unit embeddings ``(B, E)``."""
        x, mask = self._checked_motions(features, lengths)
        out = []
        for rows in _chunks(x.shape[0]):
            frames = self._longest(mask[rows])
            out.append(self._motion_embeddings(x[rows, :frames], mask[rows, :frames]))
        return torch.cat(out) if out else x.new_zeros(0, self.embed_dim)

    @torch.no_grad()
    def encode_part_motions(self, features: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Part -> unit embeddings ``(B, E)`` of that part's features (input as for ``encode_motions``)."""
        self._require_parts()
        x, mask = self._checked_motions(features, lengths)
        out = []
        for rows in _chunks(x.shape[0]):
            frames = self._longest(mask[rows])
            out.append(self._part_motion_embeddings(x[rows, :frames], mask[rows, :frames]))
        stacked = torch.cat(out) if out else x.new_zeros(0, len(self.parts), self.embed_dim)
        return {part: stacked[:, slot] for slot, part in enumerate(self.parts)}

    @staticmethod
    def _longest(mask: torch.Tensor) -> int:
        # A chunk is cut to its own longest motion: padding beyond it changes nothing but costs time.
        return max(1, int(mask.sum(1).max())) if mask.numel() else 1

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], tokens: Sequence[Sequence[str] | None] | None = None):
        """``B`` texts -> unit embeddings ``(B, E)``; ``word/POS`` tokens are not used by this evaluator."""
        texts = self._checked_texts(texts, "texts")
        if tokens is not None and len(tokens) != len(texts):
            raise MogenBenchError(
                f"{len(texts)} texts but {len(tokens)} token lists", field="tokens", fix="pass one per text"
            )
        return self._encode_texts(texts, self.text_projection)

    @torch.no_grad()
    def encode_part_texts(self, part_texts: dict[str, Sequence[str]]) -> dict[str, torch.Tensor]:
        """Part -> unit embeddings ``(B, E)`` of that part's texts."""
        self._require_parts()
        unknown = sorted(set(part_texts) - set(self.parts))
        if unknown:
            raise MogenBenchError(
                f"no part head for {unknown}", field="part_texts", fix=f"use parts of {list(self.parts)}"
            )
        checked = {part: self._checked_texts(part_texts[part], f"part_texts.{part}") for part in part_texts}
        every = [text for texts in checked.values() for text in texts]
        embedded = self._encode_texts(every, self.part_text_projection)
        out, start = {}, 0
        for part, texts in checked.items():
            out[part] = embedded[start : start + len(texts)]
            start += len(texts)
        return out

    def _encode_texts(self, texts: list[str], projection: nn.Module) -> torch.Tensor:
        distinct, ids = _unique(texts)
        if not distinct:
            return self.feature_mean.new_zeros(0, self.embed_dim)
        pooled = torch.cat([self._text_features(distinct[rows]) for rows in _chunks(len(distinct))])
        return self._project(projection, pooled)[torch.tensor(ids, device=pooled.device)]

    @staticmethod
    def _checked_texts(texts: Sequence[str], field: str) -> list[str]:
        if isinstance(texts, str):
            raise MogenBenchError("expected a list of texts, not a string", field=field, fix="pass [text]")
        texts = list(texts)
        missing = [i for i, text in enumerate(texts) if not isinstance(text, str)]
        if missing:
            raise MogenBenchError(
                f"texts {missing[:8]} are not strings (a missing part text?)",
                field=field,
                fix="leave samples without a text out of the pool",
            )
        return texts

    def _require_parts(self) -> None:
        if not self.parts:
            raise MogenBenchError(
                f"this evaluator has no body-part heads (the {self.representation} dataset it was trained "
                "on has no part slices)",
                field="parts",
                fix="train the evaluator on a dataset with part slices for part-level metrics",
            )
