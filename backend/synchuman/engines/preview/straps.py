"""A backpack, seen from the front by its straps. A photo of a person facing the camera hides the
backpack itself, but its two shoulder straps run down the chest: two narrow bands of one colour, one
on each side between the neck and the shoulder, from the shoulders to about the middle of the torso.

`find_straps` looks for the two bands in the photo (numpy and OpenCV only: classical, not learned);
`backpack.Backpack` carries the pack they show.
Long hair falling in front of the shoulders also makes two bands: it runs unbroken from beside the
face down across the shoulders' line, which straps do not, so such bands are not taken for straps.
Nor are the shaded creases between the arms and a coloured shirt: they are the shirt's own colour,
darker (the same chromaticity); such bands make a pair only as mirror images of each other about the
torso's axis, seen where nothing else makes one (straps of the shirt's colour).
On a person turned from the camera the chest between the straps shows displaced the way the face
turns, and the strap on that side runs along the torso's edge against the arm, where it may not stand
out: there one strap seen down most of the chest, not far from its middle, is enough. Where the
pack's side shows between a strap and the arm, the strap stands out from the cloth on its inner side
only; such a band counts where its run ends soon after, on the arm (an open coat's edge runs on to
the torso's edge).
A strap on the shaded side of the chest can stand out from the shaded cloth beside it less than the
threshold, and another band (the torso's shaded edge) can outvote a strap on its side: where one
strap is found and the other side's does not pair with it, a band in its colour where it would
mirror the first (fainter, where that side shows no strap) completes the pair; failing that, a run
of its colour as wide as a strap there (one running along the torso's edge against the arm, or with
the pack's side beside it, stands out from neither side as a band does). Two bands farther apart
than a daypack's straps are the backdrop in the gaps beside the arms, which a small person's mask
takes in; on a person facing the camera, two bands that do not mirror each other about the torso's
axis are something else (a logo's arc and the torso's shaded edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...foreground.pose import LANDMARK

SEEN = 0.5  # the shoulders and hips must be at least this visible
ROWS = (0.08, 0.42)  # torso lengths below the shoulders' centre: where the straps are looked for
SPAN = (0.3, 0.9)  # of the half shoulder width from the torso's axis: where a strap runs
HALF_WIDTHS = (0.035, 0.05, 0.07)  # a strap's half-width, in shoulder widths
LIGHTNESS = 0.5  # weight of lightness against hue in colour distances
SIDES_ALIKE = 0.5  # a band between two different colours (a garment's edge) loses this share of their difference
MIN_CONTRAST = 14.0  # Lab units: a strap differs this much from the cloth on both sides of it
BESIDE_ALIKE = 1.0  # a strap beside its pack loses this share of its difference from the pack's side
PACK_BESIDE = 0.25  # shoulder widths: a strap and the pack's side beside it end this near, on the person
MIN_ROWS = 0.4  # share of the rows in which a side shows its band (a pack's side beside it may hide it)
TURNED = 0.1  # of the shoulder width: the nose this far beside the shoulders' centre is a turned person ...
ONE_STRAP_ROWS = 0.75  # ... for whom one strap seen in this share of the rows is enough, within
ONE_STRAP_REACH = 0.55  # shoulder widths of the chest's middle (the benchmark's: 0.27-0.46; the backdrop
#                         between a turned person's far arm and her torso: 0.62)
MAX_WANDER = 0.05  # shoulder widths: how far from one line a band may wander and still be one strap
MAX_SLANT, SLANT_STEPS = 0.35, 7  # columns per row: the steepest slant of a strap's line, and the steps up to it
MAX_COLOUR_SPREAD = 0.6  # of its contrast: one strap keeps one colour down its length
LINES_TRIED = 2  # lines per side tried, most supported first, while their colour wanders
MAX_PAIR_COLOUR = 22.0  # Lab units between the two straps' colours
# ... or one strap in shade (an arm or the pack beside it): the same chromaticity, at least half as light
SHADED_PAIR_CHROMATICITY, SHADED_PAIR_LIGHTNESS = 0.05, 0.5
CHROMATIC_CLOTH = 20.0  # Lab chroma: cloth at least this coloured shows a crease's shade by its chromaticity
MAX_APART = 0.75  # shoulder widths: two straps lie no farther apart (the benchmark's: 0.50-0.70; the
#                   backdrop the mask takes in beside a small or seated person's arms: 0.83-0.88)
FAINT_CONTRAST = 9.0  # Lab units: a strap in shade stands out at least this much, where it mirrors the other ...
MIRROR_REACH = 0.1  # ... within this (shoulder widths) of the other's mirror image about the torso's axis
# shoulder widths: on a person facing the camera, two straps mirror each other about the torso's axis
# within this (the benchmark's packs 0.00-0.11; a white shirt's dark ring logo's arc paired with the
# torso's shaded edge 0.27-0.35)
MAX_ASYMMETRY = 0.2
MIRRORED_RUN = (0.03, 0.2)  # shoulder widths: a strap seen as a run of its colour there (shade narrows it)
ABOVE = 0.45  # torso lengths above the shoulder joints, beside the face: long hair hangs from there ...
HAIR_RUN = 0.8  # ... down to the shoulders' line, unbroken (in this share of the rows); a strap does not


@dataclass
class Straps:
    colour_rgb: np.ndarray  # (3,) uint8: the straps' median colour
    columns: tuple[float, float]  # photo columns of the two straps (left to right; one twice, turned), mid-search
    rows: tuple[float, float]  # the photo rows searched
    contrast: float  # the weaker strap's median contrast with the cloth beside it (_band_scores; Lab
    #                  units; 0 for a strap seen only as a run of the other's colour, `_mirrored_run`)


def _band_scores(lab_row: np.ndarray, inside: np.ndarray, half: int):
    """For every column x of one row: (contrast of [x-half, x+half] against the cloth on both sides of it,
    less their difference, and its mean colour). Only the person's pixels count: the band must lie on
    them, and at least half of each side (an arm hanging beside the torso leaves a gap)."""
    n = len(lab_row)
    csum = np.vstack([np.zeros((1, 3)), np.cumsum(lab_row * inside[:, None], 0)])
    msum = np.concatenate([[0.0], np.cumsum(inside.astype(np.float64))])
    side = max(2, half // 2)  # narrow sides right beside the band: a strap's edges are sharp, shading's soft
    xs = np.clip(np.arange(n), half + side, n - half - side - 1)

    def mean(a, b):
        count = msum[b] - msum[a]
        return (csum[b] - csum[a]) / np.maximum(count, 1)[:, None], count / (b - a)

    centre, c_in = mean(xs - half, xs + half + 1)
    left, l_in = mean(xs - half - side, xs - half)
    right, r_in = mean(xs + half + 1, xs + half + side + 1)
    to_left, to_right = np.linalg.norm(centre - left, axis=1), np.linalg.norm(centre - right, axis=1)
    # the same cloth on both sides (not the edge between two garments)
    contrast = np.minimum(to_left, to_right) - SIDES_ALIKE * np.linalg.norm(left - right, axis=1)
    ok = (xs == np.arange(n)) & (c_in == 1) & (l_in >= 0.5) & (r_in >= 0.5)
    # a strap with its pack's side beside it: it stands out from the cloth on one side only, and the
    # other side, on the person, is much like it (keyed by the side the cloth is on: -1 left, 1 right)
    beside = {-1: np.where(ok & (r_in == 1), to_left - BESIDE_ALIKE * to_right, 0.0),
              1: np.where(ok & (l_in == 1), to_right - BESIDE_ALIKE * to_left, 0.0)}
    return np.where(ok, contrast, 0.0), centre, beside


def _ends_beside(lab_row: np.ndarray, inside: np.ndarray, x: int, outwards: int, colour: np.ndarray,
                 cloth: np.ndarray, reach: float) -> bool:
    """Whether the run of a band's colour from column x outwards (a strap, and the pack's side beside
    it) ends within `reach` columns, on the person, in a colour nearer the cloth's (the arm): an open
    coat's edge runs on to the torso's edge, and shade on the cloth grows darker to it."""
    end = int(np.clip(x + outwards * reach, 0, len(lab_row) - 1))
    run = slice(x, end + outwards, outwards) if outwards > 0 else slice(x, (end - 1) if end > 0 else None, -1)
    other = np.flatnonzero(np.linalg.norm(lab_row[run] - colour, axis=1) >= MIN_CONTRAST)
    if len(other) == 0 or not inside[run][other[0]]:
        return False
    return bool(np.linalg.norm(lab_row[run][other[0]] - cloth) < np.linalg.norm(colour - cloth))


def _strap_line(v: np.ndarray, x: np.ndarray, rows: np.ndarray, tolerance: float) -> np.ndarray:
    """Which band candidates (row v, offset x from the torso's axis) lie on the one line through
    them that most rows agree on (a vote, one per row): a candidate and a slant (MAX_SLANT; a turned
    or leaning torso's straps run slanted across the rows) make a line, and the candidates within
    `tolerance` of it in their rows support it."""
    first = int(rows[0])
    row_of = (v - first).astype(int)
    best, best_near = -1, np.zeros(len(v), bool)
    for slant in sorted(np.linspace(-MAX_SLANT, MAX_SLANT, 2 * SLANT_STEPS + 1), key=abs):   # ties: the least slant
        pred = x[:, None] + slant * (v[None, :] - v[:, None])   # (line through candidate i, at candidate j's row)
        hit = np.abs(x[None, :] - pred) <= tolerance
        covered = np.zeros((len(v), len(rows)), bool)
        i, j = np.nonzero(hit)
        covered[i, row_of[j]] = True
        support = covered.sum(1)
        k = int(np.argmax(support))
        if support[k] > best:
            best, best_near = int(support[k]), hit[k]
    return best_near


def _strap_bands(found: list, rows: np.ndarray, axis: np.ndarray, tolerance: float,
                 min_rows: float = MIN_ROWS) -> list:
    """One side's possible straps from its band candidates (row, offset from the torso's axis, contrast,
    colour), most supported first: [(median offset, colour, median contrast, line in photo columns
    against rows)]. The line most rows agree on is tried first, then the next (LINES_TRIED): the side of
    a pack showing between the arm and the strap can outvote the strap. A line is kept unless its colour
    wanders (MAX_COLOUR_SPREAD); the search stops at a line seen in too few rows."""
    v_all = np.array([p[0] for p in found], np.float64)
    x_all = np.array([p[1] for p in found], np.float64)
    left = np.ones(len(found), bool)
    bands = []
    for _ in range(LINES_TRIED):
        if not left.any():
            break
        idx = np.flatnonzero(left)
        v, x = v_all[idx], x_all[idx]
        near = _strap_line(v, x, rows, tolerance)
        left[idx[near]] = False
        if len(np.unique(v[near])) < min_rows * len(rows):
            break
        contrast = np.array([found[i][2] for i in idx[near]])
        colours = np.array([found[i][3] for i in idx[near]])
        colour = np.median(colours, 0)
        if np.median(np.linalg.norm(colours - colour, axis=1)) <= MAX_COLOUR_SPREAD * np.median(contrast):
            line = np.polyfit(v[near], x[near] + np.interp(v[near], rows, axis), 1)
            bands.append((float(np.median(x[near])), colour, float(np.median(contrast)), line))
    return bands


def _strap_band(found: list, rows: np.ndarray, axis: np.ndarray, tolerance: float, min_rows: float = MIN_ROWS):
    """One side's strap (`_strap_bands`' first), or None."""
    bands = _strap_bands(found, rows, axis, tolerance, min_rows)
    return bands[0] if bands else None


def find_straps(rgb: np.ndarray, mask: np.ndarray, landmarks: np.ndarray) -> Straps | None:
    """The two shoulder straps of a backpack in a photo, or None. rgb (H, W, 3) uint8; mask (H, W) the
    person; landmarks (33, >=3): BlazePose's u, v (photo pixels) and visibility."""
    at = lambda name: landmarks[LANDMARK[name]]  # noqa: E731
    joints = [at(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
    if min(j[2] for j in joints) < SEEN:
        return None
    ls, rs, lh, rh = (np.asarray(j[:2], np.float64) for j in joints)
    shoulders, hips = (ls + rs) / 2, (lh + rh) / 2
    torso = float(np.linalg.norm(shoulders - hips))
    width = float(np.linalg.norm(ls - rs))
    if torso < 20 or width < 0.4 * torso:  # too small, or seen from the side: no pair of straps
        return None
    # work on the photo about the shoulders only (from beside the face to below the straps)
    x0 = max(int(min(ls[0], rs[0]) - width), 0)
    y0 = max(int(shoulders[1] - (ABOVE + 0.05) * torso), 0)
    x1 = min(int(max(ls[0], rs[0]) + width) + 1, mask.shape[1])
    y1 = min(int(shoulders[1] + (ROWS[1] + 0.05) * torso) + 1, mask.shape[0])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    offset = np.array([x0, y0], np.float64)
    ls, rs, shoulders, hips = ls - offset, rs - offset, shoulders - offset, hips - offset
    rgb, mask = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    h, w = mask.shape
    lab = cv2.cvtColor(cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), max(0.6, 0.008 * width)),
                       cv2.COLOR_RGB2LAB).astype(np.float64)
    lab[..., 0] *= LIGHTNESS  # cloth is shaded across the body: hue tells a strap from it better
    inside = mask > 0
    # the person's right shoulder is on the photo's left for a person facing the camera; the sides are
    # taken in photo order (a back view's "straps" then are whatever runs down the back)
    sides = sorted([ls, rs], key=lambda p: p[0])
    rows = np.arange(int(shoulders[1] + ROWS[0] * torso), int(shoulders[1] + ROWS[1] * torso) + 1)
    rows = rows[(rows >= 0) & (rows < h)]
    if len(rows) < 8:
        return None
    # the torso's axis, row by row (a person may lean), and the cloth's own colour along it. The chest
    # lies ahead of the shoulder joints, so on a turned person it shows displaced as the face is (the
    # nose's offset from the shoulders' centre: 0.12-0.21 of the shoulder width on the benchmark's
    # people turned 25-30 degrees, within 0.07 on those facing the camera)
    nose = landmarks[LANDMARK["nose"]]
    turn = float(nose[0] - x0 - shoulders[0]) if nose[2] >= SEEN else 0.0
    axis = np.interp(rows, [shoulders[1], hips[1]], [shoulders[0], hips[0]]) + turn
    cloth = np.median(lab[rows, np.clip(axis.astype(int), 0, w - 1)], 0)
    # per row and side, every column where a band stands out (as an offset from the axis); then the
    # lines most rows agree on (_strap_bands)
    found = {0: [], 1: []}  # side -> (row, offset from the axis, contrast, colour)
    found_beside = {0: [], 1: []}  # the same for one-sided bands, with the column and the outward step
    faint = {0: [], 1: []}  # bands standing out on both sides by FAINT_CONTRAST to MIN_CONTRAST
    for v, axis_u in zip(rows, axis):
        for frac in HALF_WIDTHS:
            half = max(1, int(round(frac * width)))
            both, colour, beside = _band_scores(lab[v], inside[v], half)
            for k, shoulder in enumerate(sides):
                reach = shoulder[0] - axis_u
                a, b = sorted((axis_u + SPAN[0] * reach, axis_u + SPAN[1] * reach))
                a, b = max(int(a), 1), min(int(b) + 1, w - 1)
                outwards = 1 if reach > 0 else -1
                for contrast, pack_side in ((both, False), (beside[-outwards], True)):
                    c = contrast[a - 1:b + 1]
                    peaks = a + np.nonzero((c[1:-1] >= FAINT_CONTRAST) & (c[1:-1] >= c[:-2]) & (c[1:-1] >= c[2:]))[0]
                    for x in peaks:
                        if np.linalg.norm(colour[x] - cloth) < MIN_CONTRAST:  # a strip of the cloth itself
                            continue
                        band = (v, x - axis_u, contrast[x], colour[x])
                        if contrast[x] < MIN_CONTRAST:
                            if not pack_side:
                                faint[k].append(band)
                        elif pack_side:
                            found_beside[k].append((*band, x, outwards))
                        else:
                            found[k].append(band)
    tolerance = MAX_WANDER * width
    # a band in the cloth's own colour in shade is none (a strip of a coloured shirt between a dark
    # strap and a dark sleeve stands out as a band too)
    strap_bands = lambda candidates: [b for b in _strap_bands(candidates, rows, axis, tolerance)  # noqa: E731
                                      if not _cloth_in_shade(b[1], cloth)]
    every_band = [_strap_bands(found[k], rows, axis, tolerance) for k in (0, 1)]
    bands = [[b for b in every_band[k] if not _cloth_in_shade(b[1], cloth)] for k in (0, 1)]
    # ... but straps of the shirt's own colour are that: tried last, as mirror images (`_pair_in_shade`)
    shaded = [[b for b in every_band[k] if _cloth_in_shade(b[1], cloth)] for k in (0, 1)]
    # where a side shows no strap standing out from the cloth on both sides, its strap may have the
    # pack's side beside it, seen in MIN_ROWS of the rows (those bands are checked only then)
    for k in (0, 1):
        if not bands[k]:
            beside_pack = [band[:4] for band in found_beside[k] if not _shade_of(band[3], cloth)
                           and _ends_beside(lab[band[0]], inside[band[0]], *band[4:], band[3], cloth, PACK_BESIDE * width)]
            if len({band[0] for band in beside_pack}) >= MIN_ROWS * len(rows):
                bands[k] = strap_bands(found[k] + beside_pack)
    # a person facing the camera shows the straps as mirror images about the torso's axis
    facing = abs(turn) < TURNED * width
    pairs = [(r, l) for r in bands[0] for l in bands[1] if _one_colour(r[1], l[1]) and _apart(r, l, width)
             and not (facing and abs(r[0] + l[0]) > MAX_ASYMMETRY * width)]
    if not pairs and not facing:
        one = _one_strap(found, rows, axis, tolerance, cloth, width, (y0, x0))
        if one is not None:
            return one
    if not pairs:
        # a strap found and the other side's not paired with it: in shade where that side shows no
        # strap (a fainter band, then), or outvoted by another band where it does (a dark stripe at
        # the torso's shaded edge). A band of the strap's colour where it would mirror it makes the pair.
        for k in (0, 1):
            for strap in bands[1 - k]:
                near = [band for band in found[k] + ([] if bands[k] else faint[k])
                        if abs(band[1] + strap[0]) <= MIRROR_REACH * width and _one_colour(band[3], strap[1])]
                for mine in strap_bands(near):
                    pair = (mine, strap) if k == 0 else (strap, mine)
                    if _apart(*pair, width):
                        pairs.append(pair)
    if not pairs:
        pairs = _pair_in_shade(shaded, width)
    if not pairs:
        # the other strap as a run of the first's colour where it mirrors it, standing out as no band
        pairs = _mirrored_pairs(lab, inside, bands, rows, axis, width)
    if not pairs:
        # ... or of a strap of the shirt's colour in shade, the run with cloth on both sides of it (the
        # shade along the torso's edge runs on to it)
        pairs = _mirrored_pairs(lab, inside, shaded, rows, axis, width, within_cloth=True)
    if not pairs:
        return None
    (xr, cr, kr, line_r), (xl, cl, kl, line_l) = pairs[0]
    colour = (cr + cl) / 2

    def in_colour(x: int, vs) -> float:
        """The share of rows `vs` where column `x` shows the straps' colour on the person."""
        return float(np.mean([0 <= v < h and 0 <= x < w and inside[v, x]
                              and np.linalg.norm(lab[v, x] - colour) < MIN_CONTRAST for v in vs]))

    # long hair in front of the shoulders: the same colour runs unbroken from beside the face down to
    # the shoulders' line (a strap goes over the shoulder and stops; the head's own hair above it, on a
    # turned person, or a dark face and neck of the straps' colour leave gaps: the background, the collar)
    for line in (line_r, line_l):
        x = int(round(np.polyval(line, shoulders[1])))
        beside_face = np.linspace(shoulders[1] - ABOVE * torso, shoulders[1], 16).astype(int)
        # hair in front runs on down across the shoulders' line; a band that starts below it, cloth
        # between, is no hair even where the head above shows its colour (hair or skin)
        across = np.linspace(shoulders[1], rows[0], 8).astype(int)
        if in_colour(x, beside_face) >= HAIR_RUN and in_colour(x, across) >= 0.5:
            return None
    return Straps(colour_rgb=_rgb(colour[None])[0],
                  columns=tuple(float(np.polyval(line, rows.mean()) + x0) for line in (line_r, line_l)),
                  rows=(float(rows[0] + y0), float(rows[-1] + y0)), contrast=float(min(kr, kl)))


