"""Mesh clean-up from a raw FlexiCubes mesh to a decimated, manifold, hole-free surface.

Steps (`clean_mesh`): weld duplicate vertices and drop degenerate faces; remove tiny floating components; quadric
decimation to a face budget (fast-simplification, the Fast-Quadric-Mesh-Simplification wrapper also used by
pyvista: ~1 s for 500k faces, against ~10x that for VTK's `decimate`); remove hidden inner faces by visibility +
min-cut (`holes`); fill small holes; remove components made tiny by the removal; make the result manifold
(no edge with more than two faces, no vertex shared by two fans); orient every component outwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..common import ProgressFn
from . import holes
from .mesh_utils import (boundary_loops, face_normals_and_areas, make_manifold, manifold_report,
                         merge_duplicate_vertices, mesh_components, orient_outward, remove_unreferenced_vertices)



@dataclass
class CleanupOptions:
    max_faces: int | None = 60_000          # face budget after decimation (None: use `simplify` only)
    simplify: float = 0.0                   # fraction of faces to remove (the reference uses 0.7); the stricter wins
    remove_hidden: bool = True
    visibility_directions: int = 64         # first pass; faces seen from none are re-tested with 512
    max_hole_size: float = 0.04             # largest opening (area, unit cube) the removal may create
    max_hole_edges: int | None = None       # largest hole to fill; None: the reference's int(250 * sqrt(1 - ratio))
    min_component_area: float = 0.002       # components below this fraction of the total area are removed


@dataclass
class CleanupStats:
    faces_in: int = 0
    faces_decimated: int = 0
    faces_out: int = 0
    floating_components_removed: int = 0
    hidden_faces_removed: int = 0
    hidden_params: list | None = None
    holes_filled: int = 0
    components_flipped: int = 0
    holes_left: int = 0
    boundary_edges: int = 0
    non_manifold_edges: int = 0
    non_manifold_vertices: int = 0
    manifold: bool = False
    components: int = 0
    timings_s: dict = field(default_factory=dict)


def decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge-collapse decimation to about `target_faces` faces (no-op when already below)."""
    if len(faces) <= target_faces:
        return vertices, faces
    import fast_simplification

    reduction = 1.0 - target_faces / len(faces)
    v, f = fast_simplification.simplify(np.asarray(vertices, dtype=np.float32), np.asarray(faces, dtype=np.int32),
                                        target_reduction=reduction)
    return np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)


def remove_small_components(vertices: np.ndarray, faces: np.ndarray, min_area_fraction: float
                            ) -> tuple[np.ndarray, np.ndarray, int]:
    """Removes edge-connected components whose area is below `min_area_fraction` of the whole mesh's area
    (the largest component is always kept)."""
    count, label = mesh_components(faces)
    if count <= 1:
        return vertices, faces, 0
    _, area = face_normals_and_areas(vertices, faces)
    component_area = np.bincount(label, weights=area, minlength=count)
    keep = component_area >= min_area_fraction * component_area.sum()
    keep[np.argmax(component_area)] = True
    if keep.all():
        return vertices, faces, 0
    v, f, _ = remove_unreferenced_vertices(vertices, faces[keep[label]])
    return v, f, int((~keep).sum())


def clean_mesh(vertices: np.ndarray, faces: np.ndarray, options: CleanupOptions | None = None,
               progress: ProgressFn | None = None, stage: str = "mesh_cleanup") -> tuple[np.ndarray, np.ndarray,
                                                                                        CleanupStats]:
    """The whole clean-up; `progress(stage, done, total, message)` is called between steps."""
    options = options or CleanupOptions()
    stats = CleanupStats(faces_in=len(faces))
    report = progress or (lambda *args: None)
    clock = _Clock(stats.timings_s)
    steps = 6

    report(stage, 0, steps, "welding and removing floating pieces")
    v, f = merge_duplicate_vertices(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64))
    v, f, stats.floating_components_removed = remove_small_components(v, f, options.min_component_area)
    clock.lap("weld_components")

    target = int(len(f) * (1.0 - options.simplify))
    if options.max_faces is not None:
        target = min(target, int(options.max_faces))
    report(stage, 1, steps, f"decimating {len(f)} -> {target} faces")
    v, f = decimate(v, f, target)
    stats.faces_decimated = len(f)
    clock.lap("decimate")
    ratio = 1.0 - stats.faces_decimated / max(1, stats.faces_in)
    max_hole_edges = options.max_hole_edges or int(250 * np.sqrt(max(1.0 - ratio, 0.0)))
    max_hole_edges = max(max_hole_edges, 8)

    if options.remove_hidden:
        report(stage, 2, steps, "ray casting face visibility")
        visibility = holes.face_visibility(v, f, directions=options.visibility_directions)
        clock.lap("visibility")
        report(stage, 3, steps, "removing hidden faces (min-cut)")
        result = holes.remove_hidden_faces_with_retries(v, f, visibility, options.max_hole_size,
                                                        max_removed_faces=max(15000, len(f) // 10))
        v, f = result.vertices, result.faces
        stats.hidden_faces_removed = result.removed_faces
        stats.hidden_params = None if result.params is None else [result.params.ratio, result.params.min_outer,
                                                                  result.params.max_inner]
        clock.lap("min_cut")

    report(stage, 4, steps, "filling small holes")
    v, f = make_manifold(v, f)
    v, f, stats.holes_filled = holes.fill_small_holes(v, f, max_hole_edges)
    v, f, removed = remove_small_components(v, f, options.min_component_area)
    stats.floating_components_removed += removed
    v, f = make_manifold(v, f)
    f, stats.components_flipped = orient_outward(v, f)
    clock.lap("fill_holes")

    report(stage, 5, steps, "checking manifoldness")
    final = manifold_report(f, len(v))
    stats.faces_out = len(f)
    stats.boundary_edges = final.boundary_edges
    stats.non_manifold_edges = final.non_manifold_edges
    stats.non_manifold_vertices = final.non_manifold_vertices
    stats.manifold = final.manifold
    stats.components = final.components
    stats.holes_left = len(boundary_loops(f))
    clock.lap("report")
    report(stage, steps, steps, f"{stats.faces_out} faces, {stats.holes_left} holes left")
    return v, f, stats


class _Clock:
    def __init__(self, sink: dict):
        self.sink, self.last = sink, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.sink[name] = round(now - self.last, 3)
        self.last = now
