"""Batch throughput: photos per minute in-process and on a local Ray cluster with 1 and 2 workers
(preview engine, CPU), and the overhead per item of Ray versus the in-process batch.

    .venv/bin/python benchmarks/batch_scaling.py [--photos 8]

Each configuration runs as `synchuman batch ... --json` in a fresh process, timed from the first
item start to the `finished` event (so interpreter and cluster start-up are reported separately).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "backend" / "synchuman" / "data" / "examples" / "person.png"


def run(photos: Path, out: Path, extra: list[str]) -> dict:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "synchuman", "batch", str(photos), "-o", str(out), "--json",
                           "--texture-size", "1024", *extra], capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    batch = [e for e in events if e.get("type") == "batch"]
    first_start = next(e for e in batch if e["event"] == "item_started")
    finished = batch[-1]
    assert finished["event"] == "finished" and finished["done"] > 0, proc.stderr[-2000:]
    busy = finished["elapsed_s"] - first_start["elapsed_s"]
    return {"wall_s": wall, "startup_s": wall - busy, "busy_s": busy, "done": finished["done"],
            "per_minute": finished["done"] / busy * 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i in range(args.photos):
            shutil.copyfile(EXAMPLE, photos / f"person_{i:02d}.png")
        configs = [("in-process", []), ("ray, 1 worker", ["--ray", "--workers", "1"]),
                   ("ray, 2 workers", ["--ray", "--workers", "2"])]
        rows = []
        for name, extra in configs:
            rows.append((name, run(photos, Path(tmp) / name.replace(" ", "_").replace(",", ""), extra)))
    base = rows[0][1]
    print(f"preview engine, {args.photos} photos of {EXAMPLE.name}, texture 1024, machine: 2 cores")
    print("| runner | start-up s | busy s | photos/min | s per item | overhead per item vs in-process |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        per_item = r["busy_s"] / r["done"]
        overhead = per_item - base["busy_s"] / base["done"]
        print(f"| {name} | {r['startup_s']:.1f} | {r['busy_s']:.1f} | {r['per_minute']:.1f} | {per_item:.2f} | "
              f"{'-' if r is base else f'{overhead:+.2f} s'} |")


if __name__ == "__main__":
    main()
