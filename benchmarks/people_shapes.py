"""Signed-distance shapes for the clothed-people benchmark, and their meshing by marching cubes.

A `Shape` is a signed distance (negative inside, metres) with a bounding box and a label. A `Group`
smooth-unions shapes (skin over bones); groups are then hard-unioned, so a skirt never melts into the
legs it covers. Distances are exact on the zero set and approximate away from it, which is all
marching cubes and the occlusion estimate need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FAR = 0.25   # field value outside every bounding box: only its sign matters there
NEAR = 0.05  # distances are exact up to this far from a surface


def _v(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: blends within k metres, exact min beyond."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


@dataclass
class Shape:
    fn: Callable[[np.ndarray], np.ndarray]   # (N,3) -> (N,)
    lo: np.ndarray
    hi: np.ndarray
    label: int

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return self.fn(p)


def round_cone(a, b, ra: float, rb: float, label: int) -> Shape:
    """A capsule whose radius goes linearly from ra at a to rb at b (a limb segment)."""
    a, b = _v(a), _v(b)
    ab = b - a
    ll = max(float(ab @ ab), 1e-12)

    def fn(p):
        t = np.clip((p - a) @ ab / ll, 0.0, 1.0)
        return np.linalg.norm(p - (a + t[:, None] * ab), axis=1) - (ra + t * (rb - ra))
    r = max(ra, rb)
    return Shape(fn, np.minimum(a, b) - r, np.maximum(a, b) + r, label)


def frame_from(forward, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Rotation whose columns are (side, up', forward): local z along `forward`."""
    f = _v(forward) / np.linalg.norm(forward)
    u = _v(up) - f * (f @ _v(up))
    if np.linalg.norm(u) < 1e-6:
        u = np.array([0.0, 0.0, 1.0]) - f * f[2]
    u /= np.linalg.norm(u)
    return np.stack([np.cross(u, f), u, f], 1)


def ellipsoid(c, r, label: int, rot: np.ndarray | None = None) -> Shape:
    """Ellipsoid with radii r along the columns of rot (axis-aligned without it)."""
    c, r = _v(c), _v(r)
    R = np.eye(3) if rot is None else _v(rot)

    def fn(p):
        q = (p - c) @ R
        k0 = np.linalg.norm(q / r, axis=1)
        k1 = np.linalg.norm(q / (r * r), axis=1)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)
    ext = np.abs(R) @ r
    return Shape(fn, c - ext, c + ext, label)


def rounded_box(c, half, label: int, rot: np.ndarray | None = None, rounding: float = 0.0) -> Shape:
    c, half = _v(c), _v(half)
    R = np.eye(3) if rot is None else _v(rot)
    inner = half - rounding

    def fn(p):
        q = np.abs((p - c) @ R) - inner
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(1), 0.0) - rounding
    ext = np.abs(R) @ half
    return Shape(fn, c - ext, c + ext, label)


def flared_tube(y_top: float, y_bottom: float, r_top, r_bottom, label: int, centre=(0.0, 0.0),
                solid: bool = True, thickness: float = 0.012) -> Shape:
    """A vertical elliptic frustum (a skirt, a coat's lower part); r_* = (rx, rz). Hollow shells have
    `thickness`; the caps are flat."""
    r_top, r_bottom = _v(r_top), _v(r_bottom)
    cx, cz = centre

    def fn(p):
        t = np.clip((y_top - p[:, 1]) / (y_top - y_bottom), 0.0, 1.0)
        rx = r_top[0] + t * (r_bottom[0] - r_top[0])
        rz = r_top[1] + t * (r_bottom[1] - r_top[1])
        e = np.hypot((p[:, 0] - cx) / rx, (p[:, 2] - cz) / rz)
        radial = (e - 1.0) * np.minimum(rx, rz)
        if not solid:
            radial = np.abs(radial + thickness / 2) - thickness / 2
        vertical = np.maximum(p[:, 1] - y_top, y_bottom - p[:, 1])
        return np.maximum(radial, vertical)
    rmax = max(r_top.max(), r_bottom.max())
    return Shape(fn, np.array([cx - rmax, y_bottom, cz - rmax]), np.array([cx + rmax, y_top, cz + rmax]), label)


def carve(shape: Shape, cutter: Callable[[np.ndarray], np.ndarray]) -> Shape:
    """shape minus the region where cutter < 0 (an opening: a coat's front, a hood's face)."""
    return Shape(lambda p: np.maximum(shape.fn(p), -cutter(p)), shape.lo, shape.hi, shape.label)


def shell(shape: Shape, gap: float, thickness: float, label: int) -> Shape:
    """A layer `thickness` thick, `gap` outside `shape` (a hood around a head)."""
    mid, half = gap + thickness / 2, thickness / 2
    pad = gap + thickness
    return Shape(lambda p: np.abs(shape.fn(p) - mid) - half, shape.lo - pad, shape.hi + pad, label)


