"""Which faces of a closed mesh the photo sees, and which a camera behind the person would see.

The mesh is in photo pixels (u right, v down, z towards the camera). It is rasterised twice over the
person's box at a working scale, from the front (depth z) and from behind (depth -z), with the CPU
rasteriser. A vertex passes a view's depth test when no surface lies clearly in front of it there
(within `tolerance` pixels of depth, against the farthest of the 3x3 depth samples around it, so a
vertex on its own surface's edge passes). A face is *front-visible* when it faces the camera and its
three vertices pass the front test: only those take the photo's pixels, so a torso behind a crossed
arm never receives the arm. *Back-visible* faces face away and pass the test from behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .raster import rasterize

_FAR = -1e9   # depth of empty pixels: anything passes against it


@dataclass
class Visibility:
    front: np.ndarray        # (F,) bool: faces the camera and not hidden
    back: np.ndarray         # (F,) bool: faces away and not hidden from behind
    facing: np.ndarray       # (F,) bool: faces the camera
    front_tri: np.ndarray    # (h, w) int32 nearest face from the front, -1 where empty (working scale)
    back_tri: np.ndarray     # (h, w) the same from behind, in the same (unmirrored) image frame (if tested)
    scale: float             # working pixels per photo pixel
    box: tuple[int, int, int, int]

    def to_work(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Photo coordinates -> working-image coordinates (pixel centres at integers)."""
        return (np.asarray(u) - self.box[0] + 0.5) * self.scale - 0.5, (np.asarray(v) - self.box[1] + 0.5) * self.scale - 0.5


def signed_area(xy: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Twice the signed screen area of each face; < 0 means it faces the camera (v points down)."""
    p = xy[faces].astype(np.float64)
    return ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
            - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))


def _depth_map(tri: np.ndarray, bary: np.ndarray, faces: np.ndarray, depth: np.ndarray) -> np.ndarray:
    out = np.full(tri.shape, _FAR, np.float32)
    hit = tri >= 0
    out[hit] = (depth[faces[tri[hit]]] * bary[hit]).sum(-1)
    return out


def _passes(depth_map: np.ndarray, x: np.ndarray, y: np.ndarray, depth: np.ndarray, tolerance: float) -> np.ndarray:
    h, w = depth_map.shape
    farthest = cv2.erode(depth_map, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=_FAR)
    j, i = np.round(x).astype(np.int64), np.round(y).astype(np.int64)
    inside = (j >= 0) & (j < w) & (i >= 0) & (i < h)
    ok = np.ones(len(depth), bool)   # beyond the box (and the photo) nothing is known to hide a vertex
    ok[inside] = depth[inside] >= farthest[i[inside], j[inside]] - tolerance
    return ok


def visible_faces(verts_px: np.ndarray, faces: np.ndarray, box: tuple[int, int, int, int], height_px: float,
                  work_height: int = 512, behind: bool = True, tick=None) -> Visibility:
    """Front and back visibility of every face; the mesh's `verts_px` (V, 3) lie inside `box`. Without
    `behind`, only the front is tested (`back` then marks every face that faces away)."""
    u0, v0, u1, v1 = box
    s = min(1.0, work_height / max(v1 - v0, 1))
    w, h = max(2, int(np.ceil((u1 - u0) * s))), max(2, int(np.ceil((v1 - v0) * s)))
    vis = Visibility(np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0), np.zeros(0), s, box)
    x, y = vis.to_work(verts_px[:, 0], verts_px[:, 1])
    z = np.asarray(verts_px[:, 2], np.float64)
    xy = np.column_stack([x, y])
    facing = signed_area(xy, faces) < 0
    # a crossed arm lies a few percent of the height in front of the torso; curvature within one
    # face is far less
    tolerance = max(1.5, 0.008 * height_px)
    tri_f, bary_f = rasterize(xy, z, faces, h, w, cull_back=True)
    if tick:
        tick(1, 2)
    ok_f = _passes(_depth_map(tri_f, bary_f, faces, z), x, y, z, tolerance)
    vis.front, vis.back, vis.facing, vis.front_tri = facing & ok_f[faces].all(1), ~facing, facing, tri_f
    if behind:   # mirror left-right (which also restores the winding of faces that face away)
        tri_b, bary_b = rasterize(np.column_stack([w - 1 - x, y]), -z, faces, h, w, cull_back=True)
        tri_b, bary_b = tri_b[:, ::-1], bary_b[:, ::-1]
        ok_b = _passes(_depth_map(tri_b, bary_b, faces, -z), x, y, -z, tolerance)
        vis.back = ~facing & ok_b[faces].all(1)
        vis.back_tri = np.ascontiguousarray(tri_b)
    if tick:
        tick(2, 2)
    return vis
