"""The garment's tube: where the mask hangs wider than the body below the hips (a skirt, a coat, wide
trousers), the dressed volume keeps a round section across each row's run of the mask, as deep as
it is wide and turned with the torso, down to the hem, and wide trousers one round section per leg;
where an open coat shows the legs between its panels, the photo's colour says so (`coat_opening`),
and a coat worn open is a shell about the legs, not a solid (`worn_open`).
Used by dress.py's garment step; grid cells as there (rows down the photo, columns across it)."""

from __future__ import annotations

import cv2
import numpy as np

TUBE_DEPTH = 0.8  # a skirt's or coat's depth over its width, row by row
TUBE_MAX_WIDTH = 0.45  # of the person's height: wider runs are arms held out, not a garment
TUBE_BELOW_HIPS = 0.05  # of the person's height: the tube starts this far below the hips (the crotch)
LEGS_WIDTH = 0.8  # of the hips' width: a run of the mask at least this wide is around both legs
TUBE_REACH = 0.15  # of such a run's width: a skirt or coat reaches at least this far beyond the legs
TUBE_REACH_ROWS = 0.1  # of the person's height: ... or hangs down to a run that does within this far
TUBE_SMOOTH = 3.0  # cells: the tube's depth and middle are averaged down the rows over about this far
TROUSERS_DEPTH = 0.55  # two wide trouser legs side by side: depth over their width together (one leg: twice)
TROUSERS_WIDTH = 2.0  # the mask this much wider than the legs just above the feet: trousers
FEET_BAND = (0.04, 0.12)  # of the body's height above its lowest row: just above the feet
OPEN_CONTRAST = 12.0  # CIELAB distance: a garment and the legs below it that differ this much can be told apart
LIGHTNESS_WEIGHT = 0.5  # ... with lightness counted at this share: shading changes it more than the hue
OPEN_RUN = 0.04  # of the person's height: the legs show through an opening over at least this many rows at a time
MIN_SAMPLES = 8  # cells: fewer leave a colour unknown
COAT_SLEEVES = 10.0  # CIELAB distance (lightness weighted as above): sleeves this near the garment's colour are its own
COAT_CHEST = 12.0  # ... and a chest further than this from it is another garment, between the coat's open front
# (the benchmark's coats: sleeves 0.6-8.7 from the panels, chests 6.8-44; its skirts' sleeves 6.3-59,
# a skirt's chest 11.9 where its sleeves were 6.3)
COAT_ROWS = 0.1  # of the person's height: a coat's tube hangs at least this far at least COAT_WIDTH wide
COAT_WIDTH = 0.08  # ... (the benchmark's coats: 0.16-0.28 of the height; a hand beside the hips or a raised
# knee makes a few cells of tube, under 0.02)


def hanging_tube(inside: np.ndarray, has: np.ndarray, depth_centre: np.ndarray, cell: float, height_px: float,
                 hips: float, turn: float = 0.0, hands: np.ndarray | None = None,
                 hip_span: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tube's half-depth and middle depth per grid cell and its trouser legs' cells (`_row_tube`),
    averaged down the rows (`_down_the_rows`), from TUBE_BELOW_HIPS below the hips' row `hips` down:
    higher up the hands and arms beside the hips and torso are in the row's run (a coat's chest was
    twice its depth), and a garment there lies on the body, whose depth leads."""
    start = max(0, int(np.ceil(hips + TUBE_BELOW_HIPS * height_px / cell)))
    tube, middle, trouser_legs = _row_tube(inside, has, depth_centre, cell, height_px, turn, hands, hip_span, start)
    tube, middle = _down_the_rows(tube, middle, TUBE_SMOOTH)
    tube[:start] = 0.0
    return tube, middle, trouser_legs & (tube > 0)


def _run_ends(runs: np.ndarray, n: int, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run label 0..n, its first and last column among `cells` (inf and -inf where it has none)."""
    cols = np.broadcast_to(np.arange(runs.shape[1]), runs.shape)
    first, last = np.full(n + 1, np.inf), np.full(n + 1, -np.inf)
    np.minimum.at(first, runs[cells], cols[cells])
    np.maximum.at(last, runs[cells], cols[cells])
    return first, last


