"""Stage 1 of SyncHuman: photo -> 5 normal maps + 5 colour images (768^2) and a 64^3 occupancy grid.

    pipe = Stage1Pipeline.from_pretrained(weights / "ckpts/OneStage", dinov2_path=..., memory=MemoryPolicy.choose("cuda"))
    result = pipe(photo_rgba, seed=43, progress=progress, cancel=cancel)
    result.save(job_folder)        # color_i.png, normal_i.png, concat.png, input.png, latent.npz, voxel.ply

Steps (architecture brief §1.2-1.4, §3.1):
1. preprocessing of both branches (`synchuman.preprocess`);
2. conditions: CLIP image embeddings + noise-level embedding (UNet class labels), VAE image
   latents (posterior mode * 0.18215), fixed prompt embeddings, DINOv2 x_prenorm -> layer norm
   (3D branch); unconditional = zero class labels, zero image latents, zero DINOv2 tokens, same prompts;
3. rectified-flow Euler loop over the rescaled time grid (rescale_t 3, 50 steps), both branches
   guided with v = v_u + s (v_c - v_u) (s = 3), CFG batch [normal-u, normal-c, colour-u, colour-c];
4. VAE decode (one image at a time, or tiled), SS decoder -> logits > 0 -> coords [0, x, y, z];
   colour view 0 is replaced by the input and the face normal is pasted into normal view 0.

Memory and precision follow a `pipelines.memory.MemoryPolicy`: fp16/bf16 on CUDA (fp32 on the CPU, bf16
on request where the CPU has it), sequential CPU offload of the components (each one is on the GPU only
while it runs), VAE decoding one image at a time or tiled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..common import ProgressFn, StepCallback, reporter, step_callback
from ..errors import SyncHumanError
from ..models.loading import WEIGHTS_HINT, read_json
from ..preprocess import Stage1Inputs, dinov2_input, preprocess_stage1
from .memory import MemoryPolicy
from .samplers import FlowEulerCfgSampler

COMPONENTS = {  # pipeline_config.json metadata name -> class the release names
    "feature_extractor": "CLIPImageProcessor",
    "image_encoder": "CLIPVisionModelWithProjection",
    "text_encoder": "CLIPTextModel",
    "SyncHuman_2D3DCrossSpaceDiffusion": "SyncHuman_2D3DCrossSpaceDiffusion",
    "vae": "AutoencoderKL",
    "sparse_structure_decoder": "SparseStructureDecoder",
}
REQUIRED = ("feature_extractor", "image_encoder", "SyncHuman_2D3DCrossSpaceDiffusion", "vae",
            "sparse_structure_decoder")

@dataclass
class Stage1Conditions:
    """Model inputs that stay fixed over the loop (already in the CFG layout when guided)."""

    encoder_hidden_states: torch.Tensor  # (N, 77, C)
    class_labels: torch.Tensor           # (N, 2P)
    image_latents: torch.Tensor          # (N, 4, h, w)
    trellis_cond: torch.Tensor           # (G, L, C)
    guided: bool
    clip_pixel_values: torch.Tensor | None = None
    condition_tokens: torch.Tensor | None = None  # (1, L, C) DINOv2 tokens of the photo (stage 2's condition)


@dataclass
class Stage1Result:
    normals: list                 # 5 x float32 (768, 768, 3) in [0, 1]: front, right, back, left, face
    colors: list                  # 5 x float32 (768, 768, 3); colour 0 is the preprocessed input
    coords: np.ndarray            # int32 (N, 4): [0, x, y, z] on the 64^3 grid
    occupancy: np.ndarray         # bool (64, 64, 64)
    latents_2d: torch.Tensor      # (10, 4, 96, 96) final latents [normal 0..4, colour 0..4]
    latent_3d: torch.Tensor       # (1, 8, 16, 16, 16)
    inputs: Stage1Inputs | None = None
    condition_tokens: torch.Tensor | None = None  # (1, L, C) float32: the DINOv2 condition stage 2 reuses
    timings: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def save(self, folder) -> list[Path]:
        """The reference's files: color_i.png, normal_i.png, concat.png, input.png, latent.npz, voxel.ply."""
        from PIL import Image

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []

        def u8(a):  # torchvision save_image rounding
            return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)

        for name, images in (("normal", self.normals), ("color", self.colors)):
            for i, img in enumerate(images):
                p = folder / f"{name}_{i}.png"
                Image.fromarray(u8(img)).save(p)
                written.append(p)
        concat = np.concatenate([x for pair in zip(self.colors, self.normals) for x in pair], axis=1)
        p = folder / "concat.png"
        Image.fromarray(u8(concat)).save(p)
        written.append(p)
        p = folder / "input.png"
        if self.inputs is not None:
            Image.fromarray(self.inputs.rgba, "RGBA").save(p)
            written.append(p)
        p = folder / "latent.npz"
        np.savez(p, coords=self.coords.astype(np.float32))
        written.append(p)
        written.append(write_voxel_ply(folder / "voxel.ply", self.coords[:, 1:]))
        return written


