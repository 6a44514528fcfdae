"""Skin weights on a result mesh, carried over from the fitted body's.

1. Transfer: each mesh vertex takes the weights of its nearest body vertex (`mesh_to_body` when the
   dressing step already knows it), and its distance to the body says how sure that is. Depth
   counts half in "nearest": a body fitted to a photo is placed best across the picture.
2. Smooth/inpaint over the mesh (its vertices welded by position, so UV seams do not cut it): a
   vertex on or near the body keeps its own weights; one far from it (a skirt, a coat, hair) is
   pulled toward its neighbours' average, so a skirt between the legs blends hip and both thighs
   instead of tearing where the nearest leg changes. Hair above the shoulders and away from the
   body is given to the head.
   Then everything is smoothed over ~blend_m of surface: (blend_m / edge)^2 lazy-walk steps, as a
   Chebyshev series in the adjacency (`lazy_walk`: ~3 sqrt(steps) sparse products).
3. Sides: a vertex left of the pelvis' middle plane loses its weight on right-side bones over a
   short ramp, and the other way round; on the arms (which can cross the body) the side is the body
   point's, in the body's own rest frame, so crossed arms still count by their own side.
4. Hinges (elbows, knees): the weight a vertex gives the limb's two bones is shared between them by
   a straight ramp across the joint's bisecting plane, about two limb radii to each side. Blender's
   Preserve Volume (dual quaternion) skinning then bends the inner side of a 90-degree bend without
   folding it: with a ramp of half-width a over a limb of radius r, the inner side shortens by at
   most pi r / 4a, so a >= 2r keeps every edge above 0.6x (r: the inner side's distance from the joint).
5. Keep the 4 largest influences per vertex, normalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.polynomial import chebyshev
from scipy import sparse
from scipy.spatial import cKDTree

INFLUENCES = 4


@dataclass
class WeightSettings:
    near_m: float = 0.015  # a vertex this close to the body is sure of its body point
    far_m: float = 0.06  # beyond this it is decided by its neighbours alone
    reach_m: float = 0.12  # how far over the surface the inpainting reaches (sweeps = reach / edge length)
    blend_m: float = 0.12  # joints blend over about this much surface (diffusion: sweeps = (blend / edge)^2)
    side_ramp_m: float = 0.04  # cross-side weight fades to zero this far from the middle
    hair_gap_m: float = 0.02  # a vertex above the shoulders this far off the body is hair or a hood
    depth_weight: float = 0.5  # depth counts this much in "nearest": a body fitted to a photo is surest in x, y
    hinge_radii: float = 2.2  # an elbow's or knee's ramp reaches this many limb radii to each side
    hinge_reach: float = 0.7  # ... and at most this fraction of the shorter of its two bones


HINGES = (("upper_arm.L", "forearm.L"), ("upper_arm.R", "forearm.R"), ("thigh.L", "shin.L"), ("thigh.R", "shin.R"))


def weld_adjacency(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
    """(welded index per vertex, row-normalised adjacency of the welded mesh)."""
    key = np.round(np.asarray(vertices, dtype=np.float64) / 1e-6).astype(np.int64)
    _, weld = np.unique(key, axis=0, return_inverse=True)
    weld = weld.reshape(-1)
    n = int(weld.max()) + 1
    f = weld[np.asarray(faces)]
    i = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    j = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = sparse.csr_matrix((np.ones(len(i), dtype=np.float32), (i, j)), shape=(n, n))
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(1)).reshape(-1)
    adj = sparse.diags(1.0 / np.maximum(deg, 1.0)).astype(np.float32) @ adj
    return weld, adj.tocsr()


@lru_cache(maxsize=None)
def _walk_series(steps: int, tolerance: float = 1e-4) -> np.ndarray:
    """Chebyshev coefficients of the lowest degree that match ((1 + x) / 2)^steps within `tolerance`
    on [-1, 1] (degree ~3 sqrt(steps) instead of steps)."""
    x = np.cos(np.linspace(0.0, np.pi, 2001))
    exact = ((1.0 + x) / 2.0) ** steps
    for degree in range(2, steps):
        coef = chebyshev.chebinterpolate(lambda t: ((1.0 + t) / 2.0) ** steps, degree)
        if np.abs(chebyshev.chebval(x, coef) - exact).max() < tolerance:
            return coef
    return np.array([])   # no shorter series: sweep


def lazy_walk(adj: sparse.csr_matrix, values: np.ndarray, steps: int, block: int = 16) -> np.ndarray:
    """`steps` sweeps of values <- (values + adj @ values) / 2 (adj row-normalised, so its spectrum
    lies in [-1, 1]), as a Chebyshev series in adj: a third of the sparse products or fewer. Columns
    go `block` at a time, so the series' three terms stay small next to `values`."""
    coef = _walk_series(steps)
    if len(coef) == 0:
        for _ in range(steps):
            values = 0.5 * values + 0.5 * (adj @ values)
        return values
    out = np.empty_like(values)
    for k in range(0, values.shape[1], block):
        prev = np.ascontiguousarray(values[:, k:k + block])
        cur = adj @ prev   # T_0(adj) and T_1(adj) applied to the block
        acc = coef[0] * prev
        acc += coef[1] * cur
        for c in coef[2:]:   # T_k = 2 adj T_(k-1) - T_(k-2)
            nxt = adj @ cur
            nxt *= 2.0
            nxt -= prev
            prev, cur = cur, nxt
            acc += c * cur
        out[:, k:k + block] = acc
    return out


