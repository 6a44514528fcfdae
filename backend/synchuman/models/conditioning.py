"""Conditioning encoders of stage 1 (architecture brief §1.2 step 7, §1.3, §4, §5).

- CLIP image encoder (transformers `CLIPVisionModelWithProjection`, built from the released
  config.json, strictly loaded from model.safetensors) + its feature extractor (CLIP processor,
  PIL backend, from preprocessor_config.json). The class label of the multiview UNet is
  [image_embeds || sinusoidal embedding of noise level 0 (half ones, half zeros)].
- The SD VAE (diffusers `AutoencoderKL`): image latents = posterior mode * scaling_factor;
  decoding one image at a time or tiled to bound memory.
- The fixed prompt embeddings (7 views x 77 tokens, normal and colour), stored as safetensors and
  loaded without unpickling; `convert_prompt_embeds` turns the reference's .pt files into that file.
The text encoder of the release is never loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import SyncHumanError
from .loading import WEIGHTS_HINT, build_on_meta, config_error, load_safetensors_into, read_json, read_safetensors

PROMPT_VIEW_NAMES = ("front", "front_right", "right", "back", "left", "front_left", "face")
PROMPT_ROWS = (0, 2, 3, 4, 6)  # front, right, back, left, face


# ----------------------------------------------------------------------------- CLIP

def build_clip_image_encoder(folder):
    """transformers' `CLIPVisionModelWithProjection` from `folder`/config.json, on the meta device."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    path = Path(folder) / "config.json"
    try:
        cfg = CLIPVisionConfig.from_dict(read_json(path))
    except SyncHumanError:
        raise
    except Exception as exc:
        raise config_error(path, "", f"not a CLIP vision config: {exc}") from None
    cfg._attn_implementation = "sdpa"
    return build_on_meta(lambda: CLIPVisionModelWithProjection(cfg))


def load_clip_image_encoder(folder, device="cpu", dtype: torch.dtype = torch.float32):
    folder = Path(folder)
    model = build_clip_image_encoder(folder)

    def fill(m, dev):  # the non-persistent position ids
        emb = m.vision_model.embeddings
        emb.register_buffer("position_ids", torch.arange(emb.num_positions, device=dev)[None], persistent=False)

    return load_safetensors_into(model, folder / "model.safetensors", device=device, dtype=dtype, fill_buffers=fill)


def load_clip_processor(folder):
    """The CLIP feature extractor (resize shortest side, centre crop, rescale, normalise) from
    preprocessor_config.json, with the PIL backend (bicubic as the reference)."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    path = Path(folder) / "preprocessor_config.json"
    raw = read_json(path)
    raw = {k: v for k, v in raw.items() if k not in ("image_processor_type", "feature_extractor_type",
                                                     "processor_class")}
    try:
        return CLIPImageProcessorPil(**raw)
    except Exception as exc:
        raise config_error(path, "", f"not a CLIP image processor config: {exc}") from None


def to_uint8_images(images: torch.Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) float in [0, 1] -> HWC uint8 arrays, truncating like torchvision's to_pil_image."""
    arr = (images.detach().float().cpu() * 255).to(torch.uint8)  # float -> uint8 truncates toward zero
    return [a.permute(1, 2, 0).numpy() for a in arr]


def noise_level_embedding(n: int, dim: int, noise_level: int = 0) -> torch.Tensor:
    """Sinusoidal embedding of the unCLIP noise level (cos first, shift 0): (n, dim)."""
    from diffusers.models.embeddings import get_timestep_embedding

    t = torch.full((n,), noise_level)
    return get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)


@torch.no_grad()
def clip_class_labels(encoder, processor, images_u8: list[np.ndarray], noise_level: int = 0):
    """(pixel_values, class labels (N, 2 * projection_dim)) of uint8 HWC images."""
    from PIL import Image

    dtype = next(encoder.parameters()).dtype
    device = next(encoder.parameters()).device
    pv = processor(images=[Image.fromarray(a) for a in images_u8], return_tensors="pt")["pixel_values"]
    emb = encoder(pixel_values=pv.to(device, dtype)).image_embeds
    labels = torch.cat([emb, noise_level_embedding(emb.shape[0], emb.shape[-1], noise_level).to(emb)], dim=1)
    return pv, labels


# ----------------------------------------------------------------------------- VAE

def _legacy_vae_keys(name: str) -> str:
    """Old diffusers attention names in VAE files (query/key/value/proj_attn) -> current names."""
    for old, new in ((".query.", ".to_q."), (".key.", ".to_k."), (".value.", ".to_v."), (".proj_attn.", ".to_out.0.")):
        name = name.replace(old, new)
    return name


