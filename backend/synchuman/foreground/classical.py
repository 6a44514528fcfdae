"""The classical foreground step for photos without alpha, used when the learned person detector is
not installed or finds nobody. No model weights.

1. Background colour model: k-means (Lab) of a thin ring along the image border.
2. Seeds: pixels far from every background colour, in components that reach the central part of the
   frame (people are photographed roughly centred); border-ring pixels that look like the background
   are definite background, so a person cut by the frame edge stays possible.
3. GrabCut initialised from those seeds, run on a crop around them at ~300 px (fast on a CPU).
4. Morphological clean-up; keep the largest person-like component (plus big nearby pieces); fill
   small holes and holes that do not look like the background.
5. Full-resolution edge refinement (`masks.refine_edges`).
"""

from __future__ import annotations

import numpy as np

from .masks import (check_person_mask, components, enclosed_holes, keep_main, no_foreground,
                    refine_edges, stacked_pieces)

WORK_SIDE = 256          # GrabCut runs on a crop at most this many pixels on its longer side
SEED_DISTANCE = 14.0     # Lab distance from every background colour that makes a pixel a seed
PRESENCE_FLOOR = 0.04    # a border colour absent at this height counts as at most 5x further away


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


class _BorderModel:
    """Background colours learnt from the image border, with where along the border each one is.

    A pixel's background distance is its Lab distance to each border colour, divided by the square
    root of how present that colour is on the border at about the same height (relative to the most
    present one; backgrounds change mostly with height: floor, wall, sky): a wooden floor along the
    bottom edge then does not make skin at the top of the photo look like background.
    """

    def __init__(self, lab: np.ndarray, ring: int, k: int = 6):
        import cv2

        h, w = lab.shape[:2]
        ring_mask = np.zeros((h, w), bool)
        ring_mask[:ring] = ring_mask[-ring:] = True
        ring_mask[:, :ring] = ring_mask[:, -ring:] = True
        border = lab[ring_mask]
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
        cv2.setRNGSeed(12345)
        k = min(k, len(border))
        _, lbl, centres = cv2.kmeans(border.astype(np.float32), k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
        lbl = lbl.ravel()
        used = [i for i in range(k) if np.any(lbl == i)]
        self.centres = centres[used]
        self.spread = np.array([np.sqrt(((border[lbl == i] - centres[i]) ** 2).sum(1).mean()) for i in used])
        # presence maps on a coarse grid: blurred indicator of each colour along the ring
        gs = 32
        presence = []
        for i in used:
            ind = np.zeros((h, w), np.float32)
            ind[ring_mask] = (lbl == i)
            coarse = cv2.resize(ind, (gs, gs), interpolation=cv2.INTER_AREA)
            presence.append(cv2.GaussianBlur(coarse, (0, 0), sigmaX=gs * 1.0, sigmaY=gs * 0.12,
                                            borderType=cv2.BORDER_REPLICATE))
        presence = np.array(presence)
        self.presence = presence / np.maximum(presence.max(0, keepdims=True), 1e-9)

    def distance(self, lab: np.ndarray) -> np.ndarray:
        import cv2

        h, w = lab.shape[:2]
        flat = lab.reshape(-1, 3)
        d = np.full(flat.shape[0], np.inf, np.float32)
        for c, s, p in zip(self.centres, self.spread, self.presence):
            factor = 1.0 / np.sqrt(np.clip(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR), PRESENCE_FLOOR, 1.0))
            dc = np.maximum(np.sqrt(((flat - c) ** 2).sum(1)) - 0.5 * s, 0) * factor.ravel()
            np.minimum(d, dc, out=d)
        return d.reshape(h, w)


