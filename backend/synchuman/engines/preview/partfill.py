"""The back and the hidden surfaces of a mesh with body part labels, filled part by part.

The colour source is the detail-free front of `backfill.back_fill` (clustered garment colours, broad
shading, the hair colour painted over the head). Each pixel of the view from behind shows one body
part; it takes that part's colour where the photo shows the same part nearest to it: the back of a
shirt sleeve continues the sleeve, a bare forearm stays skin, the torso's back continues the shirt
even where an arm crosses in front of it in the photo, and the head's back takes the hair colour
(the head region is the head part's, so the face is never copied to the back). Surfaces seen from
neither side take their part's typical colour (a solid cell of the atlas), and so do surfaces beyond the
photo's frame (legs completed below a half-body photo); a part the photo does not show (or shows only
a sliver of) continues the colour of its nearest part that it shows (`bodyparts.CONTINUES`: a shin
its thigh, a thigh the hips).
"""

from __future__ import annotations

import cv2
import numpy as np

from .backfill import back_fill, nearest_fill, side_blend
from .bodyparts import CONTINUES
from .head import Head
from .silhouette import Silhouette
from .skinhair import bare_skin, long_hair, to_lab
from .visibility import Visibility

HEAD_PARTS = ("head",)   # body part names whose back is hair (anny's part label for the skull and face)
HANGING_HAIR_PARTS = ("head", "neck", "torso")   # parts long hair covers from behind
# a part shown on less of the person than this (a sliver at the photo's edge) lends its colour to no
# other part: mixed with its neighbours' pixels and the frame's edge, its colour is unreliable
MIN_SHOWN = 0.005
NECK_PARTS = ("neck",)   # the body model labels the throat below the chin head: it is the neck's source too


def face_parts_from_vertices(faces: np.ndarray, vertex_parts: np.ndarray) -> np.ndarray:
    """One part per face: the part of at least two of its corners, else its first corner's."""
    p = np.asarray(vertex_parts)[faces]
    return np.where(p[:, 1] == p[:, 2], p[:, 1], p[:, 0])


def vertex_parts_from_faces(faces: np.ndarray, face_parts: np.ndarray, num_vertices: int) -> np.ndarray:
    """One part per vertex from per-face parts (a vertex on a border between parts takes one of them),
    e.g. the body model's `face_parts` -> per body vertex."""
    out = np.zeros(num_vertices, np.int64)
    for k in range(3):
        out[np.asarray(faces)[:, k]] = face_parts
    return out


def _part_image(tri: np.ndarray, face_parts: np.ndarray) -> np.ndarray:
    out = np.full(tri.shape, -1, np.int64)
    hit = tri >= 0
    out[hit] = face_parts[tri[hit]]
    return out


