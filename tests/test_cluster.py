"""`synchuman batch --ray` on a local Ray instance (loopback, CPU, preview engine, 2 workers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_photos import make_folder

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def start_batch(photos: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synchuman", "batch", str(photos), "-o", str(out), "--ray",
                             "--workers", "2", "--json", "--texture-size", "512", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_events(proc: subprocess.Popen, until=None, timeout: float = 600) -> list[dict]:
    events, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if until and until(event):
            break
        assert time.monotonic() < deadline, "batch took too long"
    return events


def items(out: Path) -> dict[str, dict]:
    return {Path(i["photo"]).name: i for i in json.loads((out / "batch.json").read_text())["items"]}


def no_partial(out: Path) -> bool:
    return not any(".partial-" in p.name for p in out.iterdir())


def test_ray_batch_with_broken_photo_and_a_killed_worker_then_resume(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=5, broken=1)
    out = tmp_path / "out"
    proc = start_batch(photos, out)
    # Kill the worker of the first good photo while it runs: the item must be retried elsewhere.
    started = read_events(proc, until=lambda e: e.get("event") == "item_started"
                          and e["photo"].endswith("person_0.png"))
    victim = started[-1]
    os.kill(victim["worker_pid"], signal.SIGKILL)
    events = started + read_events(proc)
    assert proc.wait(120) == 1, proc.stderr.read()  # the broken photo failed
    final = events[-1]
    assert final["event"] == "finished" and final["done"] == 5 and final["failed"] == 1
    log = items(out)
    assert log["broken_0.jpg"]["status"] == "failed" and log["broken_0.jpg"]["attempts"] == 1
    killed = log["person_0.png"]
    assert killed["status"] == "done" and killed["attempts"] == 2
    assert killed["history"][0]["error"]["code"] == "worker.died"
    assert killed["history"][0]["worker"] == victim["worker"]
    assert len({i["worker"] for i in log.values()}) >= 2  # work was spread over workers
    assert all(Path(i["glb"]).is_file() for n, i in log.items() if n != "broken_0.jpg")
    assert no_partial(out)

    # Resume: everything done is skipped.
    proc = start_batch(photos, out)
    events = read_events(proc)
    assert proc.wait(120) == 1
    assert sum(e.get("event") == "skipped" for e in events) == 5


def test_ray_batch_cancel_with_ctrl_c(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=6, broken=0)
    out = tmp_path / "out"
    proc = start_batch(photos, out)
    read_events(proc, until=lambda e: e.get("event") == "item_started")
    proc.send_signal(signal.SIGINT)
    events = read_events(proc)
    assert proc.wait(120) == 130
    assert events[-1]["event"] == "finished" and events[-1]["cancelled"] is True
    log = items(out)
    assert {i["status"] for i in log.values()} <= {"done", "cancelled"}
    assert any(i["status"] == "cancelled" for i in log.values())
    assert no_partial(out)
    done_dirs = {Path(i["job_dir"]).name for i in log.values() if i["status"] == "done"}
    assert {p.name for p in out.iterdir() if p.is_dir()} == done_dirs  # nothing half-written looks complete
