"""The backend's JSON-lines protocol over stdio (see docs/protocol.md). Pure standard library.

One JSON object per line, in both directions, each with a "type". The Blender extension
speaks the client side with its own small module; both sides check PROTOCOL_VERSION
in the `hello` exchange, because they are installed separately.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

PROTOCOL_VERSION = 1

REQUEST_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # type: (required fields, optional fields); "type" and "id" are always allowed
    "hello": (set(), {"protocol", "client"}),
    "info": (set(), set()),
    "reconstruct": ({"job", "photo", "output_dir"}, {"settings"}),
    "cancel": ({"job"}, set()),
    "release": (set(), set()),
    "shutdown": (set(), set()),
}

EVENT_TYPES = ("hello", "info", "accepted", "progress", "result", "error", "released")


class ProtocolError(ValueError):
    """A request line that cannot be served; becomes an `error` event with code protocol.*."""

    def __init__(self, code: str, message: str, request_id: Any = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


def encode(message: dict[str, Any]) -> str:
    """One line of JSON (no embedded newlines), terminated by \\n."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"


def decode_request(line: str) -> dict[str, Any]:
    """Parses and validates one request line; raises ProtocolError with a stable code."""
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError("protocol.bad_json", f"Not a JSON line: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(msg, dict):
        raise ProtocolError("protocol.bad_request", "A request must be a JSON object")
    request_id = msg.get("id")
    kind = msg.get("type")
    if kind not in REQUEST_FIELDS:
        raise ProtocolError("protocol.unknown_type",
                            f"Unknown request type {kind!r}; known: {', '.join(REQUEST_FIELDS)}", request_id)
    required, optional = REQUEST_FIELDS[kind]
    missing = sorted(required - set(msg))
    if missing:
        raise ProtocolError("protocol.bad_request", f"{kind} request lacks {', '.join(missing)}", request_id)
    extra = sorted(set(msg) - required - optional - {"type", "id"})
    if extra:
        raise ProtocolError("protocol.bad_request", f"{kind} request has unknown field(s) {', '.join(extra)}",
                            request_id)
    if kind == "hello" and "protocol" in msg and msg["protocol"] != PROTOCOL_VERSION:
        raise ProtocolError("protocol.version_mismatch",
                            f"Client speaks protocol {msg['protocol']}, this backend speaks {PROTOCOL_VERSION}",
                            request_id)
    if kind in ("reconstruct", "cancel") and not isinstance(msg["job"], str):
        raise ProtocolError("protocol.bad_request", "job must be a string id", request_id)
    if kind == "reconstruct":
        for key in ("photo", "output_dir"):
            if not isinstance(msg[key], str) or not msg[key]:
                raise ProtocolError("protocol.bad_request", f"{key} must be a non-empty path string", request_id)
        if not isinstance(msg.get("settings", {}), dict):
            raise ProtocolError("protocol.bad_request", "settings must be an object", request_id)
    return msg


def error_event(code: str, message: str, hint: str = "", details: dict | None = None,
                job: str | None = None, request_id: Any = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "error", "code": code, "message": message, "hint": hint,
                             "details": details or {}}
    if job is not None:
        event["job"] = job
    if request_id is not None:
        event["id"] = request_id
    return event


def claim_stdout() -> IO[str]:
    """Keeps the real stdout for protocol lines and points file descriptor 1 at stderr, so stray
    prints of libraries (including C code and child processes) cannot corrupt the stream."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return stream
