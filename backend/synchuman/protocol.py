"""The backend's JSON-lines protocol over stdio (see docs/protocol.md). Pure standard library.

One JSON object per line, in both directions, each with a "type". The Blender extension
speaks the client side with its own small module; both sides check PROTOCOL_VERSION
in the `hello` exchange, because they are installed separately.
"""

from __future__ import annotations

import json
import math
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

# A request id is echoed in answers: scalars only, so echoing cannot fail or nest without end.
ID_TYPES = (str, int, float, bool, type(None))

EVENT_TYPES = ("hello", "info", "accepted", "progress", "result", "error", "released")


class ProtocolError(ValueError):
    """A request line that cannot be served; becomes an `error` event with code protocol.*."""

    def __init__(self, code: str, message: str, request_id: Any = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


def _finite(value: Any) -> Any:
    """The value with NaN and infinities replaced by null, which strict JSON readers accept."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode(message: dict[str, Any]) -> str:
    """One line of strict JSON (no embedded newlines, no NaN), terminated by \\n, that is always valid
    UTF-8: a string holding a lone surrogate (a Latin-1 file name decoded on Linux) is written as an
    escape instead of failing the whole event."""
    try:
        line = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:  # a NaN or an infinity somewhere in the event
        line = json.dumps(_finite(message), separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(_finite(message), separators=(",", ":"), ensure_ascii=True, default=str)
    return line + "\n"


def _refuse_constant(name: str) -> Any:
    raise ProtocolError("protocol.bad_json", f"{name} is not valid JSON; send numbers as finite values")


def decode_request(line: str) -> dict[str, Any]:
    """Parses and validates one request line; raises ProtocolError with a stable code."""
    try:
        msg = json.loads(line, parse_constant=_refuse_constant)
    except ProtocolError:
        raise
    except json.JSONDecodeError as exc:
        raise ProtocolError("protocol.bad_json", f"Not a JSON line: {exc.msg} at column {exc.colno}") from exc
    except RecursionError as exc:
        raise ProtocolError("protocol.bad_json", "The JSON is nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ProtocolError("protocol.bad_json", f"Not a usable JSON line: {exc}") from exc
    if not isinstance(msg, dict):
        raise ProtocolError("protocol.bad_request", "A request must be a JSON object")
    request_id = msg.get("id")
    if not isinstance(request_id, ID_TYPES):
        raise ProtocolError("protocol.bad_request", "id must be a string, a number or null")
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in REQUEST_FIELDS:
        raise ProtocolError("protocol.unknown_type",
                            f"Unknown request type {repr(kind)[:80]}; known: {', '.join(REQUEST_FIELDS)}", request_id)
    required, optional = REQUEST_FIELDS[kind]
    missing = sorted(required - set(msg))
    if missing:
        raise ProtocolError("protocol.bad_request", f"{kind} request lacks {', '.join(missing)}", request_id)
    extra = sorted(set(msg) - required - optional - {"type", "id"})
    if extra:
        raise ProtocolError("protocol.bad_request", f"{kind} request has unknown field(s) {', '.join(extra)}",
                            request_id)
    if kind == "hello" and "protocol" in msg and (type(msg["protocol"]) is not int):
        raise ProtocolError("protocol.bad_request",
                            f"protocol must be an integer (this backend speaks {PROTOCOL_VERSION}), "
                            f"not {msg['protocol']!r}", request_id)
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


_claimed_stdout: IO[str] | None = None


def claim_stdout() -> IO[str]:
    """Keeps the real stdout for protocol lines and points file descriptor 1 at stderr, so stray
    prints of libraries (including C code and child processes) cannot corrupt the stream. Claiming
    twice returns the same stream."""
    global _claimed_stdout
    if _claimed_stdout is None:
        sys.stdout.flush()
        _claimed_stdout = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
    return _claimed_stdout


def protocol_stdout() -> IO[str]:
    """Where protocol lines go: the stdout kept by `claim_stdout`, else the current stdout."""
    return _claimed_stdout or sys.stdout
