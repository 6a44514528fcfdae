"""The sparse-structure flow transformer (TRELLIS `ss_flow_img_dit_L_16l8`), the 3D branch of stage 1.

Dense latent (B, 8, R, R, R) -> patchify -> tokens in raster order (x slowest) -> input_layer
-> + pos_emb -> ModulatedTransformerCrossBlocks conditioned on the timestep (adaLN) and the DINOv2
tokens (cross-attention) -> layer norm (no affine, eps 1e-5) -> out_layer -> latent velocity.

Keys: t_embedder.mlp.{0,2}, input_layer, blocks.N.*, out_layer, buffer pos_emb (persistent).
Inside the joint model the blocks run in groups interleaved with the UNet (`run_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .trellis_layers import ModulatedTransformerCrossBlock, TimestepEmbedder, grid_position_embedding


@dataclass
class SSFlowConfig:
    resolution: int = 16
    in_channels: int = 8
    out_channels: int = 8
    model_channels: int = 1024
    cond_channels: int = 1024
    num_blocks: int = 24
    num_heads: int | None = 16
    num_head_channels: int = 64
    mlp_ratio: float = 4.0
    patch_size: int = 1
    pe_mode: str = "ape"
    qk_rms_norm: bool = True
    qk_rms_norm_cross: bool = False
    share_mod: bool = False
    use_fp16: bool = True

    @property
    def heads(self) -> int:
        return self.num_heads or self.model_channels // self.num_head_channels


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, R, R, R) -> (B, (R/p)^3, C*p^3): tokens in raster order, channels (c, px, py, pz)."""
    if p == 1:
        return x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)
    B, C, X, Y, Z = x.shape
    x = x.reshape(B, C, X // p, p, Y // p, p, Z // p, p).permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(B, (X // p) * (Y // p) * (Z // p), C * p ** 3)


def unpatchify(h: torch.Tensor, p: int, res: int) -> torch.Tensor:
    """Inverse of patchify: (B, (res/p)^3, C*p^3) -> (B, C, res, res, res)."""
    B, _, Cp = h.shape
    n = res // p
    if p == 1:
        return h.transpose(1, 2).reshape(B, Cp, res, res, res)
    C = Cp // p ** 3
    h = h.reshape(B, n, n, n, C, p, p, p).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return h.reshape(B, C, res, res, res)


class SparseStructureFlow(nn.Module):
    def __init__(self, cfg: SSFlowConfig):
        super().__init__()
        if cfg.pe_mode != "ape":
            raise ValueError(f"pe_mode {cfg.pe_mode!r} is not supported (the released model uses 'ape')")
        self.config = cfg
        D = cfg.model_channels
        self.t_embedder = TimestepEmbedder(D)
        if cfg.share_mod:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D, bias=True))
        self.register_buffer("pos_emb", grid_position_embedding(D, cfg.resolution // cfg.patch_size))
        self.input_layer = nn.Linear(cfg.in_channels * cfg.patch_size ** 3, D)
        self.blocks = nn.ModuleList([
            ModulatedTransformerCrossBlock(D, cfg.cond_channels, cfg.heads, cfg.mlp_ratio, qk_rms_norm=cfg.qk_rms_norm,
                                           qk_rms_norm_cross=cfg.qk_rms_norm_cross, share_mod=cfg.share_mod)
            for _ in range(cfg.num_blocks)
        ])
        self.out_layer = nn.Linear(D, cfg.out_channels * cfg.patch_size ** 3)

    @property
    def dtype(self) -> torch.dtype:
        return self.input_layer.weight.dtype

    def embed(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor):
        """-> (tokens (B, L, D), modulation input (B or 1, D), cond) in the model dtype.
        `t` holds 1000*t, shape (B,) or (1,) (broadcast over the batch)."""
        cfg = self.config
        if list(x.shape[1:]) != [cfg.in_channels] + [cfg.resolution] * 3:
            raise ValueError(f"3D latent shape {tuple(x.shape)} does not match the config "
                             f"({cfg.in_channels}, {cfg.resolution}^3)")
        h = self.input_layer(patchify(x, cfg.patch_size).to(self.dtype))
        h = h + self.pos_emb[None].to(h.dtype)
        t_emb = self.t_embedder(t.reshape(-1))
        if cfg.share_mod:
            t_emb = self.adaLN_modulation(t_emb)
        return h, t_emb.to(self.dtype), cond.to(self.dtype)

    def run_blocks(self, h, t_emb, cond, start: int = 0, stop: int | None = None) -> torch.Tensor:
        for blk in self.blocks[start:stop]:
            h = blk(h, t_emb, cond)
        return h

    def head(self, h: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
        h = F.layer_norm(h.to(out_dtype).float(), h.shape[-1:]).to(self.out_layer.weight.dtype)
        h = self.out_layer(h)
        return unpatchify(h, self.config.patch_size, self.config.resolution).to(out_dtype)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h, t_emb, cond = self.embed(x, t, cond)
        return self.head(self.run_blocks(h, t_emb, cond), x.dtype)
