"""Drives a real `synchuman serve --stdio` subprocess for tests."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Callable


class ServiceProcess:
    def __init__(self, *extra_args: str, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synchuman", "serve", "--stdio", *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, **(env or {})})
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.raw_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.bad_lines: list[str] = []   # stdout lines that are not JSON: each one fails the test
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                # Raising here would only warn (a daemon thread): wait_for and close fail the test instead.
                self.bad_lines.append(line)
                self.events.put({"type": "driver.bad_line", "line": line})

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def send(self, message: dict | str) -> None:
        line = message if isinstance(message, str) else json.dumps(message)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def start_busy_job(self, photo, out, job: str = "j") -> None:
        """Starts a job slow enough to interrupt and waits until it is past reading the photo."""
        self.send({"type": "reconstruct", "job": job, "photo": str(photo), "output_dir": str(out),
                   "settings": {"texture_size": 2048}})
        self.wait_for(lambda e: e["type"] == "progress" and e.get("job") == job and e["stage"] != "input",
                      timeout=120)

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 60.0) -> tuple[dict, list[dict]]:
        """Returns the first event matching `predicate` and every event seen before it."""
        seen: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout}s; saw {seen[-5:]}\n"
                                     f"stderr tail: {''.join(self.stderr_lines[-20:])}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.check_output()
            if predicate(event):
                return event, seen
            seen.append(event)

    def check_output(self) -> None:
        if self.bad_lines:
            raise AssertionError(f"the service wrote non-JSON to stdout: {self.bad_lines[:3]}")

    def close(self, timeout: float = 30.0) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.check_output()
        return code
