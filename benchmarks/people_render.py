"""A numpy z-buffer rasteriser and a pinhole/orthographic camera for the clothed-people benchmark.

Triangles are binned by the size of their pixel bounding box; each bin is tested on a fixed stamp of
candidate pixels at once, and the nearest one wins through one `np.minimum.at` on a 64-bit key
(float32 depth bits above the triangle id). Back faces are culled: every mesh here is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EMPTY = np.iinfo(np.int64).max
_CHUNK = 1 << 21     # candidate pixels per batch


@dataclass
class Camera:
    """World -> image. Camera space: x right, y up, looking along -z; image v grows downwards."""
    rotation: np.ndarray     # (3,3) world -> camera
    eye: np.ndarray          # camera centre in world (orthographic: any point on the axis)
    focal: float             # pixels per unit of x/depth (perspective) or per metre (orthographic)
    centre: tuple[float, float]
    size: tuple[int, int]    # (width, height)
    orthographic: bool = False

    @classmethod
    def look_at(cls, eye, target, focal, size, orthographic=False) -> "Camera":
        eye, target = np.asarray(eye, float), np.asarray(target, float)
        back = eye - target
        back /= np.linalg.norm(back)
        right = np.cross([0.0, 1.0, 0.0], back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        return cls(np.stack([right, up, back]), eye, float(focal), (size[0] / 2, size[1] / 2), size, orthographic)

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, float) - self.eye) @ self.rotation.T

    def project(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image (u, v) in pixels (pixel centres at integer + 0.5) and depth along the view axis."""
        c = self.to_camera(p)
        depth = -c[:, 2]
        scale = self.focal if self.orthographic else self.focal / np.maximum(depth, 1e-6)
        uv = np.stack([self.centre[0] + c[:, 0] * scale, self.centre[1] - c[:, 1] * scale], 1)
        return uv, depth

    def rays(self, ss: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """World origins and unit directions through every (sub)pixel centre, (H*ss, W*ss, 3) each."""
        w, h = self.size
        u = (np.arange(w * ss) + 0.5) / ss
        v = (np.arange(h * ss) + 0.5) / ss
        x = (u[None, :] - self.centre[0]) / self.focal
        y = (self.centre[1] - v[:, None]) / self.focal
        x, y = np.broadcast_arrays(x, y)
        R = self.rotation
        if self.orthographic:
            origin = self.eye + x[..., None] * R[0] + y[..., None] * R[1]
            return origin, np.broadcast_to(-R[2], origin.shape)
        d = x[..., None] * R[0] + y[..., None] * R[1] - R[2]
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        return np.broadcast_to(self.eye, d.shape), d

    def scaled(self, ss: int) -> "Camera":
        return Camera(self.rotation, self.eye, self.focal * ss, (self.centre[0] * ss, self.centre[1] * ss),
                      (self.size[0] * ss, self.size[1] * ss), self.orthographic)

    def as_dict(self) -> dict:
        return {"rotation_world_to_camera": self.rotation.tolist(), "eye": self.eye.tolist(), "focal_px": self.focal,
                "centre_px": list(self.centre), "size": list(self.size), "orthographic": self.orthographic}


@dataclass
class Raster:
    face: np.ndarray     # (H,W) int64, -1 where empty
    bary: np.ndarray     # (H,W,3) perspective-correct barycentrics
    depth: np.ndarray    # (H,W) float, inf where empty


def rasterize(camera: Camera, vertices: np.ndarray, faces: np.ndarray) -> Raster:
    w, h = camera.size
    uv, depth = camera.project(vertices)
    tri = uv[faces]                                      # (F,3,2)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = (area < 0) & np.all(depth[faces] > 1e-4, axis=1)   # counter-clockwise in the world is area < 0 (v down)
    lo = np.floor(tri.min(1) - 0.5).astype(np.int64) + 1
    hi = np.floor(tri.max(1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [w - 1, h - 1])
    ok &= np.all(hi >= lo, axis=1)
    ids = np.nonzero(ok)[0]
    extent = (hi[ids] - lo[ids]).max(1) + 1
    cls = np.ceil(np.log2(np.maximum(extent, 1))).astype(int)
    zkey = np.full(w * h, _EMPTY, np.int64)
    inv = 1.0 / depth if not camera.orthographic else depth
    for c in np.unique(cls):
        size = 1 << int(c)
        oy, ox = np.divmod(np.arange(size * size), size)
        members = ids[cls == c]
        step = max(1, _CHUNK // (size * size))
        for s0 in range(0, len(members), step):
            f = members[s0:s0 + step]
            px = lo[f, 0][:, None] + ox[None]
            py = lo[f, 1][:, None] + oy[None]
            valid = (px <= hi[f, 0][:, None]) & (py <= hi[f, 1][:, None])
            lam = _barycentrics(tri[f], px + 0.5, py + 0.5, area[f])
            inside = valid & (lam >= 0).all(-1)
            fi, ci = np.nonzero(inside)
            l = lam[fi, ci]
            z = (l * inv[faces[f[fi]]]).sum(1)
            d = z if camera.orthographic else 1.0 / z
            key = (d.astype(np.float32).view(np.int32).astype(np.int64) << 32) | f[fi]
            np.minimum.at(zkey, py[fi, ci] * w + px[fi, ci], key)
    hit = zkey != _EMPTY
    face = np.where(hit, zkey & 0xFFFFFFFF, -1)
    pix = np.nonzero(hit)[0]
    py, px = np.divmod(pix, w)
    fsel = face[pix]
    lam = _barycentrics(tri[fsel], (px + 0.5)[:, None], (py + 0.5)[:, None], area[fsel])[:, 0]
    if not camera.orthographic:
        lam = lam * inv[faces[fsel]]
        lam /= lam.sum(1, keepdims=True)
    bary = np.zeros((w * h, 3))
    bary[pix] = lam
    dmap = np.full(w * h, np.inf)
    dmap[pix] = (lam * depth[faces[fsel]]).sum(1)
    return Raster(face.reshape(h, w), bary.reshape(h, w, 3), dmap.reshape(h, w))


def _barycentrics(tri: np.ndarray, px, py, area) -> np.ndarray:
    """tri (N,3,2); px, py (N,K) -> (N,K,3)."""
    x0, y0 = tri[:, 0, 0][:, None], tri[:, 0, 1][:, None]
    x1, y1 = tri[:, 1, 0][:, None], tri[:, 1, 1][:, None]
    x2, y2 = tri[:, 2, 0][:, None], tri[:, 2, 1][:, None]
    a = area[:, None]
    l1 = ((px - x0) * (y2 - y0) - (py - y0) * (x2 - x0)) / a
    l2 = ((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)) / a
    return np.stack([1.0 - l1 - l2, l1, l2], -1)


def interpolate(raster: Raster, faces: np.ndarray, attr: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Per-vertex attribute (V,C) at the pixels `where` (bool (H,W))."""
    f = faces[raster.face[where]]
    return np.einsum("nk,nkc->nc", raster.bary[where], attr[f])


def nearest_vertex(raster: Raster, faces: np.ndarray, where: np.ndarray) -> np.ndarray:
    f = faces[raster.face[where]]
    return f[np.arange(len(f)), raster.bary[where].argmax(1)]
