"""SyncHuman's structured-latent decoders with multiview feature injection (stage 2, §2.4).

Both decoders share one backbone (TRELLIS ``SparseTransformerBase``): SparseLinear 8 -> C,
plus the absolute position embedding of the 64^3 voxel coordinates, then `num_blocks`
sparse transformer blocks (Swin windows of 8, shifted by 4 on odd blocks, non-affine
LayerNorms eps 1e-6). SyncHuman adds, in every block between attention and MLP,

    x <- x + mv_condition([LN3(x) || f_normal || f_color])

where f_* are per-voxel multiview features: the 4 views' DINOv2 feature maps
(B, 4, 64, 64, 4 mv_dim), each projected per pixel by ``input_layer_{color,normal}``
(4 mv_dim -> mv_dim), sampled at row 63 - z and column x (views 0, 2) or y (views 1, 3).

- `SLatGaussianDecoder`: LN -> out_layer -> 32 Gaussians per voxel (`models.gaussian`).
- `SLatMeshDecoder`: two subdivide blocks (64^3 -> 128^3 -> 256^3 voxels, C -> C/4 -> C/8)
  -> out_layer (101 channels per 256^3 cube) -> FlexiCubes (`geometry.flexicubes`).

Call order matches the reference: ``decoder(slat, mv_color, mv_normal)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..geometry.flexicubes import FlexiCubesMesh, extract_mesh
from .gaussian import GaussianConfig, Gaussians, gaussians_from_features, offset_perturbation
from .loading import dataclass_from_args, require
from .sparse import (SparseConv3d, SparseGroupNorm32, SparseLinear, SparseSelfAttention, SparseSiLU, SparseTensor,
                     sparse_layer_norm, subdivide)
from .trellis_layers import AbsolutePositionEmbedder, FeedForwardNet, LayerNorm32

NUM_VIEWS = 4


@dataclass
class SLatDecoderConfig:
    """The ``args`` of a released decoder ``config.json`` (unknown keys are rejected)."""

    resolution: int = 64
    model_channels: int = 768
    latent_channels: int = 8
    num_blocks: int = 12
    num_heads: int | None = None
    num_head_channels: int = 64
    mlp_ratio: float = 4.0
    attn_mode: str = "swin"
    window_size: int = 8
    pe_mode: str = "ape"
    use_fp16: bool = False
    use_checkpoint: bool = False
    qk_rms_norm: bool = False
    mv_dim: int = 1024
    mv_condition_mode: str = "4_view"
    use_multiscale: bool = False
    use_faceinfo: bool = False
    representation_config: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: dict, path: Path) -> "SLatDecoderConfig":
        cfg = dataclass_from_args(cls, args, path)
        require(cfg.mv_condition_mode == "4_view", path, "mv_condition_mode",
                f"mv_condition_mode={cfg.mv_condition_mode!r} is not supported (released: '4_view')")
        require(not cfg.use_faceinfo, path, "use_faceinfo", "use_faceinfo is not supported (released: false)")
        require(cfg.attn_mode in ("swin", "full"), path, "attn_mode",
                f"attn_mode={cfg.attn_mode!r} is not supported (released: 'swin')")
        require(cfg.pe_mode == "ape", path, "pe_mode", f"pe_mode={cfg.pe_mode!r} is not supported (released: 'ape')")
        return cfg

    @property
    def heads(self) -> int:
        return self.num_heads or self.model_channels // self.num_head_channels


def multiview_pixel_index(coords: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 4) flat indices into (B, 4, size, size) maps: view v, row size-1-z, column x (v = 0, 2)
    or y (v = 1, 3)."""
    c = coords.long()
    b, x, y, z = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    row = size - 1 - z
    cols = torch.stack([x, y, x, y], 1)
    views = torch.arange(NUM_VIEWS, device=c.device).unsqueeze(0)
    return ((b.unsqueeze(1) * NUM_VIEWS + views) * size + row.unsqueeze(1)) * size + cols


class ViewPixels:
    """One view of one feature map, reduced to the pixels the voxels use: the projected
    features of those pixels (U, mv_dim) and, per voxel, the row of its pixel (N,)."""

    __slots__ = ("proj", "inverse")

    def __init__(self, proj: torch.Tensor, inverse: torch.Tensor):
        self.proj = proj
        self.inverse = inverse


def project_view_pixels(layer: nn.Linear, maps: torch.Tensor, idx: torch.Tensor) -> list[ViewPixels]:
    """`layer` applied to the pixels of each view that some voxel samples (the projection is
    per pixel, so this equals the reference's project-every-pixel-then-gather)."""
    flat = maps.reshape(-1, maps.shape[-1])
    out = []
    for v in range(idx.shape[1]):
        uniq, inv = torch.unique(idx[:, v], return_inverse=True)
        out.append(ViewPixels(layer(flat[uniq].to(layer.weight.dtype)), inv))
    return out


