"""Where the head is, and which colour its back should be.

The photo shows the face; the back of the head should show hair. The head is found with OpenCV's
Haar frontal-face detector (looked for in the top part of the person only), or, when no face is
found, from the silhouette: the top of the figure down to the narrowest row (the neck) before the
shoulders widen.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_CASCADE: cv2.CascadeClassifier | None = None


def _cascade() -> cv2.CascadeClassifier | None:
    global _CASCADE
    if _CASCADE is None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        c = cv2.CascadeClassifier(path)
        _CASCADE = c if not c.empty() else False
    return _CASCADE or None


@dataclass
class Head:
    mask: np.ndarray                    # (h, w) bool in the frame it was found in
    face: tuple[int, int, int, int] | None   # (x, y, w, h) of a detected face, same frame
    top: int
    bottom: int                         # the chin / neck row

    def resized(self, shape: tuple[int, int]) -> "Head":
        """The same head in a resized frame of `shape` (h, w)."""
        sy, sx = shape[0] / self.mask.shape[0], shape[1] / self.mask.shape[1]
        mask = cv2.resize(self.mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        face = None if self.face is None else (int(self.face[0] * sx), int(self.face[1] * sy),
                                               max(1, int(self.face[2] * sx)), max(1, int(self.face[3] * sy)))
        return Head(mask, face, int(self.top * sy), int(self.bottom * sy))

    def cropped(self, box: tuple[int, int, int, int]) -> "Head":
        """This head (found in a whole photo) in the frame of the photo's box (u0, v0, u1, v1)."""
        u0, v0, u1, v1 = box
        H, W = self.mask.shape
        src = self.mask[max(v0, 0):min(v1, H), max(u0, 0):min(u1, W)].astype(np.uint8)
        mask = cv2.copyMakeBorder(src, max(0, -v0), max(0, v1 - H), max(0, -u0), max(0, u1 - W),
                                  cv2.BORDER_CONSTANT, value=0) > 0
        face = None if self.face is None else (self.face[0] - u0, self.face[1] - v0, self.face[2], self.face[3])
        return Head(mask, face, self.top - v0, self.bottom - v0)

    def placed(self, box: tuple[int, int, int, int], shape: tuple[int, int]) -> "Head":
        """This head (found in the frame of a photo's box) in the whole photo of `shape` (H, W)."""
        u0, v0 = box[0], box[1]
        mask = np.zeros(shape, bool)
        h, w = self.mask.shape
        ys, xs = max(0, -v0), max(0, -u0)
        ye, xe = min(h, shape[0] - v0), min(w, shape[1] - u0)
        if ye > ys and xe > xs:
            mask[ys + v0:ye + v0, xs + u0:xe + u0] = self.mask[ys:ye, xs:xe]
        face = None if self.face is None else (self.face[0] + u0, self.face[1] + v0, self.face[2], self.face[3])
        return Head(mask, face, self.top + v0, self.bottom + v0)

    @property
    def method(self) -> str:
        return "face detector" if self.face is not None else "silhouette" if self.mask.any() else "none"


def find_head(rgb: np.ndarray, mask: np.ndarray) -> Head:
    """The head region in an image (rgb and mask of the same size, the person's box)."""
    h, w = mask.shape
    rows = np.nonzero(mask.any(axis=1))[0]
    if len(rows) == 0:
        return Head(np.zeros_like(mask), None, 0, 0)
    top, bottom = int(rows[0]), int(rows[-1])
    person_h = bottom - top + 1
    face = _detect_face(rgb, mask, top, person_h)
    if face is not None:
        fx, fy, fw, fh = face
        x0, x1 = int(fx - 0.45 * fw), int(fx + 1.45 * fw)
        y0, y1 = max(0, top - 1), int(fy + 1.12 * fh)
        region = np.zeros_like(mask)
        region[y0:y1, max(0, x0):min(w, x1)] = True
        head = _component_touching(mask & region, (int(fy + fh / 2), int(fx + fw / 2)))
        return Head(head, face, top, min(y1, h - 1))
    # silhouette: the narrowest row between 6 % and 25 % of the height below the top, if the figure
    # widens clearly below it (shoulders)
    lo, hi = top + int(0.06 * person_h), top + int(0.25 * person_h)
    if hi <= lo + 2:
        return Head(np.zeros_like(mask), None, top, top)
    # widths of the part connected to the top, row by row
    top_cols = np.nonzero(mask[top])[0]
    cx = int(np.median(top_cols))
    widths = np.array([_run_width(mask[r], cx) for r in range(top, hi + int(0.1 * person_h))])
    neck = lo + int(np.argmin(widths[lo - top:hi - top]))
    head_w = widths[: max(1, neck - top)].max()
    below = widths[neck - top:].max() if neck - top < len(widths) else 0
    if head_w == 0 or widths[neck - top] > 0.8 * head_w or below < 1.5 * head_w:
        return Head(np.zeros_like(mask), None, top, top)
    region = np.zeros_like(mask)
    region[: neck + 1] = True
    head = _component_touching(mask & region, (top, cx))
    return Head(head, None, top, neck)


def _run_width(row: np.ndarray, cx: int) -> int:
    """Width of the run of True containing column cx (0 if cx is outside)."""
    if not row[cx]:
        cols = np.nonzero(row)[0]
        if len(cols) == 0:
            return 0
        cx = int(cols[np.argmin(np.abs(cols - cx))])
    left = row[:cx + 1][::-1]
    right = row[cx:]
    n_left = int(np.argmin(left)) if not left.all() else len(left)
    n_right = int(np.argmin(right)) if not right.all() else len(right)
    return n_left + n_right - 1


def _component_touching(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.copy()
    y, x = seed
    y = min(max(y, 0), mask.shape[0] - 1)
    x = min(max(x, 0), mask.shape[1] - 1)
    lab = labels[y, x]
    if lab == 0:
        ys, xs = np.nonzero(mask)
        k = np.argmin((ys - y) ** 2 + (xs - x) ** 2)
        lab = labels[ys[k], xs[k]]
    return labels == lab


def _detect_face(rgb: np.ndarray, mask: np.ndarray, top: int, person_h: int):
    cascade = _cascade()
    if cascade is None:
        return None
    h, w = mask.shape
    band = min(h, top + int(0.45 * person_h))
    # scale so that the figure is ~500 px tall: a face is then ~35-60 px, enough for the detector
    s = min(2.0, 500.0 / max(person_h, 1))
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[:band]), cv2.COLOR_RGB2GRAY)
    if s != 1.0:
        gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(band * s))),
                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    gray = cv2.equalizeHist(gray)
    min_side = max(20, int(0.04 * person_h * s))
    max_side = max(min_side + 1, int(0.2 * person_h * s))
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side),
                                     maxSize=(max_side, max_side))
    best, best_area = None, 0
    for (x, y, fw, fh) in (found if len(found) else []):
        X, Y, FW, FH = x / s, y / s, fw / s, fh / s
        cy, cx = int(Y + FH / 2), int(X + FW / 2)
        if 0 <= cy < h and 0 <= cx < w and mask[cy, cx] and FW * FH > best_area:
            best, best_area = (int(X), int(Y), int(FW), int(FH)), FW * FH
    return best