def limit_influences(weights: np.ndarray, count: int = INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """(V, K) dense -> (V, count) bone indices and normalised weights, largest first."""
    idx = np.argpartition(-weights, count - 1, axis=1)[:, :count]   # the largest, then in order
    idx = np.take_along_axis(idx, np.argsort(-np.take_along_axis(weights, idx, 1), axis=1), 1)
    w = np.take_along_axis(weights, idx, 1).clip(min=0)
    total = w.sum(1, keepdims=True)
    w = np.where(total > 0, w / np.maximum(total, 1e-12), np.eye(1, count)[0])
    return idx.astype(np.uint16), w.astype(np.float32)


def transfer_weights(vertices: np.ndarray, faces: np.ndarray, body_vertices: np.ndarray,
                     body_weights: np.ndarray, body_lateral: np.ndarray, bone_sides: np.ndarray,
                     head_bone: int, head_region: np.ndarray, shoulder_height: float,
                     middle: tuple[np.ndarray, np.ndarray], arm_bones: np.ndarray,
                     mesh_to_body: np.ndarray | None = None, settings: WeightSettings | None = None) -> tuple[np.ndarray, dict]:
    """Dense (V, K) weights for the mesh, rows summing to 1, and facts for job.json.

    body_weights (Vb, K) on the skeleton; body_lateral (Vb,) the body vertex's signed distance from
    the body's middle in its rest frame (+ left); bone_sides (K,) +1 left, -1 right, 0 centre;
    head_region (K,) bool: the bones whose off-body neighbourhood above the shoulders is hair;
    middle: (a point, the unit normal toward the left) of the pelvis' middle plane; arm_bones (K,) bool."""
    s = settings or WeightSettings()
    vertices = np.asarray(vertices, dtype=np.float64)
    if mesh_to_body is not None and len(mesh_to_body) == len(vertices):
        nearest = np.asarray(mesh_to_body, dtype=np.int64)
        dist = np.linalg.norm(vertices - body_vertices[nearest], axis=1)
    else:
        squash = np.array([1.0, 1.0, s.depth_weight])
        dist, nearest = cKDTree(body_vertices * squash).query(vertices * squash, workers=-1)
    weld, adj = weld_adjacency(vertices, faces)
    n = adj.shape[0]
    # Per welded vertex: its closest copy's body point and distance.
    order = np.argsort(dist)[::-1]
    w_dist = np.empty(n)
    w_near = np.empty(n, dtype=np.int64)
    w_dist[weld[order]] = dist[order]
    w_near[weld[order]] = nearest[order]
    w_pos = np.zeros((n, 3))
    w_pos[weld] = vertices
    source = body_weights[w_near].astype(np.float32)
    # Hair: above the shoulders, off the body, nearest to the head, neck or shoulders (not a raised arm).
    hair = (w_pos[:, 1] > shoulder_height) & (w_dist > s.hair_gap_m) & head_region[source.argmax(1)]
    source[hair] = 0.0
    source[hair, head_bone] = 1.0
    trust = np.clip((s.far_m - w_dist) / (s.far_m - s.near_m), 0.0, 1.0).astype(np.float32)
    trust[hair] = np.maximum(trust[hair], 0.5)
    w = source.copy()
    keep = trust[:, None] * source
    f = weld[np.asarray(faces)]
    edge = float(np.median(np.linalg.norm(w_pos[f[:, 0]] - w_pos[f[:, 1]], axis=1)))
    sweeps = int(np.clip(round(s.reach_m / max(edge, 1e-4)), 4, 80))
    unsure = np.nonzero(trust < 1.0)[0]   # a sure vertex keeps its source: only the others are swept
    adj_unsure, keep_unsure, pull = adj[unsure], keep[unsure], (1.0 - trust[unsure])[:, None]
    for _ in range(sweeps):
        w[unsure] = keep_unsure + pull * (adj_unsure @ w)
    # Smoothing everywhere: no hard steps where the nearest body vertex changes part, and joints that
    # blend over ~blend_m of surface whatever the mesh's resolution (a bent elbow folds less).
    w = lazy_walk(adj, w, int(np.clip(round((s.blend_m / max(edge, 1e-4)) ** 2), 3, 150)))
    plane = (w_pos - middle[0]) @ middle[1]
    lateral = np.where(arm_bones[source.argmax(1)], body_lateral[w_near], plane)
    fade = np.clip(1.0 - np.abs(lateral) / s.side_ramp_m, 0.0, 1.0).astype(np.float32)
    cross = (np.sign(lateral)[:, None] * bone_sides[None, :]) < 0
    w = np.where(cross, w * fade[:, None], w)
    w = np.maximum(w, 0.0)
    total = w.sum(1, keepdims=True)
    w = np.where(total > 1e-8, w / np.maximum(total, 1e-8), source)
    facts = {"far_vertices": int((w_dist > s.far_m).sum()), "hair_vertices": int(hair.sum()),
             "median_body_distance_m": round(float(np.median(w_dist)), 4)}
    return w[weld], facts


def blend_hinges(vertices: np.ndarray, weights: np.ndarray, skeleton, settings: WeightSettings | None = None) -> dict:
    """Shares each hinge's weight (parent + child bone, per vertex) by a linear ramp across the joint's
    bisecting plane (module doc, step 4), in place on dense (V, K) `weights`. Returns the ramps'
    half-widths in metres, per child bone, for job.json."""
    s = settings or WeightSettings()
    vertices = np.asarray(vertices, dtype=np.float64)
    widths = {}
    for parent_name, child_name in HINGES:
        p, c = skeleton.index(parent_name), skeleton.index(child_name)
        joint = skeleton.heads[c]
        upper, lower = joint - skeleton.heads[p], skeleton.tails[c] - joint
        lengths = np.linalg.norm(upper), np.linalg.norm(lower)
        normal = upper / max(lengths[0], 1e-9) + lower / max(lengths[1], 1e-9)
        if np.linalg.norm(normal) < 0.2:   # folded back on itself: no plane to ramp across
            continue
        normal /= np.linalg.norm(normal)
        share = weights[:, p] + weights[:, c]
        offset = vertices - joint
        along = offset @ normal
        ring = (share > 0.9) & (np.abs(along) < 0.02) & (np.linalg.norm(offset, axis=1) < 0.15)  # the limb at the joint
        if ring.sum() < 8:
            continue
        # the inner side's distance from the joint: the limb's outer radius (the joint is not at its middle)
        radius = float(np.percentile(np.linalg.norm(offset[ring] - along[ring, None] * normal, axis=1), 90))
        half = min(s.hinge_radii * radius, s.hinge_reach * min(lengths))
        child = np.clip((along + half) / (2.0 * half), 0.0, 1.0)
        weights[:, c] = share * child
        weights[:, p] = share * (1.0 - child)
        widths[child_name] = round(half, 3)
    return widths
