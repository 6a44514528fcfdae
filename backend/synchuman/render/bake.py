"""Texture baking from the generated views: a closed-form, texel-centric bake (default) and the reference's
optimisation mode (`mode="opt"`: L1 + TV with Adam) as an option.

Fast bake, per texel of the atlas:
1. its surface point and normal come from rasterising the UV layout; texels within `padding` of a chart take the
   point of the nearest chart triangle extended past its edge, so the gutter holds what lies across the seam and
   mip levels do not bleed unrelated colours;
2. each view (orthographic, as stored: views 2 and 3 mirrored, view 4 the magnified face) contributes its bilinear
   colour where the point is not occluded (z-buffer of the mesh in that view, min-filtered over 3x3 pixels so
   occlusion edges are avoided), weighted by cos(normal, view)^p, by the view's pixel density, and by a feather that
   falls to zero at the generated normal map's foreground edge and at the image border;
3. texels no view sees get colours sampled in 3D at the surface (the decoded Gaussians, or the nearest well-seen
   texels); the same prior blends softly into weakly seen texels and fades out where the views are strong;
4. what remains empty in texture space is filled by push-pull (a smooth fill through a mip pyramid).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from .cameras import ORTHO_FAR, ORTHO_NEAR, orthographic_clip, view_direction
from .cpu_raster import to_screen
from .raster import rasterize
from .textured import remap_points

Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]   # (positions (N,3), normals (N,3)) -> colours (N,3)
MASK_THRESHOLD = 230.0 / 255.0                          # the reference: foreground where a normal channel < 230


@dataclass
class BakeView:
    """One observation: image (H,W,3) float in [0,1], foreground mask (H,W) bool, generated view index 0..4
    (orthographic, as stored; see `render.cameras`) and a preference weight (the face view at the body views'
    resolution has 9x their pixel density)."""

    image: np.ndarray
    mask: np.ndarray
    view: int
    weight: float = 1.0


@dataclass
class BakeOptions:
    texture_size: int = 1024
    padding: int = 4                 # gutter texels baked from the extended triangles
    cos_power: float = 4.0           # view weight = cos(normal, view direction) ** cos_power
    depth_tolerance: float = 0.006   # world units (unit cube) a texel may lie behind the visible surface
    feather_px: float = 6.0          # the weight ramps from 0 at the mask edge to 1 this many pixels inside
    prior_weight: float = 0.02       # weight of the 3D colour prior against the views
    mode: str = "fast"               # "fast" or "opt"
    opt_steps: int = 200             # opt: Adam steps, starting from the fast bake
    opt_lr: float = 3e-3
    lambda_tv: float = 0.01


@dataclass
class BakeStats:
    covered_texels: float = 0.0      # fraction of the texture inside charts
    seen_texels: float = 0.0         # fraction of chart texels seen by at least one view
    filled_from_prior: float = 0.0   # fraction of chart texels coloured only by the 3D prior
    timings_s: dict = field(default_factory=dict)


def generated_views(colors: np.ndarray, normals: np.ndarray, face_color: np.ndarray | None = None,
                    face_normal: np.ndarray | None = None) -> list[BakeView]:
    """The 4 body views (+ face view) in the reference's storage convention, masked by the normal maps."""
    views = []
    for k in range(len(colors)):
        mask = (np.asarray(normals[k]) < MASK_THRESHOLD).any(-1)
        views.append(BakeView(np.asarray(colors[k], dtype=np.float32), mask, k))
    if face_color is not None and face_normal is not None:
        mask = (np.asarray(face_normal) < MASK_THRESHOLD).any(-1)
        # Pixels per unit length relative to a body view: 3x zoom, times the resolution ratio; weight ~ density^2.
        density = 3.0 * mask.shape[0] / np.asarray(colors).shape[1] if len(colors) else 3.0
        views.append(BakeView(np.asarray(face_color, dtype=np.float32), mask, 4, weight=density ** 2))
    return views


@dataclass
class TexelSurface:
    """Surface point, normal and triangle of every texel that is inside a chart or in its gutter."""

    rows: np.ndarray
    cols: np.ndarray
    position: np.ndarray
    normal: np.ndarray
    face: np.ndarray                 # the (nearest) chart triangle of each texel
    inside: np.ndarray               # True inside a chart, False in the gutter
    size: int


def uv_clip(uv: np.ndarray) -> torch.Tensor:
    """UV layout as clip positions: texel row 0 is v = 1 (image order, as `write_glb` expects)."""
    uv = np.asarray(uv, dtype=np.float64)
    return torch.as_tensor(np.stack([2 * uv[:, 0] - 1, 1 - 2 * uv[:, 1], np.zeros(len(uv)), np.ones(len(uv))], 1))


