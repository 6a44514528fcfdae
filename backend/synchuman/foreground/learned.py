"""The learned person detector: MediaPipe BlazePose, offline.

The mediapipe 0.10.21 wheel ships the models (Apache-2.0): a person detector, the "full" landmark model
(33 landmarks in the image and in metres) and a person segmentation mask (the face detector and the
selfie segmenter used beside it: `second_views`). Newer wheels download their models at run time,
which cannot work offline, so the version is pinned (docs/development.md).

    detector = BlazePose.shared()          # None when mediapipe is not installed (see `unavailable_reason`)
    people = detector.find_people(rgb)     # every person found, most prominent first
    person = people[0]
    prob = person.probability((H, W))      # float32 person probability in the photo's frame

How people are found (the legacy pose solution sees one person per call):
1. the photo, at most `DETECT_SIDE` px, goes through the detector; each person found is hidden (filled
   with the colours around them) and the detector runs again, up to `MAX_PEOPLE` people;
2. when nobody is found, the whole photo is looked at again at other sizes (`OTHER_SIDES`): the
   detector's reading depends on the scale, and a person in a T-pose and a long coat over a busy photo
   was found at one size and not at another; the most prominent person found is kept;
3. when still nobody is found, overlapping tiles are searched, for people too small for a whole-frame look;
   when they find nobody either, the photo is looked at once more, smaller, in a grey frame (`FRAMED`):
   a half-body person filling a photo found at no size is found with room about her;
4. a person covering less than `SMALL_PERSON` of the frame, or seen at a reduced scale, is looked at
   again on a crop around them, so the landmark and mask models see them at a useful size.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pose import LANDMARK, PersonPose

log = logging.getLogger("synchuman.foreground")

MEDIAPIPE_VERSION = "0.10.21"
MODEL_NAME = f"MediaPipe BlazePose full (mediapipe {MEDIAPIPE_VERSION}, Apache-2.0)"
DETECT_SIDE = 640        # people are searched on a copy at most this large (the detector itself works at 224 px)
CROP_SIDE = 1024         # a person looked at again is cropped and scaled to at most this
OTHER_SIDES = (256, 1024)  # where a look at DETECT_SIDE finds nobody, the whole photo is looked at at these sizes
FRAMED, FRAME_GREY = 1.0, 128  # the grey frame's width on each side, in the photo's longest sides, and its grey
MAX_PEOPLE = 3
SMALL_PERSON = 0.15      # a person whose box covers less of the frame than this is looked at again on a crop
MIN_SCALE_PX = 512       # ... and so is one seen less than this tall at the detection scale
MASK_THRESHOLD = 0.5
GROW_LOOKS = 2           # a person whose mask the crop of the second look cuts is looked at again this often, past the cut


@dataclass
class Person:
    """One person found: the landmarks in photo pixels, and the mask in the frame it was computed in."""

    pose: PersonPose
    prob: np.ndarray                         # float32 (h, w) person probability in the detection frame
    frame: tuple[float, float, float]        # (x0, y0, scale): photo (u, v) = (x0, y0) + frame px / scale
    photo_size: tuple[int, int]              # (W, H)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.pose.box

    def area_fraction(self) -> float:
        x0, y0, x1, y1 = self.box
        W, H = self.photo_size
        return (x1 - x0) * (y1 - y0) / float(W * H)

    def prominence(self) -> float:
        """Largest, most central, most complete: the person the photo is about."""
        W, H = self.photo_size
        x0, y0, x1, y1 = self.box
        cx, cy = (x0 + x1) / (2 * W) - 0.5, (y0 + y1) / (2 * H) - 0.5
        centrality = float(np.clip(1.2 - 1.2 * np.hypot(cx, cy), 0.1, 1.0))
        return self.area_fraction() * centrality * (0.3 + 0.7 * self.pose.completeness)

    def upright(self) -> bool:
        """Head above shoulders above hips, with a torso of a plausible length for the box: how a second
        person found in the clutter left after hiding the first one is told from a real one."""
        v = {name: self.pose.image[LANDMARK[name], 1] for name in LANDMARK}
        shoulders = (v["left_shoulder"] + v["right_shoulder"]) / 2
        hips = (v["left_hip"] + v["right_hip"]) / 2
        x0, y0, x1, y1 = self.box
        return bool(v["nose"] < shoulders < hips and hips - shoulders >= 0.15 * (y1 - y0))

    def probability(self, size: tuple[int, int]) -> np.ndarray:
        """float32 (H, W) person probability in the photo's frame (0 outside the detection frame)."""
        import cv2

        H, W = size
        x0, y0, s = self.frame
        m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float64)   # photo -> frame
        # pixel centres: frame px (i + .5) = s * (photo px (u + .5) - x0)
        m[:, 2] += 0.5 * s - 0.5
        return cv2.warpAffine(self.prob, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def people_mask(people, shape: tuple[int, int]) -> np.ndarray:
    """Where any of `people` (their `Person`s, or bool masks) is (bool, `shape`): the other people found,
    left out of a second view of the chosen one."""
    where = np.zeros(shape, bool)
    for person in people:
        where |= person.probability(shape) >= MASK_THRESHOLD if isinstance(person, Person) else person
    return where


def box_iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1)


