"""Sparse-structure decoder (TRELLIS `SparseStructureDecoder`): latent (B, 8, 16^3) -> occupancy
logits (B, 1, 64^3).

input_layer (conv 3^3) -> middle ResBlocks -> [ResBlocks, conv upsample (conv to 8*C', 3D pixel
shuffle x2)] per level -> channel LayerNorm -> SiLU -> conv 3^3. ResBlock: norm -> SiLU -> conv ->
norm -> SiLU -> conv, + skip. Norms compute in float32 (channel LayerNorm by default, "group" =
GroupNorm(32)). Folder layout: config.json {"name", "args"} + model.safetensors (`models.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .loading import dataclass_from_args, require


@dataclass
class SSDecoderConfig:
    out_channels: int = 1
    latent_channels: int = 8
    num_res_blocks: int = 2
    channels: tuple = (512, 128, 32)
    num_res_blocks_middle: int = 2
    norm_type: str = "layer"
    use_fp16: bool = True  # informational: the loader's dtype decides (`is_half_precision_key`)

    @classmethod
    def from_args(cls, args: dict, path: Path) -> "SSDecoderConfig":
        cfg = dataclass_from_args(cls, args, path, tuples=("channels",))
        require(cfg.norm_type in ("layer", "group"), path, "norm_type", f"norm_type {cfg.norm_type!r} is not supported")
        return cfg


class ChannelLayerNorm32(nn.LayerNorm):
    """LayerNorm over the channel axis of (B, C, ...) tensors, in float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float().movedim(1, -1)
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        h = F.layer_norm(h, self.normalized_shape, w, b, self.eps)
        return h.movedim(-1, 1).to(x.dtype)


class GroupNorm32(nn.GroupNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps).to(x.dtype)


def norm_layer(norm_type: str, channels: int) -> nn.Module:
    if norm_type == "layer":
        return ChannelLayerNorm32(channels)
    if norm_type == "group":
        return GroupNorm32(32, channels)
    raise ValueError(f"invalid norm_type {norm_type!r}")


def pixel_shuffle_3d(x: torch.Tensor, s: int) -> torch.Tensor:
    """(B, C*s^3, X, Y, Z) -> (B, C, X*s, Y*s, Z*s), channel sub-index order (sx, sy, sz)."""
    B, C, X, Y, Z = x.shape
    c = C // s ** 3
    x = x.reshape(B, c, s, s, s, X, Y, Z).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(B, c, X * s, Y * s, Z * s)


class ResBlock3d(nn.Module):
    def __init__(self, channels: int, out_channels: int | None = None, norm_type: str = "layer"):
        super().__init__()
        out = out_channels or channels
        self.norm1 = norm_layer(norm_type, channels)
        self.norm2 = norm_layer(norm_type, out)
        self.conv1 = nn.Conv3d(channels, out, 3, padding=1)
        self.conv2 = nn.Conv3d(out, out, 3, padding=1)
        self.skip_connection = nn.Conv3d(channels, out, 1) if channels != out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip_connection(x)


class UpsampleBlock3d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels * 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle_3d(self.conv(x), 2)


class SparseStructureDecoder(nn.Module):
    def __init__(self, cfg: SSDecoderConfig):
        super().__init__()
        self.config = cfg
        ch = list(cfg.channels)
        self.input_layer = nn.Conv3d(cfg.latent_channels, ch[0], 3, padding=1)
        self.middle_block = nn.Sequential(*[ResBlock3d(ch[0], ch[0], cfg.norm_type)
                                            for _ in range(cfg.num_res_blocks_middle)])
        blocks = []
        for i, c in enumerate(ch):
            blocks += [ResBlock3d(c, c, cfg.norm_type) for _ in range(cfg.num_res_blocks)]
            if i < len(ch) - 1:
                blocks.append(UpsampleBlock3d(c, ch[i + 1]))
        self.blocks = nn.ModuleList(blocks)
        self.out_layer = nn.Sequential(norm_layer(cfg.norm_type, ch[-1]), nn.SiLU(),
                                       nn.Conv3d(ch[-1], cfg.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_layer(x.to(self.input_layer.weight.dtype))
        h = h.to(self.middle_block[0].conv1.weight.dtype if len(self.middle_block) else h.dtype)
        h = self.middle_block(h)
        for blk in self.blocks:
            h = blk(h)
        h = self.out_layer(h.to(self.out_layer[2].weight.dtype))
        return h.to(x.dtype)


def is_half_precision_key(key: str) -> bool:
    """Which tensors run in half precision when the decoder is loaded in fp16/bf16: the convolutions
    of the torso (blocks, middle_block), as the reference's use_fp16; input/output layers and all
    norms stay float32."""
    return key.startswith(("blocks.", "middle_block.")) and ".norm" not in key