def _row_tube(inside: np.ndarray, has: np.ndarray, depth_centre: np.ndarray, cell: float,
              height_px: float, turn: float = 0.0, hands: np.ndarray | None = None,
              hip_span: float = np.inf, legs_from: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid cell, the half-depth (pixels) of a round tube across its row's run of the mask, for
    runs narrower than TUBE_MAX_WIDTH of the height (arms held out are no tube; 0 elsewhere), and
    the depth of the tube's middle: the mean of `depth_centre` (the body's, per column) over the run's
    body columns. The tube's section is an ellipse TUBE_DEPTH as deep as wide, turned by `turn`
    (radians, its right end towards the camera: `turned_section`), and only across runs that may be a
    garment (`_around_the_legs`, with `hands` and the hips' width `hip_span` in cells). Where the
    garment reaches the feet as wide as it is above (wide trousers: TROUSERS_WIDTH), a run over both
    legs is two trouser legs: from the row `legs_from` (about the crotch) down, split midway between
    the legs (`_legs_parted`: the legs of wide trousers touch in the photo), and each run over one
    leg (narrower than the hips; no hand) is one trouser leg, as deep as the pair over half their
    width (2 * TROUSERS_DEPTH), facing the camera; higher up, a run over two or more body pieces is
    TROUSERS_DEPTH deep over its width. Also returned: the trouser legs' cells (bool)."""
    from scipy import ndimage

    along_rows = [[0, 0, 0], [1, 1, 1], [0, 0, 0]]  # runs never join across rows
    runs, n = ndimage.label(inside, structure=along_rows)
    if n == 0:
        return np.zeros(inside.shape, np.float32), depth_centre, np.zeros(inside.shape, bool)
    trousers = _trousers(inside, has)
    if trousers:   # one run per trouser leg from the crotch down
        legs = has & inside if hands is None else has & inside & ~hands
        runs, n, halves = _legs_parted(runs, n, legs, legs_from)
    cols = np.broadcast_to(np.arange(inside.shape[1]), inside.shape)
    index = np.arange(1, n + 1)
    first, last = _run_ends(runs, n, runs > 0)
    first[0] = last[0] = 0.0   # label 0 is no run
    radius, centre = 0.5 * (last - first + 1), 0.5 * (first + last)
    radius[0] = 0.0
    radius[radius * 2 * cell > TUBE_MAX_WIDTH * height_px] = 0.0
    radius[~_around_the_legs(runs, n, has, hands, cell, height_px, hip_span)] = 0.0
    depth, shear = turned_section(TUBE_DEPTH, turn)
    ratio, slope = np.full(n + 1, depth), np.full(n + 1, shear)
    one = np.zeros(n + 1, bool)
    if trousers:
        # two or more pieces are both legs (or arms beside the torso)
        both = _pieces(runs, n, has & inside) >= 2
        ratio[both], slope[both] = TROUSERS_DEPTH, 0.0
        # one leg's piece, below the crotch (above it, a forearm's), is one trouser leg: the 0.8 of a
        # skirt's tube left the seated people's shins 4-5 cm shallower than their trousers, and one
        # tube over both legs filled the space between them in front and behind
        row = np.zeros(n + 1)
        row[runs[runs > 0]] = np.nonzero(runs > 0)[0]
        leg = _pieces(runs, n, legs) == 1
        one = (halves | (leg & ~both)) & (row >= legs_from) & (last - first + 1 < LEGS_WIDTH * hip_span)
        ratio[one], slope[one] = 2 * TROUSERS_DEPTH, 0.0
    r, c, k = radius[runs], centre[runs], ratio[runs]
    half = (k * cell * np.sqrt(np.maximum(r ** 2 - (cols - c) ** 2, 0.0))).astype(np.float32)
    with np.errstate(invalid="ignore"):  # a run without body columns: its own columns' mean
        on_body = np.asarray(ndimage.mean(depth_centre, np.where(has, runs, 0), index), np.float64)
    mid = np.r_[0.0, np.where(np.isfinite(on_body), on_body, ndimage.mean(depth_centre, runs, index))]
    middle = mid[runs] + slope[runs] * cell * (cols - c)
    return half, np.where(runs > 0, middle, depth_centre).astype(np.float32), one[runs] & (runs > 0)


def _piece_starts(body: np.ndarray) -> np.ndarray:
    """The first cell of each piece of `body` along its row."""
    return body & ~np.pad(body, ((0, 0), (1, 0)))[:, :-1]


def _pieces(runs: np.ndarray, n: int, body: np.ndarray) -> np.ndarray:
    """Per run (labels 0..n), how many pieces of `body` lie along it."""
    return np.bincount(runs[_piece_starts(body)], minlength=n + 1)


def _legs_parted(runs: np.ndarray, n: int, legs: np.ndarray,
                 legs_from: int) -> tuple[np.ndarray, int, np.ndarray]:
    """`runs` (labels 1..n along the rows) with each run that holds two pieces of `legs`, from the
    row `legs_from` down, split midway between them: one run per trouser leg. Returns the new labels,
    their count and, per new label, whether it is such a half."""
    starts = _piece_starts(legs)
    count = _pieces(runs, n, legs)
    rows = np.broadcast_to(np.arange(runs.shape[0])[:, None], runs.shape)
    two = (count[runs] == 2) & (rows >= legs_from) & (runs > 0)
    if not two.any():
        return runs, n, np.zeros(n + 1, bool)
    cols = np.broadcast_to(np.arange(runs.shape[1]), runs.shape).astype(np.float64)
    second = np.full(n + 1, -np.inf)   # where the second piece starts
    np.maximum.at(second, runs[starts & two], cols[starts & two])
    before = legs & two & (cols < second[runs])
    first_end = np.full(n + 1, -np.inf)
    np.maximum.at(first_end, runs[before], cols[before])
    split = 0.5 * (first_end + second)
    right = two & (cols > split[runs])
    out = runs.copy()
    out[right] = n + runs[right]
    used = np.unique(out[out > 0])
    relabel = np.zeros(2 * n + 1, np.int64)
    relabel[used] = np.arange(1, len(used) + 1)
    halves = np.zeros(len(used) + 1, bool)
    halves[relabel[np.unique(out[two])]] = True
    return relabel[out].astype(runs.dtype), len(used), halves


def _around_the_legs(runs: np.ndarray, n: int, has: np.ndarray, hands: np.ndarray | None, cell: float,
                     height_px: float, hip_span: float) -> np.ndarray:
    """Per run of the mask (index 0 unused), may a tube across it be a garment? A run narrower than
    LEGS_WIDTH of the hips (`hip_span`, cells: one leg, a hand) keeps its own round tube. A wider one,
    around both legs, only where the mask, the hands at its ends aside, reaches beyond the body's
    span in it by TUBE_REACH of its width (a skirt's or a coat's flare), or hangs down inside the
    mask to such a run within TUBE_REACH_ROWS of the height (a skirt's top is as wide as the hips):
    thighs side by side with a hand touching each are no skirt, and their tube stood out in front
    and behind, as flaps at the hands. `hands`: grid cells of the fitted hands (None: none)."""
    trimmed = runs if hands is None else np.where(hands, 0, runs)

    def span(cells: np.ndarray) -> np.ndarray:   # per run, from its first to its last cell in `cells`
        first, last = _run_ends(trimmed, n, cells)
        return np.where(np.isfinite(first), last - first + 1, 0.0)

    width, body = span(trimmed > 0), span(has & (trimmed > 0))
    wide = width >= LEGS_WIDTH * hip_span
    reaches = (wide & (width - body >= TUBE_REACH * np.maximum(width, 1.0)))[runs] & (runs > 0)
    below = np.where(reaches, 0.0, np.inf)   # rows down the mask to a run that reaches beyond the legs
    for r in range(len(runs) - 2, -1, -1):
        below[r] = np.where(runs[r] > 0, np.minimum(below[r], below[r + 1] + 1), np.inf)
    hanging = np.zeros(n + 1, bool)
    hanging[runs[below * cell <= TUBE_REACH_ROWS * height_px]] = True
    return ~wide | hanging


def turned_section(depth: float, turn: float) -> tuple[float, float]:
    """An elliptical section `depth` as deep as it is wide, turned by `turn` radians about the
    vertical (its right end towards the camera), as the camera sees it: (its depth at the middle
    over its half-width in the photo, and the slope of its chords' midpoints, depth per column).
    A skirt 0.8 as deep as wide, on hips turned 30 degrees, shows 0.95 of its width in the photo
    and is 0.88 as deep as that, its chords' midpoints sloping 0.17."""
    s, c = np.sin(turn), np.cos(turn)
    across = s * s + (c / depth) ** 2      # the ellipse's quadratic form along the line of sight
    return float(1.0 / (depth * across)), float((1.0 / depth ** 2 - 1.0) * s * c / across)


def _down_the_rows(tube: np.ndarray, middle: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The tube's half-depth and middle depth averaged down each column where the tube is (a
    Gaussian over `sigma` cells, normalised): row by row, the mask's run widths jump with its edge and
    with a hand beside the garment, which left a coat or skirt terraced."""
    from scipy.ndimage import gaussian_filter1d

    on = (tube > 0).astype(np.float32)
    weight = np.maximum(gaussian_filter1d(on, sigma, axis=0), 1e-6)
    smooth = lambda field: gaussian_filter1d(field * on, sigma, axis=0) / weight  # noqa: E731
    inside = on > 0
    return np.where(inside, smooth(tube), 0.0).astype(np.float32), np.where(inside, smooth(middle), middle).astype(np.float32)


def _feet_rows(has: np.ndarray) -> slice | None:
    """The grid rows just above the feet (FEET_BAND of the body's height in the grid; `has`: the
    body's columns), None for a body under 20 rows."""
    rows = np.flatnonzero(has.any(1))
    if len(rows) < 20:
        return None
    top, bottom = rows[0], rows[-1]
    height = bottom - top
    return slice(int(bottom - FEET_BAND[1] * height), int(bottom - FEET_BAND[0] * height))


def _trousers(inside: np.ndarray, has: np.ndarray) -> bool:
    """Does the garment reach the feet as wide as trousers (not a skirt's or a coat's hem with bare
    legs below it)? Over the rows just above the feet, the mask against the body's width."""
    band = _feet_rows(has)
    if band is None:
        return False
    body = float(has[band].sum())
    return body > 0 and float(inside[band].sum()) >= TROUSERS_WIDTH * body


def coat_opening(colours: np.ndarray, tube: np.ndarray, has: np.ndarray, inside: np.ndarray, cell: float,
                 height_px: float) -> np.ndarray:
    """Per grid cell, does the photo show the legs through the garment's tube there (an open coat's
    front, between its panels)? `colours` (ny, nx, 3): the photo in CIELAB at the cells; `tube`:
    the tube's half-depth (hanging_tube); `has`: the body's columns; `inside`: the mask's cells.
    The legs' colour is read on the body's columns just above the feet (FEET_BAND), the garment's
    beside the body in the tube's rows (its panels); where the two differ by OPEN_CONTRAST
    (lightness counted at LIGHTNESS_WEIGHT), the tube's cells over the body nearer the legs' colour
    show the legs, in runs down a column at least OPEN_RUN long (specks are shading). No cell where
    the legs or the panels are not seen, or look alike (a skirt over bare legs is its own colour, a
    coat down to the ankles hides the legs: it stays closed)."""
    colours = colours * np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], np.float32)
    in_tube = tube > 0
    feet = _feet_rows(has)
    opening = np.zeros(tube.shape, bool)
    if not in_tube.any() or feet is None:
        return opening
    legs = colours[feet][(has & inside)[feet]]
    panels = colours[in_tube & ~has & inside]
    if len(legs) < MIN_SAMPLES or len(panels) < MIN_SAMPLES:
        return opening
    leg, panel = np.median(legs, 0), np.median(panels, 0)
    if np.linalg.norm(leg - panel) < OPEN_CONTRAST:
        return opening
    nearer_legs = np.linalg.norm(colours - leg, axis=-1) < np.linalg.norm(colours - panel, axis=-1)
    run = max(1, int(round(OPEN_RUN * height_px / cell)))
    down = cv2.getStructuringElement(cv2.MORPH_RECT, (1, run))
    return cv2.morphologyEx((nearer_legs & in_tube & has).astype(np.uint8), cv2.MORPH_OPEN, down) > 0


