"""Small triangle-mesh helpers on numpy arrays: edges, adjacency, components, boundary loops, normals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


@dataclass
class EdgeTopology:
    """Unique undirected edges (E,2) (sorted vertex pairs), the edge of each face corner (F,3) — corner k is the
    edge opposite vertex k — and how many faces use each edge (E,)."""

    edges: np.ndarray
    face_edges: np.ndarray
    face_count: np.ndarray


def edge_topology(faces: np.ndarray) -> EdgeTopology:
    faces = np.asarray(faces, dtype=np.int64)
    corners = np.concatenate([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]])
    corners.sort(axis=1)
    base = int(faces.max(initial=0)) + 1
    keys, inverse, counts = np.unique(corners[:, 0] * base + corners[:, 1], return_inverse=True, return_counts=True)
    edges = np.stack([keys // base, keys % base], 1)
    face_edges = inverse.reshape(3, -1).T
    return EdgeTopology(edges, face_edges, counts)


def face_pairs_across_edges(topology: EdgeTopology) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face_a, face_b, edge) for every pair of faces sharing an edge (all pairs on non-manifold edges)."""
    num_faces = len(topology.face_edges)
    edge_of = topology.face_edges.T.reshape(-1)
    face_of = np.tile(np.arange(num_faces), 3)
    order = np.argsort(edge_of, kind="stable")
    edge_sorted, face_sorted = edge_of[order], face_of[order]
    starts = np.searchsorted(edge_sorted, np.arange(len(topology.edges)))
    pairs_a, pairs_b, pairs_e = [], [], []
    for offset in range(1, int(topology.face_count.max(initial=1))):
        has = topology.face_count > offset
        first = starts[has]
        for base in range(offset):
            pairs_a.append(face_sorted[first + base])
            pairs_b.append(face_sorted[first + offset])
            pairs_e.append(np.nonzero(has)[0])
    if not pairs_a:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(pairs_a), np.concatenate(pairs_b), np.concatenate(pairs_e)


def face_components(num_faces: int, face_a: np.ndarray, face_b: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of faces linked by the given (a, b) pairs: (count, label per face)."""
    graph = sp.coo_matrix((np.ones(len(face_a), dtype=np.int8), (face_a, face_b)), shape=(num_faces, num_faces))
    return connected_components(graph, directed=False)


def mesh_components(faces: np.ndarray) -> tuple[int, np.ndarray]:
    """Components of faces connected through shared edges."""
    a, b, _ = face_pairs_across_edges(edge_topology(faces))
    return face_components(len(faces), a, b)


def face_normals_and_areas(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    double_area = np.linalg.norm(cross, axis=1)
    normals = cross / np.maximum(double_area, 1e-30)[:, None]
    return normals, 0.5 * double_area


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit length; zero for unused vertices)."""
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros((len(vertices), 3))
    for k in range(3):
        np.add.at(normals, faces[:, k], cross)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)