def box_overlap(a, b) -> float:
    """Fraction of box `a` inside box `b`."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / max((a[2] - a[0]) * (a[3] - a[1]), 1)


class BlazePose:
    """The pose graph, made once per process (it is not thread-safe: calls are serialised)."""

    _shared: "BlazePose | None" = None
    _shared_lock = threading.Lock()
    unavailable_reason: str | None = None

    def __init__(self) -> None:
        solutions_pose = _import_pose_solution()
        with _quiet_native_stderr():
            self._graph = solutions_pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True)
            self._graph.process(_warm_up_photo())   # the first detection sets up both models
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> "BlazePose | None":
        """The process's detector, or None when mediapipe cannot be used (`unavailable_reason` says why)."""
        with cls._shared_lock:
            if cls._shared is None and cls.unavailable_reason is None:
                try:
                    cls._shared = cls()
                except Exception as exc:   # any failure of an optional accelerator means "not available"
                    cls.unavailable_reason = f"{type(exc).__name__}: {exc}"
                    log.debug("mediapipe unavailable", exc_info=True)
            return cls._shared

    # -- one call of the graph ---------------------------------------------------------------------
    def _detect(self, image: np.ndarray, frame: tuple[float, float, float], photo_size) -> Person | None:
        with self._lock:
            result = self._graph.process(np.ascontiguousarray(image))
        if result.pose_landmarks is None or result.segmentation_mask is None:
            return None
        h, w = image.shape[:2]
        x0, y0, s = frame
        lm = np.array([[p.x, p.y, p.visibility, p.presence] for p in result.pose_landmarks.landmark], np.float32)
        lm[:, 0] = x0 + lm[:, 0] * w / s
        lm[:, 1] = y0 + lm[:, 1] * h / s
        world = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark], np.float32)
        prob = np.asarray(result.segmentation_mask, np.float32)
        mask = prob >= MASK_THRESHOLD
        if mask.sum() < 0.0005 * h * w:
            return None
        ys, xs = np.nonzero(mask)
        seen = lm[lm[:, 2] >= 0.5]
        W, H = photo_size
        bx0 = min(x0 + xs.min() / s, *(seen[:, 0] if len(seen) else [np.inf]))
        by0 = min(y0 + ys.min() / s, *(seen[:, 1] if len(seen) else [np.inf]))
        bx1 = max(x0 + (xs.max() + 1) / s, *(seen[:, 0] if len(seen) else [-np.inf]))
        by1 = max(y0 + (ys.max() + 1) / s, *(seen[:, 1] if len(seen) else [-np.inf]))
        box = (int(max(0, np.floor(bx0))), int(max(0, np.floor(by0))), int(min(W, np.ceil(bx1))),
               int(min(H, np.ceil(by1))))
        return Person(PersonPose(lm, world, box), prob, frame, photo_size)

    def _detect_region(self, rgb: np.ndarray, region, side: int) -> Person | None:
        x0, y0, x1, y1 = region
        work = _at_most(rgb[y0:y1, x0:x1], side)
        return self._detect(work, (x0, y0, work.shape[1] / (x1 - x0)), (rgb.shape[1], rgb.shape[0]))

    def look_at(self, rgb: np.ndarray, region: tuple[int, int, int, int]) -> Person | None:
        """One look at `region` for the person there (no search for others, no second look): for a
        person already found, seen again alone."""
        return self._detect_region(rgb, region, DETECT_SIDE)

    # -- people in a photo -------------------------------------------------------------------------
    def find_people(self, rgb: np.ndarray, region: tuple[int, int, int, int] | None = None) -> list[Person]:
        """Every person found in `region` (default: the whole photo), most prominent first; the first is
        refined on a crop when small."""
        H, W = rgb.shape[:2]
        region = region or (0, 0, W, H)
        x0, y0, x1, y1 = region
        work = _at_most(rgb[y0:y1, x0:x1], DETECT_SIDE)
        frame = (x0, y0, work.shape[1] / (x1 - x0))
        found: list[Person] = []
        for _ in range(MAX_PEOPLE):
            person = self._detect(work, frame, (W, H))
            if person is None or any(box_iou(person.box, p.box) > 0.5 for p in found):
                break
            if found and not (person.upright() and person.pose.completeness >= 0.75):
                break   # after the first, a look at what is left can "find" a person in the clutter
            found.append(person)
            work = _hide(work, person.prob >= 0.2)
        if not found:
            found = self._other_sizes(rgb, region)
        if not found:
            found = self._search_tiles(rgb, region)
        if not found:
            found = self._framed_look(rgb, region)
        found.sort(key=lambda p: -p.prominence())
        if found:
            found[0] = self.refine(rgb, found[0], region)
        return found

    def _other_sizes(self, rgb: np.ndarray, region) -> list[Person]:
        """The most prominent person of one look at the whole region at each of OTHER_SIDES that scales it
        otherwise than DETECT_SIDE did (none: [])."""
        longest = max(region[2] - region[0], region[3] - region[1])
        sides = [side for side in OTHER_SIDES if min(side, longest) != min(DETECT_SIDE, longest)]
        looks = [self._detect_region(rgb, region, side) for side in sides]
        looks = [person for person in looks if person is not None]
        return [max(looks, key=lambda p: p.prominence())] if looks else []

    def _search_tiles(self, rgb: np.ndarray, region) -> list[Person]:
        """Overlapping tiles, for a person too small to be found in a look at the whole frame."""
        x0, y0, x1, y1 = region
        w, h = x1 - x0, y1 - y0
        found: list[Person] = []
        for fx, fy, f in ((0.2, 0.2, 0.6), (0, 0, 0.6), (0.4, 0, 0.6), (0, 0.4, 0.6), (0.4, 0.4, 0.6)):
            tile = (x0 + int(fx * w), y0 + int(fy * h), x0 + int((fx + f) * w), y0 + int((fy + f) * h))
            person = self._detect_region(rgb, tile, DETECT_SIDE)
            if person is not None and not any(box_iou(person.box, p.box) > 0.3 for p in found):
                found.append(person)
        return found

    def _framed_look(self, rgb: np.ndarray, region) -> list[Person]:
        """The person of one look at the region in a grey frame FRAMED of its size wide on every side, at
        most DETECT_SIDE px in all (scaled before it is framed: a framed 6000 px photo takes 1 GB); []
        for nobody, or for a person whose shoulders' centre lies outside the region."""
        import cv2

        x0, y0, x1, y1 = region
        crop = _at_most(rgb[y0:y1, x0:x1], int(DETECT_SIDE / (1 + 2 * FRAMED)))
        s, pad = crop.shape[1] / (x1 - x0), int(round(FRAMED * max(crop.shape[:2])))
        framed = cv2.copyMakeBorder(np.ascontiguousarray(crop), pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                    value=(FRAME_GREY,) * 3)
        person = self._detect(framed, (x0 - pad / s, y0 - pad / s, s), (rgb.shape[1], rgb.shape[0]))
        if person is None:
            return []
        u, v = person.pose.image[[LANDMARK["left_shoulder"], LANDMARK["right_shoulder"]], :2].mean(0)
        return [person] if x0 <= u < x1 and y0 <= v < y1 else []

    def refine(self, rgb: np.ndarray, person: Person, region) -> Person:
        """The same person looked at again on a crop around them when they are small in the frame or
        were seen at a reduced scale; kept as they are when the second look finds nobody there. The
        crop is the first look's box and a margin, and that box can be short: dark trouser legs on dark
        grass were missed at the first look's scale, and the crop then cut the mask at the shins. Where
        the mask runs into the crop's edge inside `region`, the crop grows past it by the margin and the
        person is looked at again (up to GROW_LOOKS times)."""
        x0, y0, x1, y1 = person.box
        seen_height = (y1 - y0) * person.frame[2]
        rx0, ry0, rx1, ry1 = region
        small = (x1 - x0) * (y1 - y0) < SMALL_PERSON * (rx1 - rx0) * (ry1 - ry0)
        if not small and seen_height >= min(MIN_SCALE_PX, y1 - y0):
            return person
        m = 0.25 * max(x1 - x0, y1 - y0)
        crop = (max(rx0, int(x0 - m)), max(ry0, int(y0 - m)), min(rx1, int(x1 + m)), min(ry1, int(y1 + m)))
        for _ in range(1 + GROW_LOOKS):
            again = self._detect_region(rgb, crop, CROP_SIDE)
            if again is None or box_iou(again.box, person.box) < 0.3:
                return person
            person = again
            grown = _grown_past_cuts(crop, again.prob >= MASK_THRESHOLD, region, m)
            if grown == crop:
                break
            crop = grown
        return person


