"""Stage-1 input preprocessing, exactly as the reference does it (architecture brief §1.2).

Two framings of the same RGBA cut-out:
- multiview branch, 768^2: crop to the alpha > 0 bounding box (right/bottom edge exclusive, as PIL
  crops), scale the longer side to 768 (PIL bicubic), paste centred on a transparent canvas; the
  face view is the top-centre third of that canvas scaled back to 768^2. Both are composited over
  white. The 5 view inputs are [img, img, img, img, face].
- 3D branch, 518^2: bounding box of alpha > 0.8*255, square of side int(1.2 * longer side) around
  its centre (zero padded outside the image), Lanczos to 518^2, RGB * alpha (black background),
  then ImageNet normalisation for DINOv2.

Unlike the reference (which crashes on RGB inputs), a photo without a usable alpha channel gets
one from the service's foreground step (`foreground.extract_foreground`). A usable alpha channel is
taken exactly as it is, so cut-outs give the reference's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .common import IMAGENET_MEAN, IMAGENET_STD
from .errors import SyncHumanError

MV_SIZE = 768
TRELLIS_SIZE = 518


@dataclass
class Stage1Inputs:
    """Everything stage 1 needs from the photo."""

    rgba: np.ndarray            # the RGBA used (uint8 (H, W, 4)); alpha from the photo or the foreground step
    mv_canvas: np.ndarray       # uint8 (768, 768, 4): the centred cut-out
    mv_face: np.ndarray         # uint8 (768, 768, 4): top-centre third of the canvas, upscaled
    mv_image: np.ndarray        # float32 (768, 768, 3) in [0, 1], over white
    face_image: np.ndarray      # float32 (768, 768, 3) in [0, 1], over white
    trellis_rgb: np.ndarray     # uint8 (518, 518, 3), premultiplied (black background)
    alpha_source: str           # "photo", "u2net" (background-removal model) or "foreground" (classical)

    def mv_stack(self, num_views: int = 5) -> np.ndarray:
        """(num_views, 3, H, W) float32: [img] * (num_views - 1) + [face]."""
        img = self.mv_image.transpose(2, 0, 1)
        face = self.face_image.transpose(2, 0, 1)
        return np.stack([img] * (num_views - 1) + [face]).astype(np.float32)


def _no_foreground() -> SyncHumanError:
    return SyncHumanError("input.no_foreground", "The image has no visible (non-transparent) pixels.",
                          "Supply a cut-out with the person visible, or a photo.")


def ensure_rgba(image: np.ndarray | Image.Image, foreground=None) -> tuple[np.ndarray, str]:
    """RGBA uint8 array and where its alpha came from. An RGBA image whose alpha is not entirely
    opaque keeps its alpha; otherwise `foreground(rgb_or_rgba) -> alpha uint8` (default: the service's
    foreground step) supplies one."""
    arr = np.asarray(image.convert("RGBA") if isinstance(image, Image.Image) and image.mode not in ("RGB", "RGBA")
                     else image)
    if arr.dtype != np.uint8:
        raise TypeError("expected a uint8 image")
    if arr.ndim == 2:
        arr = np.dstack([arr] * 3)
    if arr.shape[2] == 4 and not np.all(arr[..., 3] == 255):
        return np.ascontiguousarray(arr), "photo"
    rgb = np.ascontiguousarray(arr[..., :3])
    if foreground is None:
        from .foreground import extract_foreground as foreground
    alpha = np.asarray(foreground(rgb), dtype=np.uint8)
    return np.dstack([rgb, alpha]), getattr(foreground, "source", "foreground")


def mv_canvas(rgba: np.ndarray, size: int = MV_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(canvas, face) uint8 RGBA (size, size, 4), as the reference builds them with PIL."""
    alpha = rgba[..., 3]
    ys, xs = np.nonzero(alpha)
    if ys.size == 0:
        raise _no_foreground()
    img = Image.fromarray(rgba, "RGBA")
    crop = img.crop((int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())))
    h, w = crop.height, crop.width
    if h == 0 or w == 0:
        raise _no_foreground()
    scale = size / max(h, w)
    crop = crop.resize((int(scale * w), int(scale * h)))  # PIL default: bicubic
    canvas = Image.new("RGBA", (size, size), 0)
    canvas.paste(crop, ((size - crop.width) // 2, (size - crop.height) // 2))
    third = size // 3
    face = canvas.crop((third, 0, 2 * third, third)).resize((size, size))
    return np.asarray(canvas), np.asarray(face)


def over_white(rgba: np.ndarray) -> np.ndarray:
    """uint8 RGBA -> float32 RGB in [0, 1] composited over white (float32 arithmetic like the reference)."""
    f = rgba.astype(np.float32) / 255.0
    a = f[..., 3:4]
    return (f[..., :3] * a + np.float32(1.0) * (1 - a)).astype(np.float32)


def trellis_crop(rgba: np.ndarray, size: int = TRELLIS_SIZE) -> np.ndarray:
    """uint8 RGB (size, size, 3): the reference's (TRELLIS) preprocess_image on an RGBA cut-out."""
    alpha = rgba[..., 3]
    pts = np.argwhere(alpha > 0.8 * 255)
    if pts.size == 0:
        raise _no_foreground()
    x0, y0, x1, y1 = pts[:, 1].min(), pts[:, 0].min(), pts[:, 1].max(), pts[:, 0].max()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = int(max(x1 - x0, y1 - y0) * 1.2)
    box = (cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
    out = Image.fromarray(rgba, "RGBA").crop(box).resize((size, size), Image.Resampling.LANCZOS)
    f = np.asarray(out).astype(np.float32) / 255
    f = f[..., :3] * f[..., 3:4]
    return (f * 255).astype(np.uint8)


def dinov2_input(trellis_rgb: np.ndarray):
    """(1, 3, 518, 518) float32 torch tensor, ImageNet-normalised."""
    import torch

    img = Image.fromarray(trellis_rgb, "RGB")
    if img.size != (TRELLIS_SIZE, TRELLIS_SIZE):
        img = img.resize((TRELLIS_SIZE, TRELLIS_SIZE), Image.Resampling.LANCZOS)
    x = torch.from_numpy(np.asarray(img).astype(np.float32) / 255).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std)[None]


def preprocess_stage1(image: np.ndarray | Image.Image, foreground=None, mv_size: int = MV_SIZE) -> Stage1Inputs:
    rgba, source = ensure_rgba(image, foreground)
    canvas, face = mv_canvas(rgba, mv_size)
    return Stage1Inputs(rgba=rgba, mv_canvas=canvas, mv_face=face, mv_image=over_white(canvas),
                        face_image=over_white(face), trellis_rgb=trellis_crop(rgba), alpha_source=source)