def _pair_in_shade(shaded: list, width: float) -> list:
    """Straps of the shirt's own colour, darker (a pack bought to match): a pair of bands in the cloth's
    own colour in shade (`shaded`, per side), turned down one by one (`_cloth_in_shade`), counts where
    each side shows one and they mirror each other about the torso's axis (within MIRROR_REACH): a fold
    or a crease lies where the cloth falls, seldom as a matching pair at a strap's distance. Tried
    after the other pairs."""
    return [(r, l) for r in shaded[0] for l in shaded[1]
            if _one_colour(r[1], l[1]) and _apart(r, l, width) and abs(r[0] + l[0]) <= MIRROR_REACH * width]


def _mirrored_pairs(lab: np.ndarray, inside: np.ndarray, bands: list, rows: np.ndarray, axis: np.ndarray,
                    width: float, within_cloth: bool = False) -> list:
    """Pairs (photo's left, right) of each side's bands with the run mirroring them on the other side
    (`_mirrored_run`), as far apart as straps."""
    return [pair for k in (0, 1) for strap in bands[1 - k]
            if (mine := _mirrored_run(lab, inside, strap, rows, axis, width, within_cloth)) is not None
            and _apart(*(pair := (mine, strap) if k == 0 else (strap, mine)), width)]


def _mirrored_run(lab: np.ndarray, inside: np.ndarray, strap: tuple, rows: np.ndarray, axis: np.ndarray,
                  width: float, within_cloth: bool = False) -> tuple | None:
    """The other strap where it would mirror `strap` (a band from `_strap_bands`) about the torso's
    axis, as a run of `strap`'s colour on the person (within MIN_CONTRAST) MIRRORED_RUN wide, centred
    within MIRROR_REACH of the mirrored line, in MIN_ROWS of the rows (for `within_cloth`, only runs
    with the person on both sides count); the band it makes, or None. A band farther from the axis
    than half MAX_APART (the creases beside the arms, 0.4-0.46 shoulder widths) mirrors no strap."""
    offset, colour, _, line = strap
    if abs(offset) > MAX_APART / 2 * width:
        return None
    reach = MIRROR_REACH * width
    narrowest, widest = max(2.0, MIRRORED_RUN[0] * width), MIRRORED_RUN[1] * width
    hits = []  # (row, offset from the axis)
    for v, axis_u in zip(rows, axis):
        mirrored = 2 * axis_u - np.polyval(line, v)
        a, b = max(int(mirrored - reach - widest), 0), min(int(mirrored + reach + widest) + 1, lab.shape[1])
        alike = (np.linalg.norm(lab[v, a:b] - colour, axis=1) < MIN_CONTRAST) & inside[v, a:b]
        ends = np.flatnonzero(np.diff(np.concatenate([[0], alike.astype(np.int8), [0]])))
        for start, stop in zip(ends[::2], ends[1::2]):
            centre = a + (start + stop - 1) / 2
            beside = np.clip([a + start - 2, a + stop + 1], 0, lab.shape[1] - 1)
            if within_cloth and not inside[v, beside].all():
                continue
            if narrowest <= stop - start <= widest and abs(centre - mirrored) <= reach:
                hits.append((v, centre - axis_u))
                break
    if len(hits) < MIN_ROWS * len(rows):
        return None
    v, x = (np.array(values, np.float64) for values in zip(*hits))
    return float(np.median(x)), colour, 0.0, np.polyfit(v, x + np.interp(v, rows, axis), 1)


