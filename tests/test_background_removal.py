"""The background-removal model step (rembg's U²-Net recipe through onnxruntime) on a tiny ONNX model
with U²-Net's interface (tests/tiny_weights.py): the recipe's arithmetic, a green-screen cut-out, the
downscale path, damaged files, and how `weights verify` and stage 1 treat it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synchuman.background_removal import U2NetBackgroundRemover
from synchuman.errors import SyncHumanError
from synchuman.preprocess import preprocess_stage1
from tiny_weights import GREEN_SCREEN_BIAS, GREEN_SCREEN_WEIGHTS, make_tiny_u2net

CUTOUT = Path(__file__).parent.parent / "backend" / "synchuman" / "data" / "examples" / "person_cutout.png"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return make_tiny_u2net(tmp_path_factory.mktemp("u2net") / "u2net.onnx")


@pytest.fixture(scope="module")
def green_screen() -> tuple[np.ndarray, np.ndarray]:
    """(RGB photo of the example person in front of a green screen, the true mask)."""
    cut = np.asarray(Image.open(CUTOUT).convert("RGBA"))
    a = cut[..., 3:].astype(np.float64) / 255
    rgb = (cut[..., :3] * a + np.array([30, 190, 40]) * (1 - a)).round().astype(np.uint8)
    return rgb, cut[..., 3] >= 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_the_rembg_recipe(model_path):
    """Lanczos to 320², divide by the maximum, ImageNet mean/std, first output, min-max, truncate, Lanczos back."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 200, (90, 70, 3), dtype=np.uint8)
    small = np.asarray(Image.fromarray(rgb).resize((320, 320), Image.Resampling.LANCZOS), np.float64)
    x = (small / small.max() - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    score = 4.0 * (x @ np.array(GREEN_SCREEN_WEIGHTS) + GREEN_SCREEN_BIAS)
    pred = 1 / (1 + np.exp(-score))
    pred = (pred - pred.min()) / (pred.max() - pred.min())
    expected = np.asarray(Image.fromarray((pred * 255).astype(np.uint8)).resize((70, 90), Image.Resampling.LANCZOS))

    got = U2NetBackgroundRemover.from_file(model_path).predict(rgb)
    assert got.shape == (90, 70) and got.dtype == np.uint8
    # float32 inference against float64 arithmetic: truncation may differ by one level at a few pixels
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert np.mean(got != expected) < 0.02


def test_cuts_a_person_out_of_a_green_screen(model_path, green_screen):
    rgb, truth = green_screen
    alpha = U2NetBackgroundRemover.from_file(model_path)(rgb)
    assert alpha.shape == truth.shape
    assert iou(alpha >= 128, truth) > 0.97


def test_large_photos_are_segmented_at_1024_and_returned_full_size(model_path, green_screen):
    rgb, truth = green_screen
    big = np.asarray(Image.fromarray(rgb).resize((rgb.shape[1] * 2, rgb.shape[0] * 2), Image.Resampling.NEAREST))
    alpha = U2NetBackgroundRemover.from_file(model_path)(big)
    assert alpha.shape == big.shape[:2]
    truth_big = np.repeat(np.repeat(truth, 2, 0), 2, 1)
    assert iou(alpha >= 128, truth_big) > 0.97


def test_a_photo_without_a_person_is_a_coded_error(model_path):
    green = np.zeros((400, 300, 3), np.uint8)
    green[..., 1] = 190
    green[150:160, 140:150] = (200, 150, 120)   # a speck, not a person
    with pytest.raises(SyncHumanError) as err:
        U2NetBackgroundRemover.from_file(model_path)(green)
    assert err.value.code == "input.no_foreground" and "background-removal" in err.value.message


def test_damaged_or_wrong_models_are_named(tmp_path, model_path):
    with pytest.raises(SyncHumanError) as err:
        U2NetBackgroundRemover.from_file(tmp_path / "absent.onnx")
    assert err.value.code == "weights.missing" and "weights download" in err.value.hint

    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:100])
    with pytest.raises(SyncHumanError) as err:
        U2NetBackgroundRemover.from_file(truncated)
    assert err.value.code == "weights.corrupt" and str(truncated) in err.value.message

    other = make_tiny_u2net(tmp_path / "other.onnx", input_size=224)
    with pytest.raises(SyncHumanError) as err:
        U2NetBackgroundRemover.from_file(other)
    assert err.value.code == "weights.corrupt" and "320" in err.value.message


def test_stage1_preprocessing_takes_the_alpha_from_the_model(model_path, green_screen):
    rgb, truth = green_screen
    remover = U2NetBackgroundRemover.from_file(model_path)
    inputs = preprocess_stage1(rgb, foreground=remover)
    assert inputs.alpha_source == "u2net"
    assert iou(inputs.rgba[..., 3] >= 128, truth) > 0.97
    # the cut-out path is unchanged: a photo's own alpha wins
    cut = np.asarray(Image.open(CUTOUT).convert("RGBA"))
    assert preprocess_stage1(cut, foreground=remover).alpha_source == "photo"


def test_verify_reports_the_optional_model(tmp_path, model_path):
    def verify(folder: Path) -> tuple[int, dict]:
        proc = subprocess.run([sys.executable, "-m", "synchuman", "weights", "verify", "--weights", str(folder),
                               "--json"], capture_output=True, text=True, timeout=300)
        rows = {r["component"]: r for r in json.loads(proc.stdout)["components"]}
        return proc.returncode, rows["background removal (optional)"]

    folder = tmp_path / "w"
    _, row = verify(folder)
    assert row["status"] == "missing" and row["optional"] and "shared person detector" in row["detail"]
    (folder / "background").mkdir(parents=True)
    (folder / "background" / "u2net.onnx").write_bytes(b"not a model")
    code, row = verify(folder)
    assert row["status"] == "corrupt" and code == 1
    (folder / "background" / "u2net.onnx").write_bytes(model_path.read_bytes())
    _, row = verify(folder)
    assert row["status"] == "ok"
