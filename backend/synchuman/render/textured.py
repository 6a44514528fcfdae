"""Rendering a UV-textured mesh (previews, PSNR checks) and bilinear texture lookup."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .cameras import Camera, camera_clip
from .raster import interpolate, rasterize


def remap_points(image: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Bilinear samples of image (H,W[,C]) at pixel coordinates (col, row) (pixel centres at integers), clamped at
    the borders; returns (N[,C]) float32."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    count = col.size
    # cv2.remap takes 2D maps under 32767 on each side: lay the points out in rows of 1024.
    width = 1024
    padded = -(-count // width) * width
    map_x = np.zeros(padded, np.float32)
    map_y = np.zeros(padded, np.float32)
    map_x[:count], map_y[:count] = col.reshape(-1), row.reshape(-1)
    out = cv2.remap(image, map_x.reshape(-1, width), map_y.reshape(-1, width), interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape((padded,) + image.shape[2:])[:count]


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of texture (H,W,C) at uv (...,2), v up (row 0 of the texture is v = 1), clamped at borders."""
    height, width = texture.shape[:2]
    uv = np.asarray(uv, dtype=np.float32)
    out = remap_points(texture, uv[..., 0] * width - 0.5, (1.0 - uv[..., 1]) * height - 0.5)
    return out.reshape(uv.shape[:-1] + texture.shape[2:])


def render_textured(vertices, faces, uv, texture: np.ndarray, camera: "Camera | int", resolution=(768, 768),
                    background=(1.0, 1.0, 1.0), backend: str = "auto") -> np.ndarray:
    """Unlit render of a textured mesh: (H,W,3) float32 in [0,1], or (H,W,4) when `background` is None (alpha).

    vertices (V,3) z-up world; uv (V,2) v up; texture (Ht,Wt,3) uint8 or float in [0,1];
    camera: a generated view index 0..4 (orthographic, as stored) or a perspective `Camera`.
    """
    tex = np.asarray(texture)
    tex = tex.astype(np.float32) / 255.0 if tex.dtype == np.uint8 else tex.astype(np.float32)
    raster = rasterize(camera_clip(vertices, camera), faces, resolution, backend=backend)
    pixel_uv = interpolate(torch.as_tensor(np.asarray(uv), dtype=torch.float32), raster, faces)[0].numpy()
    mask = raster.mask[0].numpy()
    colour = sample_texture(tex[..., :3], pixel_uv)
    if background is None:
        return np.concatenate([colour * mask[..., None], mask[..., None].astype(np.float32)], -1)
    out = np.empty_like(colour)
    out[:] = np.asarray(background, dtype=np.float32)
    out[mask] = colour[mask]
    return out
