"""Parts of the person the learned mask missed, found by their colour and confirmed by a second look.

MediaPipe's person probability can drop a whole part of a person: on the clothed benchmark's dim coffee
photo with a watermark, the legs below a coat and both arms held out over dark wood had probability
under 0.05, the mask's IoU was 0.54-0.68, and the pose, read on that mask, put the ankles at the coat's
hem. Read on the true mask, the same detector sees every leg landmark (visibility 0.97-0.99).

`grown_by_colour` cuts a box around the mask with GrabCut (colour models and a cut along colour edges),
seeded by the mask itself: its inside is sure person, the rest of it probable person, the box around it
probable background and the box's border, where it is not the photo's edge, sure background. What the
cut adds and joins the mask is a candidate. Colour alone also takes in a dark poster's corner beside a
dark head, or the box a person sits on, so `confirmed` keeps a candidate pixel only where the detector,
looking again at the grown person over grey, gives probability at least 0.5, where that look's
skeleton lies (its seen limbs, torso and head, each widened by a limb's half-width), outside the holes
the mask encloses (the gap between an arm and the torso) and in a piece of some size (MIN_PIECE).
The box a colour cut of the mask runs in (`WorkBox`) and the skeleton's drawing are shared with
`backdrop`, which cuts the other way.
"""

from __future__ import annotations

import cv2
import numpy as np

from .masks import enclosed_holes
from .pose import LANDMARK, VISIBLE, PersonPose

WORK_SIDE = 512        # the cut runs on the box scaled to at most this (0.2 s on 2 cores)
ITERATIONS = 2
BOX_MARGIN = 0.25      # of the mask's height: the box around the mask the cut may add within
SURE_INSIDE = 0.02     # of the mask's height: the mask eroded this much is sure person
CONFIRMED = 0.5        # the second look's probability at least this confirms an added pixel
LIMB_HALF_WIDTH = 0.06  # of the person's height: the band about each seen bone an added pixel must lie in
HEAD_RADIUS = 2.0      # of the half distance between the ears: the disc about the nose that is the head
MIN_PIECE = 0.003      # of the mask's area: smaller added pieces are left out (slivers along the outline
#                        are the working scale's, and any change of the mask moves the pose a little)
RNG_SEED = 0

BONES = tuple((LANDMARK[a], LANDMARK[b]) for a, b in (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_wrist", "left_index"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("right_wrist", "right_index"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_foot_index"),
    ("left_ankle", "left_heel"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("right_ankle", "right_foot_index"), ("right_ankle", "right_heel")))
