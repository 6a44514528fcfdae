"""Errors that reach users: a stable code, a message and a hint that says what to do."""

from __future__ import annotations


class SyncHumanError(Exception):
    """An expected failure with a stable `code` (e.g. ``input.unreadable``) and a `hint`."""

    def __init__(self, code: str, message: str, hint: str = "", details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint, "details": self.details}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" + (f"\n  hint: {self.hint}" if self.hint else "")


class Cancelled(SyncHumanError):
    """Raised inside a job when its cancel token is set."""

    def __init__(self, message: str = "The job was cancelled."):
        super().__init__("job.cancelled", message, "Nothing was written; start the job again when ready.")


def internal_error(exc: BaseException) -> SyncHumanError:
    """Wraps an unexpected exception so it still reaches the user with a code and a hint."""
    import traceback

    return SyncHumanError(
        "internal.error",
        f"{type(exc).__name__}: {exc}",
        "This is a bug in SyncHuman. The job log holds the traceback; please report it with the log.",
        {"traceback": "".join(traceback.format_exception(exc))[-4000:]},
    )
