"""Constants and callable types that several parts of the backend share (one definition each).

The Blender extension cannot import the backend (it never imports torch and runs in Blender's
Python), so it keeps its own copies of `PHOTO_SUFFIXES` and `safe_name`;
tests/test_common.py checks that both copies agree.
"""

from __future__ import annotations

import re
from typing import Callable

# ImageNet normalisation of the DINOv2 and U^2-Net inputs.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Image files a batch picks up from a folder (what PIL reads without plugins).
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")

# The rig's bone-name conventions and rest poses (settings `rig_names`, `rest_pose`; see docs/rig.md).
RIG_NAME_CHOICES = ("native", "mixamo", "rigify")
REST_POSE_CHOICES = ("photo", "a-pose", "t-pose")

# progress(stage, done, total, message): stage is a job-stage name (`jobs.Stage`).
ProgressFn = Callable[[str, float, float, str], None]
# step_callback(done, total): what samplers and loops call after each step; it reports progress
# and raises `Cancelled` when the job was cancelled (see `reporter`).
StepCallback = Callable[[int, int], None]

_UNSAFE = re.compile(r"[^\w.-]+")  # \w keeps letters of any script


def safe_name(stem: str) -> str:
    """A folder name derived from a photo's name that cannot escape the output folder."""
    name = _UNSAFE.sub("_", stem).strip("._") or "photo"
    return name[:80]


def reporter(progress: ProgressFn | None, cancel=None) -> ProgressFn:
    """One callable for both progress and cancel: stops (raises `Cancelled`) when `cancel` is set,
    else forwards to `progress`. Pass it where a loop reports its steps."""
    def report(stage: str, done: float, total: float, message: str = "") -> None:
        if cancel is not None:
            cancel.raise_if_set()
        if progress is not None:
            progress(stage, done, total, message)
    return report


def step_callback(report: ProgressFn, stage: str, label: str, offset: int = 0,
                  total: int | None = None) -> StepCallback:
    """A sampler's `callback(done, steps)` that reports `stage` progress `offset + done` of `total`
    (default: the sampler's step count) with the message "<label> <done>/<steps>"."""
    def on_step(done: int, steps: int) -> None:
        report(stage, offset + done, total or steps, f"{label} {done}/{steps}")
    return on_step
