"""Hidden inner faces and small holes: visibility by ray casting, the reference's min-cut, hole filling.

The reference (TRELLIS / SyncHuman `_fill_holes`, architecture brief §1.7) rasterises 1000 perspective views at
1024² up to three times. Here visibility is the fraction of directions from which a face's centroid is seen from
infinity, by Embree ray casting (`embreex`): directions where nothing blocks the ray. It is computed once and shared
by the three parameter sets (the reference recomputes the same numbers each time). Faces seen from no direction of a
first coarse pass are re-tested with many more directions, so crevices are not mistaken for inner faces.

The min-cut follows the reference: faces are nodes, shared edges are arcs weighted by their length, "inner" faces
(visibility <= max_inner) are tied to the source and well-seen "outer" faces to the sink with weight 1; the source
side is a removal candidate. A connected part of it is removed only if its median visibility is low and every new
boundary it opens is small (area <= max_hole_size); the openings are then closed by `fill_small_holes`.
Unlike the reference, every path returns the number of removed faces (0 when nothing is hidden or nothing is cut).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components, maximum_flow

from .mesh_utils import (boundary_loops, edge_topology, face_components, face_normals_and_areas,
                         face_pairs_across_edges, loop_area, remove_unreferenced_vertices)

_RAYS_PER_BATCH = 1 << 21
_CAPACITY_SCALE = 10_000          # integer capacities for scipy's max-flow: lengths in units of 1e-4


@dataclass(frozen=True)
class HiddenFaceParams:
    """One parameter set of the reference: outer-face quantile, its floor, and the inner-face threshold."""

    ratio: float
    min_outer: float
    max_inner: float


REFERENCE_PARAMS = (HiddenFaceParams(0.7, 0.15, 0.01), HiddenFaceParams(0.7, 0.15, 0.0),
                    HiddenFaceParams(0.6, 0.08, 0.01))


def sphere_directions(count: int) -> np.ndarray:
    """`count` near-uniform unit vectors (Fibonacci sphere), deterministic."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


class RayScene:
    """An Embree scene of one triangle mesh (built once, queried many times)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        from embreex import rtcore_scene
        from embreex.mesh_construction import TriangleMesh

        self._scene = rtcore_scene.EmbreeScene()
        TriangleMesh(scene=self._scene, vertices=np.ascontiguousarray(vertices, dtype=np.float32),
                     indices=np.ascontiguousarray(faces, dtype=np.int32))

    def occluded(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """True where a ray hits anything (rays are unbounded)."""
        out = np.empty(len(origins), dtype=bool)
        for start in range(0, len(origins), _RAYS_PER_BATCH):
            stop = start + _RAYS_PER_BATCH
            hit = self._scene.run(np.ascontiguousarray(origins[start:stop], dtype=np.float32),
                                  np.ascontiguousarray(directions[start:stop], dtype=np.float32), query="OCCLUDED")
            out[start:stop] = hit >= 0
        return out

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> dict[str, np.ndarray]:
        """First hits: primID (-1 for none), u, v (weights of the 2nd and 3rd vertex), tfar."""
        parts = [self._scene.run(np.ascontiguousarray(origins[s:s + _RAYS_PER_BATCH], dtype=np.float32),
                                 np.ascontiguousarray(directions[s:s + _RAYS_PER_BATCH], dtype=np.float32), output=1)
                 for s in range(0, len(origins), _RAYS_PER_BATCH)]
        return {key: np.concatenate([p[key] for p in parts]) for key in ("primID", "u", "v", "tfar")}


def face_visibility(vertices: np.ndarray, faces: np.ndarray, directions: int = 64, refine_directions: int = 512,
                    scene: RayScene | None = None) -> np.ndarray:
    """Fraction of directions from which each face's centroid is visible from outside, in [0, 1]."""
    scene = scene or RayScene(vertices, faces)
    normals, _ = face_normals_and_areas(vertices, faces)
    centroids = np.asarray(vertices, dtype=np.float64)[faces].mean(1)
    offset = 1e-5 * float(np.ptp(vertices, axis=0).max())
    visibility = _visible_fraction(scene, centroids, normals, sphere_directions(directions), offset)
    unseen = np.nonzero(visibility == 0)[0]
    if len(unseen) and refine_directions > directions:
        visibility[unseen] = _visible_fraction(scene, centroids[unseen], normals[unseen],
                                               sphere_directions(refine_directions), offset)
    return visibility


