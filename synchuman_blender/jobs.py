"""The job session of this Blender: the one JobClient, the job in flight, and the main-thread
side of the event flow.

Backend events arrive in `JobClient.events` from its reader threads. They are applied here, on
the main thread only, by one of two drivers:
* the UI: `_tick`, a `bpy.app.timers` callback, drains the queue within a small time budget;
* background runs (`bpy.app.background`: tests, `blender -b`): `JobClient.run_job` blocks and
  hands each event to `Session.apply`, because timers never fire there.
Either way a `result` is imported by the undoable `synchuman.import_result` operator, so the
long job stays out of the undo history and the import is one step in it.
"""

from __future__ import annotations

import queue
import time
import traceback
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import bpy

from .client import DEAD, READY, STARTING, STOPPED, JobClient
from .preferences import backend_config, get_prefs
from .protocol import error_event

TIMER_INTERVAL_S = 0.1
IDLE_INTERVAL_S = 1.0
EVENT_BUDGET_S = 0.008    # the timer stops applying events after this long, to keep the UI smooth
LOG_LINES_SHOWN = 12


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
        self.last_import = None                   # set by the import operator
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
            ensure_timer()

    def release_backend(self, context, wait: bool | None = None) -> None:
        """Stops the backend process, which is what frees its memory. A running job is cancelled."""
        if self.client is None:
            return
        self.client.stop(wait=self.blocking() if wait is None else wait)
        if self.blocking():
            self.pump(context, budget_s=None)
        else:
            ensure_timer()

    def shutdown(self) -> None:
        """Extension disabled or Blender closing: the backend must not outlive us."""
        try:
            if bpy.app.timers.is_registered(_tick):
                bpy.app.timers.unregister(_tick)
        except (AttributeError, RuntimeError, ValueError):
            pass  # Blender is already tearing down
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
        state = _job_state(context)
        if state is not None:
            _reset_job_state(state, request, starting=client.state != READY)
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
        ensure_timer()

    def cancel(self, context) -> None:
        job = self.job
        if job is None or job.cancel_sent_at is not None or self.client is None:
            return
        job.cancel_sent_at = time.monotonic()
        self.client.cancel(job.request.job_id)
        state = _job_state(context)
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
        state = _job_state(context)
        kind = event.get("type")
        if kind == "client.state":
            self._apply_backend_state(state, event)
            return
        if kind == "info":
            if state is not None:
                _apply_info(state, event)
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
                _apply_progress(state, event)
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

    def _apply_backend_state(self, state, event) -> None:
        if state is None:
            return
        new = event["state"]
        state.backend_state = new
        if new == STARTING:
            state.backend_pid = int(event.get("pid") or 0)
            state.backend_message = "Starting…"
        elif new == READY:
            state.backend_version = str(event.get("version", ""))
            if not state.backend_engines:
                state.backend_engines = ", ".join(event.get("engines", []))
            state.backend_message = ""
            state.backend_log = ""
        elif new == DEAD:
            error = event.get("error") or {}
            state.backend_message = error.get("message", "The backend stopped unexpectedly.")
            state.backend_log = "\n".join(event.get("log_tail", [])[-LOG_LINES_SHOWN:])
            state.backend_pid = 0
        elif new == STOPPED:
            state.backend_message = ""
            state.backend_pid = 0

    def _finish_result(self, context, event: dict) -> None:
        request = self.job.request
        state = _job_state(context)
        if state is not None:
            state.status = 'IMPORTING'
            state.stage_label = "Importing into Blender"
        self.last_import = None
        try:
            with _window_context(context):
                bpy.ops.synchuman.import_result(
                    filepath=event["glb"], height_m=request.height_m, name=request.name,
                    photo_label=request.photo_label, mark_asset=request.mark_asset,
                    catalog=request.catalog, tags=request.tags, library_dir=request.library_dir)
        except (RuntimeError, KeyError) as exc:
            message = str(exc).strip().removeprefix("Error:").strip()
            self._finish_error(context, error_event(
                "import.failed", f"The result could not be imported: {message}",
                "The GLB is kept in the job folder; try File › Import › SyncHuman result.",
                job=event.get("job")))
            return
        imported = self.last_import
        if state is not None:
            state.status = 'DONE'
            state.fraction = 1.0
            state.stage_label = "Done"
            state.message = ""
            state.elapsed_s = time.time() - self.job.started_at
            state.result_glb = event["glb"]
            state.result_collection = imported.collection.name if imported else ""
            state.result_object = imported.object.name if imported else ""
        self.job = None
        where = f" into collection '{imported.collection.name}'" if imported else ""
        _report(context, 'INFO', f"SyncHuman: imported {request.name}{where}")
        notes = [str(n) for n in (event.get("metadata") or {}).get("warnings") or []]
        if state is not None:
            state.result_notes = "\n".join(notes)
        for note in notes:
            _report(context, 'WARNING', f"SyncHuman: {note}")

    def _finish_error(self, context, event: dict) -> None:
        state = _job_state(context)
        cancelled = event.get("code") == "job.cancelled"
        if state is not None:
            state.status = 'CANCELLED' if cancelled else 'FAILED'
            state.stage_label = "Cancelled" if cancelled else "Failed"
            state.error_code = "" if cancelled else str(event.get("code", ""))
            state.error_message = "" if cancelled else str(event.get("message", ""))
            state.error_hint = "" if cancelled else str(event.get("hint", ""))
            tail = (event.get("details") or {}).get("log_tail") or []
            state.error_log = "" if cancelled else "\n".join(tail[-LOG_LINES_SHOWN:])
            if self.job is not None:
                state.elapsed_s = time.time() - self.job.started_at
        self.job = None
        if cancelled:
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


