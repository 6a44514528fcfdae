"""2D-3D synchronisation blocks of the joint model (architecture brief §1.5, §2.1.7).

Pixel <-> voxel alignment (orthographic body views covering the unit cube; image rows run along
-z; views 2 and 3 are stored horizontally mirrored, so no flip is needed):
- pixel (row r, col c) of view 0 (front) or 2 (back) at grid size R sees the voxels x = c,
  z = R-1-r along the depth ray y = 0..R-1;
- pixel (r, c) of view 1 (right) or 3 (left) sees y = c, z = R-1-r along x = 0..R-1.

SS block (3D <- 2D): every voxel queries the 4 body-view pixels of the *normal* images it projects to.
MV block (2D <- 3D): every body-view pixel of both domains queries the voxels on its depth ray
(voxel tokens first reduced to the image size by a 3D conv and adaptive pooling).
The face view takes no part in either direction.

Sizes come from the model config (image width per block, structure width, heads): for the released
config they equal the reference's literals (640/1280, 1024, 16 x 64, GroupNorm 32).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.models.attention import FeedForward

from .attention import attention
from .mv_unet import QKVAttention
from .trellis_layers import LayerNorm32

BODY_VIEWS = 4  # front, right, back, left; the face view (index 4) is excluded from syncing


# ----------------------------------------------------------------------------- index mapping

def voxel_pixel_index(resolution: int, view: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, col) of every voxel of an R^3 grid in `view`'s image at R x R pixels.

    Returns two (R, R, R) long tensors indexed [x, y, z]."""
    ax = torch.arange(resolution, device=device)
    x, y, z = torch.meshgrid(ax, ax, ax, indexing="ij")
    row = resolution - 1 - z
    col = x if view in (0, 2) else y
    if view not in (0, 1, 2, 3):
        raise ValueError(f"view {view} is not a body view")
    return row, col


