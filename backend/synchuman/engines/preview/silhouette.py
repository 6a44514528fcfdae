"""Silhouette fields in image pixels: signed distance, local thickness, and the frame they live in.

Everything here is in the photo's pixel coordinates (u right, v down; pixel centres at integers),
restricted to a box around the person. The mesh and texture steps sample these fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Silhouette:
    alpha: np.ndarray        # (h, w) uint8, the person's alpha inside `box`
    mask: np.ndarray         # (h, w) bool, alpha >= 128
    phi: np.ndarray          # (h, w) float32 signed distance in pixels, > 0 inside, sub-pixel at the edge
    box: tuple[int, int, int, int]   # (u0, v0, u1, v1) in the photo; fields cover [v0, v1) x [u0, u1)
    height_px: float         # the person's extent from the top to the bottom of the mask
    area_px: int

    def sample(self, field: np.ndarray, u: np.ndarray, v: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """Bilinear samples of a box-sized field at photo coordinates (u, v)."""
        return remap_points(field, np.asarray(u, np.float32) - self.box[0], np.asarray(v, np.float32) - self.box[1],
                            outside)


def remap_points(field: np.ndarray, x: np.ndarray, y: np.ndarray, outside: float = 0.0,
                 interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Samples of `field` (h, w[, c]) at array coordinates (x = column, y = row), any shape; bilinear
    unless `interpolation` says otherwise."""
    shape = np.shape(x)
    n = int(np.prod(shape))
    cols = 1024
    rows = max(1, -(-n // cols))
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n] = np.ravel(x)
    my[:n] = np.ravel(y)
    out = cv2.remap(np.ascontiguousarray(field, dtype=np.float32), mx.reshape(rows, cols), my.reshape(rows, cols),
                    interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    extra = field.shape[2:] if field.ndim == 3 else ()
    return out.reshape((rows * cols,) + extra)[:n].reshape(tuple(shape) + extra)


def analyse(alpha_full: np.ndarray, pad: int = 8) -> Silhouette:
    """The signed distance of the person's mask around its bounding box (plus `pad` pixels)."""
    mask_full = alpha_full >= 128
    ys, xs = np.nonzero(mask_full.any(axis=1))[0], np.nonzero(mask_full.any(axis=0))[0]
    H, W = mask_full.shape
    u0, u1 = int(xs[0]) - pad, int(xs[-1]) + 1 + pad
    v0, v1 = int(ys[0]) - pad, int(ys[-1]) + 1 + pad
    # outside the photo counts as background, so a person cut by the frame still has a closed contour
    src = np.ascontiguousarray(alpha_full[max(v0, 0):min(v1, H), max(u0, 0):min(u1, W)])
    alpha = cv2.copyMakeBorder(src, max(0, -v0), max(0, v1 - H), max(0, -u0), max(0, u1 - W),
                               cv2.BORDER_CONSTANT, value=0)
    mask = alpha >= 128
    m8 = mask.astype(np.uint8)
    d_in = cv2.distanceTransform(m8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - m8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    phi = d_in - d_out     # +-1 at the pixels next to the edge: the zero crossing sits halfway
    # sub-pixel edge from the soft alpha: the pixels on either side of the edge get 2*alpha - 1
    edge = np.abs(phi) <= 1.0
    a = alpha.astype(np.float32) / 255.0
    soft = np.where(mask, np.maximum(2 * a - 1, 0.02), np.minimum(2 * a - 1, -0.02))
    phi = np.where(edge, soft, phi).astype(np.float32)
    # a light blur removes the staircase of a pixel mask (a distance field is nearly linear across
    # the edge, so the zero crossing hardly moves)
    phi = cv2.GaussianBlur(phi, (0, 0), 0.8)
    rows = np.nonzero(mask.any(axis=1))[0]
    return Silhouette(alpha=alpha, mask=mask, phi=phi, box=(int(u0), int(v0), int(u1), int(v1)),
                      height_px=float(rows[-1] - rows[0] + 1), area_px=int(mask.sum()))


def local_thickness(sil: Silhouette, max_side: int = 200) -> np.ndarray:
    """R(x): the radius of the largest disc inside the silhouette that contains x (pixels, box-sized).

    Computed at reduced resolution with one distance transform per radius level, then smoothed
    (normalised convolution inside the mask) so that depth changes gently where a limb meets the torso.
    """
    h, w = sil.mask.shape
    s = min(1.0, max_side / max(h, w))
    sh, sw = max(4, round(h * s)), max(4, round(w * s))
    small = cv2.resize(sil.mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0
    small8 = small.astype(np.uint8)
    dt = cv2.distanceTransform(small8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    top = float(dt.max())
    R = np.where(small, 0.5, 0.0).astype(np.float32)
    if top > 0.5:
        levels = np.unique(np.round(np.geomspace(0.75, top, 18), 3))
        for r in levels:
            core = (dt >= r).astype(np.uint8)
            if not core.any():
                break
            reach = cv2.distanceTransform(1 - core, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            R[(reach <= r) & small] = r
    R = np.maximum(R, dt)
    sigma = max(0.7, 0.005 * sil.height_px * s)
    num = cv2.GaussianBlur(R * small, (0, 0), sigma)
    den = cv2.GaussianBlur(small.astype(np.float32), (0, 0), sigma)
    R = np.where(den > 1e-3, num / np.maximum(den, 1e-3), R)
    R = cv2.resize(R, (w, h), interpolation=cv2.INTER_LINEAR) / s
    return R.astype(np.float32)


@dataclass
class Inflation:
    """A smooth "pressure" field over the silhouette: the solution f of the Poisson equation
    laplacian(f) = -1 with f = 0 on the contour, solved on a coarse grid. sqrt(2 f) is exactly a
    circle's profile across a long part of any width, and f is smooth everywhere inside (no crease
    along the medial axis, no steps where parts meet)."""

    f: np.ndarray        # (sh, sw) coarse f, extended linearly outside the coarse mask
    grad: np.ndarray     # (sh, sw) |grad f|, the slope at the contour
    dist: np.ndarray     # (sh, sw) signed distance of the coarse grid (full-resolution pixels)
    scale: float         # coarse pixels per photo pixel
    box: tuple[int, int, int, int]

    def at(self, u: np.ndarray, v: np.ndarray, d_exact: np.ndarray) -> np.ndarray:
        """f at photo points, corrected to the exact contour: f + |grad f| (d_exact - d_coarse)."""
        x = (np.asarray(u) - self.box[0] + 0.5) * self.scale - 0.5
        y = (np.asarray(v) - self.box[1] + 0.5) * self.scale - 0.5
        # bicubic: bilinear f has kinks along the coarse grid that show up in the shading
        f = remap_points(self.f, x, y, interpolation=cv2.INTER_CUBIC)
        g = remap_points(self.grad, x, y)
        d = remap_points(self.dist, x, y)
        # the correction matters only near the contour; further in, the two distance fields differ by
        # pixel-scale ripples that would show in the shading
        near = np.clip(1.0 - np.maximum(d, 0.0) * self.scale / 4.0, 0.0, 1.0)
        return np.maximum(f + near * g * (d_exact - d), 0.0)


def inflation_field(sil: Silhouette, max_side: int = 256) -> Inflation:
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    h, w = sil.mask.shape
    s = min(1.0, max_side / max(h, w))
    sh, sw = max(4, round(h * s)), max(4, round(w * s))
    sx, sy = sw / w, sh / h
    m = cv2.resize(sil.alpha, (sw, sh), interpolation=cv2.INTER_AREA) >= 128
    m[0], m[-1], m[:, 0], m[:, -1] = False, False, False, False
    m8 = m.astype(np.uint8)
    step = 1.0 / s                       # one coarse pixel in photo pixels
    dist = (cv2.distanceTransform(m8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            - cv2.distanceTransform(1 - m8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)) * step
    idx = -np.ones((sh, sw), np.int64)
    n = int(m.sum())
    idx[m] = np.arange(n)
    f = np.zeros((sh, sw), np.float64)
    if n:
        rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
        ii, jj = np.nonzero(m)
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nb = idx[ii + di, jj + dj]
            ok = nb >= 0
            rows.append(idx[ii[ok], jj[ok]])
            cols.append(nb[ok])
            vals.append(np.full(int(ok.sum()), -1.0))
        A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
        f[m] = spsolve(A, np.full(n, step * step))
    gy, gx = np.gradient(f, step)
    grad = np.hypot(gx, gy)
    # the slope at the contour, taken from just inside and spread outwards
    inner = m & (dist > 1.5 * step)
    wgt = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), 1.5)
    num = cv2.GaussianBlur((grad * inner).astype(np.float32), (0, 0), 1.5)
    slope = np.where(wgt > 1e-3, num / np.maximum(wgt, 1e-3), 0.0)
    for _ in range(3):   # fill where nothing inside is near (thin parts)
        wgt2 = cv2.GaussianBlur((slope > 0).astype(np.float32), (0, 0), 2.0)
        fill = cv2.GaussianBlur(slope.astype(np.float32), (0, 0), 2.0) / np.maximum(wgt2, 1e-3)
        slope = np.where(slope > 0, slope, np.where(wgt2 > 1e-3, fill, 0.0))
    near = dist <= 1.5 * step
    grad = np.where(near, slope, grad)
    f_ext = np.where(m, f, grad * dist)
    del sx, sy
    return Inflation(f=f_ext.astype(np.float32), grad=grad.astype(np.float32), dist=dist.astype(np.float32),
                     scale=s, box=sil.box)


def depth_ratio_field(sil: Silhouette, R: np.ndarray, max_side: int = 200) -> np.ndarray:
    """depth_ratio of the local thickness, blurred over ~3 % of the height (box-sized): the ratio
    changes gently between limbs and torso instead of in steps."""
    h, w = sil.mask.shape
    s = min(1.0, max_side / max(h, w))
    sh, sw = max(4, round(h * s)), max(4, round(w * s))
    k = depth_ratio(cv2.resize(R, (sw, sh), interpolation=cv2.INTER_AREA), sil.height_px).astype(np.float32)
    m = (cv2.resize(sil.mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
    sigma = max(1.0, 0.03 * sil.height_px * s)
    num = cv2.GaussianBlur(k * m, (0, 0), sigma)
    den = cv2.GaussianBlur(m, (0, 0), sigma)
    k = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 1.0)
    return cv2.resize(k.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def depth_ratio(R: np.ndarray, height_px: float) -> np.ndarray:
    """Half-depth / half-width of a cross-section of local radius R: round limbs, head and neck (1.0),
    a flatter torso (0.62 from a radius of 9 % of the height on)."""
    rho = R / max(height_px, 1.0)
    t = np.clip((rho - 0.05) / (0.09 - 0.05), 0.0, 1.0)
    t = t * t * (3 - 2 * t)
    return 1.0 - 0.38 * t
