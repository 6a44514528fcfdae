"""Structured-latent flow (TRELLIS ``slat_flow_img_dit_L_64l8p2``, SyncHuman stage 2, §2.3).

Velocity prediction on the stage-1 voxels (64^3), conditioned on the time and on DINOv2
tokens of the input photo:

    SparseLinear 8 -> 128
    input_blocks: ResBlock(128 -> 128), ResBlock(128 -> 1024, pooled to 32^3 first)
    + absolute position embedding of the 32^3 coordinates
    24 modulated DiT blocks (full self-attention over each sample's tokens, qk RMS-norm,
       cross-attention to the condition tokens, adaLN from the time embedding)
    out_blocks: ResBlock(2048 -> 128, unpooled to 64^3 first), ResBlock(256 -> 128), each
       fed the matching input-block features (skip concatenation)
    LayerNorm (no affine) -> SparseLinear 128 -> 8

The DiT blocks are the dense `ModulatedTransformerCrossBlock` of `trellis_layers` applied to
one batch item's tokens at a time: full attention per sample is exactly dense attention on
that sample's token sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .loading import dataclass_from_args, require
from .sparse import SparseConv3d, SparseLinear, SparseTensor, downsample, upsample
from .trellis_layers import AbsolutePositionEmbedder, LayerNorm32, ModulatedTransformerCrossBlock, TimestepEmbedder


@dataclass
class SLatFlowConfig:
    """The ``args`` of the released ``slat_flow/config.json`` (unknown keys are rejected)."""

    resolution: int = 64
    in_channels: int = 8
    model_channels: int = 1024
    cond_channels: int = 1024
    out_channels: int = 8
    num_blocks: int = 24
    num_heads: int | None = None
    num_head_channels: int = 64
    mlp_ratio: float = 4.0
    patch_size: int = 2
    num_io_res_blocks: int = 2
    io_block_channels: list = field(default_factory=lambda: [128])
    pe_mode: str = "ape"
    use_fp16: bool = False
    use_checkpoint: bool = False
    use_skip_connection: bool = True
    share_mod: bool = False
    qk_rms_norm: bool = False
    qk_rms_norm_cross: bool = False

    @classmethod
    def from_args(cls, args: dict, path: Path) -> "SLatFlowConfig":
        cfg = dataclass_from_args(cls, args, path)
        require(cfg.pe_mode == "ape", path, "pe_mode", f"pe_mode={cfg.pe_mode!r} is not supported (released: 'ape')")
        require(not cfg.share_mod, path, "share_mod", "share_mod is not supported (released: false)")
        require(bool(cfg.io_block_channels), path, "io_block_channels", "io_block_channels must not be empty")
        require(2 ** len(cfg.io_block_channels) == cfg.patch_size, path, "patch_size",
                f"patch_size {cfg.patch_size} needs log2(patch_size) io stages, got {len(cfg.io_block_channels)}")
        return cfg

    @property
    def heads(self) -> int:
        return self.num_heads or self.model_channels // self.num_head_channels


class SparseResBlock3d(nn.Module):
    """Time-modulated residual block of two submanifold 3^3 convolutions, optionally pooling
    to half resolution or unpooling back (applied to the input before everything else)."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None,
                 downsample: bool = False, upsample: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.out_channels = out_channels
        self.resample = "down" if downsample else ("up" if upsample else None)
        self.norm1 = LayerNorm32(channels, elementwise_affine=True, eps=1e-6)
        self.norm2 = LayerNorm32(out_channels, elementwise_affine=False, eps=1e-6)
        self.conv1 = SparseConv3d(channels, out_channels, 3)
        self.conv2 = SparseConv3d(out_channels, out_channels, 3)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.skip_connection = SparseLinear(channels, out_channels) if channels != out_channels else nn.Identity()

    def forward(self, x: SparseTensor, emb: torch.Tensor) -> SparseTensor:
        scale, shift = self.emb_layers(emb).to(x.dtype).chunk(2, dim=1)
        if self.resample == "down":
            x = downsample(x, 2)
        elif self.resample == "up":
            x = upsample(x, 2)
        h = self.conv1(x.replace(F.silu(self.norm1(x.feats))))
        f = self.norm2(h.feats) * (1 + x.per_batch(scale)) + x.per_batch(shift)
        h = self.conv2(h.replace(F.silu(f)))
        skip = self.skip_connection(x) if isinstance(self.skip_connection, SparseLinear) else x
        return h.replace(h.feats + skip.feats)


