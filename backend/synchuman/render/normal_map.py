"""Tangent-space normal map of a decimated mesh, baked from the dense mesh it was made from (Embree rays).

For every texel (and its gutter) of the low mesh's atlas, rays leave the texel's surface point along ± the
interpolated normal; the nearest hit on the dense mesh within `max_distance` gives the dense, smoothly interpolated
normal. It is expressed in the low mesh's per-face tangent frame (T = dP/du, B = dP/dv with v up, both
orthonormalised against the interpolated normal), which is glTF's convention: +X right, +Y up in texture space,
+Z out of the surface. Projection charts map each chart with one linear projection, so per-face tangents agree with
the per-vertex (MikkTSpace) frames viewers derive, except across chart seams, where the gutter absorbs the difference.
"""

from __future__ import annotations

import numpy as np

from ..geometry.holes import RayScene
from ..geometry.mesh_utils import vertex_normals
from .bake import texel_surface


def face_tangent_frames(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-face dP/du and dP/dv (F,3) each, from positions and UVs."""
    p = np.asarray(vertices, dtype=np.float64)[faces]
    t = np.asarray(uv, dtype=np.float64)[faces]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    d1, d2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    det = np.where(np.abs(det) < 1e-20, 1e-20, det)[:, None]
    tangent = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) / det
    bitangent = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) / det
    return tangent, bitangent


def bake_normal_map(vertices, faces, uv, normals, dense_vertices, dense_faces, size: int, padding: int = 4,
                    max_distance: float = 0.01) -> np.ndarray:
    """(size, size, 3) uint8 tangent-space normal map (flat (128, 128, 255) where nothing is found)."""
    surface = texel_surface(vertices, faces, uv, normals, size, padding)
    dense_normals = vertex_normals(dense_vertices, dense_faces)
    scene = RayScene(dense_vertices, dense_faces)
    start = surface.position - surface.normal * max_distance
    # One ray per texel from just below the surface outwards: the first dense hit within 2*max_distance is nearest
    # to the low surface on either side (both sides lie on this one line).
    hits = scene.intersect(start, surface.normal)
    found = (hits["primID"] >= 0) & (hits["tfar"] <= 2 * max_distance)
    prim = hits["primID"][found]
    u, v = hits["u"][found, None], hits["v"][found, None]
    corner = dense_normals[np.asarray(dense_faces)[prim]]
    dense = (1 - u - v) * corner[:, 0] + u * corner[:, 1] + v * corner[:, 2]
    dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)

    tangent, bitangent = face_tangent_frames(vertices, faces, uv)
    n = surface.normal[found]
    t = tangent[surface.face[found]]
    t = t - (t * n).sum(1, keepdims=True) * n
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    b = np.cross(n, t)
    b *= np.sign((b * bitangent[surface.face[found]]).sum(1, keepdims=True) + 1e-30)   # mirrored charts
    local = np.stack([(dense * t).sum(1), (dense * b).sum(1), (dense * n).sum(1)], 1)
    # A dense normal more than 60 degrees off is another surface (mostly gutter texels reaching across a crease).
    local[local[:, 2] < 0.5] = (0.0, 0.0, 1.0)

    image = np.zeros((size, size, 3))
    image[...] = (0.0, 0.0, 1.0)
    image[surface.rows[found], surface.cols[found]] = local
    return np.clip(np.rint((image * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)
