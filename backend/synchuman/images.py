"""Loading and validating input photos; writing the views a job shows (`write_png`).

Every failure is a `SyncHumanError` with a stable code: input.not_found, input.unreadable,
input.unsupported_format, input.decompression_bomb, input.too_small, input.too_large, input.empty,
input.bad_path.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import SyncHumanError

log = logging.getLogger("synchuman.images")

SUPPORTED_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "TIFF", "BMP"}
MAX_PIXELS = 80_000_000         # refuse anything larger before decoding (decompression bombs)
# Larger photos are downscaled with a warning. Both engines work on far smaller crops (518 to 1024 px),
# and above this size the preview engine's peak memory on a photo passes 600 MB.
MAX_SIDE = 2048
MIN_SIDE = 64                   # smaller photos carry too little to reconstruct
MAX_FILE_BYTES = 200_000_000    # larger files are refused before reading (no photo needs more)
# Pixels decoded at full size (all but JPEG, which decodes reduced) may take this much memory: 64 MP of
# RGB or RGBA (Pillow keeps 4 bytes a pixel), 80 MP of gray or palette. With the ~280 MB the engines'
# imports take, a job's peak stays under 600 MB.
MAX_DECODED_BYTES = 256_000_000
# Modes whose values cannot be averaged, and what they are reduced as.
_AVERAGEABLE = {"P": "RGB", "PA": "RGBA", "1": "L", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}


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
    focal_35mm: float | None = None  # EXIF's 35 mm-equivalent focal length, when the file says

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


def _decode_reduced(img: Image.Image, max_side: int, label: str) -> Image.Image:
    """Decodes the pixels, at a reduced size when the photo is far above `max_side`, so a big photo
    costs its full size in memory once at most: JPEG decodes at 1/2, 1/4 or 1/8 scale (draft mode);
    other formats are reduced by a whole factor right after decoding, converted strip by strip when
    their mode cannot be averaged (palette, 1-bit, 16-bit). Refuses what would take too much memory
    to decode even once."""
    w, h = img.size
    if img.format in ("JPEG", "MPO") and max(w, h) > max_side:
        s = max_side / max(w, h)
        img.draft(img.mode, (math.ceil(w * s), math.ceil(h * s)))  # stays at least max_side on the long side
    per_pixel = 2 if img.mode.startswith("I;16") else 1 if img.mode in ("1", "L", "P") else 4  # Pillow's storage
    decoded = img.size[0] * img.size[1] * per_pixel
    if decoded > MAX_DECODED_BYTES:
        raise SyncHumanError("input.too_large",
                             f"{label} is {w}x{h} {img.mode} pixels: decoding it would take {decoded / 1e6:.0f} MB.",
                             f"Resize the photo below {MAX_DECODED_BYTES // 4_000_000} megapixels, or save it "
                             "as JPEG.", {"width": w, "height": h})
    img.load()
    factor = max(img.size) // max_side
    if factor < 2:
        return img
    # The core reduce, as Image.reduce does for most modes; for RGBA and LA, Image.reduce would first
    # make a premultiplied full-size copy. Unpremultiplied averaging only tints the one-pixel rim of
    # a cut-out with the colour of its transparent pixels.
    target = _AVERAGEABLE.get(img.mode, img.mode)
    if img.mode == "P" and "transparency" in img.info:
        target = "RGBA"
    if target == img.mode:
        return img._new(img.im.reduce((factor, factor), (0, 0, *img.size)))
    out = Image.new(target, (math.ceil(img.size[0] / factor), math.ceil(img.size[1] / factor)))
    rows = factor * max(1, 512 // factor)  # a strip of whole reduction blocks
    for y in range(0, img.size[1], rows):
        strip = img.crop((0, y, img.size[0], min(img.size[1], y + rows))).convert(target)
        out.paste(strip._new(strip.im.reduce((factor, factor), (0, 0, *strip.size))), (0, y // factor))
    return out


def _too_small(label: str, w: int, h: int, scaled: tuple[int, int] | None = None) -> SyncHumanError:
    hint = f"Use a photo at least {MIN_SIDE} pixels on its shorter side (512 or more is best)."
    if scaled:
        return SyncHumanError("input.too_small",
                              f"{label} is {w}x{h} pixels: scaled to fit {max(scaled)} px it is only "
                              f"{min(scaled)} px on its shorter side.",
                              "Crop the photo around the person so it is less long and thin. " + hint,
                              {"width": w, "height": h})
    return SyncHumanError("input.too_small", f"{label} is only {w}x{h} pixels.", hint, {"width": w, "height": h})


def _focal_35mm(img: Image.Image) -> float | None:
    """EXIF FocalLengthIn35mmFilm (the preview's body fit reads perspective from it); None if absent
    or unreadable."""
    try:
        value = img.getexif().get_ifd(0x8769).get(0xA405)  # the Exif sub-IFD's FocalLengthIn35mmFilm
        return float(value) if value and 8 <= float(value) <= 2000 else None
    except Exception:  # a damaged EXIF block must not stop a photo that decodes
        return None


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
                focal_35mm = _focal_35mm(img)
                img = _decode_reduced(img, max_side, label)
                stored_size = img.size
                img = ImageOps.exif_transpose(img)
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
    w, h = original_size
    if stored_size[::-1] == img.size != stored_size:
        notes.append("EXIF orientation applied")
        w, h = h, w
    img, had_alpha = _to_rgba(img, notes)
    if min(w, h) < MIN_SIDE:
        raise _too_small(label, w, h)
    if max(img.size) > max_side:
        s = max_side / max(img.size)
        img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.LANCZOS)
    if (w, h) != img.size:
        notes.append(f"downscaled from {w}x{h} to {img.size[0]}x{img.size[1]} (limit {max_side} px)")
    if min(img.size) < MIN_SIDE:  # a long, thin panorama: too thin once it fits the size limit
        raise _too_small(label, w, h, img.size)
    rgba = np.array(img, dtype=np.uint8)  # a writable copy
    has_alpha = had_alpha and alpha_is_meaningful(rgba[..., 3])
    if had_alpha and not has_alpha:
        if np.count_nonzero(rgba[..., 3] >= 128) < 0.005 * rgba[..., 3].size:
            notes.append("the alpha channel is (almost) fully transparent; it was ignored")
        rgba[..., 3] = 255
    for note in notes:
        log.warning("%s: %s", label, note)
    return Photo(rgba=rgba, has_alpha=has_alpha, path=path, sha256=digest, original_size=original_size,
                 format=fmt, warnings=notes, focal_35mm=focal_35mm)


def load_photo(path: str | Path, max_side: int = MAX_SIDE) -> Photo:
    p = Path(path).expanduser()
    try:
        is_file = p.is_file()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise SyncHumanError("input.bad_path", f"{str(p)[:200]!r} is not a usable path: {exc}",
                             "Check the path of the photo; rename it if its name is very long.") from exc
    if not is_file:
        raise SyncHumanError("input.not_found", f"No file at {p}.", "Check the path of the photo.")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SyncHumanError("input.too_large", f"{p} is {size / 1e6:.0f} MB.",
                                 f"Use a photo file under {MAX_FILE_BYTES // 1_000_000} MB (re-export it as JPEG).",
                                 {"bytes": size})
        data = p.read_bytes()
    except OSError as exc:
        raise SyncHumanError("input.unreadable", f"Cannot read {p}: {exc}", "Check the file's permissions.") from exc
    return decode_photo(data, p.resolve(), max_side=max_side)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a (H, W[, 3|4]) uint8 image as PNG through a temporary name, so a reader never sees half a
    file. zlib level 1 with run-length matches: ~35 % faster than Pillow's level 1 on a photo, and
    smaller (the job's views are photos and flat backgrounds)."""
    import cv2

    path = Path(path)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
                                            cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:
        raise OSError(f"could not encode {path.name} as PNG")
    tmp = path.with_name(path.name + ".tmp.png")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)
    return path
