"""The job session of this Blender: the one JobClient, the job in flight, and the main-thread
side of the event flow.

Backend events arrive in `JobClient.events` from its reader threads. They are applied here, on
the main thread only, by one of two drivers:
* the UI: `Session.on_timer`, stepped by the one timer of pump.py, drains the queue within a
  small time budget;
* background runs (`bpy.app.background`: tests, `blender -b`): `JobClient.run_job` blocks and
  hands each event to `Session.apply`, because timers never fire there.
Either way a `result` is imported right here (importer.import_result) and pushed as one undo
step, so the long job stays out of the undo history and the import is one step in it.
"""

from __future__ import annotations

import queue
import time
import traceback
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import bpy

from . import importer, job_state, pump
from .client import DEAD, READY, STARTING, STOPPED, JobClient
from .preferences import backend_config, get_prefs
from .protocol import error_event

TIMER_INTERVAL_S = 0.1
IDLE_INTERVAL_S = 1.0
EVENT_BUDGET_S = 0.008    # the timer stops applying events after this long, to keep the UI smooth
PUMP_NAME = "session"


@dataclass
class JobRequest:
    """Everything one reconstruction needs, captured when the button is pressed (the artist may
    change the panel while it runs)."""

    photo: str                  # the file sent to the backend
    photo_label: str            # what the artist picked (path, or image name)
    name: str                   # name of the collection and object
    output_dir: str
    settings: dict
    height_m: float
    mark_asset: bool = False
    catalog: str = ""
    tags: str = ""
    library_dir: str = ""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


@dataclass
class ActiveJob:
    request: JobRequest
    started_at: float                       # time.time()
    cancel_sent_at: float | None = None     # time.monotonic()
    last_printed_stage: str = ""