# A unit cube's corners (bit 0: +x, bit 1: +y, bit 2: +z) and its six quads, outward, in the
# reference's order.
_CUBE_CORNERS = np.array([[(i >> a) & 1 for a in range(3)] for i in range(8)], np.float32) - 0.5
_CUBE_QUADS = np.array([[2, 3, 1, 0], [4, 5, 7, 6], [3, 2, 6, 7], [0, 1, 5, 4], [2, 0, 4, 6], [1, 3, 7, 5]])


def write_voxel_ply(path, xyz: np.ndarray) -> Path:
    """The reference's `voxel.ply` (ASCII): the N occupied voxel centres in grid units, then 8 corners
    per voxel, and 6 quads per voxel over those corners (for viewing the occupancy in any mesh tool)."""
    path = Path(path)
    centres = np.asarray(xyz, np.float32).reshape(-1, 3)
    n = len(centres)
    corners = (centres[:, None, :] + _CUBE_CORNERS[None]).reshape(-1, 3)
    quads = (n + 8 * np.arange(n)[:, None, None] + _CUBE_QUADS[None]).reshape(-1, 4)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(f"ply\nformat ascii 1.0\ncomment vertices\nelement vertex {n + len(corners)}\n"
                "property float x\nproperty float y\nproperty float z\n"
                f"element face {len(quads)}\nproperty list uchar int vertex_indices\nend_header\n")
        np.savetxt(f, np.concatenate([centres, corners]), fmt="%g")
        np.savetxt(f, np.column_stack([np.full(len(quads), 4), quads]), fmt="%d")
    tmp.replace(path)
    return path


def stage1_noise(seed: int, device="cpu", dtype: torch.dtype = torch.float32, num_views: int = 5,
                 latent_size: int = 96, resolution: int = 16, clip_dim: int = 1024):
    """Initial noise with explicit generators: the 3D latent is the first draw of a CPU generator
    seeded with `seed` (as the reference, on every device); the 2D latents (2*num_views, 4, s, s)
    come from a CUDA generator on CUDA (after one unused (2*num_views, clip_dim) draw, as the
    reference's image-embedding noise) and from the same CPU generator otherwise."""
    g_cpu = torch.Generator("cpu").manual_seed(seed)
    noise3d = torch.randn(1, 8, resolution, resolution, resolution, generator=g_cpu)
    shape = (2 * num_views, 4, latent_size, latent_size)
    dev = torch.device(device)
    if dev.type == "cuda":
        g = torch.Generator(dev).manual_seed(seed)
        torch.randn((2 * num_views, clip_dim), generator=g, device=dev, dtype=dtype)
        noise2d = torch.randn(shape, generator=g, device=dev, dtype=dtype)
    else:
        noise2d = torch.randn(shape, generator=g_cpu).to(dtype)
    return noise2d, noise3d


