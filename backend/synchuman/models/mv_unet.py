"""The multiview UNet of stage 1 (SD-2.1-unCLIP topology, PSHuman-style multiview transformers).

Batch layout: the UNet always sees groups of `num_views` images (views 0..3 = front, right, back,
left; view 4 = face). The batch is [normal groups..., colour groups...]; with classifier-free
guidance that is [normal-uncond, normal-cond, colour-uncond, colour-cond] (20 images).

Each multiview transformer block does, in this order (architecture brief §2.1.4):
1. joint normal-colour self-attention: image i of the normal half and image i of the colour half
   attend jointly over their concatenated tokens, followed by the face->front blend on the
   attention output (top-centre third of the front view averaged with the resized face view);
2. row-wise attention across the 4 body views: for each image row, the tokens of that row in the
   4 body views form one sequence; the face view is passed through;
3. cross-attention to the fixed prompt embeddings; 4. GEGLU feed-forward.

Built on diffusers blocks (ResnetBlock2D, Downsample2D, Upsample2D, DownBlock2D, UpBlock2D,
Timesteps, TimestepEmbedding, FeedForward); attention goes through models.attention (torch SDPA).
State-dict keys equal the released checkpoint's UNet keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import Downsample2D, ResnetBlock2D, Upsample2D
from diffusers.models.unets.unet_2d_blocks import DownBlock2D, UpBlock2D

from .attention import attention


@dataclass
class MultiviewUNetConfig:
    sample_size: int = 96
    in_channels: int = 8
    out_channels: int = 4
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    down_block_types: tuple = ("CrossAttnDownBlockMV2D",) * 3 + ("DownBlock2D",)
    mid_block_type: str = "UNetMidBlockMV2DCrossAttn"
    up_block_types: tuple = ("UpBlock2D",) + ("CrossAttnUpBlockMV2D",) * 3
    block_out_channels: tuple = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    transformer_layers_per_block: int = 1
    attention_head_dim: tuple = (5, 10, 20, 20)  # the number of heads per level (diffusers naming quirk)
    cross_attention_dim: int = 1024
    use_linear_projection: bool = True
    class_embed_type: str | None = "projection"
    projection_class_embeddings_input_dim: int = 2048
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    downsample_padding: int = 1
    mid_block_scale_factor: float = 1.0
    act_fn: str = "silu"
    conv_in_kernel: int = 3
    conv_out_kernel: int = 3
    center_input_sample: bool = False
    num_views: int = 5
    multiview_attention: bool = True  # row-wise attention across the body views
    mvcd_attention: bool = True  # joint normal-colour self-attention with the face blend
    extra: dict = field(default_factory=dict)

    def heads_per_level(self) -> tuple:
        h = self.attention_head_dim
        return tuple(h) if isinstance(h, (list, tuple)) else (h,) * len(self.block_out_channels)

    def layers(self) -> tuple:
        n = self.layers_per_block
        return tuple(n) if isinstance(n, (list, tuple)) else (n,) * len(self.block_out_channels)


# ----------------------------------------------------------------------------- attention pieces

class QKVAttention(nn.Module):
    """Multi-head attention with diffusers key names: to_q, to_k, to_v (no bias), to_out.0 (bias)."""

    def __init__(self, query_dim: int, heads: int, dim_head: int, kv_dim: int | None = None):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(kv_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(kv_dim or query_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim)])

    def split(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(*t.shape[:-1], self.heads, self.dim_head)

    def project(self, x: torch.Tensor, context: torch.Tensor | None = None):
        ctx = x if context is None else context
        return self.split(self.to_q(x)), self.split(self.to_k(ctx)), self.split(self.to_v(ctx))

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_out[0](h.reshape(*h.shape[:-2], self.heads * self.dim_head))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.project(x, context)
        return self.output(attention(q, k, v))


def face_blend(out: torch.Tensor, num_views: int, height: int) -> torch.Tensor:
    """The face->front blend on one domain's self-attention output.

    out: (groups * num_views, H*W, C), views ordered 0..num_views-1 with the face view last.
    The front view's region rows [0, h1) x cols [h1, H - h1), h1 = H // 3, becomes
    0.5 * itself + 0.5 * (face view's full output bilinearly resized to h1 x h1).
    """
    n, L, C = out.shape
    width = L // height
    h1 = height // 3
    h2 = height - h1
    x = out.reshape(n // num_views, num_views, height, width, C)
    face = x[:, -1].permute(0, 3, 1, 2)
    face = F.interpolate(face, size=(h1, h1), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    x = x.clone()
    x[:, 0, :h1, h1:h2] = 0.5 * x[:, 0, :h1, h1:h2] + 0.5 * face
    return x.reshape(n, L, C)


def rowwise_groups(x: torch.Tensor, views: int, height: int) -> torch.Tensor:
    """(b*views, H*W, ...) -> (b*H, views*W, ...): one sequence per image row across the views."""
    n, L = x.shape[:2]
    width = L // height
    rest = x.shape[2:]
    x = x.reshape(n // views, views, height, width, *rest).transpose(1, 2)
    return x.reshape((n // views) * height, views * width, *rest)


def rowwise_ungroup(x: torch.Tensor, views: int, height: int) -> torch.Tensor:
    """Inverse of rowwise_groups."""
    bh, vw = x.shape[:2]
    width = vw // views
    rest = x.shape[2:]
    x = x.reshape(bh // height, height, views, width, *rest).transpose(1, 2)
    return x.reshape((bh // height) * views, height * width, *rest)


class MVTransformerBlock(nn.Module):
    """Keys: norm1, attn1, norm_mv, attn_mv, norm2, attn2, norm3, ff.net.{0.proj,2}."""

    def __init__(self, dim: int, heads: int, dim_head: int, cross_attention_dim: int, num_views: int,
                 joint_normal_color: bool = True, rowwise: bool = True):
        super().__init__()
        self.num_views = num_views
        self.joint_normal_color = joint_normal_color
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = QKVAttention(dim, heads, dim_head)
        if rowwise:
            self.norm_mv = nn.LayerNorm(dim)
            self.attn_mv = QKVAttention(dim, heads, dim_head)
        else:
            self.norm_mv = self.attn_mv = None
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = QKVAttention(dim, heads, dim_head, kv_dim=cross_attention_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")

    def self_attention(self, x: torch.Tensor, height: int) -> torch.Tensor:
        n, L, _ = x.shape
        q, k, v = self.attn1.project(self.norm1(x))
        if not self.joint_normal_color:
            return self.attn1.output(attention(q, k, v))
        half = n // 2

        def pair(t):  # normal image i and colour image i side by side on the token axis
            return torch.cat([t[:half], t[half:]], dim=1)

        h = self.attn1.output(attention(pair(q), pair(k), pair(v)))
        normal, color = h[:, :L], h[:, L:]
        normal = face_blend(normal, self.num_views, height)
        color = face_blend(color, self.num_views, height)
        return torch.cat([normal, color], dim=0)

    def rowwise_attention(self, x: torch.Tensor, height: int) -> torch.Tensor:
        n, L, C = x.shape
        v_all = self.num_views
        x = x.reshape(n // v_all, v_all, L, C)
        body = x[:, :-1].reshape(-1, L, C)
        q, k, v = self.attn_mv.project(self.norm_mv(body))
        views = v_all - 1
        h = attention(rowwise_groups(q, views, height), rowwise_groups(k, views, height),
                      rowwise_groups(v, views, height))
        body = body + self.attn_mv.output(rowwise_ungroup(h, views, height))
        x = torch.cat([body.reshape(n // v_all, views, L, C), x[:, -1:]], dim=1)
        return x.reshape(n, L, C)

    def forward(self, x: torch.Tensor, context: torch.Tensor, height: int) -> torch.Tensor:
        x = x + self.self_attention(x, height)
        if self.attn_mv is not None:
            x = self.rowwise_attention(x, height)
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class MVTransformer2D(nn.Module):
    """GroupNorm -> proj_in -> MV transformer blocks -> proj_out, + input (keys norm, proj_in,
    transformer_blocks.N, proj_out)."""

    def __init__(self, channels: int, heads: int, cfg: MultiviewUNetConfig, groups: int):
        super().__init__()
        self.use_linear_projection = cfg.use_linear_projection
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6, affine=True)
        if cfg.use_linear_projection:
            self.proj_in = nn.Linear(channels, channels)
            self.proj_out = nn.Linear(channels, channels)
        else:
            self.proj_in = nn.Conv2d(channels, channels, 1)
            self.proj_out = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([
            MVTransformerBlock(channels, heads, channels // heads, cfg.cross_attention_dim, cfg.num_views,
                               joint_normal_color=cfg.mvcd_attention, rowwise=cfg.multiview_attention)
            for _ in range(cfg.transformer_layers_per_block)
        ])

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.norm(x)
        if not self.use_linear_projection:
            h = self.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(b, hgt * wid, c)
        if self.use_linear_projection:
            h = self.proj_in(h)
        for blk in self.transformer_blocks:
            h = blk(h, context, hgt)
        if self.use_linear_projection:
            h = self.proj_out(h)
        h = h.reshape(b, hgt, wid, c).permute(0, 3, 1, 2)
        if not self.use_linear_projection:
            h = self.proj_out(h)
        return h + x


def _resnet(cfg: MultiviewUNetConfig, cin: int, cout: int, temb: int, scale: float = 1.0) -> ResnetBlock2D:
    return ResnetBlock2D(in_channels=cin, out_channels=cout, temb_channels=temb, eps=cfg.norm_eps,
                         groups=cfg.norm_num_groups, dropout=0.0, time_embedding_norm="default",
                         non_linearity=cfg.act_fn, output_scale_factor=scale, pre_norm=True)


class CrossAttnDownBlockMV2D(nn.Module):
    def __init__(self, cfg, cin, cout, temb, heads, num_layers, add_downsample):
        super().__init__()
        self.resnets = nn.ModuleList([_resnet(cfg, cin if i == 0 else cout, cout, temb) for i in range(num_layers)])
        self.attentions = nn.ModuleList([MVTransformer2D(cout, heads, cfg, cfg.norm_num_groups)
                                         for _ in range(num_layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(cout, use_conv=True, out_channels=cout,
                                                        padding=cfg.downsample_padding, name="op")]) \
            if add_downsample else None

    def forward(self, x, temb, context):
        states = ()
        for resnet, attn in zip(self.resnets, self.attentions):
            x = attn(resnet(x, temb), context)
            states += (x,)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            states += (x,)
        return x, states


class CrossAttnUpBlockMV2D(nn.Module):
    def __init__(self, cfg, cin, cout, prev, temb, heads, num_layers, add_upsample):
        super().__init__()
        resnets = []
        for i in range(num_layers):
            skip = cin if i == num_layers - 1 else cout
            resnets.append(_resnet(cfg, (prev if i == 0 else cout) + skip, cout, temb))
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList([MVTransformer2D(cout, heads, cfg, cfg.norm_num_groups)
                                         for _ in range(num_layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout, use_conv=True, out_channels=cout)]) if add_upsample else None

    def forward(self, x, skips, temb, context, upsample_size=None):
        for resnet, attn in zip(self.resnets, self.attentions):
            x = torch.cat([x, skips[-1]], dim=1)
            skips = skips[:-1]
            x = attn(resnet(x, temb), context)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, upsample_size)
        return x


class UNetMidBlockMV2DCrossAttn(nn.Module):
    def __init__(self, cfg, channels, temb, heads):
        super().__init__()
        s = cfg.mid_block_scale_factor
        self.resnets = nn.ModuleList([_resnet(cfg, channels, channels, temb, s), _resnet(cfg, channels, channels, temb, s)])
        self.attentions = nn.ModuleList([MVTransformer2D(channels, heads, cfg, cfg.norm_num_groups)])

    def forward(self, x, temb, context):
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, context), temb)


# ----------------------------------------------------------------------------- the UNet

class MultiviewUNet(nn.Module):
    """Multiview UNet's parts. It has no `forward`: the joint model (`models.joint`) calls its stages
    one by one, interleaved with the 3D branch (the method never runs the UNet alone)."""

    def __init__(self, cfg: MultiviewUNetConfig):
        super().__init__()
        self.config = cfg
        ch = list(cfg.block_out_channels)
        heads = cfg.heads_per_level()
        layers = cfg.layers()
        temb = ch[0] * 4
        pad_in = (cfg.conv_in_kernel - 1) // 2
        self.conv_in = nn.Conv2d(cfg.in_channels, ch[0], cfg.conv_in_kernel, padding=pad_in)
        self.time_proj = Timesteps(ch[0], cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(ch[0], temb, act_fn=cfg.act_fn)
        self.class_embedding = (TimestepEmbedding(cfg.projection_class_embeddings_input_dim, temb)
                                if cfg.class_embed_type == "projection" else None)

        self.down_blocks = nn.ModuleList()
        out = ch[0]
        for i, kind in enumerate(cfg.down_block_types):
            cin, out = out, ch[i]
            last = i == len(ch) - 1
            if kind == "CrossAttnDownBlockMV2D":
                self.down_blocks.append(CrossAttnDownBlockMV2D(cfg, cin, out, temb, heads[i], layers[i], not last))
            else:
                self.down_blocks.append(DownBlock2D(in_channels=cin, out_channels=out, temb_channels=temb,
                                                    num_layers=layers[i], resnet_eps=cfg.norm_eps,
                                                    resnet_act_fn=cfg.act_fn, resnet_groups=cfg.norm_num_groups,
                                                    add_downsample=not last, downsample_padding=cfg.downsample_padding))
        self.mid_block = UNetMidBlockMV2DCrossAttn(cfg, ch[-1], temb, heads[-1])

        self.up_blocks = nn.ModuleList()
        rch, rheads, rlayers = ch[::-1], heads[::-1], layers[::-1]
        out = rch[0]
        for i, kind in enumerate(cfg.up_block_types):
            prev, out = out, rch[i]
            cin = rch[min(i + 1, len(ch) - 1)]
            last = i == len(ch) - 1
            if kind == "CrossAttnUpBlockMV2D":
                self.up_blocks.append(CrossAttnUpBlockMV2D(cfg, cin, out, prev, temb, rheads[i], rlayers[i] + 1,
                                                           not last))
            else:
                self.up_blocks.append(UpBlock2D(in_channels=cin, prev_output_channel=prev, out_channels=out,
                                                temb_channels=temb, num_layers=rlayers[i] + 1,
                                                resnet_eps=cfg.norm_eps, resnet_act_fn=cfg.act_fn,
                                                resnet_groups=cfg.norm_num_groups, add_upsample=not last))
        self.conv_norm_out = nn.GroupNorm(cfg.norm_num_groups, ch[0], eps=cfg.norm_eps)
        self.conv_act = nn.SiLU()
        pad_out = (cfg.conv_out_kernel - 1) // 2
        self.conv_out = nn.Conv2d(ch[0], cfg.out_channels, cfg.conv_out_kernel, padding=pad_out)

    # ---- stages (the joint model interleaves them with the 3D branch)
    def embed(self, timestep, class_labels: torch.Tensor | None, batch: int, dtype, device) -> torch.Tensor:
        """Time (+ class) embedding for a batch. `timestep`: Python float, 0-d or 1-d tensor."""
        t = timestep if torch.is_tensor(timestep) else torch.tensor(
            [timestep], dtype=torch.float64 if isinstance(timestep, float) else torch.int64)
        t = t.to(device).reshape(-1).expand(batch)
        emb = self.time_embedding(self.time_proj(t).to(dtype))
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("class_labels are required (class_embed_type 'projection')")
            emb = emb + self.class_embedding(class_labels.to(dtype)).to(dtype)
        return emb

    def run_down(self, i: int, x, emb, context):
        blk = self.down_blocks[i]
        if isinstance(blk, CrossAttnDownBlockMV2D):
            return blk(x, emb, context)
        return blk(x, emb)

    def run_up(self, i: int, x, skips, emb, context, upsample_size=None):
        blk = self.up_blocks[i]
        if isinstance(blk, CrossAttnUpBlockMV2D):
            return blk(x, skips, emb, context, upsample_size)
        return blk(x, skips, emb, upsample_size)

    def head(self, x):
        return self.conv_out(self.conv_act(self.conv_norm_out(x)))
