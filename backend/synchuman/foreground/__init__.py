"""The foreground + pose step shared by every engine: which pixels of a photo are the person, and
their body pose.

    cut = cut_person(photo, person_box=None, progress=None)
    cut.alpha      uint8 (H, W): 0 = background, 255 = person (always the photo's size)
    cut.pose       PersonPose (33 landmarks in pixels and metres) or None
    cut.source     where the alpha came from: "photo", an engine's own model (its `source`, e.g. "u2net"),
                   "learned" or "classical"

Where the alpha comes from, in order:
1. the photo's own alpha channel (a cut-out), cleaned of specks;
2. an engine's own model when it passes one (the synchuman engine's U²-Net, as the reference does);
3. the learned person detector (`learned.BlazePose`): the chosen person's mask, its hands held out
   completed to the fingertips by their colour (`hands.hands_completed`: the mask fades along them),
   refined at full resolution by a two-colour edge matte (`masks.refine_edges`), the parts it lost
   completed by colour where a second look at the grown person confirms them (`completion`; where
   MediaPipe's selfie segmenter sees the person far larger than the mask, its person is a candidate
   too), then a limb still missing that BlazePose sees in the photo's grey, past the mask (a dark forearm
   over dark brick: `second_views.limb_seen_in_grey`), confirmed the same way, and,
   once the pose is read, the backdrop it took in (beside a hand, in an arm's gap) cut out by colour
   about the pose's core (`backdrop`);
4. the classical segmentation (`classical.segment_rgb`), with a warning, when mediapipe is not installed
   or finds nobody.

The pose comes from the learned detector in every case, read on the person over grey: a cut-out's
alpha, or for a photo the mask the detector found, after which it looks at the person alone again
(`BlazePose.look_at`): the background's clutter no longer pulls the landmarks (on the clothed
benchmark people their mean error fell from 2.3 to 2.0 % of the height, and the fitted body's normal
consistency rose; docs/benchmarks.md). Where it reads the person from behind but MediaPipe's face
detector finds a face on the head (`second_views.facing_checked`), the reading is mirrored (left and right
swapped, depth negated; `cut.pose_mirrored`). With several people the most prominent one is chosen
(largest, most central, most complete) and a warning says so;
`person_box` (x0, y0, x1, y1 in photo pixels) chooses another. A photo with nobody in it is
`input.no_foreground`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import SyncHumanError
from .backdrop import without_backdrop
from .classical import segment_rgb
from .completion import CONFIRMED, confirmed, grown_by_colour, large_pieces
from .hands import hands_completed
from .learned import MODEL_NAME, BlazePose, Person, people_mask
from .second_views import SelfieSegmenter, facing_checked, limb_seen_in_grey
from .masks import HINT, clean_alpha, foreground_mask, refine_edges
from .pose import LIMB_ENDS, VISIBLE, PersonPose, write_pose_views

__all__ = ["PersonCut", "cut_person", "confident_mask", "limb_ends_joined", "extract_foreground", "clean_alpha",
           "foreground_mask", "HINT", "PersonPose", "write_pose_views", "detector_status"]

# progress within the foreground stage: (done, total, message); the engines map it onto their stage
TickFn = Callable[[float, float, str], None]
BOX_MARGIN = 0.1        # a person box given by the user is searched with this margin around it
MATTE_MIN_HEIGHT = 300  # people at least this tall (pixels) get the edge matte
CONFIDENT = 0.95        # MediaPipe's person probability over the body itself: ~1
CONFIDENT_REACH = 0.05  # of the person's height: the mask reaches at most this far beyond it
HALF_BELIEVED = 0.01    # of the mask's area: a confident region this large is the person's, and a
#                         stretch beyond its reach this large is not
BRIDGE = 0.2            # a hand or foot the mask cut off is joined back across probability at least this
BRIDGE_GAP = 0.04       # ... over a gap at most this much of the person's height
BRIDGE_NEAR = 0.01      # ... when a seen hand or foot landmark lies within this (of the height) of it
LIMB_END_AREA = 0.008   # of the height squared: a hand or a foot is no larger (a hand held out: ~0.002)
COMPLETION_ROUNDS = 2   # the colour completion, each round seeded by the last (`_completed_by_colour`)
MISSED_SHARE = 1.9      # the selfie segmenter's person this many times the mask's area: the mask lost much of
#                         them (of the benchmark's 512 photos: 2.2 and 2.4 where it held a coat's shirt and head
#                         alone, at most 1.63 elsewhere, where its coarser view lowered the IoU of all six tried)


@dataclass
class PersonCut:
    alpha: np.ndarray
    source: str
    pose: PersonPose | None = None
    people: int = 0                      # people the learned detector saw
    pose_mirrored: bool = False          # the pose was read from behind, but the face is seen: swapped

    def facts(self) -> dict:
        """What job.json records about this step."""
        return {"alpha_source": self.source, "pose_source": MODEL_NAME if self.pose is not None else None,
                "people_seen": self.people, "person_box": list(self.pose.box) if self.pose is not None else None,
                "pose_mirrored": self.pose_mirrored}


def detector_status() -> dict:
    """For `synchuman info`: whether the learned person detector can run here (loads it: ~1 s)."""
    detector = BlazePose.shared()
    return {"available": detector is not None, "model": MODEL_NAME,
            "reason": None if detector is not None else BlazePose.unavailable_reason}


def extract_foreground(photo, progress: TickFn | None = None) -> np.ndarray:
    """The person's alpha alone (uint8, the photo's size)."""
    return cut_person(photo, progress=progress).alpha


def cut_person(photo, person_box=None, progress: TickFn | None = None, alpha_model=None) -> PersonCut:
    """The foreground + pose step (see the module docstring). `alpha_model(rgb) -> uint8 alpha` is an
    engine's own background-removal model (cleaning its own output), used for photos without alpha
    instead of steps 3-4."""
    import logging

    log = logging.getLogger("synchuman.foreground")
    rgba, has_alpha = _rgba_of(photo)
    rgb = np.ascontiguousarray(rgba[..., :3])
    H, W = rgb.shape[:2]
    tick = progress or (lambda done, total, message="": None)
    region = _search_region(person_box, W, H)
    detector = BlazePose.shared()
    if detector is None:
        log.warning(f"The learned person detector is not available ({BlazePose.unavailable_reason}); no body pose, "
             "and photos without alpha use the classical foreground step, which fails more often on busy "
             "backgrounds. Run `python build.py setup` to install it.")
    if has_alpha or alpha_model is not None:
        tick(0, 2, "using the photo's alpha channel" if has_alpha else "removing the background")
        alpha = clean_alpha(rgba[..., 3]) if has_alpha else np.asarray(alpha_model(rgb), np.uint8)
        tick(1, 2, "finding the body pose")
        shown = _over_grey(rgb, alpha)
        people = detector.find_people(shown, _alpha_region(alpha, region)) if detector is not None else []
        tick(2, 2, "pose found" if people else "no body pose found")
        source = "photo" if has_alpha else getattr(alpha_model, "source", "model")
        pose, mirrored = facing_checked(shown, people[0].pose) if people else (None, False)
        return PersonCut(alpha, source, pose, len(people), mirrored)

    if detector is not None:
        tick(0, 4, "finding people")
        people = detector.find_people(rgb, region)
        if people:
            chosen = people[0]
            tick(1, 4, f"{len(people)} {'person' if len(people) == 1 else 'people'} found; refining the edge")
            if len(people) > 1 and person_box is None:
                x0, y0, x1, y1 = chosen.box
                log.warning(f"The photo shows {len(people)} people; the most prominent one (box {x0},{y0},{x1},{y1}) "
                     "was reconstructed. Choose another with --person-box X0,Y0,X1,Y1 (the panel's Person Box).")
            alpha = _learned_alpha(rgb, chosen)
            tick(2, 4, "person separated; looking for parts the mask missed")
            alpha = _completed_by_colour(detector, rgb, alpha, region, _missed_by_the_mask(rgb, alpha, region, people[1:]))
            alpha = _completed_in_grey(detector, rgb, alpha, chosen, region, people[1:])
            tick(3, 4, "reading the pose on the person alone")
            alone = detector.look_at(_over_grey(rgb, alpha), _alpha_region(alpha, region))
            pose, mirrored = facing_checked(rgb, (alone or chosen).pose)
            alpha = _backdrop_cut_out(rgb, alpha, pose)
            tick(4, 4, "pose found")
            return PersonCut(alpha, "learned", pose, len(people), mirrored)
        log.warning("The learned person detector found nobody; trying the classical foreground step.")
    alpha = _classical(rgb, region, tick)
    return PersonCut(alpha, "classical", None, 0)


def _learned_alpha(rgb: np.ndarray, person: Person) -> np.ndarray:
    """Full-resolution alpha of one person: their mask, with a two-colour matte along its edge where the
    person is large enough for it (on a small person the matte's band is as wide as a limb)."""
    H, W = rgb.shape[:2]
    prob = person.probability((H, W))
    x0, y0, x1, y1 = person.box
    ends = seen_limb_ends(person.pose)
    mask = limb_ends_joined(confident_mask(prob, y1 - y0, ends), prob, y1 - y0, ends)
    mask = hands_completed(rgb, mask, person.pose.image if person.pose is not None else None, y1 - y0)
    if y1 - y0 < MATTE_MIN_HEIGHT:
        return clean_alpha(np.where(mask, 255, 0).astype(np.uint8), "the photo")
    alpha = refine_edges(rgb, mask, scale=max(1.0, 1.0 / person.frame[2]))
    return clean_alpha(alpha, "the photo")


def _missed_by_the_mask(rgb: np.ndarray, alpha: np.ndarray, region, others=()) -> np.ndarray | None:
    """The person the selfie segmenter sees joined to the mask (bool, the photo's size) where they cover
    at least MISSED_SHARE of the mask's area, else None. Its mask is coarse and takes in the gaps
    beside arms and between legs: as a candidate on every photo it lowered the masks' IoU on 37 of
    64 benchmark photos; it is asked only where BlazePose's mask lost a large part of the person.
    It sees everyone, and a person beside the chosen one joins theirs: the other people BlazePose
    found (`others`: their `Person`s or bool masks) are left out of it (a real photo's two people: IoU
    0.88 -> 0.57)."""
    mask = alpha >= 128
    x0, y0, x1, y1 = region
    seen = np.zeros_like(mask)
    try:
        seen[y0:y1, x0:x1] = SelfieSegmenter.shared().person(rgb[y0:y1, x0:x1])
    except Exception:   # the same wheel as BlazePose's; any failure only loses this second opinion
        import logging

        logging.getLogger("synchuman.foreground").debug("selfie segmenter unavailable", exc_info=True)
        return None
    person = _joined(seen, mask)
    if person.sum() < MISSED_SHARE * mask.sum():
        return None
    if len(others):   # leaving them out only shrinks the person: their masks are made only here
        seen &= ~people_mask(others, mask.shape)
        person = _joined(seen, mask)
    return person if person.sum() >= MISSED_SHARE * mask.sum() else None


def _joined(seen: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The pieces of `seen | mask` that hold some of `mask`."""
    import cv2

    pieces = cv2.connectedComponents((seen | mask).astype(np.uint8), connectivity=8)[1]
    touched = np.unique(pieces[mask])
    return np.isin(pieces, touched[touched > 0])


def _completed_by_colour(detector: BlazePose, rgb: np.ndarray, alpha: np.ndarray, region,
                         missed: np.ndarray | None = None) -> np.ndarray:
    """The alpha with the parts its mask missed, where a look at the grown person confirms them
    (`completion`), in up to COMPLETION_ROUNDS rounds, each seeded by the last: the pose read on a
    person missing both forearms folds the arms, and only the forearms found in the first round
    straighten them, so that the hands beyond can be confirmed in the next. `missed`
    (`_missed_by_the_mask`) joins the colour's candidates in every round, and where the look's
    probability confirms it, it is added whether or not the look's skeleton reaches it: seed 9's
    second look put both legs on one, and the other was left out."""
    for _ in range(COMPLETION_ROUNDS):
        completed = _completion_round(detector, rgb, alpha, region, missed)
        if completed is alpha:
            break
        alpha = completed
    return alpha


def _completion_round(detector: BlazePose, rgb: np.ndarray, alpha: np.ndarray, region,
                      missed: np.ndarray | None = None) -> np.ndarray:
    """One round of `_completed_by_colour`: `alpha` itself where nothing is added."""
    mask = alpha >= 128
    x0, y0, x1, y1 = region
    grown = mask.copy()
    grown[y0:y1, x0:x1] = grown_by_colour(rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1])   # the chosen person's region
    if missed is not None:
        grown |= missed
    return _confirmed_look(detector, rgb, alpha, region, grown, missed)


def _completed_in_grey(detector: BlazePose, rgb: np.ndarray, alpha: np.ndarray, chosen: Person, region,
                       others=()) -> np.ndarray:
    """The alpha with a limb it still lacks after the colour's completion, as the grey look sees it
    (`second_views.limb_seen_in_grey`), where a look at the grown person confirms it along its
    skeleton (no colour cut about it: seeded by a dark arm over dark brick, it takes in the bricks);
    `alpha` itself where nothing is added."""
    limb = limb_seen_in_grey(detector, rgb, alpha, chosen, region, others)
    return alpha if limb is None else _confirmed_look(detector, rgb, alpha, region, (alpha >= 128) | limb)


def _confirmed_look(detector: BlazePose, rgb: np.ndarray, alpha: np.ndarray, region, grown: np.ndarray,
                    missed: np.ndarray | None = None) -> np.ndarray:
    """`alpha` with what of `grown` a look at the grown person over grey confirms (`completion.confirmed`;
    and of `missed`, what its probability confirms); `alpha` itself where nothing is added."""
    mask = alpha >= 128
    if not large_pieces(grown & ~mask, mask).any():   # nothing could be kept: no second look
        return alpha
    shown = np.where(grown, 255, 0).astype(np.uint8)
    look = detector.look_at(_over_grey(rgb, shown), _alpha_region(shown, region))
    if look is None:
        return alpha
    prob = look.probability(mask.shape)
    added = confirmed(mask, grown, prob, look.pose)
    if missed is not None:   # two learned views agree there, where the look's pose may still leave out a limb
        added |= large_pieces(missed & ~mask & (prob >= CONFIRMED), mask)
    if not added.any():
        return alpha
    out = alpha.copy()
    out[added] = 255
    return clean_alpha(out, "the photo")


def _backdrop_cut_out(rgb: np.ndarray, alpha: np.ndarray, pose: PersonPose | None) -> np.ndarray:
    """The alpha without the backdrop its mask took in (`backdrop.without_backdrop`); after the pose is
    read, which it leaves as it is."""
    if pose is None:
        return alpha
    mask = alpha >= 128
    kept = without_backdrop(rgb, mask, pose)
    if kept is mask:
        return alpha
    out = alpha.copy()
    out[~kept] = 0
    return clean_alpha(out, "the photo")


def confident_mask(prob: np.ndarray, height_px: float, limb_ends=()) -> np.ndarray:
    """The person's mask: probability at least 0.5, less each large stretch (HALF_BELIEVED of the
    mask's area) lying further than CONFIDENT_REACH of the person's height from where the probability
    is CONFIDENT over a large region (the body: specks of confidence in a stretch do not count), unless
    it is the size of a hand or a foot (LIMB_END_AREA) with a seen hand or foot landmark (`limb_ends`,
    pixel (x, y)) on it: an arm held out is long (the camera photo's hand landmarks, misread on the
    skyline, lie on a stretch ten times a hand's size). The soft band along a true outline is a few
    pixels wide, and fingertips are small; a stretch of background the model half-believes (a skyline
    strip joined to a held camera) is wide, never confident, and is cut off."""
    import cv2

    mask = prob >= 0.5
    area = max(int(mask.sum()), 1)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((prob >= CONFIDENT).astype(np.uint8), connectivity=8)
    body = np.isin(labels, np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= HALF_BELIEVED * area) + 1)
    if not body.any():
        return mask
    far = mask & (cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 5) > CONFIDENT_REACH * height_px)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(far.astype(np.uint8), connectivity=8)
    sizes = stats[:, cv2.CC_STAT_AREA]
    large = np.setdiff1d(np.flatnonzero(sizes[1:] >= HALF_BELIEVED * area) + 1,
                         [i for i in _pieces_at(labels, limb_ends, height_px)
                          if sizes[i] <= LIMB_END_AREA * height_px ** 2])
    return mask & ~np.isin(labels, large) if len(large) else mask


def limb_ends_joined(mask: np.ndarray, prob: np.ndarray, height_px: float, limb_ends) -> np.ndarray:
    """The mask with the hands and feet it holds as separate pieces joined back to the body. MediaPipe's
    probability often dips below 0.5 across a wrist held out over a skin-coloured wall, leaving the
    hand a piece of its own that the clean-up would drop as a speck (and the pose, read again on the
    person alone, then loses the forearm too). A piece is joined when a seen hand or foot landmark
    (`limb_ends`) lies on it and the probability stays at least BRIDGE across the gap, of at most
    BRIDGE_GAP of the height: the bridge is those pixels, where they lie between the two."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    body = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    pieces = np.setdiff1d(_pieces_at(labels, limb_ends, height_px), [body])
    if not len(pieces):
        return mask
    reach = cv2.connectedComponents((prob >= BRIDGE).astype(np.uint8), connectivity=8)[1]
    body_reach = np.unique(reach[labels == body])
    from_body = cv2.distanceTransform((labels != body).astype(np.uint8), cv2.DIST_L2, 5)
    slack = 2 * max(2.0, BRIDGE_NEAR * height_px)
    out = mask.copy()
    for i in pieces:
        piece = labels == i
        gap = float(from_body[piece].min())
        if gap > BRIDGE_GAP * height_px or not np.isin(reach[piece], body_reach).any():
            continue
        from_piece = cv2.distanceTransform((~piece).astype(np.uint8), cv2.DIST_L2, 5)
        between = from_body + from_piece <= gap + slack   # the points on short paths from one to the other
        out |= piece | (between & (prob >= BRIDGE))
    return out


def seen_limb_ends(pose: PersonPose | None) -> list[tuple[int, int]]:
    """The seen hand and foot landmarks, as pixels (x, y)."""
    if pose is None:
        return []
    return [(int(round(u)), int(round(v))) for u, v, visibility, _ in pose.image[list(LIMB_ENDS)]
            if visibility >= VISIBLE]


def _pieces_at(labels: np.ndarray, points, height_px: float) -> np.ndarray:
    """The labels (not 0) found within BRIDGE_NEAR of the height of any of `points`."""
    near = max(2, int(round(BRIDGE_NEAR * height_px)))
    found = [labels[max(0, y - near):y + near + 1, max(0, x - near):x + near + 1] for x, y in points]
    found = np.unique(np.concatenate([f.ravel() for f in found])) if found else np.zeros(0, labels.dtype)
    return found[found != 0]


def _classical(rgb: np.ndarray, region, tick) -> np.ndarray:
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = region
    if (x0, y0, x1, y1) == (0, 0, W, H):
        return segment_rgb(rgb, tick)
    alpha = np.zeros((H, W), np.uint8)
    alpha[y0:y1, x0:x1] = segment_rgb(np.ascontiguousarray(rgb[y0:y1, x0:x1]), tick)
    return alpha


def _search_region(person_box, W: int, H: int) -> tuple[int, int, int, int]:
    if person_box is None:
        return 0, 0, W, H
    x0, y0, x1, y1 = person_box
    m = BOX_MARGIN * max(x1 - x0, y1 - y0)
    region = (max(0, int(x0 - m)), max(0, int(y0 - m)), min(W, int(np.ceil(x1 + m))), min(H, int(np.ceil(y1 + m))))
    if region[2] - region[0] < 16 or region[3] - region[1] < 16:
        raise SyncHumanError("settings.invalid", f"The person box {list(person_box)} lies outside the {W}x{H} photo.",
                             "Give the box in the photo's pixels: x0,y0,x1,y1 from its top-left corner.")
    return region


def _alpha_region(alpha: np.ndarray, region) -> tuple[int, int, int, int]:
    """The region around a cut-out's person, so the detector sees them large."""
    ys, xs = np.nonzero(alpha >= 128)
    H, W = alpha.shape
    m = int(0.1 * max(ys.max() - ys.min(), xs.max() - xs.min()))
    box = (max(region[0], xs.min() - m), max(region[1], ys.min() - m), min(region[2], xs.max() + 1 + m),
           min(region[3], ys.max() + 1 + m))
    return tuple(int(v) for v in box)


def _over_grey(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    return (rgb * a + 128.0 * (1 - a)).astype(np.uint8)


def _rgba_of(photo) -> tuple[np.ndarray, bool]:
    if hasattr(photo, "rgba"):
        return photo.rgba, bool(photo.has_alpha)
    arr = np.asarray(photo)
    if arr.ndim == 2:
        arr = np.dstack([arr] * 3)
    if arr.dtype != np.uint8:
        raise TypeError("the foreground step expects uint8 images")
    if arr.shape[2] == 4:
        from ..images import alpha_is_meaningful

        return arr, alpha_is_meaningful(arr[..., 3])
    return np.dstack([arr[..., :3], np.full(arr.shape[:2], 255, np.uint8)]), False
