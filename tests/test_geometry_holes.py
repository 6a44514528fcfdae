"""Hidden inner faces (ray-cast visibility + min-cut) and hole filling, on marching-cubes shapes with known defects."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from skimage import measure

from synchuman.geometry import holes
from synchuman.geometry.mesh_utils import boundary_loops, manifold_report, mesh_components


def marching_cubes(sdf, n=72):
    x = np.linspace(-0.5, 0.5, n)
    grid = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    vertices, faces, _, _ = measure.marching_cubes(sdf(grid).reshape(n, n, n), 0.0, spacing=(1 / (n - 1),) * 3)
    return vertices - 0.5, faces.astype(np.int64)


def ball(p, centre=(0, 0, 0), radius=0.35):
    return np.linalg.norm(p - np.asarray(centre), axis=1) - radius


def ball_with_void(p):
    return np.maximum(ball(p), -ball(p, radius=0.12))


def ball_with_pocket(p):
    """A solid ball with a hollow pocket reached through a thin tunnel from the +x side."""
    pocket = np.minimum(ball(p, (0.1, 0, 0), 0.1), np.hypot(p[:, 1], p[:, 2]) - 0.03 + 1e9 * (p[:, 0] < 0.1))
    return np.maximum(ball(p), -pocket)


def test_visibility_of_a_convex_surface_is_about_half_and_of_an_inner_shell_zero():
    vertices, faces = marching_cubes(ball_with_void, n=48)
    _, label = mesh_components(faces)
    visibility = holes.face_visibility(vertices, faces, directions=64)
    centroid_radius = np.linalg.norm(vertices[faces].mean(1), axis=1)
    outer, inner = centroid_radius > 0.25, centroid_radius < 0.2
    assert set(np.unique(label[inner])).isdisjoint(np.unique(label[outer]))
    assert np.all(visibility[inner] == 0)
    assert np.median(visibility[outer]) == pytest.approx(0.5, abs=0.06)


def test_closed_inner_shell_is_removed_and_the_outer_surface_kept():
    vertices, faces = marching_cubes(ball_with_void, n=48)
    visibility = holes.face_visibility(vertices, faces)
    result = holes.remove_hidden_faces_with_retries(vertices, faces, visibility)
    radius = np.linalg.norm(result.vertices[result.faces].mean(1), axis=1)
    assert radius.min() > 0.3
    outer_count = int((np.linalg.norm(vertices[faces].mean(1), axis=1) > 0.3).sum())
    assert result.removed_faces == len(faces) - outer_count
    assert manifold_report(result.faces).closed


def test_pocket_behind_a_small_hole_is_cut_out_and_the_hole_filled():
    vertices, faces = marching_cubes(ball_with_pocket)
    assert mesh_components(faces)[0] == 1                      # the pocket is connected to the outside
    visibility = holes.face_visibility(vertices, faces)
    result = holes.remove_hidden_faces_with_retries(vertices, faces, visibility)
    assert result.removed_faces > 0
    # The pocket is gone (the cut may leave the tunnel's outer end, which is seen through the hole), and exactly
    # one small opening appeared.
    centroids = result.vertices[result.faces].mean(1)
    in_pocket = (np.linalg.norm(centroids - [0.1, 0, 0], axis=1) < 0.11) & (centroids[:, 0] < 0.15)
    assert not in_pocket.any()
    loops = boundary_loops(result.faces)
    assert len(loops) == 1 and len(loops[0]) < 40
    filled_v, filled_f, count = holes.fill_small_holes(result.vertices, result.faces, max_edges=64)
    assert count == 1 and manifold_report(filled_f, len(filled_v)).closed
    closed = trimesh.Trimesh(filled_v, filled_f, process=False)
    assert closed.is_watertight and closed.volume > 0


def test_crash_paths_of_the_reference_return_zero_removed():
    vertices, faces = marching_cubes(ball, n=32)
    visibility = holes.face_visibility(vertices, faces)
    assert visibility.min() > 0                                # no inner faces: the reference's 2-value return
    for params in holes.REFERENCE_PARAMS:
        result = holes.remove_hidden_faces(vertices, faces, visibility, params)
        assert result.removed_faces == 0 and len(result.faces) == len(faces)
    # Inner faces whose every removal candidate is rejected (the opening would be too large): the reference reads an
    # undefined mask there; here nothing is removed and nothing fails.
    fake = visibility.copy()
    fake[:5] = 0.0
    result = holes.remove_hidden_faces(vertices, faces, fake, holes.REFERENCE_PARAMS[0], max_hole_size=1e-9)
    assert result.removed_faces == 0 and len(result.faces) == len(faces)
    assert holes.remove_hidden_faces(vertices, faces, fake, holes.REFERENCE_PARAMS[0]).removed_faces == 5


def test_fill_small_holes_respects_the_edge_limit_and_keeps_the_winding():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    vertices, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces, dtype=np.int64)
    centroids = vertices[faces].mean(1)
    small = np.linalg.norm(centroids - vertices[0], axis=1) < 0.2
    big = np.linalg.norm(centroids + vertices[0], axis=1) < 0.6
    open_faces = faces[~small & ~big]
    loops = sorted(len(loop) for loop in boundary_loops(open_faces))
    assert len(loops) == 2
    v, f, count = holes.fill_small_holes(vertices, open_faces, max_edges=loops[0])
    assert count == 1 and len(boundary_loops(f)) == 1
    v, f, count = holes.fill_small_holes(v, f, max_edges=loops[1])
    mesh = trimesh.Trimesh(v, f, process=False)
    assert count == 1 and mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0


def test_sphere_directions_are_unit_and_balanced():
    d = holes.sphere_directions(256)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    assert np.abs(d.mean(0)).max() < 0.01