def texel_surface(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, normals: np.ndarray, size: int,
                  padding: int) -> TexelSurface:
    raster = rasterize(uv_clip(uv), faces, (size, size), backend="cpu")
    tri = raster.triangle_id[0].numpy()
    inside = tri >= 0
    if padding > 0 and inside.any():
        distance, (near_r, near_c) = ndimage.distance_transform_edt(~inside, return_indices=True)
        gutter = (~inside) & (distance <= padding)
    else:
        gutter = np.zeros_like(inside)
    rows, cols = np.nonzero(inside | gutter)
    face = tri[rows, cols].copy()
    in_gutter = gutter[rows, cols]
    if in_gutter.any():
        face[in_gutter] = tri[near_r[rows[in_gutter], cols[in_gutter]], near_c[rows[in_gutter], cols[in_gutter]]]
    # Barycentrics of each texel centre in its triangle's UV space (extrapolated in the gutter).
    centre_u = (cols + 0.5) / size
    centre_v = 1.0 - (rows + 0.5) / size
    corners = np.asarray(uv, dtype=np.float64)[faces[face]]                 # (N,3,2)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    p = np.stack([centre_u, centre_v], 1) - corners[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-20, 1e-20, det)
    b1 = (p[:, 0] * e2[:, 1] - p[:, 1] * e2[:, 0]) / det
    b2 = (e1[:, 0] * p[:, 1] - e1[:, 1] * p[:, 0]) / det
    bary = np.stack([1 - b1 - b2, b1, b2], 1)
    if in_gutter.any():   # do not extrapolate far along degenerate slivers
        bary[in_gutter] = np.clip(bary[in_gutter], -1.0, 2.0)
    tri_vertices = faces[face]
    position = np.einsum("nk,nkc->nc", bary, np.asarray(vertices, dtype=np.float64)[tri_vertices])
    normal = np.einsum("nk,nkc->nc", bary, np.asarray(normals, dtype=np.float64)[tri_vertices])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    return TexelSurface(rows, cols, position, normal, face, ~in_gutter, size)


