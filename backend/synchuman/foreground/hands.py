"""Hands held out, completed in the person's mask by their colour.

MediaPipe's person probability fades along a hand held away from the body: on the clothed benchmark's
arms-out people the mask stopped 19-72 px short of the fingertips (a hand is ~90 px long at 1024 px)
on every seed, whatever the wall behind. The pose still finds the hand: its wrist and its index and
pinky knuckles. `hands_completed` cuts each seen hand out of a crop about it with GrabCut (colour
models and a cut along colour edges), its hand model seeded by the colour the mask holds between the
wrist and the knuckles, and adds what it finds within a hand's reach of the wrist that joins the mask.
Where hand and background cannot be told apart, the cut takes most of the search region: then
nothing is added.
"""

from __future__ import annotations

import cv2
import numpy as np

from .pose import HANDS, VISIBLE

REACH = 2.3  # wrist to fingertips, over wrist to the knuckles' midpoint (index and pinky)
MAX_REACH = 0.12  # of the person's height: no hand is longer (adults: ~0.11)
HALF_WIDTH = 0.32  # of the reach: the capsule's half-width about the hand's axis (a hand with its thumb out)
PALM = (0.45, 1.0)  # along the axis, in wrist-to-knuckles lengths: where the hand's colour is read
PALM_RADIUS = 0.08  # of the reach: the disc the hand's colour is read in, around each point of that segment
ON_MASK_NEARER = 0.5  # on the mask, hand-like is this much nearer the palm's colours than the background's
MIN_PALM = 12  # pixels: fewer leave the hand's colour unknown
MAX_FILL = 0.6  # of what may be added (the capsule and its band, off the mask): more is colours that cannot be told apart
OUTER = 1.3  # of the reach: a band this far around the capsule may still be the hand
BACKGROUND = 0.15  # of the reach: the crop's background around that band
ITERATIONS = 2
WORK_REACH = 96  # pixels: a longer reach (a photo over ~1100 px tall) is worked on scaled down
RNG_SEED = 0
CREASE = 0.12  # of the reach: gaps this wide in the hand found are closed


def hands_completed(rgb: np.ndarray, mask: np.ndarray, image_landmarks: np.ndarray | None,
                    height_px: float) -> np.ndarray:
    """The mask with each seen hand completed out to its fingertips (see the module docstring).
    rgb (H, W, 3) uint8; mask (H, W) bool; image_landmarks (33, >=3): u, v and visibility in pixels;
    height_px: the person's height in the photo."""
    if image_landmarks is None:
        return mask
    out = mask.copy()
    for hand in HANDS:
        wrist, pinky, index = (image_landmarks[i] for i in hand[:3])
        if min(wrist[2], pinky[2], index[2]) < VISIBLE:
            continue
        added = _hand_pixels(rgb, out, wrist[:2], 0.5 * (pinky[:2] + index[:2]), height_px)
        if added is not None:
            out |= added
    return out


def _hand_pixels(rgb: np.ndarray, mask: np.ndarray, wrist: np.ndarray, knuckles: np.ndarray,
                 height_px: float) -> np.ndarray | None:
    """The pixels outside `mask` that complete one hand (a boolean image), or None."""
    axis = knuckles - wrist
    length = float(np.hypot(*axis))
    reach = min(REACH * length, MAX_REACH * height_px)
    if length < 3.0 or reach < 6.0:
        return None
    direction = axis / length
    H, W = mask.shape
    pad = int(np.ceil(reach * (OUTER - 1.0 + HALF_WIDTH + BACKGROUND))) + 2
    x0, y0 = (np.floor(np.minimum(wrist, wrist + direction * reach)) - pad).astype(int)
    x1, y1 = (np.ceil(np.maximum(wrist, wrist + direction * reach)) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    # the work is done at a scale where the reach is at most WORK_REACH pixels (GrabCut's time grows
    # with the crop's area), and what it finds brought back to the photo's pixels
    scale = min(1.0, WORK_REACH / reach)
    size = (max(3, round((x1 - x0) * scale)), max(3, round((y1 - y0) * scale)))
    crop = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    ys, xs = np.mgrid[:size[1], :size[0]].astype(np.float32)
    rel = np.stack([x0 + (xs + 0.5) * (x1 - x0) / size[0] - 0.5 - wrist[0],
                    y0 + (ys + 0.5) * (y1 - y0) / size[1] - 0.5 - wrist[1]], -1)
    along = rel @ direction.astype(np.float32)

    def from_axis(lo: float, hi: float) -> np.ndarray:   # distance to the axis between lo and hi from the wrist
        t = np.clip(along, lo, hi)
        return np.hypot(rel[..., 0] - t * direction[0], rel[..., 1] - t * direction[1])

    region = from_axis(0.0, reach) <= HALF_WIDTH * reach   # a capsule from the wrist to the fingertips
    if not (region & ~inside).any():
        return None
    # the hand's own colour, between the wrist and the knuckles, where the mask holds it (landmarks
    # a little off the hand put this disc on the background: a watermark beside a hand was taken)
    palm = inside & (from_axis(PALM[0] * length, PALM[1] * length) <= PALM_RADIUS * reach)
    # the capsule and a band around it (a hand longer than the reach) may be the hand; the rest of
    # the crop off the mask is background
    near = from_axis(0.0, OUTER * reach) <= (HALF_WIDTH + OUTER - 1.0) * reach
    background = ~near & ~inside
    if palm.sum() < MIN_PALM or background.sum() < MIN_PALM:
        return None
    # GrabCut's first guess: off the mask in the band, pixels nearer the palm's colours than the
    # background's; on the mask, much nearer (a bare forearm must not teach the background model its
    # colour, nor a sleeve or a strip of background the mask took in teach the hand model theirs)
    colours = crop.astype(np.float32)
    open_ = near | inside
    ratio = np.where(inside[open_], ON_MASK_NEARER, 1.0)
    hand_like = _nearest(colours[open_], colours[palm]) < ratio * _nearest(colours[open_], colours[background])
    labels = np.full(near.shape, cv2.GC_BGD, np.uint8)
    labels[open_] = np.where(hand_like, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    labels[palm] = cv2.GC_FGD
    cv2.setRNGSeed(RNG_SEED)   # its colour models start from k-means: the same photo, the same hand
    cv2.grabCut(crop, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), ITERATIONS, cv2.GC_INIT_WITH_MASK)
    # the hand as found, its creases closed (a shaded fold between thumb and fingers split it)
    crease = max(3, int(round(CREASE * reach * scale)) | 1)
    found = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)) & near
    found = cv2.morphologyEx(found.astype(np.uint8), cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (crease, crease))).astype(bool) & near
    # only what joins the mask (the hand grows from the wrist the mask holds)
    held = inside & near
    _, parts = cv2.connectedComponents((found | held).astype(np.uint8), connectivity=8)
    joined = np.unique(parts[held])
    keep = found & ~inside & np.isin(parts, joined[joined > 0])
    if keep.sum() > MAX_FILL * (near & ~inside).sum():
        return None
    added = np.zeros_like(mask)
    added[y0:y1, x0:x1] = cv2.resize(keep.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= 0.5
    return added & ~mask


def _nearest(points: np.ndarray, samples: np.ndarray, at_most: int = 512) -> np.ndarray:
    """Per point, the colour distance to the nearest of (a spread subset of) the samples."""
    from scipy.spatial import cKDTree

    if len(samples) > at_most:
        samples = samples[np.linspace(0, len(samples) - 1, at_most).astype(int)]
    return cKDTree(samples).query(points)[0]
