"""Attention over sparse voxel tokens through torch SDPA (softmax(QK^T / sqrt(d)) V).

- full: every batch item's tokens attend to each other (variable length per item).
- windowed (Swin): tokens attend only within their window; window id per axis is
  floor((coord + shift) / window_size), windows never cross batch items. Windows of equal
  token count are stacked into one SDPA call (no padding, no mask: exact and fast); the
  partition is computed once per coordinate set and shift and cached on the tensor.

Also the decoders' self-attention module (keys ``to_qkv``, ``to_out``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tensor import SparseTensor, coords_key

# Upper bound for one SDPA call's attention-score footprint (windows are split to respect it).
SCORE_CHUNK_BYTES = 256 * 1024 * 1024


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q, k, v: (B, L, H, D) -> (B, L, H, D)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def full_self_attention(x: SparseTensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q, k, v: (N, H, D) rows of `x`; attention within each batch item. Returns (N, H, D)."""
    if x.batch_size == 1:
        return _sdpa(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0))[0]
    out = torch.empty_like(v)
    for sl in x.layout:
        if sl.stop > sl.start:
            out[sl] = _sdpa(q[sl].unsqueeze(0), k[sl].unsqueeze(0), v[sl].unsqueeze(0))[0]
    return out


def full_cross_attention(x: SparseTensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q: (N, H, D) rows of `x`; k, v: (B, L, H, D) dense context per batch item."""
    if x.batch_size == 1:
        return _sdpa(q.unsqueeze(0), k[:1], v[:1])[0]
    out = torch.empty(q.shape[0], q.shape[1], v.shape[-1], dtype=v.dtype, device=v.device)
    for b, sl in enumerate(x.layout):
        if sl.stop > sl.start:
            out[sl] = _sdpa(q[sl].unsqueeze(0), k[b:b + 1], v[b:b + 1])[0]
    return out


class WindowPartition:
    """Rows of a SparseTensor grouped by window; ``groups`` = [(tokens per window, idx (W, L))]."""

    def __init__(self, groups: list[tuple[int, torch.Tensor]], num_windows: int):
        self.groups = groups
        self.num_windows = num_windows


def window_partition(x: SparseTensor, window_size: int, shift: int) -> WindowPartition:
    key = f"window_{window_size}_{shift}"
    part = x.cache.get(key)
    if part is not None:
        return part
    c = x.coords.long().clone()
    c[:, 1:] = torch.div(c[:, 1:] + shift, window_size, rounding_mode="floor")
    extent = int(c[:, 1:].max().item()) + 1 if c.shape[0] else 1
    wkey = coords_key(c, extent, pad=0)
    order = torch.argsort(wkey, stable=True)
    _, counts = torch.unique_consecutive(wkey[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    groups = []
    for length in torch.unique(counts).tolist():
        sel = starts[counts == length]
        idx = order[sel.unsqueeze(1) + torch.arange(length, device=sel.device).unsqueeze(0)]
        groups.append((int(length), idx))
    part = WindowPartition(groups, int(counts.numel()))
    x.cache[key] = part
    return part


def windowed_self_attention(x: SparseTensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            window_size: int, shift: int) -> torch.Tensor:
    """q, k, v: (N, H, D); attention within windows of `window_size`, shifted by `shift`."""
    part = window_partition(x, window_size, shift)
    out = torch.empty_like(v)
    heads = q.shape[1]
    for length, idx in part.groups:
        per_window = heads * length * length * 4 + 1
        step = max(1, SCORE_CHUNK_BYTES // per_window)
        for s in range(0, idx.shape[0], step):
            ii = idx[s:s + step]
            o = _sdpa(q[ii], k[ii], v[ii])  # (W, L, H, D)
            out[ii.reshape(-1)] = o.reshape(-1, *o.shape[2:])
    return out


class SparseSelfAttention(nn.Module):
    """Multi-head self-attention on sparse tokens (keys ``to_qkv``, ``to_out``; no qk-norm).

    mode "full" or "windowed" (with window_size and shift)."""

    def __init__(self, channels: int, num_heads: int, mode: str = "full", window_size: int | None = None,
                 shift: int = 0, qkv_bias: bool = True):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels {channels} not divisible by heads {num_heads}")
        if mode not in ("full", "windowed"):
            raise ValueError(f"unknown attention mode {mode!r}")
        self.num_heads = num_heads
        self.mode = mode
        self.window_size = window_size
        self.shift = shift
        self.to_qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: SparseTensor) -> SparseTensor:
        n = x.feats.shape[0]
        qkv = self.to_qkv(x.feats).reshape(n, 3, self.num_heads, -1)
        q, k, v = qkv.unbind(1)
        if self.mode == "full":
            h = full_self_attention(x, q, k, v)
        else:
            h = windowed_self_attention(x, q, k, v, self.window_size, self.shift)
        return x.replace(self.to_out(h.reshape(n, -1)))
