"""The preview's back and sides on real engine runs (`build_preview`, the fitted body dressed by the
photo, textured by `texture_mesh`): the side surfaces seen edge-on from the front do not show the
photo's outline pixels stretched into streaks, the back of a bare neck is skin (not the shirt below
it), long hair keeps the hair colour down the back, and the legs completed below a real half-body
photo take solid colours (not the frame's bottom row stretched down them)."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import clothed_people as cp  # noqa: E402
import preview_texture as bench  # noqa: E402

from synchuman.body.data import body_data_path  # noqa: E402
from synchuman.engines import ReconstructSettings  # noqa: E402
from synchuman.engines.preview import build_preview  # noqa: E402
from synchuman.engines.preview.partfill import face_parts_from_vertices  # noqa: E402
from synchuman.engines.preview.texture import texture_mesh  # noqa: E402
from synchuman.engines.preview.views import render_view  # noqa: E402
from synchuman.foreground.pose import LANDMARK  # noqa: E402
from synchuman.images import Photo, load_photo  # noqa: E402

pytestmark = pytest.mark.skipif(not body_data_path().is_file(),
                                reason="the body data is built by `python build.py setup`")


def _build(rgba: np.ndarray):
    photo = Photo(rgba=rgba, has_alpha=bool(rgba.shape[2] == 4 and (rgba[..., 3] < 255).any()), path=None,
                  sha256="", original_size=(rgba.shape[1], rgba.shape[0]), format="PNG")
    built = build_preview(photo, ReconstructSettings(engine="preview", rig=False), lambda *a: None)
    assert built.notes["method"] == "body", built.notes.get("warnings")
    return built


@pytest.fixture(scope="module")
def long_hair_case():
    """A person with long hair over the shoulders, arms crossed, as a cut-out (1024 px, like the benchmark)."""
    spec = next(c for c in cp.CASES if c[0] == "crossed_arms_hair_rocket")
    seed = cp.CASES.index(spec) + 1
    case = cp.render_case(spec, 1024, seed=seed)
    built = _build(np.dstack([case["photo"], case["truth"]["alpha"]]))
    return case, bench.remake_person(spec, seed), built


def test_long_hair_keeps_its_colour_down_the_back(long_hair_case):
    """Seen from behind, the true hair (hanging to below the shoulders) is hair-coloured on our mesh,
    not the skin of a bare neck or the shirt of the upper back (35 % of it was skin-coloured)."""
    case, person, built = long_hair_case
    row = bench.scores(case, person, built.photo_coords(built.vertices), built.faces, built.uv, built.texture)
    assert row["skin_on_hair"] < 0.1, f"{100 * row['skin_on_hair']:.0f} % of the hair seen from behind is skin-coloured"
    assert row["head/hair"] < 25, row["head/hair"]
    assert built.notes["long_hair"] is True


def test_sides_do_not_stretch_the_outline_pixels(long_hair_case):
    """Noise painted into the photo's outermost 3 px must not reach the side view: the surfaces seen
    edge-on from the front take colours smoothed along the outline, not single outline pixels stretched
    over them (the rims of arms and legs showed such streaks from the side)."""
    case, _, built = long_hair_case
    photo, alpha = case["photo"], case["truth"]["alpha"]
    inside = (alpha >= 128).astype(np.uint8)
    rim = (inside > 0) & (cv2.distanceTransform(inside, cv2.DIST_L2, 3) <= 3.0)
    noisy = photo.copy()
    noise = np.random.default_rng(0).integers(-90, 91, size=photo.shape)
    noisy[rim] = np.clip(photo[rim].astype(int) + noise[rim], 0, 255).astype(np.uint8)
    verts_px = built.photo_coords(built.closed_vertices)
    sides = []
    for image in (photo, noisy):
        tm = texture_mesh(image, alpha, verts_px, built.closed_faces, built.vertex_parts, built.part_names, None, 1024)
        view, cover = render_view(verts_px[tm.vertex_index], tm.faces, tm.uv, tm.texture, "side")
        sides.append((view.astype(float), cover))
    (clean, cover), (with_noise, _) = sides
    change = np.abs(with_noise - clean).mean(-1)[cover]
    # the noise also moves the back fill's colour clusters a little everywhere (small changes); the
    # stretched outline pixels were large ones over a fifth of the side view (mean change 9.4)
    assert change.mean() < 6.0, f"the outline's noise shows on the side view (mean change {change.mean():.2f})"
    assert (change > 20).mean() < 0.06, f"{100 * (change > 20).mean():.1f} % of the side view took outline noise"
    # away from the outline the front is still the photo
    front, fcover = render_view(verts_px[tm.vertex_index], tm.faces, tm.uv, tm.texture, "front",
                                photo_size=alpha.shape[::-1])
    deep = fcover & (cv2.distanceTransform(inside, cv2.DIST_L2, 3) > 6)
    assert np.abs(front.astype(float) - photo.astype(float)).mean(-1)[deep].mean() < 6


def test_back_of_a_bare_neck_is_skin(example_photo):
    """The bundled example: a bare neck above a blue shirt's collar. Seen from behind, the neck between
    the head's hair and the collar is skin-coloured (it showed a patch of the shirt)."""
    rgba = load_photo(example_photo).rgba
    built = _build(rgba)
    photo = rgba[..., :3]
    verts_px = built.photo_coords(built.closed_vertices)
    pose = built.person.pose
    names = list(built.part_names)
    parts = built.vertex_parts
    # the neck's height band in the photo: from just below the mouth to just above the shoulders
    mark = {n: pose.image[LANDMARK[n], :2].astype(float) for n in
            ("mouth_left", "mouth_right", "left_shoulder", "right_shoulder")}
    chin_v = max(mark["mouth_left"][1], mark["mouth_right"][1])
    shoulder_v = min(mark["left_shoulder"][1], mark["right_shoulder"][1])
    centre_u = 0.5 * (mark["left_shoulder"][0] + mark["right_shoulder"][0])
    half_width = 0.12 * abs(mark["left_shoulder"][0] - mark["right_shoulder"][0])
    gap = shoulder_v - chin_v
    # colours from the photo: skin on the face below the eyes, the shirt at mid-chest
    skin = np.median(photo[int(chin_v - 0.5 * gap):int(chin_v), int(centre_u - half_width):int(centre_u + half_width)]
                     .reshape(-1, 3), axis=0)
    shirt = np.median(photo[int(shoulder_v + gap):int(shoulder_v + 2 * gap),
                            int(centre_u - 2 * half_width):int(centre_u + 2 * half_width)].reshape(-1, 3), axis=0)
    assert np.linalg.norm(skin.astype(float) - shirt) > 80, (skin, shirt)
    tm = texture_mesh(photo, built.mask, verts_px, built.closed_faces, parts, names, None, 1024)
    # the rows where the photo shows the bare neck (skin under the chin's shadow, above the collar)
    column = photo[:, int(centre_u)].astype(float)
    rows = np.arange(int(chin_v), int(shoulder_v))
    is_skin = np.linalg.norm(column[rows] - skin, axis=1) < 40
    bottom = rows[is_skin].max()   # the collar's top
    top = bottom
    while top - 1 >= rows[0] and is_skin[top - 1 - rows[0]]:   # up to the chin's shadow
        top -= 1
    assert bottom - top >= 8, "the example's neck should be bare"
    # the mesh seen from behind through the photo's projection (left and right as in the photo):
    # between the hair of the head and the shirt, the nape shows skin over about the bare length
    H, W = photo.shape[:2]
    back, cover = bench.ours_from_behind(verts_px[tm.vertex_index], tm.faces, tm.uv, tm.texture, (W, H))
    hair = np.array(tm.notes["hair_rgb"], float)
    window = (slice(int(chin_v - 0.5 * gap), int(shoulder_v)),
              slice(int(centre_u - half_width), int(centre_u + half_width)))
    band = back[window]
    assert cover[window].mean() > 0.95
    nearest = np.argmin([np.linalg.norm(band - c, axis=-1) for c in (skin, hair, shirt)], axis=0)
    skin_rows = np.median(((nearest == 0) & cover[window]).sum(0))
    assert skin_rows >= 0.5 * (bottom - top), f"the nape shows {skin_rows} rows of skin, the throat {bottom - top}"


