"""The set-up script's cancel, in a plain Python: a cancel that lands at any moment ends pip.

The end-to-end cancel (Blender's button, the runner, real pip) is in tests/blender/test_backend_setup.py;
here the one moment it cannot hit on purpose is forced: the signal arriving while pip is being started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from synchuman_blender import setup_backend

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


class CancelledWhileStarting(subprocess.Popen):
    """A Popen that receives the set-up's cancel signal after the child exists and before Popen returns."""

    started: list[int] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).started.append(self.pid)
        os.kill(os.getpid(), signal.SIGTERM)   # the handler runs here, inside Popen.__init__


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return waited == 0


@pytest.fixture
def installer(tmp_path):
    made = setup_backend.Installer(tmp_path, "cpu", tmp_path, "", True, "", "")
    previous = signal.signal(signal.SIGTERM, made.on_cancel_signal)
    yield made
    signal.signal(signal.SIGTERM, previous)


def test_a_cancel_while_pip_starts_still_ends_pip(installer, monkeypatch):
    CancelledWhileStarting.started = []
    monkeypatch.setattr(setup_backend.subprocess, "Popen", CancelledWhileStarting)
    with pytest.raises(setup_backend.Cancelled):
        installer._run([sys.executable, "-c", "import time; time.sleep(60)"])
    [pid] = CancelledWhileStarting.started
    assert installer.child is not None and installer.child.pid == pid   # the cancel waited until pip was named
    installer.stop_child()
    assert not alive(pid)


def test_a_cancel_while_pip_runs_ends_its_whole_group(installer):
    """pip's own children (a build backend, say) end with it: the group is signalled, not one process."""
    script = ("import subprocess, sys, time; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              "print(p.pid, flush=True); time.sleep(60)")
    (installer.target / setup_backend.LOG_NAME).write_text("", encoding="utf-8")
    signal.setitimer(signal.ITIMER_REAL, 0)
    previous = signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)   # the cancel, while pip (here: a sleeper with a child) runs
        with pytest.raises(setup_backend.Cancelled):
            installer._run([sys.executable, "-c", script])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    grandchild = int(installer.log_path.read_text(encoding="utf-8").split()[-1])
    child = installer.child.pid
    installer.stop_child()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{grandchild}") and \
            "Z" not in _state(grandchild):
        time.sleep(0.05)
    assert not alive(child)
    assert not os.path.exists(f"/proc/{grandchild}") or "Z" in _state(grandchild)


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat", encoding="utf-8").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
