"""The 4 + 1 generated views of a test mesh, for baking tests: colours from a 3D colour field and
normal maps, rendered with our rasteriser in the reference's orthographic conventions, white
background (as the generated views have)."""

from __future__ import annotations

import numpy as np

from synchuman.geometry.mesh_utils import vertex_normals
from synchuman.render import interpolate, orthographic_clip, rasterize


def render_views(vertices, faces, colour_field, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(colours, normal maps), each float32 (5, res, res, 3) in [0, 1]."""
    normals = vertex_normals(vertices, faces)
    colors, normal_maps = [], []
    for view in range(5):
        raster = rasterize(orthographic_clip(vertices, view), faces, (res, res))
        mask = raster.mask[0].numpy()[..., None]
        position = interpolate(vertices, raster, faces)[0].numpy().reshape(-1, 3)
        colors.append(np.where(mask, colour_field(position).reshape(res, res, 3), 1.0))
        n = interpolate(normals, raster, faces)[0].numpy()
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
        normal_maps.append(np.where(mask, 0.5 * (n + 1), 1.0))
    return np.stack(colors).astype(np.float32), np.stack(normal_maps).astype(np.float32)
