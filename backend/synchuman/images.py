"""Loading and validating input photos.

Every failure is a `SyncHumanError` with a stable code: input.not_found, input.unreadable,
input.unsupported_format, input.decompression_bomb, input.too_small, input.empty.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import SyncHumanError

log = logging.getLogger("synchuman.images")

SUPPORTED_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "TIFF", "BMP"}
MAX_PIXELS = 80_000_000         # refuse anything larger before decoding (decompression bombs)
MAX_SIDE = 4096                 # larger photos are downscaled with a warning
MIN_SIDE = 64                   # smaller photos carry too little to reconstruct


@dataclass
class Photo:
    """A decoded photo: RGBA uint8 (H, W, 4) upright, plus what we learned while loading it."""

    rgba: np.ndarray
    has_alpha: bool                  # True when the alpha channel separates a subject
    path: Path | None
    sha256: str
    original_size: tuple[int, int]   # (width, height) as stored in the file
    format: str
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem if self.path else "photo"

    @property
    def size(self) -> tuple[int, int]:
        return self.rgba.shape[1], self.rgba.shape[0]


def _to_rgba(img: Image.Image, notes: list[str]) -> tuple[Image.Image, bool]:
    """Converts any mode Pillow decodes to RGBA; returns (image, had an alpha channel)."""
    mode = img.mode
    if mode == "P":
        has_alpha = "transparency" in img.info
        return img.convert("RGBA"), has_alpha
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        notes.append(f"{mode} image converted to 8 bits")
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGBA"), False
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scale = 255.0 if hi <= 1.0 and lo >= 0.0 else 255.0 / max(hi - lo, 1e-12)
        gray = np.clip((arr - (0 if scale == 255.0 else lo)) * scale, 0, 255).astype(np.uint8)
        notes.append("floating-point image converted to 8 bits")
        return Image.fromarray(gray, "L").convert("RGBA"), False
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
        return img.convert("RGB").convert("RGBA"), False
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return img.convert("RGBA"), True
    return img.convert("RGB").convert("RGBA"), False


def alpha_is_meaningful(alpha: np.ndarray) -> bool:
    """An alpha channel separates a subject when some pixels are clearly out and some clearly in."""
    transparent = np.count_nonzero(alpha < 128)
    opaque = np.count_nonzero(alpha >= 128)
    n = alpha.size
    return transparent >= 0.005 * n and opaque >= 0.005 * n


def decode_photo(data: bytes, path: Path | None = None, max_side: int = MAX_SIDE) -> Photo:
    """Decodes image bytes into an upright RGBA photo, or raises a coded error."""
    label = str(path) if path else "the image"
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        raise SyncHumanError("input.empty", f"{label} is an empty file.", "Choose a PNG or JPEG photo of a person.")
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(io.BytesIO(data))
                fmt = img.format or "?"
                if fmt not in SUPPORTED_FORMATS:
                    raise SyncHumanError("input.unsupported_format", f"{label} is a {fmt} image.",
                                         "Use PNG, JPEG, WebP, TIFF or BMP.", {"format": fmt})
                original_size = img.size
                img = ImageOps.exif_transpose(img)  # also loads the pixels
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise SyncHumanError("input.decompression_bomb",
                                     f"{label} declares a huge size and was refused ({exc}).",
                                     f"Resize the photo below {MAX_PIXELS // 1_000_000} megapixels.") from exc
            except SyncHumanError:
                raise
            except Image.UnidentifiedImageError as exc:
                raise SyncHumanError("input.unreadable", f"{label} is not an image in a format we can read.",
                                     "Use a PNG, JPEG, WebP, TIFF or BMP photo.") from exc
            except Exception as exc:  # Pillow raises many types for broken files
                raise SyncHumanError("input.unreadable", f"{label} could not be read as an image: {exc}",
                                     "The file is damaged or not an image; re-export it as PNG or JPEG.") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit

    notes: list[str] = []
    if original_size != img.size:
        notes.append("EXIF orientation applied")
    img, had_alpha = _to_rgba(img, notes)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise SyncHumanError("input.too_small", f"{label} is only {w}x{h} pixels.",
                             f"Use a photo at least {MIN_SIDE} pixels on its shorter side (512 or more is best).",
                             {"width": w, "height": h})
    if max(w, h) > max_side:
        s = max_side / max(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
        notes.append(f"downscaled from {w}x{h} to {img.size[0]}x{img.size[1]} (limit {max_side} px)")
    rgba = np.array(img, dtype=np.uint8)  # a writable copy
    has_alpha = had_alpha and alpha_is_meaningful(rgba[..., 3])
    if had_alpha and not has_alpha:
        if np.count_nonzero(rgba[..., 3] >= 128) < 0.005 * rgba[..., 3].size:
            notes.append("the alpha channel is (almost) fully transparent; it was ignored")
        rgba[..., 3] = 255
    for note in notes:
        log.warning("%s: %s", label, note)
    return Photo(rgba=rgba, has_alpha=has_alpha, path=path, sha256=digest, original_size=original_size,
                 format=fmt, warnings=notes)


def load_photo(path: str | Path, max_side: int = MAX_SIDE) -> Photo:
    p = Path(path).expanduser()
    if not p.is_file():
        raise SyncHumanError("input.not_found", f"No file at {p}.", "Check the path of the photo.")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SyncHumanError("input.unreadable", f"Cannot read {p}: {exc}", "Check the file's permissions.") from exc
    return decode_photo(data, p.resolve(), max_side=max_side)
