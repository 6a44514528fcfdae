"""DINOv2 ViT-L/14 with 4 registers (`dinov2_vitl14_reg`), our own module with the torch-hub key names.

Tokens: patch embedding (conv 14x14) -> [CLS, patches] + position embedding (bicubic, antialiased
interpolation to the input's patch grid, size-based, i.e. no offset) -> [CLS, 4 registers, patches]
-> 24 pre-norm blocks (LayerNorm eps 1e-6, MHA, LayerScale, MLP with exact GELU, LayerScale).
`forward_features(x)["x_prenorm"]` is the output of the last block before the final norm (all
tokens); stage 1 layer-norms it (no affine, eps 1e-5) into the 3D branch's conditioning tokens.
`get_intermediate_layers` returns normed patch tokens of chosen blocks (stage 2).

Weights: the official torch-hub checkpoint (`dinov2_vitl14_reg4_pretrain.pth`, read with
`torch.load(weights_only=True)`) or a Hugging Face `Dinov2WithRegistersModel` safetensors file
(`facebook/dinov2-with-registers-large` naming), converted to hub names on load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import SyncHumanError
from .attention import attention
from .loading import WEIGHTS_HINT, build_on_meta, check_keys, read_safetensors


@dataclass
class DinoV2Config:
    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    layerscale: bool = True
    interpolate_antialias: bool = True
    interpolate_offset: float = 0.0
    ln_eps: float = 1e-6

    @classmethod
    def from_state_dict(cls, sd: dict) -> "DinoV2Config":
        """The architecture a hub-named state dict holds (ViT-L/14-reg for Meta's file; smaller for test
        models). Heads are not visible in shapes: DINOv2 uses 64 channels per head."""
        dim = int(sd["cls_token"].shape[-1])
        patch = int(sd["patch_embed.proj.weight"].shape[-1])
        grid = int(round((sd["pos_embed"].shape[1] - 1) ** 0.5))
        depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
        hidden = int(sd["blocks.0.mlp.fc1.weight"].shape[0])
        registers = int(sd["register_tokens"].shape[1]) if "register_tokens" in sd else 0
        return cls(img_size=grid * patch, patch_size=patch, embed_dim=dim, depth=depth, num_heads=max(1, dim // 64),
                   mlp_ratio=hidden / dim, num_register_tokens=registers, layerscale="blocks.0.ls1.gamma" in sd)


class _PatchEmbed(nn.Module):
    def __init__(self, cfg: DinoV2Config):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class _LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).unbind(2)
        return self.proj(attention(q, k, v).reshape(B, N, C))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, cfg: DinoV2Config):
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.attn = _Attention(d, cfg.num_heads)
        self.ls1 = _LayerScale(d) if cfg.layerscale else nn.Identity()
        self.norm2 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.mlp = _Mlp(d, int(d * cfg.mlp_ratio))
        self.ls2 = _LayerScale(d) if cfg.layerscale else nn.Identity()

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2(nn.Module):
    def __init__(self, cfg: DinoV2Config = DinoV2Config()):
        super().__init__()
        self.config = cfg
        d = cfg.embed_dim
        n = (cfg.img_size // cfg.patch_size) ** 2
        self.patch_embed = _PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, d)) \
            if cfg.num_register_tokens else None
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d, eps=cfg.ln_eps)

    def position_embedding(self, h: int, w: int, dtype) -> torch.Tensor:
        """Position embedding for an h x w pixel input: (1, 1 + (h/p)*(w/p), D)."""
        cfg = self.config
        n = self.pos_embed.shape[1] - 1
        gh, gw = h // cfg.patch_size, w // cfg.patch_size
        if gh * gw == n and gh == gw:
            return self.pos_embed.to(dtype)
        m = int(round(n ** 0.5))
        pe = self.pos_embed.float()
        grid = pe[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        if cfg.interpolate_offset:
            kw = {"scale_factor": ((gh + cfg.interpolate_offset) / m, (gw + cfg.interpolate_offset) / m)}
        else:
            kw = {"size": (gh, gw)}
        grid = F.interpolate(grid, mode="bicubic", antialias=cfg.interpolate_antialias, **kw)
        grid = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
        return torch.cat([pe[:, :1], grid], dim=1).to(dtype)

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        B, _, h, w = x.shape
        t = self.patch_embed(x.to(self.patch_embed.proj.weight.dtype))
        t = torch.cat([self.cls_token.expand(B, -1, -1), t], dim=1)
        t = t + self.position_embedding(h, w, t.dtype)
        if self.register_tokens is not None:
            t = torch.cat([t[:, :1], self.register_tokens.expand(B, -1, -1), t[:, 1:]], dim=1)
        return t

    def forward_features(self, x: torch.Tensor) -> dict:
        t = self.prepare_tokens(x)
        for blk in self.blocks:
            t = blk(t)
        tn = self.norm(t)
        r = 1 + self.config.num_register_tokens
        return {"x_norm_clstoken": tn[:, 0], "x_norm_regtokens": tn[:, 1:r], "x_norm_patchtokens": tn[:, r:],
                "x_prenorm": t}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x_prenorm (B, 1 + registers + patches, D)."""
        return self.forward_features(x)["x_prenorm"]

    def get_intermediate_layers(self, x: torch.Tensor, layers, norm: bool = True) -> tuple:
        """Patch tokens (B, patches, D) after each block index in `layers` (final norm applied)."""
        wanted = set(layers)
        t = self.prepare_tokens(x)
        outs = []
        for i, blk in enumerate(self.blocks):
            t = blk(t)
            if i in wanted:
                outs.append(self.norm(t) if norm else t)
        r = 1 + self.config.num_register_tokens
        return tuple(o[:, r:] for o in outs)


