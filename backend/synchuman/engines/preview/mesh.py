"""Inflated geometry: a front sheet over the silhouette, lifted by a rounded depth profile, reduced,
then closed with its mirror image.

1. `triangulate_region`: a grid over the silhouette's signed distance; every grid cell is cut along
   the zero level (marching squares with filled cells), so the sheet's boundary is the silhouette
   contour with sub-pixel vertices on grid edges. Each triangle has at least one interior vertex.
2. `inflate`: height z = k(R) * sqrt(2 R D - D^2) at distance D from the contour with local radius R:
   a circular cross-section for a limb (k = 1), a flatter one for the torso; z = 0 on the contour
   with a vertical tangent, so front and back meet smoothly.
3. `reduce_sheet`: quadric decimation of the front sheet with its boundary locked, so the silhouette
   stays exactly where it was.
4. `close_sheets`: the back sheet is the front one mirrored in z, sharing the boundary vertices: a
   closed, manifold, consistently oriented surface by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...geometry.mesh_utils import edge_topology

# Local slots of a cell, in cyclic order around it: corners c0 (top-left), c1 (top-right),
# c2 (bottom-right), c3 (bottom-left) and the edges between them.
#   0 = c0, 1 = top edge, 2 = c1, 3 = right edge, 4 = c2, 5 = bottom edge, 6 = c3, 7 = left edge
_CORNER_SLOTS = (0, 2, 4, 6)


def _case_triangles() -> dict[tuple[int, bool], list[tuple[int, int, int]]]:
    """Triangles (as local slots) for each inside/outside corner pattern; saddles in both variants."""
    table: dict[tuple[int, bool], list[tuple[int, int, int]]] = {}
    for case in range(16):
        inside = [(case >> k) & 1 == 1 for k in range(4)]
        for joined in (False, True):
            polys: list[list[int]] = []
            saddle = case in (5, 10)
            if saddle and not joined:
                for k in range(4):
                    if inside[k]:
                        c = _CORNER_SLOTS[k]
                        polys.append([c, (c + 1) % 8, (c - 1) % 8])
            else:
                ring = []
                for k in range(4):
                    c = _CORNER_SLOTS[k]
                    if inside[k]:
                        ring.append(c)
                    if inside[k] != inside[(k + 1) % 4]:
                        ring.append(c + 1)
                if any(inside):
                    start = next(i for i, s in enumerate(ring) if s in _CORNER_SLOTS)
                    polys.append(ring[start:] + ring[:start])
            tris = []
            for poly in polys:
                for i in range(1, len(poly) - 1):
                    tris.append((poly[0], poly[i], poly[i + 1]))
            table[(case, joined)] = tris
    return table


_TABLE = _case_triangles()


@dataclass
class Sheet:
    """A triangulated region of the photo: xy in photo pixels, z up towards the camera (pixels)."""

    xy: np.ndarray          # (N, 2) float64, photo (u, v)
    faces: np.ndarray       # (F, 3) int64, counter-clockwise seen from the camera (+z)
    border: np.ndarray      # (N,) bool, on the silhouette contour
    phi: np.ndarray         # (N,) signed distance at the vertex (0 on the border)
    z: np.ndarray | None = None


def triangulate_region(phi_at, u0: float, v0: float, cols: int, rows: int, cell: float) -> Sheet:
    """Marching-squares triangulation of {phi > 0} on a grid of `rows` x `cols` nodes spaced `cell`
    pixels from (u0, v0); `phi_at(u, v)` samples the signed distance (the grid's outer ring must be
    outside)."""
    gu = u0 + cell * np.arange(cols)
    gv = v0 + cell * np.arange(rows)
    U, V = np.meshgrid(gu, gv)
    f = phi_at(U, V).astype(np.float64)
    f[0], f[-1], f[:, 0], f[:, -1] = -1.0, -1.0, -1.0, -1.0
    inside = f > 0
    n_nodes = rows * cols
    n_h = rows * (cols - 1)
    node = np.arange(n_nodes).reshape(rows, cols)
    hedge = n_nodes + np.arange(n_h).reshape(rows, cols - 1)
    vedge = n_nodes + n_h + np.arange((rows - 1) * cols).reshape(rows - 1, cols)

    c0, c1, c2, c3 = inside[:-1, :-1], inside[:-1, 1:], inside[1:, 1:], inside[1:, :-1]
    case = c0.astype(np.int64) | (c1 << 1) | (c2 << 2) | (c3 << 3)
    centre = (f[:-1, :-1] + f[:-1, 1:] + f[1:, 1:] + f[1:, :-1]) > 0
    slots = np.stack([node[:-1, :-1], hedge[:-1, :], node[:-1, 1:], vedge[:, 1:],
                      node[1:, 1:], hedge[1:, :], node[1:, :-1], vedge[:, :-1]], axis=-1)
    faces = []
    for (cs, joined), tris in _TABLE.items():
        if not tris:
            continue
        sel = case == cs
        if cs in (5, 10):
            sel &= centre == joined
        elif joined:
            continue
        if not sel.any():
            continue
        local = slots[sel]                           # (n, 8)
        faces.append(local[:, np.array(tris)].reshape(-1, 3))
    faces = np.concatenate(faces) if faces else np.zeros((0, 3), np.int64)

    # vertex positions: nodes, and zero crossings on the edges that change sign
    pos = np.zeros((n_nodes + n_h + (rows - 1) * cols, 2))
    pos[:n_nodes, 0] = U.ravel()
    pos[:n_nodes, 1] = V.ravel()
    fa, fb = f[:, :-1], f[:, 1:]
    t = np.clip(fa / np.where(fa - fb == 0, 1, fa - fb), 0.02, 0.98)
    pos[n_nodes:n_nodes + n_h, 0] = (U[:, :-1] + t * cell).ravel()
    pos[n_nodes:n_nodes + n_h, 1] = V[:, :-1].ravel()
    fa, fb = f[:-1, :], f[1:, :]
    t = np.clip(fa / np.where(fa - fb == 0, 1, fa - fb), 0.02, 0.98)
    pos[n_nodes + n_h:, 0] = U[:-1, :].ravel()
    pos[n_nodes + n_h:, 1] = (V[:-1, :] + t * cell).ravel()
    phis = np.zeros(len(pos))
    phis[:n_nodes] = f.ravel()

    used_mask = np.zeros(len(pos), bool)
    used_mask[faces.ravel()] = True
    used = np.nonzero(used_mask)[0]
    new_index = np.cumsum(used_mask) - 1
    faces = new_index[faces].astype(np.int64)
    xy = pos[used]
    border = used >= n_nodes
    # counter-clockwise seen from the camera: with v pointing down that is clockwise in (u, v)
    a, b, c = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    flip = cross > 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return Sheet(xy=xy, faces=faces, border=border, phi=np.where(border, 0.0, phis[used]))


def inflate(sheet: Sheet, radius: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Heights of a rounded cross-section: ratio * sqrt(2 R D - D^2), D the distance to the contour."""
    R = np.maximum(radius, 1e-3)
    D = np.clip(sheet.phi, 0.0, R)
    return np.where(sheet.border, 0.0, ratio * np.sqrt(np.maximum(2 * R * D - D * D, 0.0)))


