"""Vectorised CPU triangle rasteriser (torch) with nvdiffrast's semantics.

Pixel (row i, col j) has its centre at NDC ((2j+1)/W - 1, (2i+1)/H - 1), so row 0 is NDC y = -1 as in nvdiffrast.

Coverage is exact and watertight: each triangle edge is evaluated from its lower-indexed vertex, so the two triangles
sharing an edge compute bit-identical edge values of opposite sign. A pixel centre exactly on an edge belongs to the
triangle for which that edge is a "top-left" edge (after orienting every triangle counter-clockwise), so shared edges
have neither cracks nor double coverage. Both windings are rasterised (no culling).

Depth test: the smallest z/w within [-1, 1] wins; equal depths (as float32) go to the lower triangle id.
Triangles with a vertex at w <= 0 are dropped: there is no near-plane clipping, because every camera of this
project keeps the unit cube in front of it.

Work is organised by triangle size: triangles whose pixel bounding boxes fall in the same power-of-two size class
are evaluated together on a fixed stamp of candidate pixels, so per-pixel work is broadcasting, not gathering.
The z-buffer is one int64 per pixel, (float32 depth bits << 32) | triangle id, reduced with `scatter_reduce(amin)`.
"""

from __future__ import annotations

import torch

_CANDIDATES_PER_CHUNK = 1 << 21
_EMPTY = torch.iinfo(torch.int64).max


