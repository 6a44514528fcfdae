"""The dressed body: one closed surface from the fitted body and the person's mask, in photo pixels
(u right, v down, z towards the camera; pixel centres at integers).

An occupancy volume on a grid of cubic cells over the person's box:
1. body: the winding number of the body's surface along each grid column (every crossing counts,
   +1 entering, -1 leaving), averaged over each cell along z, so the surface lands between cells to
   sub-cell precision and a limb in front of the body keeps its gap; grown in depth, on the clothed
   parts, by as much as the mask reaches beyond the body's outline nearby (a sleeve or a trouser
   leg is round about its limb: `_depth_ease`), and a limb pointing at the camera across the photo
   too (a seated person's thighs: `_widened`);
2. garment: where the mask reaches beyond the body (a skirt between the legs, a coat's flare, hair,
   a hood), an interval per column about a depth centre continued from the nearby body (smooth
   fill), as thick as the silhouette's inflation there (a round cross-section as wide as that part
   of the silhouette, going to zero at its outline; between two body parts close together, no
   deeper than they are), and at least a cell thick so every masked column holds something; where
   the mask is much wider than the body (a skirt or a coat over the legs) at least a round tube
   across that row of the mask, turned with the torso, so the garment keeps its depth down to its
   hem (wide trousers down to the feet: the two legs' depth, shallower; garment_tube.py), its
   front the legs' where the photo shows them between an open coat's panels (by colour), and a
   coat worn open a shell COAT_WALL thick about the legs, open at its hem (`_hollowed`);
   and any solid carried by the person that the photo shows only by a sign (a backpack behind
   the body, seen by its straps: backpack.py);
3. the union, lightly blurred, carved by the mask's coverage (from its signed distance): nothing
   projects outside the photo's silhouette and the outline sits on it to sub-pixel precision;
then its closed surface (surface.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .garment_tube import coat_opening, hanging_tube, wide_rows, worn_open
from .silhouette import Silhouette

ROWS = 220  # grid cells over the person's height (before the face budget's say)
MIN_ROWS = 140  # however small the budget (the reduction takes it the rest of the way): thin arms stay
BLUR_CELLS = 1.0
EASE_SEARCH = 0.025  # of the person's height: the mask's edge this near the body's outline is its clothes'
MAX_EASE = 0.015  # ... which deepen the body by at most this much in front and behind
ROOMY_SEARCH, ROOMY_EASE = 0.05, 0.04  # the same about a limb pointing at the camera (`occupancy`'s roomy_px)
GAP_WIDTH = 0.03  # of the person's height: mask this close to the body on both sides lies between two body parts
COAT_WALL = 0.008  # of the person's height: an open coat's shell is this thick (a solid coat buried the legs in
# it, 30-60 mm from its surface; 0.012 measured 0.2 mm worse on the benchmark's coats)


@dataclass
class Solid:
    """A closed shape added to the dressed volume (then carved by the mask like the rest)."""

    lo: np.ndarray  # (3,) its bounds in the photo frame (u, v, z pixels)
    hi: np.ndarray
    signed_distance: Callable[[np.ndarray], np.ndarray]  # photo points (N, 3) -> pixels, negative inside


def grid_cell(height_px: float, max_faces: int) -> float:
    """Cell size (pixels): ~ROWS cells over the height, down to MIN_ROWS when the face budget is
    small (marching cubes gives roughly 2.6 faces per surface cell)."""
    rows = min(ROWS, max(MIN_ROWS, np.sqrt(max_faces / 1.2)))
    return float(max(1.0, height_px / rows))


def _crossings(xy: np.ndarray, z: np.ndarray, faces: np.ndarray, nx: int, ny: int):
    """Every (grid node, triangle) hit: node row j, column i, depth, +1 / -1 by the triangle's facing.
    xy in grid units (node (i, j) at (i, j))."""
    a, b, c = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    lo = np.ceil(np.minimum(np.minimum(a, b), c)).astype(np.int64)
    hi = np.floor(np.maximum(np.maximum(a, b), c)).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [nx - 1, ny - 1])
    size = hi - lo + 1
    ok = (size > 0).all(1) & (np.abs(area) > 1e-12)
    out_j, out_i, out_z, out_s = [], [], [], []
    keys = size[:, 0] * 4096 + size[:, 1]
    for key in np.unique(keys[ok]):
        sel = np.nonzero(ok & (keys == key))[0]
        w, h = int(key // 4096), int(key % 4096)
        dx, dy = np.meshgrid(np.arange(w), np.arange(h))
        px = lo[sel, 0][:, None] + dx.ravel()[None]
        py = lo[sel, 1][:, None] + dy.ravel()[None]
        ta, tb, tc, ar = a[sel], b[sel], c[sel], area[sel][:, None]

        def edge(p, q):  # twice the signed area of (p, q, node), over the triangle's
            return ((q[:, 0:1] - p[:, 0:1]) * (py - p[:, 1:2]) - (q[:, 1:2] - p[:, 1:2]) * (px - p[:, 0:1])) / ar

        l0, l1, l2 = edge(tb, tc), edge(tc, ta), edge(ta, tb)
        inside = (l0 >= 0) & (l1 >= 0) & (l2 > 0)
        if not inside.any():
            continue
        depth = l0 * z[faces[sel, 0]][:, None] + l1 * z[faces[sel, 1]][:, None] + l2 * z[faces[sel, 2]][:, None]
        rows = np.broadcast_to(np.sign(ar), inside.shape)
        out_j.append(py[inside])
        out_i.append(px[inside])
        out_z.append(depth[inside])
        out_s.append(rows[inside])
    if not out_j:
        e = np.zeros(0)
        return e.astype(np.int64), e.astype(np.int64), e, e
    return np.concatenate(out_j), np.concatenate(out_i), np.concatenate(out_z), np.concatenate(out_s)


def _fill(values: np.ndarray, known: np.ndarray, sigmas=(1.5, 3, 6, 12, 24, 48)) -> np.ndarray:
    """Values where `known`; elsewhere a normalised blur at the finest scale that reaches there."""
    out = np.where(known, values, 0.0).astype(np.float32)
    done = known.copy()
    w = known.astype(np.float32)
    v = np.where(known, values, 0.0).astype(np.float32)
    for s in sigmas:
        den = cv2.GaussianBlur(w, (0, 0), s)
        num = cv2.GaussianBlur(v, (0, 0), s)
        reach = (den > 0.02) & ~done
        out[reach] = num[reach] / den[reach]
        done |= reach
        if done.all():
            break
    if not done.all() and known.any():
        out[~done] = float(values[known].mean())
    return out


def occupancy(body_px: np.ndarray, body_faces: np.ndarray, sil: Silhouette, cell: float, inflated,
              hip_row: float, complete_in: tuple[int, int] | None = None, solids: tuple[Solid, ...] = (),
              torso_turn: float = 0.0, hands_px: np.ndarray | None = None, hip_width: float = np.inf,
              rgb: np.ndarray | None = None, bare_px: np.ndarray | None = None, roomy_px: np.ndarray | None = None,
              sleeves_px: np.ndarray | None = None, chest_px: np.ndarray | None = None):
    """The dressed volume on the grid: (volume (ny, nx, nz) in 0..1, origin (u, v, z) of node 0, facts).
    `inflated(u, v)`: the silhouette inflation's half-depth (pixels) at photo points, a garment's
    least half-thickness where it reaches beyond the body (a skirt is as deep as it is wide).
    `complete_in` (W, H): the photo's size when the person is cut by its frame; outside the photo
    the body itself is kept (the legs of a half-body photo, completed from the body model).
    `hip_row`: the photo row of the body's hips; a skirt's or coat's tube starts just below it and
    hangs straight, its section turned with the torso (`torso_turn`, radians: how far it turns from
    the photo's plane, its right side towards the camera); across both legs only where it reaches
    beyond them (`_around_the_legs`: `hands_px`, the fitted hands' photo points, and `hip_width`,
    the hips' width in pixels; inf: every run keeps its tube). `solids`: shapes added to the union
    (a backpack). `rgb`: the photo, where an open coat shows the legs between its panels
    (`garment_tube.coat_opening`: the tube's front there is the legs'). `bare_px`: photo points of
    the parts whose depth the mask's reach beyond them does not grow (`_depth_ease`; the preview
    passes the head, neck, torso and hands). `roomy_px`: photo points of limbs pointing at the camera
    (a seated person's thighs), round in their clothes like any limb, but the photo shows their
    section itself: the mask's reach beyond them, read further (ROOMY_SEARCH) and up to ROOMY_EASE,
    grows them across the photo as well as in depth (`_widened`; the mask then carves the outline).
    `sleeves_px`, `chest_px`: photo points of the body's upper arms and of its torso's middle, whose
    colours tell a coat worn open (`garment_tube.worn_open`: a shell about the legs) from a skirt."""
    u0, v0, u1, v1 = sil.box
    if complete_in is not None:
        lo, hi = np.floor(body_px[:, :2].min(0)) - 2 * cell, np.ceil(body_px[:, :2].max(0)) + 2 * cell
        u0, v0 = int(min(u0, lo[0])), int(min(v0, lo[1]))
        u1, v1 = int(max(u1, hi[0])), int(max(v1, hi[1]))
    nx = int(np.ceil((u1 - 1 - u0) / cell)) + 1
    ny = int(np.ceil((v1 - 1 - v0) / cell)) + 1
    xy = np.column_stack([(body_px[:, 0] - u0) / cell, (body_px[:, 1] - v0) / cell])
    j, i, zc, s = _crossings(xy, body_px[:, 2], body_faces, nx, ny)
    # outward normals: the triangles' 2D winding says "towards the camera" only together with the
    # mesh's orientation in this frame (the photo frame is a mirror of the model's)
    a, b, c = (body_px[body_faces[:, k]] for k in range(3))
    if np.einsum("ij,ij->i", a, np.cross(b, c)).sum() < 0:
        s = -s
    col = j * nx + i
    # per column: the body's front and back, its centre and half-thickness
    front = np.full(ny * nx, -np.inf)
    back = np.full(ny * nx, np.inf)
    np.maximum.at(front, col, zc)
    np.minimum.at(back, col, zc)
    has = np.isfinite(front).reshape(ny, nx)
    front = np.where(has, front.reshape(ny, nx), 0.0)
    back = np.where(has, back.reshape(ny, nx), 0.0)
    hips = (hip_row - v0) / cell
    hands = None if hands_px is None or not len(hands_px) else _cells_near(hands_px, u0, v0, cell, nx, ny)
    colours = None if rgb is None else _cell_colours(rgb, u0, v0, cell, nx, ny)
    layers = np.bincount(col, minlength=ny * nx).reshape(ny, nx)
    lo_g, hi_g, phi, thick, opening, hanging = _garment(has, front, back, sil, cell, u0, v0, nx, ny, inflated, hips,
                                                        torso_turn, hands, hip_width, colours, layers)
    coat = colours is not None and sleeves_px is not None and chest_px is not None and \
        worn_open(colours, hanging, has, phi > 0, _cells_at(sleeves_px, u0, v0, cell, nx, ny),
                  _cells_at(chest_px, u0, v0, cell, nx, ny), cell, sil.height_px)

    bare = None if bare_px is None else _cells_near(bare_px, u0, v0, cell, nx, ny)
    ease = _depth_ease(has, phi, cell, sil.height_px, bare)
    roomy = np.zeros(has.shape, bool)
    if roomy_px is not None and len(roomy_px):
        roomy = _cells_near(roomy_px, u0, v0, cell, nx, ny)
        ease = np.where(roomy, _depth_ease(has, phi, cell, sil.height_px, bare, ROOMY_SEARCH, ROOMY_EASE), ease)
    ease_px = float(np.ceil(ease.max(initial=0.0))) * cell
    # the grid's depth covers the body, its ease and the garment (a skirt can be deeper than the legs inside it)
    zlo = -ease_px + min([float(body_px[:, 2].min()), float(lo_g[thick > 0].min(initial=np.inf))] + [float(x.lo[2]) for x in solids])
    zhi = ease_px + max([float(body_px[:, 2].max()), float(hi_g[thick > 0].max(initial=-np.inf))] + [float(x.hi[2]) for x in solids])
    z0 = zlo - 3 * cell
    nz = int(np.ceil((zhi - zlo) / cell)) + 7
    # the body: winding along each column, averaged over each cell: sum_s clip(t - k, 0, 1), t in cells + 0.5
    t = np.clip((zc - z0) / cell + 0.5, 0.0, nz - 1e-6)
    k = np.floor(t).astype(np.int64)
    # (each step frees what it no longer needs, and sums and clips in place: the grid's float64 arrays
    # are 30-40 MB each, and four of them at once made this the job's peak)
    full = np.bincount(col * (nz + 1) + k, weights=s, minlength=ny * nx * (nz + 1)).reshape(ny, nx, nz + 1)
    below = np.cumsum(full[..., ::-1], axis=-1)[..., ::-1][..., 1:]  # crossings above node k count whole
    del full
    part = np.bincount(col * nz + k, weights=s * (t - k), minlength=ny * nx * nz).reshape(ny, nx, nz)
    part += below
    del below
    body = np.clip(part, 0.0, 1.0, out=part).astype(np.float32)
    del part
    zk = z0 + cell * np.arange(nz, dtype=np.float32)
    # a body mesh with holes cannot leak beyond its own extent along a column
    body *= (zk[None, None] <= front[..., None] + cell) & (zk[None, None] >= back[..., None] - cell) & has[..., None]
    body = _deepened(body, ease)
    if roomy.any():
        body = _widened(body, np.where(roomy, ease, 0.0))
    garment = np.minimum(zk[None, None] + cell / 2, hi_g[..., None])
    garment -= np.maximum(zk[None, None] - cell / 2, lo_g[..., None])
    garment = np.clip(garment / cell, 0.0, 1.0, out=garment)
    if coat:
        _hollowed(garment, hanging, COAT_WALL * sil.height_px / cell)
    union = np.maximum(body, garment)
    del body, garment
    for solid in solids:
        _add_solid(union, solid, (u0, v0, z0), cell)
    # the blur rounds the cells' steps off but never removes what was there (thin arms stay)
    union = np.maximum(_blur3(union, BLUR_CELLS), union)
    carve = np.clip(0.5 + phi / cell, 0.0, 1.0).astype(np.float32)
    if complete_in is not None:
        U, V = np.meshgrid(u0 + cell * np.arange(nx), v0 + cell * np.arange(ny))
        beyond = (U < -0.5) | (V < -0.5) | (U > complete_in[0] - 0.5) | (V > complete_in[1] - 0.5)
        carve[beyond] = 1.0
    vol = np.minimum(union, carve[..., None])
    facts = {"grid_cell_px": round(cell, 3), "grid": [int(nx), int(ny), int(nz)], "completed": complete_in is not None,
             "garment_columns": round(float(((thick > 0) & ~has).sum() / max(int((phi > 0).sum()), 1)), 4),
             "open_coat_cells": int(opening.sum()), "open_coat": bool(coat)}
    if coat:   # what the texture needs to give the coat's back its colour: how far down it hangs, its colour
        rows, cols = np.nonzero(hanging & ~has & (phi > 0))
        pick = np.round([v0 + cell * rows, u0 + cell * cols]).astype(int)
        pick = pick[:, (pick[0] >= 0) & (pick[0] < rgb.shape[0]) & (pick[1] >= 0) & (pick[1] < rgb.shape[1])]
        hem = np.flatnonzero(wide_rows(hanging, cell, sil.height_px))[-1]
        facts["open_coat_hem_v"] = round(float(v0 + cell * hem), 1)
        facts["open_coat_rgb"] = [int(c) for c in np.median(rgb[pick[0], pick[1]], axis=0)]
    return vol, (float(u0), float(v0), z0), facts


def _depth_ease(has: np.ndarray, phi: np.ndarray, cell: float, height_px: float, bare: np.ndarray | None,
                search: float = EASE_SEARCH, cap: float = MAX_EASE) -> np.ndarray:
    """Per grid column (cells), how much deeper than the body the person is in front and behind:
    where the mask reaches a little beyond the body's outline (clothes with some ease, or a body
    fuller than the model's average girth), it reaches as far beyond its front and back (a sleeve or
    a trouser leg is round about the limb). Read at the body's outline where the mask's edge is within
    `search` of it (further, it is another part: an arm beside the torso, a skirt), capped at `cap`
    (both of the height), carried over the body's columns, and none on the bare parts (`bare`: the
    face stays)."""
    h8 = has.astype(np.uint8)
    outline = has & ~(cv2.erode(h8, np.ones((3, 3), np.uint8)) > 0)
    reach = phi / cell - 0.5   # a cell's centre lies half a cell inside the body's outline
    known = outline & (reach < search * height_px / cell)
    if bare is not None:
        known &= ~bare
    if known.sum() < 8:
        return np.zeros(has.shape, np.float32)
    ease = _fill(np.clip(reach, 0.0, cap * height_px / cell), known)
    ease = cv2.GaussianBlur(ease.astype(np.float32), (0, 0), 2.0)
    if bare is not None:
        ease[bare] = 0.0
    return np.where(has, ease, 0.0).astype(np.float32)


def _deepened(body: np.ndarray, ease: np.ndarray) -> np.ndarray:
    """The body's occupancy (ny, nx, nz) grown along z by each column's `ease` (cells, fractional): a
    gap wider than twice the ease (an arm in front of the torso) stays."""
    out = body.copy()
    for r in range(1, int(np.ceil(ease.max(initial=0.0))) + 1):
        w = np.clip(ease - (r - 1), 0.0, 1.0)[..., None].astype(np.float32)
        np.maximum(out[..., r:], body[..., :-r] * w, out=out[..., r:])
        np.maximum(out[..., :-r], body[..., r:] * w, out=out[..., :-r])
    return out


def _widened(body: np.ndarray, ease: np.ndarray) -> np.ndarray:
    """The body's occupancy (ny, nx, nz) grown across the photo by each column's `ease` (cells,
    fractional): each column's section spreads to the columns about it, in 8 directions. In place,
    over the box of the columns with some ease (a seated person's lap: about 0.01 s at 1024 px)."""
    reach = int(np.ceil(ease.max(initial=0.0)))
    if reach == 0:
        return body
    rows, cols = np.nonzero(ease > 0)
    ny, nx = body.shape[:2]
    j0, j1 = max(rows.min() - reach, 0), min(rows.max() + reach + 1, ny)
    i0, i1 = max(cols.min() - reach, 0), min(cols.max() + reach + 1, nx)
    block, weight = body[j0:j1, i0:i1], ease[j0:j1, i0:i1]
    source = block.copy()
    h, w = block.shape[:2]
    for r in range(1, reach + 1):
        spread = source * np.clip(weight - (r - 1), 0.0, 1.0)[..., None].astype(np.float32)
        d = max(1, int(round(r / np.sqrt(2))))
        for dj, di in ((r, 0), (-r, 0), (0, r), (0, -r), (d, d), (d, -d), (-d, d), (-d, -d)):
            to_j, from_j = slice(max(dj, 0), h + min(dj, 0)), slice(max(-dj, 0), h + min(-dj, 0))
            to_i, from_i = slice(max(di, 0), w + min(di, 0)), slice(max(-di, 0), w + min(-di, 0))
            np.maximum(block[to_j, to_i], spread[from_j, from_i], out=block[to_j, to_i])
    return body


def _cells_near(points_px: np.ndarray, u0: float, v0: float, cell: float, nx: int, ny: int) -> np.ndarray:
    """(ny, nx) bool: the grid cells within two cells of any of the photo points (N, 2+)."""
    cells = _cells_at(points_px, u0, v0, cell, nx, ny).astype(np.uint8)
    return cv2.dilate(cells, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0


def _cells_at(points_px: np.ndarray, u0: float, v0: float, cell: float, nx: int, ny: int) -> np.ndarray:
    """(ny, nx) bool: the grid cells holding any of the photo points (N, 2+)."""
    cells = np.zeros((ny, nx), bool)
    ij = np.round((np.asarray(points_px)[:, :2] - [u0, v0]) / cell).astype(int)
    ij = ij[(ij[:, 0] >= 0) & (ij[:, 0] < nx) & (ij[:, 1] >= 0) & (ij[:, 1] < ny)]
    cells[ij[:, 1], ij[:, 0]] = True
    return cells


def _hollowed(garment: np.ndarray, shell: np.ndarray, wall: float) -> None:
    """The garment's occupancy (ny, nx, nz) emptied, in the columns of `shell` (ny, nx), further than
    `wall` cells inside its outline in each row's section (across the photo and in depth, so its sides
    are as thick as its front and back): an open coat's shell about the legs (the body's own volume
    is added after). In place."""
    for r in np.flatnonzero(shell.any(1)):
        solid = np.pad((garment[r] > 0.5).astype(np.uint8), 1)
        inside = cv2.distanceTransform(solid, cv2.DIST_L2, 5)[1:-1, 1:-1]
        garment[r] -= np.clip(inside - wall, 0.0, 1.0) * shell[r][:, None]
    np.clip(garment, 0.0, 1.0, out=garment)


def _add_solid(union: np.ndarray, solid: Solid, origin, cell: float) -> None:
    """union (ny, nx, nz) = max(union, the solid's cell coverage), over the solid's bounds only."""
    lo = np.maximum(np.floor((solid.lo - np.asarray(origin)) / cell).astype(int) - 1, 0)
    hi = np.minimum(np.ceil((solid.hi - np.asarray(origin)) / cell).astype(int) + 2, [union.shape[1], union.shape[0], union.shape[2]])
    if (hi <= lo).any():
        return
    i, j, k = (np.arange(lo[a], hi[a]) for a in range(3))
    J, I, K = np.meshgrid(j, i, k, indexing="ij")
    points = np.column_stack([origin[0] + cell * I.ravel(), origin[1] + cell * J.ravel(), origin[2] + cell * K.ravel()])
    cover = np.clip(0.5 - solid.signed_distance(points) / cell, 0.0, 1.0).reshape(J.shape)
    block = union[lo[1]:hi[1], lo[0]:hi[0], lo[2]:hi[2]]
    np.maximum(block, cover.astype(union.dtype), out=block)


def _garment(has, front, back, sil: Silhouette, cell: float, u0: float, v0: float, nx: int, ny: int, inflated,
             hips: float, torso_turn: float = 0.0, hands: np.ndarray | None = None, hip_width: float = np.inf,
             colours: np.ndarray | None = None, layers: np.ndarray | None = None):
    """Per grid column, the garment's depth interval (lo, hi), the mask's signed distance phi (pixels,
    > 0 inside), the garment's half-thickness (0: no garment there), an open coat's front (cells
    where the photo shows the legs between its panels: `coat_opening`, with `colours`, the photo
    in CIELAB at the cells) and the cells where the garment hangs as a tube wider than the legs (a
    skirt's or a coat's, not a trouser leg's), from the body's front and back in the columns it
    covers (`has`);
    `hips`: the grid row of the body's hips; `torso_turn`, `hip_width`: see `occupancy`; `hands`:
    grid cells of the fitted hands (`_around_the_legs`); `layers`: per column, how many times the
    body's surface crosses it (4 or more: one leg in front of the other)."""
    # continued from the body's interior (away from its rounded outline)
    inner = cv2.distanceTransform(has.astype(np.uint8), cv2.DIST_L2, 3)
    known = inner >= 2.5
    if known.sum() < 16:
        known = has
    centre = _fill(np.where(has, 0.5 * (front + back), 0.0), known)
    half = _fill(np.where(has, 0.5 * (front - back), 0.0), known)
    uu = u0 + cell * np.arange(nx, dtype=np.float32)
    vv = v0 + cell * np.arange(ny, dtype=np.float32)
    phi = sil.sample(sil.phi, *np.meshgrid(uu, vv), outside=-1.0)  # pixels, > 0 inside the mask
    if inflated is not None:
        half = inflated(*np.meshgrid(uu, vv))
    else:  # the nearby body's thickness, rounded off towards the outline
        half = half * np.sqrt(1.0 - (1.0 - np.clip(phi / np.maximum(half, cell), 0.0, 1.0)) ** 2)
    # inside the body's projection the garment fades within a few cells of its outline (a limb in
    # front of the body keeps its own shape), unless the mask is much wider than the body there (a
    # skirt or a coat covers the legs: the garment is the surface)
    weight = np.clip(1.0 - inner / 6.0, 0.0, 1.0)
    # ... nor where the legs lie in two layers (one in front of the other in the same columns of the
    # photo): a garment about their middle depth stood between them
    if layers is not None:
        weight = np.where((layers >= 4) & (np.arange(ny)[:, None] > hips), 0.0, weight)
    window = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    wider = cv2.dilate(np.maximum(phi, 0.0).astype(np.float32) / cell, window) / np.maximum(cv2.dilate(inner, window), 1.0)
    skirt = np.clip((wider - 1.4) / 0.6, 0.0, 1.0)
    weight = np.maximum(weight, skirt)
    # a skirt or a coat over the legs hangs as a tube: as deep as it is wide row by row, down to its
    # hem (the 2D inflation goes to nothing at the hem, an outline like any other), from just below the hips
    tube, tube_centre, trouser_legs = hanging_tube(phi > 0, has, centre, cell, sil.height_px, hips, torso_turn,
                                                   hands, hip_width / cell)
    half = np.maximum(half, skirt * tube)
    # ... and a wide trouser leg is its own round section: the inflation of the mask, where the legs
    # touch in the photo, filled the space between them in front and behind, and the body's
    # interior fade left the trousers at the legs' shape
    half = np.where(trouser_legs, tube, half)
    weight = np.where(trouser_legs, 1.0, weight)
    # ... hanging straight about the row's middle depth, not sheared with each leg of a stride
    centre = np.where(tube > 0, centre + skirt * (tube_centre - centre), centre)
    opening = np.zeros(has.shape, bool) if colours is None else \
        coat_opening(colours, tube, has, phi > 0, cell, sil.height_px)
    # blurred over a few cells, so garment and body meet without grooves
    thick = cv2.GaussianBlur((half * weight).astype(np.float32), (0, 0), 2.0)
    thick = np.where(phi > 0, np.maximum(thick, np.where(weight > 0, cell, 0.0)), 0.0)
    lo_g, hi_g = centre - thick, centre + thick
    # ... and, off the body and the tube, no deeper than the body on both sides of it (thighs that
    # touch in the photo: the inflation of the wide mask there stood 4-5 cm out in front and behind)
    lo_cap, hi_cap = _between_the_body(has, front, back, GAP_WIDTH * sil.height_px / cell)
    free = (tube <= 0) & ~has
    lo_g = np.where(free, np.maximum(lo_g, lo_cap), lo_g)
    hi_g = np.where(free, np.minimum(hi_g, hi_cap), hi_g)
    # ... and an open coat's front, where the photo shows the legs between its panels, is the legs'
    hi_g = np.where(opening, np.minimum(hi_g, front + cell), hi_g)
    lo_g, hi_g = lo_g.astype(np.float32), hi_g.astype(np.float32)
    return lo_g, hi_g, phi, thick, opening, (tube > 0) & (skirt >= 0.5) & ~trouser_legs


def _cell_colours(rgb: np.ndarray, u0: float, v0: float, cell: float, nx: int, ny: int) -> np.ndarray:
    """The photo in CIELAB averaged over each grid cell, at the cells (ny, nx, 3); black outside it."""
    k = max(1, int(round(cell)))
    lab = cv2.cvtColor(cv2.blur(np.ascontiguousarray(rgb), (k, k)).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    h, w = lab.shape[:2]
    cols = np.round(u0 + cell * np.arange(nx)).astype(int)
    rows = np.round(v0 + cell * np.arange(ny)).astype(int)
    out = np.zeros((ny, nx, 3), np.float32)
    ci, ri = (cols >= 0) & (cols < w), (rows >= 0) & (rows < h)
    out[np.ix_(ri, ci)] = lab[np.ix_(rows[ri], cols[ci])]
    return out


def _between_the_body(has: np.ndarray, front: np.ndarray, back: np.ndarray, reach: float):
    """Per cell, the depth interval spanned by the body columns nearest on its left and on its right
    in its row, where both lie within `reach` cells ((-inf, inf) elsewhere): the mask between two
    thighs that touch in the photo is no garment deeper than they are."""
    ny, nx = has.shape
    cols = np.broadcast_to(np.arange(nx), has.shape)
    left = np.maximum.accumulate(np.where(has, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(has, cols, nx)[:, ::-1], axis=1)[:, ::-1]
    both = (left >= 0) & (right < nx) & (cols - left <= reach) & (right - cols <= reach)
    li, ri = np.clip(left, 0, nx - 1), np.clip(right, 0, nx - 1)
    take = lambda a, i: np.take_along_axis(a, i, axis=1)  # noqa: E731
    lo = np.minimum(take(back, li), take(back, ri))
    hi = np.maximum(take(front, li), take(front, ri))
    return np.where(both, lo, -np.inf), np.where(both, hi, np.inf)


def _blur3(vol: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(vol, sigma, mode="constant", truncate=2.5)


