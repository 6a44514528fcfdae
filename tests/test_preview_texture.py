"""Texturing a closed mesh from the photo (engines/preview/texture.py `texture_mesh`) on a real body
mesh: the body model fitted (body.fit) to a painted photo of a known body whose bare right forearm
crosses its blue shirt, with short dark hair and a face with red lips, projected into photo pixels
with its per-vertex body segments (the stand-in for the dressed mesh of issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synchuman.body.fit import BodyFitter
from synchuman.body.synthetic import observe
from synchuman.engines.preview.bodyparts import SEGMENTS, body_segments
from synchuman.engines.preview.raster import rasterize
from synchuman.engines.preview.texture import BACK, CELL, FRONT, texture_mesh
from synchuman.engines.preview.views import render_view

pytestmark = pytest.mark.slow  # shares the session's anny build with test_body_model.py

SIZE = 512
SKIN, HAIR, SHIRT, TROUSERS, SHOES, LIPS = ((225, 172, 135), (70, 40, 20), (40, 70, 200), (40, 140, 60), (20, 20, 20),
                                           (210, 20, 30))


def _segments(model):
    return body_segments(model.skin_weights.numpy(), model.bone_labels, model.faces.numpy(),
                         model.face_parts.numpy(), model.part_labels)[0]


def _paint(model, verts_cam: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Per-vertex colours of the known body: shirt with sleeves to the elbow, bare forearms, hair on
    the top and back of the head, red lips on the face."""
    is_ = lambda *names: np.isin(seg, [SEGMENTS.index(n) for n in names])  # noqa: E731
    colour = np.tile(np.array(SKIN, float), (len(seg), 1))
    colour[is_("torso", "hips", "upper_arm.L", "upper_arm.R")] = SHIRT
    colour[is_("hips", "thigh.L", "thigh.R", "shin.L", "shin.R")] = TROUSERS
    colour[is_("foot.L", "foot.R")] = SHOES
    head = is_("head")
    centre = verts_cam[head].mean(0)
    top, bottom = verts_cam[head, 1].min(), verts_cam[head, 1].max()   # camera y points down
    rel = verts_cam - centre
    hair = head & ((verts_cam[:, 1] < top + 0.3 * (bottom - top)) | (rel[:, 2] > -0.02))   # top, and behind the ears
    colour[hair] = HAIR
    lips = head & (rel[:, 2] < -0.06) & (np.abs(rel[:, 0]) < 0.025) & (rel[:, 1] > 0.045) & (rel[:, 1] < 0.065)
    colour[lips] = LIPS
    return colour


@pytest.fixture(scope="module")
def scene(body_model):
    model = body_model
    seg = _segments(model)
    rot = torch.zeros(model.num_bones, 3)
    rot[model.bone("lowerarm01.R")] = torch.tensor([-1.7, 0.0, 0.0])
    rot[model.bone("upperarm01.R")] = torch.tensor([0.0, 0.0, 2.0])   # the forearm across the shirt
    truth = observe(model, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], rot, image_size=(SIZE, SIZE), scale=210)
    # the painted photo: the true body's vertex colours, flat, on grey
    from synchuman.body.fit import camera_pose
    from synchuman.body.landmarks import LandmarkRegressor

    verts_cam, _, _ = camera_pose(model, LandmarkRegressor(model), [0.5] * 6, rot, np.eye(3))
    faces = model.faces.numpy()
    colour = _paint(model, verts_cam, seg)
    tri, bary = rasterize(truth.vertices_px - 0.5, -verts_cam[:, 2], faces, SIZE, SIZE)
    photo = np.full((SIZE, SIZE, 3), 128.0)
    hit = tri >= 0
    photo[hit] = (colour[faces[tri[hit]]] * bary[hit][..., None]).sum(1)
    photo = np.clip(photo + 0.5, 0, 255).astype(np.uint8)
    # the fit and its mesh in photo pixels
    fitter = BodyFitter(model)
    fit = fitter.fit(truth.observation)
    fitted_cam, px = fitter.project(fit)
    verts_px = np.column_stack([px - 0.5, -fitted_cam[:, 2] * fit.scale])
    textured = texture_mesh(photo, hit, verts_px, faces, seg, list(SEGMENTS), None, 512)
    return {"photo": photo, "mask": hit, "verts_px": verts_px, "faces": faces, "seg": seg, "tm": textured}


