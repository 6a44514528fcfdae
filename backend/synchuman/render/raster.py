"""`rasterize` and `interpolate`: one interface over the CPU rasteriser and the nvdiffrast adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import contextlib

import numpy as np
import torch

from . import cpu_raster, nvdiffrast_backend

BACKENDS = ("auto", "cpu", "nvdiffrast")


@dataclass
class Raster:
    """Per-pixel rasterisation result of B views at (H, W).

    triangle_id (B,H,W) int64, -1 where empty; bary (B,H,W,2) float32: nvdiffrast's (u, v), the perspective-correct
    weights of each triangle's 2nd and 3rd vertex; depth (B,H,W) float32 z/w in NDC; mask (B,H,W) bool.
    `clip` (B,V,4) keeps the positions so attribute derivatives can be computed later; `native` holds the
    nvdiffrast buffers when that backend made the raster.
    """

    triangle_id: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    clip: torch.Tensor
    backend: str
    native: Any = None

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.triangle_id.shape[1]), int(self.triangle_id.shape[2])


def _as_tensor(value, dtype) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(dtype)
    return torch.as_tensor(np.ascontiguousarray(value), dtype=dtype)


@contextlib.contextmanager
def one_torch_thread():
    """The CPU rasteriser's (and the opt bake's) tensor ops are small and memory-bound: on a busy 2-core machine
    intra-op threads made them 2-6x slower (measured), so they run on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def choose_backend(backend: str = "auto") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown raster backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        return "nvdiffrast" if nvdiffrast_backend.available() else "cpu"
    return backend


def rasterize(clip_positions, faces, resolution: tuple[int, int], backend: str = "auto") -> Raster:
    """Rasterise triangles given in clip space; see the package docstring for conventions."""
    clip = _as_tensor(clip_positions, torch.float64)
    if clip.dim() == 2:
        clip = clip[None]
    if clip.dim() != 3 or clip.shape[-1] != 4:
        raise ValueError(f"clip positions must be (B,V,4) or (V,4), got {tuple(clip.shape)}")
    tri = _as_tensor(faces, torch.int64).reshape(-1, 3)
    height, width = int(resolution[0]), int(resolution[1])
    chosen = choose_backend(backend)
    if chosen == "nvdiffrast":
        return nvdiffrast_backend.rasterize(clip, tri, height, width, Raster)
    ids, bary, depth = [], [], []
    with one_torch_thread():
        for view in clip:
            t, b, d = cpu_raster.rasterize_one(view, tri, height, width)
            ids.append(t)
            bary.append(b)
            depth.append(d)
    triangle_id = torch.stack(ids)
    return Raster(triangle_id, torch.stack(bary), torch.stack(depth), triangle_id >= 0, clip, "cpu")


def interpolate(attributes, raster: Raster, faces, with_derivatives: bool = False):
    """Barycentric interpolation of per-vertex attributes (V,C) or (B,V,C) -> (B,H,W,C), zero where empty.

    With derivatives, also returns (B,H,W,C,2): d/dx (along columns) and d/dy (along rows), per pixel.
    """
    attr = _as_tensor(attributes, torch.float32)
    tri = _as_tensor(faces, torch.int64).reshape(-1, 3)
    batch = raster.triangle_id.shape[0]
    if attr.dim() == 2:
        attr = attr[None].expand(batch, -1, -1)
    if raster.backend == "nvdiffrast":
        return nvdiffrast_backend.interpolate(attr, raster, tri, with_derivatives)
    height, width = raster.resolution
    channels = attr.shape[-1]
    out = torch.zeros(batch, height * width, channels, dtype=torch.float32)
    grads = torch.zeros(batch, height * width, channels, 2, dtype=torch.float32) if with_derivatives else None
    with one_torch_thread():
        for b in range(batch):
            _interpolate_view(attr[b], raster, tri, b, out[b], grads[b] if with_derivatives else None)
    out = out.view(batch, height, width, channels)
    if with_derivatives:
        return out, grads.view(batch, height, width, channels, 2)
    return out


def _interpolate_view(attr, raster: Raster, tri, b: int, out, grads) -> None:
    """Fills out (H*W,C) [and grads (H*W,C,2)] for view b."""
    height, width = raster.resolution
    flat = raster.triangle_id[b].reshape(-1)
    pixel = torch.nonzero(flat >= 0).squeeze(1)
    face = flat[pixel]
    corners = attr[tri[face]]                                            # (N,3,C)
    uv = raster.bary[b].reshape(-1, 2)[pixel]
    weights = torch.cat([1.0 - uv.sum(1, keepdim=True), uv], 1)
    out[pixel] = (weights[..., None] * corners).sum(1)
    if grads is not None:
        setup = cpu_raster.face_setup(raster.clip[b], tri, height, width)
        lam = cpu_raster.screen_barycentrics(setup, face, pixel % width, pixel // width)
        dbary = cpu_raster.barycentric_derivatives(setup, face, lam).to(torch.float32)   # (N,3,2)
        grads[pixel] = torch.einsum("nkc,nkd->ncd", corners, dbary)
