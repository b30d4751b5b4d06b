"""TEACH (Athanasiou et al., 3DV 2022) on the benchmark: ``mogen-bench train teach``.

A TEMOS-style transformer VAE with past conditioning (``baselines.md`` section 1; ``athn-nik/teach``):

    text tokens --ReLU-Linear--> +positions      past frames (last 5) --Linear--> +positions --encoder-->
    [mu, logvar, past..., sep, words] --6-layer encoder--> slots 0/1: N(mu, exp(logvar))    (text + past)
    [mu, logvar, frames] +positions --6-layer encoder--> N(mu, exp(logvar))                 (motion, training)
    z --6-layer decoder (queries: positions of the frames, memory: z)--> Linear --> features

Sizes as released: latent 256, 6 layers, 4 heads (the config's misspelt ``num_head`` falls back to 4),
feed-forward 1024, GELU, dropout 0.1. The past frames go through the *same* encoder as the text sequence
first (the released ``motionTransEncoder`` is never used, so it is not built). Positions are added to the
words and to the past frames, not to the distribution and separator tokens (as ``TextHist``), and to the
whole motion-encoder sequence (as the ACTOR encoder).

Texts. TEACH reads frozen DistilBERT's last hidden states; here the token features of the project's text
encoder take their place (``text_encoder``: the ``learned`` word encoder, trained with the model, by
default; the frozen ``clip`` text tower in the ``paper`` preset), projected by the same ReLU + Linear.

Training (``pairs.py`` cuts the pairs from the batch): the first action is encoded from its text alone and
decoded; the second from its text plus the last ``past_frames`` frames of the *generated* first action
(``teacher_forcing: false``), in the same forward, gradients flowing through them as in the released code
(``detach_past`` stops them). Both actions are also autoencoded by the motion encoder. Losses per action
(suffix ``_0``, ``_1``), as ``compute_teach.py``: smooth-L1 reconstruction text->motion and motion->motion
(per motion over its frames and features, then over the batch; weight 1), KL(text || motion),
KL(motion || text), KL(text || N(0, I)), KL(motion || N(0, I)) (means over batch and latent; 1e-5 each)
and the smooth-L1 between the text and motion latents (1e-5). The trainer logs the unweighted terms.

Generation (``composition.py``): stage by stage, batched over requests; stage ``i`` is decoded from its
text and the last 5 decoded frames of stage ``i - 1`` (model space, as TEACH), z drawn from the text
distribution (``sample_scale`` 1 = TEACH's ``fact``; 0 = its mean); then, in the dataset's feature space,
the root is aligned at each boundary and the first ``slerp_window`` frames of each later stage are
interpolated. The dataset statistics for that come from the model context (``mean``/``std``) or
``set_normalisation``; without them the model space is taken to be the feature space (right for runs
trained with ``data.normalise = false``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.mdm.model import sinusoidal_table
from baselines.teach.composition import ALIGN_MODES, StageLayout, compose, composition_kind
from baselines.teach.pairs import last_frames, pair_texts, segments, stage_pairs, stage_text
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext, MotionModel
from mogen_bench.models.conditions import GenerationRequest
from mogen_bench.models.text_conditioning import TextConfig, build_model_text_encoder
from mogen_bench.text.features import TextFeatures

#: Loss terms of one action, in ``compute_teach.py``'s order (suffixed ``_0`` / ``_1``).
TERMS = (
    "recons_text2motion",
    "recons_motion2motion",
    "kl_text2motion",
    "kl_motion2text",
    "kl_text",
    "kl_motion",
    "latent_manifold",
)


@dataclass
class TEACHConfig(TextConfig):
    """TEACH's network, losses and composition; the defaults are the released configuration."""

    latent_dim: int = 256
    layers: int = 6
    heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    activation: Literal["gelu", "relu"] = "gelu"
    #: Frames of the previous action the text encoder sees (``hist_frames``).
    past_frames: int = 5
    #: Stop the second action's gradients at the generated past (TEACH lets them through).
    detach_past: bool = False
    #: Loss weights (``configs/model/losses/teach.yaml``).
    recons_weight: float = 1.0
    kl_weight: float = 1e-5
    latent_weight: float = 1e-5
    #: Generation: noise scale of z around the text distribution's mean (TEACH's ``fact``; 0 = the mean).
    sample_scale: float = 1.0
    #: Generation: transition frames interpolated at the start of every later stage (``slerp_ws``).
    slerp_window: int = 8
    #: Generation: root alignment at each boundary, ``full`` (rotation and translation), ``trans``, ``none``.
    align: Literal["full", "trans", "none"] = "full"

    def __post_init__(self) -> None:
        for name in ("latent_dim", "layers", "heads", "ff_dim", "past_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MogenBenchError(
                    f"{name} must be a whole number >= 1, got {value!r}",
                    field=f"model.{name}",
                    fix="see baselines/teach/presets/paper.toml",
                )
        if self.latent_dim % self.heads:
            raise MogenBenchError(
                f"latent_dim {self.latent_dim} is not divisible by heads {self.heads}",
                field="model.heads",
                fix="choose heads that divide latent_dim (TEACH: 4)",
            )
        if self.slerp_window < 0:
            raise MogenBenchError(
                f"slerp_window must be >= 0, got {self.slerp_window}",
                field="model.slerp_window",
                fix="use 8 (TEACH) or 0 for none",
            )
        if self.align not in ALIGN_MODES:
            raise MogenBenchError(
                f"unknown align mode {self.align!r}",
                field="model.align",
                fix=f"use one of {', '.join(ALIGN_MODES)}",
            )
        for name in ("dropout", "recons_weight", "kl_weight", "latent_weight", "sample_scale"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise MogenBenchError(
                    f"{name} must be a number >= 0, got {value!r}",
                    field=f"model.{name}",
                    fix="see baselines/teach/presets/paper.toml",
                )


# --------------------------------------------------------------------------- building blocks
class Positions(nn.Module):
    """TEMOS's ``PositionalEncoding``: ``dropout(x + table[:T])`` with the sinusoidal table."""

    def __init__(self, rows: int, width: int, dropout: float):
        super().__init__()
        self.register_buffer("table", sinusoidal_table(rows, width), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.table.shape[0]:
            raise MogenBenchError(
                f"{x.shape[1]} positions exceed the model's {self.table.shape[0]}",
                field="length",
                fix="generate shorter stages",
            )
        return self.dropout(x + self.table[: x.shape[1]].to(x.dtype))


def _layer(kind: type[nn.Module], config: TEACHConfig) -> nn.Module:
    """One transformer encoder or decoder layer of the configured width, heads and activation."""
    return kind(
        config.latent_dim,
        config.heads,
        config.ff_dim,
        config.dropout,
        activation=config.activation,
        batch_first=True,
    )


def _encoder(config: TEACHConfig) -> nn.TransformerEncoder:
    layer = _layer(nn.TransformerEncoderLayer, config)
    return nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)


def _tokens(parameter: torch.Tensor, count: int) -> torch.Tensor:
    return parameter[None, None].expand(count, 1, -1)


class TextPastEncoder(nn.Module):
    """``TextHist``: a text (and the past frames, if any) -> the mean and log-variance of z."""

    def __init__(self, text_dim: int, dims: int, rows: int, config: TEACHConfig):
        super().__init__()
        width = config.latent_dim
        self.projection = nn.Sequential(nn.ReLU(), nn.Linear(text_dim, width))
        self.mu_token = nn.Parameter(torch.randn(width))
        self.logvar_token = nn.Parameter(torch.randn(width))
        self.separator_token = nn.Parameter(torch.randn(width))
        self.past_embedding = nn.Linear(dims, width)
        self.positions = Positions(rows, width, config.dropout)
        self.encoder = _encoder(config)

    def forward(
        self, text: TextFeatures, past: torch.Tensor | None = None, past_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        words = self.positions(self.projection(text.tokens))
        count = words.shape[0]
        keep = torch.ones(count, 2, dtype=torch.bool, device=words.device)
        sequence = [_tokens(self.mu_token, count), _tokens(self.logvar_token, count)]
        masks = [keep]
        if past is not None:
            if past_mask is None:
                past_mask = torch.ones(past.shape[:2], dtype=torch.bool, device=past.device)
            frames = self.positions(self.past_embedding(past.to(words.dtype)))
            sequence.append(self.encoder(frames, src_key_padding_mask=~past_mask))
            masks.append(past_mask)
        sequence += [_tokens(self.separator_token, count), words]
        masks += [keep[:, :1], text.mask]
        hidden = self.encoder(torch.cat(sequence, 1), src_key_padding_mask=~torch.cat(masks, 1))
        return hidden[:, 0], hidden[:, 1]


class MotionEncoder(nn.Module):
    """The ACTOR-style motion encoder: frames -> the mean and log-variance of z."""

    def __init__(self, dims: int, rows: int, config: TEACHConfig):
        super().__init__()
        width = config.latent_dim
        self.embedding = nn.Linear(dims, width)
        self.mu_token = nn.Parameter(torch.randn(width))
        self.logvar_token = nn.Parameter(torch.randn(width))
        self.positions = Positions(rows, width, config.dropout)
        self.encoder = _encoder(config)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.embedding(features)
        count = frames.shape[0]
        sequence = torch.cat([_tokens(self.mu_token, count), _tokens(self.logvar_token, count), frames], 1)
        keep = torch.ones(count, 2, dtype=torch.bool, device=mask.device)
        hidden = self.encoder(self.positions(sequence), src_key_padding_mask=~torch.cat([keep, mask], 1))
        return hidden[:, 0], hidden[:, 1]


class MotionDecoder(nn.Module):
    """The ACTOR-style decoder: queries are the frames' positions, the memory is z alone."""

    def __init__(self, dims: int, rows: int, config: TEACHConfig):
        super().__init__()
        layer = _layer(nn.TransformerDecoderLayer, config)
        self.decoder = nn.TransformerDecoder(layer, num_layers=config.layers)
        self.positions = Positions(rows, config.latent_dim, config.dropout)
        self.output = nn.Linear(config.latent_dim, dims)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        queries = self.positions(z.new_zeros(*mask.shape, z.shape[-1]))
        hidden = self.decoder(queries, z[:, None], tgt_key_padding_mask=~mask)
        return self.output(hidden) * mask[..., None].to(hidden.dtype)


# --------------------------------------------------------------------------- losses
def kl_normal(mu_q, logvar_q, mu_p=None, logvar_p=None) -> torch.Tensor:
    """``KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p))`` per dimension (``p`` = N(0, I) when left out)."""
    mu_q, logvar_q = mu_q.float(), logvar_q.float()
    if mu_p is None:
        mu_p, logvar_p = torch.zeros_like(mu_q), torch.zeros_like(logvar_q)
    mu_p, logvar_p = mu_p.float(), logvar_p.float()
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).square()) / logvar_p.exp() - 1)


