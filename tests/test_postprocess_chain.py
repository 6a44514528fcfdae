"""The whole post-processing chain: raw mesh + generated views + Gaussians -> GLB, with progress and cancel."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import trimesh
from skimage import measure

from synchuman.errors import Cancelled
from synchuman.export.glb import read_glb_json
from synchuman.jobs import CancelToken, ProgressReporter
from synchuman.pipelines.postprocess import POSTPROCESS_STAGES, to_glb
from view_fixtures import render_views

RES = 256


def colour_field(p):
    return np.clip(np.stack([0.5 + p[:, 0], 0.5 + p[:, 1], 0.5 + p[:, 2]], 1), 0, 1)


def raw_body(n=64):
    """Standing blob with a nose at -Y (the face side), an inner void and a punched hole."""
    x = np.linspace(-0.5, 0.5, n)
    p = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    body = np.linalg.norm((p - [0, 0, -0.05]) / [0.18, 0.14, 0.4], axis=1) - 1
    head = np.linalg.norm(p - [0, 0, 0.4], axis=1) - 0.08
    nose = np.linalg.norm(p - [0, -0.08, 0.4], axis=1) - 0.025
    d = np.minimum.reduce([body * 0.14, head, nose])
    d = np.maximum(d, 0.06 - np.linalg.norm(p - [0, 0, 0.0], axis=1))
    vertices, faces, _, _ = measure.marching_cubes(d.reshape(n, n, n), 0.0, spacing=(1 / (n - 1),) * 3)
    vertices -= 0.5
    faces = faces.astype(np.int64)
    centroids = vertices[faces].mean(1)
    hole = np.linalg.norm(centroids - [0.18, 0, 0], axis=1)
    return vertices, faces[hole > hole.min() + 0.015]


def rendered_views(vertices, faces):
    return render_views(vertices, faces, colour_field, RES)


@pytest.fixture(scope="module")
def inputs():
    vertices, faces = raw_body()
    colors, normal_maps = rendered_views(vertices, faces)
    rng = np.random.default_rng(0)
    xyz = vertices[rng.choice(len(vertices), 5000)]
    gaussians = SimpleNamespace(xyz=xyz, rgb=colour_field(xyz), opacity=np.full(len(xyz), 0.9))
    return vertices, faces, colors, normal_maps, gaussians


def test_chain_writes_a_clean_y_up_glb_in_metres_with_a_non_metal_material(inputs, tmp_path):
    vertices, faces, colors, normal_maps, gaussians = inputs
    events = []
    reporter = ProgressReporter(POSTPROCESS_STAGES, events.append)
    stats = to_glb(vertices, faces, colors[:4], normal_maps[:4], colors[4], normal_maps[4], gaussians,
                   out_path=tmp_path / "human.glb", height_m=1.8, texture_size=256, max_faces=4000,
                   progress=reporter)
    json.dumps(stats)                                                   # job.json material
    assert stats["faces_out"] <= 4000 and stats["cleanup"]["manifold"] and stats["cleanup"]["holes_left"] == 0
    assert stats["cleanup"]["hidden_faces_removed"] > 0 and stats["bake"]["gaussian_prior"]
    assert [e["stage"] for e in events if "stage" in e][0] == "mesh_cleanup"
    seen_stages = list(dict.fromkeys(e["stage"] for e in events if "stage" in e))
    assert seen_stages == [s.name for s in POSTPROCESS_STAGES]

    gltf = read_glb_json(tmp_path / "human.glb")
    material = gltf["materials"][0]["pbrMetallicRoughness"]
    assert material["metallicFactor"] == 0.0 and material["roughnessFactor"] == 1.0
    assert "baseColorTexture" in material
    mesh = trimesh.load(tmp_path / "human.glb", force="mesh")
    lo, hi = mesh.bounds
    assert hi[1] - lo[1] == pytest.approx(1.8, rel=1e-4) and lo[1] == pytest.approx(0.0, abs=1e-6)
    # The nose (the -Y side in the networks' frame) points to +Z in the GLB.
    top = mesh.vertices[mesh.vertices[:, 1] > 0.85 * hi[1]]
    assert top[:, 2].max() > -top[:, 2].min() + 0.03
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces)           # UV seams split vertices; weld them to check
    welded.merge_vertices(merge_tex=True, merge_norm=True)
    assert welded.is_watertight and welded.volume > 0


def test_cancel_stops_the_chain_and_writes_nothing(inputs, tmp_path):
    vertices, faces, colors, normal_maps, gaussians = inputs
    cancel = CancelToken()

    def progress(stage, done, total, message):
        if stage == "uv_atlas":
            cancel.set()

    with pytest.raises(Cancelled):
        to_glb(vertices, faces, colors[:4], normal_maps[:4], out_path=tmp_path / "never.glb", texture_size=256,
               max_faces=4000, progress=progress, cancel=cancel)
    assert not (tmp_path / "never.glb").exists()


def test_optional_normal_map_is_baked_from_the_dense_mesh_and_exported(inputs, tmp_path):
    from synchuman.pipelines.postprocess import PostprocessOptions

    vertices, faces, colors, normal_maps, _ = inputs
    options = PostprocessOptions(normal_map=True)
    stats = to_glb(vertices, faces, colors[:4], normal_maps[:4], out_path=tmp_path / "human.glb", texture_size=256,
                   max_faces=2000, options=options)
    assert stats["normal_map"] and "normal_map" in stats["timings_s"]
    assert options.cleanup.max_faces == 60_000                         # the caller's options are not modified
    material = read_glb_json(tmp_path / "human.glb")["materials"][0]
    assert "normalTexture" in material
    loaded = trimesh.load(tmp_path / "human.glb", force="mesh")
    normal_image = np.asarray(loaded.visual.material.normalTexture)[..., :3] / 255.0 * 2 - 1
    assert np.median(normal_image[..., 2]) > 0.9                       # mostly aligned with the coarse surface


def test_an_empty_mesh_is_a_clear_error(inputs, tmp_path):
    from synchuman.errors import SyncHumanError

    _, _, colors, normal_maps, _ = inputs
    with pytest.raises(SyncHumanError) as error:
        to_glb(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), colors[:4], normal_maps[:4],
               out_path=tmp_path / "none.glb")
    assert error.value.code == "postprocess.empty_mesh" and error.value.hint