def _tick():
    return SESSION.on_timer()


def ensure_timer() -> None:
    """The timer runs while there is something to watch and stops itself afterwards."""
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TIMER_INTERVAL_S, persistent=True)


# -- helpers --------------------------------------------------------------------------------
def _get(client: JobClient, timeout: float):
    try:
        return client.events.get(timeout=timeout) if timeout else client.events.get_nowait()
    except queue.Empty:
        return None


def _job_state(context):
    wm = getattr(context, "window_manager", None)
    return getattr(wm, "synchuman_job", None) if wm is not None else None


def _reset_job_state(state, request: JobRequest, starting: bool) -> None:
    state.status = 'STARTING' if starting else 'RUNNING'
    state.job_id = request.job_id
    state.photo_name = request.name
    state.stage = ""
    state.stage_label = "Starting the backend" if starting else "Sending the job"
    state.stage_index = 0
    state.stage_count = 0
    state.step = 0
    state.total = 0
    state.fraction = 0.0
    state.message = ""
    state.queue_position = 0
    state.elapsed_s = 0.0
    state.error_code = state.error_message = state.error_hint = state.error_log = ""
    state.result_collection = state.result_object = state.result_glb = state.result_notes = ""


def _apply_progress(state, event: dict) -> None:
    if state.status not in ('CANCELLING',):
        state.status = 'RUNNING'
    state.stage = str(event.get("stage", ""))
    state.stage_label = str(event.get("stage_label", ""))
    state.stage_index = int(event.get("stage_index", 0))
    state.stage_count = int(event.get("stage_count", 0))
    state.step = float(event.get("step", 0))
    state.total = float(event.get("total", 0))
    state.fraction = min(max(float(event.get("fraction", 0.0)), 0.0), 1.0)
    state.message = str(event.get("message", ""))[:200]


def _apply_info(state, event: dict) -> None:
    engines = event.get("engines") or {}
    parts = []
    for name, entry in engines.items():
        if isinstance(entry, dict):
            parts.append(f"{name} ✓" if entry.get("available") else f"{name} ✗")
    if parts:
        state.backend_engines = ", ".join(parts)
    device = event.get("device") or {}
    if device:
        if device.get("cuda_available"):
            text = f"cuda · {device.get('cuda_device', '?')} ({device.get('cuda_memory_gb', '?')} GB)"
        else:
            text = f"cpu · {device.get('cpu_count', '?')} cores"
        state.backend_device = text
    weights = event.get("weights") or {}
    if weights:
        if weights.get("present"):
            state.backend_weights = f"present in {weights.get('dir', '?')}"
        else:
            fix = f" — {weights['fix']}" if weights.get("fix") else ""
            state.backend_weights = f"missing in {weights.get('dir', '?')}{fix}"


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


__all__ = ["SESSION", "Session", "JobRequest", "ensure_timer"]
