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


def disk_full_error(exc: BaseException) -> SyncHumanError | None:
    """`output.disk_full` when `exc`, or an exception it was raised from, is a full disk or quota."""
    import errno

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return SyncHumanError("output.disk_full", f"The disk is full: {exc}",
                                  "Free disk space in the output folder (or choose another folder) and run again.")
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def internal_error(exc: BaseException) -> SyncHumanError:
    """Wraps an unexpected exception so it still reaches the user with a code and a hint."""
    import traceback

    return SyncHumanError(
        "internal.error",
        f"{type(exc).__name__}: {exc}",
        "This is a bug in SyncHuman. The job log holds the traceback; please report it with the log.",
        {"traceback": "".join(traceback.format_exception(exc))[-4000:]},
    )