def _feather(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """0 at and outside the mask edge, rising to 1 `feather_px` pixels inside; also 0 at the image border."""
    padded = np.pad(mask.astype(np.uint8), 1)                # the image border counts as outside
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.clip((distance - 1.0) / max(feather_px, 1e-6), 0.0, 1.0).astype(np.float32)


def _sample(image: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    return remap_points(image, col, row)


def view_contribution(vertices, faces, surface: TexelSurface, view: BakeView, options: BakeOptions
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(weight (N,), colour (N,3)) of one view for every texel of `surface`."""
    height, width = view.mask.shape
    raster = rasterize(orthographic_clip(vertices, view.view), faces, (height, width), backend="cpu")
    zbuf = raster.depth[0].numpy().copy()
    zbuf[~raster.mask[0].numpy()] = np.inf
    nearest = cv2.erode(zbuf, np.ones((3, 3), np.uint8))    # min over 3x3: stay away from occlusion edges
    x, y, z = to_screen(orthographic_clip(surface.position, view.view), height, width)
    col, row, z = x.numpy(), y.numpy(), z.numpy()
    r, c = np.rint(row).astype(np.int64), np.rint(col).astype(np.int64)
    on_image = (r >= 0) & (r < height) & (c >= 0) & (c < width)
    r, c = np.clip(r, 0, height - 1), np.clip(c, 0, width - 1)
    tolerance_ndc = options.depth_tolerance * 2.0 / (ORTHO_FAR - ORTHO_NEAR)
    visible = on_image & (z <= nearest[r, c] + tolerance_ndc)
    facing = np.clip(surface.normal @ -view_direction(view.view), 0.0, 1.0)
    feather = _feather(view.mask, options.feather_px)
    weight = visible * facing ** options.cos_power * _sample(feather, row, col) * view.weight
    return weight.astype(np.float64), _sample(view.image, row, col).astype(np.float64)


def gaussian_fill(xyz: np.ndarray, rgb: np.ndarray, opacity: np.ndarray | None = None, radius: float = 0.02,
                  neighbours: int = 8) -> Fill:
    """Colours at surface points from nearby Gaussians: opacity- and distance-weighted mean of their RGB."""
    xyz = np.asarray(xyz, dtype=np.float64)
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    alpha = np.ones(len(xyz)) if opacity is None else np.clip(np.asarray(opacity, dtype=np.float64), 1e-3, 1.0)
    tree = cKDTree(xyz)
    k = min(neighbours, len(xyz))

    def fill(positions: np.ndarray, _normals: np.ndarray) -> np.ndarray:
        distance, index = tree.query(positions, k=k)
        distance, index = distance.reshape(len(positions), k), index.reshape(len(positions), k)
        weight = alpha[index] * np.exp(-0.5 * (distance / (0.5 * radius)) ** 2) + 1e-12
        return (weight[..., None] * rgb[index]).sum(1) / weight.sum(1, keepdims=True)

    return fill


def _nearest_seen_fill(positions: np.ndarray, colours: np.ndarray, neighbours: int = 8) -> Fill:
    tree = cKDTree(positions)
    k = min(neighbours, len(positions))

    def fill(query: np.ndarray, _normals: np.ndarray) -> np.ndarray:
        distance, index = tree.query(query, k=k)
        distance, index = distance.reshape(len(query), k), index.reshape(len(query), k)
        weight = 1.0 / (distance + 1e-4)
        return (weight[..., None] * colours[index]).sum(1) / weight.sum(1, keepdims=True)

    return fill


def push_pull_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fills unknown texels smoothly from known ones through a mip pyramid (known texels are kept)."""
    if known.all() or not known.any():
        return image
    levels = [(image * known[..., None], known.astype(np.float32))]
    while min(levels[-1][1].shape) > 1:
        colour, weight = levels[-1]
        h, w = weight.shape
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        colour = np.pad(colour, ((0, 2 * h2 - h), (0, 2 * w2 - w), (0, 0)))
        weight = np.pad(weight, ((0, 2 * h2 - h), (0, 2 * w2 - w)))
        levels.append((colour.reshape(h2, 2, w2, 2, -1).sum((1, 3)), weight.reshape(h2, 2, w2, 2).sum((1, 3))))
    colour, weight = levels[-1]
    filled = colour / np.maximum(weight, 1e-12)[..., None]
    for colour, weight in reversed(levels[:-1]):
        h, w = weight.shape
        up = np.repeat(np.repeat(filled, 2, 0), 2, 1)[:h, :w]
        mean = colour / np.maximum(weight, 1e-12)[..., None]
        alpha = np.clip(weight, 0.0, 1.0)[..., None]
        filled = alpha * mean + (1 - alpha) * up
    out = image.copy()
    out[~known] = filled[~known]
    return out


def bake_texture(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, views: list[BakeView],
                 vertex_normals: np.ndarray, options: BakeOptions | None = None, fill: Fill | None = None,
                 progress: Callable[[float, float, str], None] | None = None) -> tuple[np.ndarray, BakeStats]:
    """Texture (T,T,3) uint8, row 0 = v 1, for a mesh (z-up, unit cube) with its atlas `uv`."""
    options = options or BakeOptions()
    stats = BakeStats()
    report = progress or (lambda *args: None)
    started = time.perf_counter()
    size = options.texture_size
    steps = len(views) + 3
    report(0, steps, "rasterising the UV layout")
    surface = texel_surface(vertices, faces, uv, vertex_normals, size, options.padding)
    stats.timings_s["texels"] = round(time.perf_counter() - started, 3)

    total = np.zeros(len(surface.rows))
    colour_sum = np.zeros((len(surface.rows), 3))
    for k, view in enumerate(views):
        report(1 + k, steps, f"projecting view {view.view}")
        weight, colour = view_contribution(vertices, faces, surface, view, options)
        total += weight
        colour_sum += weight[:, None] * colour
    stats.timings_s["views"] = round(time.perf_counter() - started - stats.timings_s["texels"], 3)

    report(len(views) + 1, steps, "colouring unseen texels")
    seen = total > 1e-6
    if fill is None:
        well_seen = total > 0.05
        basis = well_seen if well_seen.sum() >= 8 else seen
        if basis.any():
            fill = _nearest_seen_fill(surface.position[basis], colour_sum[basis] / total[basis, None])
    if fill is not None:
        # The prior's weight fades out as the views' weight grows (where it would be a few percent at most anyway),
        # so it is only evaluated where views are weak.
        prior_weight = options.prior_weight * np.clip(1.0 - total / (10.0 * options.prior_weight), 0.0, 1.0)
        weak = prior_weight > 0
        prior = np.zeros_like(colour_sum)
        prior[weak] = np.clip(fill(surface.position[weak], surface.normal[weak]), 0.0, 1.0)
        colour = (colour_sum + prior_weight[:, None] * prior) / np.maximum(total + prior_weight, 1e-12)[:, None]
    else:
        colour = colour_sum / np.maximum(total, 1e-12)[:, None]

    texture = np.zeros((size, size, 3))
    texture[surface.rows, surface.cols] = colour
    known = np.zeros((size, size), dtype=bool)
    known[surface.rows, surface.cols] = seen | (fill is not None)
    report(len(views) + 2, steps, "filling the empty texture space")
    texture = push_pull_fill(texture, known)
    inside = surface.inside
    stats.covered_texels = round(float(inside.sum()) / size ** 2, 4)
    stats.seen_texels = round(float((seen & inside).sum()) / max(1, inside.sum()), 4)
    stats.filled_from_prior = round(float((~seen & inside).sum()) / max(1, inside.sum()), 4)
    stats.timings_s["fill"] = round(time.perf_counter() - started - sum(stats.timings_s.values()), 3)

    if options.mode == "opt":
        report(len(views) + 2, steps, "optimising the texture")
        from .bake_opt import optimise_texture
        texture = optimise_texture(vertices, faces, uv, views, texture, options)
        stats.timings_s["opt"] = round(time.perf_counter() - started - sum(stats.timings_s.values()), 3)
    elif options.mode != "fast":
        raise ValueError(f"unknown bake mode {options.mode!r}")
    report(steps, steps, "texture baked")
    return np.clip(np.rint(texture * 255.0), 0, 255).astype(np.uint8), stats
