"""Conditioning tokens for the MEGA decoder: what the mesh is conditioned on.

Two kinds, chosen by ``MegaConfig.cond``; both end as tokens (B, L_c, D) PREFIXED to the decoder's sequence
(concatenation, not cross-attention, as in MEGA) plus a pooled vector (B, P) for the rotation/camera head:

- ``image`` (official MEGA): a backbone map (B, C, h, w) flattened in raster order -> ``cond_emb`` Linear(C, D)
  + a fixed sinusoidal 1-D position code (``pos_emb_cond``, non-persistent). Pooled = global average (B, C).
- ``landmarks`` (embedded default): MediaPipe's 33 landmarks in crop coordinates ([-1, 1] over the square
  crop, x right, y down), visibility in [0, 1], optionally the 3-D world landmarks (m). One token per landmark:
  ``cond_emb`` embeds present landmarks and puts a learned "missing" token on invisible/absent ones;
  ``pos_emb_cond`` adds a learned per-landmark identity. Pooled = all landmark features flattened (B, 33 F),
  missing ones zeroed, so the rotation/camera MLP knows which landmark is where.
"""

from __future__ import annotations

import math

import torch
from torch import nn

NUM_LANDMARKS = 33  # MediaPipe BlazePose
MIN_VISIBILITY = 0.5  # below this a landmark counts as missing (MediaPipe's own drawing threshold)


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """(length, dim) table: even channels sin(i w_k), odd channels cos(i w_k), w_k = 10000^(-2k/dim)."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (D/2,)
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sin/cos code (base 10000) over token index, added to (B, L, D); a non-persistent buffer."""

    pe: torch.Tensor

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoid_table(length, dim), persistent=False)  # (L, D)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.pe.shape[0]:
            raise ValueError(f"{tokens.shape[1]} conditioning tokens but the code covers {self.pe.shape[0]}")
        return tokens + self.pe[: tokens.shape[1]]


class LearnedPositionalEncoding(nn.Module):
    """A learned embedding per token index (here: per landmark identity), added to (B, L, D)."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(length, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens + self.weight


class LandmarkEmbedding(nn.Module):
    """Landmark features (B, L, F) -> tokens (B, L, D); missing landmarks get the learned ``missing`` token.

    Feature layout: [x_crop, y_crop, visibility, (x_world_m, y_world_m, z_world_m)]. A landmark is missing
    when any feature is NaN or its visibility is below ``MIN_VISIBILITY``.
    """

    def __init__(self, num_features: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(num_features, dim)
        self.missing = nn.Parameter(torch.empty(dim))
        nn.init.trunc_normal_(self.missing, std=0.02)

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        present = landmark_presence(landmarks)  # (B, L)
        tokens = self.proj(torch.nan_to_num(landmarks))  # (B, L, D)
        return torch.where(present.unsqueeze(-1), tokens, self.missing)


def landmark_presence(landmarks: torch.Tensor) -> torch.Tensor:
    """(B, L, F) landmark features -> (B, L) bool: finite and visibility (feature 2) >= MIN_VISIBILITY."""
    return torch.isfinite(landmarks).all(dim=-1) & (torch.nan_to_num(landmarks[..., 2]) >= MIN_VISIBILITY)


def landmark_features(landmarks_crop: torch.Tensor, landmarks_world_m: torch.Tensor | None = None) -> torch.Tensor:
    """Conditioning features from crop landmarks (B, 33, 3: x, y in [-1, 1], visibility) and optional world
    landmarks (B, 33, 3, metres) -> (B, 33, 3) or (B, 33, 6)."""
    if landmarks_world_m is None:
        return landmarks_crop
    return torch.cat([landmarks_crop, landmarks_world_m], dim=-1)


def image_condition_inputs(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone map (B, C, h, w) -> tokens (B, h*w, C) in raster order, pooled (B, C) global average."""
    return features.flatten(2).transpose(1, 2), features.mean(dim=(2, 3))


def landmark_condition_inputs(landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmark features (B, L, F) -> tokens (B, L, F) unchanged, pooled (B, L*F) with missing ones zeroed."""
    present = landmark_presence(landmarks).unsqueeze(-1)  # (B, L, 1)
    pooled = torch.where(present, torch.nan_to_num(landmarks), 0.0)  # (B, L, F)
    return landmarks, pooled.flatten(1)


def build_condition_layers(kind: str, cond_dim: int, cond_length: int, dim: int) -> tuple[nn.Module, nn.Module]:
    """(``cond_emb``, ``pos_emb_cond``) for a conditioning kind; the decoder owns them under these names."""
    if kind == "image":
        return nn.Linear(cond_dim, dim), SinusoidalPositionalEncoding(cond_length, dim)
    if kind == "landmarks":
        return LandmarkEmbedding(cond_dim, dim), LearnedPositionalEncoding(cond_length, dim)
    raise ValueError(f"unknown conditioning kind {kind!r}; use 'image' or 'landmarks'")


def pooled_dim(kind: str, cond_dim: int, cond_length: int) -> int:
    """Width of the pooled vector the rotation/camera head reads."""
    return cond_dim if kind == "image" else cond_dim * cond_length
