"""Input photos: every supported format and mode loads upright as RGBA; every bad input is a coded error."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from synchuman.errors import SyncHumanError
from synchuman.images import MAX_SIDE, decode_photo, load_photo


def figure_rgba(w=200, h=300) -> np.ndarray:
    """An opaque figure (ellipse) on a transparent background, with a red marker at the top-left."""
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - w / 2) / (w * 0.3)) ** 2 + ((yy - h / 2) / (h * 0.4)) ** 2 <= 1
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = (40, 120, 200)
    rgba[..., 3] = np.where(inside, 255, 0)
    rgba[:20, :20] = (255, 0, 0, 255)
    return rgba


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "BMP"])
def test_supported_formats_load_as_rgba(fmt):
    rgb = Image.fromarray(figure_rgba()[..., :3])
    photo = decode_photo(encode(rgb, fmt))
    assert photo.rgba.shape == (300, 200, 4) and photo.rgba.dtype == np.uint8
    assert photo.format in (fmt, "MPO")
    assert not photo.has_alpha
    assert (photo.rgba[..., 3] == 255).all()
    assert abs(int(photo.rgba[150, 100, 2]) - 200) < 12  # colour survives (JPEG/WebP within noise)


def test_meaningful_alpha_is_kept_and_flat_alpha_ignored():
    cut = decode_photo(encode(Image.fromarray(figure_rgba(), "RGBA"), "PNG"))
    assert cut.has_alpha and cut.rgba[0, 199, 3] == 0 and cut.rgba[150, 100, 3] == 255
    flat = figure_rgba()
    flat[..., 3] = 255
    opaque = decode_photo(encode(Image.fromarray(flat, "RGBA"), "PNG"))
    assert not opaque.has_alpha
    clear = figure_rgba()
    clear[..., 3] = 0
    invisible = decode_photo(encode(Image.fromarray(clear, "RGBA"), "PNG"))
    assert not invisible.has_alpha and (invisible.rgba[..., 3] == 255).all()
    assert any("transparent" in w for w in invisible.warnings)


def test_exif_orientation_is_applied():
    img = Image.fromarray(figure_rgba()[..., :3])  # 200 wide, 300 tall, red marker top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    photo = decode_photo(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert photo.size == (300, 200)
    assert photo.rgba[10, 290, 0] > 200 and photo.rgba[10, 290, 1] < 60  # marker now top-right
    assert "EXIF orientation applied" in photo.warnings


def test_exif_focal_length_sets_the_photos_perspective():
    """The preview's body fit reads the camera's perspective from EXIF's 35 mm-equivalent focal length;
    without it (or with a nonsense value) the normal lens is assumed, unless that puts the person
    farther than FARTHEST_M away."""
    from synchuman.engines.preview.camera import FARTHEST_M, NORMAL_LENS_35MM, PERSON_M, focal_px

    def jpeg(focal):
        exif = Image.Exif()
        if focal is not None:
            exif.get_ifd(0x8769)[0xA405] = focal
        buf = io.BytesIO()
        Image.new("RGB", (300, 400), (90, 120, 150)).save(buf, "JPEG", exif=exif)
        return buf.getvalue()

    assert decode_photo(jpeg(85)).focal_35mm == 85.0
    assert decode_photo(jpeg(None)).focal_35mm is None
    assert decode_photo(jpeg(0)).focal_35mm is None
    diagonal = float(np.hypot(300, 400))
    assert focal_px((300, 400), 85.0) == pytest.approx(85.0 / 43.27 * diagonal)
    assert focal_px((300, 400), None) == pytest.approx(NORMAL_LENS_35MM / 43.27 * diagonal)
    # without EXIF, a person small in the frame is not put farther than FARTHEST_M away: a wider lens
    normal = NORMAL_LENS_35MM / 43.27 * diagonal
    assert focal_px((300, 400), None, person_px=350.0) == pytest.approx(normal)
    assert focal_px((300, 400), None, person_px=100.0) == pytest.approx(FARTHEST_M * 100.0 / PERSON_M)
    assert focal_px((300, 400), 85.0, person_px=100.0) == pytest.approx(85.0 / 43.27 * diagonal)  # EXIF wins


def test_palette_with_transparency_becomes_alpha():
    rgb = figure_rgba()[..., :3].copy()
    rgb[figure_rgba()[..., 3] == 0] = (250, 250, 250)  # a distinct background colour
    pal_img = Image.fromarray(rgb).quantize(colors=8)
    background_index = int(np.asarray(pal_img)[0, 199])
    photo = decode_photo(encode(pal_img, "PNG", transparency=background_index))
    assert photo.has_alpha
    assert photo.rgba[0, 199, 3] == 0 and photo.rgba[150, 100, 3] == 255


def test_grayscale_16bit_and_cmyk_are_converted():
    gray = Image.fromarray((figure_rgba()[..., 2]).astype(np.uint8), "L")
    assert decode_photo(encode(gray, "PNG")).rgba[150, 100, 0] == 200
    deep = Image.fromarray(figure_rgba()[..., 2].astype(np.uint16) * 257)
    photo16 = decode_photo(encode(deep, "PNG"))
    assert photo16.rgba.dtype == np.uint8 and abs(int(photo16.rgba[150, 100, 0]) - 200) <= 1
    cmyk = Image.fromarray(figure_rgba()[..., :3]).convert("CMYK")
    photo_cmyk = decode_photo(encode(cmyk, "JPEG", quality=95))
    assert abs(int(photo_cmyk.rgba[150, 100, 2]) - 200) < 15
    assert any("CMYK" in w for w in photo_cmyk.warnings)


def test_oversized_photo_is_downscaled_with_a_warning():
    big = Image.new("RGB", (MAX_SIDE + 904, 1000), (10, 20, 30))
    photo = decode_photo(encode(big, "PNG"))
    assert max(photo.size) == MAX_SIDE
    assert any("downscaled" in w for w in photo.warnings)


def test_decompression_bomb_is_refused_before_decoding():
    # A valid PNG header that declares 20000 x 20000 pixels with a tiny compressed body.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    with pytest.raises(SyncHumanError) as err:
        decode_photo(data)
    assert err.value.code == "input.decompression_bomb" and err.value.hint


@pytest.mark.parametrize("data, code", [
    (b"", "input.empty"),
    (b"this is not an image at all", "input.unreadable"),
    (encode(Image.new("RGB", (300, 300)), "PNG")[:200], "input.unreadable"),  # truncated
    (encode(Image.new("RGB", (40, 300)), "PNG"), "input.too_small"),
    (encode(Image.new("RGB", (100, 100)), "GIF"), "input.unsupported_format"),
])
def test_bad_inputs_have_codes_and_hints(data, code):
    with pytest.raises(SyncHumanError) as err:
        decode_photo(data)
    assert err.value.code == code
    assert err.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(SyncHumanError) as err:
        load_photo(tmp_path / "nope.png")
    assert err.value.code == "input.not_found"


def test_load_photo_records_path_and_hash(tmp_path):
    path = tmp_path / "anna.png"
    Image.fromarray(figure_rgba(), "RGBA").save(path)
    photo = load_photo(path)
    import hashlib

    assert photo.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert photo.name == "anna" and photo.path == path.resolve()


def test_a_file_over_the_size_cap_is_refused_before_reading(tmp_path):
    from synchuman.images import MAX_FILE_BYTES

    padded = tmp_path / "padded.png"
    padded.write_bytes(encode(Image.new("RGB", (100, 100)), "PNG"))
    with open(padded, "r+b") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # a PNG with trailing zeros (sparse: no disk used)
    with pytest.raises(SyncHumanError) as err:
        load_photo(padded)
    assert err.value.code == "input.too_large" and err.value.hint


def test_a_path_too_long_for_the_file_system_is_a_coded_error(tmp_path):
    with pytest.raises(SyncHumanError) as err:
        load_photo(tmp_path / ("x" * 300 + ".png"))
    assert err.value.code == "input.bad_path"


def test_a_panorama_too_thin_once_downscaled_is_too_small():
    with pytest.raises(SyncHumanError) as err:
        decode_photo(encode(Image.new("RGB", (MAX_SIDE * 2, 100)), "PNG"))  # 100 px high, 50 after the fit
    assert err.value.code == "input.too_small" and "thin" in err.value.hint


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_big_photos_decode_at_reduced_size_with_the_same_framing(fmt):
    rgba = figure_rgba(120, 180)
    big = Image.fromarray(rgba[..., :3]).resize((120 * 50, 180 * 50), Image.NEAREST)  # 6000 x 9000
    photo = decode_photo(encode(big, fmt, **({"quality": 80} if fmt == "JPEG" else {"compress_level": 1})))
    assert photo.size == (round(MAX_SIDE * 2 / 3), MAX_SIDE) and photo.original_size == (6000, 9000)
    assert any("downscaled from 6000x9000" in w for w in photo.warnings)
    assert (photo.rgba[:150, :150, 0] > 200).all()  # the red marker is still at the top-left
    h, w = photo.rgba.shape[:2]
    assert abs(int(photo.rgba[h // 2, w // 2, 2]) - 200) < 12  # the figure's colour in the middle


def test_a_big_rotated_jpeg_is_reduced_and_upright():
    rgb = Image.fromarray(figure_rgba(180, 120)[..., :3]).resize((180 * 50, 120 * 50), Image.NEAREST)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: rotate 90 degrees clockwise to display
    photo = decode_photo(encode(rgb, "JPEG", exif=exif.tobytes()))
    assert photo.size == (round(MAX_SIDE * 2 / 3), MAX_SIDE) and "EXIF orientation applied" in photo.warnings


def test_pixels_that_would_take_too_much_memory_are_refused_before_decoding():
    from synchuman.images import MAX_DECODED_BYTES

    side = int((MAX_DECODED_BYTES / 4) ** 0.5) + 1  # RGBA just above the limit; as gray it is fine
    with pytest.raises(SyncHumanError) as err:
        decode_photo(encode(Image.new("RGBA", (side, side)), "PNG", compress_level=1))
    assert err.value.code == "input.too_large" and "JPEG" in err.value.hint
    assert decode_photo(encode(Image.new("L", (side, side), 90), "PNG", compress_level=1)).size == (MAX_SIDE,) * 2


def test_peak_memory_of_decoding_a_64_megapixel_photo_stays_low(tmp_path):
    """A bound, not a measurement (benchmarks/hostile_probe.py measures): before the reduced decode,
    this file cost about 870 MB to decode."""
    path = tmp_path / "huge.png"
    Image.new("RGBA", (7990, 7990), (40, 120, 200, 255)).save(path, compress_level=1)
    # VmHWM: the peak of this process alone (ru_maxrss would carry over the forking parent's)
    code = ("import re, sys; from synchuman.images import load_photo; p = load_photo(sys.argv[1]); "
            "print(p.size, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    size, peak_kb = proc.stdout.rsplit(" ", 1)
    assert size == f"({MAX_SIDE}, {MAX_SIDE})" and int(peak_kb) < 400_000, proc.stdout
