"""`synchuman batch` in-process: folders, a broken photo, the batch.json log, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from batch_photos import make_folder


def batch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synchuman", "batch", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_batch_folder_with_a_broken_photo_then_resume(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=2)
    out = tmp_path / "out"
    first = batch(str(photos), "-o", str(out), "--json", "--texture-size", "512")
    assert first.returncode == 1, first.stderr  # one item failed
    events = [json.loads(line) for line in first.stdout.splitlines()]
    batch_events = [e for e in events if e["type"] == "batch"]
    assert batch_events[0]["event"] == "start" and batch_events[0]["total"] == 3
    assert batch_events[-1]["event"] == "finished" and batch_events[-1]["done"] == 2
    log = json.loads((out / "batch.json").read_text())
    status = {Path(i["photo"]).name: i for i in log["items"]}
    assert status["broken_0.jpg"]["status"] == "failed"
    assert status["broken_0.jpg"]["error"]["code"] == "input.unreadable"
    assert status["broken_0.jpg"]["attempts"] == 1  # bad input is not retried
    for name in ("person_0.png", "person_1.png"):
        assert status[name]["status"] == "done" and Path(status[name]["glb"]).is_file()
        assert status[name]["seconds"] > 0
    assert log["counts"] == {"failed": 1, "done": 2}

    assert status["person_0.png"]["warnings"] == []

    # Replace the broken photo with one whose alpha channel is useless and rerun: done items are
    # skipped, the replaced one runs, and what its job warned about is in the log.
    rgb = np.asarray(Image.open(example_photo).convert("RGB"))
    Image.fromarray(np.dstack([rgb, np.ones(rgb.shape[:2], np.uint8)])).save(photos / "broken_0.jpg", format="PNG")
    second = batch(str(photos), "-o", str(out), "--json", "--texture-size", "512")
    assert second.returncode == 0, second.stderr
    events = [json.loads(line) for line in second.stdout.splitlines() if '"batch"' in line]
    assert sum(e["event"] == "skipped" for e in events) == 2
    assert events[-1]["done"] == 1
    log = json.loads((out / "batch.json").read_text())
    assert log["counts"] == {"done": 3}
    replaced = next(i for i in log["items"] if i["photo"].endswith("broken_0.jpg"))
    assert any("fully transparent" in w for w in replaced["warnings"])


def test_batch_terminal_output(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=1, broken=0)
    proc = batch(str(photos), "-o", str(tmp_path / "out"), "--texture-size", "512")
    assert proc.returncode == 0, proc.stderr
    assert "item_done person_0.png" in proc.stderr and "1 done, 0 failed" in proc.stdout