def pixel_ray_voxels(size: int, view: int, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Voxel indices (x, y, z) along the depth ray of every pixel of `view` on an S^3 grid.

    Returns three (S, S, S) long tensors indexed [row, col, depth j]."""
    ax = torch.arange(size, device=device)
    r, c, j = torch.meshgrid(ax, ax, ax, indexing="ij")
    z = size - 1 - r
    if view in (0, 2):
        return c, j, z
    if view in (1, 3):
        return j, c, z
    raise ValueError(f"view {view} is not a body view")


def gather_pixels_for_voxels(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """images (B, V>=4, C, R, R) -> (B, R^3, 4, C): per voxel (raster order x, y, z) the pixels of
    views [0, 2, 1, 3] it projects to (the reference's key order: front, back, right, left)."""
    B, _, C, _, _ = images.shape
    tokens = []
    for view in (0, 2, 1, 3):
        row, col = voxel_pixel_index(resolution, view, images.device)
        flat = (row * resolution + col).reshape(-1)  # (R^3,)
        img = images[:, view].reshape(B, C, resolution * resolution)
        tokens.append(img[:, :, flat].transpose(1, 2))  # (B, R^3, C)
    return torch.stack(tokens, dim=2)


def gather_voxels_for_pixels(grid: torch.Tensor) -> torch.Tensor:
    """grid (B, C, S, S, S) -> (B, 4, S*S, S, C): per body view and pixel (row-major) the S voxels
    on its depth ray (depth index ascending)."""
    B, C, S = grid.shape[:3]
    flat = grid.reshape(B, C, S ** 3)
    out = []
    for view in range(BODY_VIEWS):
        x, y, z = pixel_ray_voxels(S, view, grid.device)
        idx = ((x * S + y) * S + z).reshape(-1)
        out.append(flat[:, :, idx].reshape(B, C, S * S, S).permute(0, 2, 3, 1))
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------- blocks

class _Downsample(nn.Module):
    """GroupNorm -> conv 3x3(x3) -> GELU -> adaptive average pool (keys conv.0, conv.1)."""

    def __init__(self, channels: int, dims: int, groups: int = 32):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.dims = dims
        self.conv = nn.Sequential(nn.GroupNorm(groups, channels), conv(channels, channels, 3, padding=1), nn.GELU())

    def forward(self, x: torch.Tensor, size: int) -> torch.Tensor:
        x = self.conv(x)
        pool = F.adaptive_avg_pool2d if self.dims == 2 else F.adaptive_avg_pool3d
        return pool(x, size)


def _attend(attn: QKVAttention, q_in: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
    """One query token per row: q_in (N, Cq), kv (N, K, Ckv) -> (N, Cq)."""
    q, k, v = attn.project(q_in[:, None], kv)
    return attn.output(attention(q, k, v))[:, 0]


class SyncBlockSS(nn.Module):
    """3D <- 2D (keys normStructure1/2, imagedownsample.conv.{0,1}, input_layer_mv, input_layer_stucture,
    output_layer_stucture, ffn_stucture, cross_attn_MV_to_Structure)."""

    def __init__(self, image_dim: int, structure_dim: int, heads: int, dim_head: int, resolution: int,
                 num_views: int = 5, groups: int = 32):
        super().__init__()
        self.resolution = resolution
        self.num_views = num_views
        self.normStructure1 = LayerNorm32(structure_dim, elementwise_affine=True, eps=1e-6)
        self.normStructure2 = LayerNorm32(structure_dim, elementwise_affine=True, eps=1e-6)
        self.imagedownsample = _Downsample(image_dim, 2, groups)
        self.input_layer_mv = nn.Linear(image_dim, image_dim)
        self.input_layer_stucture = nn.Linear(structure_dim, structure_dim)
        self.output_layer_stucture = nn.Linear(structure_dim, structure_dim)
        self.ffn_stucture = FeedForward(structure_dim, activation_fn="geglu")
        self.cross_attn_MV_to_Structure = QKVAttention(structure_dim, heads, dim_head, kv_dim=image_dim)

    def forward(self, images: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """images (N, C, S, S) UNet features, batch [normal groups, colour groups];
        structure (B3, R^3, D) voxel tokens with B3 = number of groups per domain."""
        R = self.resolution
        f = self.input_layer_mv(images.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        f = self.imagedownsample(f, R)
        normal = f[: f.shape[0] // 2]
        normal = normal.reshape(-1, self.num_views, *normal.shape[1:])  # (B3, V, C, R, R)
        B3, L, D = structure.shape
        s = self.input_layer_stucture(structure).reshape(B3 * L, D)
        kv = gather_pixels_for_voxels(normal, R).reshape(B3 * L, 4, -1)
        a = s + _attend(self.cross_attn_MV_to_Structure, self.normStructure1(s), kv)
        b = a + self.ffn_stucture(self.normStructure2(a))
        return structure + self.output_layer_stucture(b).reshape(B3, L, D)


class SyncBlockMV(nn.Module):
    """2D <- 3D (keys voxeldownsample.conv.{0,1}, input_layer_mv, input_layer_stucture, output_layer_no,
    output_layer_clr, ffn_no, ffn_clr, cross_attn_Structure_to_normal, cross_attn_Structure_to_color)."""

    def __init__(self, image_dim: int, structure_dim: int, heads: int, dim_head: int, resolution: int,
                 num_views: int = 5, groups: int = 32):
        super().__init__()
        self.resolution = resolution
        self.num_views = num_views
        self.voxeldownsample = _Downsample(structure_dim, 3, groups)
        self.normMV_no1 = LayerNorm32(image_dim, elementwise_affine=False, eps=1e-6)
        self.normMV_clr1 = LayerNorm32(image_dim, elementwise_affine=False, eps=1e-6)
        self.normMV_no2 = LayerNorm32(image_dim, elementwise_affine=False, eps=1e-6)
        self.normMV_clr2 = LayerNorm32(image_dim, elementwise_affine=False, eps=1e-6)
        self.input_layer_mv = nn.Linear(image_dim, image_dim)
        self.input_layer_stucture = nn.Linear(structure_dim, structure_dim)
        self.output_layer_no = nn.Linear(image_dim, image_dim)
        self.output_layer_clr = nn.Linear(image_dim, image_dim)
        self.ffn_no = FeedForward(image_dim, activation_fn="geglu")
        self.ffn_clr = FeedForward(image_dim, activation_fn="geglu")
        self.cross_attn_Structure_to_color = QKVAttention(image_dim, heads, dim_head, kv_dim=structure_dim)
        self.cross_attn_Structure_to_normal = QKVAttention(image_dim, heads, dim_head, kv_dim=structure_dim)

    def _domain(self, f, kv, attn, norm1, norm2, ffn, out_layer):
        a = f + _attend(attn, norm1(f), kv)
        b = a + ffn(norm2(a))
        return out_layer(b)

    def forward(self, images: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """images (N, C, S, S); structure (B3, R^3, D). Returns updated images."""
        N, C, S, _ = images.shape
        V = self.num_views
        R = self.resolution
        f = self.input_layer_mv(images.permute(0, 2, 3, 1))  # (N, S, S, C)
        f = f.reshape(2, N // (2 * V), V, S * S, C)  # domain, group, view, pixel, C
        B3, L, D = structure.shape
        g = self.input_layer_stucture(structure).transpose(1, 2).reshape(B3, D, R, R, R)
        g = self.voxeldownsample(g, S)
        kv = gather_voxels_for_pixels(g).reshape(B3 * BODY_VIEWS * S * S, S, D)
        body_n = f[0, :, :BODY_VIEWS].reshape(-1, C)
        body_c = f[1, :, :BODY_VIEWS].reshape(-1, C)
        out_n = self._domain(body_n, kv, self.cross_attn_Structure_to_normal, self.normMV_no1, self.normMV_no2,
                             self.ffn_no, self.output_layer_no)
        out_c = self._domain(body_c, kv, self.cross_attn_Structure_to_color, self.normMV_clr1, self.normMV_clr2,
                             self.ffn_clr, self.output_layer_clr)
        delta = torch.zeros(2, B3, V, S * S, C, dtype=out_n.dtype, device=out_n.device)
        delta[0, :, :BODY_VIEWS] = out_n.reshape(B3, BODY_VIEWS, S * S, C)
        delta[1, :, :BODY_VIEWS] = out_c.reshape(B3, BODY_VIEWS, S * S, C)
        delta = delta.reshape(N, S, S, C).permute(0, 3, 1, 2)
        return images + delta