def cfg_layout(cond: torch.Tensor, uncond: torch.Tensor | None = None) -> torch.Tensor:
    """[normal..., colour...] rows -> [normal-u, normal-c, colour-u, colour-c] (uncond = zeros if None)."""
    n, c = cond.chunk(2)
    un, uc = (torch.zeros_like(n), torch.zeros_like(c)) if uncond is None else uncond.chunk(2)
    return torch.cat([un, n, uc, c])


class JointCfgSampler(FlowEulerCfgSampler):
    """Stage 1's sampler: the state is (2D latents, 3D latent) and one call of the joint model gives
    both the conditional and the unconditional velocities (the CFG batch [n, n, c, c] / [x3, x3])."""

    def cond_and_uncond(self, model, x, t: float, cond, neg_cond):
        x2, x3 = x
        n, c = x2.chunk(2)
        v2, v3 = model((torch.cat([n, n, c, c]), torch.cat([x3, x3])), t, cond)
        nu, nc, cu, cc = v2.chunk(4)
        u3, c3 = v3.chunk(2)
        return (torch.cat([nc, cc]), c3), (torch.cat([nu, cu]), u3)


def joint_velocity(joint, cond: Stage1Conditions):
    """The joint model as a sampler's ``model((x2, x3), t, cond) -> (v2, v3)`` with the fixed
    conditions moved to its device and dtype once; its time input is 1000 t."""
    p = next(joint.parameters())
    device, dtype = p.device, p.dtype
    img_lat, ehs, labels, tcond = (a.to(device, dtype) for a in (cond.image_latents, cond.encoder_hidden_states,
                                                                  cond.class_labels, cond.trellis_cond))

    def model(x, t: float, _cond=None):
        x2, x3 = x
        return joint(torch.cat([x2, img_lat], dim=1), float(t * 1000), ehs, labels, x3,
                     torch.tensor([1000 * t], dtype=dtype, device=device), tcond)
    return model


@torch.no_grad()
def sample_stage1(model, cond: Stage1Conditions, noise2d: torch.Tensor, noise3d: torch.Tensor, *,
                  steps: int = 50, guidance_scale: float = 3.0, rescale_t: float = 3.0,
                  callback: StepCallback | None = None, record: bool = False):
    """The reference's joint Euler loop (`JointCfgSampler`). Returns (latents_2d, latent_3d,
    trajectory_3d: the 3D latent before the first and after every step when `record`).

    noise2d (2V, 4, h, w) rows [normal, colour]; noise3d (1, 8, R, R, R). With guidance the model
    sees [n, n, c, c] (+ image latents on channels 4-7) and [x3, x3]; v = v_u + w (v_c - v_u) with
    w = guidance_scale (TRELLIS' cfg_strength w - 1)."""
    p = next(model.parameters())
    x = (noise2d.to(p.device, p.dtype), noise3d.to(p.device, p.dtype))
    sampler = JointCfgSampler(guidance_scale - 1.0 if cond.guided else 0.0)
    res = sampler.sample(joint_velocity(model, cond), x, cond, steps=steps, rescale_t=rescale_t, callback=callback,
                         record=record)
    x2, x3 = res.samples
    trajectory = [x[1]] + [state[1] for state in res.trajectory] if record else []
    return x2, x3, trajectory


