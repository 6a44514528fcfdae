"""Stage 2 of SyncHuman: stage-1 voxels + views -> structured latent -> Gaussians and a raw mesh.

Steps (architecture brief §1.6):
1. SLat sampling on the stage-1 voxels (64^3 coordinates): Euler flow sampler with guidance
   interval (25 steps, cfg 5 for t in [0.5, 1], rescale_t 3) conditioned on the DINOv2 tokens
   of the input photo (1, 1374, 1024) against zeros; then per-channel denormalisation.
   The initial noise comes from an explicit generator (CPU, so a seed gives the same latent
   on every device); the reference draws it unseeded.
2. Multiview features: the 4 colour and the 4 normal views (768^2, [0, 1]) are resized to
   896^2 (bilinear), ImageNet-normalised and passed through DINOv2 ViT-L/14-reg; layers
   4, 11, 17, 23 (final norm applied, patch tokens only) are concatenated into
   (1, 4, 64, 64, 4096) maps (batch, view, row, col, C).
3. Gaussian decoder and mesh decoder (+ FlexiCubes at 256^3).

`Stage2Result` fields (all on the CPU unless `keep_device`):
- ``slat``: SparseTensor, denormalised latent (N, 8) at coords [0, x, y, z] (64^3 grid).
- ``gaussians``: `models.gaussian.Gaussians` (32 per voxel): ``positions`` (P, 3) in the z-up unit
  cube [-0.5, 0.5]^3, ``colors`` (P, 3) RGB in [0, 1], ``opacities`` (P, 1), ``scales`` (P, 3),
  ``rotations`` (P, 4) unit (w, x, y, z); raw tensors as in the reference.
- ``mesh_vertices`` (V, 3) float32, z-up, unit cube [-0.5, 0.5]^3, subject facing -Y.
- ``mesh_faces`` (F, 3) int64, counter-clockwise seen from outside (normals point outwards).
- ``mesh_vertex_attrs`` (V, 6) float32 in [0, 1]: the decoder's per-vertex colour (3) and normal
  map (3) channels, unused by the reference post-processing.
- ``timings`` seconds per step; ``seed`` when one was given.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..common import IMAGENET_MEAN, IMAGENET_STD, ProgressFn, StepCallback, reporter, step_callback
from ..errors import SyncHumanError
from ..models.gaussian import Gaussians
from ..models.loading import config_error, read_json
from ..models.registry import load_model
from ..models.slat_decoders import SLatGaussianDecoder, SLatMeshDecoder
from ..models.slat_flow import SLatFlowModel
from ..models.sparse import SparseTensor
from .memory import MemoryPolicy
from .samplers import FlowEulerGuidanceIntervalSampler

log = logging.getLogger("synchuman.stage2")

MV_LAYERS = (4, 11, 17, 23)
MV_SIZE = 896

# ----------------------------------------------------------------------------- DINOv2 glue
def dinov2_condition(x_prenorm: torch.Tensor) -> torch.Tensor:
    """The flow's condition tokens: layer norm (no affine, eps 1e-5) of DINOv2's ``x_prenorm``
    (all 1374 tokens of a 518^2 image: CLS, 4 registers, 37^2 patches); the same tokens as
    stage 1 uses (`models.dinov2.condition_tokens`)."""
    from ..models.dinov2 import condition_tokens

    return condition_tokens(x_prenorm.float())


def multiview_dinov2_input(images: torch.Tensor, size: int = MV_SIZE) -> torch.Tensor:
    """(B, V, 3, H, W) in [0, 1] -> (B V, 3, size, size): bilinear resize (align_corners False,
    no antialias) then ImageNet normalisation."""
    b, v, c, h, w = images.shape
    x = F.interpolate(images.reshape(b * v, c, h, w).float(), size=(size, size), mode="bilinear",
                      align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def multiview_features(dinov2, images: torch.Tensor, size: int = MV_SIZE, layers=MV_LAYERS,
                       chunk: int | None = 1) -> torch.Tensor:
    """DINOv2 multi-layer patch features of a view stack: (B, V, 3, H, W) -> (B, V, s, s, len(layers) C)
    with s = size / patch (64 at 896^2). `dinov2.get_intermediate_layers(x, layers)` must return
    per layer (n, s^2, C) patch tokens after the final norm (the torch-hub DINOv2 contract).
    Images are fed `chunk` at a time (each image is independent; this only bounds memory)."""
    b, v = images.shape[:2]
    x = multiview_dinov2_input(images, size)
    step = x.shape[0] if not chunk else chunk
    outs = []
    for s in range(0, x.shape[0], step):
        feats = dinov2.get_intermediate_layers(x[s:s + step], list(layers))
        outs.append(torch.cat([f.float() for f in feats], dim=-1))
    feats = torch.cat(outs, 0)
    side = int(round(feats.shape[1] ** 0.5))
    if side * side != feats.shape[1]:
        raise ValueError(f"DINOv2 returned {feats.shape[1]} patch tokens, not a square grid")
    return feats.reshape(b, v, side, side, feats.shape[-1])


# ----------------------------------------------------------------------------- pipeline
@dataclass
class Stage2Result:
    slat: SparseTensor
    gaussians: Gaussians
    mesh_vertices: torch.Tensor
    mesh_faces: torch.Tensor
    mesh_vertex_attrs: torch.Tensor | None
    timings: dict = field(default_factory=dict)
    seed: int | None = None

    @property
    def mesh_ok(self) -> bool:
        return self.mesh_vertices.shape[0] > 0 and self.mesh_faces.shape[0] > 0


class Stage2Pipeline:
    """Loaded stage-2 networks plus the sampler settings of ``pipeline.json``."""

    def __init__(self, flow: SLatFlowModel, decoder_gs: SLatGaussianDecoder | None,
                 decoder_mesh: SLatMeshDecoder | None, sampler_params: dict, normalization: dict,
                 sigma_min: float = 1e-5, memory: MemoryPolicy | None = None):
        self.flow = flow
        self.decoder_gs = decoder_gs
        self.decoder_mesh = decoder_mesh
        self.sampler_params = {"steps": 25, "cfg_strength": 5.0, "cfg_interval": (0.5, 1.0), "rescale_t": 3.0,
                               **sampler_params}
        self.sigma_min = float(sigma_min)
        self.mean = torch.tensor(normalization["mean"], dtype=torch.float32)
        self.std = torch.tensor(normalization["std"], dtype=torch.float32)
        # The stage-2 networks stay on the device (they are small next to stage 1's); only the shared
        # DINOv2 follows the policy's offload (`multiview_features`).
        self.memory = memory or MemoryPolicy()
        self.device, self.dtype = self.memory.device, self.memory.dtype

    @classmethod
    def from_pretrained(cls, second_stage_dir: str | Path, memory: MemoryPolicy | None = None,
                        decoders: bool = True) -> "Stage2Pipeline":
        """Loads ``pipeline.json`` and ``ckpts/{slat_flow,decoder_GS,decoder_Mesh}`` (strict)."""
        root = Path(second_stage_dir)
        path = root / "pipeline.json"
        data = read_json(path)
        try:
            args = data["args"]
            models = args["models"]
            sampler = args["slat_sampler"]
            norm = args["slat_normalization"]
        except (KeyError, TypeError) as exc:
            raise config_error(path, str(exc), "not SyncHuman's SecondStage pipeline.json") from exc
        if sampler.get("name") != "FlowEulerGuidanceIntervalSampler":
            raise config_error(path, "slat_sampler.name", f"unsupported sampler {sampler.get('name')!r}")
        for key in ("slat_flow_model", "slat_decoder_gs", "slat_decoder_mesh"):
            if key not in models:
                raise config_error(path, f"models.{key}", f"models.{key} is missing")
        if len(norm.get("mean", [])) != 8 or len(norm.get("std", [])) != 8:
            raise config_error(path, "slat_normalization", "needs 8 means and 8 stds")
        memory = memory or MemoryPolicy()
        device, dtype = memory.device, memory.dtype
        flow = load_model(root / models["slat_flow_model"], device, dtype, "SLatFlowModel")
        gs = mesh = None
        if decoders:
            gs = load_model(root / models["slat_decoder_gs"], device, dtype, "SLatGaussianDecoder")
            mesh = load_model(root / models["slat_decoder_mesh"], device, dtype, "SLatMeshDecoder")
        params = dict(sampler.get("params", {}))
        if "cfg_interval" in params:
            params["cfg_interval"] = tuple(params["cfg_interval"])
        return cls(flow, gs, mesh, params, norm, sampler.get("args", {}).get("sigma_min", 1e-5), memory)

    # -- 1. structured latent
    def initial_noise(self, num_voxels: int, generator: torch.Generator | None = None,
                      seed: int | None = None) -> torch.Tensor:
        """(N, 8) standard normal, drawn on the CPU so a seed is reproducible across devices."""
        if generator is None:
            generator = torch.Generator()
            if seed is not None:
                generator.manual_seed(int(seed))
            else:
                generator.seed()
        return torch.randn(num_voxels, self.flow.config.in_channels, generator=generator)

    @torch.no_grad()
    def sample_slat(self, coords: torch.Tensor, cond: torch.Tensor, neg_cond: torch.Tensor | None = None, *,
                    noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
                    seed: int | None = None, callback: StepCallback | None = None, record: bool = False,
                    **sampler_overrides):
        """Returns (denormalised SLat SparseTensor, FlowSample). `noise` (N, 8) overrides the generator."""
        coords = _as_coords(coords).to(self.device)
        if noise is None:
            noise = self.initial_noise(coords.shape[0], generator, seed)
        if noise.shape != (coords.shape[0], self.flow.config.in_channels):
            raise ValueError(f"noise must be ({coords.shape[0]}, {self.flow.config.in_channels}), "
                             f"got {tuple(noise.shape)}")
        cond = cond.to(self.device, self.dtype)
        if cond.dim() == 2:
            cond = cond.unsqueeze(0)
        neg_cond = torch.zeros_like(cond) if neg_cond is None else neg_cond.to(self.device, self.dtype)
        x = SparseTensor(noise.to(self.device, self.dtype), coords)

        def model(xt, t: float, c):  # the flow's time input is 1000 t
            return self.flow(xt, torch.tensor([1000.0 * t], dtype=torch.float32, device=self.device), c)

        params = {**self.sampler_params, **sampler_overrides}
        sampler = FlowEulerGuidanceIntervalSampler(float(params["cfg_strength"]), tuple(params["cfg_interval"]),
                                                   self.sigma_min)
        res = sampler.sample(model, x, cond, neg_cond, steps=int(params["steps"]), rescale_t=float(params["rescale_t"]),
                             callback=callback, record=record)
        feats = res.samples.feats.float() * self.std.to(res.samples.device) + self.mean.to(res.samples.device)
        return res.samples.replace(feats), res

    # -- 2. multiview features
    @torch.no_grad()
    def multiview_features(self, dinov2, color_views: torch.Tensor, normal_views: torch.Tensor):
        """(mv_color, mv_normal), each (1, 4, 64, 64, 4096), from (4, 3, H, W) views in [0, 1]."""
        out = []
        for views in (color_views, normal_views):
            views = views_tensor(views) if views.dim() == 4 else views
            if views.dim() == 4:
                views = views.unsqueeze(0)
            if views.shape[1] != 4 or views.shape[2] != 3:
                raise ValueError(f"expected 4 RGB views (4, 3, H, W), got {tuple(views.shape)}")
            with self.memory.on_device(dinov2):
                out.append(multiview_features(dinov2, views.to(self.device)).to(self.dtype))
        return out[0], out[1]

    # -- 3. decoders
    @torch.no_grad()
    def decode(self, slat: SparseTensor, mv_color: torch.Tensor, mv_normal: torch.Tensor, cancel=None):
        """(list of Gaussians, list of FlexiCubesMesh), one per batch item."""
        if self.decoder_gs is None or self.decoder_mesh is None:
            raise RuntimeError("this Stage2Pipeline was loaded without decoders")
        hook = (lambda i, n: cancel.raise_if_set()) if cancel is not None else None  # between decoder blocks
        slat = slat.to(self.device, self.dtype)
        gs_raw = self.decoder_gs.forward_features(slat, mv_color, mv_normal, block_hook=hook)
        gaussians = self.decoder_gs.to_gaussians(gs_raw)
        del gs_raw
        if cancel is not None:
            cancel.raise_if_set()
        mesh_raw = self.decoder_mesh.forward_features(slat, mv_color, mv_normal, block_hook=hook)
        if cancel is not None:
            cancel.raise_if_set()
        meshes = self.decoder_mesh.to_meshes(mesh_raw)
        return gaussians, meshes

    def run_from_stage1(self, stage1_result, cond: torch.Tensor, dinov2=None, **kwargs) -> Stage2Result:
        """`run` on a stage-1 result (anything with ``coords``, ``colors`` and ``normals``; views as
        stage 1 stores them: 0 front, 1 right, 2 back mirrored, 3 left mirrored, 4 face)."""
        return self.run(torch.as_tensor(stage1_result.coords), views_tensor(stage1_result.colors),
                        views_tensor(stage1_result.normals), cond, dinov2, **kwargs)

    def run(self, coords: torch.Tensor, color_views: torch.Tensor, normal_views: torch.Tensor,
            cond: torch.Tensor, dinov2=None, *, mv_color: torch.Tensor | None = None,
            mv_normal: torch.Tensor | None = None, seed: int | None = None,
            generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
            steps: int | None = None, progress: ProgressFn | None = None, progress_stage: str = "stage2",
            cancel=None, keep_device: bool = False) -> Stage2Result:
        """The whole stage for one subject.

        coords (N, 4) or (N, 3) int voxel indices at 64^3; color_views / normal_views (4, 3, H, W)
        in [0, 1] (views 0 front, 1 right, 2 back, 3 left as stage 1 stores them); cond (1, 1374, C)
        DINOv2 condition tokens (`dinov2_condition`); `dinov2` the ViT-L/14-reg model, unless
        precomputed `mv_color` / `mv_normal` feature maps are given. `progress(stage, done, total,
        message)` is called after every sampler step and sub-step; a set `cancel` token stops the
        stage at the next of these reports and between decoder blocks.
        """
        timings = {}
        n_steps = int(steps or self.sampler_params["steps"])
        total = n_steps + 3
        report = reporter(progress, cancel)
        report(progress_stage, 0, total, "sampling the structured latent")
        t0 = time.perf_counter()
        slat, _ = self.sample_slat(coords, cond, noise=noise, generator=generator, seed=seed, steps=n_steps,
                                   callback=step_callback(report, progress_stage, "structured latent step",
                                                          total=total))
        timings["slat_sampling"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if mv_color is None or mv_normal is None:
            if dinov2 is None:
                raise ValueError("pass the DINOv2 model or precomputed mv_color / mv_normal features")
            mv_color, mv_normal = self.multiview_features(dinov2, color_views, normal_views)
        timings["multiview_features"] = time.perf_counter() - t0
        report(progress_stage, n_steps + 1, total, "multiview features")

        t0 = time.perf_counter()
        gaussians, meshes = self.decode(slat, mv_color, mv_normal, cancel=cancel)
        timings["decoders_and_flexicubes"] = time.perf_counter() - t0
        report(progress_stage, n_steps + 2, total, "decoded Gaussians and mesh")

        mesh = meshes[0]
        g = gaussians[0]
        out_dev = None if keep_device else "cpu"
        if out_dev:
            g = g.to(out_dev)
        result = Stage2Result(
            slat=slat.to(out_dev) if out_dev else slat, gaussians=g,
            mesh_vertices=mesh.vertices.to(out_dev) if out_dev else mesh.vertices,
            mesh_faces=mesh.faces.to(out_dev) if out_dev else mesh.faces,
            mesh_vertex_attrs=(mesh.vertex_attrs.to(out_dev) if out_dev and mesh.vertex_attrs is not None
                               else mesh.vertex_attrs),
            timings=timings, seed=seed)
        if not result.mesh_ok:
            log.warning("stage 2 produced an empty mesh (%d voxels)", slat.coords.shape[0])
        report(progress_stage, total, total, "stage 2 done")
        return result


def views_tensor(images) -> torch.Tensor:
    """The 4 body views (front, right, back, left) as (4, 3, H, W) float32 in [0, 1], from a
    (>=4, 3, H, W) / (>=4, H, W, 3) tensor or array, or a list of (H, W, 3) / (3, H, W) images
    (e.g. stage 1's ``colors`` / ``normals``, whose 5th entry, the face view, is not used here)."""
    if isinstance(images, (list, tuple)):
        images = torch.stack([torch.as_tensor(im) for im in images[:4]])
    t = torch.as_tensor(images)[:4]
    if t.dim() != 4 or t.shape[0] != 4:
        raise ValueError(f"expected at least 4 views, got {tuple(t.shape)}")
    if t.shape[1] != 3 and t.shape[-1] == 3:
        t = t.permute(0, 3, 1, 2)
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    return t.float()


def _as_coords(coords: torch.Tensor) -> torch.Tensor:
    coords = torch.as_tensor(coords)
    if coords.dim() != 2 or coords.shape[1] not in (3, 4):
        raise ValueError(f"coords must be (N, 4) [batch, x, y, z] or (N, 3), got {tuple(coords.shape)}")
    coords = coords.round().int() if coords.is_floating_point() else coords.int()
    if coords.shape[1] == 3:
        coords = torch.cat([torch.zeros_like(coords[:, :1]), coords], 1)
    if coords.shape[0] == 0:
        raise SyncHumanError("stage2.empty", "stage 1 produced no occupied voxels",
                             "Try another photo: the subject should be a single, upright, fully visible person.")
    if int(coords[:, 1:].min()) < 0 or int(coords[:, 1:].max()) >= 64:
        raise ValueError("coords must be voxel indices of the 64^3 grid")
    return coords