class SLatFlowModel(nn.Module):
    def __init__(self, config: SLatFlowConfig):
        super().__init__()
        self.config = config
        c = config.model_channels
        io = list(config.io_block_channels)
        self.t_embedder = TimestepEmbedder(c)
        self.pos_embedder = AbsolutePositionEmbedder(c)
        self.input_layer = SparseLinear(config.in_channels, io[0])
        self.input_blocks = nn.ModuleList()
        for chs, next_chs in zip(io, io[1:] + [c]):
            self.input_blocks.extend(SparseResBlock3d(chs, c, chs) for _ in range(config.num_io_res_blocks - 1))
            self.input_blocks.append(SparseResBlock3d(chs, c, next_chs, downsample=True))
        self.blocks = nn.ModuleList(
            ModulatedTransformerCrossBlock(c, config.cond_channels, num_heads=config.heads, mlp_ratio=config.mlp_ratio,
                                           qk_rms_norm=config.qk_rms_norm,
                                           qk_rms_norm_cross=config.qk_rms_norm_cross)
            for _ in range(config.num_blocks))
        self.out_blocks = nn.ModuleList()
        skip_mult = 2 if config.use_skip_connection else 1
        for chs, prev_chs in zip(reversed(io), [c] + list(reversed(io[1:]))):
            self.out_blocks.append(SparseResBlock3d(prev_chs * skip_mult, c, chs, upsample=True))
            self.out_blocks.extend(SparseResBlock3d(chs * skip_mult, c, chs)
                                   for _ in range(config.num_io_res_blocks - 1))
        self.out_layer = SparseLinear(io[0], config.out_channels)

    @property
    def dtype(self) -> torch.dtype:
        return self.out_layer.weight.dtype

    def forward(self, x: SparseTensor, t: torch.Tensor, cond: torch.Tensor) -> SparseTensor:
        """x: noisy latent on the 64^3 voxels; t: (B,) model time (1000 t); cond: (B, L, C)."""
        dtype = self.dtype
        t = t.to(x.device)
        if t.dim() == 0:
            t = t.reshape(1)
        t_emb = self.t_embedder(t).to(dtype)
        cond = cond.to(device=x.device, dtype=dtype)
        if cond.shape[0] == 1 and x.batch_size > 1:
            cond = cond.expand(x.batch_size, *cond.shape[1:])
        if t_emb.shape[0] == 1 and x.batch_size > 1:
            t_emb = t_emb.expand(x.batch_size, -1)
        h = self.input_layer(x.type(dtype))
        skips = []
        for block in self.input_blocks:
            h = block(h, t_emb)
            skips.append(h.feats)
        h = h.replace(h.feats + self.pos_embedder(h.coords[:, 1:]).to(dtype))
        feats = h.feats
        for block in self.blocks:
            if h.batch_size == 1:
                feats = block(feats.unsqueeze(0), t_emb[:1], cond[:1])[0]
            else:
                parts = torch.empty_like(feats)
                for b, sl in enumerate(h.layout):
                    if sl.stop > sl.start:
                        parts[sl] = block(feats[sl].unsqueeze(0), t_emb[b:b + 1], cond[b:b + 1])[0]
                feats = parts
        h = h.replace(feats)
        for block, skip in zip(self.out_blocks, reversed(skips)):
            if self.config.use_skip_connection:
                h = h.replace(torch.cat([h.feats, skip], dim=1))
            h = block(h, t_emb)
        out = F.layer_norm(h.feats.float(), h.feats.shape[-1:])
        w = self.out_layer
        return h.replace(F.linear(out.to(w.weight.dtype), w.weight, w.bias).to(x.dtype))