def occupancy_coords(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """SS-decoder logits (1, 1, R, R, R) -> (occupancy bool (R, R, R), coords int32 (N, 4) [0, x, y, z])."""
    occ = (logits > 0)[0, 0].cpu()
    xyz = torch.argwhere(occ).int()
    coords = torch.cat([torch.zeros(len(xyz), 1, dtype=torch.int32), xyz], dim=1)
    return occ.numpy(), coords.numpy()


def finish_views(images: torch.Tensor, input_image: np.ndarray, num_views: int = 5):
    """Decoded (2V, 3, H, W) in [0, 1] -> (normals, colours) lists of HWC float32 arrays, with the
    reference's overrides: colour 0 = the preprocessed input; the face normal (bilinear to H/3)
    pasted into normal 0 at rows [0, H/3), cols [H/3, 2H/3)."""
    normals, colors = images[:num_views].clone(), images[num_views:].clone()
    colors[0] = torch.from_numpy(input_image).permute(2, 0, 1)
    H = normals.shape[-1]
    third = H // 3
    face = F.interpolate(normals[-1:], size=(third, third), mode="bilinear", align_corners=False)[0]
    normals[0][:, :third, third:2 * third] = face
    to_np = lambda t: [a.permute(1, 2, 0).float().numpy() for a in t]  # noqa: E731
    return to_np(normals), to_np(colors)


class Stage1Pipeline:
    """The loaded stage-1 components and the method's steps."""

    def __init__(self, joint, vae, image_encoder, feature_extractor, ss_decoder, prompt_embeds: torch.Tensor,
                 dinov2=None, *, memory: MemoryPolicy | None = None, num_views: int = 5):
        self.joint, self.vae, self.image_encoder = joint, vae, image_encoder
        self.feature_extractor, self.ss_decoder, self.dinov2 = feature_extractor, ss_decoder, dinov2
        self.prompt_embeds = prompt_embeds
        self.memory = memory or MemoryPolicy()
        self.device, self.dtype = self.memory.device, self.memory.dtype
        self.num_views = num_views
        for m in (joint, vae, image_encoder, ss_decoder, dinov2):
            if m is not None:
                m.to(self.memory.load_device)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, onestage_dir, *, dinov2_path=None, dinov2=None, prompt_embeds_path=None,
                        memory: MemoryPolicy | None = None) -> "Stage1Pipeline":
        """Load `ckpts/OneStage` (pipeline_config.json + component folders, released configs as they
        are) where `memory` says. The text encoder is never loaded. DINOv2 (a loaded `dinov2`, else
        `dinov2_path`) is optional here (then `dinov2_x_prenorm` must be given when running); prompt
        embeddings default to <weights>/prompt_embeds/... next to ckpts/."""
        from ..models.conditioning import load_clip_image_encoder, load_clip_processor, load_prompt_embeds, load_vae
        from ..models.registry import load_model
        from ..weights import PROMPT_EMBEDS_FILE

        root = Path(onestage_dir)
        cfg_path = root / "pipeline_config.json"
        cfg = read_json(cfg_path)
        meta = cfg.get("metadata")
        if not isinstance(meta, dict):
            raise SyncHumanError("weights.mismatch", f"{cfg_path}: no 'metadata' section", WEIGHTS_HINT,
                                 {"file": str(cfg_path), "key": "metadata"})
        for name, entry in meta.items():
            if name not in COMPONENTS:
                raise SyncHumanError("weights.mismatch", f"{cfg_path}: unknown component {name!r}", WEIGHTS_HINT,
                                     {"file": str(cfg_path), "key": name})
            cls_name = str(entry.get("class", "")).rsplit(".", 1)[-1]
            if cls_name != COMPONENTS[name]:
                raise SyncHumanError("weights.mismatch", f"{cfg_path}: component {name!r} has class {cls_name!r}, "
                                     f"expected {COMPONENTS[name]!r}", WEIGHTS_HINT,
                                     {"file": str(cfg_path), "key": f"metadata.{name}.class"})
        for name in REQUIRED:
            if name not in meta:
                raise SyncHumanError("weights.missing", f"{cfg_path}: component {name!r} missing", WEIGHTS_HINT,
                                     {"file": str(cfg_path), "key": name})
        sub = lambda name: root / meta[name].get("subdir", name)  # noqa: E731
        memory = memory or MemoryPolicy()
        load_dev, dtype = memory.load_device, memory.dtype
        joint = load_model(sub("SyncHuman_2D3DCrossSpaceDiffusion"), load_dev, dtype, "SyncHuman_2D3DCrossSpaceDiffusion")
        vae = load_vae(sub("vae"), load_dev, dtype)
        enc = load_clip_image_encoder(sub("image_encoder"), load_dev, dtype)
        proc = load_clip_processor(sub("feature_extractor"))
        ssd = load_model(sub("sparse_structure_decoder"), load_dev, dtype, "SparseStructureDecoder")
        dino = dinov2
        if dino is None and dinov2_path is not None:
            from ..models.dinov2 import load_dinov2

            dino = load_dinov2(dinov2_path, device=load_dev, dtype=dtype)
        pe_path = Path(prompt_embeds_path) if prompt_embeds_path else root.parent.parent / PROMPT_EMBEDS_FILE
        prompts = load_prompt_embeds(pe_path)
        return cls(joint, vae, enc, proc, ssd, prompts, dino, memory=memory, num_views=int(cfg.get("num_views", 5)))

    @classmethod
    def from_weights_dir(cls, weights_dir, **kw) -> "Stage1Pipeline":
        """Load from a weights folder laid out as `synchuman.weights` describes: ckpts/OneStage,
        DINOv2 (dinov2_vitl14_reg/model.safetensors or dinov2_vitl14_reg4_pretrain.pth) and
        prompt_embeds/fixed_prompt_embeds_7view.safetensors."""
        from ..weights import DINOV2_CANDIDATES

        root = Path(weights_dir)
        dino = next((root / c for c in DINOV2_CANDIDATES if (root / c).is_file()), None)
        if dino is None:
            raise SyncHumanError("weights.missing", f"No DINOv2 weights in {root} (looked for "
                                 f"{' or '.join(DINOV2_CANDIDATES)})", WEIGHTS_HINT, {"dir": str(root)})
        return cls.from_pretrained(root / "ckpts" / "OneStage", dinov2_path=dino, **kw)

    # ------------------------------------------------------------------ steps
    @torch.no_grad()
    def encode_conditions(self, inputs: Stage1Inputs, *, guided: bool = True, prompt_embeds: torch.Tensor | None = None,
                          dinov2_x_prenorm: torch.Tensor | None = None) -> Stage1Conditions:
        from ..models.conditioning import clip_class_labels, to_uint8_images, vae_encode
        from ..models.dinov2 import condition_tokens

        V = self.num_views
        stack = torch.from_numpy(inputs.mv_stack(V))
        imgs = torch.cat([stack, stack])  # normal inputs, colour inputs
        u8 = to_uint8_images(imgs)
        # only 2 distinct images (body, face): encode those, then replicate
        uniq_idx = [0, V - 1]
        with self.memory.on_device(self.image_encoder):
            pv, labels_u = clip_class_labels(self.image_encoder, self.feature_extractor, [u8[i] for i in uniq_idx])
        with self.memory.on_device(self.vae):
            lat_u = vae_encode(self.vae, torch.stack([torch.from_numpy(u8[i]).permute(2, 0, 1).float() / 255
                                                     for i in uniq_idx]))
        rep = torch.tensor([0] * (V - 1) + [1])
        rep = torch.cat([rep, rep])
        labels, latents, pixel_values = labels_u[rep], lat_u[rep], pv[rep]
        prompts = (prompt_embeds if prompt_embeds is not None else self.prompt_embeds).to(labels.device)
        if dinov2_x_prenorm is None:
            if self.dinov2 is None:
                raise SyncHumanError("weights.missing", "DINOv2 is not loaded", WEIGHTS_HINT)
            with self.memory.on_device(self.dinov2):
                p = next(self.dinov2.parameters())
                dinov2_x_prenorm = self.dinov2(dinov2_input(inputs.trellis_rgb).to(p.device, p.dtype))
        cond3 = condition_tokens(dinov2_x_prenorm.float())
        if guided:
            return Stage1Conditions(torch.cat([prompts[:V], prompts[:V], prompts[V:], prompts[V:]]),
                                    cfg_layout(labels), cfg_layout(latents),
                                    torch.cat([torch.zeros_like(cond3), cond3]), True, pixel_values, cond3)
        return Stage1Conditions(prompts, labels, latents, cond3, False, pixel_values, cond3)

    @torch.no_grad()
    def occupancy_logits(self, latent_3d: torch.Tensor) -> torch.Tensor:
        """SS decoder: (1, 8, R, R, R) latent -> (1, 1, 4R, 4R, 4R) float32 logits (its input is float32)."""
        with self.memory.on_device(self.ss_decoder):
            p = next(self.ss_decoder.parameters())
            return self.ss_decoder(latent_3d.to(p.device, torch.float32)).float()

    @torch.no_grad()
    def decode(self, latents_2d: torch.Tensor, latent_3d: torch.Tensor, *, vae_tiled: bool | None = None):
        from ..models.conditioning import vae_decode

        tiled = self.memory.vae_tiled if vae_tiled is None else vae_tiled
        with self.memory.on_device(self.vae):
            images = vae_decode(self.vae, latents_2d, batch=1, tiled=tiled)
        return images, self.occupancy_logits(latent_3d)

    def __call__(self, image, *, seed: int = 43, steps: int = 50, guidance_scale: float = 3.0,
                 rescale_t: float = 3.0, noise2d: torch.Tensor | None = None, noise3d: torch.Tensor | None = None,
                 progress: ProgressFn | None = None, cancel=None, vae_tiled: bool | None = None,
                 foreground=None, dinov2_x_prenorm: torch.Tensor | None = None,
                 prompt_embeds: torch.Tensor | None = None, decode: bool = True) -> Stage1Result:
        """The stage for one photo. `progress(stage, done, total, message)` after every step; a set
        `cancel` token stops it (`Cancelled`) at the next report."""
        timings = {}
        report = reporter(progress, cancel)

        t0 = time.perf_counter()
        report("stage1", 0, steps, "preprocessing")
        inputs = image if isinstance(image, Stage1Inputs) else preprocess_stage1(image, foreground)
        report("stage1", 0, steps, "encoding the conditions")
        cond = self.encode_conditions(inputs, guided=guidance_scale != 1.0, prompt_embeds=prompt_embeds,
                                      dinov2_x_prenorm=dinov2_x_prenorm)
        timings["conditions_s"] = time.perf_counter() - t0
        if noise2d is None or noise3d is None:
            n2, n3 = stage1_noise(seed, self.device, self.dtype, self.num_views,
                                  self.joint.config.unet.sample_size, self.joint.config.flow.resolution,
                                  cond.class_labels.shape[-1] // 2)
            noise2d = n2 if noise2d is None else noise2d
            noise3d = n3 if noise3d is None else noise3d
        t1 = time.perf_counter()
        with self.memory.on_device(self.joint):
            x2, x3, _ = sample_stage1(self.joint, cond, noise2d, noise3d, steps=steps, guidance_scale=guidance_scale,
                                      rescale_t=rescale_t, callback=step_callback(report, "stage1", "sampling step"))
        timings["sampling_s"] = time.perf_counter() - t1
        timings["per_step_s"] = timings["sampling_s"] / max(steps, 1)
        t2 = time.perf_counter()
        report("stage1_decode", 0, 1, "decoding the views and the voxels")
        if decode:
            images, logits = self.decode(x2, x3, vae_tiled=vae_tiled)
            normals, colors = finish_views(images, inputs.mv_image, self.num_views)
        else:
            logits, normals, colors = self.occupancy_logits(x3), [], []
        occ, coords = occupancy_coords(logits)
        timings["decode_s"] = time.perf_counter() - t2
        return Stage1Result(normals=normals, colors=colors, coords=coords, occupancy=occ,
                            latents_2d=x2.float().cpu(), latent_3d=x3.float().cpu(), inputs=inputs,
                            condition_tokens=cond.condition_tokens.float().cpu(), timings=timings,
                            meta={"seed": seed, "steps": steps, "guidance_scale": guidance_scale,
                                  "rescale_t": rescale_t, "device": str(self.device), "dtype": str(self.dtype),
                                  "alpha_source": inputs.alpha_source})
