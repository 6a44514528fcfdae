"""The client side of the backend's JSON-lines protocol (docs/protocol.md). Pure standard library.

The extension and the backend are installed separately, so this module is the extension's own
copy of what it needs to know: the version it speaks (checked in the `hello` exchange), the
request and event types, and the settings the backend accepts. A test compares all of it with
the backend's `synchuman.protocol` and `synchuman.engines.base`.
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1

REQUEST_TYPES = ("hello", "info", "reconstruct", "cancel", "release", "shutdown")
EVENT_TYPES = ("hello", "info", "accepted", "progress", "result", "error", "released")

# Settings of a `reconstruct` request, with the backend's choices and defaults.
ENGINE_CHOICES = ("auto", "preview", "synchuman")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")
MEMORY_MODES = ("full", "balanced", "low")
TEXTURE_SIZES = (256, 512, 1024, 2048, 4096)
SETTINGS_KEYS = ("engine", "seed", "height_m", "texture_size", "max_faces", "device", "precision",
                 "memory_mode", "weights_dir", "stage1_steps", "stage2_steps", "person_box")
DEFAULT_HEIGHT_M = 1.75
DEFAULT_TEXTURE_SIZE = 1024
DEFAULT_MAX_FACES = 60_000
HEIGHT_RANGE_M = (0.3, 3.0)
MAX_FACES_RANGE = (1_000, 2_000_000)

# Error codes made on this side, for failures the backend cannot report itself.
CLIENT_ERROR_CODES = (
    "backend.not_configured",   # no interpreter to start it with
    "backend.start_failed",     # the process could not be started, or exited before `hello`
    "backend.incompatible",     # it speaks another protocol version
    "backend.exited",           # it stopped while a job was running
    "backend.timeout",          # it did not answer `hello` in time
)


class ProtocolViolation(ValueError):
    """A line from the backend that is not a protocol event."""


def encode(message: dict[str, Any]) -> str:
    """One request as a line of JSON terminated by a newline."""
    if message.get("type") not in REQUEST_TYPES:
        raise ValueError(f"not a request type: {message.get('type')!r}")
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"


def decode_event(line: str) -> dict[str, Any]:
    """Parses one line from the backend's stdout into an event dict."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolViolation(f"not a JSON line: {line[:200]!r}") from exc
    if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
        raise ProtocolViolation(f"not a protocol event: {line[:200]!r}")
    return event


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