def condition_tokens(x_prenorm: torch.Tensor) -> torch.Tensor:
    """Stage-1/2 conditioning: layer norm of x_prenorm without affine (eps 1e-5)."""
    return F.layer_norm(x_prenorm.float(), x_prenorm.shape[-1:]).to(x_prenorm.dtype)


# ----------------------------------------------------------------------------- weights

_HF_PREFIXES = ("dinov2_with_registers.", "dinov2.", "model.")


def hf_to_hub_state_dict(sd: dict) -> dict:
    """Convert `Dinov2WithRegistersModel` keys to torch-hub keys (q, k, v concatenated into qkv).
    Both the names of the files on the Hub (`attention.attention.query`, `attention.output.dense`)
    and those of transformers 5 (`attention.q_proj`, `attention.o_proj`) are accepted."""
    out = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, t in sd.items():
        k = key
        for p in _HF_PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
        m = re.match(r"encoder\.layer\.(\d+)\.(.*)$", k)
        if m:
            i, rest = int(m.group(1)), m.group(2)
            a = re.match(r"attention\.(?:attention\.)?(query|key|value|q_proj|k_proj|v_proj)\.(weight|bias)$", rest)
            if a:
                part = {"q_proj": "query", "k_proj": "key", "v_proj": "value"}.get(a.group(1), a.group(1))
                qkv.setdefault((i, a.group(2)), {})[part] = t
                continue
            rest = (rest.replace("attention.output.dense.", "attn.proj.").replace("attention.o_proj.", "attn.proj.")
                    .replace("layer_scale1.lambda1", "ls1.gamma").replace("layer_scale2.lambda1", "ls2.gamma"))
            out[f"blocks.{i}.{rest}"] = t
            continue
        k = {"embeddings.cls_token": "cls_token", "embeddings.mask_token": "mask_token",
             "embeddings.register_tokens": "register_tokens", "embeddings.position_embeddings": "pos_embed",
             "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
             "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
             "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}.get(k, k)
        if k == "mask_token":
            t = t.reshape(1, -1)
        out[k] = t
    for (i, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise SyncHumanError("weights.missing", f"DINOv2 layer {i}: incomplete q/k/v {kind}", WEIGHTS_HINT)
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def read_dinov2_state_dict(path: Path) -> dict:
    """Hub-named state dict from a `.pth` hub checkpoint (weights_only) or an HF `.safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise SyncHumanError("weights.missing", f"Missing DINOv2 weights: {path}", WEIGHTS_HINT, {"file": str(path)})
    if path.suffix == ".safetensors":
        sd = read_safetensors(path)
    else:
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # pickle errors, truncated files
            raise SyncHumanError("weights.corrupt", f"Cannot read DINOv2 checkpoint {path}: {exc}",
                                 "Delete it and run `synchuman weights download` again.", {"file": str(path)}) from None
        if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
            sd = sd["model"]
    if any(k.startswith(("embeddings.", "encoder.")) or k.startswith(_HF_PREFIXES) for k in sd):
        sd = hf_to_hub_state_dict(sd)
    return sd


def load_dinov2(path, cfg: DinoV2Config | None = None, device="cpu", dtype: torch.dtype = torch.float32) -> DinoV2:
    path = Path(path)
    sd = read_dinov2_state_dict(path)
    if cfg is None:
        try:
            cfg = DinoV2Config.from_state_dict(sd)
        except (KeyError, ValueError, IndexError) as exc:
            raise SyncHumanError("weights.mismatch", f"{path} is not a DINOv2 checkpoint (no {exc})", WEIGHTS_HINT,
                                 {"file": str(path)}) from None
    model = build_on_meta(lambda: DinoV2(cfg))
    check_keys({k: tuple(v.shape) for k, v in model.state_dict().items()},
               {k: tuple(v.shape) for k, v in sd.items()}, path)
    sd = {k: (v.to(dtype) if v.is_floating_point() else v).to(device) for k, v in sd.items()}
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval().requires_grad_(False)
