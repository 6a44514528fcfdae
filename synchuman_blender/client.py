"""JobClient: owns the backend subprocess (`synchuman serve --stdio`) and speaks its protocol.

This module never imports bpy: its reader threads run outside Blender's main thread, where
touching bpy is unsafe. Everything the backend says becomes a dict in `JobClient.events`
(a queue.Queue). Two drivers consume it:

* the UI: a `bpy.app.timers` callback on the main thread drains the queue (see jobs.py);
* background runs (tests, `blender -b`, batch): `run_job` blocks and drains it itself,
  because timers never fire there.

Every submitted job ends with exactly one final event, a `result` or an `error`, even when
the backend dies, cannot start, or speaks another protocol version: the client then makes
the error itself (codes in protocol.CLIENT_ERROR_CODES).

Besides protocol events the queue carries `{"type": "client.state", "state": ...}` whenever the
backend process changes state (STARTING, READY, STOPPED, DEAD).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .protocol import EVENT_TYPES, PROTOCOL_VERSION, encode, error_event, is_final
from .runner import LOG_TAIL_LINES, BackendProcess

STOPPED, STARTING, READY, DEAD = "STOPPED", "STARTING", "READY", "DEAD"


@dataclass
class BackendConfig:
    """How to start the backend. Built on the main thread from the add-on preferences."""

    python: str
    weights_dir: str = ""
    log_path: str = ""                 # backend stderr is appended here when set
    extra_env: dict[str, str] = field(default_factory=dict)
    hello_timeout_s: float = 60.0
    client_name: str = "synchuman_blender"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "synchuman", "serve", "--stdio"]
        if self.weights_dir:
            cmd += ["--weights", self.weights_dir]
        return cmd


class _Process:
    """One backend process and what belongs to it; a restart makes a new one, so late
    events of a dead process can never be mixed up with the jobs of its successor."""

    def __init__(self, hello_id: str):
        self.backend: BackendProcess | None = None
        self.hello_id = hello_id
        self.said_hello = False
        self.stopping = False               # we asked it to stop: its exit is expected
        self.failure: dict | None = None    # why it was killed by us (timeout, wrong version)
        self.pending: list[dict] = []       # requests held until the handshake succeeds
        self.active_jobs: set[str] = set()  # submitted, no final event yet
        self.cancel_requested: set[str] = set()
        self.watchdog: threading.Timer | None = None


class JobClient:
    def __init__(self, config: BackendConfig):
        self.config = config
        self.events: queue.Queue[dict] = queue.Queue()
        self.log_tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.state = STOPPED
        self.hello: dict = {}        # the backend's hello event (version, pid, engines)
        self.info: dict = {}         # the last `info` event (device, engine availability)
        self.returncode: int | None = None
        self._lock = threading.RLock()
        self._proc: _Process | None = None
        self._ids = itertools.count(1)

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        p = self._proc
        return p.backend.pid if p else None

    def is_running(self) -> bool:
        p = self._proc
        return p is not None and p.backend.alive() and not p.stopping

    def start(self) -> None:
        """Starts the backend unless it runs; returns at once (the handshake completes on a
        reader thread). Raises OSError when the interpreter cannot be executed."""
        with self._lock:
            if self.is_running():
                return
            hello_id = f"hello-{next(self._ids)}"
            self._log_line(f"[client] starting: {' '.join(self.config.command())}")
            proc = _Process(hello_id)
            # Its readers take self._lock before changing the client, so they wait for this block.
            proc.backend = BackendProcess(
                self.config.command(), on_message=lambda event: self._on_message(proc, event),
                on_exit=lambda code: self._on_exit(proc, code), on_log=self._log_line,
                extra_env=self.config.extra_env, name="synchuman-service")
            self._proc = proc
            self.state, self.hello, self.returncode = STARTING, {}, None
            self.events.put({"type": "client.state", "state": STARTING, "pid": proc.backend.pid})
            # Cancelled as soon as the backend answers or exits: a thread left waiting at exit
            # can hang Blender's shutdown.
            proc.watchdog = threading.Timer(self.config.hello_timeout_s, self._hello_timeout, args=(proc,))
            proc.watchdog.daemon = True
            proc.watchdog.start()
            self._write(proc, {"type": "hello", "id": hello_id, "protocol": PROTOCOL_VERSION,
                               "client": self.config.client_name})

    def stop(self, timeout: float = 10.0, wait: bool = True) -> None:
        """Asks the backend to exit (it cancels its job first), and kills it if it lingers.
        This is also "Release backend": ending the process is what frees its memory.
        With wait=False the waiting happens on a helper thread (the UI must not freeze)."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            proc.stopping = True
        if proc.backend.alive():
            self._write(proc, {"type": "shutdown"})
            proc.backend.close_stdin()
        if wait:
            proc.backend.reap(timeout)
        else:
            threading.Thread(target=proc.backend.reap, args=(timeout,), name="synchuman-stop", daemon=True).start()

    def kill(self) -> None:
        """Ends the backend at once, on purpose (a cancel it ignored): its jobs end as cancelled
        and its state becomes STOPPED, not "died"."""
        proc = self._proc
        if proc is not None and proc.backend.alive():
            proc.stopping = True
            proc.backend.kill()

    # -- requests -------------------------------------------------------------------------
    def submit(self, photo: str, output_dir: str, settings: dict | None = None, job_id: str | None = None) -> str:
        """Queues a reconstruction; starts the backend first when it is not running."""
        job_id = job_id or uuid.uuid4().hex[:12]
        # One critical section: a backend that dies at once still reports this job as failed.
        with self._lock:
            self.start()
            self._proc.active_jobs.add(job_id)
            self.send({"type": "reconstruct", "job": job_id, "photo": photo, "output_dir": output_dir,
                       "settings": dict(settings or {})})
        return job_id

    def cancel(self, job_id: str) -> None:
        with self._lock:
            proc = self._proc
            if proc is None or job_id not in proc.active_jobs:
                return
            proc.cancel_requested.add(job_id)
        self.send({"type": "cancel", "job": job_id})

    def request_info(self) -> None:
        self.start()
        self.send({"type": "info", "id": f"info-{next(self._ids)}"})

    def send(self, message: dict) -> None:
        """Sends a request now, or after the handshake when the backend is still starting."""
        with self._lock:
            proc = self._proc
            if proc is None:
                raise RuntimeError("the backend is not running")
            if not proc.said_hello:
                proc.pending.append(message)
                return
        self._write(proc, message)

    def active_jobs(self) -> set[str]:
        p = self._proc
        return set(p.active_jobs) if p else set()

    # -- blocking driver ----------------------------------------------------------------
    def run_job(self, photo: str, output_dir: str, settings: dict | None = None,
                on_event: Callable[[dict], None] | None = None,
                should_cancel: Callable[[], bool] | None = None,
                cancel_grace_s: float = 30.0, job_id: str | None = None) -> dict:
        """Runs one job to its end in the calling thread and returns its final event.

        Every event (of any job, and client.state events) goes to `on_event` in this thread.
        When `should_cancel()` turns true, or on KeyboardInterrupt, the cancel is sent to the
        backend; if the job has not ended `cancel_grace_s` later, the backend is killed.
        """
        job_id = self.submit(photo, output_dir, settings, job_id)
        cancel_sent_at: float | None = None
        while True:
            try:
                try:
                    event = self.events.get(timeout=0.1)
                except queue.Empty:
                    event = None
                if cancel_sent_at is None and should_cancel is not None and should_cancel():
                    self.cancel(job_id)
                    cancel_sent_at = time.monotonic()
            except KeyboardInterrupt:
                if cancel_sent_at is not None:
                    raise
                self.cancel(job_id)
                cancel_sent_at = time.monotonic()
                continue
            if cancel_sent_at is not None and time.monotonic() - cancel_sent_at > cancel_grace_s:
                self.kill()
                cancel_sent_at = float("inf")  # the reader thread now reports the job as cancelled
            if event is None:
                continue
            if on_event is not None:
                on_event(event)
            if is_final(event) and event.get("job") == job_id:
                return event

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Starts the backend and waits for the handshake, passing events back to the queue."""
        self.start()
        deadline = time.monotonic() + timeout
        while self.state == STARTING and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.state == READY

    def diagnostics(self) -> dict:
        return {"state": self.state, "pid": self.pid, "returncode": self.returncode,
                "command": self.config.command(), "log_path": self.config.log_path,
                "backend": {k: v for k, v in self.hello.items() if k not in ("type", "id")},
                "log_tail": list(self.log_tail)[-40:]}

    # -- worker threads (no bpy here) -------------------------------------------------------
    def _write(self, proc: _Process, message: dict) -> None:
        proc.backend.write(encode(message))  # False when it is gone: its reader reports that

    def _log_line(self, line: str) -> None:
        self.log_tail.append(line)
        if self.config.log_path:
            try:
                with open(self.config.log_path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError:
                pass

    def _on_message(self, proc: _Process, message: dict) -> None:
        if message.get("type") not in EVENT_TYPES:
            self._log_line(f"[stdout, not protocol] {str(message)[:200]}")
            return
        self._on_event(proc, message)

    def _on_event(self, proc: _Process, event: dict) -> None:
        kind = event["type"]
        if event.get("id") == proc.hello_id:
            proc.watchdog.cancel()
            if kind == "hello" and event.get("protocol") == PROTOCOL_VERSION:
                with self._lock:
                    proc.said_hello = True
                    pending, proc.pending = proc.pending, []
                    if self._proc is proc:
                        self.hello, self.state = event, READY
                self.events.put(event)
                self.events.put({"type": "client.state", "state": READY, "pid": proc.backend.pid,
                                 "version": event.get("version", "?"), "engines": event.get("engines", [])})
                for message in pending:
                    self._write(proc, message)
            else:
                theirs = event.get("protocol", "?") if kind == "hello" else event.get("message", "")
                proc.failure = error_event(
                    "backend.incompatible",
                    f"The backend does not speak protocol {PROTOCOL_VERSION} ({theirs}).",
                    "Install the backend version that matches this extension, then start it again.")
                proc.backend.kill()
            return
        if kind == "info":
            self.info = event
        if is_final(event):
            with self._lock:
                proc.active_jobs.discard(event["job"])
                proc.cancel_requested.discard(event["job"])
        self.events.put(event)

    def _hello_timeout(self, proc: _Process) -> None:
        if not proc.said_hello and proc.backend.alive():
            proc.failure = error_event(
                "backend.timeout",
                f"The backend did not answer within {self.config.hello_timeout_s:.0f} s of starting.",
                "Check the interpreter in the preferences and the log lines below.")
            proc.backend.kill()

    def _on_exit(self, proc: _Process, returncode: int) -> None:
        if proc.watchdog is not None:
            proc.watchdog.cancel()
        tail = list(self.log_tail)[-20:]
        with self._lock:
            jobs = set(proc.active_jobs)
            cancelled = set(proc.cancel_requested)
            proc.active_jobs.clear()
            proc.pending.clear()
            current = self._proc is proc
            if current:
                self.returncode = returncode
                self.state = STOPPED if proc.stopping and proc.failure is None else DEAD
        if proc.failure is not None:
            failure = proc.failure
        elif not proc.said_hello:
            failure = error_event(
                "backend.start_failed",
                f"The backend exited with code {returncode} before it answered.",
                "Check that the interpreter in the preferences has the backend installed "
                "(`python -m synchuman info`); its last log lines are below.")
        else:
            failure = error_event(
                "backend.exited",
                f"The backend stopped unexpectedly (exit code {returncode}).",
                "Its last log lines are below; the next job starts it again.")
        failure["details"] = {**failure.get("details", {}), "log_tail": tail, "returncode": returncode}
        for job in sorted(jobs):
            if job in cancelled or proc.stopping:
                self.events.put(error_event("job.cancelled", "The job was cancelled; the backend was stopped "
                                            "to end it.", "Nothing was imported.", job=job))
            else:
                self.events.put({**failure, "job": job})
        if current:
            self.events.put({"type": "client.state", "state": self.state, "returncode": returncode,
                             "expected": proc.stopping and proc.failure is None, "error": failure,
                             "log_tail": tail})


def default_backend_python(source_dir: str) -> str:
    """The project's .venv interpreter next to the extension's source folder (a development
    checkout), or "" when there is none (an installed zip)."""
    parent = os.path.dirname(os.path.abspath(source_dir))
    exe = os.path.join(parent, ".venv", "Scripts", "python.exe") if os.name == "nt" else \
        os.path.join(parent, ".venv", "bin", "python")
    return exe if os.path.isfile(exe) else ""


def check_interpreter(path: str) -> str | None:
    """None when `path` can be run, else why not (shown in the UI)."""
    if not path:
        return "No backend interpreter is set (Preferences › Add-ons › SyncHuman)."
    if not os.path.isfile(path):
        return f"The backend interpreter {path} does not exist."
    if os.name != "nt" and not os.access(path, os.X_OK):
        return f"The backend interpreter {path} is not executable."
    return None


__all__ = ["BackendConfig", "JobClient", "STOPPED", "STARTING", "READY", "DEAD", "default_backend_python",
           "check_interpreter"]