def segment_rgb(rgb: np.ndarray, tick) -> np.ndarray:
    """Classical segmentation of an RGB photo into the person's alpha (see the module docstring)."""
    import cv2

    H, W = rgb.shape[:2]
    if max(H, W) < 256:   # small photos: work on an enlarged copy so thin limbs survive the clean-up
        k = int(np.ceil(256 / max(H, W)))
        big_alpha = segment_rgb(cv2.resize(rgb, (W * k, H * k), interpolation=cv2.INTER_CUBIC), tick)
        return cv2.resize(big_alpha, (W, H), interpolation=cv2.INTER_AREA)
    tick(0, 5, "modelling the background")
    # a small overview image for the background model and seeds
    s0 = min(1.0, 256.0 / max(H, W))
    small = cv2.resize(rgb, (max(8, round(W * s0)), max(8, round(H * s0))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    lab_s = _lab(small)
    h, w = small.shape[:2]
    ring = max(2, round(0.03 * min(h, w)))
    model = _BorderModel(lab_s, ring)
    dist_s = model.distance(lab_s)
    seeds = dist_s > SEED_DISTANCE
    seeds = cv2.morphologyEx(seeds.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    n, labels, stats, _ = components(seeds)
    if n <= 1:
        raise no_foreground("No person found: nothing in the photo stands out from its background.")
    # the main seed component (large and central: people are photographed roughly centred) and the
    # pieces near it; other things that stand out (a picture on the wall) are left to GrabCut
    big = np.zeros(n, bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.001 * h * w
    if not big.any():
        raise no_foreground("No person found: nothing in the photo stands out from its background.")
    # a vertical closing joins pieces of a person whose colours are close to the background's (hair
    # and shirt across a face and neck) so that GrabCut gets to decide about them; vertical only, so
    # the gaps between legs and between arms and body stay open
    cand = seeds & big[labels]
    ys_c = np.nonzero(cand.any(axis=1))[0]
    r = max(2, round(0.06 * (ys_c.max() - ys_c.min() + 1)))
    closed = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((2 * r + 1, 1), np.uint8))
    central = keep_main(closed.astype(bool), centre_weight=True, min_fraction=0.01)
    ys, xs = np.nonzero(central)
    if not (xs.min() < 0.75 * w and xs.max() > 0.25 * w and ys.min() < 0.85 * h and ys.max() > 0.15 * h):
        raise no_foreground("No person found: nothing near the centre of the photo stands out from "
                             "its background.")
    seed = central | stacked_pieces(closed.astype(bool) & ~central, central, h * w)
    tick(1, 5, "seeded")
    # crop around the seeds (with margin), GrabCut there
    ys, xs = np.nonzero(seed)
    my, mx = 0.08 * h + 2, 0.08 * w + 2
    y0, y1 = int(max(0, ys.min() - my)) / h, int(min(h, ys.max() + 1 + my)) / h
    x0, x1 = int(max(0, xs.min() - mx)) / w, int(min(w, xs.max() + 1 + mx)) / w
    Y0, Y1, X0, X1 = round(y0 * H), round(y1 * H), round(x0 * W), round(x1 * W)
    crop = rgb[Y0:Y1, X0:X1]
    ch, cw = crop.shape[:2]
    s1 = min(1.0, WORK_SIDE / max(ch, cw))
    gw, gh = max(8, round(cw * s1)), max(8, round(ch * s1))
    work = cv2.resize(crop, (gw, gh), interpolation=cv2.INTER_AREA)
    lab_w = _lab(cv2.GaussianBlur(work, (3, 3), 0))
    ring_w = max(2, round(0.03 * min(gh, gw)))
    # background distances at work resolution, the crop mapped into the overview's frame
    dist = _crop_distance(model, lab_w, (y0, y1, x0, x1))
    seed_w = cv2.resize(seed.astype(np.uint8)[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)],
                        (gw, gh), interpolation=cv2.INTER_NEAREST).astype(bool)
    gc = np.full((gh, gw), cv2.GC_PR_BGD, np.uint8)
    gc[seed_w] = cv2.GC_PR_FGD
    core = cv2.erode(seed_w.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (dist > 2.5 * SEED_DISTANCE)
    gc[core] = cv2.GC_FGD
    m = max(3, round(0.04 * max(gh, gw)))
    far = ~cv2.dilate(seed_w.astype(np.uint8), np.ones((2 * m + 1, 2 * m + 1), np.uint8)).astype(bool)
    gc[far & (dist < 0.5 * SEED_DISTANCE)] = cv2.GC_BGD
    # the crop's own border touching the image border: background where it looks like it
    edge = np.zeros((gh, gw), bool)
    edge[:ring_w] = Y0 == 0
    edge[-ring_w:] = Y1 == H
    edge[:, :ring_w] |= X0 == 0
    edge[:, -ring_w:] |= X1 == W
    gc[edge & (dist < SEED_DISTANCE)] = cv2.GC_BGD
    if not np.any((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)):
        raise no_foreground("No person could be separated: the whole photo looks like one object.")
    tick(2, 5, "separating the person (GrabCut)")
    fg = _banded_grabcut(work, gc, lambda i, n: tick(2, 5, f"separating the person (GrabCut, band {min(i + 1, n)}/{n})"))
    tick(3, 5, "cleaning up")
    k3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, k3)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k3).astype(bool)
    # back into the whole frame (work resolution) to judge and clean
    full_w = np.zeros((max(8, round(H * s1)), max(8, round(W * s1))), bool)
    oy, ox = round(Y0 * s1), round(X0 * s1)
    hh, ww = min(gh, full_w.shape[0] - oy), min(gw, full_w.shape[1] - ox)
    full_w[oy:oy + hh, ox:ox + ww] = fg[:hh, :ww]
    main = keep_main(full_w, centre_weight=True, min_fraction=0.1)
    main |= stacked_pieces(full_w & ~main, main, full_w.size)
    area = int(main.sum())
    labels_h, stats_h, inner = enclosed_holes(main)
    if inner.any():
        dist_full = np.zeros(main.shape, np.float32)
        dist_full[oy:oy + hh, ox:ox + ww] = dist[:hh, :ww]
        for i in np.nonzero(inner)[0]:
            a = stats_h[i, cv2.CC_STAT_AREA]
            if a < 0.002 * area:
                main[labels_h == i] = True
            elif a < 0.05 * area and np.median(dist_full[labels_h == i]) > SEED_DISTANCE:
                main[labels_h == i] = True
    check_person_mask(cv2.resize(main.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST).astype(bool), "the photo")
    tick(4, 5, "refining the edge")
    alpha = refine_edges(rgb, main, scale=1.0 / s1)
    tick(5, 5, "foreground found")
    return alpha


def _banded_grabcut(img: np.ndarray, gc: np.ndarray, tick, bands: int = 3, iterations: int = 3) -> np.ndarray:
    """GrabCut in overlapping horizontal bands, so each band has its own colour models (a floor at the
    bottom of the photo then does not make skin at the top look like background). Each pixel takes
    the answer of the band whose core contains it."""
    import cv2

    h = img.shape[0]
    edges = np.linspace(0, h, bands + 1).round().astype(int)
    overlap = max(4, h // (4 * bands))
    fg = np.zeros(gc.shape, bool)
    for i in range(bands):
        tick(i, bands)
        a, b = max(0, edges[i] - overlap), min(h, edges[i + 1] + overlap)
        sub = np.ascontiguousarray(gc[a:b])
        has_bg = np.any((sub == cv2.GC_BGD) | (sub == cv2.GC_PR_BGD))
        has_fg = np.any((sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD))
        if has_bg and has_fg:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            try:
                cv2.grabCut(np.ascontiguousarray(img[a:b]), sub, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
            except cv2.error:  # a band with too few samples of one kind keeps its seeds
                pass
        band_fg = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
        fg[edges[i]:edges[i + 1]] = band_fg[edges[i] - a:edges[i + 1] - a]
    tick(bands, bands)
    return fg


def _crop_distance(model: "_BorderModel", lab_crop: np.ndarray, box) -> np.ndarray:
    """`model.distance` for a crop: presence maps are looked up at the crop's place in the frame."""
    import cv2

    y0, y1, x0, x1 = box
    gs = model.presence.shape[1]
    h, w = lab_crop.shape[:2]
    # sample the coarse presence maps over the crop's box
    mx = ((np.arange(w) + 0.5) / w * (x1 - x0) + x0) * gs - 0.5
    my = ((np.arange(h) + 0.5) / h * (y1 - y0) + y0) * gs - 0.5
    map_x = np.broadcast_to(mx[None, :], (h, w)).astype(np.float32)
    map_y = np.broadcast_to(my[:, None], (h, w)).astype(np.float32)
    flat = lab_crop.reshape(-1, 3)
    d = np.full(flat.shape[0], np.inf, np.float32)
    for c, s, p in zip(model.centres, model.spread, model.presence):
        pres = cv2.remap(p, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        factor = 1.0 / np.sqrt(np.clip(pres, PRESENCE_FLOOR, 1.0))
        dc = np.maximum(np.sqrt(((flat - c) ** 2).sum(1)) - 0.5 * s, 0) * factor.ravel()
        np.minimum(d, dc, out=d)
    return d.reshape(h, w)