def _visible_fraction(scene: RayScene, points, normals, directions, offset) -> np.ndarray:
    seen = np.zeros(len(points))
    per_batch = max(1, _RAYS_PER_BATCH // len(directions))
    for start in range(0, len(points), per_batch):
        p, n = points[start:start + per_batch], normals[start:start + per_batch]
        side = np.sign(n @ directions.T)                        # (P,D): leave the surface towards the ray's side
        side[side == 0] = 1.0
        origins = p[:, None, :] + offset * side[..., None] * n[:, None, :]
        dirs = np.broadcast_to(directions[None], origins.shape)
        blocked = scene.occluded(origins.reshape(-1, 3), dirs.reshape(-1, 3)).reshape(len(p), len(directions))
        seen[start:start + per_batch] = (~blocked).mean(1)
    return seen


@dataclass
class HiddenFaceResult:
    vertices: np.ndarray
    faces: np.ndarray
    removed_faces: int
    params: HiddenFaceParams | None


def remove_hidden_faces(vertices: np.ndarray, faces: np.ndarray, visibility: np.ndarray,
                        params: HiddenFaceParams, max_hole_size: float = 0.04) -> HiddenFaceResult:
    """One run of the reference's min-cut removal with one parameter set (no hole filling)."""
    faces = np.asarray(faces, dtype=np.int64)
    num_faces = len(faces)
    topo = edge_topology(faces)
    face_a, face_b, shared = face_pairs_across_edges(topo)
    _, component = face_components(num_faces, face_a, face_b)

    inner = visibility <= params.max_inner
    if not inner.any():
        return HiddenFaceResult(vertices, faces, 0, params)
    outer = _outer_faces(visibility, component, params)

    edge_length = np.linalg.norm(vertices[topo.edges[:, 0]] - vertices[topo.edges[:, 1]], axis=1)
    source, sink = num_faces, num_faces + 1
    inner_ids, outer_ids = np.nonzero(inner)[0], np.nonzero(outer)[0]
    rows = np.concatenate([face_a, face_b, np.full(len(inner_ids), source), outer_ids])
    cols = np.concatenate([face_b, face_a, inner_ids, np.full(len(outer_ids), sink)])
    arc = np.maximum(1, np.round(edge_length[shared] * _CAPACITY_SCALE)).astype(np.int32)
    terminal = np.int32(_CAPACITY_SCALE)
    caps = np.concatenate([arc, arc, np.full(len(inner_ids) + len(outer_ids), terminal, dtype=np.int32)])
    capacity = sp.csr_matrix((caps, (rows, cols)), shape=(num_faces + 2, num_faces + 2))
    capacity.sum_duplicates()
    flow = maximum_flow(capacity, source, sink, method="dinic").flow
    residual = (capacity - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    reachable = breadth_first_order(residual, source, directed=True, return_predecessors=False)
    candidate = np.zeros(num_faces, dtype=bool)
    candidate[reachable[reachable < num_faces]] = True
    if not candidate.any():
        return HiddenFaceResult(vertices, faces, 0, params)

    remove = _valid_removals(vertices, topo, face_a, face_b, candidate, visibility, params, max_hole_size)
    if not remove.any():
        return HiddenFaceResult(vertices, faces, 0, params)
    kept_vertices, kept_faces, _ = remove_unreferenced_vertices(vertices, faces[~remove])
    return HiddenFaceResult(kept_vertices, kept_faces, int(remove.sum()), params)


def _outer_faces(visibility: np.ndarray, component: np.ndarray, params: HiddenFaceParams) -> np.ndarray:
    """Per component: visibility above min(max(min(q_component, q_global), min_outer), 0.5)."""
    q_global = float(np.quantile(visibility, params.ratio))
    order = np.argsort(component, kind="stable")
    bounds = np.searchsorted(component[order], np.arange(component.max() + 2))
    outer = np.zeros(len(visibility), dtype=bool)
    for c in range(len(bounds) - 1):
        members = order[bounds[c]:bounds[c + 1]]
        q_comp = float(np.quantile(visibility[members], params.ratio))
        threshold = min(max(min(q_comp, q_global), params.min_outer), 0.5)
        outer[members] = visibility[members] > threshold
    return outer


def _valid_removals(vertices, topo, face_a, face_b, candidate, visibility, params, max_hole_size) -> np.ndarray:
    """Keeps candidate parts with low median visibility whose new boundary loops are all small."""
    both = candidate[face_a] & candidate[face_b]
    n_parts, part = face_components(len(candidate), face_a[both], face_b[both])
    remove = np.zeros(len(candidate), dtype=bool)
    original_boundary = topo.face_count == 1
    for label in np.unique(part[candidate]):
        members = np.nonzero(part == label)[0]
        if np.median(visibility[members]) > params.min_outer:
            continue
        edges, uses = np.unique(topo.face_edges[members].reshape(-1), return_counts=True)
        new_boundary = edges[(uses == 1) & ~original_boundary[edges]]
        if len(new_boundary) and max(_edge_group_areas(vertices, topo.edges[new_boundary])) > max_hole_size:
            continue
        remove[members] = True
    return remove


def _edge_group_areas(vertices: np.ndarray, edges: np.ndarray) -> list[float]:
    """Area of each connected group of edges: half the summed |(a-c) x (b-c)|, c = mean of the edge midpoints."""
    nodes, local = np.unique(edges, return_inverse=True)
    local = local.reshape(-1, 2)
    graph = sp.coo_matrix((np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(len(nodes),) * 2)
    _, group_of_node = connected_components(graph, directed=False)
    group = group_of_node[local[:, 0]]
    areas = []
    for g in np.unique(group):
        e = edges[group == g]
        a, b = vertices[e[:, 0]], vertices[e[:, 1]]
        centre = 0.5 * (a + b).mean(0)
        areas.append(0.5 * float(np.linalg.norm(np.cross(a - centre, b - centre), axis=1).sum()))
    return areas


def remove_hidden_faces_with_retries(vertices, faces, visibility, max_hole_size: float = 0.04,
                                     params: tuple[HiddenFaceParams, ...] = REFERENCE_PARAMS,
                                     max_removed_faces: int | None = None) -> HiddenFaceResult:
    """The reference's retry loop: run the first set; while the last run removed little, rerun the next set on the
    original mesh and keep that. "Little" means at most `max_removed_faces` (reference: 15000) and at most 0.8 x the
    vertex count."""
    limit = 15000 if max_removed_faces is None else max_removed_faces
    result = remove_hidden_faces(vertices, faces, visibility, params[0], max_hole_size)
    for next_params in params[1:]:
        if result.removed_faces > limit or result.removed_faces > 0.8 * len(vertices):
            break
        result = remove_hidden_faces(vertices, faces, visibility, next_params, max_hole_size)
    return result


def fill_small_holes(vertices: np.ndarray, faces: np.ndarray, max_edges: int,
                     max_area: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Closes boundary loops with at most `max_edges` edges (and area <= max_area): a fan around the loop's
    centroid, wound like the surrounding faces. Returns (vertices, faces, holes filled)."""
    new_vertices, new_faces, filled = [np.asarray(vertices, dtype=np.float64)], [np.asarray(faces, np.int64)], 0
    next_index = len(vertices)
    for loop in boundary_loops(faces):
        if len(loop) < 3 or len(loop) > max_edges or len(np.unique(loop)) != len(loop):
            continue
        if max_area is not None and loop_area(vertices, loop) > max_area:
            continue
        filled += 1
        # Boundary edge a->b is wound by its face; the patch uses it as b->a.
        a, b = loop, np.roll(loop, -1)
        if len(loop) == 3:
            new_faces.append(loop[::-1][None])
            continue
        new_vertices.append(np.asarray(vertices, dtype=np.float64)[loop].mean(0, keepdims=True))
        new_faces.append(np.stack([b, a, np.full(len(loop), next_index)], 1))
        next_index += 1
    return np.concatenate(new_vertices), np.concatenate(new_faces), filled