class Session:
    def __init__(self) -> None:
        self.client: JobClient | None = None
        self.job: ActiveJob | None = None
        self.force_blocking: bool | None = None   # None: blocking exactly when bpy.app.background
        self.stall_probe: list | None = None      # benchmarks collect timer durations here

    # -- configuration --------------------------------------------------------------------
    def blocking(self) -> bool:
        return bpy.app.background if self.force_blocking is None else self.force_blocking

    def busy(self) -> bool:
        return self.job is not None

    def client_for(self, context) -> JobClient:
        """The client for the configured backend; a changed interpreter or weights folder
        replaces an idle client (its backend is stopped)."""
        config = backend_config(context)
        current = self.client
        if current is not None and (current.config.python, current.config.weights_dir) == \
                (config.python, config.weights_dir):
            current.config.log_path = config.log_path
            return current
        if current is not None:
            current.stop(wait=False)
        self.client = JobClient(config)
        return self.client

    # -- backend lifecycle ------------------------------------------------------------------
    def start_backend(self, context, wait_s: float = 60.0) -> None:
        client = self.client_for(context)
        client.start()
        client.request_info()
        if self.blocking():
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                event = _get(client, 0.1)
                if event is not None:
                    self.apply(context, event)
                    if event["type"] in ("info",) or client.state in (DEAD, STOPPED):
                        break
        else:
            self.watch()

    def release_backend(self, context, wait: bool | None = None) -> None:
        """Stops the backend process, which is what frees its memory. A running job is cancelled."""
        if self.client is None:
            return
        self.client.stop(wait=self.blocking() if wait is None else wait)
        if self.blocking():
            self.pump(context, budget_s=None)
        else:
            self.watch()

    def shutdown(self) -> None:
        """Extension disabled or Blender closing: the backend must not outlive us."""
        pump.unwatch(PUMP_NAME)
        if self.client is not None:
            self.client.stop(timeout=5.0)
        self.client = None
        self.job = None

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, context, request: JobRequest) -> None:
        """Starts a job. In blocking mode returns when it ended (and was imported)."""
        if self.job is not None:
            raise RuntimeError("a reconstruction is already running")
        client = self.client_for(context)
        self.job = ActiveJob(request, time.time())
        state = job_state.job_state(context)
        if state is not None:
            job_state.reset(state, request.job_id, request.name, starting=client.state != READY)
        if self.blocking():
            try:
                client.run_job(request.photo, request.output_dir, request.settings, job_id=request.job_id,
                               on_event=lambda event: self.apply(context, event),
                               cancel_grace_s=get_prefs(context).cancel_grace_s)
            except OSError as exc:
                self._finish_error(context, _start_error(client, exc))
            return
        try:
            client.submit(request.photo, request.output_dir, request.settings, job_id=request.job_id)
            if not client.info:
                client.request_info()  # engines and device for the status line, answered alongside the job
        except OSError as exc:
            self._finish_error(context, _start_error(client, exc))
            return
        self.watch()

    def cancel(self, context) -> None:
        job = self.job
        if job is None or job.cancel_sent_at is not None or self.client is None:
            return
        job.cancel_sent_at = time.monotonic()
        self.client.cancel(job.request.job_id)
        state = job_state.job_state(context)
        if state is not None:
            state.status = 'CANCELLING'
            state.stage_label = "Cancelling…"

    def check_cancel_grace(self, context) -> None:
        """Kills a backend that ignores a cancel (e.g. stuck in one long GPU call)."""
        job = self.job
        if job is None or job.cancel_sent_at is None or self.client is None:
            return
        if time.monotonic() - job.cancel_sent_at > get_prefs(context).cancel_grace_s:
            job.cancel_sent_at = float("inf")
            self.client.kill()

    # -- event application (main thread) ---------------------------------------------------
    def pump(self, context, budget_s: float | None = EVENT_BUDGET_S) -> int:
        """Applies queued events until the queue is empty or the budget is spent."""
        client = self.client
        if client is None:
            return 0
        started = time.perf_counter()
        applied = 0
        while budget_s is None or time.perf_counter() - started < budget_s:
            event = _get(client, 0)
            if event is None:
                break
            self.apply(context, event)
            applied += 1
            if event["type"] == "result":
                break  # an import just ran; give the UI a frame before anything else
        return applied

    def apply(self, context, event: dict) -> None:
        state = job_state.job_state(context)
        kind = event.get("type")
        if kind == "client.state":
            if state is not None:
                job_state.apply_backend_state(state, event)
            return
        if kind == "info":
            if state is not None:
                job_state.apply_info(state, event)
            return
        job = self.job
        if job is None or event.get("job") != job.request.job_id:
            return  # stale: an earlier job, or a request answer we do not need
        if kind == "accepted":
            if state is not None and state.status != 'CANCELLING':
                state.status = 'RUNNING'
                state.queue_position = int(event.get("position", 0))
                state.stage_label = "Waiting for another job" if state.queue_position else "Starting"
        elif kind == "progress":
            if state is not None:
                job_state.apply_progress(state, event)
            if bpy.app.background:
                self._print_progress(event)
        elif kind == "result":
            if job.cancel_sent_at is not None:
                # The job finished before the cancel reached it: honour the cancel, import nothing.
                self._finish_error(context, error_event("job.cancelled", "The job was cancelled.",
                                                        "Nothing was imported.", job=event["job"]))
            else:
                self._finish_result(context, event)
        elif kind == "error":
            self._finish_error(context, event)

    def _finish_result(self, context, event: dict) -> None:
        job = self.job
        request = job.request
        state = job_state.job_state(context)
        if state is not None:
            state.status = 'IMPORTING'
            state.stage_label = "Importing into Blender"
        try:
            with _window_context(context):  # the glTF importer wants a window; a timer has none
                imported, asset_note = importer.import_result(
                    context, event["glb"], height_m=request.height_m, name=request.name,
                    photo_label=request.photo_label, mark_asset=request.mark_asset, catalog=request.catalog,
                    tags=request.tags, library_dir=request.library_dir)
                if not bpy.app.background:
                    bpy.ops.ed.undo_push(message="Import SyncHuman Result")  # the import is one undo step
        except (importer.ImportFailed, RuntimeError, KeyError) as exc:
            self._finish_error(context, error_event(
                "import.failed", f"The result could not be imported: {exc}",
                "The GLB is kept in the job folder; try File › Import › SyncHuman result.",
                job=event.get("job")))
            return
        notes = [str(n) for n in (event.get("metadata") or {}).get("warnings") or []]
        notes += [asset_note] if asset_note else []
        if state is not None:
            job_state.set_done(state, event["glb"], imported, time.time() - job.started_at, notes)
        self.job = None
        _report(context, 'INFO', f"SyncHuman: imported {request.name} into collection '{imported.collection.name}'")
        for note in notes:
            _report(context, 'WARNING', f"SyncHuman: {note}")

    def _finish_error(self, context, event: dict) -> None:
        state = job_state.job_state(context)
        if state is not None:
            job_state.set_ended(state, event, time.time() - self.job.started_at if self.job else None)
        self.job = None
        if event.get("code") == "job.cancelled":
            _report(context, 'INFO', "SyncHuman: the reconstruction was cancelled")
        else:
            hint = f" {event.get('hint')}" if event.get("hint") else ""
            _report(context, 'ERROR', f"SyncHuman [{event.get('code')}]: {event.get('message')}{hint}")

    def _print_progress(self, event: dict) -> None:
        job = self.job
        if job is None or event.get("stage") == job.last_printed_stage:
            return
        job.last_printed_stage = event.get("stage", "")
        print(f"SyncHuman: {100 * float(event.get('fraction', 0)):5.1f}% "
              f"[{int(event.get('stage_index', 0)) + 1}/{event.get('stage_count', '?')}] "
              f"{event.get('stage_label', '')}", flush=True)

    # -- timer ------------------------------------------------------------------------------
    def watch(self) -> None:
        """Lets the one main-thread timer step this session (it stops when there is nothing to watch)."""
        pump.watch(PUMP_NAME, self.on_timer)

    def on_timer(self) -> float | None:
        context = bpy.context
        started = time.perf_counter()
        imported = False
        try:
            before = self.job
            self.pump(context)
            imported = before is not None and self.job is None
            self.check_cancel_grace(context)
        except Exception:  # a timer that raises is dropped by Blender: never let that happen
            traceback.print_exc()
        if self.stall_probe is not None:
            self.stall_probe.append((time.perf_counter() - started, imported))
        _tag_redraw(context)
        client = self.client
        if self.job is not None or (client is not None and (client.state == STARTING or not client.events.empty())):
            return TIMER_INTERVAL_S
        if client is not None and client.is_running():
            return IDLE_INTERVAL_S  # keep watching, so a backend that dies while idle is reported
        return None