TORSO = tuple(LANDMARK[n] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip"))
# The upper bone of each limb, continued straight beyond its middle joint by its own length: the pose read
# on a person whose forearm the mask lost folds that arm at the elbow, so its own bones would leave out
# the very forearm the cut found.
UPPER_BONES = tuple((LANDMARK[a], LANDMARK[b]) for a, b in (
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"), ("left_hip", "left_knee"),
    ("right_hip", "right_knee")))


class WorkBox:
    """The box around a mask, `margin` of its height beyond it on every side (within the photo), and the
    photo and the mask in it scaled to at most WORK_SIDE: where a colour cut of the mask runs."""

    def __init__(self, rgb: np.ndarray, mask: np.ndarray, margin: float):
        ys, xs = np.nonzero(mask)
        H, W = mask.shape
        self.height = int(np.ptp(ys)) + 1
        m = int(margin * self.height)
        x0, y0 = max(0, xs.min() - m), max(0, ys.min() - m)
        x1, y1 = min(W, xs.max() + m + 1), min(H, ys.max() + m + 1)
        self.box = (x0, y0, x1, y1)
        self.scale = min(1.0, WORK_SIDE / max(x1 - x0, y1 - y0))
        self.size = (max(1, round((x1 - x0) * self.scale)), max(1, round((y1 - y0) * self.scale)))
        self.crop = np.ascontiguousarray(cv2.resize(rgb[y0:y1, x0:x1], self.size, interpolation=cv2.INTER_AREA))
        self.mask = self.scaled(mask)

    def scaled(self, full: np.ndarray) -> np.ndarray:
        """A bool array of the photo's size, in the box at the working scale (uint8)."""
        x0, y0, x1, y1 = self.box
        return cv2.resize(full[y0:y1, x0:x1].astype(np.uint8), self.size, interpolation=cv2.INTER_NEAREST)

    def cut(self, labels: np.ndarray) -> np.ndarray:
        """GrabCut's labels (cv2.GC_*) over the crop, from `labels` (changed in place too)."""
        cv2.setRNGSeed(RNG_SEED)
        cv2.grabCut(self.crop, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), ITERATIONS, cv2.GC_INIT_WITH_MASK)
        return labels

    def in_photo(self, small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A bool array at the working scale back in the photo (`shape`), False outside the box."""
        x0, y0, x1, y1 = self.box
        out = np.zeros(shape, bool)
        out[y0:y1, x0:x1] = cv2.resize(small.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0
        return out


def grown_by_colour(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mask (bool, the photo's size) with what a colour cut seeded by it adds and joins to it."""
    if not mask.any():
        return mask
    H, W = mask.shape
    work = WorkBox(rgb, mask, BOX_MARGIN)
    x0, y0, x1, y1 = work.box
    seed = work.mask
    r = max(2, int(SURE_INSIDE * work.height * work.scale))
    inside = cv2.erode(seed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if not inside.any():
        return mask
    labels = np.full(seed.shape, cv2.GC_PR_BGD, np.uint8)
    labels[seed > 0] = cv2.GC_PR_FGD
    # the box's border is background, except along the photo's edge, where the person may go on
    if y0 > 0:
        labels[0] = cv2.GC_BGD
    if y1 < H:
        labels[-1] = cv2.GC_BGD
    if x0 > 0:
        labels[:, 0] = cv2.GC_BGD
    if x1 < W:
        labels[:, -1] = cv2.GC_BGD
    labels[inside > 0] = cv2.GC_FGD
    labels = work.cut(labels)
    cut = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    pieces = cv2.connectedComponents(cut | seed, connectivity=8)[1]
    joined = np.isin(pieces, np.unique(pieces[inside > 0])) & (cut > 0)
    return mask | work.in_photo(joined, mask.shape)


def skeleton_band(pose: PersonPose, shape: tuple[int, int], height_px: float) -> np.ndarray:
    """Where the pose's seen body lies (bool, `shape`): each bone between two seen landmarks widened by
    LIMB_HALF_WIDTH of `height_px`, each seen upper arm and thigh also continued straight by its own
    length (UPPER_BONES), the torso's quadrilateral and the head's disc."""
    band = np.zeros(shape, np.uint8)
    u = pose.image[:, :2]
    seen = pose.image[:, 2] >= VISIBLE
    width = _line_width(LIMB_HALF_WIDTH * height_px)
    draw_bones(band, u, seen, BONES, LIMB_HALF_WIDTH * height_px)
    for i, j in UPPER_BONES:
        if seen[i] and seen[j]:
            end = np.round(2 * u[j] - u[i]).astype(int)
            cv2.line(band, _point(u, j), (int(end[0]), int(end[1])), 1, width)
    draw_torso_and_head(band, u, seen, outline=width)
    return band > 0


def draw_bones(band: np.ndarray, u: np.ndarray, seen: np.ndarray, bones, half_px: float) -> None:
    """Each of `bones` (landmark pairs) whose ends are both `seen` drawn into `band` (uint8, in place),
    `half_px` wide on each side (at least 2 px)."""
    width = _line_width(half_px)
    for i, j in bones:
        if seen[i] and seen[j]:
            cv2.line(band, _point(u, i), _point(u, j), 1, width)


def draw_torso_and_head(band: np.ndarray, u: np.ndarray, seen: np.ndarray, outline: int = 0) -> None:
    """The torso's quadrilateral (with an `outline` this wide, if any) where all four corners are seen,
    and the head's disc (HEAD_RADIUS of the half distance between the ears about the nose) where the
    nose is, drawn into `band` (uint8, in place)."""
    if seen[list(TORSO)].all():
        corners = np.round(u[list(TORSO)]).astype(np.int32)
        cv2.fillConvexPoly(band, corners, 1)
        if outline:
            cv2.polylines(band, [corners], True, 1, outline)
    nose, ears = LANDMARK["nose"], [LANDMARK["left_ear"], LANDMARK["right_ear"]]
    if seen[nose]:
        radius = HEAD_RADIUS * 0.5 * float(np.hypot(*(u[ears[0]] - u[ears[1]])))
        cv2.circle(band, _point(u, nose), max(2, int(round(radius))), 1, -1)


def _line_width(half_px: float) -> int:
    """OpenCV's line thickness for a band `half_px` to each side of its line (at least 2 px)."""
    return 2 * max(2, int(round(half_px))) + 1


def _point(u: np.ndarray, i: int) -> tuple[int, int]:
    return int(round(u[i, 0])), int(round(u[i, 1]))


def confirmed(mask: np.ndarray, grown: np.ndarray, prob: np.ndarray, pose: PersonPose | None) -> np.ndarray:
    """The pixels `grown` adds to `mask` that the second look (its probability `prob` and `pose`, read on
    the grown person alone) confirms."""
    if pose is None:
        return np.zeros_like(mask)
    rows = np.flatnonzero(grown.any(1))
    holes, _, enclosed = enclosed_holes(mask)
    added = grown & ~mask & (prob >= CONFIRMED) & ~enclosed[holes]
    if not added.any():
        return added
    return large_pieces(added & skeleton_band(pose, mask.shape, float(np.ptp(rows)) + 1), mask)


def large_pieces(added: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The pieces of `added` of at least MIN_PIECE of `mask`'s area. Confirming only removes pixels, so
    where the cut's candidates hold no such piece, the second look can be skipped."""
    _, pieces, stats, _ = cv2.connectedComponentsWithStats(added.astype(np.uint8), connectivity=8)
    large = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_PIECE * mask.sum()) + 1
    return np.isin(pieces, large)
