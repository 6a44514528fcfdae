"""The shared foreground step on real inputs: cut-outs, photos on plain and textured backgrounds,
odd sizes, and photos with nobody in them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import synthetic_people as sp  # noqa: E402

from synchuman.errors import SyncHumanError  # noqa: E402
from synchuman.foreground import extract_foreground, foreground_mask  # noqa: E402
from synchuman.images import decode_photo  # noqa: E402


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("pose,background,size,min_iou", [
    ("standing", "plain", (512, 512), 0.98),
    ("arms_out", "plain", (640, 400), 0.98),
    ("seated", "textured", (512, 640), 0.95),
    ("standing", "textured", (360, 900), 0.95),
])
def test_rgb_photo_is_segmented(pose, background, size, min_iou):
    photo = sp.render_photo(sp.make_person(pose, seed=4), *size, background=background)
    loaded = decode_photo(png_bytes(photo.rgb))
    assert not loaded.has_alpha
    alpha = extract_foreground(loaded)
    assert alpha.shape == photo.mask.shape and alpha.dtype == np.uint8
    assert iou(foreground_mask(alpha), photo.mask) >= min_iou


def test_cutout_alpha_is_used_as_is_minus_specks():
    photo = sp.render_photo(sp.make_person("standing", seed=1), 300, 400, background="plain")
    rgba = photo.rgba.copy()
    rgba[5:9, 5:9, 3] = 255            # a speck in a corner
    loaded = decode_photo(png_bytes(rgba))
    assert loaded.has_alpha
    seen = []
    alpha = extract_foreground(loaded, progress=lambda d, t, m="": seen.append(m))
    assert seen and "alpha" in seen[0]
    assert alpha[5:9, 5:9].max() == 0
    body = photo.alpha > 0
    np.testing.assert_array_equal(alpha[body], photo.alpha[body])


def test_tiny_photo():
    photo = sp.render_photo(sp.make_person("standing", seed=2), 64, 96, background="plain")
    alpha = extract_foreground(photo.rgb)
    assert alpha.shape == (96, 64)
    assert iou(foreground_mask(alpha), photo.mask) >= 0.85


@pytest.mark.parametrize("case", ["plain_wall", "empty_room", "brick", "fully_opaque_alpha_everywhere"])
def test_no_person_is_a_coded_error_with_a_hint(case):
    if case == "plain_wall":
        img = sp.no_person_photo("plain", 640, 480)
    elif case == "empty_room":
        img = sp.no_person_photo("textured", 640, 480)
    elif case == "brick":
        from skimage import data

        img = data.brick()
    else:   # an "alpha" that keeps everything but a few pixels: the subject touches the whole border
        img = np.dstack([sp.no_person_photo("textured", 200, 200), np.full((200, 200), 255, np.uint8)])
        img[90:100, 90:100, 3] = 0
        img[0, :, 3] = 255
    with pytest.raises(SyncHumanError) as err:
        extract_foreground(img)
    assert err.value.code == "input.no_foreground"
    assert "cut-out" in err.value.hint


def test_progress_can_cancel():
    photo = sp.render_photo(sp.make_person("standing", seed=0), 256, 256, background="plain")

    class Stop(Exception):
        pass

    def progress(done, total, message=""):
        if done >= 2:
            raise Stop

    with pytest.raises(Stop):
        extract_foreground(photo.rgb, progress=progress)