def head_from_parts(head: Head, part_front: np.ndarray, head_ids: list[int], shape: tuple[int, int]) -> Head:
    """The head region of the photo box (`shape`) from the head part as the photo shows it (keeping
    the face detector's face box)."""
    region = np.isin(part_front, head_ids).astype(np.uint8)
    if not region.any():
        return head
    mask = cv2.resize(region, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    rows = np.nonzero(mask.any(axis=1))[0]
    return Head(mask, head.face, int(rows[0]), int(rows[-1]))


def part_fill(front: np.ndarray, sil: Silhouette, head: Head, vis: Visibility, face_parts: np.ndarray,
              part_names: list[str], radius: np.ndarray, tick=None, known: dict[int, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray, dict]:
    """The back image (box size, like `front`), one solid colour per part (P, 3) uint8, and notes.
    `radius`: the silhouette's local thickness (the side blend's width); `known`: part index -> RGB for
    parts whose colour is known though the photo may not show them."""
    part_back = _part_image(vis.back_tri, face_parts)
    h, w = part_back.shape
    mask_w = cv2.resize(sil.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    # the photo's pixels the mesh leaves uncovered (hair, clothes beyond a body) belong to the nearest part
    part_front = _part_image(vis.front_tri, face_parts)
    if (part_front >= 0).any():
        part_front = np.where(mask_w, nearest_fill(part_front[..., None], part_front >= 0)[..., 0], part_front)
    head_ids = [i for i, n in enumerate(part_names) if n in HEAD_PARTS]
    head = head_from_parts(head, part_front, head_ids, sil.mask.shape)
    base, notes = back_fill(front, sil, head, tick=tick)
    notes["back"] = "part by part (body part labels)"
    base_w = cv2.resize(base, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    source_w, hanging, throat = _skin_and_hair(front, base_w, mask_w, part_front, part_back, head, head_ids,
                                               part_names, notes)
    back_w = base_w.copy()
    cells = np.tile(base_w[mask_w].mean(0) if mask_w.any() else base_w.reshape(-1, 3).mean(0), (len(part_names), 1))
    seen = set()
    for p in np.unique(np.concatenate([part_back[part_back >= 0], part_front[part_front >= 0]])):
        source = (part_front == p) & mask_w
        if part_names[p] in NECK_PARTS:   # the photo shows the neck's front as the head's throat
            source |= throat
        here = part_back == p
        if known and p in known:
            back_w[here] = known[p]
            continue
        if source.sum() < 4:
            if here.any():
                cells[p] = np.median(base_w[here], axis=0)
            continue
        if source.sum() >= MIN_SHOWN * mask_w.sum():
            seen.add(int(p))
        cells[p] = np.median(source_w[source], axis=0)
        if here.any():
            back_w[here] = nearest_fill(source_w, source)[here]
    for p, colour in (known or {}).items():
        cells[p] = colour
        seen.add(int(p))
    for p, name in enumerate(part_names):   # a part the photo does not show continues its nearest shown one
        up = CONTINUES.get(name)
        while up in part_names and part_names.index(up) not in seen:
            up = CONTINUES.get(up)
        if p not in seen and up in part_names:
            cells[p] = cells[part_names.index(up)]
    if hanging.any():
        back_w[hanging] = notes["hair_rgb"]
    if head_ids and "hair_rgb" in notes:
        cells[head_ids] = notes["hair_rgb"]
    # soften the borders between parts (inside the figure only)
    covered = ((part_back >= 0) | mask_w).astype(np.float32)
    soft = max(0.7, 0.006 * h)
    num = cv2.GaussianBlur(back_w * covered[..., None], (0, 0), soft)
    den = cv2.GaussianBlur(covered, (0, 0), soft)[..., None]
    back_w = np.where(den > 1e-3, num / np.maximum(den, 1e-3), back_w)
    back = cv2.resize(np.clip(back_w + 0.5, 0, 255).astype(np.uint8), (front.shape[1], front.shape[0]),
                      interpolation=cv2.INTER_LINEAR)
    back = side_blend(front, back, sil, radius)
    notes["parts_seen_in_photo"] = sorted(part_names[p] for p in np.unique(part_front[part_front >= 0]))
    return back, np.clip(cells + 0.5, 0, 255).astype(np.uint8), notes


def _skin_and_hair(front, base_w, mask_w, part_front, part_back, head: Head, head_ids, part_names, notes):
    """The colour source of the part fill: the garment fill (`base_w`), with the photo's local skin
    colour where it shows bare skin outside the face and the hair colour on the rest of the head;
    where long hair hangs down the back; and the bare throat (skin on the head part below the chin).
    skinhair.py finds them."""
    h, w = mask_w.shape
    front_w = cv2.resize(front, (w, h), interpolation=cv2.INTER_AREA)
    lab = to_lab(front_w)
    head_region = np.isin(part_front, head_ids) & mask_w
    face = None
    if head.face is not None:
        sx, sy = w / front.shape[1], h / front.shape[0]
        face = (head.face[0] * sx, head.face[1] * sy, head.face[2] * sx, head.face[3] * sy)
    hair_lab = to_lab(np.array(notes["hair_rgb"], np.float32)) if "hair_rgb" in notes else None
    skin, skin_lab = bare_skin(lab, mask_w, part_front, head_region, face, hair_lab)
    source = base_w
    if skin.any():   # the local skin colour: the photo blurred over its skin pixels only
        sigma = max(1.0, 0.01 * h)
        num = cv2.GaussianBlur(front_w.astype(np.float32) * skin[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), sigma)[..., None]
        source = np.where(skin[..., None], num / np.maximum(den, 1e-6), base_w)
    hanging = np.zeros((h, w), bool)
    if hair_lab is not None:   # the rest of the head is hair from behind, down to the bare neck
        source = np.where((head_region & ~skin)[..., None], np.float32(notes["hair_rgb"]), source)
        covered = np.isin(part_back, [i for i, n in enumerate(part_names) if n in HANGING_HAIR_PARTS])
        hanging = long_hair(lab, mask_w, head_region, hair_lab, skin_lab) & covered
    notes["skin_share"] = round(float(skin.sum() / max(mask_w.sum(), 1)), 3)
    notes["long_hair"] = bool(hanging.any())
    return source, hanging, skin & head_region
