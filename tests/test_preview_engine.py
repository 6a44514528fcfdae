"""The preview engine on real inputs, through the same path the CLI and the service use
(`run_reconstruction`): cut-outs, photos on plain and textured backgrounds, odd sizes, no person.

Every result is checked the same way: the GLB's geometry is closed and outward-oriented, the
person faces +Z with the feet on y = 0 and the requested height, the material is what the issue
asks for, the front render matches the input's silhouette and colours, and the texture's front
chart holds the photo while the back does not copy the face.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import synthetic_people as sp  # noqa: E402

from synchuman.engines import ReconstructSettings  # noqa: E402
from synchuman.errors import Cancelled, SyncHumanError  # noqa: E402
from synchuman.export.glb import read_glb_json  # noqa: E402
from synchuman.jobs import CancelToken  # noqa: E402
from synchuman.runner import EngineCache, run_reconstruction  # noqa: E402

ENGINES = EngineCache()


def save(tmp_path: Path, name: str, arr: np.ndarray) -> Path:
    path = tmp_path / name
    Image.fromarray(arr).save(path)
    return path


def reconstruct(path: Path, out: Path, **settings) -> dict:
    events: list[dict] = []
    result = run_reconstruction(path, out, ReconstructSettings(engine="preview", **settings), events.append,
                                CancelToken(), ENGINES)
    result["events"] = events
    return result


def load_glb(path: str):
    import trimesh

    scene = trimesh.load(path)
    (mesh,) = scene.geometry.values()
    return mesh


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2)[mask].mean()
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-9)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def check_result(result: dict, photo: sp.SyntheticPhoto, height_m: float = 1.75, min_iou: float = 0.97,
                 min_psnr: float = 24.0, max_faces: int = 60_000, texture_size: int = 1024,
                 psnr_inside: bool = False, side_to_back=(0.0, 0.8)) -> dict:
    """All the properties every preview result must have; returns measurements. side_to_back: the
    range of the side view's width over the back view's."""
    import trimesh

    glb = result["glb"]
    mesh = load_glb(glb)
    # geometry: closed, manifold, outward (UV seams split vertices: weld by position first)
    closed = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    closed.merge_vertices(merge_tex=True, merge_norm=True)
    assert closed.is_watertight and closed.is_winding_consistent
    assert closed.volume > 0
    assert len(mesh.faces) <= max_faces
    # frame: y up, feet on 0, requested height, centred
    lo, hi = mesh.bounds
    assert lo[1] == pytest.approx(0.0, abs=1e-6)
    assert hi[1] - lo[1] == pytest.approx(height_m, rel=1e-4)
    assert (lo[0] + hi[0]) / 2 == pytest.approx(0.0, abs=1e-6)
    assert (lo[2] + hi[2]) / 2 == pytest.approx(0.0, abs=1e-6)
    # material
    gltf = read_glb_json(glb)
    (mat,) = gltf["materials"]
    pbr = mat["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == pytest.approx(0.8)
    assert "baseColorTexture" in pbr and not mat.get("doubleSided", False)
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    assert texture.shape[:2] == (texture_size, texture_size)

    # faces +Z: the camera side of the mesh carries the photo. Project the vertices whose normals
    # point towards +Z into the photo and compare texture colours with the photo's colours there.
    H, W = photo.mask.shape
    normals = mesh.vertex_normals
    front = normals[:, 2] > 0.8
    px_per_m = (photo.mask.any(axis=1).nonzero()[0].ptp() + 1) / height_m
    rows = np.nonzero(photo.mask.any(axis=1))[0]
    cols = np.nonzero(photo.mask.any(axis=0))[0]
    u = (cols[0] + cols[-1]) / 2 + mesh.vertices[front, 0] * px_per_m
    v = rows[-1] + 0.5 - mesh.vertices[front, 1] * px_per_m
    ui, vi = np.clip(np.round(u).astype(int), 0, W - 1), np.clip(np.round(v).astype(int), 0, H - 1)
    inner = photo.mask[vi, ui]
    uv = mesh.visual.uv[front][inner]
    T = texture.shape[0]
    tex_cols = texture[np.clip(((1 - uv[:, 1]) * T).astype(int), 0, T - 1), np.clip((uv[:, 0] * T).astype(int), 0, T - 1)]
    photo_cols = photo.rgb[vi[inner], ui[inner]]
    err = np.abs(tex_cols.astype(int) - photo_cols.astype(int)).mean()
    assert err < 20, f"front texture does not match the photo (mean abs error {err:.1f})"
    # and it is not a mirror image: the same check with x flipped is clearly worse
    u_m = (cols[0] + cols[-1]) / 2 - mesh.vertices[front, 0] * px_per_m
    ui_m = np.clip(np.round(u_m).astype(int), 0, W - 1)
    err_m = np.abs(tex_cols.astype(int) - photo.rgb[vi[inner], ui_m[inner]].astype(int)).mean()
    assert err_m > err + 2

    # the front view: a render of the result framed like the photo
    view = np.asarray(Image.open(result["views"]["front"]).convert("RGB"))
    meta = json.loads((Path(result["job_dir"]) / "job.json").read_text())
    assert meta["engine"] == "preview"
    scale = view.shape[1] / W
    gt = photo.mask if scale == 1 else (np.asarray(Image.fromarray(photo.mask.astype(np.uint8) * 255).resize(
        (view.shape[1], view.shape[0]), Image.BOX)) >= 128)
    ref = photo.rgb if scale == 1 else np.asarray(Image.fromarray(photo.rgb).resize((view.shape[1], view.shape[0]), Image.BOX))
    cover = np.abs(view.astype(int) - 235).sum(-1) > 0
    compared = gt & cover
    if psnr_inside:   # tiny photos: most person pixels are edge pixels mixed with the background
        import cv2

        compared = cv2.erode(compared.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    measured = {"iou": iou(cover, gt), "psnr": psnr(view, ref, compared), "faces": len(mesh.faces),
                "meta": meta}
    assert measured["iou"] >= min_iou, measured["iou"]
    assert measured["psnr"] >= min_psnr, measured["psnr"]
    assert meta["preview"]["mesh"]["watertight"] and meta["preview"]["mesh"]["winding_consistent"]
    check_side_and_back(result, cover, side_to_back)
    return measured


def check_side_and_back(result: dict, front_cover: np.ndarray, side_to_back=(0.0, 0.8)) -> None:
    """views/side.png and views/back.png: written into the job's views/ folder, listed in the result,
    the person seen from the side (narrower than from the front) and from behind (as wide)."""
    views = result["views"]
    assert {"front", "side", "back", "pose"} <= set(views)
    covers = {}
    for name in ("side", "back"):
        path = Path(views[name])
        assert path.parent == Path(result["job_dir"]) / "views" and path.name == f"{name}.png"
        img = np.asarray(Image.open(path).convert("RGB")).astype(int)
        covers[name] = np.abs(img - 235).sum(-1) > 0
    width = lambda c: np.count_nonzero(c.any(axis=0))  # noqa: E731
    height = lambda c: np.count_nonzero(c.any(axis=1))  # noqa: E731
    for name, c in covers.items():   # the same scale as the front view when both fit in 1024 px
        assert height(c) == pytest.approx(height(front_cover), rel=0.05), name
    assert width(covers["back"]) == pytest.approx(width(front_cover), rel=0.05)
    lo, hi = side_to_back
    assert lo * width(covers["back"]) < width(covers["side"]) < hi * width(covers["back"])


def test_cutout_standing(tmp_path):
    photo = sp.render_photo(sp.make_person("standing", seed=11), 640, 800, background="plain")
    path = save(tmp_path, "cutout.png", photo.rgba)
    result = reconstruct(path, tmp_path / "out")
    m = check_result(result, photo)
    assert m["meta"]["person"]["alpha_source"] == "photo"
    assert m["meta"]["person"]["pose_source"].startswith("MediaPipe BlazePose")
    assert m["meta"]["input"]["has_alpha"] is True
    stages = [e["stage"] for e in result["events"] if e["type"] == "progress"]
    for stage in ("foreground", "silhouette", "geometry", "texture", "export", "render"):
        assert stage in stages


def test_rgb_photo_plain_background_height_and_limits(tmp_path):
    photo = sp.render_photo(sp.make_person("arms_out", seed=12), 900, 700, background="plain")
    path = save(tmp_path, "plain.jpg", photo.rgb)
    result = reconstruct(path, tmp_path / "out", height_m=1.6, max_faces=8000, texture_size=512)
    m = check_result(result, photo, height_m=1.6, max_faces=8000, texture_size=512, min_iou=0.96)
    assert m["meta"]["person"]["alpha_source"] == "learned" and m["meta"]["person"]["people_seen"] == 1


def test_rgb_photo_textured_background_seated(tmp_path):
    photo = sp.render_photo(sp.make_person("seated", seed=13), 700, 800, background="textured")
    path = save(tmp_path, "room.png", photo.rgb)
    # seated, the thighs reach forward: this person is deeper (0.95 m) than wide (0.72 m)
    check_result(reconstruct(path, tmp_path / "out"), photo, min_iou=0.95, side_to_back=(0.6, 1.4))


@pytest.mark.parametrize("size", [(300, 1100), (1400, 520), (70, 100)], ids=["tall", "wide", "tiny"])
def test_odd_sizes(tmp_path, size):
    pose = "arms_out" if size[0] > size[1] else "standing"
    photo = sp.render_photo(sp.make_person(pose, seed=14), *size, background="plain")
    path = save(tmp_path, "odd.png", photo.rgba)
    tiny = min(size) < 128
    check_result(reconstruct(path, tmp_path / "out"), photo, min_iou=0.9 if tiny else 0.97, psnr_inside=tiny)


def test_huge_photo(tmp_path):
    # a 1024 render upscaled to 3600 px: exercises the large-image path (coarser grid, downscaled view)
    small = sp.render_photo(sp.make_person("standing", seed=15), 900, 1000, background="plain", ss=1)
    big = sp.SyntheticPhoto(
        rgb=np.asarray(Image.fromarray(small.rgb).resize((3240, 3600), Image.BILINEAR)),
        alpha=np.asarray(Image.fromarray(small.alpha).resize((3240, 3600), Image.BILINEAR)),
        mask=np.zeros(0), body=small.body, px_per_m=small.px_per_m * 3.6, origin=small.origin)
    big.mask = big.alpha >= 128
    path = save(tmp_path, "huge.png", big.rgba)
    m = check_result(reconstruct(path, tmp_path / "out"), big)
    assert m["meta"]["preview"]["grid_cell_px"] > 3


@pytest.mark.parametrize("kind", ["plain", "textured"])
def test_no_person(tmp_path, kind):
    path = save(tmp_path, "empty.png", sp.no_person_photo(kind, 500, 400))
    out = tmp_path / "out"
    with pytest.raises(SyncHumanError) as err:
        reconstruct(path, out)
    assert err.value.code == "input.no_foreground" and "cut-out" in err.value.hint
    assert not out.exists() or not any(out.iterdir())


def test_cancel_lands_quickly_and_leaves_nothing(tmp_path):
    photo = sp.render_photo(sp.make_person("standing", seed=16), 500, 600, background="plain")
    path = save(tmp_path, "p.png", photo.rgb)
    cancel = CancelToken()
    seen = []

    def emit(event):
        seen.append(event["stage"])
        if event["stage"] == "geometry":
            cancel.set()

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        run_reconstruction(path, out, ReconstructSettings(engine="preview"), emit, cancel, ENGINES)
    assert "texture" not in seen
    assert not any(out.iterdir())


def test_back_does_not_copy_the_face(tmp_path):
    photo = sp.render_photo(sp.make_person("standing", seed=17), 600, 800, background="plain")
    result = reconstruct(save(tmp_path, "p.png", photo.rgba), tmp_path / "out")
    mesh = load_glb(result["glb"])
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")).astype(int)
    T = texture.shape[0]
    V, N, UV = mesh.vertices, mesh.vertex_normals, mesh.visual.uv
    head_y = photo.body.head_centre[1] - photo.body.bounds()[0][1]
    near_head = np.abs(V[:, 1] - head_y) < 0.03
    def colour(sel):
        uv = UV[sel]
        return texture[np.clip(((1 - uv[:, 1]) * T).astype(int), 0, T - 1),
                       np.clip((uv[:, 0] * T).astype(int), 0, T - 1)].mean(0)
    face = colour(near_head & (N[:, 2] > 0.8) & (np.abs(V[:, 0]) < 0.03))
    back_of_head = colour(near_head & (N[:, 2] < -0.8) & (np.abs(V[:, 0]) < 0.03))
    hair = photo.body.palette[sp.HAIR] * 255
    skin = photo.body.palette[sp.SKIN] * 255
    # the back of the head is much closer to the hair colour than to skin, unlike the face
    assert np.linalg.norm(back_of_head - hair) < np.linalg.norm(back_of_head - skin) - 30
    assert np.linalg.norm(face - skin) < np.linalg.norm(face - hair)
    meta = json.loads((Path(result["job_dir"]) / "job.json").read_text())
    assert meta["preview"]["head"] in ("face detector", "silhouette")


def test_bundled_example_end_to_end(example_photo, tmp_path):
    result = reconstruct(example_photo, tmp_path / "out")
    meta = result["metadata"]
    assert meta["input"]["has_alpha"] is False
    assert meta["preview"]["front_silhouette_iou"] >= 0.97
    assert meta["preview"]["mesh"]["watertight"]


def test_person_cut_by_the_frame(tmp_path):
    # the lower legs are outside the photo: the mesh is closed along the frame's edge
    photo = sp.render_photo(sp.make_person("standing", seed=18), 500, 600, background="plain", fill=1.0,
                            offset=(0.0, 0.12))
    assert photo.mask[-1].any()
    result = reconstruct(save(tmp_path, "cut.png", photo.rgb), tmp_path / "out")
    meta = result["metadata"]["preview"]
    assert meta["mesh"]["watertight"] and meta["mesh"]["winding_consistent"] and meta["mesh"]["volume_m3"] > 0
    assert meta["front_silhouette_iou"] >= 0.97


def test_smallest_face_budget(tmp_path):
    photo = sp.render_photo(sp.make_person("arms_out", seed=19), 600, 500, background="plain")
    result = reconstruct(save(tmp_path, "p.png", photo.rgba), tmp_path / "out", max_faces=1000)
    check_result(result, photo, max_faces=1000, min_iou=0.95, min_psnr=22)


def test_photo_camera_round_trips_and_keeps_planes_planar():
    """camera.py: the engine builds geometry in photo pixels and maps it back to metres through the
    photo's pinhole camera; to_photo and from_photo invert each other (also once scaled and moved
    into the GLB frame), the reference point shows at its pixel, and a plane stays a plane."""
    from synchuman.engines.preview.camera import PhotoCamera

    cam = PhotoCamera(480.0, np.array([0.1, 0.9, -0.05]), np.array([400.0, 470.0]), 0.3, np.array([511.5, 511.5]), 0.12, 0.09)
    pts = np.random.default_rng(1).normal(scale=0.4, size=(200, 3)) + cam.centre
    px = cam.to_photo(pts)
    assert np.allclose(cam.from_photo(px), pts, atol=1e-9)
    assert np.allclose(cam.to_photo(cam.centre[None])[0], [400.0, 470.0, 0.0])
    moved = cam.moved(1.8, np.array([0.3, -0.2, 0.1]))
    assert np.allclose(moved.to_photo(1.8 * pts + [0.3, -0.2, 0.1]), px, atol=1e-6)
    # nearer points spread away from the photo's centre: perspective, unlike the orthographic view
    level = PhotoCamera(480.0, cam.centre, np.array([511.5, 511.5]), 0.3, np.array([511.5, 511.5]))
    near = cam.centre + np.array([[0.3, 0.0, 0.0], [0.3, 0.0, 0.4]])
    persp, ortho = level.to_photo(near), level.to_photo(near, perspective=False)
    assert abs(persp[1, 0] - 511.5) > abs(persp[0, 0] - 511.5) and ortho[0, 0] == pytest.approx(ortho[1, 0])
    # a camera looking down sees an upright person's head nearer than the feet, by the sine of its pitch
    down = PhotoCamera(480.0, np.zeros(3), np.array([511.5, 511.5]), 0.0, np.array([511.5, 511.5]), 0.0, 0.1)
    feet, head = down.to_photo(np.array([[0.0, 0.0, 0.0], [0.0, 1.7, 0.0]]))
    assert head[2] - feet[2] == pytest.approx(480.0 * 1.7 * np.sin(0.1))
    # a plane in pixels is a plane in metres (the map is projective)
    uv = np.random.default_rng(2).uniform(0, 1000, size=(50, 2))
    plane = cam.from_photo(np.column_stack([uv, 0.2 * uv[:, 0] - 0.1 * uv[:, 1] + 30.0]))
    centred = plane - plane.mean(0)
    assert np.linalg.svd(centred, compute_uv=False)[2] < 1e-9 * np.abs(centred).max()
