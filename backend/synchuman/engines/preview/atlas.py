"""The texture atlas: where the front, the back and the solid-colour cells go in the texture image.

Two charts, each an image of the person's box in the photo: the front chart is the photo itself at
the highest scale the texture size allows; the back chart is the same box seen from behind (left
and right stay where they are, so a point of the back sits behind the same photo pixel). A surface
seen by neither (hidden behind another part from the front and from behind) takes a solid colour
from a small cell, one per body part, packed into the space the charts leave free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Chart:
    ox: int
    oy: int
    width: int        # texels
    height: int


@dataclass
class Atlas:
    size: int
    box: tuple[int, int, int, int]     # (u0, v0, u1, v1) photo box covered by both charts
    front: Chart
    back: Chart
    cells: list[Chart] = field(default_factory=list)   # solid-colour cells

    @property
    def box_size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    def uv(self, u: np.ndarray, v: np.ndarray, back: bool) -> np.ndarray:
        """UVs (v up, row 0 of the texture is V = 1) of photo points on the front or back chart."""
        chart = self.back if back else self.front
        bw, bh = self.box_size
        tx = chart.ox + (np.asarray(u) - self.box[0] + 0.5) * (chart.width / bw)
        ty = chart.oy + (np.asarray(v) - self.box[1] + 0.5) * (chart.height / bh)
        return np.stack([tx / self.size, 1.0 - ty / self.size], axis=-1)

    def cell_uv(self, index: np.ndarray) -> np.ndarray:
        """UVs of the centres of the cells `index`."""
        c = np.array([[ch.ox + 0.5 * ch.width, ch.oy + 0.5 * ch.height] for ch in self.cells]).reshape(-1, 2)
        t = c[np.asarray(index)]
        return np.stack([t[..., 0] / self.size, 1.0 - t[..., 1] / self.size], axis=-1)


def _charts(bw: int, bh: int, avail_w: float, avail_h: float, gap: int) -> tuple[Chart, Chart, list]:
    """Front and back charts side by side (tall figures) or stacked (wide ones) within
    avail_w x avail_h; the back gets the front's scale when that costs the front little, else half.
    Also the free rectangles (x, y, w, h) they leave."""
    best = None
    for stacked in (False, True):
        for ratio in (1.0, 0.5):
            if stacked:
                s = min((avail_w - 2 * gap) / bw, (avail_h - 3 * gap) / (bh * (1 + ratio)))
            else:
                s = min((avail_w - 3 * gap) / (bw * (1 + ratio)), (avail_h - 2 * gap) / bh)
            score = s * (1.0 if ratio == 1.0 else 0.97)
            if best is None or score > best[0]:
                best = (score, s, ratio, stacked)
    _, s, ratio, stacked = best
    fw, fh = max(2, int(bw * s)), max(2, int(bh * s))
    bkw, bkh = max(2, int(bw * s * ratio)), max(2, int(bh * s * ratio))
    front = Chart(gap, gap, fw, fh)
    if stacked:
        back = Chart(gap, 2 * gap + fh, bkw, bkh)
        right, bottom = 2 * gap + max(fw, bkw), 3 * gap + fh + bkh
    else:
        back = Chart(2 * gap + fw, gap, bkw, bkh)
        right, bottom = 3 * gap + fw + bkw, 2 * gap + max(fh, bkh)
    free = [(right, gap, int(avail_w) - gap - right, int(avail_h) - 2 * gap),
            (gap, bottom, int(avail_w) - 2 * gap, int(avail_h) - gap - bottom)]
    return front, back, free


def _pack(rect, n: int, cell: int) -> list[Chart] | None:
    x, y, w, h = rect
    per_row = w // cell
    if n == 0:
        return []
    if per_row <= 0 or -(-n // per_row) * cell > h:
        return None
    return [Chart(x + (i % per_row) * cell, y + (i // per_row) * cell, cell, cell) for i in range(n)]


def layout(box: tuple[int, int, int, int], size: int, cells: int = 0) -> Atlas:
    """The atlas for a photo box at texture size `size`, with `cells` solid-colour cells packed into
    the free space (a strip is reserved along the bottom when there is none)."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    gap = 4 if size >= 512 else 2
    cell = 8 if size >= 512 else 4
    reserve = 0
    while True:
        front, back, free = _charts(bw, bh, size, size - reserve, gap)
        for rect in free:
            packed = _pack(rect, cells, cell)
            if packed is not None:
                return Atlas(size, box, front, back, packed)
        if reserve:   # the reserved strip below the charts
            packed = _pack((gap, size - reserve, size - 2 * gap, reserve - gap), cells, cell)
            if packed is not None:
                return Atlas(size, box, front, back, packed)
        rows = -(-cells // max(1, (size - 2 * gap) // cell))
        reserve = rows * cell + gap
        if reserve >= size // 2:
            raise ValueError(f"{cells} colour cells do not fit in a {size}px texture")


def bake(atlas: Atlas, front: np.ndarray, back: np.ndarray, cell_colours: np.ndarray | None = None) -> np.ndarray:
    """The texture image: charts resampled from box-sized front/back images, each with a border of
    repeated edge texels (so filtering near a chart's edge never picks up other colours), the cells
    filled with their colours; the unused rest is the average colour."""
    T = atlas.size
    tex = np.empty((T, T, 3), np.uint8)
    tex[:] = np.round(front.reshape(-1, 3).mean(0)).astype(np.uint8)
    for chart, img in ((atlas.front, front), (atlas.back, back)):
        shrink = chart.width < img.shape[1]
        res = cv2.resize(img, (chart.width, chart.height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        pad = 2
        y0, x0 = chart.oy - pad, chart.ox - pad
        padded = cv2.copyMakeBorder(res, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        ys, xs = max(0, y0), max(0, x0)
        ye, xe = min(T, y0 + padded.shape[0]), min(T, x0 + padded.shape[1])
        tex[ys:ye, xs:xe] = padded[ys - y0:ye - y0, xs - x0:xe - x0]
    for chart, colour in zip(atlas.cells, [] if cell_colours is None else cell_colours):
        tex[chart.oy:chart.oy + chart.height, chart.ox:chart.ox + chart.width] = colour
    return tex