@dataclass
class Group:
    """Shapes smooth-unioned with blend radius k (k = 0: a hard union)."""
    shapes: list[Shape] = field(default_factory=list)
    k: float = 0.0

    def add(self, *shapes: Shape) -> "Group":
        self.shapes.extend(shapes)
        return self

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.min([s.lo for s in self.shapes], 0) - self.k, np.max([s.hi for s in self.shapes], 0) + self.k)

    def _near(self, s: Shape, p: np.ndarray) -> np.ndarray:
        """Indices of points close enough to s's box to feel it (exact within NEAR of the surface)."""
        m = self.k + NEAR
        lo, hi = s.lo - m, s.hi + m
        i = np.nonzero((p[:, 1] >= lo[1]) & (p[:, 1] <= hi[1]))[0]
        q = p[i]
        return i[(q[:, 0] >= lo[0]) & (q[:, 0] <= hi[0]) & (q[:, 2] >= lo[2]) & (q[:, 2] <= hi[2])]

    def distance(self, p: np.ndarray) -> np.ndarray:
        d = np.full(len(p), FAR)
        for s in self.shapes:
            i = self._near(s, p)
            if len(i):
                d[i] = smin(d[i], s(p[i]), self.k)
        return d

    def labels(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Label of the nearest member shape, and that shape's own distance."""
        best = np.full(len(p), FAR)
        lab = np.zeros(len(p), np.int32)
        for s in self.shapes:
            i = self._near(s, p)
            d = s(p[i])
            win = d < best[i]
            best[i[win]], lab[i[win]] = d[win], s.label
        return lab, best


def union_distance(groups: list[Group], p: np.ndarray) -> np.ndarray:
    return np.min([g.distance(p) for g in groups], axis=0)


def union_labels(groups: list[Group], p: np.ndarray) -> np.ndarray:
    """Per point: the label from the group whose surface is nearest (the outermost layer there)."""
    dist = np.stack([g.distance(p) for g in groups])
    owner = np.argmin(dist, axis=0)
    lab = np.zeros(len(p), np.int32)
    for i, g in enumerate(groups):
        sel = owner == i
        if sel.any():
            lab[sel] = g.labels(p[sel])[0]
    return lab


def _grid_field(groups: list[Group], lo: np.ndarray, shape: tuple[int, int, int], step: float) -> np.ndarray:
    """The union's distance on a grid, each shape evaluated only inside its own box."""
    axes = [lo[i] + step * np.arange(shape[i]) for i in range(3)]
    field_ = np.full(shape, FAR, np.float64)
    for g in groups:
        gfield = np.full(shape, FAR, np.float64)
        for s in g.shapes:
            i0 = np.clip(np.floor((s.lo - g.k - lo) / step).astype(int), 0, shape)
            i1 = np.clip(np.ceil((s.hi + g.k - lo) / step).astype(int) + 1, 0, shape)
            if np.any(i1 <= i0):
                continue
            sub = np.stack(np.meshgrid(*[axes[i][i0[i]:i1[i]] for i in range(3)], indexing="ij"), -1)
            view = gfield[i0[0]:i1[0], i0[1]:i1[1], i0[2]:i1[2]]
            d = s(sub.reshape(-1, 3)).reshape(view.shape)
            view[...] = smin(view, d, g.k)
        field_ = np.minimum(field_, gfield)
    return field_


@dataclass
class Mesh:
    vertices: np.ndarray   # (V,3) float
    faces: np.ndarray      # (F,3) int, counter-clockwise seen from outside
    normals: np.ndarray    # (V,3) unit, outward
    labels: np.ndarray     # (V,) int


def mesh_groups(groups: list[Group], step: float = 0.008) -> Mesh:
    """Marching cubes of the union of groups; normals from the field's gradient on the grid."""
    from skimage.measure import marching_cubes

    lo = np.min([g.bounds()[0] for g in groups], 0) - 2 * step
    hi = np.max([g.bounds()[1] for g in groups], 0) + 2 * step
    shape = tuple(int(n) for n in np.ceil((hi - lo) / step).astype(int) + 1)
    field_ = _grid_field(groups, lo, shape, step)
    field_[[0, -1], :, :] = field_[:, [0, -1], :] = FAR   # closed at the grid's edge
    field_[:, :, [0, -1]] = FAR
    verts, faces, normals, _ = marching_cubes(field_.astype(np.float32), 0.0, spacing=(step,) * 3)
    verts = verts.astype(np.float64) + lo
    normals = -normals.astype(np.float64)      # skimage's point down the field: flip to outward
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return Mesh(verts, faces.astype(np.int64), normals, union_labels(groups, verts))


def occlusion(groups: list[Group], p: np.ndarray, n: np.ndarray, reach=(0.02, 0.05, 0.1)) -> np.ndarray:
    """Ambient occlusion from the field: how much free space there is along the normal (1 = open)."""
    ao = np.zeros(len(p))
    for r in reach:
        ao += np.clip(union_distance(groups, p + n * r) / r, 0.0, 1.0)
    return ao / len(reach)
