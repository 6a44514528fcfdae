"""The one way the extension runs a backend subprocess: the stdio service (client.JobClient) and
one-shot commands such as `synchuman weights download` (CommandTask) both go through
BackendProcess, as every command of Blender's extension manager goes through one batch runner.

Never imports bpy: the readers are threads, and bpy is unsafe off the main thread. The main
thread consumes what they produce through a queue (pump.py, or a blocking wait headless).

A reader never dies on bad output: a line that is not JSON goes to the log and reading goes on,
and `on_exit` is called exactly once, whatever the callbacks raise.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import traceback
from collections import deque
from typing import Any, Callable

# Environment variables of Blender's own Python that would break another interpreter.
_FOREIGN_PYTHON_ENV = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE")
MAX_DOCUMENT_LINES = 10_000   # an object still open after this many lines is garbage, not a document
LOG_TAIL_LINES = 200


def backend_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_PYTHON_ENV}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    env.update(extra or {})
    return env


class JsonStream:
    """Cuts a text stream into JSON objects: one per line, or one object spread over several lines
    (the command line's indented status document). A line that neither starts nor continues an
    object is returned as rejected; it never stops the stream."""

    def __init__(self) -> None:
        self._pending: list[str] = []

    def feed(self, line: str) -> tuple[list[dict], list[str]]:
        """(objects completed by this line, lines rejected)."""
        if not self._pending:
            if not line.strip():
                return [], []
            if not line.lstrip().startswith("{"):
                return [], [line.rstrip("\n")]
        self._pending.append(line)
        text = "".join(self._pending)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # Failing at the very end means "not finished yet"; anywhere else, the first line is bad.
            if exc.pos >= len(text.rstrip()) and len(self._pending) < MAX_DOCUMENT_LINES:
                return [], []
            first, rest = self._pending[0], self._pending[1:]
            self._pending = []
            objects, rejected = [], [first.rstrip("\n")]
            for later in rest:
                more, bad = self.feed(later)
                objects += more
                rejected += bad
            return objects, rejected
        self._pending = []
        return ([value], []) if isinstance(value, dict) else ([], [text.rstrip("\n")])

    def close(self) -> list[str]:
        """The lines of an object that never finished."""
        rest, self._pending = self._pending, []
        return [line.rstrip("\n") for line in rest]


class BackendProcess:
    """One backend subprocess. `on_message(dict)` gets each JSON object of its stdout, `on_log(str)`
    each stderr line and each rejected stdout line, `on_exit(returncode)` its end, once. All three
    run on reader threads."""

    def __init__(self, argv: list[str], *, on_message: Callable[[dict], None], on_exit: Callable[[int], None],
                 on_log: Callable[[str], None], extra_env: dict[str, str] | None = None,
                 with_stdin: bool = True, name: str = "synchuman"):
        kwargs: dict[str, Any] = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # Ctrl-C in Blender's terminal must reach us, not the backend
        self.argv = argv
        self._on_message, self._on_exit, self._on_log = on_message, on_exit, on_log
        self._write_lock = threading.Lock()
        self._stderr_done = threading.Event()
        self.exited = threading.Event()      # set after on_exit returned
        self.returncode: int | None = None
        self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      encoding="utf-8", errors="replace", bufsize=1,
                                      env=backend_env(extra_env), **kwargs)
        threading.Thread(target=self._read_stdout, name=f"{name}-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, name=f"{name}-stderr", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def write(self, text: str) -> bool:
        """Sends text to its stdin; False when the process is gone (its reader reports that)."""
        with self._write_lock:
            try:
                self.popen.stdin.write(text)
                self.popen.stdin.flush()
                return True
            except (OSError, ValueError, AttributeError):
                return False

    def close_stdin(self) -> None:
        try:
            if self.popen.stdin is not None:
                self.popen.stdin.close()
        except OSError:
            pass

    def terminate(self, grace_s: float = 5.0) -> None:
        """Asks it to end (SIGTERM); a helper thread kills it if it is still there after `grace_s`."""
        if not self.alive():
            return
        self.popen.terminate()
        threading.Thread(target=self.reap, args=(grace_s,), name="synchuman-reap", daemon=True).start()

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()

    def reap(self, timeout: float) -> None:
        """Waits for its end, killing it after `timeout`, then for its exit to be reported."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        self.exited.wait(5)

    def _log(self, line: str) -> None:
        try:
            self._on_log(line)
        except Exception:  # noqa: BLE001 - a log sink must not end the reader
            traceback.print_exc()

    def _read_stderr(self) -> None:
        try:
            for line in self.popen.stderr:
                self._log(line.rstrip("\n"))
        finally:
            self._stderr_done.set()

    def _read_stdout(self) -> None:
        stream = JsonStream()
        try:
            for line in self.popen.stdout:
                messages, rejected = stream.feed(line)
                for bad in rejected:
                    self._log(f"[stdout, not JSON] {bad}")
                for message in messages:
                    try:
                        self._on_message(message)
                    except Exception:  # noqa: BLE001 - one bad message must not end the reader
                        self._log(f"[reader] could not handle {str(message)[:200]}: {traceback.format_exc()}")
            for bad in stream.close():
                self._log(f"[stdout, unfinished JSON] {bad}")
        except Exception:  # noqa: BLE001 - even a broken pipe ends in on_exit below
            self._log(f"[reader] {traceback.format_exc()}")
        finally:
            self.returncode = self.popen.wait()
            self._stderr_done.wait(5)  # so the log holds its last words
            try:
                self._on_exit(self.returncode)
            except Exception:  # noqa: BLE001
                self._log(f"[reader] {traceback.format_exc()}")
            self.exited.set()


class CommandTask:
    """One backend command run to its end, like a Future: its JSON messages arrive in `events`,
    followed by exactly one {"type": "task.finished", "returncode", "cancelled", "log_tail"}.
    `cancel()` ends the process (SIGTERM, then a kill after the grace time)."""

    def __init__(self, argv: list[str], name: str = "synchuman-task", extra_env: dict[str, str] | None = None,
                 echo_log: Callable[[str], None] | None = None):
        self.events: queue.Queue[dict] = queue.Queue()
        self.log_tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.cancelled = False
        self.finished = threading.Event()
        self._echo_log = echo_log  # also hand each log line to this (the batch prints them)
        self.process = BackendProcess(argv, on_message=self.events.put, on_exit=self._on_exit,
                                      on_log=self._log, extra_env=extra_env, with_stdin=False, name=name)

    def _log(self, line: str) -> None:
        self.log_tail.append(line)
        if self._echo_log is not None:
            self._echo_log(line)

    def _on_exit(self, returncode: int) -> None:
        self.events.put({"type": "task.finished", "returncode": returncode, "cancelled": self.cancelled,
                         "log_tail": list(self.log_tail)[-20:]})
        self.finished.set()

    def cancel(self, grace_s: float = 5.0) -> None:
        self.cancelled = True
        self.process.terminate(grace_s)

    def interrupt(self) -> None:
        """Ctrl-C for the command (it runs in its own session, so a terminal's Ctrl-C does not reach it)."""
        if self.process.alive():
            self.process.popen.send_signal(signal.SIGINT if os.name != "nt" else signal.CTRL_BREAK_EVENT)

    def done(self) -> bool:
        return self.finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)


__all__ = ["BackendProcess", "CommandTask", "JsonStream", "backend_env", "LOG_TAIL_LINES"]
