"""Texture baking from generated views in the reference's conventions, against a known colour field."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from synchuman.geometry.mesh_utils import vertex_normals
from synchuman.geometry.uv import UVOptions, parametrize
from synchuman.render import interpolate, orthographic_clip, rasterize, sample_texture
from synchuman.render.bake import (BakeOptions, bake_texture, gaussian_fill, generated_views, push_pull_fill,
                                   texel_surface)
from synchuman.render.bake_opt import optimise_texture
from view_fixtures import render_views

RES = 256


def colour_field(p):
    """Smooth and asymmetric in x, y and z, so a mirrored or flipped view shows up as a large error."""
    return np.clip(np.stack([0.5 + 1.1 * p[:, 0], 0.5 + 0.9 * p[:, 1] + 0.2 * np.sin(9 * p[:, 2]),
                             0.5 + 0.9 * p[:, 2]], 1), 0, 1)


@pytest.fixture(scope="module")
def scene():
    """A capsule body with a sphere head, its atlas, and the 4 + 1 views rendered from the colour field."""
    body = trimesh.creation.capsule(height=0.45, radius=0.14, count=[40, 40]).apply_translation([0, 0, -0.1])
    head = trimesh.creation.icosphere(subdivisions=3, radius=0.1).apply_translation([0, 0, 0.3])
    mesh = trimesh.util.concatenate([body, head])
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)
    colors, normal_maps = render_views(vertices, faces, colour_field, RES)
    atlas = parametrize(vertices, faces, UVOptions(method="charts", resolution=RES, padding=2))
    return {"vertices": vertices[atlas.vmapping], "faces": atlas.faces, "uv": atlas.uv,
            "normals": vertex_normals(vertices, faces)[atlas.vmapping], "colors": colors, "normal_maps": normal_maps}


def render_psnr(scene, texture, view):
    raster = rasterize(orthographic_clip(scene["vertices"], view), scene["faces"], (RES, RES))
    mask = raster.mask[0].numpy()
    pixel_uv = interpolate(scene["uv"], raster, scene["faces"])[0].numpy()
    image = sample_texture(texture.astype(np.float32) / 255.0, pixel_uv)
    mse = ((image[mask] - scene["colors"][view][mask]) ** 2).mean()
    return 10 * np.log10(1.0 / mse)


def all_views(scene):
    return generated_views(scene["colors"][:4], scene["normal_maps"][:4], scene["colors"][4],
                           scene["normal_maps"][4])


def test_generated_views_take_masks_from_the_normal_maps(scene):
    views = all_views(scene)
    assert [v.view for v in views] == [0, 1, 2, 3, 4] and views[4].weight == 9.0
    for view, normal_map in zip(views, scene["normal_maps"]):
        np.testing.assert_array_equal(view.mask, (normal_map < 230 / 255).any(-1))


def test_fast_bake_reproduces_every_view_and_the_colour_field(scene):
    texture, stats = bake_texture(scene["vertices"], scene["faces"], scene["uv"], all_views(scene), scene["normals"],
                                  BakeOptions(texture_size=RES, padding=2))
    assert texture.shape == (RES, RES, 3) and texture.dtype == np.uint8
    for view in range(5):
        assert render_psnr(scene, texture, view) > 30, view
    assert stats.seen_texels > 0.75 and 0.2 < stats.covered_texels < 0.9     # caps are seen only edge-on
    # Texel by texel, where chart texels are seen, the bake equals the field at the texel's surface point.
    surface = texel_surface(scene["vertices"], scene["faces"], scene["uv"], scene["normals"], RES, 0)
    baked = texture[surface.rows, surface.cols] / 255.0
    error = np.abs(baked - colour_field(surface.position)).max(1)
    assert np.median(error) < 0.02 and np.percentile(error, 95) < 0.08


def test_gutter_texels_carry_the_colour_across_the_chart_edge(scene):
    texture, _ = bake_texture(scene["vertices"], scene["faces"], scene["uv"], all_views(scene), scene["normals"],
                              BakeOptions(texture_size=RES, padding=2))
    surface = texel_surface(scene["vertices"], scene["faces"], scene["uv"], scene["normals"], RES, 2)
    gutter = ~surface.inside
    assert gutter.sum() > 100
    baked = texture[surface.rows[gutter], surface.cols[gutter]] / 255.0
    assert np.median(np.abs(baked - colour_field(surface.position[gutter])).max(1)) < 0.05


def test_regions_no_view_sees_come_from_the_gaussians(scene):
    front_only = generated_views(scene["colors"][:1], scene["normal_maps"][:1])
    rng = np.random.default_rng(0)
    surface = texel_surface(scene["vertices"], scene["faces"], scene["uv"], scene["normals"], RES, 0)
    samples = surface.position[rng.choice(len(surface.position), 20000)]
    fill = gaussian_fill(samples, colour_field(samples), np.full(len(samples), 0.8))
    texture, stats = bake_texture(scene["vertices"], scene["faces"], scene["uv"], front_only, scene["normals"],
                                  BakeOptions(texture_size=RES, padding=2), fill=fill)
    assert 0.3 < stats.filled_from_prior < 0.8
    back = surface.position[:, 1] > 0.05
    baked = texture[surface.rows[back], surface.cols[back]] / 255.0
    assert np.median(np.abs(baked - colour_field(surface.position[back])).max(1)) < 0.03
    # Without Gaussians the back takes the nearest seen colours instead: no black, no holes.
    plain, _ = bake_texture(scene["vertices"], scene["faces"], scene["uv"], front_only, scene["normals"],
                            BakeOptions(texture_size=RES, padding=2))
    assert plain[surface.rows[back], surface.cols[back]].min() > 10


def test_push_pull_fill_keeps_known_texels_and_fills_the_rest_smoothly():
    image = np.zeros((32, 32, 3))
    known = np.zeros((32, 32), dtype=bool)
    image[4:10, 4:10], known[4:10, 4:10] = 1.0, True
    image[20:28, 20:28], known[20:28, 20:28] = 0.2, True
    filled = push_pull_fill(image, known)
    np.testing.assert_array_equal(filled[known], image[known])
    assert filled.min() >= 0.2 - 1e-9 and filled.max() <= 1.0 + 1e-9
    assert filled[0, 0, 0] > filled[31, 31, 0]           # nearer the bright patch, brighter


def test_opt_mode_fits_the_views_from_a_poor_start(scene):
    views = all_views(scene)
    flat = np.full((RES, RES, 3), 0.5)
    options = BakeOptions(texture_size=RES, opt_steps=100, opt_lr=3e-2, lambda_tv=0.001)
    start = render_psnr(scene, np.rint(flat * 255).astype(np.uint8), 0)
    fitted = optimise_texture(scene["vertices"], scene["faces"], scene["uv"], views, flat, options)
    after = render_psnr(scene, np.clip(np.rint(fitted * 255), 0, 255).astype(np.uint8), 0)
    assert after > start + 8
    texture, stats = bake_texture(scene["vertices"], scene["faces"], scene["uv"], views, scene["normals"],
                                  BakeOptions(texture_size=RES, padding=2, mode="opt", opt_steps=20))
    assert "opt" in stats.timings_s and render_psnr(scene, texture, 0) > 30
