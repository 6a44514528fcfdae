"""The colour-cluster back fill: a plausible back for the person from the photo's front alone.

The photo never shows the back, so nothing of its detail is copied:
1. The person's colours are clustered (k-means in Lab) and each pixel takes the most common cluster
   of a neighbourhood about 7 % of the figure's height wide: small details (a face's eyes and mouth,
   a print on a shirt, buttons) disappear, and regions enclosed by another colour, up to
   ISLAND_AREA of the figure (a chest patch), take the colour around them; large garment regions
   keep their colour.
2. The back of the head gets the hair colour: the dominant colour above and beside the face (Haar
   face detector), or of the top of the head when no face is found.
3. Broad shading of the front (a heavy blur of its lightness) is kept at reduced strength, so the
   back is not flat.
Sides: near the silhouette the back blends into the colours of the front's edge (`side_blend`), so
front and back meet without a visible seam.

texture.py uses this image as it is for a mesh without body part labels, and as the per-part colour
source for one with them (partfill.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from .head import Head, find_head
from .silhouette import Silhouette

# of the figure's area: an enclosed region of one colour up to this large (a print, a chest patch, a
# shirt between a jacket's panels) is front detail, and the back takes the colour around it
ISLAND_AREA = 0.06


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def clean_front(rgb_box: np.ndarray, sil: Silhouette) -> np.ndarray:
    """The photo inside the silhouette; outside and on partly transparent (background-tinted) edge
    pixels, the colour of the nearest opaque pixel, so the texture never shows the background."""
    solid = sil.alpha >= 250
    if not solid.any():
        solid = sil.mask
    return nearest_fill(rgb_box, solid)


def nearest_fill(values: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Every pixel takes the value (h, w, c) of the nearest pixel of `source` (bool (h, w)); those of
    `source` keep their own."""
    _, labels = cv2.distanceTransformWithLabels((~source).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    # labels number the zero pixels of the input (the source pixels) in row-major order, from 1
    ys, xs = np.nonzero(source)
    lut = np.zeros((len(ys) + 1,) + values.shape[2:], values.dtype)
    lut[1:] = values[ys, xs]
    return lut[labels]


def back_fill(front: np.ndarray, sil: Silhouette, head: Head | None = None, work_height: int = 256,
              clusters: int = 8, tick=None) -> tuple[np.ndarray, dict]:
    """Back colours for the whole box (same size as `front`), and notes for job.json. `head` is in the
    box's frame (found if not given)."""
    tick = tick or (lambda *a: None)
    h, w = sil.mask.shape
    s = min(1.0, work_height / max(sil.height_px, 1.0))
    sh, sw = max(8, round(h * s)), max(8, round(w * s))
    small = cv2.resize(front, (sw, sh), interpolation=cv2.INTER_AREA)
    m = cv2.resize(sil.mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    pts = lab[m]
    notes: dict = {}
    if len(pts) < clusters * 4:
        return front.copy(), {"back": "too small to fill; copied the front's colours"}
    rng = np.random.default_rng(0)
    sample = pts[rng.choice(len(pts), min(len(pts), 12000), replace=False)]
    cv2.setRNGSeed(7)
    k = min(clusters, len(sample))
    _, _, centres = cv2.kmeans(sample.astype(np.float32), k, None,
                               (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 15, 0.5), 2,
                               cv2.KMEANS_PP_CENTERS)
    d = ((lab[..., None, :] - centres[None, None]) ** 2).sum(-1)
    label = np.argmin(d, axis=-1)
    tick(1, 4)
    # majority vote in a window ~7 % of the figure's height (inside the silhouette only)
    win = max(3, int(0.07 * sil.height_px * s) | 1)
    # colours covering little of the figure (eyes, a print, buttons) do not vote
    share = np.bincount(label[m], minlength=k) / max(int(m.sum()), 1)
    voters = [i for i in range(k) if share[i] >= 0.025] or list(range(k))
    votes = np.full((k,) + label.shape, -1.0, np.float32)
    for i in voters:
        votes[i] = cv2.boxFilter(((label == i) & m).astype(np.float32), -1, (win, win))
    mode = np.argmax(votes, axis=0)
    mode = _absorb_islands(mode, m, max_area=ISLAND_AREA * m.sum())
    back_lab = _local_label_colour(lab, label, mode, m, k, win, centres)
    # broad shading of the front, at half strength
    sig = max(1.0, 0.04 * sil.height_px * s)
    mf = m.astype(np.float32)
    den = cv2.GaussianBlur(mf, (0, 0), sig) + 1e-4
    l_front = cv2.GaussianBlur(lab[..., 0] * mf, (0, 0), sig) / den
    l_back = cv2.GaussianBlur(back_lab[..., 0] * mf, (0, 0), sig) / den
    back_lab[..., 0] = np.clip(back_lab[..., 0] + 0.5 * (l_front - l_back), 0, 100)
    tick(2, 4)
    # the back of the head: hair colour
    head = (head if head is not None else find_head(front, sil.mask)).resized((sh, sw))
    notes["head"] = head.method
    if head.mask.any():
        hair = _hair_colour(lab, label, centres, head, m)
        if hair is not None:
            hm = head.mask.astype(np.float32)
            # fade out over the lowest fifth of the head (the nape)
            rows = np.arange(sh, dtype=np.float32)[:, None]
            span = max(1.0, head.bottom - head.top)
            fade = 1.0 - _smoothstep((rows - (head.bottom - 0.2 * span)) / (0.2 * span))
            hm = cv2.GaussianBlur(hm * fade, (0, 0), max(0.7, 0.01 * sil.height_px * s))
            hair_lab = np.broadcast_to(hair, back_lab.shape)
            back_lab = back_lab * (1 - hm[..., None]) + hair_lab * hm[..., None]
            notes["hair_rgb"] = [int(c) for c in _lab_to_rgb(hair)]
    tick(3, 4)
    # soften region borders (inside the silhouette), then extend outwards for texture filtering
    soft = max(0.7, 0.008 * sil.height_px * s)
    num = cv2.GaussianBlur(back_lab * mf[..., None], (0, 0), soft)
    den = cv2.GaussianBlur(mf, (0, 0), soft)[..., None]
    back_lab = np.where(den > 1e-3, num / np.maximum(den, 1e-3), back_lab)
    rgb = cv2.cvtColor(back_lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    rgb = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    rgb = _extend(rgb, m)
    out = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    tick(4, 4)
    return out, notes


def _absorb_islands(mode: np.ndarray, m: np.ndarray, max_area: float) -> np.ndarray:
    """Regions of one colour that are small and enclosed inside the figure (a print, a logo, a
    pocket) take the colour that surrounds them; regions touching the outline (hands, shoes) stay."""
    inner = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out = mode.copy()
    ring_kernel = np.ones((3, 3), np.uint8)
    for value in np.unique(mode[m]):
        n, comp, stats, _ = cv2.connectedComponentsWithStats(((mode == value) & m).astype(np.uint8), connectivity=8)
        for c in range(1, n):
            if stats[c, cv2.CC_STAT_AREA] > max_area:
                continue
            region = comp == c
            if (region & ~inner).any():
                continue
            ring = cv2.dilate(region.astype(np.uint8), ring_kernel).astype(bool) & ~region & m
            if ring.any():
                out[region] = np.bincount(mode[ring]).argmax()
    return out


def _local_label_colour(lab, label, mode, m, k, win, centres) -> np.ndarray:
    """For each pixel, the average colour of the nearby pixels (window `win`) of its chosen cluster:
    a white shoe stays white even when k-means put it in one cluster with a pale print."""
    out = centres[mode].astype(np.float32)
    for i in np.unique(mode[m]):
        ind = ((label == i) & m).astype(np.float32)
        cnt = cv2.boxFilter(ind, -1, (win, win), normalize=False)
        sums = cv2.boxFilter(lab * ind[..., None], -1, (win, win), normalize=False)
        big = 3 * win + 1   # a wider look where the small window has none of this cluster
        cnt2 = cv2.boxFilter(ind, -1, (big, big), normalize=False)
        sums2 = cv2.boxFilter(lab * ind[..., None], -1, (big, big), normalize=False)
        sel = mode == i
        local = np.where((cnt >= 1)[..., None], sums / np.maximum(cnt, 1)[..., None],
                         np.where((cnt2 >= 1)[..., None], sums2 / np.maximum(cnt2, 1)[..., None], centres[i]))
        out[sel] = local[sel]
    return out


def _hair_colour(lab, label, centres, head, m) -> np.ndarray | None:
    """Dominant cluster above and beside the face (or in the top third of the head), other than the
    face's own when the hair covers a fifth of that area."""
    hm = head.mask
    if head.face is not None:
        fx, fy, fw, fh = head.face
        sel = hm.copy()
        face_core = np.zeros_like(hm)
        face_core[int(fy + 0.15 * fh):, int(fx + 0.1 * fw):int(fx + 0.9 * fw)] = True
        sel &= ~face_core
    else:
        rows = np.nonzero(hm.any(axis=1))[0]
        cut = rows[0] + max(1, int(0.3 * (rows[-1] - rows[0] + 1)))
        sel = hm.copy()
        sel[cut:] = False
    if sel.sum() < 4:
        return None
    counts = np.bincount(label[sel], minlength=len(centres))
    if head.face is not None and face_core.any():
        # the face's own colour (skin at the forehead, temples and ears) is not the hair unless
        # nothing else covers a fair share of the head around the face (a bald head)
        skin = np.bincount(label[face_core & hm], minlength=len(centres)).argmax()
        others = counts.copy()
        others[skin] = 0
        if others.max() >= 0.2 * counts.sum():
            counts = others
    return centres[int(np.argmax(counts))].astype(np.float32)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    px = cv2.cvtColor(np.asarray(lab, np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2RGB)
    return np.clip(px.reshape(3) * 255 + 0.5, 0, 255).astype(np.uint8)


def _extend(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Colours outside `mask` from the nearest pixel inside."""
    if not mask.any() or mask.all():
        return rgb
    return nearest_fill(rgb, mask)


def side_blend(front: np.ndarray, back: np.ndarray, sil: Silhouette, radius: np.ndarray) -> np.ndarray:
    """The back chart's colours approach the front's edge colours towards the silhouette, over about a
    quarter of the local radius: front and back agree where they meet. The edge colours are smoothed
    along the outline (`edge_colours`), so the surfaces seen edge-on from the front (which take this
    chart, texture.py) show no single outline pixels stretched into streaks."""
    t = _smoothstep(np.maximum(sil.phi, 0) / blend_width(sil, radius))[..., None]
    return (edge_colours(front, sil).astype(np.float32) * (1 - t) + back.astype(np.float32) * t).astype(np.uint8)


def blend_width(sil: Silhouette, radius: np.ndarray) -> np.ndarray:
    """How far inside the outline (pixels, per box pixel) the back chart reaches the front's edge
    colours: about a quarter of the local radius."""
    return np.clip(0.25 * radius, 1.5, max(1.5, 0.02 * sil.height_px))


def edge_colours(front: np.ndarray, sil: Silhouette) -> np.ndarray:
    """The front's colours blurred over ~0.3 % of the figure's height (a few pixels, mostly along the
    outline there), from the pixels at least half a pixel inside it only (not the partly covered
    ones on the outline), extended outwards."""
    sigma = max(1.0, 0.003 * sil.height_px)
    s = min(1.0, 1.0 / sigma)   # blur at a scale with ~1 px per sigma: the cost stays small
    h, w = sil.mask.shape
    size = (max(4, round(w * s)), max(4, round(h * s)))
    inner = cv2.resize((sil.phi >= 0.5).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(front.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(small * inner[..., None], (0, 0), sigma * s)
    den = cv2.GaussianBlur(inner, (0, 0), sigma * s)[..., None]
    # beyond the blur's reach (outside the figure, never sampled by a face) the front as it is
    smooth = np.where(den > 0.05, num / np.maximum(den, 1e-6), small)
    return np.clip(cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR) + 0.5, 0, 255).astype(np.uint8)
