"""SAMI, FineMoGen's spatio-temporal mixture attention, batched over motions and stages.

One layer on ``x (B, T, 8, D)`` (8 part tokens per frame, D = 64), for a batch whose motions have up to
``S`` stages (``finemogen.md`` sections 2.6 and 3; paper eq. 1-5):

1. Keys and values from mixtures of experts: the text tokens give ``[K | V]`` (one expert pool for all
   heads), every (frame, part) token ``[B | K | V]`` (``B`` feeds the spatial branch).
2. Global templates per stage and part: ``G[b,s,h] = softmax_n(K)^T V`` over the tokens of the one text
   that head ``h`` of stage ``s`` reads and the frames of stage ``s`` (the key softmax runs over the
   sequence axis, per channel); every other token is masked with -1e6 on its key and zero on its value
   (``conditioning.py``). With one stage this is the released SAMI exactly.
3. Time anchors: ``tau = sigmoid(MLP(G) / t_sigma) * len_s / 196 + start_s / 196``, inside the stage.
4. Temporal read-out: every frame ``i`` (time ``t_i = i / 196``) reads the templates of all stages of its
   motion with weights ``softmax_{s,d}(-(196 (t_i - tau_sd))^2 / sigma)`` (the released composition rule,
   so transitions come from the model) and the Taylor expansion of the released code:
   ``sum w (S + V (t - tau) + A (t - tau)^2 + J (t - tau)^3)``, computed as a polynomial in ``t`` whose
   coefficients are contracted with the weights first (no ``(frames x templates x D)`` tensor).
5. Spatial refinement: ``Y^S[b,i,h] = sum_l softmax(W)[h,l] B[b,i,l]``; output ``x + stylise(Y^S + Y^T)``.

``attend`` returns the intermediate tensors (``SAMIState``), which the tests and the losses read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from finemogen.conditioning import MASKED, StageMasks
from finemogen.moe import FineMoE
from finemogen.stylization import StylizationBlock


def template_ffn(dim: int, hidden: int, out: int | None = None) -> nn.Sequential:
    """The released ``get_ffn``: Linear -> GELU -> Linear."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, out or dim))


@dataclass
class SAMIState:
    """One SAMI forward's intermediate tensors (``N`` = templates per group = D)."""

    #: ``(B, S, 8, N, D)`` global templates of every stage and part.
    templates: torch.Tensor
    #: ``(B, S, 8, N)`` pre-sigmoid anchor features (the template KL reads them).
    anchor_logits: torch.Tensor
    #: ``(B, S, 8, N)`` anchors in normalised time (stage start added).
    anchors: torch.Tensor
    #: ``(B, T, 8, D)`` temporal read-out ``Y^T`` and spatial refinement ``Y^S``.
    temporal: torch.Tensor
    spatial: torch.Tensor
    #: ``(B, S, 8)`` KL term of each template group's anchor features (zero on padding stages).
    kl: torch.Tensor