def test_legs_completed_below_a_real_half_body_photo_take_solid_colours():
    """A real photograph cut at the waist (scikit-image's astronaut, public domain): the legs completed
    below the frame are one colour per body part, not the frame's bottom row stretched down them in
    stripes (hundreds of colours), and the first part below the frame continues a colour the photo shows."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[..., :3])
    built = _build(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    assert built.notes["completed"] is True
    verts_px = built.photo_coords(built.closed_vertices)
    tm = texture_mesh(rgb, built.mask, verts_px, built.closed_faces, built.vertex_parts, built.part_names, None, 1024)
    beyond = (verts_px[built.closed_faces, 1] > rgb.shape[0] - 0.5).all(1)
    assert beyond.sum() > 2000, beyond.sum()
    uv = tm.uv[tm.faces[beyond]].mean(1)
    size = tm.texture.shape[0]
    colours = tm.texture[((1 - uv[:, 1]) * size).astype(int).clip(0, size - 1), (uv[:, 0] * size).astype(int).clip(0, size - 1)]
    parts = face_parts_from_vertices(built.closed_faces, built.vertex_parts)[beyond]
    assert {"shin.L", "shin.R", "foot.L", "foot.R"} <= {built.part_names[p] for p in parts}
    assert len(np.unique(colours, axis=0)) <= len(set(parts)), len(np.unique(colours, axis=0))
    # the suit's orange, which the photo shows just above the frame's bottom edge, is one of them
    suit = np.median(rgb[470:510, 20:120].reshape(-1, 3), axis=0)
    assert (np.linalg.norm(colours.astype(float) - suit, axis=1) < 40).mean() > 0.25
