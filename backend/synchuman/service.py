"""`synchuman serve --stdio`: the backend as a JSON-lines service (docs/protocol.md).

Threads: the main thread reads requests from stdin; one worker thread runs jobs in order.
Only protocol lines go to stdout: the real stdout is kept for them and file descriptor 1
is pointed at stderr, so stray prints from libraries cannot corrupt the stream.
The process exits when stdin closes, on `shutdown` or on SIGTERM (the running job is cancelled first).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from . import __version__
from .engines import ENGINE_NAMES, ReconstructSettings
from .errors import Cancelled, SyncHumanError, internal_error
from .jobs import CancelToken, sweep_dead_partials
from .protocol import PROTOCOL_VERSION, ProtocolError, claim_stdout, decode_request, encode, error_event
from .runner import EngineCache, run_reconstruction

log = logging.getLogger("synchuman.service")

EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised in the reading thread by the SIGTERM handler to stop waiting for stdin."""


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
        self.terminated = False
        self._reading = False              # the main thread waits for a line: SIGTERM may interrupt it
        self._swept: set[str] = set()      # output folders already cleared of dead jobs' partial folders
        self._worker = threading.Thread(target=self._work, name="synchuman-jobs", daemon=True)

    # -- output ---------------------------------------------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        try:
            line = encode(event)
        except Exception:  # noqa: BLE001 - never expected (encode escapes what it cannot write): log, go on
            log.exception("cannot encode a %s event", event.get("type"))
            line = encode(error_event("internal.error", f"A {event.get('type')} event could not be encoded.",
                                      "This is a bug; the backend log holds the details.", job=event.get("job")))
        with self._out_lock:
            try:
                self._out.write(line)
                self._out.flush()
            except (ValueError, OSError) as exc:
                # The client is gone (broken pipe, closed stream): nothing can be reported; stop taking work.
                log.error("cannot write to the client (%s); stopping", exc)
                self._stopping = True

    # -- requests -------------------------------------------------------------------------
    def handle_line(self, line: str) -> bool:
        """Serves one request line; returns False when the service should stop."""
        if not line.strip():
            return True
        try:
            msg = decode_request(line)
        except ProtocolError as exc:
            self._refuse(exc)
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
        except ProtocolError as exc:
            self._refuse(exc)
        except SyncHumanError as exc:
            self.emit(error_event(**exc.to_dict(), request_id=rid, job=msg.get("job")))
        except Exception as exc:  # a bug must not kill the service
            log.exception("request %s failed", kind)
            self.emit(error_event(**internal_error(exc).to_dict(), request_id=rid, job=msg.get("job")))
        return True

    def _refuse(self, exc: ProtocolError) -> None:
        # Never carries `job`: the request may name a live job, which a client would take as that job's end.
        self.emit(error_event(exc.code, str(exc), "See docs/protocol.md for the request format.",
                              request_id=exc.request_id))

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
        job = Job(msg["job"], msg["photo"], msg["output_dir"], settings)
        with self._cond:  # first: any other refusal would name the live job in `job`
            if any(j.id == job.id for j in self._queue) or (self._running and self._running.id == job.id):
                raise ProtocolError("protocol.duplicate_job",
                                    f"A job with id {job.id!r} is already queued or running; use a new id for "
                                    "every job", msg.get("id"))
        ReconstructSettings.from_dict(settings)  # refuse bad settings now, not when the job starts
        with self._cond:
            self._queue.append(job)
            position = len(self._queue) - 1 + (self._running is not None)
            # Sent before the worker can see the job, so `accepted` precedes the job's other events.
            self.emit({"type": "accepted", "job": job.id, "id": msg.get("id"), "position": position})
            self._cond.notify()

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
            try:
                final = self._run(job)
            except BaseException as exc:  # noqa: BLE001 - the worker must outlive any job
                log.exception("job %s escaped its error handling", job.id)
                final = error_event(**internal_error(exc).to_dict(), job=job.id)
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
            self._sweep(job.output_dir)
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

    def _sweep(self, output_dir: str) -> None:
        """The first job in an output folder removes partial folders whose owner process is dead."""
        if output_dir in self._swept:
            return
        self._swept.add(output_dir)
        try:
            removed = sweep_dead_partials(output_dir)
        except (OSError, ValueError) as exc:  # the job itself reports an unusable folder
            log.debug("no sweep of %s: %s", output_dir, exc)
            return
        if removed:
            log.info("removed %d partial folder(s) of dead jobs in %s", removed, output_dir)

    # -- lifecycle ------------------------------------------------------------------------
    def terminate(self, *_signal_args) -> None:
        """SIGTERM: like a cancel of everything, then exit. Runs in the main thread, between two
        bytecodes; it interrupts only a wait for stdin, never a request half served."""
        self.terminated = True
        if self._reading:
            raise Terminated()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancels everything and waits for the running job to clean up."""
        reason = "The backend was terminated." if self.terminated else "The backend is shutting down."
        with self._cond:
            self._stopping = True
            dropped = list(self._queue)
            self._queue.clear()
            if self._running:
                self._running.cancel.set(reason)
            self._cond.notify_all()
        for job in dropped:
            self.emit(error_event("job.cancelled", "The backend shut down before the job started.",
                                  "Nothing was written.", job=job.id))
        if self._worker.is_alive():
            self._worker.join(timeout)

    def serve(self, lines) -> None:
        self._worker.start()
        lines = iter(lines)
        try:
            while not (self._stopping or self.terminated):
                self._reading = True
                try:
                    if self.terminated:
                        break
                    line = next(lines, None)
                finally:
                    self._reading = False
                if line is None or not self.handle_line(line):
                    break
        except Terminated:
            pass
        finally:
            self.stop()


def serve_stdio(weights_dir: str | None = None) -> int:
    proto_out = claim_stdout()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = Service(proto_out, weights_dir)
    signal.signal(signal.SIGTERM, service.terminate)
    log.info("synchuman %s serving protocol %d on stdio (pid %d)", __version__, PROTOCOL_VERSION, os.getpid())
    # newline="\n": only LF ends a request; a CR is JSON whitespace, not a line break.
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="replace", newline="\n", closefd=False)
    service.serve(stdin)
    if service.terminated:
        log.info("terminated (SIGTERM); exiting")
        return EXIT_TERMINATED
    log.info("stdin closed or shutdown requested; exiting")
    return 0
