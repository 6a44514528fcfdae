"""Photos of people in real scenes for the foreground + pose tests and benchmark: synthetic people (known masks)
composited into real photographs that ship with scikit-image (public domain), so the backgrounds are
busy and real rather than flat colours.

    scene = compose("coffee", [Placement(person, x=0.3, height=0.8)], size=(900, 700))
    scene.rgb, scene.masks[0]        # the photo and the first person's true mask
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic_people as sp  # noqa: E402

# skimage.data photographs used as backgrounds: a rocket on a launch pad, a cup on a wooden table, a
# cat on a rug, grass, gravel, bricks (the textures are grey: they are tinted).
REAL_SCENES = ("rocket", "coffee", "chelsea", "grass", "gravel", "brick")
_TINTS = {"grass": (0.55, 0.8, 0.45), "gravel": (0.85, 0.8, 0.72), "brick": (0.9, 0.55, 0.45)}


def real_background(name: str, width: int, height: int) -> np.ndarray:
    """A real photograph, cropped and scaled to fill (width, height): uint8 RGB."""
    from PIL import Image
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = (img[..., None] * np.asarray(_TINTS[name])[None, None]).astype(np.uint8)
    h, w = img.shape[:2]
    s = max(width / w, height / h)
    big = Image.fromarray(np.ascontiguousarray(img[..., :3])).resize((int(np.ceil(w * s)), int(np.ceil(h * s))),
                                                                    Image.Resampling.BICUBIC)
    arr = np.asarray(big)
    y0, x0 = (arr.shape[0] - height) // 2, (arr.shape[1] - width) // 2
    return np.ascontiguousarray(arr[y0:y0 + height, x0:x0 + width])


@dataclass
class Placement:
    person: sp.SyntheticPhoto     # rendered on its own (a cut-out: straight colour + coverage)
    x: float                      # horizontal centre, fraction of the scene's width
    height: float                 # the person's height, fraction of the scene's height
    bottom: float = 0.95          # where the feet are, fraction of the scene's height


@dataclass
class Scene:
    rgb: np.ndarray
    masks: list[np.ndarray]       # each person's visible true mask (later people hide earlier ones)
    boxes: list[tuple[int, int, int, int]]


def compose(background: str, people: list[Placement], size: tuple[int, int] = (900, 700)) -> Scene:
    from PIL import Image

    W, H = size
    out = real_background(background, W, H).astype(np.float32)
    masks = []
    for place in people:
        p = place.person
        ys, xs = np.nonzero(p.alpha)
        crop = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        s = place.height * H / (crop[3] - crop[1])
        w, h = max(1, round((crop[2] - crop[0]) * s)), max(1, round((crop[3] - crop[1]) * s))
        rgb = np.asarray(Image.fromarray(p.extras["cutout_rgb"]).crop(crop).resize((w, h), Image.Resampling.BILINEAR))
        cov = np.asarray(Image.fromarray(p.alpha).crop(crop).resize((w, h), Image.Resampling.BILINEAR))
        x0, y0 = round(place.x * W - w / 2), round(place.bottom * H - h)
        sx0, sy0, sx1, sy1 = max(0, -x0), max(0, -y0), min(w, W - x0), min(h, H - y0)
        a = cov[sy0:sy1, sx0:sx1, None].astype(np.float32) / 255
        region = out[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
        region[:] = rgb[sy0:sy1, sx0:sx1] * a + region * (1 - a)
        mask = np.zeros((H, W), bool)
        mask[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1] = a[..., 0] >= 0.5
        masks = [m & ~mask for m in masks] + [mask]
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return Scene(np.clip(out + 0.5, 0, 255).astype(np.uint8), masks, boxes)


def person(pose: str = "standing", seed: int = 0, size: tuple[int, int] = (600, 900)) -> sp.SyntheticPhoto:
    return sp.render_photo(sp.make_person(pose, seed=seed), *size, background="plain")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))
