"""The headless batch handing its photos to the backend's Ray runner (`--ray`): a local Ray
instance on loopback, 2 workers, the preview engine; the results are imported, marked as assets
and saved here exactly as in the ordinary batch; a rerun skips what is done."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from test_batch import run_batch

pytest.importorskip("bpy")
pytestmark = pytest.mark.slow


def test_batch_on_ray_with_a_broken_photo_then_rerun(backend, photo, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        shutil.copyfile(photo, folder / f"person_{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    out, library = tmp_path / "out", tmp_path / "library"
    args = ["--input", str(folder), "--output", str(out), "--library", str(library), "--ray", "--workers", "2",
            "--engine", "preview", "--texture-size", "256", "--max-faces", "5000"]
    first = run_batch(args, backend, tmp_path)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]  # the broken photo failed
    assert "[ray " in first.stdout and "item_done" in first.stdout
    log = json.loads((out / "batch.json").read_text())
    assert log["ray"] == "local"
    items = {os.path.basename(i["photo"]): i for i in log["items"]}
    assert items["broken.jpg"]["status"] == "failed" and items["broken.jpg"]["error"]["code"] == "input.unreadable"
    for i in range(3):
        item = items[f"person_{i}.png"]
        assert item["status"] == "done", item
        assert all(os.path.isfile(item["outputs"][k]) for k in ("glb", "blend", "library"))
    backend_log = json.loads((out / "jobs" / "batch.json").read_text())
    assert backend_log["runner"] == "ray:local"
    assert len({i["worker"] for i in backend_log["items"] if i["status"] == "done"}) >= 1

    second = run_batch(args, backend, tmp_path)
    assert second.returncode == 1  # the broken photo is tried again and fails again
    log = json.loads((out / "batch.json").read_text())
    assert log["summary"]["skipped"] == 3 and log["summary"]["failed"] == 1
