"""The clean-up chain on a small body-like shape with the defects of raw FlexiCubes meshes."""

from __future__ import annotations

import numpy as np
import trimesh
from skimage import measure

from synchuman.geometry.cleanup import CleanupOptions, clean_mesh, decimate, remove_small_components
from synchuman.geometry.mesh_utils import manifold_report


def capsule(p, a, b, r):
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((p - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * (b - a)), axis=1) - r


def defective_body(n=80):
    """Torso + head + legs (union), an inner void, two floating specks, and three punched holes."""
    x = np.linspace(-0.5, 0.5, n)
    p = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    d = np.minimum.reduce([capsule(p, (0, 0, -0.05), (0, 0, 0.2), 0.12),
                           np.linalg.norm(p - [0, 0, 0.37], axis=1) - 0.08,
                           capsule(p, (-0.06, 0, -0.1), (-0.07, 0, -0.45), 0.045),
                           capsule(p, (0.06, 0, -0.1), (0.07, 0, -0.45), 0.045)])
    d = np.maximum(d, 0.05 - np.linalg.norm(p - [0, 0, 0.08], axis=1))
    for c in ((0.3, 0.1, 0.3), (-0.3, -0.2, 0.0)):
        d = np.minimum(d, np.linalg.norm(p - c, axis=1) - 0.009)
    vertices, faces, _, _ = measure.marching_cubes(d.reshape(n, n, n), 0.0, spacing=(1 / (n - 1),) * 3)
    vertices -= 0.5
    faces = faces.astype(np.int64)
    centroids = vertices[faces].mean(1)
    for centre in ((0, -0.12, 0.1), (0.12, 0, 0.0), (0, 0.05, 0.44)):
        near = np.linalg.norm(centroids - np.array(centre), axis=1)
        faces, centroids = faces[near > near.min() + 0.012], centroids[near > near.min() + 0.012]
    return vertices, faces


def test_decimate_reaches_the_face_budget_and_keeps_the_shape():
    sphere = trimesh.creation.icosphere(subdivisions=5)
    v, f = decimate(np.asarray(sphere.vertices), np.asarray(sphere.faces), 2000)
    assert 1900 <= len(f) <= 2000
    assert np.abs(np.linalg.norm(v, axis=1) - 1).max() < 0.02
    same_v, same_f = decimate(v, f, 5000)
    assert len(same_f) == len(f)


def test_remove_small_components_keeps_the_big_ones():
    big = trimesh.creation.icosphere(subdivisions=2)
    tiny = trimesh.creation.icosphere(subdivisions=1, radius=0.02)
    medium = trimesh.creation.icosphere(subdivisions=1, radius=0.5)
    parts = [big, tiny.apply_translation([3, 0, 0]), medium.apply_translation([-3, 0, 0])]
    mesh = trimesh.util.concatenate(parts)
    v, f, removed = remove_small_components(np.asarray(mesh.vertices), np.asarray(mesh.faces), 0.01)
    assert removed == 1 and len(f) == len(big.faces) + len(medium.faces)


def test_clean_mesh_returns_one_closed_manifold_outward_surface_within_budget():
    vertices, faces = defective_body()
    report = manifold_report(faces)
    assert report.boundary_edges > 0 and report.components == 4        # body, void shell, two specks
    calls = []
    v, f, stats = clean_mesh(vertices, faces[:, ::-1], CleanupOptions(max_faces=8000),
                             progress=lambda *a: calls.append(a))
    assert len(f) <= 8000 and stats.faces_decimated <= 8000
    final = manifold_report(f, len(v))
    assert final.closed and final.components == 1 and stats.holes_left == 0
    assert stats.floating_components_removed == 2 and stats.hidden_faces_removed > 0
    assert stats.holes_filled == 3 and stats.components_flipped == 1   # the input was inside out
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.volume > 0
    assert np.linalg.norm(v - [0, 0, 0.08], axis=1).min() > 0.08         # the void's shell is gone
    assert [c[0] for c in calls] == ["mesh_cleanup"] * len(calls) and calls[-1][1] == calls[-1][2]
    assert set(stats.timings_s) >= {"decimate", "visibility", "min_cut", "fill_holes"}
