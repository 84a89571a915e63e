"""Pre-norm transformer block with timm's key layout (``norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2``).

Shared by the MEGA encoder/decoder (qkv without bias, LayerNorm eps 1e-5) and the ViT-H backbone (qkv with bias,
eps 1e-6), so their checkpoints load key for key. Attention is ``scaled_dot_product_attention`` (no timm needed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention over (B, T, C) with a fused ``qkv`` projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, T, C), or with ``last`` only the last rows (B, last, C), which still attend to all T."""
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.num_heads, C // self.num_heads)  # (B, T, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, nh, T, hs)
        if last is not None:
            q = q[:, :, T - last :]  # (B, nh, last, hs)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, nh, T or last, hs)
        return self.proj(y.transpose(1, 2).reshape(B, q.shape[2], C))  # (B, T or last, C)


class Mlp(nn.Module):
    """Two-layer GELU MLP of width ``ratio * dim``."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """x + attn(norm1(x)), then x + mlp(norm2(x)); no dropout, drop-path or layer scale (inference-equal to timm)."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False, eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, T, C); with ``last``, only the last rows (B, last, C): a final block whose other outputs
        nobody reads skips their projection and MLP (the same numbers, less work)."""
        y = self.attn(self.norm1(x), last)
        x = (x if last is None else x[:, x.shape[1] - last :]) + y
        return x + self.mlp(self.norm2(x))