def _face_colours(tm, faces_sel: np.ndarray) -> np.ndarray:
    """The texture's colour at the UV centroid of each selected face."""
    uv = tm.uv[tm.faces[faces_sel]].mean(1)
    T = tm.texture.shape[0]
    return tm.texture[np.clip(((1 - uv[:, 1]) * T).astype(int), 0, T - 1),
                      np.clip((uv[:, 0] * T).astype(int), 0, T - 1)].astype(float)


def test_every_face_is_textured_with_uvs_in_range(scene):
    tm, faces = scene["tm"], scene["faces"]
    assert tm.faces.shape == faces.shape and tm.uv.shape == (len(tm.vertex_index), 2)
    assert np.array_equal(tm.vertex_index[tm.faces], faces), "faces keep their input vertices, in order"
    assert tm.uv.min() >= 0.0 and tm.uv.max() <= 1.0
    assert tm.texture.shape == (512, 512, 3) and tm.texture.dtype == np.uint8
    assert set(np.unique(tm.face_chart)) == {FRONT, BACK, CELL}
    # a vertex is repeated only where its faces use different charts
    assert len(tm.vertex_index) < 1.5 * scene["verts_px"].shape[0]


def test_front_reproduces_the_photo(scene):
    tm, photo, mask = scene["tm"], scene["photo"], scene["mask"]
    view, cover = render_view(scene["verts_px"][tm.vertex_index], tm.faces, tm.uv, tm.texture, "front",
                              photo_size=(SIZE, SIZE))
    both = cover & mask
    assert both.sum() > 0.8 * mask.sum()
    mse = ((view.astype(float) - photo.astype(float)) ** 2)[both].mean()
    assert 10 * np.log10(255 ** 2 / mse) >= 26.0


def test_back_of_the_head_is_hair_not_face(scene):
    tm, seg, faces = scene["tm"], scene["seg"], scene["faces"]
    head = (seg[faces] == SEGMENTS.index("head")).all(1)
    behind = scene["verts_px"][faces, 2].mean(1) < np.median(scene["verts_px"][faces[head], 2].mean(1))
    back_head = np.nonzero(head & behind & (tm.face_chart != FRONT))[0]
    assert len(back_head) > 200
    cols = _face_colours(tm, back_head)
    to_hair = np.linalg.norm(cols - HAIR, axis=1)
    to_skin = np.linalg.norm(cols - SKIN, axis=1)
    assert (to_hair < to_skin).mean() > 0.9, "the back of the head should take the hair colour"
    assert (np.linalg.norm(cols - LIPS, axis=1) < 60).sum() == 0, "the face's lips were copied to the back"
    # and the rendered back view shows hair where the head is
    view, cover = render_view(scene["verts_px"][tm.vertex_index], tm.faces, tm.uv, tm.texture, "back")
    rows = np.nonzero(cover.any(1))[0]
    top = view[rows[0]:rows[0] + 15][cover[rows[0]:rows[0] + 15]].astype(float)
    assert np.linalg.norm(top.mean(0) - HAIR) < np.linalg.norm(top.mean(0) - SKIN)


def test_hidden_surfaces_do_not_copy_the_occluder(scene):
    """The shirt behind the crossed bare forearm must not receive the forearm's skin: render the
    torso alone from the front and look where the forearm covered it in the photo."""
    tm, seg, faces, verts = scene["tm"], scene["seg"], scene["faces"], scene["verts_px"]
    points = verts[tm.vertex_index]
    _, cover_all = render_view(points, tm.faces, tm.uv, tm.texture, "front", photo_size=(SIZE, SIZE))
    tri, _ = rasterize(points[:, :2], points[:, 2], tm.faces, SIZE, SIZE)
    forearm = np.isin(seg[faces], [SEGMENTS.index("forearm.R"), SEGMENTS.index("hand.R")]).all(1)
    torso = (seg[faces] == SEGMENTS.index("torso")).all(1)
    torso_view, torso_cover = render_view(points, tm.faces[torso], tm.uv, tm.texture, "front", photo_size=(SIZE, SIZE))
    under_arm = (tri >= 0) & forearm[np.maximum(tri, 0)] & torso_cover
    assert under_arm.sum() > 300, "the forearm should cover part of the torso"
    cols = torso_view[under_arm].astype(float)
    near_skin = np.linalg.norm(cols - SKIN, axis=1) < np.linalg.norm(cols - SHIRT, axis=1)
    assert near_skin.mean() < 0.1, f"{100 * near_skin.mean():.0f}% of the hidden shirt took the arm's skin"
    # the torso faces seen there are not on the photo's chart
    torso_ids = np.nonzero(torso)[0]
    tri_torso, _ = rasterize(points[:, :2], points[:, 2], tm.faces[torso], SIZE, SIZE)
    hidden = torso_ids[tri_torso[under_arm & (tri_torso >= 0)]]
    assert (tm.face_chart[hidden] != FRONT).mean() > 0.9


