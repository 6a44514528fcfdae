"""Dense TRELLIS building blocks, with the parameter names of the released checkpoints.

Used by the sparse-structure flow of stage 1 (inside the joint model) and, for the per-token
pieces (norms, embedders, feed-forward, modulation), by the structured-latent flow of stage 2.

Key names (relative to each module):
- MultiHeadRMSNorm: ``gamma`` (heads, head_dim)
- TimestepEmbedder: ``mlp.0``, ``mlp.2``
- FeedForwardNet: ``mlp.0``, ``mlp.2``
- MultiHeadAttention: self ``to_qkv``, [``q_rms_norm``, ``k_rms_norm``], ``to_out``;
  cross ``to_q``, ``to_kv``, ``to_out``
- ModulatedTransformerCrossBlock: ``norm2`` (the only affine norm), ``self_attn``, ``cross_attn``,
  ``mlp``, ``adaLN_modulation.1``
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import attention


class LayerNorm32(nn.LayerNorm):
    """LayerNorm computed in float32, result cast back to the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(x.dtype)


class MultiHeadRMSNorm(nn.Module):
    """Per-head RMS norm of q or k: normalize(x) * gamma * sqrt(head_dim), in float32."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones(heads, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., heads, dim)
        return (F.normalize(x.float(), dim=-1) * self.gamma.float() * self.scale).to(x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (cos first) of a 1-D tensor of (fractional) times, in float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.reshape(-1).float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """t -> sinusoid(256, cos first, max period 10000) -> Linear -> SiLU -> Linear."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t_freq = timestep_embedding(t, self.frequency_embedding_size).to(self.mlp[0].weight.dtype)
        return self.mlp(t_freq)


class AbsolutePositionEmbedder(nn.Module):
    """Sin/cos embedding of integer coordinates: per axis [sin(p f_k), cos(p f_k)], k < channels // (2 axes),
    f_k = 10000^(-k / freq_dim); axes concatenated, zero padded to `channels`. No parameters."""

    def __init__(self, channels: int, in_channels: int = 3):
        super().__init__()
        self.channels = channels
        self.in_channels = in_channels
        self.freq_dim = channels // in_channels // 2

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (N, in_channels) -> (N, channels) float32."""
        n, d = coords.shape
        if d != self.in_channels:
            raise ValueError(f"expected {self.in_channels} coordinates per position, got {d}")
        freqs = 1.0 / (10000 ** (torch.arange(self.freq_dim, dtype=torch.float32, device=coords.device)
                                 / self.freq_dim))
        out = torch.outer(coords.reshape(-1).float(), freqs)
        emb = torch.cat([torch.sin(out), torch.cos(out)], dim=-1).reshape(n, -1)
        if emb.shape[1] < self.channels:
            emb = torch.cat([emb, emb.new_zeros(n, self.channels - emb.shape[1])], dim=-1)
        return emb


def grid_position_embedding(channels: int, resolution: int, device=None) -> torch.Tensor:
    """The APE of every cell of a resolution^3 grid in raster order (x slowest): (resolution^3, channels)."""
    ax = torch.arange(resolution, device=device)
    coords = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), dim=-1).reshape(-1, 3)
    return AbsolutePositionEmbedder(channels, 3)(coords)


class FeedForwardNet(nn.Module):
    """Linear -> GELU(tanh) -> Linear (keys mlp.0, mlp.2)."""

    def __init__(self, channels: int, mlp_ratio: float = 4.0):
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class MultiHeadAttention(nn.Module):
    """Full multi-head attention on dense tokens (B, L, C); `type` "self" or "cross"."""

    def __init__(self, channels: int, num_heads: int, ctx_channels: int | None = None, type: str = "self",
                 qkv_bias: bool = True, qk_rms_norm: bool = False):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels {channels} not divisible by heads {num_heads}")
        if type not in ("self", "cross"):
            raise ValueError(f"invalid attention type {type!r}")
        self.channels = channels
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.ctx_channels = ctx_channels if ctx_channels is not None else channels
        self._type = type
        self.qk_rms_norm = qk_rms_norm
        if type == "self":
            self.to_qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
        else:
            self.to_q = nn.Linear(channels, channels, bias=qkv_bias)
            self.to_kv = nn.Linear(self.ctx_channels, 2 * channels, bias=qkv_bias)
        if qk_rms_norm:
            self.q_rms_norm = MultiHeadRMSNorm(self.head_dim, num_heads)
            self.k_rms_norm = MultiHeadRMSNorm(self.head_dim, num_heads)
        self.to_out = nn.Linear(channels, channels)

    def qkv(self, x: torch.Tensor, context: torch.Tensor | None = None):
        """q (B, L, H, D), k and v (B, Lk, H, D), after the optional RMS norms."""
        B, L, _ = x.shape
        if self._type == "self":
            q, k, v = self.to_qkv(x).reshape(B, L, 3, self.num_heads, self.head_dim).unbind(dim=2)
        else:
            q = self.to_q(x).reshape(B, L, self.num_heads, self.head_dim)
            k, v = self.to_kv(context).reshape(B, context.shape[1], 2, self.num_heads, self.head_dim).unbind(dim=2)
        if self.qk_rms_norm:
            q = self.q_rms_norm(q)
            k = self.k_rms_norm(k)
        return q, k, v

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = self.qkv(x, context)
        h = attention(q, k, v)
        return self.to_out(h.reshape(B, L, C))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class ModulatedTransformerCrossBlock(nn.Module):
    """adaLN DiT block: modulated self-attention (gated), affine-LN cross-attention, modulated MLP (gated).

    (shift1, scale1, gate1, shift2, scale2, gate2) = adaLN_modulation(t_emb); LNs eps 1e-6 in float32.
    """

    def __init__(self, channels: int, ctx_channels: int, num_heads: int, mlp_ratio: float = 4.0,
                 qk_rms_norm: bool = False, qk_rms_norm_cross: bool = False, qkv_bias: bool = True,
                 share_mod: bool = False):
        super().__init__()
        self.share_mod = share_mod
        self.norm1 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.norm2 = LayerNorm32(channels, elementwise_affine=True, eps=1e-6)
        self.norm3 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.self_attn = MultiHeadAttention(channels, num_heads, type="self", qkv_bias=qkv_bias,
                                            qk_rms_norm=qk_rms_norm)
        self.cross_attn = MultiHeadAttention(channels, num_heads, ctx_channels=ctx_channels, type="cross",
                                             qkv_bias=qkv_bias, qk_rms_norm=qk_rms_norm_cross)
        self.mlp = FeedForwardNet(channels, mlp_ratio)
        if not share_mod:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(channels, 6 * channels, bias=True))

    def forward(self, x: torch.Tensor, mod: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if not self.share_mod:
            mod = self.adaLN_modulation(mod)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=1)
        h = self.self_attn(modulate(self.norm1(x), shift1, scale1))
        x = x + h * gate1.unsqueeze(1)
        x = x + self.cross_attn(self.norm2(x), context)
        h = self.mlp(modulate(self.norm3(x), shift2, scale2))
        return x + h * gate2.unsqueeze(1)