def sample_multiview(views: list[ViewPixels]) -> torch.Tensor:
    """Per-voxel features [view0 || view1 || view2 || view3] (N, 4 mv_dim)."""
    return torch.cat([v.proj[v.inverse] for v in views], dim=1)


class MultiviewSparseTransformerBlock(nn.Module):
    """Attention -> multiview injection -> MLP, each pre-normed (no affine) and residual.

    The injection's first linear layer acts on [LN3(x) || f_normal(v0..v3) || f_color(v0..v3)];
    its weight is split by input slot so each view's part is applied once per *pixel* and then
    gathered per voxel (voxels on one pixel ray share it): the same sum, 2-4x fewer FLOPs."""

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, mv_dim: int, mode: str,
                 window_size: int | None, shift: int):
        super().__init__()
        self.mv_dim = mv_dim
        self.norm1 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.norm2 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.norm3 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.attn = SparseSelfAttention(channels, num_heads, mode=mode, window_size=window_size, shift=shift)
        self.mlp = FeedForwardNet(channels, mlp_ratio=mlp_ratio)
        self.mv_condition = nn.Sequential(
            nn.Linear(channels + 8 * mv_dim, 4 * channels),
            nn.GELU(approximate="tanh"),
            nn.Linear(4 * channels, channels),
        )

    def injection(self, f: torch.Tensor, mv_normal: list[ViewPixels], mv_color: list[ViewPixels]) -> torch.Tensor:
        first = self.mv_condition[0]
        c, m = f.shape[1], self.mv_dim
        w = first.weight
        acc = F.linear(self.norm3(f), w[:, :c], first.bias)
        for slot, view in enumerate(list(mv_normal) + list(mv_color)):
            ws = w[:, c + slot * m: c + (slot + 1) * m]
            acc.add_(F.linear(view.proj, ws).index_select(0, view.inverse))
        return self.mv_condition[2](self.mv_condition[1](acc))

    def forward(self, x: SparseTensor, mv_normal: list[ViewPixels], mv_color: list[ViewPixels]) -> SparseTensor:
        h = self.attn(x.replace(self.norm1(x.feats)))
        f = x.feats + h.feats
        f = f + self.injection(f, mv_normal, mv_color)
        f = f + self.mlp(self.norm2(f))
        return x.replace(f)


