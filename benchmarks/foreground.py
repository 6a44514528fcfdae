"""Benchmark of the foreground + pose step: silhouette IoU against known masks, and time per photo.

    .venv/bin/python benchmarks/foreground.py            # the table (1024-px photos)
    .venv/bin/python benchmarks/foreground.py --quick    # three cases

Cases: synthetic people (benchmarks/synthetic_people.py) on a plain wall and in a patterned room, and
the same kind of people composited into real photographs that ship with scikit-image (a cat on a rug,
a launch pad, a cup on a table, grass, gravel, bricks: benchmarks/real_scenes.py), including two people
in one photo and a person far off (under 2 % of the frame). For each: the learned step (`cut_person`,
what the engines run), its raw MediaPipe mask before the edge matte, and the classical step alone, all
against the true mask of the person the step chose; time is the warm wall time of `cut_person` (the
service's case; the first call in a process also loads the detector, ~1 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import real_scenes as rs  # noqa: E402
import synthetic_people as sp  # noqa: E402


def cases(quick: bool):
    """(name, kind, rgb, true mask of the intended person)."""
    out = []
    for pose, seed in (("standing", 1), ("arms_out", 2), ("seated", 3), ("walking", 4)):
        for bg in ("plain", "textured"):
            photo = sp.render_photo(sp.make_person(pose, seed=seed), 1024, 1024, background=bg)
            out.append((f"{pose} {bg}", "plain" if bg == "plain" else "busy texture", photo.rgb, photo.mask))
    real = [("chelsea", "seated", 0.75), ("rocket", "walking", 0.85), ("coffee", "standing", 0.85),
            ("grass", "arms_out", 0.7), ("gravel", "standing", 0.8), ("brick", "walking", 0.85)]
    for i, (bg, pose, height) in enumerate(real):
        scene = rs.compose(bg, [rs.Placement(rs.person(pose, seed=20 + i), x=0.45 + 0.05 * i, height=height)],
                           (1024, 1024))
        out.append((f"{pose} in '{bg}'", "real photo", scene.rgb, scene.masks[0]))
    two = rs.compose("rocket", [rs.Placement(rs.person("standing", seed=30), x=0.3, height=0.85),
                                rs.Placement(rs.person("walking", seed=31), x=0.75, height=0.65, bottom=0.9)],
                     (1024, 1024))
    out.append(("two people (picks the larger)", "real photo", two.rgb, two.masks[0]))
    far = rs.compose("gravel", [rs.Placement(rs.person("walking", seed=32), x=0.7, height=0.2, bottom=0.8)],
                     (1024, 1024))
    out.append(("far off (2 % of frame)", "real photo", far.rgb, far.masks[0]))
    return [out[1], out[9], out[-1]] if quick else out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    from synchuman.errors import SyncHumanError
    from synchuman.foreground import cut_person
    from synchuman.foreground.classical import segment_rgb
    from synchuman.foreground.learned import BlazePose

    t0 = time.perf_counter()
    detector = BlazePose.shared()
    load_s = time.perf_counter() - t0
    if detector is None:
        sys.exit(f"the person detector is not available: {BlazePose.unavailable_reason}")
    load = os.getloadavg()
    print(f"machine load (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; detector load {load_s:.2f} s")
    print(f"| case | background | learned IoU | raw mask IoU | classical IoU | people | time s (warm) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name, kind, rgb, truth in cases(args.quick):
        cut_person(rgb)                                  # warm (first call of this size)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            cut = cut_person(rgb)
            times.append(time.perf_counter() - t)
        learned = rs.iou(cut.alpha >= 128, truth)
        people = detector.find_people(rgb)
        raw = rs.iou(people[0].probability(rgb.shape[:2]) >= 0.5, truth) if people else 0.0
        try:
            classical = rs.iou(segment_rgb(rgb, lambda *a: None) >= 128, truth)
        except SyncHumanError:
            classical = 0.0
        rows.append((kind, learned, float(np.median(times))))
        print(f"| {name} | {kind} | {learned:.4f} | {raw:.4f} | {classical:.4f} | {cut.people} | "
              f"{np.median(times):.3f} |")
    print()
    for kind in ("plain", "busy texture", "real photo"):
        sel = [r for r in rows if r[0] == kind]
        if sel:
            ious = [r[1] for r in sel]
            print(f"{kind}: IoU median {np.median(ious):.4f}, min {min(ious):.4f}; "
                  f"time median {np.median([r[2] for r in sel]):.3f} s")


if __name__ == "__main__":
    main()
