"""`synchuman serve --stdio`: the backend as a JSON-lines service (docs/protocol.md).

Threads: the main thread reads requests from stdin; one worker thread runs jobs in order.
Only protocol lines go to stdout: the real stdout is kept for them and file descriptor 1
is pointed at stderr, so stray prints from libraries cannot corrupt the stream.
The process exits when stdin closes (the running job is cancelled first).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from . import __version__
from .engines import ENGINE_NAMES, ReconstructSettings
from .errors import Cancelled, SyncHumanError, internal_error
from .jobs import CancelToken
from .protocol import PROTOCOL_VERSION, ProtocolError, claim_stdout, decode_request, encode, error_event
from .runner import EngineCache, run_reconstruction

log = logging.getLogger("synchuman.service")


@dataclass
class Job:
    id: str
    photo: str
    output_dir: str
    settings: dict[str, Any]
    cancel: CancelToken = field(default_factory=CancelToken)


class Service:
    def __init__(self, out: IO[str], weights_dir: str | None = None):
        self._out = out
        self._out_lock = threading.Lock()
        self.weights_dir = weights_dir
        self.engines = EngineCache()
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._running: Job | None = None
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="synchuman-jobs", daemon=True)

    # -- output ---------------------------------------------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        line = encode(event)
        with self._out_lock:
            try:
                self._out.write(line)
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                # The client is gone: nothing can be reported; stop taking work.
                self._stopping = True

    # -- requests -------------------------------------------------------------------------
    def handle_line(self, line: str) -> bool:
        """Serves one request line; returns False when the service should stop."""
        if not line.strip():
            return True
        try:
            msg = decode_request(line)
        except ProtocolError as exc:
            self.emit(error_event(exc.code, str(exc), "See docs/protocol.md for the request format.",
                                  request_id=exc.request_id))
            return True
        kind, rid = msg["type"], msg.get("id")
        try:
            if kind == "hello":
                self.emit({"type": "hello", "id": rid, "protocol": PROTOCOL_VERSION, "backend": "synchuman",
                           "version": __version__, "pid": os.getpid(), "engines": list(ENGINE_NAMES)})
            elif kind == "info":  # imports torch (seconds): answered on its own thread so cancel stays quick
                threading.Thread(target=self._info, args=(rid,), name="synchuman-info", daemon=True).start()
            elif kind == "reconstruct":
                self._submit(msg)
            elif kind == "cancel":
                self._cancel(msg["job"], rid)
            elif kind == "release":
                with self._cond:
                    busy = self._running is not None
                released = [] if busy else self.engines.release()
                self.emit({"type": "released", "id": rid, "engines": released, "busy": busy})
            elif kind == "shutdown":
                return False
        except SyncHumanError as exc:
            self.emit(error_event(**exc.to_dict(), request_id=rid, job=msg.get("job")))
        except Exception as exc:  # a bug must not kill the service
            log.exception("request %s failed", kind)
            self.emit(error_event(**internal_error(exc).to_dict(), request_id=rid, job=msg.get("job")))
        return True

    def _info(self, rid: Any) -> None:
        from .info import collect_info

        try:
            self.emit({"type": "info", "id": rid, **collect_info(self.weights_dir)})
        except Exception as exc:  # noqa: BLE001 - reported, the service goes on
            log.exception("info failed")
            self.emit(error_event(**internal_error(exc).to_dict(), request_id=rid))

    def _submit(self, msg: dict[str, Any]) -> None:
        settings = dict(msg.get("settings") or {})
        if self.weights_dir and not settings.get("weights_dir"):
            settings["weights_dir"] = self.weights_dir
        ReconstructSettings.from_dict(settings)  # refuse bad settings now, not when the job starts
        job = Job(msg["job"], msg["photo"], msg["output_dir"], settings)
        with self._cond:
            if any(j.id == job.id for j in self._queue) or (self._running and self._running.id == job.id):
                raise SyncHumanError("protocol.duplicate_job", f"A job with id {job.id!r} is already queued",
                                     "Use a new id for every job.")
            self._queue.append(job)
            position = len(self._queue) - 1 + (self._running is not None)
            self._cond.notify()
        self.emit({"type": "accepted", "job": job.id, "id": msg.get("id"), "position": position})

    def _cancel(self, job_id: str, rid: Any) -> None:
        with self._cond:
            if self._running and self._running.id == job_id:
                self._running.cancel.set("Cancelled by the user.")
                return  # the worker reports the error event when the job stops
            for job in list(self._queue):
                if job.id == job_id:
                    self._queue.remove(job)
                    break
            else:
                raise SyncHumanError("protocol.unknown_job", f"No queued or running job {job_id!r}",
                                     "It may have finished already.")
        self.emit(error_event("job.cancelled", "The job was cancelled before it started.",
                              "Nothing was written.", job=job_id, request_id=rid))

    # -- jobs -----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._running = self._queue.popleft()
            final = self._run(job)
            with self._cond:  # the job is no longer running before its last event goes out
                self._running = None
                self._cond.notify_all()
            self.emit(final)

    def _run(self, job: Job) -> dict[str, Any]:
        """Runs a job; returns its final event (`result` or `error`)."""
        def emit(event: dict[str, Any]) -> None:
            self.emit({**event, "job": job.id})

        try:
            settings = ReconstructSettings.from_dict(job.settings)
            result = run_reconstruction(job.photo, job.output_dir, settings, emit, job.cancel, self.engines, job.id)
            return {"type": "result", **result}
        except Cancelled as exc:
            return error_event(**exc.to_dict(), job=job.id)
        except SyncHumanError as exc:
            log.warning("job %s failed: %s", job.id, exc)
            return error_event(**exc.to_dict(), job=job.id)
        except MemoryError as exc:
            return error_event("resources.out_of_memory", f"Out of memory: {exc}",
                               "Use a smaller texture size or face budget, or the 'low' memory mode.", job=job.id)
        except Exception as exc:
            log.exception("job %s crashed", job.id)
            return error_event(**internal_error(exc).to_dict(), job=job.id)

    # -- lifecycle ------------------------------------------------------------------------
    def stop(self, timeout: float = 30.0) -> None:
        """Cancels everything and waits for the running job to clean up."""
        with self._cond:
            self._stopping = True
            dropped = list(self._queue)
            self._queue.clear()
            if self._running:
                self._running.cancel.set("The backend is shutting down.")
            self._cond.notify_all()
        for job in dropped:
            self.emit(error_event("job.cancelled", "The backend shut down before the job started.",
                                  "Nothing was written.", job=job.id))
        if self._worker.is_alive():
            self._worker.join(timeout)

    def serve(self, lines) -> None:
        self._worker.start()
        try:
            for line in lines:
                if not self.handle_line(line) or self._stopping:
                    break
        finally:
            self.stop()


def serve_stdio(weights_dir: str | None = None) -> int:
    proto_out = claim_stdout()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = Service(proto_out, weights_dir)
    log.info("synchuman %s serving protocol %d on stdio (pid %d)", __version__, PROTOCOL_VERSION, os.getpid())
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="replace", closefd=False)
    service.serve(stdin)
    log.info("stdin closed or shutdown requested; exiting")
    return 0
