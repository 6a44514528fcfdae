"""A small numpy rasteriser for the preview engine's own views (no torch: the preview engine must
start fast).

Screen coordinates are photo pixels: pixel (row i, column j) has its centre at (u = j, v = i).
Triangles are grouped by the size of their pixel bounding box and tested against a fixed stamp of
candidate pixels per group, so the work is broadcasting; the nearest surface (largest depth
towards the camera) wins.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 21   # candidate pixels per batch


def rasterize(uv_screen: np.ndarray, depth: np.ndarray, faces: np.ndarray, height: int, width: int,
              cull_back: bool = True, tick=None) -> tuple[np.ndarray, np.ndarray]:
    """Triangle id (H, W) int32 (-1 where empty) and barycentrics (H, W, 3) float32.

    uv_screen (N, 2) photo pixel coordinates, depth (N,) larger = nearer the camera. With
    `cull_back`, triangles that are clockwise on screen (their front faces away) are skipped.
    """
    p = uv_screen[faces].astype(np.float64)              # (F, 3, 2)
    x, y = p[..., 0], p[..., 1]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    # front faces are counter-clockwise seen from the camera; with v pointing down that is area < 0
    keep = (area < 0) if cull_back else (area != 0)
    ids = np.nonzero(keep)[0]
    j0 = np.clip(np.ceil(x[ids].min(1)), 0, width).astype(np.int64)
    j1 = np.clip(np.floor(x[ids].max(1)), -1, width - 1).astype(np.int64)
    i0 = np.clip(np.ceil(y[ids].min(1)), 0, height).astype(np.int64)
    i1 = np.clip(np.floor(y[ids].max(1)), -1, height - 1).astype(np.int64)
    bw, bh = j1 - j0 + 1, i1 - i0 + 1
    ok = (bw > 0) & (bh > 0)
    ids, j0, i0, bw, bh = ids[ok], j0[ok], i0[ok], bw[ok], bh[ok]
    cw = 1 << np.ceil(np.log2(np.maximum(bw, 1))).astype(np.int64)
    ch = 1 << np.ceil(np.log2(np.maximum(bh, 1))).astype(np.int64)
    pix_all, dep_all, tri_all, bary_all = [], [], [], []
    classes = np.unique(np.stack([cw, ch], 1), axis=0)
    for n_done, (sw, sh) in enumerate(classes):
        if tick is not None:
            tick(n_done, len(classes))
        sel = np.nonzero((cw == sw) & (ch == sh))[0]
        oy, ox = np.divmod(np.arange(sw * sh), sw)
        step = max(1, _CHUNK // (sw * sh))
        for s in range(0, len(sel), step):
            part = sel[s:s + step]
            f = ids[part]
            X, Y = x[f], y[f]
            # barycentric weights from edge functions (sign-normalised by the area), affine in the
            # stamp's offsets (ox, oy) from the box corner (cj, ci): w = a * ox + b * oy + c
            inv = 1.0 / area[f]
            cj, ci = j0[part].astype(np.float64), i0[part].astype(np.float64)
            a0, b0 = (Y[:, 1] - Y[:, 2]) * inv, (X[:, 2] - X[:, 1]) * inv
            c0 = ((X[:, 1] - cj) * (Y[:, 2] - ci) - (X[:, 2] - cj) * (Y[:, 1] - ci)) * inv
            a1, b1 = (Y[:, 2] - Y[:, 0]) * inv, (X[:, 0] - X[:, 2]) * inv
            c1 = ((X[:, 2] - cj) * (Y[:, 0] - ci) - (X[:, 0] - cj) * (Y[:, 2] - ci)) * inv
            w0 = a0[:, None] * ox[None, :] + (b0[:, None] * oy[None, :] + c0[:, None])
            w1 = a1[:, None] * ox[None, :] + (b1[:, None] * oy[None, :] + c1[:, None])
            w2 = 1.0 - w0 - w1
            inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
            inside &= ox[None, :] < bw[part][:, None]
            inside &= oy[None, :] < bh[part][:, None]
            if not inside.any():
                continue
            r, c = np.nonzero(inside)
            d = depth[faces[f]]
            wa, wb, wc = w0[r, c], w1[r, c], w2[r, c]
            dep = wa * d[r, 0] + wb * d[r, 1] + wc * d[r, 2]
            cx, cy = j0[part][r] + ox[c], i0[part][r] + oy[c]
            pix_all.append(cy * width + cx)
            dep_all.append(dep)
            tri_all.append(f[r])
            bary_all.append(np.stack([wa, wb, wc], 1))
    tri = np.full(height * width, -1, np.int32)
    bary = np.zeros((height * width, 3), np.float32)
    if pix_all:
        pix = np.concatenate(pix_all)
        dep = np.concatenate(dep_all)
        # one sort on (pixel, nearest first): depth quantised to 20 bits within its range
        lo, hi = float(dep.min()), float(dep.max())
        q = np.round((hi - dep) / max(hi - lo, 1e-12) * ((1 << 20) - 1)).astype(np.int64)
        order = np.argsort(pix.astype(np.int64) << 20 | q, kind="stable")
        pix_sorted = pix[order]
        first = np.ones(len(order), bool)
        first[1:] = pix_sorted[1:] != pix_sorted[:-1]
        win = order[first]
        tri[pix[win]] = np.concatenate(tri_all)[win]
        bary[pix[win]] = np.concatenate(bary_all)[win]
    return tri.reshape(height, width), bary.reshape(height, width, 3)


def shade_textured(tri: np.ndarray, bary: np.ndarray, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray,
                   background=(255, 255, 255)) -> np.ndarray:
    """Unlit base colour: the texture sampled (bilinear) at the interpolated UVs (v up, row 0 = v 1)."""
    from .silhouette import remap_points

    H, W = tri.shape
    out = np.empty((H, W, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    hit = tri >= 0
    if not hit.any():
        return out
    f = faces[tri[hit]]
    b = bary[hit].astype(np.float64)
    t = np.column_stack([(uv[:, 0][f] * b).sum(1), (uv[:, 1][f] * b).sum(1)])   # per coordinate: half the time
    th, tw = texture.shape[:2]
    cols = remap_points(texture[..., :3].astype(np.float32), t[:, 0] * tw - 0.5, (1.0 - t[:, 1]) * th - 0.5)
    out[hit] = np.clip(cols + 0.5, 0, 255).astype(np.uint8)
    return out
