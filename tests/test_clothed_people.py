"""The clothed-people benchmark generator: deterministic, and its ground truth agrees with itself
(the mask is the mesh's projection, joints fall on the person, garments stand off the body)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import clothed_people as cp  # noqa: E402
import people_body as pb  # noqa: E402
from people_render import Camera  # noqa: E402
from people_shapes import union_distance  # noqa: E402

SIZE, STEP = 160, 0.016          # coarse: the checks are about consistency, not looks
SKIRT_CASE = next(c for c in cp.CASES if c[0] == "turned30_skirt_studio")


@pytest.fixture(scope="module")
def skirt_case():
    return cp.render_case(SKIRT_CASE, size=SIZE, step=STEP, seed=7)


def _camera(meta) -> Camera:
    c = meta["camera"]
    return Camera(np.array(c["rotation_world_to_camera"]), np.array(c["eye"]), c["focal_px"], tuple(c["centre_px"]),
                  tuple(c["size"]), c["orthographic"])


def test_same_seed_same_photo_and_truth(skirt_case):
    again = cp.render_case(SKIRT_CASE, size=SIZE, step=STEP, seed=7)
    assert np.array_equal(again["photo"], skirt_case["photo"])
    for key in ("mask", "vertices", "joints2d", "box"):
        assert np.array_equal(again["truth"][key], skirt_case["truth"][key]), key
    other = cp.render_case(SKIRT_CASE, size=SIZE, step=STEP, seed=8)
    assert not np.array_equal(other["photo"], skirt_case["photo"])


def test_mask_is_the_projection_of_the_mesh(skirt_case):
    """Fill every projected triangle with PIL (another rasteriser) at 4x and compare coverage."""
    from PIL import Image, ImageDraw

    t, meta = skirt_case["truth"], skirt_case["meta"]
    uv, depth = _camera(meta).project(t["vertices"].astype(np.float64))
    assert (depth > 0).all()
    k = 4
    canvas = Image.new("L", (SIZE * k, SIZE * k), 0)
    draw = ImageDraw.Draw(canvas)
    for tri in (uv * k)[t["faces"]]:
        draw.polygon([tuple(p) for p in tri], fill=255)
    cover = np.asarray(canvas, np.float64).reshape(SIZE, k, SIZE, k).mean(axis=(1, 3)) / 255.0
    theirs = cover >= 0.5
    iou = (theirs & t["mask"]).sum() / (theirs | t["mask"]).sum()
    assert iou > 0.97, iou
    ys, xs = np.nonzero(t["mask"])
    assert list(t["box"]) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert 0 < t["mask"].mean() < 0.5


def test_joints_fall_on_the_person(skirt_case):
    t = skirt_case["truth"]
    assert t["joints_in_frame"].all()
    u, v = t["joints2d"][:, 0].astype(int), t["joints2d"][:, 1].astype(int)
    assert t["mask"][v, u].all()
    assert t["joints_visible"].all()
    names = list(pb.JOINTS)
    j3 = t["joints3d"]
    # GLB frame: feet on the floor, head up, the nose in front of the pelvis (turned 30 degrees)
    assert abs(t["vertices"][:, 1].min()) < 1e-3
    assert j3[names.index("head"), 1] > 1.4
    assert j3[names.index("nose"), 2] > j3[names.index("pelvis"), 2]


def test_garments_stand_off_the_body_and_cover_it():
    person = cp.make_person("walking", ("skirt", "coat"), seed=3, step=STEP, yaw_deg=20)
    body = person.groups[0]
    m = person.mesh
    worn = np.isin(m.labels, pb.GARMENT_LABELS)
    assert worn.mean() > 0.2
    off_body = body.distance(person.to_nominal(m.vertices[worn]))
    assert off_body.min() > -0.002            # no garment surface inside the body
    assert np.percentile(off_body, 75) > 0.03  # the skirt and the coat stand well off the legs
    inside = union_distance(person.groups, person.to_nominal(person.body_mesh.vertices))
    assert inside.max() < 0.004               # the bare body lies within the dressed surface
    assert set(np.unique(m.labels[worn])) >= {pb.SKIRT, pb.COAT}


@pytest.mark.parametrize("pose, garments", [("flying", ()), ("standing", ("cape",))])
def test_unknown_pose_or_garment_is_refused(pose, garments):
    with pytest.raises(ValueError, match="pose|garment"):
        cp.make_person(pose, garments, step=STEP)


def test_written_case_reads_back(skirt_case, tmp_path):
    import json

    from PIL import Image

    cp.write_case(skirt_case, tmp_path / "case")
    mask = np.asarray(Image.open(tmp_path / "case" / "mask.png")) > 127
    assert np.array_equal(mask, skirt_case["truth"]["mask"])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "case" / "photo.png")), skirt_case["photo"])
    truth = np.load(tmp_path / "case" / "truth.npz")
    assert truth["faces"].max() < len(truth["vertices"]) and truth["body_faces"].max() < len(truth["body_vertices"])
    meta = json.loads((tmp_path / "case" / "case.json").read_text())
    assert meta["pose"] == "standing" and meta["garments"][:2] == ["skirt", "long_hair"]
    assert meta["person_box"] == truth["box"].tolist() and meta["labels"]["names"]["12"] == "skirt"
    cp.contact_sheet([skirt_case], tmp_path / "sheet.png", thumb=64)
    assert Image.open(tmp_path / "sheet.png").size == (256, 78)