SESSION = Session()


# -- helpers --------------------------------------------------------------------------------
def _get(client: JobClient, timeout: float):
    try:
        return client.events.get(timeout=timeout) if timeout else client.events.get_nowait()
    except queue.Empty:
        return None


def _start_error(client: JobClient, exc: OSError) -> dict:
    return error_event("backend.start_failed", f"Could not start the backend ({client.config.python}): {exc}",
                       "Set a working Python interpreter in Preferences › Add-ons › SyncHuman.")


@contextmanager
def _window_context(context):
    """Operators called from a timer get no window; give them the first one (none headless)."""
    wm = getattr(context, "window_manager", None)
    if getattr(context, "window", None) is None and wm is not None and len(wm.windows):
        with context.temp_override(window=wm.windows[0]):
            yield
    else:
        with nullcontext():
            yield


def _report(context, level: str, message: str) -> None:
    """Puts a message in the Info log (the timer has no operator of its own to report with)."""
    if bpy.app.background:
        print(message, flush=True)
        return
    try:
        with _window_context(context):
            bpy.ops.synchuman.report(level=level, message=message)
    except RuntimeError:
        pass  # an ERROR report also raises here, after it was recorded


def _tag_redraw(context) -> None:
    wm = getattr(context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type in ('VIEW_3D', 'PREFERENCES'):
                area.tag_redraw()


__all__ = ["SESSION", "Session", "JobRequest"]