def build_vae(folder):
    """diffusers' `AutoencoderKL` from `folder`/config.json, on the meta device."""
    from diffusers import AutoencoderKL

    path = Path(folder) / "config.json"
    raw = read_json(path)
    try:
        return build_on_meta(lambda: AutoencoderKL.from_config(raw))
    except Exception as exc:
        raise config_error(path, "", f"not an AutoencoderKL config: {exc}") from None


def load_vae(folder, device="cpu", dtype: torch.dtype = torch.float32):
    from .loading import safetensors_shapes

    folder = Path(folder)
    model = build_vae(folder)
    path = folder / "diffusion_pytorch_model.safetensors"
    file_keys = set(safetensors_shapes(path))
    legacy = any(".query." in k or ".proj_attn." in k for k in file_keys)
    if legacy:
        inverse = {}
        for k in model.state_dict():
            for fk in file_keys:
                if _legacy_vae_keys(fk) == k:
                    inverse[k] = fk
        to_file = lambda k: inverse.get(k, k)  # noqa: E731
    else:
        to_file = lambda k: k  # noqa: E731
    return load_safetensors_into(model, path, to_file_key=to_file, device=device, dtype=dtype)


@torch.no_grad()
def vae_encode(vae, images: torch.Tensor, batch: int = 1) -> torch.Tensor:
    """images (N, 3, H, W) in [0, 1] -> latents (posterior mode * scaling_factor)."""
    p = next(vae.parameters())
    out = []
    for s in range(0, images.shape[0], batch):
        x = images[s:s + batch].to(p.device, p.dtype) * 2.0 - 1.0
        out.append(vae.encode(x).latent_dist.mode() * vae.config.scaling_factor)
    return torch.cat(out)


@torch.no_grad()
def vae_decode(vae, latents: torch.Tensor, batch: int = 1, tiled: bool = False) -> torch.Tensor:
    """latents -> images (N, 3, H, W) in [0, 1] (VaeImageProcessor.postprocess 'pt')."""
    p = next(vae.parameters())
    if tiled:
        vae.enable_tiling()
    try:
        out = []
        for s in range(0, latents.shape[0], batch):
            z = latents[s:s + batch].to(p.device, p.dtype) / vae.config.scaling_factor
            out.append((vae.decode(z).sample.float() / 2 + 0.5).clamp(0, 1).cpu())
    finally:
        if tiled:
            vae.disable_tiling()
    return torch.cat(out)


# ----------------------------------------------------------------------------- prompt embeddings

def load_prompt_embeds(path) -> torch.Tensor:
    """(10, 77, C): rows [normal front, right, back, left, face, colour front, ..., face] from the
    safetensors file holding `normal` and `clr` tensors (7, 77, C)."""
    path = Path(path)
    if not path.is_file():
        raise SyncHumanError("weights.missing", f"Missing prompt embeddings: {path}",
                             "Run `synchuman weights download`; it converts the reference's fixed prompt "
                             "embeddings into this file.", {"file": str(path)})
    data = read_safetensors(path)
    for key in ("normal", "clr"):
        if key not in data:
            raise SyncHumanError("weights.missing", f"{path}: tensor {key!r} missing", WEIGHTS_HINT,
                                 {"file": str(path), "key": key})
        if data[key].ndim != 3 or data[key].shape[0] != len(PROMPT_VIEW_NAMES):
            raise SyncHumanError("weights.mismatch", f"{path}: tensor {key!r} has shape {list(data[key].shape)}, "
                                 f"expected [7, 77, C]", WEIGHTS_HINT, {"file": str(path), "key": key})
    rows = list(PROMPT_ROWS)
    return torch.cat([data["normal"][rows], data["clr"][rows]]).float()


def convert_prompt_embeds(normal_pt, clr_pt, out_path) -> Path:
    """Read the reference's `normal_embeds.pt` and `clr_embeds.pt` (one tensor each, (7, 77, 1024))
    with torch.load(weights_only=True) and write them to `out_path` as safetensors."""
    from safetensors.torch import save_file

    redownload = "Delete it and run `synchuman weights download` again."
    tensors = {}
    for key, src in (("normal", normal_pt), ("clr", clr_pt)):
        try:
            t = torch.load(str(src), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - weights_only refuses anything but tensors and containers
            raise SyncHumanError("weights.corrupt", f"{src} is not a plain tensor file ({type(exc).__name__}).",
                                 redownload, {"file": str(src)}) from None
        if not isinstance(t, torch.Tensor) or t.ndim != 3 or t.shape[0] != len(PROMPT_VIEW_NAMES) or t.shape[1] != 77:
            raise SyncHumanError("weights.corrupt", f"{src} does not hold a (7, 77, C) tensor.", redownload,
                                 {"file": str(src)})
        tensors[key] = t.contiguous()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"views": ",".join(PROMPT_VIEW_NAMES)})
    return out
