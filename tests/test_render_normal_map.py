"""Normal map baked from a dense mesh onto a coarse one, against an analytic corrugated surface."""

from __future__ import annotations

import numpy as np

from synchuman.render.normal_map import bake_normal_map, face_tangent_frames


def grid(n, height):
    x = np.linspace(-0.4, 0.4, n)
    gx, gy = np.meshgrid(x, x)
    vertices = np.stack([gx.ravel(), gy.ravel(), height(gx.ravel())], 1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    return vertices, np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def test_corrugations_of_the_dense_mesh_appear_in_the_flat_mesh_normal_map():
    amplitude, k = 0.004, 2 * np.pi / 0.1
    dense_v, dense_f = grid(241, lambda x: amplitude * np.sin(k * x))
    flat_v, flat_f = grid(2, lambda x: 0 * x)
    uv = (flat_v[:, :2] + 0.4) / 0.8                       # u along +x, v along +y
    normals = np.tile([0.0, 0.0, 1.0], (len(flat_v), 1))
    size = 64
    image = bake_normal_map(flat_v, flat_f, uv, normals, dense_v, dense_f, size, padding=0, max_distance=0.01)
    decoded = image / 255.0 * 2 - 1
    # Texel (row, col) centre: u = (col + .5) / size, v = 1 - (row + .5) / size.
    cols = (np.arange(size) + 0.5) / size
    x = cols * 0.8 - 0.4
    slope = amplitude * k * np.cos(k * x)
    expected = np.stack([-slope, np.zeros_like(slope), np.ones_like(slope)], 1)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    for row in (5, 30, 60):
        np.testing.assert_allclose(decoded[row], expected, atol=0.03)


def test_tangent_frames_follow_the_uv_axes():
    vertices = np.array([[0, 0, 0], [2, 0, 0], [0, 3, 0]], float)
    uv = np.array([[0, 0], [1, 0], [0, 1]], float)
    tangent, bitangent = face_tangent_frames(vertices, np.array([[0, 1, 2]]), uv)
    np.testing.assert_allclose(tangent[0], [2, 0, 0])
    np.testing.assert_allclose(bitangent[0], [0, 3, 0])
