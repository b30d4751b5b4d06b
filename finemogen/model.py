"""FineMoGen (Zhang et al., NeurIPS 2023) on the benchmark: ``mogen-bench train finemogen``.

The network of the released code (``finemogen.md`` section 2), written for batches of staged motions:

    x_t (B, T, dims) --PoseEncoder--> (B, T, 8, 64)          7 part tokens + 1 whole-body token
    t --sinusoidal(512)--> Linear -> SiLU -> Linear --> emb (B, 2048)
    texts --encoder (frozen CLIP 512 | learned)--> Linear -> 256 [-> 2 transformer layers -> LayerNorm]
    4 x [SAMI (x, texts, emb) -> SFFN (x, emb)]
    --PoseDecoder (zero-initialised)--> x0 (B, T, dims)

and the conditioning the paper describes and the code lacks: every stage of a motion brings its overall
text and up to seven part texts; all distinct texts of a batch are encoded once, each part head reads its
own part's text (the overall text where that is missing), each stage's texts shape only the templates of
that stage, and frames read the templates of every stage by temporal proximity (``conditioning.py``,
``sami.py``). One forward handles the whole batch: no loop over motions or stages.

Training (``DiffusionMotionModel``): x0 MSE over the real frames + 10 x the experts' routing loss + 1e-4 x
the template KL; the whole condition dropped with ``cond_drop`` and, independently, each part text with
``part_text_drop`` (falling back to the overall text); ``training_mode`` ``supervised`` (every stage and its
part texts) or ``zero_shot`` (the overall text of the stage covering most of the crop, one stage).
Generation: DDIM over ``15,15,8,6,6`` (50 steps), guidance ``w = 1 + 6.5 t / 1000``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from finemogen.conditioning import (
    NUM_HEADS,
    PART_HEADS,
    StageCondition,
    TextBank,
    route_texts,
    stage_masks,
    zero_shot_stages,
)
from finemogen.config import FineMoGenConfig
from finemogen.pose import PoseDecoder, PoseEncoder
from finemogen.sami import SAMI, SAMIState
from finemogen.sffn import SFFN
from finemogen.stylization import timestep_embedding
from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import ModelContext
from mogen_bench.models.conditions import GenerationRequest
from mogen_bench.models.diffusion_model import DiffusionMotionModel
from mogen_bench.models.text_conditioning import build_model_text_encoder
from mogen_bench.motion.part_slices import SLICE_NAMES, part_slices


class TextAdapter(nn.Module):
    """Encoder tokens -> SAMI's text width: a projection, and over a frozen encoder (CLIP) the released
    trainable transformer layers (4 heads, feed-forward 2048, GELU, post-norm) and a final LayerNorm."""

    def __init__(self, in_dim: int, config: FineMoGenConfig, frozen_encoder: bool):
        super().__init__()
        width = config.text_latent_dim
        self.mask_padding = config.mask_text_padding
        self.project = nn.Linear(in_dim, width) if in_dim != width else nn.Identity()
        self.encoder = None
        self.norm = nn.Identity()
        if frozen_encoder and config.text_layers > 0:
            layer = nn.TransformerEncoderLayer(
                d_model=width,
                nhead=config.text_heads,
                dim_feedforward=config.text_ff_dim,
                dropout=config.dropout,
                activation="gelu",
                batch_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, config.text_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.project(tokens)
        if self.encoder is not None:
            x = self.encoder(x, src_key_padding_mask=~mask if self.mask_padding else None)
        return self.norm(x)


class FineMoGenLayer(nn.Module):
    """One SAMI block and one part-wise FFN block."""

    def __init__(self, config: FineMoGenConfig, max_text_len: int):
        super().__init__()
        self.sami = SAMI(
            part_dim=config.part_dim,
            parts=NUM_HEADS,
            text_dim=config.text_latent_dim,
            ffn_dim=config.ffn_dim,
            text_ffn_dim=config.text_ffn_dim,
            num_experts=config.num_experts,
            top_k=config.top_k,
            gate_noise=config.gate_noise,
            capacity_factor=config.capacity_factor,
            time_embed_dim=config.time_embed_dim,
            max_seq_len=config.max_seq_len,
            max_text_len=max_text_len,
            sigma_init=config.sigma_init,
            dropout=config.dropout,
        )
        self.ffn = SFFN(NUM_HEADS, config.part_dim, config.ffn_dim, config.time_embed_dim, config.dropout)


class FineMoGen(DiffusionMotionModel):
    name = "finemogen"
    config_class = FineMoGenConfig
    representations = ("humanml3d-263", "kit-251", "smpl-rot6d-135")
    presets_package = "finemogen.presets"

    def __init__(self, config: FineMoGenConfig, context: ModelContext):
        super().__init__(config, context)
        if context.max_frames > config.max_seq_len:
            raise MogenBenchError(
                f"the data holds motions of up to {context.max_frames} frames but max_seq_len is "
                f"{config.max_seq_len}",
                field="model.max_seq_len",
                fix=f"set model.max_seq_len >= {context.max_frames} "
                f"or data.max_frames <= {config.max_seq_len}",
            )
        slices = context.part_slices
        if not all(name in slices for name in SLICE_NAMES):
            slices = part_slices(context.representation)
        self.text_encoder = build_model_text_encoder(config, context)
        self.text_adapter = TextAdapter(self.text_encoder.dim, config, not self.text_encoder.trainable)
        self.pose_encoder = PoseEncoder(slices, context.dims, config.part_dim)
        self.time_embed = nn.Sequential(
            nn.Linear(config.latent_dim, config.time_embed_dim),
            nn.SiLU(),
            nn.Linear(config.time_embed_dim, config.time_embed_dim),
        )
        self.layers = nn.ModuleList(
            FineMoGenLayer(config, self.text_encoder.max_tokens) for _ in range(config.layers)
        )
        self.pose_decoder = PoseDecoder(slices, context.dims, config.part_dim)
        for parameter in self.pose_decoder.parameters():  # released: zero_module(PoseDecoder)
            nn.init.zeros_(parameter)
        self._generator: torch.Generator | None = None
        # What the last training forward leaves for ``extra_losses``.
        self._states: list[SAMIState] = []
        self._aux: list[torch.Tensor] = []
        self._stages: torch.Tensor | None = None

    # ------------------------------------------------------------------ conditions
    def encode_texts(self, texts: Sequence[str]) -> TextBank:
        """All ``texts`` in one text-encoder call, through the adapter: a ``TextBank``."""
        # A batch without a single text (every text missing) still needs a bank to index; nothing reads it.
        features = self.text_encoder(list(texts) or [""])
        tokens = self.text_adapter(features.tokens.to(self.device), features.mask.to(self.device))
        mask = features.mask.to(self.device)
        if not self.config.mask_text_padding:
            mask = torch.ones_like(mask)
        return TextBank(tokens, mask)

    def condition(
        self, motions: Sequence[Sequence[Mapping[str, object]]], part_drop: torch.Tensor | None = None
    ) -> StageCondition:
        routed = route_texts(motions, part_drop)
        device = self.device
        return StageCondition(
            bank=self.encode_texts(routed.texts),
            slots=routed.slots.to(device),
            starts=routed.starts.to(device),
            ends=routed.ends.to(device),
        )

    def encode_batch(self, batch: dict) -> StageCondition:
        motions = batch["stages"]
        if self.config.training_mode == "zero_shot":
            return self.condition(zero_shot_stages(motions, batch["lengths"].tolist()))
        part_drop = None
        if self._generator is not None and self.config.part_text_drop > 0:
            stages = max(1, max(len(m) for m in motions))
            shape = (len(motions), stages, len(PART_HEADS))
            draws = torch.rand(shape, generator=self._generator, device=self._generator.device)
            part_drop = (draws < self.config.part_text_drop).cpu()
        return self.condition(motions, part_drop)

    def encode_requests(self, requests: list[GenerationRequest]) -> StageCondition:
        motions = [
            [{"start_frame": s.start_frame, "end_frame": s.end_frame, **s.texts} for s in request.stages]
            for request in requests
        ]
        return self.condition(motions)

    # ------------------------------------------------------------------ network
    def denoise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: StageCondition,
        frame_mask: torch.Tensor,
        drop: torch.Tensor,
    ) -> torch.Tensor:
        masks = stage_masks(condition, frame_mask, drop)
        emb = self.time_embed(timestep_embedding(t, self.config.latent_dim).to(x_t.dtype))
        h = self.pose_encoder(x_t)
        generator = self._generator
        states, aux = [], []
        for layer in self.layers:
            text = layer.sami.text_features(condition.bank.tokens, generator)
            h, state = layer.sami(h, emb, text, condition.slots, masks, generator)
            aux.append(layer.sami.aux_loss)
            h = layer.ffn(h, emb)
            states.append(state)
        if self.training:
            self._states, self._aux, self._stages = states, aux, masks.stages
        return self.pose_decoder(h)

    def extra_losses(self) -> dict[str, torch.Tensor]:
        """Routing loss x ``moe_loss_weight`` and template KL x ``kl_loss_weight`` of the last ``denoise``.

        The KL is summed over motions and heads as released; a motion with several stages contributes the
        mean over its stages, so the term does not grow with the number of stages.
        """
        if not self._states:
            return {}
        routing = torch.stack([a.float() for a in self._aux]).sum()
        stages_per_motion = self._stages.sum(1).clamp_min(1).float()
        kl = sum((s.kl.float().sum((1, 2)) / stages_per_motion).sum() for s in self._states)
        return {
            "loss_moe": routing * self.config.moe_loss_weight,
            "loss_kl": kl * self.config.kl_loss_weight,
        }

    def training_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        # The gate noise and the part-text dropout draw from the trainer's generator, so runs repeat exactly.
        self._generator = generator
        try:
            return super().training_losses(batch, generator)
        finally:
            self._generator = None
            self._states, self._aux, self._stages = [], [], None
