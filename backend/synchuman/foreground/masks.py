"""Mask helpers shared by every foreground source: clean-up, "is this a person" checks, edge matting.

Every alpha, whatever made it, passes `clean_alpha` (specks removed, pin-holes filled, the checks of
`check_person_mask`), so a failure is always `input.no_foreground` with the same hint.
"""

from __future__ import annotations

import numpy as np

from ..errors import SyncHumanError

HINT = ("Supply a cut-out: a PNG with a transparent background around the person (any photo editor's "
        "'remove background' makes one), or a photo where the person stands, whole and centred, "
        "in front of a plain background.")

MIN_AREA_FRACTION = 0.005
MIN_ASPECT = 0.6         # a person's bounding box is at least this tall for its width
MAX_AREA_FRACTION = 0.92
MAX_BORDER_FRACTION = 0.5


def no_foreground(message: str, **details) -> SyncHumanError:
    return SyncHumanError("input.no_foreground", message, HINT, details)


def foreground_mask(alpha: np.ndarray) -> np.ndarray:
    return alpha >= 128


def components(mask: np.ndarray):
    import cv2

    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, labels, stats, centroids


def keep_main(mask: np.ndarray, centre_weight: bool, min_fraction: float = 0.02,
               near: float = 0.01) -> np.ndarray:
    """Keeps the main component (the largest, or for photos the largest weighted by how central it is)
    and the other pieces of at least `min_fraction` of its area lying within `near` x the image's
    longer side of it (cut-outs: at any distance)."""
    import cv2

    n, labels, stats, centroids = components(mask)
    if n <= 1:
        return np.zeros_like(mask, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    score = areas.copy()
    if centre_weight:
        h, w = mask.shape
        dx = np.abs(centroids[1:, 0] / w - 0.5)
        dy = np.abs(centroids[1:, 1] / h - 0.5)
        score *= np.clip(1.2 - 1.2 * np.hypot(dx, dy), 0.05, 1.0)
    main = int(np.argmax(score))
    keep = np.zeros(n, bool)
    keep[1 + main] = True
    others = [i for i in range(n - 1) if i != main and areas[i] >= min_fraction * areas[main]]
    if others:
        if centre_weight:
            gap = cv2.distanceTransform((labels != 1 + main).astype(np.uint8), cv2.DIST_L2, 3)
            lim = near * max(mask.shape) + 2
            reached = np.zeros(n, bool)
            reached[np.unique(labels[gap <= lim])] = True
            for i in others:
                keep[1 + i] = reached[1 + i]
        else:
            keep[[1 + i for i in others]] = True
    return keep[labels]


def stacked_pieces(others: np.ndarray, main: np.ndarray, image_area: int) -> np.ndarray:
    """Pieces right above or below the main one and mostly within its width (a head above a torso
    whose neck and collar look like the background)."""
    import cv2

    ys, xs = np.nonzero(main)
    mx0, mx1, my0, my1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    reach = 0.15 * (my1 - my0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(others.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        overlap = min(x + w, mx1) - max(x, mx0)
        gap = max(my0 - (y + h), y - my1, 0)
        keep[i] = area >= 0.003 * image_area and overlap >= 0.5 * w and gap <= reach
    return keep[labels]


def enclosed_holes(mask: np.ndarray):
    """Labels of background regions that do not reach the image border."""
    import cv2

    inv = (~mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    h, w = mask.shape
    border = np.zeros(n, bool)
    border[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    border[0] = True   # label 0 is the foreground itself
    return labels, stats, ~border


def clean_alpha(alpha: np.ndarray, what: str = "the alpha channel") -> np.ndarray:
    """An alpha channel minus specks, with pin-holes (< 0.05 % of the person) filled."""
    import cv2

    mask = alpha >= 128
    main = keep_main(mask, centre_weight=False, min_fraction=0.02)
    area = int(main.sum())
    check_person_mask(main, what)
    out = alpha.copy()
    out[mask & ~main] = 0
    # soft edge pixels next to a removed speck stay as they are; pixels below 128 that belong to
    # a dropped speck's halo are harmless (they are outside the mask)
    labels, stats, inner = enclosed_holes(main)
    small = inner & (stats[:, cv2.CC_STAT_AREA] < max(4, 0.0005 * area))
    if small.any():
        out[small[labels]] = 255
    return out


def check_person_mask(mask: np.ndarray, what: str) -> None:
    h, w = mask.shape
    area = int(mask.sum())
    if area < MIN_AREA_FRACTION * h * w:
        raise no_foreground(f"No person found in {what}: the foreground covers only "
                             f"{100 * area / (h * w):.2f}% of the image.", area_fraction=area / (h * w))
    if area > MAX_AREA_FRACTION * h * w:
        raise no_foreground(f"No person could be separated in {what}: the foreground fills "
                             f"{100 * area / (h * w):.0f}% of the image.", area_fraction=area / (h * w))
    ys, xs = np.nonzero(mask)
    aspect = (ys.max() - ys.min() + 1) / (xs.max() - xs.min() + 1)
    if aspect < MIN_ASPECT:
        raise no_foreground(f"No person found in {what}: the foreground is {1 / aspect:.1f} times wider than "
                             "tall, unlike a person.", aspect=float(aspect))
    edge = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
    if edge.mean() > MAX_BORDER_FRACTION:
        raise no_foreground(f"No person could be separated in {what}: the foreground touches "
                             f"{100 * edge.mean():.0f}% of the image border.", border_fraction=float(edge.mean()))


def refine_edges(rgb: np.ndarray, mask_small: np.ndarray, scale: float) -> np.ndarray:
    """Full-resolution alpha from a low-resolution mask: a two-colour matte in a band along the edge."""
    import cv2

    H, W = rgb.shape[:2]
    soft = cv2.resize(mask_small.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    soft = cv2.GaussianBlur(soft, (0, 0), max(0.5, 0.35 * scale))
    band_r = max(2, int(np.ceil(1.5 * scale)))
    sure_fg = (soft > 0.5).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_r + 1, 2 * band_r + 1))
    inner = cv2.erode(sure_fg, k)
    outer = cv2.dilate(sure_fg, k)
    band = (outer > 0) & (inner == 0)
    alpha = inner.astype(np.float32)
    if not band.any():
        return (alpha * 255).astype(np.uint8)
    # local person / background colours by normalised convolution over the band's box, computed at a
    # reduced resolution (they vary slowly) and brought back to full resolution
    ys, xs = np.nonzero(band)
    pad = 4 * band_r
    y0, y1 = max(0, ys.min() - pad), min(H, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(W, xs.max() + pad + 1)
    img = rgb[y0:y1, x0:x1].astype(np.float32)
    bh, bw = img.shape[:2]
    f = max(1, band_r // 2)
    sw, sh = max(1, bw // f), max(1, bh // f)
    img_s = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    fin = cv2.resize(inner[y0:y1, x0:x1].astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    bout = cv2.resize((outer[y0:y1, x0:x1] == 0).astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    fin = (fin > 0.99).astype(np.float32)
    bout = (bout > 0.99).astype(np.float32)
    sigma = 1.5 * band_r / f

    def local_mean(weight):
        num = cv2.GaussianBlur(img_s * weight[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        mean = num / np.maximum(den, 1e-4)[..., None]
        return (cv2.resize(mean, (bw, bh), interpolation=cv2.INTER_LINEAR),
                cv2.resize(den, (bw, bh), interpolation=cv2.INTER_LINEAR))

    F, wf = local_mean(fin)
    B, wb = local_mean(bout)
    diff = F - B
    den = (diff ** 2).sum(-1)
    a = ((img - B) * diff).sum(-1) / np.maximum(den, 1e-6)
    a = np.clip(a, 0.0, 1.0)
    trusted = (den > 15.0 ** 2) & (wf > 1e-3) & (wb > 1e-3)
    fallback = soft[y0:y1, x0:x1]
    a = np.where(trusted, a, fallback)
    sub = band[y0:y1, x0:x1]
    region = alpha[y0:y1, x0:x1]
    region[sub] = a[sub]
    alpha = cv2.medianBlur((np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8), 3)
    return alpha
