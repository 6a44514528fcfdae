"""The dressed volume's closed surface (dress.py's occupancy): marching cubes, tiny pieces dropped,
Taubin smoothing, and a quadric reduction to the face budget that keeps the surface closed."""

from __future__ import annotations

import numpy as np

SMOOTHING = 10  # Taubin steps: the cells' staircase goes, the volume stays
REDUCE_TRIES = (1.0, 0.95, 0.9)  # shares of the face budget the reduction aims at, in turn
MIN_PIECE = 0.002  # pieces with fewer faces than this share of the whole are specks


def extract(vol: np.ndarray, origin, cell: float, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the volume (closed: padded with empty cells), specks dropped, reduced to
    `max_faces`. Vertices in photo pixels."""
    from skimage.measure import marching_cubes

    padded = np.pad(vol, 1)
    verts, faces, _, _ = marching_cubes(padded, 0.5, allow_degenerate=False)
    faces = faces.astype(np.int64)
    faces = _drop_specks(faces, len(verts))
    verts = _taubin(verts, faces, SMOOTHING)
    if len(faces) > max_faces:
        verts, faces = _reduce(verts, faces, max_faces)
    used, inv = np.unique(faces, return_inverse=True)
    verts, faces = verts[used], inv.reshape(-1, 3)
    u0, v0, z0 = origin
    px = np.column_stack([u0 + cell * (verts[:, 1] - 1), v0 + cell * (verts[:, 0] - 1), z0 + cell * (verts[:, 2] - 1)])
    return px, faces


def _taubin(verts: np.ndarray, faces: np.ndarray, steps: int, lam: float = 0.5, mu: float = -0.53) -> np.ndarray:
    """Taubin smoothing (a shrinking and an inflating Laplacian step in turn)."""
    from scipy.sparse import coo_matrix, diags

    n = len(verts)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    mean = diags(1.0 / np.maximum(np.asarray(adj.sum(1)).ravel(), 1.0)) @ adj
    v = verts.astype(np.float64)
    for _ in range(steps):
        v = v + lam * (mean @ v - v)
        v = v + mu * (mean @ v - v)
    return v


def _drop_specks(faces: np.ndarray, n: int) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    face_label = label[faces[:, 0]]
    counts = np.bincount(face_label)
    keep = counts[face_label] >= max(24, MIN_PIECE * len(faces))
    return faces[keep]


def _reduce(verts: np.ndarray, faces: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation; kept only if the result is still closed (else the input). A collapse can
    press two sheets together along an edge (an arm against the torso, a shin against the other):
    they are pulled apart where they touch (unzip_touching_sheets); failing that, a slightly smaller
    target collapses in another order, so up to REDUCE_TRIES targets are tried."""
    import fast_simplification

    from ...geometry.mesh_utils import edge_topology, unzip_touching_sheets

    points, triangles = verts.astype(np.float64), faces.astype(np.int32)
    for share in REDUCE_TRIES:
        pts, tri = fast_simplification.simplify(points, triangles, target_count=int(share * target), agg=7.0)
        tri = np.asarray(tri, np.int64)
        ok = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
        tri = tri[ok]
        if not len(tri):
            continue
        if (edge_topology(tri).face_count == 2).all():
            return np.asarray(pts, np.float64), tri
        unzipped = unzip_touching_sheets(pts, tri)
        if unzipped is not None and (edge_topology(unzipped[1]).face_count == 2).all():
            return unzipped
    return verts, faces