def to_screen(clip: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(V,4) clip -> pixel-unit x (column), y (row) and NDC z; pixel centres sit at integer coordinates."""
    w = clip[:, 3]
    x = (clip[:, 0] / w + 1.0) * (0.5 * width) - 0.5
    y = (clip[:, 1] / w + 1.0) * (0.5 * height) - 0.5
    return x, y, clip[:, 2] / w


class _FaceSetup:
    """Per-triangle screen geometry: canonical edges, orientation, top-left ownership, depth, 1/w."""

    def __init__(self, clip: torch.Tensor, faces: torch.Tensor, height: int, width: int):
        x, y, z = to_screen(clip, height, width)
        self.x, self.y, self.z = x[faces], y[faces], z[faces]          # (F,3)
        self.w = clip[:, 3][faces]
        self.area2 = ((self.x[:, 1] - self.x[:, 0]) * (self.y[:, 2] - self.y[:, 0])
                      - (self.x[:, 2] - self.x[:, 0]) * (self.y[:, 1] - self.y[:, 0]))
        orient = torch.sign(self.area2)
        # Edge k is opposite vertex k and runs (k+1) -> (k+2); evaluate it from its lower-indexed vertex.
        a_idx, b_idx = faces[:, [1, 2, 0]], faces[:, [2, 0, 1]]
        a_loc = torch.tensor([1, 2, 0]).expand_as(a_idx)
        b_loc = torch.tensor([2, 0, 1]).expand_as(b_idx)
        swap = a_idx > b_idx
        start = torch.where(swap, b_loc, a_loc)
        end = torch.where(swap, a_loc, b_loc)
        self.ax = self.x.gather(1, start)
        self.ay = self.y.gather(1, start)
        self.dx = self.x.gather(1, end) - self.ax
        self.dy = self.y.gather(1, end) - self.ay
        self.flip = torch.where(swap, -1.0, 1.0).to(clip.dtype)        # canonical value -> value along (k+1)->(k+2)
        self.inside_sign = self.flip * orient[:, None]                  # > 0 inside the triangle
        tx, ty = self.dx * self.inside_sign, self.dy * self.inside_sign   # edge direction with interior on its left
        self.owns_ties = (ty > 0) | ((ty == 0) & (tx < 0))
        self.ax32, self.ay32 = self.ax.to(torch.float32), self.ay.to(torch.float32)
        self.dx32, self.dy32 = self.dx.to(torch.float32), self.dy.to(torch.float32)
        self.inside_sign32 = self.inside_sign.to(torch.float32)
        # z/w is affine in screen space: z = a*x + b*y + c, from z = sum_k lambda_k z_k.
        coef = self.flip * self.z / self.area2[:, None]
        self.depth_plane = torch.stack([-(coef * self.dy).sum(1), (coef * self.dx).sum(1),
                                        (coef * (self.dy * self.ax - self.dx * self.ay)).sum(1)], 1)

    def edge_values(self, sel: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
        """Canonical edge function values (n,K,3) of triangles `sel` at pixel centres px, py (n,K)."""
        ax, ay = self.ax[sel][:, None, :], self.ay[sel][:, None, :]
        dx, dy = self.dx[sel][:, None, :], self.dy[sel][:, None, :]
        return dx * (py[..., None] - ay) - dy * (px[..., None] - ax)

    def barycentrics(self, sel: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
        """Screen-space (linear) barycentrics from canonical edge values."""
        shape = (-1,) + (1,) * (edge.dim() - 2) + (3,)
        return edge * (self.flip[sel] / self.area2[sel][:, None]).reshape(shape)


def _pow2_class(n: torch.Tensor) -> torch.Tensor:
    return torch.ceil(torch.log2(n.to(torch.float64))).to(torch.int64)


def rasterize_one(clip: torch.Tensor, faces: torch.Tensor, height: int, width: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One view: clip (V,4) float64, faces (F,3) int64 -> triangle id (H,W) int64 (-1 empty), u,v (H,W,2), depth."""
    setup = _FaceSetup(clip, faces, height, width)
    xmin = torch.ceil(setup.x.min(1).values).clamp(min=0)
    xmax = torch.floor(setup.x.max(1).values).clamp(max=width - 1)
    ymin = torch.ceil(setup.y.min(1).values).clamp(min=0)
    ymax = torch.floor(setup.y.max(1).values).clamp(max=height - 1)
    usable = ((setup.w > 0).all(1) & (setup.area2 != 0) & torch.isfinite(setup.area2)
              & (xmax >= xmin) & (ymax >= ymin))
    ids = torch.nonzero(usable).squeeze(1)
    zbuf = torch.full((height * width,), _EMPTY, dtype=torch.int64)
    if len(ids):
        xmin, ymin = xmin.long(), ymin.long()
        box_w, box_h = xmax.long() - xmin + 1, ymax.long() - ymin + 1
        size_class = _pow2_class(box_w[ids]) * 64 + _pow2_class(box_h[ids])
        for cls in torch.unique(size_class):
            members = ids[size_class == cls]
            stamp_w, stamp_h = int(box_w[members].max()), int(box_h[members].max())
            sy, sx = torch.meshgrid(torch.arange(stamp_h), torch.arange(stamp_w), indexing="ij")
            sx, sy = sx.reshape(-1), sy.reshape(-1)
            per_chunk = max(1, _CANDIDATES_PER_CHUNK // sx.numel())
            for part in torch.split(members, per_chunk):
                _rasterize_chunk(setup, part, xmin, ymin, box_w, box_h, sx, sy, width, zbuf)
    return _resolve(setup, zbuf, height, width)


def _rasterize_chunk(setup: _FaceSetup, sel, xmin, ymin, box_w, box_h, sx, sy, width: int, zbuf) -> None:
    # Coverage in float32: per-edge values stay bit-identical between neighbours, which is all watertightness needs.
    px = (xmin[sel, None] + sx[None]).to(torch.float32)
    py = (ymin[sel, None] + sy[None]).to(torch.float32)
    covered = (sx[None] < box_w[sel, None]) & (sy[None] < box_h[sel, None])
    for k in range(3):
        edge = (setup.dx32[sel, k, None] * (py - setup.ay32[sel, k, None])
                - setup.dy32[sel, k, None] * (px - setup.ax32[sel, k, None]))
        signed = edge * setup.inside_sign32[sel, k, None]
        covered &= (signed > 0) | ((signed == 0) & setup.owns_ties[sel, k, None])
    rows, cols = torch.nonzero(covered, as_tuple=True)
    face = sel[rows]
    x, y = px[rows, cols].to(torch.float64), py[rows, cols].to(torch.float64)
    plane = setup.depth_plane[face]
    depth = plane[:, 0] * x + plane[:, 1] * y + plane[:, 2]
    keep = (depth >= -1.0) & (depth <= 1.0)
    pixel = (y[keep] * width + x[keep]).long()
    depth01 = ((depth[keep] + 1.0) * 0.5).to(torch.float32)
    key = (depth01.view(torch.int32).to(torch.int64) << 32) | face[keep]
    zbuf.scatter_reduce_(0, pixel, key, reduce="amin")


def _resolve(setup: _FaceSetup, zbuf: torch.Tensor, height: int, width: int):
    hit = zbuf != _EMPTY
    pixel = torch.nonzero(hit).squeeze(1)
    face = zbuf[pixel] & 0xFFFFFFFF
    tri = torch.full((height * width,), -1, dtype=torch.int64)
    tri[pixel] = face
    lam = screen_barycentrics(setup, face, pixel % width, pixel // width)
    uv = torch.zeros(height * width, 2, dtype=torch.float32)
    uv[pixel] = perspective_correct(lam, setup.w[face]).to(torch.float32)[:, 1:]
    depth = torch.zeros(height * width, dtype=torch.float32)
    depth[pixel] = (lam * setup.z[face]).sum(-1).to(torch.float32)
    return tri.view(height, width), uv.view(height, width, 2), depth.view(height, width)


def screen_barycentrics(setup: _FaceSetup, face: torch.Tensor, col: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """Linear screen-space barycentrics (N,3) of triangles `face` at pixel centres (col, row)."""
    px, py = col.to(setup.x.dtype)[:, None], row.to(setup.x.dtype)[:, None]
    return setup.barycentrics(face, setup.edge_values(face, px, py))[:, 0, :]


def perspective_correct(lam: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    q = lam / w
    return q / q.sum(-1, keepdim=True)


def barycentric_derivatives(setup: _FaceSetup, face: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """d(perspective-correct barycentrics)/d(x, y) in pixel units: (N,3,2)."""
    # Linear barycentric k along edge (k+1)->(k+2): lam_k = cross(P_b - P_a, p - P_a) / area2.
    x, y, area2 = setup.x[face], setup.y[face], setup.area2[face][:, None]
    ex = x[:, [2, 0, 1]] - x[:, [1, 2, 0]]
    ey = y[:, [2, 0, 1]] - y[:, [1, 2, 0]]
    dlam = torch.stack([-ey / area2, ex / area2], -1)                   # (N,3,2)
    w = setup.w[face][..., None]
    q = lam[..., None] / w
    dq = dlam / w
    total, dtotal = q.sum(1, keepdim=True), dq.sum(1, keepdim=True)
    return (dq * total - q * dtotal) / total ** 2


def face_setup(clip: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> _FaceSetup:
    return _FaceSetup(clip, faces, height, width)
