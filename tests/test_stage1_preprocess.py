"""Golden case h (and the DINOv2-input checksum of case g): the stage-1 preprocessing of both
branches reproduces the reference's pixels exactly; RGB inputs go through the foreground step.

The reference stored only [sum, sum^2] of its float inputs, which a permutation of pixels keeps;
so the full arrays are compared with ones computed here from the reference's own PNGs (by the
reference's formulas), and the checksums check those expected arrays."""

import numpy as np
import pytest
import torch
from PIL import Image

from golden_support import golden_cases, load_case

from synchuman.preprocess import dinov2_input, ensure_rgba, preprocess_stage1


def _png(root, name):
    return np.asarray(Image.open(root / "cases" / "h_preprocess" / name))


def _over_white(rgba):
    """The reference's compositing of a uint8 RGBA canvas over white, in float32."""
    f = rgba.astype(np.float32) / 255.0
    return f[..., :3] * f[..., 3:4] + np.float32(1.0) * (1 - f[..., 3:4])


def test_a_fully_transparent_image_is_no_foreground():
    from synchuman.errors import SyncHumanError

    with pytest.raises(SyncHumanError) as err:
        preprocess_stage1(np.zeros((40, 30, 4), np.uint8))
    assert err.value.code == "input.no_foreground" and err.value.hint


@pytest.mark.parametrize("root", golden_cases("h_preprocess.safetensors"))
@pytest.mark.parametrize("img", ["img1", "img2"])
def test_preprocess_matches_reference(root, img):
    c, meta = load_case(root, "h_preprocess.safetensors")
    src = Image.open(root / "cases" / "h_preprocess" / f"{img}_src_rgba.png")
    inp = preprocess_stage1(src)
    assert inp.alpha_source == "photo"
    np.testing.assert_array_equal(inp.mv_canvas, _png(root, f"{img}_mv_canvas_rgba.png"))
    np.testing.assert_array_equal(inp.mv_face, _png(root, f"{img}_mv_face_rgba.png"))
    np.testing.assert_array_equal(inp.trellis_rgb, _png(root, f"{img}_trellis_rgb.png"))
    y, x = meta[img]["mv_img_f32_crop_yx"]
    np.testing.assert_array_equal(inp.mv_image[y:y + 48, x:x + 48], c[f"{img}_mv_img_f32_crop"].numpy())
    y, x = meta[img]["mv_face_f32_crop_yx"]
    np.testing.assert_array_equal(inp.face_image[y:y + 48, x:x + 48], c[f"{img}_mv_face_f32_crop"].numpy())
    # the view stack: [body] * 4 + [face], each the reference's canvas composited over white in float32
    expected = np.stack([_over_white(_png(root, f"{img}_mv_canvas_rgba.png"))] * 4
                        + [_over_white(_png(root, f"{img}_mv_face_rgba.png"))]).transpose(0, 3, 1, 2)
    stack = inp.mv_stack(5)
    assert stack.shape == (5, 3, 768, 768) and stack.dtype == np.float32
    np.testing.assert_array_equal(stack, expected)
    y, x = meta[img]["mv_img_f32_crop_yx"]
    np.testing.assert_array_equal(expected[0, :, y:y + 48, x:x + 48], c[f"{img}_mv_img_f32_crop"].numpy().transpose(2, 0, 1))
    e = torch.from_numpy(expected).double()
    torch.testing.assert_close(torch.stack([e.sum(), (e ** 2).sum()]), c[f"{img}_mv_input_checksum"].double(),
                               rtol=1e-9, atol=1e-3)


@pytest.mark.parametrize("root", golden_cases("g_dinov2_glue.safetensors"))
def test_dinov2_input_checksum(root):
    c, _ = load_case(root, "g_dinov2_glue.safetensors")
    rgb = np.asarray(Image.open(root / "cases" / "h_preprocess" / "img1_trellis_rgb.png"))
    x = dinov2_input(rgb)
    assert x.shape == (1, 3, 518, 518)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    expected = ((rgb.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-6)
    e = torch.from_numpy(expected).double()
    torch.testing.assert_close(torch.stack([e.sum(), (e ** 2).sum()]), c["ln_dinov2_input_checksum"].double(),
                               rtol=1e-6, atol=1e-2)


def test_rgb_input_uses_the_foreground_step():
    rgb = np.full((200, 120, 3), 240, np.uint8)
    rgb[40:180, 30:90] = (200, 40, 40)
    calls = []

    def fake_foreground(img):
        calls.append(img.shape)
        a = np.zeros(img.shape[:2], np.uint8)
        a[40:180, 30:90] = 255
        return a

    inp = preprocess_stage1(rgb, foreground=fake_foreground)
    assert calls == [(200, 120, 3)] and inp.alpha_source == "foreground"
    # the box 60 x 140 fills the canvas height; the face third is red only in the middle
    assert inp.mv_canvas[..., 3].max() == 255 and inp.mv_canvas[0, 384, 3] == 255
    assert inp.trellis_rgb.shape == (518, 518, 3)
    # opaque RGBA also counts as "no alpha"
    _, src = ensure_rgba(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), foreground=fake_foreground)
    assert src == "foreground"
