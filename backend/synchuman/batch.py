"""Batches: many photos into one output folder, with a `batch.json` log, resume and retries.

The in-process runner here and the Ray runner (`cluster.py`) share the same items, log and
result layout, so a batch can be resumed by either. An item is "done" when the log says so and
its job folder still holds a `job.json` for the same input (same file hash); rerunning a batch
skips those. Each attempt's job id is written to the log before the job runs, so an attempt whose
folder was committed just before the batch was killed is recognised on resume (its `job.json`
holds that id and the input's hash) instead of being run again. One bad photo never stops a
batch; it is recorded with its error code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .common import PHOTO_SUFFIXES
from .engines import ReconstructSettings
from .errors import Cancelled, SyncHumanError, internal_error
from .jobs import CancelToken, output_folder, sweep_dead_partials, write_json

log = logging.getLogger("synchuman.batch")

LOG_NAME = "batch.json"
# Errors that a retry cannot fix (the input, the settings or the output folder is wrong, or the disk full).
DETERMINISTIC_PREFIXES = ("input.", "settings.", "engine.unavailable", "weights.", "output.")


def collect_photos(inputs: list[str | Path]) -> list[Path]:
    """Photos named directly, plus image files directly inside named folders (sorted, no duplicates)."""
    photos: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            photos += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                             and not p.name.startswith("."))
        else:
            photos.append(path)  # a missing file becomes a failed item with input.not_found
    seen: set[Path] = set()
    unique = []
    for p in photos:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def file_sha256(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


@dataclass
class BatchItem:
    photo: str
    status: str = "pending"          # pending | running | done | failed | cancelled
    sha256: str | None = None
    job_dir: str | None = None
    glb: str | None = None
    seconds: float | None = None
    attempts: int = 0
    job_id: str | None = None        # the current attempt's id, logged before it runs (see module doc)
    worker: str | None = None
    error: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier failed attempts
    warnings: list[str] = field(default_factory=list)            # what a successful job warned about

    def begin_attempt(self, worker: str) -> None:
        self.status, self.attempts, self.worker = "running", self.attempts + 1, worker
        self.job_id = f"{Path(self.photo).name}#{uuid.uuid4().hex[:8]}"

    def record_result(self, result: dict[str, Any]) -> None:
        """A finished job: where it is and what it warned about."""
        self.status, self.error = "done", None
        self.job_dir, self.glb = result["job_dir"], result["glb"]
        self.warnings = list((result.get("metadata") or {}).get("warnings") or [])


class BatchLog:
    """`batch.json`: settings, one entry per photo, and totals; rewritten atomically on every change."""

    def __init__(self, output_dir: Path, settings: ReconstructSettings, runner: str):
        self.output_dir = output_dir
        self.path = output_dir / LOG_NAME
        self.settings = settings
        self.runner = runner
        self.items: dict[str, BatchItem] = {}
        self._lock = threading.Lock()
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if self.path.is_file():
            try:
                previous = json.loads(self.path.read_text())
                for entry in previous.get("items", []):
                    item = BatchItem(**entry)
                    self.items[item.photo] = item
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("ignoring unreadable %s: %s", self.path, exc)

    def adopt_committed(self) -> int:
        """Items the log calls running whose job folder was committed before the batch was killed
        become done; returns how many."""
        running = {i.job_id: i for i in self.items.values() if i.status == "running" and i.job_id}
        adopted = 0
        if not running or not self.output_dir.is_dir():
            return 0
        for folder in self.output_dir.iterdir():
            if folder.name.startswith(".") or not (folder / "job.json").is_file():
                continue
            try:
                meta = json.loads((folder / "job.json").read_text())
                item = running.get(meta.get("job_id"))
                if item is None or meta["input"]["sha256"] != item.sha256:
                    continue
                item.record_result({"job_dir": str(folder), "glb": str(folder / meta["outputs"]["glb"]),
                                    "metadata": meta})
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("cannot read %s: %s", folder / "job.json", exc)
                continue
            adopted += 1
        return adopted

    def is_done(self, photo: Path, sha256: str | None) -> bool:
        item = self.items.get(str(photo))
        return bool(item and item.status == "done" and item.sha256 == sha256 and item.job_dir
                    and (Path(item.job_dir) / "job.json").is_file())

    def item(self, photo: Path) -> BatchItem:
        with self._lock:
            return self.items.setdefault(str(photo), BatchItem(photo=str(photo)))

    def save(self) -> None:
        with self._lock:
            items = [asdict(i) for i in self.items.values()]
        counts: dict[str, int] = {}
        for i in items:
            counts[i["status"]] = counts.get(i["status"], 0) + 1
        self.output_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path, {"runner": self.runner, "started": self.started,
                               "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "settings": self.settings.to_dict(), "counts": counts, "items": items})


def is_deterministic(error: dict[str, Any]) -> bool:
    return str(error.get("code", "")).startswith(DETERMINISTIC_PREFIXES)


class BatchProgress:
    """Aggregated progress: done / failed / running, throughput and ETA; one event per change."""

    def __init__(self, total: int, emit: Callable[[dict], None]):
        self.total = total
        self.emit = emit
        self.started = time.monotonic()
        self.done = self.failed = self.skipped = 0
        self.running: dict[str, str] = {}   # photo -> worker

    def event(self, kind: str, **fields) -> None:
        elapsed = time.monotonic() - self.started
        finished = self.done + self.failed
        rate = finished / elapsed * 60 if elapsed > 0 and finished else 0.0
        remaining = self.total - finished - self.skipped
        eta = remaining / (rate / 60) if rate > 0 else None
        self.emit({"type": "batch", "event": kind, "total": self.total, "done": self.done, "failed": self.failed,
                   "skipped": self.skipped, "running": len(self.running), "photos_per_minute": round(rate, 2),
                   "eta_s": None if eta is None else round(eta, 1), "elapsed_s": round(elapsed, 1), **fields})


def open_batch(inputs: list[str | Path], output_dir: str | Path, settings: ReconstructSettings,
               emit: Callable[[dict], None], runner: str) -> tuple[BatchLog, BatchProgress, list[Path]]:
    """Starts (or resumes) a batch: the log, the progress, and the photos still to do."""
    output_dir = output_folder(output_dir)
    photos = collect_photos(inputs)
    if not photos:
        raise SyncHumanError("input.not_found", "No photos found in the given paths.",
                             f"Give image files or folders holding {', '.join(sorted(PHOTO_SUFFIXES))} files.")
    settings.validate()
    batch_log = BatchLog(output_dir, settings, runner)
    progress = BatchProgress(len(photos), emit)
    sweep_dead_partials(output_dir)  # only those of dead processes: a live service may share the folder
    batch_log.adopt_committed()
    progress.event("start", runner=runner)
    todo = []
    for photo in photos:
        sha = file_sha256(photo)
        if batch_log.is_done(photo, sha):
            progress.skipped += 1
            progress.event("skipped", photo=str(photo))
            continue
        item = batch_log.item(photo)
        item.sha256, item.status, item.error, item.attempts = sha, "pending", None, 0
        todo.append(photo)
    batch_log.save()
    return batch_log, progress, todo


def close_batch(batch_log: BatchLog, progress: BatchProgress, cancelled: bool) -> dict[str, Any]:
    """Marks what never ran as cancelled, writes the log, emits `finished`; returns the summary."""
    for item in batch_log.items.values():
        if item.status in ("pending", "running"):
            item.status = "cancelled"
    batch_log.save()
    summary = {"output_dir": str(batch_log.output_dir), "log": str(batch_log.path), "total": progress.total,
               "done": progress.done, "failed": progress.failed, "skipped": progress.skipped,
               "cancelled": cancelled}
    progress.event("finished", cancelled=cancelled, log=summary["log"])
    return summary


def run_batch(inputs: list[str | Path], output_dir: str | Path, settings: ReconstructSettings,
              emit: Callable[[dict], None], cancel: CancelToken, retries: int = 2) -> dict[str, Any]:
    """In-process batch, one photo at a time; returns the summary written to batch.json."""
    from .runner import EngineCache, run_reconstruction

    batch_log, progress, todo = open_batch(inputs, output_dir, settings, emit, "local")
    engines = EngineCache()
    for photo in todo:
        if cancel.is_set():
            break
        item = batch_log.item(photo)
        while not cancel.is_set():
            item.begin_attempt("local")
            progress.running[str(photo)] = "local"
            batch_log.save()
            progress.event("item_started", photo=str(photo), attempt=item.attempts)
            started = time.monotonic()

            def job_event(event: dict, photo=photo) -> None:
                emit({**event, "photo": str(photo)})

            try:
                result = run_reconstruction(photo, batch_log.output_dir, settings, job_event, cancel, engines,
                                            job_id=item.job_id)
                item.record_result(result)
                error = None
            except Cancelled as exc:
                item.status, error = "cancelled", exc.to_dict()
            except SyncHumanError as exc:
                error = exc.to_dict()
            except Exception as exc:  # noqa: BLE001 - a crash in one item must not stop the batch
                log.exception("item %s crashed", photo)
                error = internal_error(exc).to_dict()
            item.seconds = round(time.monotonic() - started, 3)
            progress.running.pop(str(photo), None)
            if error is None:
                progress.done += 1
                progress.event("item_done", photo=str(photo), job_dir=item.job_dir, seconds=item.seconds)
                break
            item.error = error
            if item.status == "cancelled":
                break
            if not is_deterministic(error) and item.attempts <= retries:
                item.history.append({"attempt": item.attempts, "error": error})
                progress.event("item_retry", photo=str(photo), error=error)
                continue
            item.status = "failed"
            progress.failed += 1
            progress.event("item_failed", photo=str(photo), error=error)
            break
        batch_log.save()
    return close_batch(batch_log, progress, cancel.is_set())
