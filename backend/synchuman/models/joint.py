"""The stage-1 joint model (`SyncHuman_2D3DCrossSpaceDiffusion`): multiview UNet + sparse-structure
flow + four 2D-3D synchronisation blocks, run in the reference's order (architecture brief §2.1.6):

 1. 2D time/class embedding, conv_in          2. 3D embedding, flow blocks [0, 8)
 3. down_blocks[0]                            4. down_blocks[1] -> SS[0] updates the voxel tokens
 5. down_blocks[2] -> MV[0] updates the running 2D sample (the skip tensors stay unsynchronised)
 6. down_blocks[3]; 7. mid block              8. flow blocks [8, 16)
 9. MV[1] on the sample, up_blocks[0]         10. SS[1] on the voxel tokens, up_blocks[1..3]
11. flow blocks [16, end), 3D head            12. 2D head
The split points 8 and 16 are the reference's literal slices (the tiny golden model has 18 blocks).

One flat state dict (1397 entries at the released size) holds all parts; this module keeps the
parts as children `unet`, `ss_flow` and maps keys to and from the checkpoint names
(`checkpoint_key`, `module_key`, `checkpoint_state_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.nn as nn

from .loading import config_error, require
from .mv_unet import MultiviewUNet, MultiviewUNetConfig
from .ss_flow import SparseStructureFlow, SSFlowConfig
from .sync_blocks import SyncBlockMV, SyncBlockSS

FLOW_GROUP_SPLITS = (8, 16)

# Config keys of the released config.json that are bookkeeping (EMA, diffusers metadata) or that
# configure features the released model does not use; accepted and ignored when they hold the
# released value (see UNSUPPORTED_UNLESS).
IGNORED_KEYS = {
    "_class_name", "_diffusers_version", "_name_or_path", "decay", "optimization_step", "power", "inv_gamma",
    "min_decay", "update_after_step", "use_ema_warmup", "use_checkpoint", "sparse_mv_attention",
    "addition_channels", "mv_cond_channels", "resnet_out_scale_factor",
}
# Keys whose non-default values this implementation does not support: key -> accepted values.
UNSUPPORTED_UNLESS = {
    "selfattn_block": {"self_rowwise"}, "cd_attention_mid": {False}, "cd_attention_last": {False},
    "use_dino": {False}, "addition_downsample": {False}, "addition_embed_type": {None},
    "addition_time_embed_dim": {None}, "addition_embed_type_num_heads": None, "encoder_hid_dim": {None},
    "encoder_hid_dim_type": {None}, "num_attention_heads": {None}, "dual_cross_attention": {False},
    "only_cross_attention": {False}, "class_embeddings_concat": {False}, "num_class_embeds": {None},
    "time_embedding_type": {"positional"}, "time_embedding_dim": {None}, "time_embedding_act_fn": {None},
    "timestep_post_act": {None}, "time_cond_proj_dim": {None}, "resnet_time_scale_shift": {"default"},
    "resnet_skip_time_act": {False}, "cross_attention_norm": {None}, "mid_block_only_cross_attention": {None},
    "upcast_attention": None, "mid_block_type": {"UNetMidBlockMV2DCrossAttn"}, "class_embed_type": {"projection"},
    "pe_mode": {"ape"}, "transformer_layers_per_block": {1},
}
# Joint-config key -> SSFlowConfig field.
FLOW_KEYS = {
    "resolution": "resolution", "trellis_in_channels": "in_channels", "trellis_out_channels": "out_channels",
    "model_channels": "model_channels", "cond_channels": "cond_channels", "num_blocks": "num_blocks",
    "num_heads": "num_heads", "num_head_channels": "num_head_channels", "mlp_ratio": "mlp_ratio",
    "patch_size": "patch_size", "pe_mode": "pe_mode", "qk_rms_norm": "qk_rms_norm",
    "qk_rms_norm_cross": "qk_rms_norm_cross", "share_mod": "share_mod", "use_fp16": "use_fp16",
}


@dataclass
class JointModelConfig:
    unet: MultiviewUNetConfig = field(default_factory=MultiviewUNetConfig)
    flow: SSFlowConfig = field(default_factory=SSFlowConfig)
    num_dual_CrossAttblocks: int = 2
    sync_groups: int = 32  # GroupNorm groups inside the sync blocks (a literal in the reference)

    @classmethod
    def from_args(cls, d: dict, path: Path) -> "JointModelConfig":
        """From the released config.json as it is (diffusers layout: the arguments at the top level)."""
        unet_fields = {f.name for f in fields(MultiviewUNetConfig)} - {"extra"}
        unet_kw, flow_kw = {}, {}
        n_sync = 2
        for key, value in d.items():
            if key in IGNORED_KEYS:
                continue
            if key in UNSUPPORTED_UNLESS:
                ok = UNSUPPORTED_UNLESS[key]
                require(ok is None or value in ok, path, key,
                        f"config key {key!r} = {value!r} is not supported (supported: {sorted(map(str, ok or ()))})")
                if key == "class_embed_type":
                    unet_kw[key] = value
                elif key == "pe_mode":
                    flow_kw["pe_mode"] = value
                elif key == "transformer_layers_per_block":
                    unet_kw[key] = value
                continue
            if key in FLOW_KEYS:
                flow_kw[FLOW_KEYS[key]] = value
            elif key in unet_fields:
                unet_kw[key] = tuple(value) if isinstance(value, list) else value
            elif key == "num_dual_CrossAttblocks":
                n_sync = int(value)
            else:
                require(False, path, key, f"unknown config key {key!r}")
        for key, allowed in (("down_block_types", {"CrossAttnDownBlockMV2D", "DownBlock2D"}),
                             ("up_block_types", {"CrossAttnUpBlockMV2D", "UpBlock2D"})):
            bad = [b for b in unet_kw.get(key, ()) if b not in allowed]
            require(not bad, path, key, f"config key {key!r}: block type {bad[:1]} is not supported")
        require(n_sync == 2, path, "num_dual_CrossAttblocks", "exactly 2 SS and 2 MV sync blocks are supported")
        try:
            return cls(unet=MultiviewUNetConfig(**unet_kw), flow=SSFlowConfig(**flow_kw), num_dual_CrossAttblocks=n_sync)
        except TypeError as exc:
            raise config_error(path, "", str(exc)) from None


class JointModel(nn.Module):
    """SyncHuman stage-1 joint model. forward(...) -> (v_2d, v_3d)."""

    def __init__(self, cfg: JointModelConfig):
        super().__init__()
        self.config = cfg
        self.unet = MultiviewUNet(cfg.unet)
        self.ss_flow = SparseStructureFlow(cfg.flow)
        ch = list(cfg.unet.block_out_channels)
        f = cfg.flow
        common = dict(structure_dim=f.model_channels, heads=f.heads, dim_head=f.num_head_channels,
                      resolution=f.resolution, num_views=cfg.unet.num_views, groups=cfg.sync_groups)
        self.dual_CrossAttblocks_SS = nn.ModuleList([SyncBlockSS(ch[1], **common), SyncBlockSS(ch[-1], **common)])
        self.dual_CrossAttblocks_MV = nn.ModuleList([SyncBlockMV(ch[-1], **common), SyncBlockMV(ch[-1], **common)])

    # ---- checkpoint naming
    FLOW_TOP = ("t_embedder", "input_layer", "blocks", "out_layer", "pos_emb", "adaLN_modulation")

    @classmethod
    def module_key(cls, ckpt_key: str) -> str:
        top = ckpt_key.split(".", 1)[0]
        if top.startswith("dual_CrossAttblocks_"):
            return ckpt_key
        if top in cls.FLOW_TOP:
            return "ss_flow." + ckpt_key
        return "unet." + ckpt_key

    @staticmethod
    def checkpoint_key(module_key: str) -> str:
        for p in ("unet.", "ss_flow."):
            if module_key.startswith(p):
                return module_key[len(p):]
        return module_key

    def checkpoint_state_dict(self) -> dict:
        return {self.checkpoint_key(k): v for k, v in self.state_dict().items()}

    # ---- forward
    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor,
                class_labels: torch.Tensor, trellis_x: torch.Tensor, trellis_t: torch.Tensor,
                trellis_cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sample (N, in, H, W) with N = 2 domains x groups x views; timestep: 1000*t (float or tensor);
        encoder_hidden_states (N, 77, Cctx); class_labels (N, Cproj); trellis_x (G, 8, R, R, R) with G
        groups per domain; trellis_t (G,) or (1,); trellis_cond (G, Lc, Cc).
        Returns (v_2d (N, out, H, W), v_3d like trellis_x)."""
        unet, flow = self.unet, self.ss_flow
        SS, MV = self.dual_CrossAttblocks_SS, self.dual_CrossAttblocks_MV
        dtype = unet.conv_in.weight.dtype
        x = sample.to(dtype)
        if unet.config.center_input_sample:
            x = 2 * x - 1.0
        ctx = encoder_hidden_states.to(dtype)
        emb = unet.embed(timestep, class_labels, x.shape[0], dtype, x.device)
        x = unet.conv_in(x)

        a, b = FLOW_GROUP_SPLITS
        h, t_emb, cond = flow.embed(trellis_x, trellis_t.to(trellis_x.device), trellis_cond)
        h = flow.run_blocks(h, t_emb, cond, 0, a)

        skips = (x,)
        for i in range(len(unet.down_blocks)):
            x, s = unet.run_down(i, x, emb, ctx)
            skips += s
            if i == 1:
                h = SS[0](x, h)
            elif i == 2:
                x = MV[0](x, h)
        x = unet.mid_block(x, emb, ctx)
        h = flow.run_blocks(h, t_emb, cond, a, b)

        n_up = 2 ** (len(unet.up_blocks) - 1)
        need_size = any(s % n_up for s in sample.shape[-2:])
        for i, blk in enumerate(unet.up_blocks):
            n = len(blk.resnets)
            res, skips = skips[-n:], skips[:-n]
            up_size = skips[-1].shape[2:] if (need_size and skips) else None
            if i == 0:
                x = MV[1](x, h)
            elif i == 1:
                h = SS[1](x, h)
            x = unet.run_up(i, x, res, emb, ctx, up_size)
        h = flow.run_blocks(h, t_emb, cond, b, None)
        v3d = flow.head(h, trellis_x.dtype)
        v2d = unet.head(x).to(sample.dtype)
        return v2d, v3d

