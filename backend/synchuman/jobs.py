"""What every job shares: cancellation, weighted progress, and the job folder.

A job writes only into its own folder, created under a temporary name inside the
output folder and renamed when complete, so a failed or cancelled job never leaves
a folder that looks finished. The temporary name carries the owner's pid and host, so
a sweep removes only the partial folders of processes that are provably dead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .common import safe_name
from .errors import Cancelled, SyncHumanError, disk_full_error

log = logging.getLogger("synchuman")

PARTIAL_MARK = ".partial-"
# ".NAME.partial-PID@HOST-XXXXXXXX"; older partial folders without an owner are never swept.
_OWNED_PARTIAL = re.compile(re.escape(PARTIAL_MARK) + r"(\d+)@(.+)-[0-9a-f]{8}$")


class CancelToken:
    """Cooperative cancellation: engines call `raise_if_set()` at every step and between stages."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "The job was cancelled."

    def set(self, reason: str | None = None) -> None:
        if reason:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


@dataclass(frozen=True)
class Stage:
    """One step of an engine's work; `weight` is its expected share of the wall time."""

    name: str
    label: str
    weight: float = 1.0


class ProgressReporter:
    """Turns `progress(stage, done, total, message)` calls into weighted progress events.

    Every call also checks the cancel token, so a job stops within one progress tick.
    Events are rate-limited (a stage's start and end always go out).
    """

    MIN_INTERVAL_S = 0.05

    def __init__(self, stages: tuple[Stage, ...] | list[Stage], emit: Callable[[dict], None],
                 cancel: CancelToken | None = None):
        self.stages = list(stages)
        self._index = {s.name: i for i, s in enumerate(self.stages)}
        total_weight = sum(s.weight for s in self.stages) or 1.0
        self._start_fraction = []
        acc = 0.0
        for s in self.stages:
            self._start_fraction.append(acc / total_weight)
            acc += s.weight
        self._total_weight = total_weight
        self.emit = emit
        self.cancel = cancel or CancelToken()
        self.timings: dict[str, float] = {}
        self._current: str | None = None
        self._stage_started = 0.0
        self._last_emit = 0.0
        self.started = time.monotonic()

    def _close_current(self) -> None:
        if self._current is not None:
            self.timings[self._current] = round(
                self.timings.get(self._current, 0.0) + time.monotonic() - self._stage_started, 4)
        self._current = None

    def finish(self) -> None:
        self._close_current()

    def __call__(self, stage: str, done: float = 0, total: float = 1, message: str = "") -> None:
        self.cancel.raise_if_set()
        if stage not in self._index:
            raise ValueError(f"unknown progress stage {stage!r}; declared: {list(self._index)}")
        now = time.monotonic()
        new_stage = stage != self._current
        if new_stage:
            self._close_current()
            self._current = stage
            self._stage_started = now
        total = max(float(total), 1e-9)
        done_frac = min(max(float(done) / total, 0.0), 1.0)
        if not (new_stage or done_frac >= 1.0 or now - self._last_emit >= self.MIN_INTERVAL_S):
            return
        self._last_emit = now
        i = self._index[stage]
        fraction = self._start_fraction[i] + done_frac * self.stages[i].weight / self._total_weight
        self.emit({
            "type": "progress",
            "stage": stage,
            "stage_label": self.stages[i].label,
            "stage_index": i,
            "stage_count": len(self.stages),
            "step": int(done) if float(done).is_integer() else float(done),
            "total": int(total) if float(total).is_integer() else float(total),
            "fraction": round(min(fraction, 1.0), 4),
            "message": message,
            "elapsed_s": round(now - self.started, 2),
        })


class JobFolder:
    """A job's own folder: written as `.NAME.partial-XXXX`, renamed to NAME (or NAME-2, ...) on commit."""

    def __init__(self, output_dir: Path | str, name: str):
        self.output_dir = output_folder(output_dir)
        self.name = safe_name(name)
        owner = f"{os.getpid()}@{_host()}"
        self.path = self.output_dir / f".{self.name}{PARTIAL_MARK}{owner}-{uuid.uuid4().hex[:8]}"
        self.final_path: Path | None = None

    def create(self) -> Path:
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.path.mkdir()
        except OSError as exc:
            full = disk_full_error(exc)
            if full:
                raise full from exc
            raise SyncHumanError("output.unwritable", f"Cannot create a job folder in {self.output_dir}: {exc}",
                                 "Choose an output folder you can write to, with free disk space.") from exc
        return self.path

    def file(self, relative: str) -> Path:
        """A path inside the job folder (refuses anything that would leave it)."""
        target = (self.path / relative).resolve()
        if self.path.resolve() not in target.parents:
            raise ValueError(f"{relative!r} is outside the job folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def commit(self) -> Path:
        for n in range(1, 10_000):
            candidate = self.output_dir / (self.name if n == 1 else f"{self.name}-{n}")
            try:
                self.path.rename(candidate)  # atomic on one filesystem; fails if candidate exists and is non-empty
            except OSError:
                if os.path.lexists(candidate):  # taken, also by a file or a (dangling) symlink
                    continue
                raise
            self.final_path = candidate
            return candidate
        raise SyncHumanError("output.exists", f"Too many results named {self.name} in {self.output_dir}",
                             "Clean up the output folder.")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def output_folder(output_dir: Path | str) -> Path:
    """The absolute output folder, or a coded error for a path the system cannot use."""
    try:
        return Path(output_dir).expanduser().resolve()
    except (ValueError, OSError, RuntimeError) as exc:  # a NUL byte, a symlink loop, a name too long
        raise SyncHumanError("output.bad_path", f"The output folder {output_dir!r} is not a usable path: {exc}",
                             "Choose an existing folder with an ordinary name.") from exc


def _host() -> str:
    return re.sub(r"[^\w.-]+", "_", socket.gethostname())[:40] or "host"


def process_is_dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    try:  # a killed process its parent has not reaped yet is dead too
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"
    except (OSError, ValueError, IndexError):
        return False


def sweep_dead_partials(output_dir: Path | str) -> int:
    """Removes the partial folders in `output_dir` whose owner process, on this host, is gone; keeps
    those of live processes (another service or batch may be writing them) and any it cannot attribute."""
    folder = Path(output_dir).expanduser()
    if not folder.is_dir():
        return 0
    host, removed = _host(), 0
    for p in folder.iterdir():
        owner = _OWNED_PARTIAL.search(p.name) if p.name.startswith(".") else None
        if owner and owner.group(2) == host and not p.is_symlink() and p.is_dir() \
                and process_is_dead(int(owner.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


def write_json(path: Path, data: dict) -> None:
    """Writes JSON through a temporary file so a reader never sees half a file; a full disk is
    `output.disk_full` and leaves the previous file as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        full = disk_full_error(exc)
        if full:
            raise full from exc
        raise


class _WarningCollector(logging.Handler):
    """Warnings logged by the job's own thread (not, say, the service's reader meanwhile)."""

    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.into.append(record.getMessage())


class JobLog:
    """Copies the `synchuman` logger into the job folder's `job.log` while the job runs, and keeps
    its warnings (`.warnings`) for the result: what the user should know about an otherwise good job."""

    def __init__(self, path: Path):
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.handler.setLevel(logging.DEBUG)
        self.warnings: list[str] = []
        self.collector = _WarningCollector(self.warnings)

    def __enter__(self):
        root = logging.getLogger("synchuman")
        root.addHandler(self.handler)
        root.addHandler(self.collector)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        root = logging.getLogger("synchuman")
        root.removeHandler(self.collector)
        root.removeHandler(self.handler)
        self.handler.close()
