"""The hostile probe of issue 13, at full size: fuzzed protocol lines against `serve --stdio`, a batch
killed at every event boundary and rerun, and peak memory of `synchuman reconstruct` on big inputs.

    .venv/bin/python benchmarks/hostile_probe.py [--lines 10000] [--skip fuzz,kill,memory]

Prints one table per part (the quick versions are tests/test_protocol_fuzz.py,
tests/test_batch_consistency.py and tests/test_images.py). Peak memory is the process's own VmHWM,
read when the job has finished, in a fresh process per input (preview engine, texture 1024).
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
sys.path.insert(0, str(ROOT / "tests"))

from batch_photos import make_folder  # noqa: E402
from protocol_fuzz import fuzz_lines, run_fuzz  # noqa: E402
from test_batch_consistency import ARGS, assert_consistent, kill_at, run_to_end  # noqa: E402

EXAMPLE = ROOT / "backend" / "synchuman" / "data" / "examples" / "person.png"
PEAK = ("import re, sys; from synchuman.cli import main; rc = main(sys.argv[1:]); "
        "print('VmHWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr); "
        "sys.exit(rc)")


def fuzz(lines: int) -> None:
    print(f"\n## Protocol fuzz ({lines} lines, seeds 1-3)\n")
    print("| seed | lines | answered | unanswered | non-JSON stdout | alive at end | exit code | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in (1, 2, 3):
        started = time.monotonic()
        r = run_fuzz(fuzz_lines(seed, lines))
        print(f"| {seed} | {r['lines']} | {r['answered']} | {len(r['unanswered'])} | {len(r['bad_stdout'])} | "
              f"{'yes' if r['alive_at_end'] else 'NO'} | {r['rc']} | {time.monotonic() - started:.1f} |",
              flush=True)


def kill_points(photos: Path, work: Path) -> list[tuple[str, int]]:
    """Every batch event and the first progress event of every stage, from one full run."""
    proc = subprocess.run([sys.executable, "-m", "synchuman", "batch", str(photos), "-o", str(work / "ref"), *ARGS],
                          capture_output=True, text=True, check=True)
    points, counts, stages = [], {}, set()
    for line in proc.stdout.splitlines():
        event = json.loads(line)
        if event["type"] == "batch":
            name = event["event"]
        elif event["type"] == "progress" and (event["photo"], event["stage"]) not in stages:
            stages.add((event["photo"], event["stage"]))
            name = f"progress:{event['stage']}"
        else:
            continue
        counts[name] = counts.get(name, 0) + 1
        points.append((name, counts[name]))
    return points[:-1]  # killing at `finished` kills a finished batch


def kill(work: Path) -> None:
    photos = make_folder(EXAMPLE, work, good=2, broken=0)
    points = kill_points(photos, work)
    print(f"\n## Batch killed at every boundary ({len(points)} boundaries, 2 photos)\n")
    print("| kill at | killed | rerun: done | rerun: skipped | folders | duplicates | orphans | partial left | "
          "consistent |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, (name, nth) in enumerate(points):
        out = work / f"out{n}"
        seen: list[str] = []
        stages: set[tuple[str, str]] = set()

        def stop(event, name=name, nth=nth) -> bool:
            if event["type"] == "progress":  # only the first event of each stage of each photo
                if (event["photo"], event["stage"]) in stages:
                    return False
                stages.add((event["photo"], event["stage"]))
            key = event.get("event") if event["type"] == "batch" else f"progress:{event.get('stage')}"
            seen.append(key)
            return seen.count(name) == nth

        killed = kill_at(photos, out, stop)
        events = run_to_end(photos, out)
        folders = [p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
        duplicates = sum(1 for f in folders if f.rsplit("-", 1)[-1].isdigit())
        log = json.loads((out / "batch.json").read_text())
        referenced = {Path(i["job_dir"]).name for i in log["items"] if i.get("job_dir")}
        orphans = len(set(folders) - referenced)
        partial = sum(1 for p in out.iterdir() if ".partial-" in p.name)
        try:
            assert_consistent(photos, out)
            ok = "yes"
        except AssertionError:
            ok = "NO"
        cells = [f"{name} #{nth}", "yes" if killed else "NO", events[-1]["done"], events[-1]["skipped"],
                 len(folders), duplicates, orphans, partial, ok]
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def big_inputs(work: Path) -> dict[str, Path]:
    from PIL import Image

    person = Image.open(EXAMPLE).convert("RGB")
    files = {}

    def fit(w: int, h: int, mode: str = "RGB") -> Image.Image:
        return person.resize((w, h), Image.BILINEAR).convert(mode)

    files["example 640x960 PNG"] = EXAMPLE
    files["2048 px RGB PNG (working size)"] = work / "w2048.png"
    fit(1365, 2048).save(files["2048 px RGB PNG (working size)"])
    files["2048x2048 RGBA PNG"] = work / "sq2048.png"
    fit(2048, 2048, "RGBA").save(files["2048x2048 RGBA PNG"])
    files["79 MP RGB JPEG"] = work / "big.jpg"
    fit(7260, 10890).save(files["79 MP RGB JPEG"], quality=85)
    files["63 MP RGBA PNG (largest accepted)"] = work / "big63_rgba.png"
    fit(6500, 9750, "RGBA").save(files["63 MP RGBA PNG (largest accepted)"], compress_level=1)
    files["79 MP RGBA PNG"] = work / "big_rgba.png"
    fit(7260, 10890, "RGBA").save(files["79 MP RGBA PNG"], compress_level=1)
    files["79 MP palette PNG"] = work / "big_p.png"
    fit(7260, 10890).quantize(64).save(files["79 MP palette PNG"], compress_level=1)
    files["79 MP 16-bit gray PNG"] = work / "big_i16.png"
    fit(7260, 10890, "L").convert("I;16").save(files["79 MP 16-bit gray PNG"], compress_level=1)
    files["PNG + 1 GB trailing zeros"] = work / "padded.png"
    shutil.copyfile(EXAMPLE, files["PNG + 1 GB trailing zeros"])
    with open(files["PNG + 1 GB trailing zeros"], "r+b") as f:
        f.truncate(1_000_000_000)
    return files


def memory(work: Path) -> None:
    print("\n## Peak memory of `synchuman reconstruct` (fresh process, preview engine)\n")
    print("| input | file MB | outcome | peak RSS MB | seconds |")
    print("|---|---|---|---|---|")
    for label, path in big_inputs(work).items():
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", PEAK, "reconstruct", str(path), "-o", str(work / "mem"),
                               "--json", "--texture-size", "1024"], capture_output=True, text=True)
        peak = next((int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("VmHWM")), 0)
        last = json.loads(proc.stdout.splitlines()[-1]) if proc.stdout.strip() else {}
        outcome = "result" if last.get("type") == "result" else last.get("code", f"rc {proc.returncode}")
        print(f"| {label} | {path.stat().st_size / 1e6:.1f} | {outcome} | {peak / 1000:.0f} | "
              f"{time.monotonic() - started:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: fuzz, kill, memory")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="synchuman-probe-") as tmp:
        (Path(tmp) / "memory").mkdir()
        (Path(tmp) / "kill").mkdir()
        if "fuzz" not in skip:
            fuzz(args.lines)
        if "memory" not in skip:
            memory(Path(tmp) / "memory")
        if "kill" not in skip:
            kill(Path(tmp) / "kill")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