def remove_unreferenced_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drops vertices no face uses: (vertices, faces, old index of each kept vertex)."""
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[faces], used


def merge_duplicate_vertices(vertices: np.ndarray, faces: np.ndarray, decimals: int = 7
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Welds vertices at the same position (rounded) and drops faces that became degenerate or duplicated."""
    key = np.round(np.asarray(vertices, dtype=np.float64), decimals)
    order = np.lexsort(key.T[::-1])              # much faster than np.unique(axis=0) on large meshes
    ordered = key[order]
    starts = np.concatenate([[True], np.any(ordered[1:] != ordered[:-1], axis=1)])
    inverse = np.empty(len(key), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    count = int(starts.sum())
    merged = np.stack([np.bincount(inverse, weights=vertices[:, k], minlength=count) for k in range(3)], 1)
    merged /= np.bincount(inverse, minlength=count)[:, None]
    new_faces = inverse[faces]
    return merged, drop_degenerate_faces(new_faces)


def drop_degenerate_faces(faces: np.ndarray) -> np.ndarray:
    """Removes faces with a repeated vertex and exact duplicates (same vertex set)."""
    f = np.asarray(faces, dtype=np.int64)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 2] != f[:, 0])]
    s = np.sort(f, axis=1)
    base = int(f.max(initial=0)) + 1
    _, first = np.unique((s[:, 0] * base + s[:, 1]) * base + s[:, 2], return_index=True)
    return f[np.sort(first)]


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed loops of boundary edges (edges used by one face), as vertex index arrays in face winding order.

    Where a vertex has several outgoing boundary edges (a pinched boundary) the walk takes the first one; every
    boundary edge still ends up in exactly one loop.
    """
    faces = np.asarray(faces, dtype=np.int64)
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    topo = edge_topology(faces)
    edge_of_directed = np.concatenate([topo.face_edges[:, 2], topo.face_edges[:, 0], topo.face_edges[:, 1]])
    boundary = directed[topo.face_count[edge_of_directed] == 1]
    if len(boundary) == 0:
        return []
    order = np.argsort(boundary[:, 0], kind="stable")
    starts = boundary[order, 0]
    ends = boundary[order, 1]
    used = np.zeros(len(order), dtype=bool)
    first_slot = {}
    for slot, vertex in enumerate(starts):
        first_slot.setdefault(int(vertex), []).append(slot)
    loops = []
    for seed in range(len(order)):
        if used[seed]:
            continue
        loop, slot = [], seed
        while slot is not None and not used[slot]:
            used[slot] = True
            loop.append(int(starts[slot]))
            slot = next((s for s in first_slot.get(int(ends[slot]), ()) if not used[s]), None)
        loops.append(np.array(loop, dtype=np.int64))
    return loops


def loop_area(vertices: np.ndarray, loop: np.ndarray) -> float:
    """Area spanned by a closed loop: half the summed |(a - c) x (b - c)| over its edges, c = loop centroid."""
    points = np.asarray(vertices, dtype=np.float64)[loop]
    centre = points.mean(0)
    a, b = points - centre, np.roll(points, -1, axis=0) - centre
    return 0.5 * float(np.linalg.norm(np.cross(a, b), axis=1).sum())


@dataclass
class ManifoldReport:
    boundary_edges: int
    non_manifold_edges: int
    non_manifold_vertices: int
    components: int

    @property
    def edge_manifold(self) -> bool:
        return self.non_manifold_edges == 0

    @property
    def manifold(self) -> bool:
        return self.non_manifold_edges == 0 and self.non_manifold_vertices == 0

    @property
    def closed(self) -> bool:
        return self.manifold and self.boundary_edges == 0


def _corner_fans(faces: np.ndarray, num_vertices: int) -> tuple[int, np.ndarray]:
    """Labels the corners (F*3, face-major) so corners of one vertex share a label iff their faces form one
    edge-connected fan around that vertex."""
    topo = edge_topology(faces)
    a, b, e = face_pairs_across_edges(topo)
    corner_id = np.arange(3 * len(faces))
    lookup = sp.coo_matrix((corner_id + 1, (np.repeat(np.arange(len(faces)), 3), faces.reshape(-1))),
                           shape=(len(faces), num_vertices)).tocsr()
    links_a, links_b = [], []
    for endpoint in (0, 1):
        v = topo.edges[e, endpoint]
        links_a.append(np.asarray(lookup[a, v]).reshape(-1) - 1)
        links_b.append(np.asarray(lookup[b, v]).reshape(-1) - 1)
    return face_components(3 * len(faces), np.concatenate(links_a), np.concatenate(links_b))


def manifold_report(faces: np.ndarray, num_vertices: int | None = None) -> ManifoldReport:
    """Counts boundary and non-manifold edges, and vertices whose faces form more than one fan."""
    faces = np.asarray(faces, dtype=np.int64)
    topo = edge_topology(faces)
    num_vertices = int(faces.max()) + 1 if num_vertices is None else num_vertices
    n_fans, fan = _corner_fans(faces, num_vertices)
    vertex_fan = np.unique(faces.reshape(-1) * n_fans + fan) // n_fans
    fans_per_vertex = np.bincount(vertex_fan, minlength=num_vertices)
    a, b, _ = face_pairs_across_edges(topo)
    n_components, _ = face_components(len(faces), a, b)
    return ManifoldReport(boundary_edges=int((topo.face_count == 1).sum()),
                          non_manifold_edges=int((topo.face_count > 2).sum()),
                          non_manifold_vertices=int((fans_per_vertex > 1).sum()),
                          components=int(n_components))


def make_manifold(vertices: np.ndarray, faces: np.ndarray, face_priority: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Drops faces beyond two on every non-manifold edge (lowest priority first, default: smallest area), then
    splits vertices shared by several fans into one vertex per fan."""
    faces = np.asarray(faces, dtype=np.int64)
    if face_priority is None:
        face_priority = face_normals_and_areas(vertices, faces)[1]
    for _ in range(3):      # dropping faces can expose another over-used edge only rarely
        topo = edge_topology(faces)
        crowded = np.nonzero(topo.face_count > 2)[0]
        if not len(crowded):
            break
        drop = np.zeros(len(faces), dtype=bool)
        for edge in crowded:
            users = np.nonzero((topo.face_edges == edge).any(1))[0]
            drop[users[np.argsort(-face_priority[users])][2:]] = True
        faces, face_priority = faces[~drop], face_priority[~drop]
    n_fans, fan = _corner_fans(faces, len(vertices))
    pair = faces.reshape(-1) * n_fans + fan
    unique_pairs, new_index = np.unique(pair, return_inverse=True)
    source_vertex = unique_pairs // n_fans
    return np.asarray(vertices)[source_vertex], new_index.reshape(-1, 3)