def _apart(right: tuple, left: tuple, width: float) -> bool:
    """Whether two bands (offsets from the torso's axis first) lie as far apart as a daypack's straps."""
    return 0.3 * width <= left[0] - right[0] <= MAX_APART * width


def _one_strap(found: dict, rows: np.ndarray, axis: np.ndarray, tolerance: float, cloth: np.ndarray,
               width: float, origin: tuple[int, int]) -> Straps | None:
    """A turned person's straps from the one side that shows its strap down ONE_STRAP_ROWS of the
    chest, within ONE_STRAP_REACH of its middle, not in the cloth's own colour in shade (the other
    strap hides at the torso's edge)."""
    bands = [b for b in (_strap_band(found[k], rows, axis, tolerance, ONE_STRAP_ROWS) for k in (0, 1))
             if b is not None and abs(b[0]) <= ONE_STRAP_REACH * width and not _cloth_in_shade(b[1], cloth)]
    if len(bands) != 1:
        return None
    (_, colour, contrast, line), (y0, x0) = bands[0], origin
    column = float(np.polyval(line, rows.mean()) + x0)
    return Straps(colour_rgb=_rgb(colour[None])[0], columns=(column, column),
                  rows=(float(rows[0] + y0), float(rows[-1] + y0)), contrast=contrast)


