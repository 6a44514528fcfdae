"""A batch killed at any point and run again: nothing duplicated, nothing orphaned, nothing lost;
and it sweeps only partial folders whose owner is dead. Real `synchuman batch` subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from batch_photos import make_folder
from partials import dead_pid, partial_of
from synchuman.jobs import PARTIAL_MARK

ARGS = ["--json", "--texture-size", "256", "--max-faces", "8000"]


def start_batch(photos: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synchuman", "batch", str(photos), "-o", str(out), *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def run_to_end(photos: Path, out: Path) -> list[dict]:
    proc = start_batch(photos, out)
    events = [json.loads(line) for line in proc.stdout]
    assert proc.wait(300) == 0
    return [e for e in events if e["type"] == "batch"]


def kill_at(photos: Path, out: Path, stop) -> bool:
    """Runs a batch and SIGKILLs it when `stop(event)` first holds; returns whether it was killed."""
    proc = start_batch(photos, out)
    for line in proc.stdout:
        if stop(json.loads(line)):
            proc.kill()
            break
    return proc.wait(60) == -9


def assert_consistent(photos: Path, out: Path) -> None:
    log = json.loads((out / "batch.json").read_text())
    items = {Path(i["photo"]).name: i for i in log["items"]}
    assert sorted(items) == sorted(p.name for p in photos.iterdir() if p.suffix == ".png")
    assert all(i["status"] == "done" for i in items.values()), items
    job_dirs = {Path(i["job_dir"]).name for i in items.values()}
    assert len(job_dirs) == len(items)                                        # no two items share a folder
    assert {p.name for p in out.iterdir() if p.is_dir()} == job_dirs          # no orphan, no -2 duplicate
    assert not any(PARTIAL_MARK in p.name for p in out.iterdir())             # no leftover
    for item in items.values():                                               # no loss
        meta = json.loads((Path(item["job_dir"]) / "job.json").read_text())
        assert meta["input"]["sha256"] == item["sha256"] and Path(item["glb"]).is_file()


@pytest.mark.slow
def test_a_batch_killed_at_each_boundary_resumes_without_duplicates_or_losses(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=2, broken=0)
    # the boundaries around the first commit and the next start; every boundary: benchmarks/hostile_probe.py
    boundaries = [("item_started", 1), ("progress", 5), ("item_done", 1), ("item_started", 2)]
    for n, (kind, nth) in enumerate(boundaries):
        out = tmp_path / f"out{n}"
        seen = []

        def stop(event, kind=kind, nth=nth) -> bool:
            name = event.get("event") if event["type"] == "batch" else event["type"]
            seen.append(name)
            return seen.count(kind) == nth

        assert kill_at(photos, out, stop), (kind, seen)
        run_to_end(photos, out)
        assert_consistent(photos, out)


def test_a_folder_committed_before_the_kill_is_adopted_on_resume(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=2, broken=0)
    out = tmp_path / "out"
    run_to_end(photos, out)
    # The state a kill between the folder's rename and the log's update leaves: the log still says running.
    log = json.loads((out / "batch.json").read_text())
    for item in log["items"]:
        item.update(status="running", job_dir=None, glb=None)
    (out / "batch.json").write_text(json.dumps(log))
    events = run_to_end(photos, out)
    assert sum(e["event"] == "skipped" for e in events) == 2 and events[-1]["done"] == 0
    assert_consistent(photos, out)


def test_a_batch_sweeps_only_partial_folders_of_dead_processes(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=1, broken=0)
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live, dead = partial_of(sleeper.pid, out, "x"), partial_of(dead_pid(), out, "x")
        run_to_end(photos, out)
        assert live.is_dir() and (live / "job.log").is_file()  # a live service's job keeps its folder
        assert not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_full_disk_is_a_coded_error_that_is_not_retried(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=1, broken=0)
    out = tmp_path / "small-disk"
    out.mkdir()
    # A 200 kB file system of its own (a user and mount namespace: no privileges needed).
    script = (f"mount -t tmpfs -o size=200k tmpfs {out} && exec {sys.executable} -m synchuman batch {photos} "
              f"-o {out} " + " ".join(ARGS))
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    failed = [e for e in events if e.get("event") == "item_failed"]
    assert proc.returncode == 1 and len(failed) == 1, proc.stderr[-2000:]
    assert failed[0]["error"]["code"] == "output.disk_full" and failed[0]["error"]["hint"]
    assert not any(e.get("event") == "item_retry" for e in events)


def test_a_disk_too_full_for_batch_json_is_a_coded_error(example_photo, tmp_path):
    photos = make_folder(example_photo, tmp_path, good=1, broken=0)
    out = tmp_path / "full-disk"
    out.mkdir()
    # a 16 kB file system filled up before the batch starts: its very first write (batch.json) fails
    script = (f"mount -t tmpfs -o size=16k tmpfs {out} && (dd if=/dev/zero of={out}/filler bs=1k count=64 "
              f"2>/dev/null; true) && exec {sys.executable} -m synchuman batch {photos} -o {out} --json "
              + " ".join(ARGS))
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300)
    errors = [e for e in map(json.loads, proc.stdout.splitlines()) if e["type"] == "error"]
    assert proc.returncode == 1 and len(errors) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert errors[0]["code"] == "output.disk_full" and "Free disk space" in errors[0]["hint"]
