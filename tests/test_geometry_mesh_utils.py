"""Mesh helpers: topology, boundary loops, manifoldness checks and repairs, orientation."""

from __future__ import annotations

import numpy as np
import trimesh

from synchuman.geometry.mesh_utils import (boundary_loops, edge_topology, loop_area, make_manifold,
                                           manifold_report, merge_duplicate_vertices, mesh_components,
                                           orient_outward, unzip_touching_sheets, vertex_normals)


def box():
    mesh = trimesh.creation.box()
    return np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)


def test_closed_box_is_a_closed_manifold():
    vertices, faces = box()
    topo = edge_topology(faces)
    assert len(topo.edges) == 18 and (topo.face_count == 2).all()
    report = manifold_report(faces, len(vertices))
    assert report.closed and report.components == 1
    assert boundary_loops(faces) == []


def test_open_box_has_one_boundary_loop_with_the_removed_square_area():
    vertices, faces = box()
    top = np.all(vertices[faces][:, :, 2] > 0.49, axis=1)
    open_faces = faces[~top]
    loops = boundary_loops(open_faces)
    assert len(loops) == 1 and len(loops[0]) == 4
    assert loop_area(vertices, loops[0]) == np.float64(1.0)
    # Boundary loops follow the face winding: each edge a->b appears as a directed edge of some face.
    directed = {tuple(e) for f in open_faces for e in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    loop = loops[0]
    assert all((loop[i], loop[(i + 1) % 4]) in directed for i in range(4))
    assert manifold_report(open_faces).boundary_edges == 4


def test_non_manifold_edge_and_vertex_are_detected_and_repaired():
    vertices, faces = box()
    # A fin: a third face on an existing edge, and a second box touching the first at one vertex only.
    edge = faces[0][:2]
    fin_vertex = len(vertices)
    touching = vertices + (vertices[0] - vertices.max(0)) * 1.0 + 0.0
    v = np.vstack([vertices, [[2.0, 2.0, 2.0]], touching])
    second = faces + fin_vertex + 1
    shared = np.argmin(np.linalg.norm(touching - vertices[0], axis=1))
    second[second == fin_vertex + 1 + shared] = 0           # glue one corner onto vertex 0
    f = np.vstack([faces, [[edge[0], edge[1], fin_vertex]], second])
    report = manifold_report(f, len(v))
    assert report.non_manifold_edges == 1 and report.non_manifold_vertices >= 1
    fixed_v, fixed_f = make_manifold(v, f)
    fixed = manifold_report(fixed_f, len(fixed_v))
    assert fixed.manifold and fixed.non_manifold_edges == 0
    assert len(fixed_f) == len(f) - 1


def _two_boxes(offset) -> tuple[np.ndarray, np.ndarray]:
    """Two closed unit boxes, the second moved by `offset`, welded where their corners coincide."""
    v, f = box()
    return merge_duplicate_vertices(np.vstack([v, v + np.asarray(offset, float)]), np.vstack([f, f + len(v)]))[:2]


def test_sheets_touching_along_an_edge_or_at_a_vertex_are_unzipped():
    """Two boxes sharing an edge (four faces on it) or a corner (two fans): each sheet gets its own
    copies there, moved a little into its own box, so the surface stays closed when welded by
    position; a surface that touches nowhere comes back as it was."""
    for offset, copies in (((1.0, 1.0, 0.0), 2), ((1.0, 1.0, 1.0), 1)):
        v, f = _two_boxes(offset)
        report = manifold_report(f, len(v))
        assert (report.non_manifold_edges, report.non_manifold_vertices) == ((1, 0) if copies == 2 else (0, 1))
        uv, uf = unzip_touching_sheets(v, f)
        assert len(uv) == len(v) + copies and len(uf) == len(f)
        welded, wf = merge_duplicate_vertices(uv, uf)[:2]
        fixed = manifold_report(wf, len(welded))
        assert fixed.closed and fixed.components == 2
        assert trimesh.Trimesh(welded, wf, process=False).is_winding_consistent
        moved = np.linalg.norm(uv[:, None] - v[None], axis=2).min(1)
        assert np.count_nonzero(moved > 1e-9) == 2 * copies and moved.max() < 0.05
    v, f = box()
    uv, uf = unzip_touching_sheets(v, f)
    assert np.allclose(np.sort(uv, 0), np.sort(v, 0)) and len(uf) == len(f)
    assert unzip_touching_sheets(v, f[1:]) is None   # a hole: nothing to pair the open edges with


def test_merge_duplicate_vertices_welds_a_triangle_soup():
    vertices, faces = box()
    soup = vertices[faces].reshape(-1, 3)
    welded_v, welded_f = merge_duplicate_vertices(soup, np.arange(len(soup)).reshape(-1, 3))
    assert len(welded_v) == 8 and manifold_report(welded_f).closed


def test_orient_outward_flips_inside_out_components_only():
    vertices, faces = box()
    v = np.vstack([vertices, vertices + 3.0])
    f = np.vstack([faces[:, ::-1], faces + 8])
    fixed, flipped = orient_outward(v, f)
    assert flipped == 1
    normals = vertex_normals(v, fixed)
    centred = v - np.where(np.arange(16)[:, None] < 8, 0.0, 3.0)
    assert ((normals * centred).sum(1) > 0).all()
    assert mesh_components(fixed)[0] == 2
