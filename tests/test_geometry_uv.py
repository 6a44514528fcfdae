"""UV atlas: projection charts packed by xatlas, full xatlas with a time limit, and the fallback between them."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from synchuman.geometry.uv import UVOptions, parametrize, projection_charts
from synchuman.render import rasterize
from synchuman.render.bake import uv_clip


def body_like_mesh():
    """A capsule 'torso' with a sphere 'head': curved in every direction, a few thousand faces."""
    torso = trimesh.creation.capsule(height=0.5, radius=0.15, count=[48, 48])
    head = trimesh.creation.icosphere(subdivisions=3, radius=0.09).apply_translation([0, 0, 0.42])
    mesh = trimesh.util.concatenate([torso, head])
    return np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)


def uv_overlap_and_coverage(atlas, size=512):
    """Fraction of covered texels, and whether the summed triangle areas exceed the covered area (overlaps)."""
    raster = rasterize(uv_clip(atlas.uv), atlas.faces, (size, size))
    coverage = raster.mask.float().mean().item()
    tri = atlas.uv[atlas.faces]
    area = 0.5 * np.abs(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])).sum()
    return coverage, area


def check_atlas(vertices, faces, atlas):
    assert atlas.faces.shape == faces.shape
    np.testing.assert_allclose(vertices[atlas.vmapping][atlas.faces], vertices[faces])   # same faces, same order
    assert atlas.uv.min() >= 0 and atlas.uv.max() <= 1


def test_projection_charts_bound_the_stretch_of_every_face():
    vertices, faces = body_like_mesh()
    chart, direction = projection_charts(vertices, faces, min_cos=0.3)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    assert ((normals * direction[chart]).sum(1) > 0.3).all()
    assert len(direction) < len(faces) / 20


def test_chart_atlas_has_no_overlaps_and_follows_the_faces():
    vertices, faces = body_like_mesh()
    atlas = parametrize(vertices, faces, UVOptions(method="charts", resolution=512, padding=2))
    check_atlas(vertices, faces, atlas)
    assert atlas.method == "charts"
    coverage, area = uv_overlap_and_coverage(atlas)
    assert area == pytest.approx(coverage, abs=0.02)          # no texel is claimed twice
    assert coverage > 0.3
    # Projection keeps each chart's geometry up to one scale: UV area / 3D area is nearly constant per face
    # (only the projection's cosine changes it).
    tri3 = vertices[faces]
    area3 = 0.5 * np.linalg.norm(np.cross(tri3[:, 1] - tri3[:, 0], tri3[:, 2] - tri3[:, 0]), axis=1)
    tri2 = atlas.uv[atlas.faces]
    area2 = 0.5 * np.abs(np.cross(tri2[:, 1] - tri2[:, 0], tri2[:, 2] - tri2[:, 0]))
    ratio = area2 / area3
    body = vertices[faces].mean(1)[:, 2] < 0.3
    assert np.percentile(ratio[body], 95) / np.percentile(ratio[body], 5) < 1.0 / 0.3 + 0.5


def test_face_region_gets_more_texels():
    vertices, faces = body_like_mesh()
    vertices = vertices + [0, 0, 0.0]
    plain = parametrize(vertices, faces, UVOptions(method="charts", face_scale=1.0))
    boosted = parametrize(vertices, faces, UVOptions(method="charts", face_scale=2.0))

    def density(atlas):
        tri2 = atlas.uv[atlas.faces]
        area2 = 0.5 * np.abs(np.cross(tri2[:, 1] - tri2[:, 0], tri2[:, 2] - tri2[:, 0]))
        centre = vertices[faces].mean(1)
        face = (np.abs(centre[:, 0]) < 1 / 6) & (centre[:, 2] > 1 / 6) & (centre[:, 1] < 0)
        return area2[face].sum() / area2[~face].sum()

    assert density(boosted) > 2.5 * density(plain)


def test_auto_uses_xatlas_on_small_meshes_and_falls_back_on_timeout():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    vertices, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces, dtype=np.int64)
    atlas = parametrize(vertices, faces, UVOptions(method="auto", resolution=256, time_limit_s=60))
    check_atlas(vertices, faces, atlas)
    assert atlas.method == "xatlas"
    coverage, area = uv_overlap_and_coverage(atlas, 256)
    assert area == pytest.approx(coverage, abs=0.03)
    slow = parametrize(vertices, faces, UVOptions(method="xatlas", resolution=256, time_limit_s=0.0))
    check_atlas(vertices, faces, slow)
    assert slow.method == "charts"
    big = parametrize(vertices, faces, UVOptions(method="auto", xatlas_max_faces=100))
    assert big.method == "charts"