def _edge_keys(faces: np.ndarray, directed: bool = False) -> np.ndarray:
    """One int64 key per face edge (a * n + b), sorted vertex pair unless `directed`."""
    a = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]]).astype(np.int64)
    b = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]]).astype(np.int64)
    if not directed:
        a, b = np.minimum(a, b), np.maximum(a, b)
    n = int(max(a.max(initial=0), b.max(initial=0))) + 1
    return a * n + b


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    """Edges used by exactly one face (sorted vertex pairs)."""
    if len(faces) == 0:
        return np.zeros((0, 2), np.int64)
    keys = _edge_keys(faces)
    n = int(faces.max()) + 1
    uniq, counts = np.unique(keys, return_counts=True)
    once = uniq[counts == 1]
    return np.stack([once // n, once % n], axis=1)


def directed_edges_unique(faces: np.ndarray) -> bool:
    """Every directed edge used once: neighbouring faces are consistently oriented."""
    keys = _edge_keys(faces, directed=True)
    return len(np.unique(keys)) == len(keys)


def reduce_sheet(xyz: np.ndarray, faces: np.ndarray, border: np.ndarray, target: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadric decimation of an open sheet to about `target` faces with its boundary locked.

    Returns (xyz, faces, border). Falls back to the input when the result would not be a clean sheet
    (every edge used once on the contour or twice inside, the same contour as before)."""
    if len(faces) <= target:
        return xyz, faces, border
    import fast_simplification

    pts, tri = fast_simplification.simplify(xyz.astype(np.float64), faces.astype(np.int32), target_count=int(target),
                                            agg=7.0, preserve_border=True)
    tri = np.asarray(tri, np.int64)
    pts = np.asarray(pts, np.float64)
    if len(tri) == 0:
        return xyz, faces, border
    # drop degenerate faces (repeated vertices) and unreferenced points
    ok = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
    tri = tri[ok]
    used, inv = np.unique(tri, return_inverse=True)
    tri = inv.reshape(-1, 3)
    pts = pts[used]
    counts = edge_topology(tri).face_count
    if counts.max() > 2:
        return xyz, faces, border
    b_edges = boundary_edges(tri)
    new_border = np.zeros(len(pts), bool)
    new_border[b_edges.ravel()] = True
    if new_border.sum() != border.sum() or len(b_edges) != len(boundary_edges(faces)):
        return xyz, faces, border
    return pts, tri, new_border


def close_sheets(xyz: np.ndarray, faces: np.ndarray, border: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Front sheet + its mirror (z -> -z) sharing the border vertices: a closed surface.

    Returns (vertices, faces, side) where side is +1 for front faces and -1 for back faces."""
    n = len(xyz)
    inner = np.nonzero(~border)[0]
    back_index = np.arange(n)
    back_index[inner] = n + np.arange(len(inner))
    back = xyz[inner].copy()
    back[:, 2] *= -1.0
    verts = np.concatenate([xyz, back])
    back_faces = back_index[faces][:, [0, 2, 1]]
    all_faces = np.concatenate([faces, back_faces])
    side = np.concatenate([np.ones(len(faces), np.int8), -np.ones(len(faces), np.int8)])
    return verts, all_faces, side


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    fn = np.cross(b - a, c - a)
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return vn / np.maximum(norm, 1e-12)
