"""nvdiffrast adapter: used by `rasterize(backend="auto")` when nvdiffrast imports and CUDA is present.

nvdiffrast is imported lazily (never at package import) and keeps one CUDA rasterisation context per process.
Its conventions already are this package's: row 0 is NDC y = -1, (u, v) weight the 2nd and 3rd vertex,
the third channel is z/w and the fourth is triangle id + 1.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def _module():
    try:
        import nvdiffrast.torch as dr
    except Exception:   # not installed, or installed without a working build
        return None
    return dr if torch.cuda.is_available() else None


def available() -> bool:
    return _module() is not None


def unavailable_reason() -> str:
    try:
        import nvdiffrast.torch  # noqa: F401
    except Exception as exc:
        return f"nvdiffrast does not import ({type(exc).__name__}: {exc})"
    return "" if torch.cuda.is_available() else "CUDA is not available"


@functools.lru_cache(maxsize=1)
def _context():
    return _module().RasterizeCudaContext(device="cuda")


def rasterize(clip: torch.Tensor, faces: torch.Tensor, height: int, width: int, raster_type):
    dr = _module()
    if dr is None:
        raise RuntimeError(f"the nvdiffrast backend is not usable: {unavailable_reason()}")
    pos = clip.to("cuda", torch.float32).contiguous()
    tri = faces.to("cuda", torch.int32).contiguous()
    rast, rast_db = dr.rasterize(_context(), pos, tri, (height, width), grad_db=True)
    triangle_id = rast[..., 3].round().long().cpu() - 1
    return raster_type(triangle_id=triangle_id, bary=rast[..., :2].cpu(), depth=rast[..., 2].cpu(),
                       mask=triangle_id >= 0, clip=clip, backend="nvdiffrast", native=(rast, rast_db, tri))


def interpolate(attr: torch.Tensor, raster, faces: torch.Tensor, with_derivatives: bool):
    dr = _module()
    rast, rast_db, tri = raster.native
    values = attr.to("cuda", torch.float32).contiguous()
    if not with_derivatives:
        out, _ = dr.interpolate(values, rast, tri)
        return out.cpu()
    out, derivs = dr.interpolate(values, rast, tri, rast_db=rast_db, diff_attrs="all")
    batch, height, width, _ = out.shape
    # nvdiffrast packs derivatives as (d/dx, d/dy) per attribute: (..., 2C) -> (..., C, 2)
    return out.cpu(), derivs.view(batch, height, width, -1, 2).cpu()