def smooth_l1_per_motion(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """TEACH's ``Recons``: smooth-L1 averaged over each motion's frames and features, then over motions."""
    error = F.smooth_l1_loss(output.float(), target.float(), reduction="none").mean(-1)
    weights = mask.to(error.dtype)
    return ((error * weights).sum(1) / weights.sum(1).clamp_min(1)).mean()


# --------------------------------------------------------------------------- the model
class TEACH(MotionModel):
    name = "teach"
    config_class = TEACHConfig
    representations = ("smpl-rot6d-135", "humanml3d-263", "kit-251")
    presets_package = "baselines.teach.presets"

    def __init__(self, config: TEACHConfig, context: ModelContext):
        super().__init__(config, context)
        self.text_encoder = build_model_text_encoder(config, context)
        dims = context.dims
        rows = max(context.max_frames + 2, self.text_encoder.max_tokens, config.past_frames)
        self.text = TextPastEncoder(self.text_encoder.dim, dims, rows, config)
        self.motion = MotionEncoder(dims, rows, config)
        self.decoder = MotionDecoder(dims, rows, config)
        mean = getattr(context, "mean", None)
        std = getattr(context, "std", None)
        self.register_buffer("feature_mean", torch.zeros(dims), persistent=False)
        self.register_buffer("feature_std", torch.ones(dims), persistent=False)
        self.statistics_known = False
        if mean is not None and std is not None and len(mean) == dims and len(std) == dims:
            self.set_normalisation(mean, std)

    def set_normalisation(self, mean, std) -> None:
        """The dataset statistics (model space = ``(features - mean) / std``) the composition needs."""
        mean = torch.as_tensor(np.asarray(mean, np.float32)).reshape(-1)
        std = torch.as_tensor(np.asarray(std, np.float32)).reshape(-1)
        if mean.numel() != self.context.dims or std.numel() != self.context.dims or not bool((std > 0).all()):
            raise MogenBenchError(
                f"normalisation statistics must be {self.context.dims} means and positive stds",
                field="normalisation",
                fix="pass the run's mean and std (config.json, normalisation)",
            )
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)
        self.statistics_known = True

    # ------------------------------------------------------------------ pieces
    def reparameterise(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator, scale: float = 1.0
    ) -> torch.Tensor:
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=torch.float32)
        return mu + scale * (0.5 * logvar).exp() * noise.to(mu.dtype)

    def _action(
        self,
        text: TextFeatures,
        target: torch.Tensor,
        mask: torch.Tensor,
        generator,
        past: torch.Tensor | None = None,
        past_mask: torch.Tensor | None = None,
    ):
        """The loss terms of one action (text and motion branches) and its text -> motion output."""
        mu_t, logvar_t = self.text(text, past, past_mask)
        mu_m, logvar_m = self.motion(target, mask)
        z_t = self.reparameterise(mu_t, logvar_t, generator)
        z_m = self.reparameterise(mu_m, logvar_m, generator)
        count = target.shape[0]
        decoded = self.decoder(torch.cat([z_t, z_m]), torch.cat([mask, mask]))
        from_text, from_motion = decoded[:count], decoded[count:]
        terms = {
            "recons_text2motion": smooth_l1_per_motion(from_text, target, mask),
            "recons_motion2motion": smooth_l1_per_motion(from_motion, target, mask),
            "kl_text2motion": kl_normal(mu_t, logvar_t, mu_m, logvar_m).mean(),
            "kl_motion2text": kl_normal(mu_m, logvar_m, mu_t, logvar_t).mean(),
            "kl_text": kl_normal(mu_t, logvar_t).mean(),
            "kl_motion": kl_normal(mu_m, logvar_m).mean(),
            "latent_manifold": F.smooth_l1_loss(z_t.float(), z_m.float()),
        }
        return terms, from_text

    def _weighted(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        config = self.config
        recons = terms["recons_text2motion"] + terms["recons_motion2motion"]
        kl = terms["kl_text2motion"] + terms["kl_motion2text"] + terms["kl_text"] + terms["kl_motion"]
        latent = terms["latent_manifold"]
        return config.recons_weight * recons + config.kl_weight * kl + config.latent_weight * latent

    # ------------------------------------------------------------------ training
    def training_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        device = self.device
        features = batch["features"].to(device, non_blocking=True)
        lengths = batch["lengths"].to(device)
        pairs = stage_pairs(batch["stage_index"].to(device), lengths, generator)
        first_texts, second_texts = pair_texts(batch["stages"], pairs)
        count = len(first_texts)
        # One text-encoder call for the batch: the first actions' texts, then the second actions'.
        texts = self.text_encoder(first_texts + second_texts)

        first, first_mask = segments(features, pairs.first_start, pairs.first_length)
        terms_0, generated = self._action(texts.select(range(count)), first, first_mask, generator)
        total = self._weighted(terms_0)
        rows = torch.nonzero(pairs.paired).squeeze(1)
        if len(second_texts):
            past, past_mask = last_frames(generated[rows], pairs.first_length[rows], self.config.past_frames)
            if self.config.detach_past:
                past = past.detach()
            second, second_mask = segments(
                features[rows], pairs.second_start[rows], pairs.second_length[rows]
            )
            text_1 = texts.select(range(count, count + len(second_texts)))
            terms_1, _ = self._action(text_1, second, second_mask, generator, past, past_mask)
            total = total + self._weighted(terms_1)
        else:
            # No pair in this batch: the past embedding still joins the graph (DDP expects every gradient).
            unused = sum(p.sum() for p in self.text.past_embedding.parameters()) * 0.0
            terms_1 = dict.fromkeys(TERMS, features.new_zeros(()))
            total = total + unused
        losses = {f"{name}_0": value for name, value in terms_0.items()}
        losses.update({f"{name}_1": value for name, value in terms_1.items()})
        losses["loss"] = total
        return losses

    # ------------------------------------------------------------------ generation
    @property
    def max_generation_frames(self) -> int | None:
        # Stages are decoded one by one, so only each stage must fit (checked in ``sample``).
        return None

    def sample(
        self, requests: list[GenerationRequest], generator: torch.Generator, guidance: float | None = None
    ) -> torch.Tensor:
        if guidance is not None and float(guidance) != 1.0:
            raise MogenBenchError(
                "TEACH has no classifier-free guidance",
                field="guidance",
                fix="leave out --guidance for a TEACH run",
            )
        longest = max(s.end_frame - s.start_frame for request in requests for s in request.stages)
        if longest > self.context.max_frames:
            raise MogenBenchError(
                f"a stage of {longest} frames is longer than the {self.context.max_frames} "
                "a TEACH stage can have",
                field="stages",
                fix="split the stage, or train with a larger data.max_frames",
            )
        device = self.device
        config = self.config
        layout = StageLayout.from_stage_lengths(
            [[stage.end_frame - stage.start_frame for stage in request.stages] for request in requests],
            config.slerp_window,
            device,
        )
        totals = layout.totals
        count, frames, dims = len(requests), int(totals.max()), self.context.dims
        out = torch.zeros(count, frames, dims, device=device)
        past = torch.zeros(count, config.past_frames, dims, device=device)
        past_mask = torch.zeros(count, config.past_frames, dtype=torch.bool, device=device)
        offsets = torch.arange(frames, device=device)
        for stage in range(layout.starts.shape[1]):
            rows = torch.nonzero(layout.counts > stage).squeeze(1)
            text = self.text_encoder([stage_text(requests[i].stages[stage]) for i in rows.tolist()])
            if stage == 0:
                mu, logvar = self.text(text)
            else:
                mu, logvar = self.text(text, past[rows], past_mask[rows])
            z = self.reparameterise(mu, logvar, generator, config.sample_scale)
            length = layout.decoded_lengths[rows, stage]
            mask = offsets[None, : int(length.max())] < length[:, None]
            decoded = self.decoder(z, mask).float()
            target = layout.decoded_starts[rows, stage][:, None] + offsets[None, : mask.shape[1]]
            row_index = rows[:, None].expand_as(target)
            out[row_index[mask], target[mask]] = decoded[mask]
            past[rows], past_mask[rows] = last_frames(decoded, length, config.past_frames)
        return self.compose(out, layout)

    def compose(self, features: torch.Tensor, layout: StageLayout) -> torch.Tensor:
        """Model-space stages joined as ``composition.py`` describes (in dataset space where it matters)."""
        representation = self.context.representation
        if composition_kind(representation) == "linear":
            return compose(features, layout, representation, self.config.align)
        if not self.statistics_known:
            warnings.warn(
                "TEACH composes smpl-rot6d-135 stages without the dataset statistics, taking the model "
                "space for the feature space; call set_normalisation(mean, std) for a normalised run",
                stacklevel=3,
            )
        mean, std = self.feature_mean.to(features.dtype), self.feature_std.to(features.dtype)
        joined = compose(features * std + mean, layout, representation, self.config.align)
        frames = torch.arange(features.shape[1], device=features.device)
        inside = (frames[None, :] < layout.totals[:, None])[..., None]
        return torch.where(inside, (joined - mean) / std, torch.zeros_like(joined))
