"""The interim texture of any closed mesh in photo pixels: the front and back charts of texture.py.

A face whose normal points towards the camera takes the front chart (the photo), any other the
back chart (the fill seen from behind); a vertex used by faces of both sides is stored once per
chart (a UV seam), so the GLB's vertices are the closed mesh's with those duplicated.
"""

from __future__ import annotations

import numpy as np

from . import texture as T
from .silhouette import Silhouette


def chart_texture(closed_px: np.ndarray, closed: np.ndarray, faces: np.ndarray, sil: Silhouette,
                  front: np.ndarray, back: np.ndarray, size: int):
    """-> (GLB vertices, GLB faces, uv, texture, closed-vertex index of each GLB vertex).
    `closed_px` and `closed` are the same vertices in photo pixels and in the output frame (+z
    towards the camera); `front`/`back` are box-sized colour images (texture.py)."""
    atlas = T.layout(sil.box, size)
    texture = T.bake(atlas, front, back)
    a, b, c = closed[faces[:, 0]], closed[faces[:, 1]], closed[faces[:, 2]]
    facing_back = np.cross(b - a, c - a)[:, 2] <= 0
    keys, inverse = np.unique(faces * 2 + facing_back[:, None], return_inverse=True)
    vid, on_back = keys // 2, keys % 2 == 1
    uv = np.empty((len(keys), 2))
    # parts outside the person's box (completed beyond the photo's frame) take its edge colours
    u = np.clip(closed_px[vid, 0], sil.box[0], sil.box[2] - 1)
    v = np.clip(closed_px[vid, 1], sil.box[1], sil.box[3] - 1)
    for side in (False, True):
        sel = on_back == side
        uv[sel] = atlas.uv(u[sel], v[sel], back=side)
    return closed[vid], inverse.reshape(-1, 3), uv, texture, vid
