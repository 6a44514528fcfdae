"""The client side of the backend's JSON-lines protocol (docs/protocol.md). Pure standard library.

The extension and the backend are installed separately, so this module is the extension's own
copy of what it needs to know: the version it speaks (checked in the `hello` exchange), the
request and event types, and the settings the backend accepts. A test compares all of it with
the backend's `synchuman.protocol` and `synchuman.engines.base`.
"""

from __future__ import annotations

import json
import re
from typing import Any

PROTOCOL_VERSION = 1
EXTENSION_VERSION = "0.1.0"  # keep equal to blender_manifest.toml (a test checks)

REQUEST_TYPES = ("hello", "info", "reconstruct", "cancel", "release", "shutdown")
EVENT_TYPES = ("hello", "info", "accepted", "progress", "result", "error", "released")

# Settings of a `reconstruct` request, with the backend's choices and defaults.
ENGINE_CHOICES = ("auto", "preview", "synchuman")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")
MEMORY_MODES = ("full", "balanced", "low")
TEXTURE_SIZES = (256, 512, 1024, 2048, 4096)
RIG_NAME_CHOICES = ("native", "mixamo", "rigify")     # bone names in the GLB (docs/rig.md)
REST_POSE_CHOICES = ("photo", "a-pose", "t-pose")
SETTINGS_KEYS = ("engine", "seed", "height_m", "texture_size", "max_faces", "device", "precision",
                 "memory_mode", "weights_dir", "stage1_steps", "stage2_steps", "person_box", "rig", "rig_names",
                 "rest_pose")
DEFAULT_HEIGHT_M = 1.75
DEFAULT_TEXTURE_SIZE = 1024
DEFAULT_MAX_FACES = 60_000
HEIGHT_RANGE_M = (0.3, 3.0)
MAX_FACES_RANGE = (1_000, 2_000_000)
STEPS_RANGE = (1, 500)              # stage1_steps / stage2_steps when given (the panel's 0 leaves them out)
SEED_RANGE = (0, 2**63 - 1)
PERSON_BOX_LIMIT = 1_000_000        # photo pixel coordinates are below this

# Photo files the backend reads (a folder given to the batch is searched for these).
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
_UNSAFE = re.compile(r"[^\w.-]+")  # \w keeps letters of any script


def safe_name(stem: str, fallback: str = "photo") -> str:
    """A file or folder name made from a photo's name that cannot leave its folder (the backend's rule)."""
    return (_UNSAFE.sub("_", stem).strip("._") or fallback)[:80]


def parse_person_box(text: str) -> list[int]:
    """"X0,Y0,X1,Y1" in photo pixels -> [x0, y0, x1, y1]; ValueError says what is wrong."""
    try:
        box = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"person box {text!r}: four whole numbers X0,Y0,X1,Y1") from None
    if len(box) != 4 or not all(0 <= v < PERSON_BOX_LIMIT for v in box) or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"person box {text!r}: four pixel coordinates X0,Y0,X1,Y1 with X1 > X0 and Y1 > Y0")
    return box

# Error codes made on this side, for failures the backend cannot report itself.
CLIENT_ERROR_CODES = (
    "backend.not_configured",   # no interpreter to start it with
    "backend.start_failed",     # the process could not be started, or exited before `hello`
    "backend.incompatible",     # it speaks another protocol version
    "backend.exited",           # it stopped while a job was running
    "backend.timeout",          # it did not answer `hello` in time
)


def encode(message: dict[str, Any]) -> str:
    """One request as a line of JSON terminated by a newline."""
    if message.get("type") not in REQUEST_TYPES:
        raise ValueError(f"not a request type: {message.get('type')!r}")
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"


def error_event(code: str, message: str, hint: str = "", details: dict | None = None,
                job: str | None = None) -> dict[str, Any]:
    """An `error` event made on the client side, shaped like the backend's."""
    event: dict[str, Any] = {"type": "error", "code": code, "message": message, "hint": hint,
                             "details": details or {}}
    if job is not None:
        event["job"] = job
    return event


def is_final(event: dict[str, Any]) -> bool:
    """True for the event that ends a job (its result or its error)."""
    return event.get("type") in ("result", "error") and "job" in event
