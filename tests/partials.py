"""Partial job folders as another process would leave them, for the sweep tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synchuman.jobs import PARTIAL_MARK, JobFolder


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def partial_of(pid: int, out: Path, name: str) -> Path:
    """A half-written job folder named as a job of process `pid` (on this host) names it."""
    own = JobFolder(out, name).path.name
    folder = out / own.replace(f"{PARTIAL_MARK}{os.getpid()}@", f"{PARTIAL_MARK}{pid}@")
    folder.mkdir(parents=True)
    (folder / "job.log").write_text("half written")
    return folder