class SAMI(nn.Module):
    """``forward(x (B, T, 8, D), emb (B, E), text (N, L, 2D), masks) -> (B, T, 8, D)``."""

    def __init__(
        self,
        part_dim: int,
        parts: int,
        text_dim: int,
        ffn_dim: int,
        text_ffn_dim: int,
        num_experts: int,
        top_k: int,
        gate_noise: float,
        capacity_factor: float,
        time_embed_dim: int,
        max_seq_len: int,
        max_text_len: int,
        sigma_init: float,
        dropout: float,
    ):
        super().__init__()
        self.part_dim, self.parts, self.max_seq_len = part_dim, parts, max_seq_len
        self.norm = nn.LayerNorm(part_dim)
        self.text_norm = nn.LayerNorm(text_dim)
        self.sigma = nn.Parameter(torch.tensor([float(sigma_init)]))
        self.t_sigma = nn.Parameter(torch.tensor([1.0]))
        moe = {
            "num_experts": num_experts,
            "top_k": top_k,
            "gate_noise": gate_noise,
            "capacity_factor": capacity_factor,
        }
        self.text_moe = FineMoE(
            input_dim=text_dim,
            ffn_dim=text_ffn_dim,
            output_dim=2 * part_dim,
            num_heads=1,
            max_seq_len=max_text_len,
            **moe,
        )
        self.motion_moe = FineMoE(
            input_dim=part_dim,
            ffn_dim=ffn_dim,
            output_dim=3 * part_dim,
            num_heads=parts,
            max_seq_len=max_seq_len,
            **moe,
        )
        self.body_weight = nn.Parameter(torch.randn(parts, parts))
        self.template_s = template_ffn(part_dim, ffn_dim)
        self.template_v = template_ffn(part_dim, ffn_dim)
        self.template_a = template_ffn(part_dim, ffn_dim)
        self.template_j = template_ffn(part_dim, ffn_dim)
        self.template_t = template_ffn(part_dim, ffn_dim, 1)
        self.proj_out = StylizationBlock(parts * part_dim, time_embed_dim, dropout)

    # ------------------------------------------------------------------ keys and values
    def text_features(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(N, L, C)`` text tokens of a batch's distinct texts -> ``(N, L, 2D)`` ``[K | V]``."""
        return self.text_moe(self.text_norm(tokens)[:, :, None], generator)[:, :, 0]

    def motion_features(
        self, x: torch.Tensor, positions: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``(B, T, 8, D) -> (B, T, 8, 3D)`` ``[B | K | V]``, with each frame's position inside its stage.

        The released composition runs every stage as its own sequence, so the experts' position embedding
        restarts at each stage: ``positions (B, T)`` (``StageMasks.positions``) rather than ``0..T-1``.
        """
        return self.motion_moe(self.norm(x), generator, positions=positions)

    # ------------------------------------------------------------------ the layer
    def attend(
        self,
        x: torch.Tensor,
        text: torch.Tensor,
        slots: torch.Tensor,
        masks: StageMasks,
        generator: torch.Generator | None = None,
    ) -> SAMIState:
        """The templates, anchors and read-outs of ``x`` given text features ``text (N, L, 2D)`` (from
        ``text_features``), the routing table ``slots (B, S, 8)`` and ``masks``."""
        batch, frames, parts, dim = x.shape
        stages = slots.shape[1]
        length = float(self.max_seq_len)
        motion = self.motion_features(x, masks.positions, generator)
        body_value, motion_key, motion_value = motion.split(dim, dim=-1)

        # Spatial refinement: parts exchange information through one learned 8 x 8 mixing.
        spatial = torch.einsum("hl,btld->bthd", self.body_weight.softmax(dim=1), body_value)

        # Keys of every template group (b, s, h): its text's tokens, then the frames of the motion.
        gathered = text[slots.clamp_min(0)]  # (B, S, 8, L, 2D)
        text_key, text_value = gathered.split(dim, dim=-1)
        keep_text = masks.text[..., None]
        text_key = text_key + (~keep_text).to(text_key.dtype) * MASKED
        text_value = text_value * keep_text.to(text_value.dtype)
        frame_key = motion_key.permute(0, 2, 1, 3)[:, None]  # (B, 1, 8, T, D)
        off_stage = (~masks.frames)[:, :, None, :, None].to(frame_key.dtype)  # (B, S, 1, T, 1)
        frame_key = frame_key + off_stage * MASKED
        real = masks.frames.any(1)[:, :, None, None].to(motion_value.dtype)  # frames of some stage
        frame_value = (motion_value * real).permute(0, 2, 1, 3)  # (B, 8, T, D)
        text_tokens = text_key.shape[3]
        weights = torch.cat([text_key, frame_key.expand(-1, stages, -1, -1, -1)], dim=3).softmax(dim=3)
        templates = torch.einsum("bshnd,bshnl->bshdl", weights[..., :text_tokens, :], text_value)
        templates = templates + torch.einsum("bshtd,bhtl->bshdl", weights[..., text_tokens:, :], frame_value)

        # Time anchors, inside each stage, shifted by the stage start (released composition rule).
        anchor_logits = self.template_t(templates).squeeze(-1)  # (B, S, 8, N)
        local = torch.sigmoid(anchor_logits / self.t_sigma) * masks.lengths[..., None, None] / length
        anchors = local + masks.starts[..., None, None] / length

        # Temporal read-out: Gaussian weights over the anchors of all stages, Taylor terms to third order.
        tau = anchors[..., None]
        s, v = self.template_s(templates), self.template_v(templates)
        a, j = self.template_a(templates), self.template_j(templates)
        # (B, S, 8, N, 4, D): the coefficients c_k of y(t) = sum_k c_k t^k.
        coefficients = torch.stack(
            [s - v * tau + a * tau**2 - j * tau**3, v - 2 * a * tau + 3 * j * tau**2, a - 3 * j * tau, j],
            dim=-2,
        )
        coefficients = coefficients.permute(0, 2, 1, 3, 4, 5).reshape(batch, parts, -1, 4 * dim)
        # At least float32 whatever the autocast: in bf16 an anchor near 1 is off by most of a frame.
        precise = torch.promote_types(anchors.dtype, torch.float32)
        time = torch.arange(frames, device=x.device, dtype=precise) / length
        flat_anchors = anchors.to(precise).permute(0, 2, 1, 3).reshape(batch, 1, parts, -1)  # (B, 1, 8, S*N)
        delta = (time[None, :, None, None] - flat_anchors) * length
        readable = masks.stages[:, None, None, :, None].expand(-1, -1, -1, -1, dim).reshape(batch, 1, 1, -1)
        logits = (-(delta**2) / self.sigma.to(precise)).masked_fill(~readable, torch.finfo(delta.dtype).min)
        mixed = torch.einsum("bthn,bhnk->bthk", logits.softmax(dim=-1).to(coefficients.dtype), coefficients)
        powers = time[:, None] ** torch.arange(4, device=x.device, dtype=time.dtype)  # (T, 4)
        powers = powers.to(mixed.dtype)
        temporal = torch.einsum("bthkd,tk->bthd", mixed.reshape(batch, frames, parts, 4, dim), powers)

        # The released template KL: a unit Gaussian prior on the anchor features of each group ("logvar"
        # is log std, as written there); std clamped so empty padding groups stay finite.
        mu = anchor_logits.mean(-1)
        log_std = torch.log(anchor_logits.std(-1).clamp_min(1e-12))
        kl = -0.5 * (1 + log_std - mu**2 - log_std.exp())
        kl = torch.where(masks.stages[..., None], kl, torch.zeros_like(kl))
        return SAMIState(templates, anchor_logits, anchors, temporal, spatial, kl)

    def forward(
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        text: torch.Tensor,
        slots: torch.Tensor,
        masks: StageMasks,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, SAMIState]:
        state = self.attend(x, text, slots, masks, generator)
        batch, frames, parts, dim = x.shape
        y = (state.spatial + state.temporal).reshape(batch, frames, parts * dim)
        return x + self.proj_out(y, emb).reshape(batch, frames, parts, dim), state

    @property
    def aux_loss(self) -> torch.Tensor:
        """The routing losses of both mixtures of experts in the last forward."""
        return self.text_moe.aux_loss + self.motion_moe.aux_loss
