"""Two more of MediaPipe's graphs from the same wheel (Apache-2.0), asked beside BlazePose (`learned`):
its short-range face detector, which tells a face from the back of a head (`facing_checked`), and its
selfie segmenter, a second, coarse view of where a person is (the foreground step's
`_missed_by_the_mask`); and BlazePose itself, looking at the photo's grey for a limb the mask missed
(`limb_seen_in_grey`)."""

from __future__ import annotations

import logging
import threading

import numpy as np

from .backdrop import LIMB_END_BONES
from .completion import BONES, draw_bones
from .learned import (CROP_SIDE, MASK_THRESHOLD, BlazePose, Person, _at_most, _import_pose_solution,
                      _quiet_native_stderr, _warm_up_photo, box_overlap, people_mask)
from .pose import LANDMARK, LIMB_ENDS, VISIBLE, PersonPose

log = logging.getLogger("synchuman.foreground")
GREY_LIMB_OUTSIDE = 0.05  # of the height: a hand or foot the grey look sees this far outside the mask
GREY_LIMB_HALF_WIDTH = 0.025  # of the height: what it adds lies this near its bones (a forearm: ~0.018)
GREY_SAME_PERSON = 0.5  # of the chosen person's box inside the grey look's: the same person
FACE_SCORE = 0.7  # BlazeFace's score on the head's crop above which the face is seen (a back: 0.0, a profile: ~0.5)


class _MadeOnce:
    """A helper graph beside BlazePose, made once per process by `shared()` (the graphs are not
    thread-safe: each serialises its calls with its own lock)."""

    _made: dict = {}
    _making = threading.Lock()

    @classmethod
    def shared(cls):
        with cls._making:
            if cls not in cls._made:
                cls._made[cls] = cls()
            return cls._made[cls]