def _grown_past_cuts(crop, mask: np.ndarray, region, margin: float) -> tuple[int, int, int, int]:
    """`crop` (x0, y0, x1, y1 in the photo) moved out by `margin` on each side where `mask` (the person in
    the crop's frame) runs into its edge, within `region`."""
    x0, y0, x1, y1 = crop
    rx0, ry0, rx1, ry1 = region
    if mask[:, 0].any():
        x0 = max(rx0, int(x0 - margin))
    if mask[0].any():
        y0 = max(ry0, int(y0 - margin))
    if mask[:, -1].any():
        x1 = min(rx1, int(x1 + margin))
    if mask[-1].any():
        y1 = min(ry1, int(y1 + margin))
    return x0, y0, x1, y1


def _warm_up_photo() -> np.ndarray:
    """The bundled example person at 256 px: a first call that runs every model of the graph."""
    from PIL import Image

    with Image.open(Path(__file__).resolve().parents[1] / "data" / "examples" / "person.png") as img:
        img = img.convert("RGB")
        img.thumbnail((256, 256))
        return np.asarray(img)


def _at_most(image: np.ndarray, side: int) -> np.ndarray:
    """`image` scaled down (area-averaged) to at most `side` px on its longer side."""
    import cv2

    s = min(1.0, side / max(image.shape[:2]))
    if s >= 1:
        return image
    return cv2.resize(image, (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))),
                      interpolation=cv2.INTER_AREA)