def unzip_touching_sheets(vertices: np.ndarray, faces: np.ndarray, nudge: float = 0.02
                          ) -> tuple[np.ndarray, np.ndarray] | None:
    """A closed, consistently oriented surface whose sheets touch along an edge (used by four faces)
    or at a vertex (a quadric reduction presses two of them together), pulled apart into sheets that
    only meet: every such vertex gets a copy per sheet, moved `nudge` of the way to the middle of its
    own faces (so welding by position keeps them apart). (vertices, faces), the vertices renumbered;
    None when the half-edges cannot be paired (a hole, a flipped face)."""
    faces = np.asarray(faces, np.int64)
    m = len(faces)
    tail = faces.T.ravel()                      # half-edge h = k * m + f runs corner k -> corner k+1 of face f
    head = faces[:, [1, 2, 0]].T.ravel()
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    forward = tail < head
    order = np.lexsort((np.arange(3 * m), forward, hi, lo))
    key = lo[order] * (int(faces.max(initial=0)) + 1) + hi[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    if (sizes % 2).any():
        return None
    # within an edge's group, backward half-edges sort first: the i-th backward pairs with the i-th forward
    group = np.repeat(np.arange(len(starts)), sizes)
    rank = np.arange(len(order)) - starts[group]
    half = sizes[group] // 2
    if (forward[order] != (rank >= half)).any():
        return None
    first = order[rank < half]
    second = order[starts[group[rank < half]] + rank[rank < half] + half[rank < half]]
    # a half-edge's two corners: (its face, corner k) and (its face, corner k+1); paired half-edges join
    # the corners at the same vertex, and each vertex copy is one connected set of corners
    corner = lambda h, k: ((h // m + k) % 3) * m + h % m  # noqa: E731  (corner k of half-edge h's two)

    def corner_sets(h1, h2):
        a, b = np.r_[corner(h1, 0), corner(h1, 1)], np.r_[corner(h2, 1), corner(h2, 0)]
        return connected_components(sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(3 * m, 3 * m)), directed=False)

    touching = sizes[group[rank < half]] == 4
    if touching.any():
        # two sheets along one edge: a backward half-edge pairs with the forward one of its own sheet,
        # the one whose face is reached round the edge's lower vertex without crossing the edge
        _, fan = corner_sets(first[~touching], second[~touching])
        b1, b2 = first[touching][0::2], first[touching][1::2]
        s1, s2 = second[touching][0::2], second[touching][1::2]
        low = lambda h, is_forward: corner(h, 0 if is_forward else 1)  # noqa: E731
        swap = (fan[low(b1, False)] == fan[low(s2, True)]) | (fan[low(b2, False)] == fan[low(s1, True)])
        s1, s2 = np.where(swap, s2, s1), np.where(swap, s1, s2)
        second[np.flatnonzero(touching)[0::2]], second[np.flatnonzero(touching)[1::2]] = s1, s2
    count, label = corner_sets(first, second)
    vertex_of = np.empty(count, np.int64)
    vertex_of[label] = faces.T.ravel()
    out = np.asarray(vertices, np.float64)[vertex_of]
    copies = np.bincount(vertex_of, minlength=len(vertices))
    split = copies[vertex_of] > 1
    if split.any():   # each copy a little way towards the middle of its own corners' faces
        centre = np.zeros((count, 3))
        np.add.at(centre, label, np.asarray(vertices, np.float64)[faces].mean(1)[np.tile(np.arange(m), 3)])
        centre /= np.bincount(label, minlength=count)[:, None]
        step = centre - out
        out[split] += nudge * step[split]
    return out, label.reshape(3, m).T


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Flips every edge-connected component whose signed volume is negative (normals pointing inwards).
    Returns (faces, number of components flipped)."""
    faces = np.asarray(faces, dtype=np.int64)
    count, label = mesh_components(faces)
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))
    volume = np.bincount(label, weights=signed, minlength=count)
    flip = volume[label] < 0
    out = faces.copy()
    out[flip] = out[flip][:, ::-1]
    return out, int((volume < 0).sum())
