"""Skin and hair in the photo, for the part-by-part back fill (partfill.py).

- Skin: the face's own colour (the middle of the detected face, below the eyes; without a detected
  face, the middle of the head part's lower half) is the person's skin. A photo pixel is skin when
  its colour is near it (lightness counts half: shading changes it most). A part's back is skin
  where the photo shows skin on that part (a bare neck above a collar stays skin on the back, where
  the garment fill would spread the shirt over it).
- Long hair: hair-coloured pixels connected to the head that reach below the chin (strands over the
  shoulders) mean hair hanging down the back: from behind, the head, neck and torso are hair down to
  half a head below the lowest strand the photo shows, at least as wide as the head and as the
  strands' span. The face is never a source: the head part above the chin gives no skin, and the
  back of the head takes the hair colour (backfill.py).
All in Lab, on the part images' working scale.
"""

from __future__ import annotations

import cv2
import numpy as np

SKIN_DISTANCE = 10.0   # Lab distance (lightness at half weight) within which a pixel is that colour
SHADED_SKIN_DISTANCE = 14.0   # the same under the chin, whose shadow darkens the neck
# hair over the shoulders hangs further down the back than the front shows (the chest hides its
# end in front, nothing does behind): continued this many head heights below the lowest strand
HAIR_BELOW_STRANDS = 0.5
BARE_SHARE = 0.6   # a part is bare skin where at least this share of what the photo shows of it is skin


def to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb))


def colour_distance(lab: np.ndarray, colour_lab: np.ndarray) -> np.ndarray:
    d = lab - np.asarray(colour_lab, np.float32)
    return np.sqrt(0.25 * d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)


def skin_colour(lab: np.ndarray, head_region: np.ndarray, face: tuple[int, int, int, int] | None) -> np.ndarray | None:
    """The skin colour (Lab) from the face: `face` (x, y, w, h) in this frame, or None to use the head
    region's lower middle."""
    core = np.zeros(head_region.shape, bool)
    if face is not None:
        x, y, w, h = face
        core[int(y + 0.5 * h):int(y + 0.85 * h), int(x + 0.25 * w):int(x + 0.75 * w)] = True
        core &= head_region
    if core.sum() < 4:
        rows, cols = np.nonzero(head_region)
        if len(rows) < 4:
            return None
        r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
        core[:] = False
        rs = slice(int(r0 + 0.5 * (r1 - r0)), int(r0 + 0.85 * (r1 - r0)) + 1)
        core[rs, int(c0 + 0.3 * (c1 - c0)):int(c0 + 0.7 * (c1 - c0)) + 1] = True
        core &= head_region
        if core.sum() < 4:
            return None
    return np.median(lab[core], axis=0).astype(np.float32)


def skin_pixels(lab: np.ndarray, mask: np.ndarray, skin_lab: np.ndarray, hair_lab: np.ndarray | None,
                anchors: np.ndarray, shaded: np.ndarray) -> np.ndarray:
    """Pixels of the person near the skin colour (and nearer it than the hair colour), in regions
    that reach `anchors` (the outline, the head): bare skin continues to the body's edge or to the
    face, while a skin-coloured print or logo inside a garment does not; specks dropped. In
    `shaded` (under the chin) the colour may differ more."""
    d = colour_distance(lab, skin_lab)
    skin = mask & (d < np.where(shaded, SHADED_SKIN_DISTANCE, SKIN_DISTANCE))
    if hair_lab is not None:
        skin &= d < colour_distance(lab, hair_lab)
    skin = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, comp = cv2.connectedComponents(skin, connectivity=8)
    reach = np.unique(comp[anchors & (skin > 0)])
    return np.isin(comp, reach[reach > 0])


def bare_skin(lab: np.ndarray, mask: np.ndarray, part_front: np.ndarray, head_region: np.ndarray,
              face: tuple[float, float, float, float] | None, hair_lab: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """The photo's bare skin outside the face (bool) and the skin colour (Lab, None if no head).
    `part_front`: the body part each pixel shows; `head_region`: the head part's pixels; `face`: the
    detected face (x, y, w, h) in this frame, or None."""
    skin_lab = skin_colour(lab, head_region, face)
    rows = np.nonzero(head_region.any(axis=1))[0]
    if skin_lab is None or len(rows) == 0:
        return np.zeros(mask.shape, bool), skin_lab
    # the face (the head above the chin) is never a source; the throat below it may be
    chin = face[1] + 1.1 * face[3] if face is not None else rows[0] + 0.85 * (rows[-1] - rows[0])
    face_area = head_region.copy()
    face_area[int(chin):] = False
    kernel = np.ones((5, 5), np.uint8)
    outline = mask & ~cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    anchors = outline | cv2.dilate(face_area.astype(np.uint8), kernel).astype(bool)
    shaded = np.zeros_like(mask)
    shaded[int(chin):int(chin + 0.5 * (rows[-1] - rows[0] + 1))] = True
    skin = skin_pixels(lab, mask, skin_lab, hair_lab, anchors, shaded) & ~face_area
    # a garment with skin-coloured stripes keeps its garment fill
    for p in np.unique(part_front[skin]):
        on_part = (part_front == p) & mask & ~face_area
        if skin[on_part].mean() < BARE_SHARE:
            skin[on_part] = False
    return skin, skin_lab


def long_hair(lab: np.ndarray, mask: np.ndarray, head_region: np.ndarray, hair_lab: np.ndarray,
              skin_lab: np.ndarray | None) -> np.ndarray:
    """Where the back shows hanging hair below the head (bool, this frame; empty for short hair)."""
    rows = np.nonzero(head_region.any(axis=1))[0]
    if len(rows) == 0 or (skin_lab is not None and colour_distance(hair_lab, skin_lab) < 0.5 * SKIN_DISTANCE):
        return np.zeros(mask.shape, bool)   # hair the colour of skin: strands cannot be told from a neck
    top, head_bottom = int(rows[0]), int(rows[-1])   # the chin, or the collar when the throat is labelled head
    head_h = head_bottom - top + 1
    d = colour_distance(lab, hair_lab)
    hair = mask & (d < SHADED_SKIN_DISTANCE)
    if skin_lab is not None:
        hair &= d < colour_distance(lab, skin_lab)
    _, comp = cv2.connectedComponents(hair.astype(np.uint8), connectivity=8)
    touching = np.unique(comp[head_region & hair])
    hair = np.isin(comp, touching[touching > 0])
    # strands: hair below the head part, within two head heights of it
    lowest = min(mask.shape[0], head_bottom + 2 * head_h)
    below = np.zeros(mask.shape, bool)
    below[head_bottom + 1:lowest] = hair[head_bottom + 1:lowest]
    if below.sum() < max(8, 0.02 * head_region.sum()):
        return np.zeros(mask.shape, bool)
    hair_rows = np.nonzero(below.any(axis=1))[0]
    bottom = int(hair_rows[-1] + HAIR_BELOW_STRANDS * head_h)
    cols = np.arange(mask.shape[1])
    head_cols = np.nonzero(head_region.any(axis=0))[0]
    lo = np.where(below, cols, mask.shape[1]).min(1)
    hi = np.where(below, cols, -1).max(1)
    lo = np.minimum(lo, head_cols[0])
    hi = np.maximum(hi, head_cols[-1])
    region = (cols[None] >= lo[:, None]) & (cols[None] <= hi[:, None])
    region[:head_bottom + 1] = False
    region[bottom + 1:] = False
    return region