def _one_colour(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two straps' colours (find_straps' scaled Lab) are one strap colour: alike, or alike
    but for shade (shading scales a colour's RGB, which keeps its chromaticity). Shade does not make
    white grey: the darker must be at least SHADED_PAIR_LIGHTNESS as light (L*)."""
    if np.linalg.norm(a - b) <= MAX_PAIR_COLOUR:
        return True
    return bool(_chromaticity_distance(a, b) <= SHADED_PAIR_CHROMATICITY
                and min(a[0], b[0]) >= SHADED_PAIR_LIGHTNESS * max(a[0], b[0]))


def _cloth_in_shade(band: np.ndarray, cloth: np.ndarray) -> bool:
    """Whether a band's colour (find_straps' scaled Lab) is the cloth's own in shade, as in the creases
    between the arms and a coloured shirt: darker, with the same chromaticity, on cloth coloured enough
    (CHROMATIC_CLOTH) for its chromaticity to tell. On grey or white cloth a dark strap and a shade
    have one chromaticity, so nothing is rejected there."""
    return np.hypot(cloth[1] - 128.0, cloth[2] - 128.0) >= CHROMATIC_CLOTH and _shade_of(band, cloth)


def _shade_of(band: np.ndarray, cloth: np.ndarray) -> bool:
    """Whether a band's colour could be the cloth's in shade: darker, with the same chromaticity."""
    return bool(band[0] < cloth[0] and _chromaticity_distance(band, cloth) <= SHADED_PAIR_CHROMATICITY)


def _chromaticity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two colours (find_straps' scaled Lab) are in chromaticity (RGB over its sum):
    shading scales a colour's RGB and keeps it."""
    rgb = _rgb(np.stack([a, b])).astype(np.float64) + 1.0
    chromaticity = rgb / rgb.sum(1, keepdims=True)
    return float(np.linalg.norm(chromaticity[0] - chromaticity[1]))


def _rgb(colours: np.ndarray) -> np.ndarray:
    """(N, 3) colours in find_straps' Lab (lightness scaled by LIGHTNESS) -> (N, 3) RGB uint8."""
    lab = np.clip(np.asarray(colours) * [1 / LIGHTNESS, 1, 1], 0, 255).astype(np.uint8)
    return cv2.cvtColor(lab[None], cv2.COLOR_LAB2RGB)[0]
