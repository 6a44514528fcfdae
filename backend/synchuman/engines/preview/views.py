"""Orthographic views of a textured mesh from the front, the side and the back (unlit base colour),
rendered with the preview engine's own rasteriser.

Points are in photo pixels (u right, v down, z towards the camera). The front view is framed like
the photo; the side view looks from the person's left (+X in the GLB, the photo's right: the person
faces the image's left) and the back view from behind (the person's left on the image's left), each
framed on the mesh with a margin, at the front view's scale (up to `max_side`).
"""

from __future__ import annotations

import numpy as np

from .raster import rasterize, shade_textured

VIEWS = ("front", "side", "back")
MARGIN = 0.05   # of the mesh's extent, around side and back views


def view_coordinates(points_px: np.ndarray, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Screen (x right, y down) and depth (larger = nearer) of photo-frame points seen from `view`.
    Each is a proper rotation of the photo frame, so the winding (and back-face culling) holds."""
    u, v, z = points_px[:, 0], points_px[:, 1], points_px[:, 2]
    if view == "front":
        return np.column_stack([u, v]), z
    if view == "side":
        return np.column_stack([-z, v]), u
    if view == "back":
        return np.column_stack([-u, v]), -z
    raise ValueError(f"unknown view {view!r}; choose from {VIEWS}")


def render_view(points_px: np.ndarray, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray, view: str,
                photo_size: tuple[int, int] | None = None, max_side: int = 1024, background=(235, 235, 235),
                tick=None) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, coverage). With `photo_size` (W, H), the front view is framed like the photo, and the
    others share its scale (so the views compare) unless that leaves `max_side`."""
    xy, depth = view_coordinates(points_px, view)
    r = 1.0 if photo_size is None else min(1.0, max_side / max(photo_size))
    if view == "front" and photo_size is not None:
        W, H = photo_size
        origin = np.zeros(2)
    else:
        lo, hi = xy.min(0), xy.max(0)
        pad = MARGIN * float((hi - lo).max())
        origin = lo - pad
        W, H = (int(np.ceil(e)) for e in (hi - lo + 2 * pad))
    r = min(r, max_side / max(W, H))
    w, h = max(1, round(W * r)), max(1, round(H * r))
    screen = (xy - origin + 0.5) * np.array([w / W, h / H]) - 0.5
    tri, bary = rasterize(screen, depth, faces, h, w, tick=tick)
    return shade_textured(tri, bary, faces, uv, texture, background), tri >= 0