class BlazeFace(_MadeOnce):
    """MediaPipe's short-range face detector (the same wheel, Apache-2.0), made once per process, to tell
    a face from the back of a head."""

    def __init__(self) -> None:
        _import_pose_solution()   # the package shell the solutions import from
        from mediapipe.python.solutions import face_detection

        with _quiet_native_stderr():
            self._graph = face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.3)
        self._lock = threading.Lock()

    def face_score(self, rgb: np.ndarray, pose: PersonPose) -> float:
        """The best face score on a square crop about the head's landmarks (0: no face)."""
        import cv2

        im = pose.image
        head = im[[LANDMARK[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")], :2]
        shoulders = np.linalg.norm(im[LANDMARK["left_shoulder"], :2] - im[LANDMARK["right_shoulder"], :2])
        half = 1.6 * max(float(np.ptp(head[:, 0])), 0.5 * float(shoulders), 16.0)
        cx, cy = head.mean(0)
        H, W = rgb.shape[:2]
        x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
        x1, y1 = int(min(cx + half, W)), int(min(cy + half, H))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return 0.0
        crop = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), (256, 256), interpolation=cv2.INTER_LINEAR)
        with self._lock:
            found = self._graph.process(crop).detections or []
        return max((float(d.score[0]) for d in found), default=0.0)


class SelfieSegmenter(_MadeOnce):
    """MediaPipe's selfie segmenter (its general model, 256 x 256; the same wheel, Apache-2.0), made
    once per process: a second, coarse opinion on where a person is. On the benchmark's coffee photo
    with a watermark, BlazePose's mask held only a coat's shirt and head (the sleeves, the coat and the
    legs under 0.05) where this one covers the whole person."""

    def __init__(self) -> None:
        _import_pose_solution()   # the package shell the solutions import from
        from mediapipe.python.solutions import selfie_segmentation

        with _quiet_native_stderr():
            self._graph = selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._graph.process(_warm_up_photo())   # its delegate's set-up chatter, captured
        self._lock = threading.Lock()

    def person(self, rgb: np.ndarray) -> np.ndarray:
        """Where the segmenter sees people (bool, `rgb`'s size): probability at least MASK_THRESHOLD.
        It looks at a copy at most CROP_SIDE px (the model itself works at 256 px; its mask comes at
        the input's size, a large photo's in floats)."""
        import cv2

        work = _at_most(rgb, CROP_SIDE)
        with self._lock:
            prob = self._graph.process(np.ascontiguousarray(work)).segmentation_mask
        prob = np.clip(np.asarray(prob) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if work.shape[:2] != rgb.shape[:2]:
            prob = cv2.resize(prob, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return prob >= round(MASK_THRESHOLD * 255)


def facing_checked(rgb: np.ndarray, pose: PersonPose) -> tuple[PersonPose, bool]:
    """The pose, mirrored where BlazePose read a person seen from behind but the photo shows their face
    (it does so on some front views: the fitted body would then face away, its face textured on the back
    of the head); and whether it was mirrored."""
    if not pose.faces_away():
        return pose, False
    try:
        score = BlazeFace.shared().face_score(rgb, pose)
    except Exception:   # no face graph: keep BlazePose's reading
        log.debug("face detector unavailable", exc_info=True)
        return pose, False
    if score < FACE_SCORE:
        return pose, False
    log.info("the pose was read from behind, but the face is seen (score %.2f): left and right swapped", score)
    return pose.mirrored(), True


def limb_seen_in_grey(detector: BlazePose, rgb: np.ndarray, alpha: np.ndarray, chosen: Person, region,
                      others=()) -> np.ndarray | None:
    """A limb the mask missed, as BlazePose sees it in the photo's lightness alone: the pieces of that
    look's person outside the mask (bool, the photo's size) that hold a hand or foot landmark it sees
    beyond the mask's reach (GREY_LIMB_OUTSIDE of the height from it), along the look's bones
    (GREY_LIMB_HALF_WIDTH); None where there is none, or the look finds someone else. A dark forearm
    held out over dark red brick had probability 0.05-0.4 in colour, and neither the colour cut nor
    the selfie segmenter found it; in grey, where its hue no longer matches the brick's, it has
    0.9-1.0. Everything else the grey look sees differently is left out: as a candidate on every photo
    it changed 228 of the benchmark's 512 masks, 133 for the worse (a half-body person's grey look took
    in the lines of a cat's face behind her), and hands it saw beside the mask's own took in dark
    bricks above arms held out, in the colour of their dark skin. A candidate only: the foreground
    step's `_completed_in_grey` keeps what the look at the grown person confirms along its skeleton.
    The other people found (`others`) are left out of it."""
    import cv2

    mask = alpha >= 128
    if not mask.any():
        return None
    x0, y0, x1, y1 = region
    grey = np.zeros_like(rgb)
    grey[y0:y1, x0:x1] = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)[..., None]
    look = detector.look_at(grey, region)
    if look is None or box_overlap(chosen.box, look.box) < GREY_SAME_PERSON:
        return None
    rows = np.flatnonzero(mask.any(1))
    height = rows[-1] - rows[0] + 1
    reach = GREY_LIMB_OUTSIDE * height
    H, W = mask.shape
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    ends = [(min(max(int(u), 0), W - 1), min(max(int(v), 0), H - 1))
            for u, v, visibility, _ in look.pose.image[list(LIMB_ENDS)] if visibility >= VISIBLE]
    far = [(x, y) for x, y in ends if outside[y, x] >= reach]
    if not far:
        return None
    seen = (look.probability(mask.shape) >= MASK_THRESHOLD) & ~mask & ~people_mask(others, mask.shape)
    pieces = cv2.connectedComponents(seen.astype(np.uint8), connectivity=8)[1]
    held = np.unique([pieces[y, x] for x, y in far])
    # along the look's own bones: its probability spreads over dark bricks beside a dark arm
    bones = np.zeros(mask.shape, np.uint8)
    for pairs in (BONES, LIMB_END_BONES):
        draw_bones(bones, look.pose.image[:, :2], look.pose.image[:, 2] >= VISIBLE, pairs, GREY_LIMB_HALF_WIDTH * height)
    limbs = np.isin(pieces, held[held > 0]) & (bones > 0)
    return limbs if limbs.any() else None
