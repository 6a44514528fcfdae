"""The CPU rasteriser against analytic cases: a quad, a cube, occlusion order, watertight edge ownership."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synchuman.render import interpolate, perspective_clip, rasterize
from synchuman.render import nvdiffrast_backend


def pixel_centres(height, width):
    """NDC x (columns) and y (rows) of all pixel centres, row 0 = NDC y -1."""
    xs = (2 * np.arange(width) + 1) / width - 1
    ys = (2 * np.arange(height) + 1) / height - 1
    return np.meshgrid(xs, ys)


def coverage_count(clip, faces, resolution):
    """How many triangles cover each pixel, rasterising every triangle on its own (no z-buffer hiding)."""
    count = np.zeros(resolution, dtype=int)
    for face in faces:
        count += rasterize(clip, face[None], resolution).mask[0].numpy()
    return count


def test_full_screen_quad_covers_every_pixel_once_with_exact_barycentrics():
    clip = np.array([[-1, -1, 0.5, 1], [1, -1, 0.5, 1], [1, 1, 0.5, 1], [-1, 1, 0.5, 1]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    raster = rasterize(clip, faces, (16, 12))
    assert raster.triangle_id.shape == (1, 16, 12)
    assert raster.mask.all()
    np.testing.assert_allclose(raster.depth.numpy(), 0.5)
    x, y = pixel_centres(16, 12)
    # Interpolating the vertices' own NDC positions must give back every pixel centre.
    pos = interpolate(clip[:, :2], raster, faces)[0].numpy()
    np.testing.assert_allclose(pos[..., 0], x, atol=1e-6)
    np.testing.assert_allclose(pos[..., 1], y, atol=1e-6)
    # Below the diagonal (x > y) belongs to triangle 0, above it to triangle 1.
    tri = raster.triangle_id[0].numpy()
    assert (tri[x > y + 1e-9] == 0).all() and (tri[x < y - 1e-9] == 1).all()


def test_quad_barycentrics_follow_nvdiffrast_convention():
    """(u, v) weight the 2nd and 3rd vertex of the owning triangle."""
    clip = np.array([[-1, -1, 0, 1], [1, -1, 0, 1], [1, 1, 0, 1], [-1, 1, 0, 1]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    raster = rasterize(clip, faces, (8, 8))
    x, y = pixel_centres(8, 8)
    u, v = raster.bary[0, ..., 0].numpy(), raster.bary[0, ..., 1].numpy()
    lower = raster.triangle_id[0].numpy() == 0   # vertices (-1,-1), (1,-1), (1,1)
    np.testing.assert_allclose(u[lower], ((x - y) / 2)[lower], atol=1e-6)
    np.testing.assert_allclose(v[lower], ((y + 1) / 2)[lower], atol=1e-6)


@pytest.mark.parametrize("jitter", [0.0, 0.37])
def test_shared_edges_have_no_cracks_and_no_double_coverage(jitter):
    """A triangulated grid whose vertices sit on pixel centres (many exact ties) or jittered off them."""
    rng = np.random.default_rng(3)
    n, res = 6, 32
    gx, gy = np.meshgrid(np.linspace(-0.75, 0.75, n + 1), np.linspace(-0.75, 0.75, n + 1))
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    inner = (np.abs(pts) < 0.7).all(1)
    pts[inner] += rng.uniform(-1, 1, (inner.sum(), 2)) * jitter * (1.5 / n) / 2
    # Pixel-centre grid: snap to centres (NDC (2k+1)/res - 1).
    if jitter == 0.0:
        pts = (np.round((pts + 1) * res / 2 - 0.5) + 0.5) * 2 / res - 1
    faces = []
    for r in range(n):
        for c in range(n):
            a, b, d, e = r * (n + 1) + c, r * (n + 1) + c + 1, (r + 1) * (n + 1) + c, (r + 1) * (n + 1) + c + 1
            # Alternate the diagonal and the winding so both orientations meet along edges.
            tris = [[a, b, e], [a, e, d]] if (r + c) % 2 else [[a, b, d], [b, e, d]]
            faces += tris if r % 2 else [t[::-1] for t in tris]
    faces = np.array(faces)
    clip = np.concatenate([pts, np.zeros((len(pts), 1)), np.ones((len(pts), 1))], 1)
    count = coverage_count(clip, faces, (res, res))
    # Inside the outer boundary: exactly once. The boundary square's own edges follow the same rule.
    x, y = pixel_centres(res, res)
    lo, hi = pts.min(0), pts.max(0)
    strictly_inside = (x > lo[0]) & (x < hi[0]) & (y > lo[1]) & (y < hi[1])
    assert count.max() == 1, "a pixel is covered twice"
    assert (count[strictly_inside] == 1).all(), "a crack inside the mesh"
    assert (count[(x < lo[0]) | (x > hi[0]) | (y < lo[1]) | (y > hi[1])] == 0).all()


def test_fan_around_a_vertex_on_a_pixel_centre_covers_it_once():
    res = 16
    centre = np.array([(2 * 7 + 1) / res - 1, (2 * 9 + 1) / res - 1])
    angles = np.linspace(0, 2 * np.pi, 9)[:-1] + 0.1
    ring = centre + 0.6 * np.stack([np.cos(angles), np.sin(angles)], 1)
    pts = np.vstack([centre, ring])
    faces = np.array([[0, 1 + i, 1 + (i + 1) % 8] for i in range(8)])
    clip = np.concatenate([pts, np.zeros((9, 1)), np.ones((9, 1))], 1)
    count = coverage_count(clip, faces, (res, res))
    assert count[9, 7] == 1
    assert count.max() == 1


def test_occlusion_nearest_depth_wins_regardless_of_order_and_ties_go_to_lower_id():
    def quad(x0, x1, z):
        return np.array([[x0, -1, z, 1], [x1, -1, z, 1], [x1, 1, z, 1], [x0, 1, z, 1]], float)

    clip = np.vstack([quad(-1, 0.5, 0.2), quad(-0.5, 1, -0.3), quad(-1, 1, 0.2)])
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [8, 9, 10], [8, 10, 11]])
    x, _ = pixel_centres(8, 16)
    for order in (faces, faces[::-1]):
        raster = rasterize(clip, order, (8, 16))
        owner = order[raster.triangle_id[0].numpy()][..., 0] // 4   # which quad owns the pixel
        assert (owner[x > -0.5] == 1).all()        # the near quad (z = -0.3)
        # Left strip: quads 0 and 2 tie at z = 0.2; the lower triangle id wins.
        expected = 0 if order is faces else 2
        assert (owner[x < -0.5] == expected).all()
        np.testing.assert_allclose(raster.depth[0].numpy()[x > -0.5], -0.3, atol=1e-7)


def test_depth_outside_the_clip_range_is_discarded_and_w_below_zero_is_dropped():
    clip = np.array([[-1, -1, 1.5, 1], [1, -1, 1.5, 1], [0, 1, 1.5, 1],
                     [-1, -1, 0, -1], [1, -1, 0, -1], [0, 1, 0, -1]], float)
    raster = rasterize(clip, np.array([[0, 1, 2], [3, 4, 5]]), (8, 8))
    assert not raster.mask.any()


def unit_cube():
    v = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    faces = np.array([[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads])
    return v, faces


def test_perspective_cube_front_face_interpolates_exact_world_positions():
    vertices, faces = unit_cube()
    clip = perspective_clip(vertices, yaw=-np.pi, pitch=0.0, radius=2.0, fov=40.0)   # camera at -Y
    raster = rasterize(clip, faces, (64, 64))
    tri = raster.triangle_id[0].numpy()
    pos = interpolate(vertices, raster, faces)[0].numpy()
    seen = raster.mask[0].numpy()
    # Only the y = -0.5 face is visible, and it is planar: perspective-correct interpolation stays on it.
    front = np.where(np.all(vertices[faces][:, :, 1] == -0.5, axis=1))[0]
    assert set(np.unique(tri[seen])) <= set(front)
    np.testing.assert_allclose(pos[seen][:, 1], -0.5, atol=1e-5)
    # Each interpolated point projects back onto its own pixel centre.
    back = perspective_clip(pos[seen], yaw=-np.pi).numpy()
    ndc = back[:, :2] / back[:, 3:]
    x, y = pixel_centres(64, 64)
    np.testing.assert_allclose(ndc[:, 0], x[seen], atol=1e-5)
    np.testing.assert_allclose(ndc[:, 1], y[seen], atol=1e-5)
    # The face spans [-0.5, 0.5]^2 at distance 1.5 with fov 40: its half-width in NDC is 0.5/1.5/tan(20deg).
    half = 0.5 / 1.5 / np.tan(np.radians(20))
    inside = (np.abs(x) < half - 0.05) & (np.abs(y) < half - 0.05)
    assert seen[inside].all() and not seen[(np.abs(x) > half + 0.05) | (np.abs(y) > half + 0.05)].any()
    expected_depth = (10.1 * 1.5 - 2 * 10 * 0.1) / (9.9 * 1.5)    # OpenGL z/w at eye distance 1.5, near .1 far 10
    np.testing.assert_allclose(raster.depth[0].numpy()[inside], expected_depth, atol=1e-6)


def test_screen_space_derivatives_match_sub_pixel_shifts_under_perspective():
    vertices, faces = unit_cube()
    clip = perspective_clip(vertices, yaw=-np.pi + 0.4, pitch=0.3).numpy()
    res, eps = 96, 0.01
    raster = rasterize(clip, faces, (res, res))
    _, derivs = interpolate(vertices, raster, faces, with_derivatives=True)
    derivs = derivs[0].numpy()
    tri = raster.triangle_id[0].numpy()
    for axis in (0, 1):
        # Moving the image by +eps pixels along an axis samples the attribute at (pixel - eps).
        values = []
        for sign in (1, -1):
            shifted = clip.copy()
            shifted[:, axis] += sign * eps * 2 / res * shifted[:, 3]
            r = rasterize(shifted, faces, (res, res))
            same = r.triangle_id[0].numpy() == tri
            values.append((interpolate(vertices, r, faces)[0].numpy(), same))
        (minus, same_m), (plus, same_p) = values
        ok = same_m & same_p & (tri >= 0)
        estimate = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(derivs[..., axis][ok], estimate[ok], atol=3e-5)
        assert np.abs(derivs[..., axis][ok]).max() > 1e-3


def test_batched_input_rasterises_each_view():
    vertices, faces = unit_cube()
    clips = torch.stack([perspective_clip(vertices, yaw=y) for y in (0.0, 1.0, 2.0)])
    raster = rasterize(clips, faces, (24, 32))
    assert raster.triangle_id.shape == (3, 24, 32) and raster.bary.shape == (3, 24, 32, 2)
    for b, yaw in enumerate((0.0, 1.0, 2.0)):
        single = rasterize(perspective_clip(vertices, yaw=yaw), faces, (24, 32))
        assert torch.equal(single.triangle_id[0], raster.triangle_id[b])


def test_nvdiffrast_adapter_matches_the_cpu_rasteriser():
    if not nvdiffrast_backend.available():
        pytest.skip(f"nvdiffrast backend unavailable here: {nvdiffrast_backend.unavailable_reason()}")
    vertices, faces = unit_cube()
    clip = perspective_clip(vertices, yaw=0.7, pitch=0.2)
    cpu = rasterize(clip, faces, (64, 64), backend="cpu")
    gpu = rasterize(clip, faces, (64, 64), backend="nvdiffrast")
    assert (cpu.triangle_id != gpu.triangle_id).float().mean() < 0.01
    same = cpu.triangle_id == gpu.triangle_id
    np.testing.assert_allclose(cpu.bary[same].numpy(), gpu.bary[same].numpy(), atol=1e-4)