def wide_rows(hanging: np.ndarray, cell: float, height_px: float) -> np.ndarray:
    """Per grid row, does the garment hanging about the legs span COAT_WIDTH of the height there?"""
    return hanging.sum(1) * cell >= COAT_WIDTH * height_px


def worn_open(colours: np.ndarray, hanging: np.ndarray, has: np.ndarray, inside: np.ndarray, sleeves: np.ndarray,
              chest: np.ndarray, cell: float, height_px: float) -> bool:
    """Is the garment hanging about the legs a coat worn open (a shell with the legs inside it, open
    at its hem), rather than a skirt or a closed coat (the photo cannot say they are hollow: solid)?
    `hanging`: the grid cells where the garment's tube hangs wider than the legs (`dress._garment`'s),
    COAT_WIDTH wide over at least COAT_ROWS of the height, not reaching the feet as trousers do; its
    panels (those cells beside the body) the colour of the sleeves, and the chest between them
    another's (COAT_SLEEVES, COAT_CHEST; colours as `coat_opening`'s). `sleeves`, `chest`: the grid
    cells of the body's upper arms and of its torso's middle."""
    if wide_rows(hanging, cell, height_px).sum() * cell < COAT_ROWS * height_px or _trousers(inside, has):
        return False
    colours = colours * np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], np.float32)
    samples = [colours[cells & inside] for cells in (hanging & ~has, sleeves, chest)]
    if min(len(s) for s in samples) < MIN_SAMPLES:
        return False
    panel, sleeve, middle = (np.median(s, 0) for s in samples)
    return bool(np.linalg.norm(sleeve - panel) < COAT_SLEEVES and np.linalg.norm(middle - panel) > COAT_CHEST)
