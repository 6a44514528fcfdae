"""Camera conventions of the generated views (architecture brief §1.5) and textured rendering."""

from __future__ import annotations

import numpy as np
import pytest

from synchuman.render import (Camera, hammersley_sphere, orthographic_clip, perspective_clip, rasterize,
                              render_textured, sample_texture)

RES = 768


def pixel_of(clip_row, height=RES, width=RES):
    """(row, col) of a clip position, row 0 = NDC y -1 (raster row order)."""
    x, y = clip_row[0] / clip_row[3], clip_row[1] / clip_row[3]
    return (y + 1) * height / 2 - 0.5, (x + 1) * width / 2 - 0.5


@pytest.mark.parametrize("view, point, expected_col_coord", [
    (0, (0.25, 0.0, 0.25), 0.25),    # front: column grows with +x
    (1, (0.0, 0.25, 0.25), 0.25),    # right: column grows with +y
    (2, (0.25, 0.0, 0.25), 0.25),    # back, stored mirrored: column grows with +x
    (3, (0.0, 0.25, 0.25), 0.25),    # left, stored mirrored: column grows with +y
])
def test_body_views_map_the_unit_cube_onto_the_image_with_row_zero_on_top(view, point, expected_col_coord):
    row, col = pixel_of(orthographic_clip(np.array([point]), view)[0].numpy())
    assert col == pytest.approx((expected_col_coord + 0.5) * RES - 0.5)
    assert row == pytest.approx((0.5 - point[2]) * RES - 0.5)     # rows grow with -z


def test_face_view_is_the_top_centre_third_magnified_three_times():
    corners = np.array([[-1 / 6, 0, 0.5], [1 / 6, 0, 1 / 6], [0, 0, 1 / 3]])
    clip = orthographic_clip(corners, 4).numpy()
    assert pixel_of(clip[0]) == pytest.approx((-0.5, -0.5))
    assert pixel_of(clip[1]) == pytest.approx((RES - 0.5, RES - 0.5))
    assert pixel_of(clip[2]) == pytest.approx((RES / 2 - 0.5, RES / 2 - 0.5))


def test_nearer_points_have_smaller_depth_in_every_view():
    towards_camera = {0: (0, -0.3, 0), 1: (0.3, 0, 0), 2: (0, 0.3, 0), 3: (-0.3, 0, 0), 4: (0, -0.3, 0)}
    for view, near in towards_camera.items():
        clip = orthographic_clip(np.array([near, (0, 0, 0)]), view).numpy()
        assert clip[0, 2] < clip[1, 2]


def test_perspective_camera_follows_the_trellis_yaw_convention():
    camera = Camera(yaw=-np.pi)                     # the front camera, at -Y
    np.testing.assert_allclose(camera.eye, [0, -2, 0], atol=1e-12)
    points = np.array([[0.1, 0, 0], [0, 0, 0.1], [0, 0, 0]])
    clip = perspective_clip(points, yaw=-np.pi).numpy()
    (r_right, c_right), (r_up, c_up), (r0, c0) = (pixel_of(c) for c in clip)
    assert c_right > c0 and r_up < r0               # +x to the right, +z towards row 0
    f = 1 / np.tan(np.radians(20))
    assert c_right - c0 == pytest.approx(0.1 / 2 * f * RES / 2)


def test_hammersley_cameras_match_the_reference_sequence():
    assert hammersley_sphere(0, 1000) == pytest.approx((0.0, -np.pi / 2))
    yaw, pitch = hammersley_sphere(3, 8)            # u = 3/8, radical inverse of 3 = 0.75
    assert yaw == pytest.approx(0.75 * 2 * np.pi)
    assert pitch == pytest.approx(np.arccos(1 - 2 * 3 / 8) - np.pi / 2)
    # Looking straight down still gives a valid camera.
    clip = perspective_clip(np.zeros((1, 3)), *hammersley_sphere(0, 1000)).numpy()
    assert np.isfinite(clip).all() and clip[0, 3] == pytest.approx(2.0)


def test_sample_texture_uses_v_up():
    texture = np.zeros((4, 4, 3), np.float32)
    texture[0, 0] = 1.0                                   # top-left texel: u ~ 0, v ~ 1
    assert sample_texture(texture, np.array([[0.125, 0.875]]))[0] == pytest.approx([1, 1, 1])
    assert sample_texture(texture, np.array([[0.125, 0.125]]))[0] == pytest.approx([0, 0, 0])


def test_render_textured_shows_the_texture_upright_in_the_front_view():
    # A quad on the plane y = -0.4 facing the front camera, uv = (x + 0.5, z + 0.5).
    vertices = np.array([[-0.5, -0.4, -0.5], [0.5, -0.4, -0.5], [0.5, -0.4, 0.5], [-0.5, -0.4, 0.5]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv = vertices[:, [0, 2]] + 0.5
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    image = render_textured(vertices, faces, uv, texture, 0, resolution=(8, 8))
    # Same resolution and framing: image pixel (r, c) samples texel (r, c) exactly.
    np.testing.assert_allclose(image, texture / 255.0, atol=1e-5)
    back = render_textured(vertices, faces, uv, texture, 2, resolution=(8, 8))
    np.testing.assert_allclose(back, texture / 255.0, atol=1e-5)     # the stored back view is mirrored
    rgba = render_textured(vertices, faces, uv, texture, 1, resolution=(8, 8), background=None)
    assert rgba.shape == (8, 8, 4)


def test_orthographic_clip_works_with_the_rasteriser_on_a_cube():
    v = np.array([[x, y, z] for x in (-0.25, 0.25) for y in (-0.25, 0.25) for z in (-0.25, 0.25)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    faces = np.array([[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads])
    for view, axis, value in ((0, 1, -0.25), (1, 0, 0.25), (2, 1, 0.25), (3, 0, -0.25)):
        raster = rasterize(orthographic_clip(v, view), faces, (32, 32))
        assert raster.mask[0].sum() == 16 * 16
        seen = faces[np.unique(raster.triangle_id[0][raster.mask[0]].numpy())]
        assert np.all(v[seen][..., axis] == value)
