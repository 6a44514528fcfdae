"""Install Backend's time from a warm package cache: setup_backend.py (what the button runs) into a
fresh folder, with this machine's pip configuration, timed per step from its own JSON events.

    python3.11 build.py package      # makes build/extension/bundled_backend
    python3.11 benchmarks/bundled_install.py [--runs 1] [--cpu|--cuda]

Prints the machine's load (`uptime`) before and after, a table of the slowest steps, the total and
the environment's size on disk; the environment is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "build" / "extension" / "setup_backend.py"
BUNDLE = ROOT / "build" / "extension" / "bundled_backend"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def one_run(flavour: str) -> tuple[list[tuple[str, float]], float, int]:
    """[(step label, seconds)], total seconds, environment bytes."""
    target = Path(tempfile.mkdtemp(prefix="synchuman-install-bench-"))
    try:
        env = {**os.environ, "SYNCHUMAN_TORCH_INDEX": os.environ.get("SYNCHUMAN_TORCH_INDEX", "pip")}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, SETUP, "--target", target, f"--{flavour}", "--bundle", BUNDLE],
                              capture_output=True, text=True, env=env)
        total = time.monotonic() - started
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if not events or events[-1]["type"] != "setup.done":
            sys.exit(f"install failed: {events[-1] if events else proc.stderr[-2000:]}")
        steps = [e for e in events if e["type"] == "setup.step"]
        ends = [e["elapsed_s"] for e in steps[1:]] + [events[-1]["seconds"]]
        timed = [(s["label"], end - s["elapsed_s"]) for s, end in zip(steps, ends)]
        return timed, total, folder_size(Path(events[-1]["env"]))
    finally:
        shutil.rmtree(target, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cuda", action="store_const", dest="flavour", const="cuda", default="cpu")
    parser.add_argument("--cpu", action="store_const", dest="flavour", const="cpu")
    args = parser.parse_args()
    if not (SETUP.is_file() and BUNDLE.is_dir()):
        sys.exit("run `python3.11 build.py package` first (it makes build/extension/bundled_backend)")
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for run in range(1, args.runs + 1):
        timed, total, size = one_run(args.flavour)
        print(f"\nrun {run} ({args.flavour}): {len(timed)} steps, total {total:.1f} s, environment {size / 1e9:.2f} GB")
        print("| step | seconds |\n|---|---|")
        for label, seconds in sorted(timed, key=lambda item: -item[1])[:8]:
            print(f"| {label} | {seconds:.1f} |")
        rest = sum(seconds for _label, seconds in sorted(timed, key=lambda item: -item[1])[8:])
        print(f"| the other {max(0, len(timed) - 8)} steps | {rest:.1f} |")
    print("\nload after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