class SLatDecoderBackbone(nn.Module):
    """Input projection + APE + multiview transformer blocks (shared by both decoders)."""

    def __init__(self, config: SLatDecoderConfig):
        super().__init__()
        self.config = config
        c = config.model_channels
        self.input_layer = SparseLinear(config.latent_channels, c)
        self.pos_embedder = AbsolutePositionEmbedder(c)
        blocks = []
        for i in range(config.num_blocks):
            if config.attn_mode == "swin":
                blocks.append(MultiviewSparseTransformerBlock(c, config.heads, config.mlp_ratio, config.mv_dim,
                                                              "windowed", config.window_size,
                                                              config.window_size // 2 * (i % 2)))
            else:
                blocks.append(MultiviewSparseTransformerBlock(c, config.heads, config.mlp_ratio, config.mv_dim,
                                                              "full", None, 0))
        self.blocks = nn.ModuleList(blocks)
        mv_in = 4 * config.mv_dim if config.use_multiscale else config.mv_dim
        self.input_layer_color = nn.Linear(mv_in, config.mv_dim)
        self.input_layer_normal = nn.Linear(mv_in, config.mv_dim)

    def multiview_features(self, x: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor):
        """(normal, color) view pixels for the voxels of `x` (64^3 coordinates); `sample_multiview`
        turns either into the per-voxel (N, 4 mv_dim) features of the reference."""
        for name, m in (("mv_color", mv_color), ("mv_normal", mv_normal)):
            if m.dim() != 5 or m.shape[1] != NUM_VIEWS or m.shape[2] != m.shape[3]:
                raise ValueError(f"{name} must be (batch, 4, S, S, C), got {tuple(m.shape)}")
        size = mv_color.shape[2]
        if int(x.coords[:, 1:].max()) >= size:
            raise ValueError(f"voxel coordinates exceed the {size}x{size} feature maps")
        idx = multiview_pixel_index(x.coords, size)
        return (project_view_pixels(self.input_layer_normal, mv_normal, idx),
                project_view_pixels(self.input_layer_color, mv_color, idx))

    @property
    def dtype(self) -> torch.dtype:
        return self.input_layer.weight.dtype

    def backbone(self, x: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor,
                 block_hook=None) -> SparseTensor:
        dtype = self.dtype
        x = x.type(dtype)
        mv_normal_v, mv_color_v = self.multiview_features(x, mv_color, mv_normal)
        h = self.input_layer(x)
        h = h.replace(h.feats + self.pos_embedder(x.coords[:, 1:]).to(dtype))
        for i, block in enumerate(self.blocks):
            h = block(h, mv_normal_v, mv_color_v)
            if block_hook is not None:
                block_hook(i, len(self.blocks))
        return h


class SLatGaussianDecoder(SLatDecoderBackbone):
    def __init__(self, config: SLatDecoderConfig):
        super().__init__(config)
        self.rep = GaussianConfig.from_dict(config.representation_config)
        self.out_layer = SparseLinear(config.model_channels, self.rep.out_channels)
        self.register_buffer("offset_perturbation", offset_perturbation(self.rep) if not _on_meta() else
                             torch.empty(self.rep.num_gaussians, 3))

    def forward_features(self, x: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor,
                         block_hook=None) -> SparseTensor:
        """The raw out_layer output (N, 14 * num_gaussians), before any activation."""
        h = self.backbone(x, mv_color, mv_normal, block_hook)
        h = sparse_layer_norm(h.type(torch.float32), eps=1e-5)
        return self.out_layer(h.type(self.out_layer.weight.dtype)).type(torch.float32)

    def to_gaussians(self, raw: SparseTensor) -> list[Gaussians]:
        out = []
        for sl in raw.layout:
            out.append(gaussians_from_features(raw.feats[sl], raw.coords[sl, 1:], self.config.resolution, self.rep,
                                               self.offset_perturbation.float()))
        return out

    def forward(self, x: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor) -> list[Gaussians]:
        return self.to_gaussians(self.forward_features(x, mv_color, mv_normal))


class SparseSubdivideBlock3d(nn.Module):
    """GroupNorm + SiLU, split every voxel into 8, conv 3^3, GroupNorm, SiLU, conv 3^3, plus a
    (1x1 conv) skip of the subdivided input."""

    def __init__(self, channels: int, out_channels: int, num_groups: int = 32):
        super().__init__()
        self.act_layers = nn.Sequential(SparseGroupNorm32(num_groups, channels), SparseSiLU())
        self.out_layers = nn.Sequential(
            SparseConv3d(channels, out_channels, 3),
            SparseGroupNorm32(num_groups, out_channels),
            SparseSiLU(),
            SparseConv3d(out_channels, out_channels, 3),
        )
        self.skip_connection = SparseConv3d(channels, out_channels, 1) if out_channels != channels else nn.Identity()

    def forward(self, x: SparseTensor) -> SparseTensor:
        h = subdivide(self.act_layers(x))
        h = self.out_layers(h)
        # a 1x1 convolution commutes with copying parents to children: apply it before subdividing
        skip = subdivide(self.skip_connection(x))
        return h.replace(h.feats + skip.feats)


class SLatMeshDecoder(SLatDecoderBackbone):
    def __init__(self, config: SLatDecoderConfig):
        super().__init__(config)
        c = config.model_channels
        self.use_color = bool(config.representation_config.get("use_color", False))
        self.upsample = nn.ModuleList([
            SparseSubdivideBlock3d(c, c // 4),
            SparseSubdivideBlock3d(c // 4, c // 8),
        ])
        self.out_layer = SparseLinear(c // 8, 101 if self.use_color else 53)

    @property
    def mesh_resolution(self) -> int:
        return self.config.resolution * 4

    def forward_features(self, x: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor,
                         block_hook=None) -> SparseTensor:
        """The raw out_layer output at the 256^3 cubes (rows parent-major, children in
        (0,0,0), (0,0,1), ..., (1,1,1) order)."""
        h = self.backbone(x, mv_color, mv_normal, block_hook)
        for block in self.upsample:
            h = block(h)
        return self.out_layer(h.type(self.out_layer.weight.dtype)).type(torch.float32)

    def to_meshes(self, raw: SparseTensor) -> list[FlexiCubesMesh]:
        return [extract_mesh(raw.coords[sl, 1:], raw.feats[sl], self.mesh_resolution) for sl in raw.layout]

    def forward(self, x: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor) -> list[FlexiCubesMesh]:
        return self.to_meshes(self.forward_features(x, mv_color, mv_normal))


def _on_meta() -> bool:
    return torch.empty(0).is_meta