def test_a_mesh_without_parts_uses_the_colour_fill(scene):
    tm = texture_mesh(scene["photo"], scene["mask"], scene["verts_px"], scene["faces"], None, None, None, 256)
    assert set(np.unique(tm.face_chart)) == {FRONT, BACK}, "no part cells without parts"
    assert "parts_seen_in_photo" not in tm.notes and tm.texture.shape == (256, 256, 3)
    assert np.array_equal(tm.vertex_index[tm.faces], scene["faces"])


def test_bad_part_labels_are_refused(scene):
    with pytest.raises(ValueError, match="part names"):
        texture_mesh(scene["photo"], scene["mask"], scene["verts_px"], scene["faces"], scene["seg"], ["body"],
                     None, 256)


def test_a_mesh_beyond_the_photo_is_textured(scene):
    """A half-body photo with the legs completed by the body prior: the mesh leaves the photo."""
    half = SIZE // 2
    photo, mask = scene["photo"][:half], scene["mask"][:half]
    tm = texture_mesh(photo, mask, scene["verts_px"], scene["faces"], scene["seg"], list(SEGMENTS), None, 256)
    assert np.array_equal(tm.vertex_index[tm.faces], scene["faces"])
    assert tm.uv.min() >= 0.0 and tm.uv.max() <= 1.0
    # beyond the photo's frame every face is a solid part colour, never the frame's edge stretched
    # into streaks; the shins, which the photo does not show, continue the trousers it shows above
    beyond = (scene["verts_px"][scene["faces"], 1] > half - 0.5).all(1)
    assert beyond.sum() > 1000 and (tm.face_chart[beyond] == CELL).all()
    legs = np.isin(scene["seg"][scene["faces"]], [SEGMENTS.index("shin.L"), SEGMENTS.index("shin.R")]).all(1)
    shins = _face_colours(tm, np.nonzero(legs & beyond)[0])
    assert np.abs(shins - TROUSERS).max() < 30, np.unique(shins, axis=0)


def test_a_patch_enclosed_by_a_garment_is_not_copied_to_the_back():
    """A chest patch inside a suit (the astronaut's mission patch is 3.3 % of her figure) is front
    detail: the back fill gives its place the suit's colour, while a garment region touching the
    outline (the trousers) keeps its own."""
    from synchuman.engines.preview.backfill import back_fill
    from synchuman.engines.preview.head import Head
    from synchuman.engines.preview.silhouette import analyse

    h, w = 400, 200
    alpha = np.zeros((h, w), np.uint8)
    alpha[20:380, 40:160] = 255
    front = np.zeros((h, w, 3), np.uint8)
    front[...] = (220, 90, 40)                       # the suit
    front[260:380, 40:160] = (40, 60, 120)           # trousers, down to the outline
    yy, xx = np.mgrid[:h, :w]
    patch = (yy - 120) ** 2 + (xx - 100) ** 2 <= 24 ** 2
    front[patch] = (90, 40, 140)
    assert 0.035 < patch.sum() / (alpha > 0).sum() < 0.05
    sil = analyse(alpha, pad=0)
    no_head = Head(np.zeros(sil.mask.shape, bool), None, 0, 0)
    back, _ = back_fill(front[sil.box[1]:sil.box[3], sil.box[0]:sil.box[2]], sil, no_head)
    v0, u0 = sil.box[1], sil.box[0]
    nearer = lambda rgb, a, b: np.linalg.norm(rgb - a) < 0.5 * np.linalg.norm(rgb - b)  # noqa: E731
    suit, trousers, mark = np.float64([220, 90, 40]), np.float64([40, 60, 120]), np.float64([90, 40, 140])
    centre = back[120 - v0, 100 - u0].astype(float)   # darker than the suit: the front's shading is kept
    assert nearer(centre, suit, mark), centre
    assert nearer(back[340 - v0, 100 - u0].astype(float), trousers, suit)