def _hide(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image` with the masked person replaced by the colours around them, so the next look finds others.
    The fill is a normalised blur computed at 1/8 scale: it only has to look like background."""
    import cv2

    h, w = image.shape[:2]
    grow = max(3, int(0.04 * max(h, w)))
    hidden = cv2.dilate(mask.astype(np.uint8), np.ones((grow, grow), np.uint8)) > 0
    small = (max(1, w // 8), max(1, h // 8))
    keep = cv2.resize((~hidden).astype(np.float32), small, interpolation=cv2.INTER_AREA)
    img = cv2.resize(image.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    sigma = max(1.0, 0.05 * max(small))
    num = cv2.GaussianBlur(img * keep[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(keep, (0, 0), sigma)
    fill = cv2.resize(num / np.maximum(den, 1e-3)[..., None], (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[hidden] = np.clip(fill[hidden], 0, 255).astype(np.uint8)
    return out


# -- importing mediapipe ----------------------------------------------------------------------------


def _import_pose_solution():
    """mediapipe's legacy pose solution, without the package's `__init__`, which imports every solution,
    the Tasks API and matplotlib (3.3 s, against 0.9 s for what the pose graph needs)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    if "mediapipe.python.solutions.pose" in sys.modules:
        return sys.modules["mediapipe.python.solutions.pose"]
    spec = importlib.util.find_spec("mediapipe")
    if spec is None:
        raise ImportError("mediapipe is not installed (python build.py setup installs it)")
    from importlib.metadata import version

    found = version("mediapipe")
    if found != MEDIAPIPE_VERSION:
        raise ImportError(f"mediapipe {found} is installed; {MEDIAPIPE_VERSION} is the last release that ships "
                          "its models offline")
    for name in ("mediapipe", "mediapipe.python.solutions"):
        if name not in sys.modules:
            if name != "mediapipe":
                import mediapipe.python  # noqa: F401  (the framework bindings, a real package init)
            sub = importlib.util.find_spec(name)
            shell = types.ModuleType(name)
            shell.__path__ = list(sub.submodule_search_locations)
            shell.__spec__ = sub
            sys.modules[name] = shell
    from mediapipe.python.solutions import pose

    return pose


class _quiet_native_stderr:
    """The graph's native code prints set-up chatter (TFLite delegate, glog) on file descriptor 2. Capture it
    while the graph is made and warmed up; anything else written meanwhile is passed on afterwards."""

    CHATTER = ("INFO: Created TensorFlow Lite", "WARNING: All log messages before absl::InitializeLog",
               "inference_feedback_manager.cc", "gl_context", "Feedback manager requires")

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        for line in self._file.read().decode("utf-8", "replace").splitlines():
            if line.strip() and not any(c in line for c in self.CHATTER):
                print(line, file=sys.stderr)
        self._file.close()
        return False
