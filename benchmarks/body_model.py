"""The body model: set-up build, disk, load in a job, forward, and the fit to known bodies.

    .venv/bin/python benchmarks/body_model.py [--skip-build]

The build runs `synchuman body-model build --force` into a temporary data folder in a fresh
process (as set-up does); loading is timed in another fresh process, torch's own import apart.
Fits use observations of known bodies (`synchuman.body.synthetic`) with one torch thread; CPU
times are the steadier numbers on a shared machine, wall times are given too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LOAD_PROBE = """
import json, time
t0 = time.perf_counter(); import torch; t1 = time.perf_counter()
from synchuman.body import load_body_model
m = load_body_model(); t2 = time.perf_counter()
out = m(); t3 = time.perf_counter()
print(json.dumps({"torch_import_s": t1 - t0, "load_s": t2 - t1, "first_forward_s": t3 - t2}))
"""

POSES = {  # bone -> rotation vector (model frame axes, radians)
    "raised knee, bent elbow, 20° turn": ({"upperleg01.L": (-1.3, 0, 0), "lowerleg01.L": (1.4, 0, 0),
                                           "lowerarm01.R": (-1.2, 0, 0)}, 20.0),
    "seated (both hips and knees 90°)": ({"upperleg01.L": (-1.5, 0, 0), "upperleg01.R": (-1.5, 0, 0),
                                         "lowerleg01.L": (1.5, 0, 0), "lowerleg01.R": (1.5, 0, 0)}, 0.0),
    "arms out, 30° turn": ({"upperarm01.L": (0, -0.9, 0), "upperarm01.R": (0, 0.9, 0)}, 30.0),
}


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_build(data: Path) -> dict:
    env = {**os.environ, "SYNCHUMAN_DATA": str(data)}
    cpu0, wall0 = child_cpu(), time.monotonic()
    subprocess.run([sys.executable, "-m", "synchuman", "body-model", "build", "--force"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    path = Path(subprocess.run([sys.executable, "-m", "synchuman", "body-model", "path"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip())
    return {"build_wall_s": time.monotonic() - wall0, "build_cpu_s": child_cpu() - cpu0,
            "data_mb": path.stat().st_size / 1e6}


def anny_package_mb() -> float:
    import anny

    root = Path(anny.__file__).parent
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def bench_fits() -> list[dict]:
    import torch

    from synchuman.body import load_body_model
    from synchuman.body.fit import FREE_BONES, BodyFitter
    from synchuman.body.synthetic import observe

    torch.set_num_threads(1)
    model = load_body_model()
    fitter = BodyFitter(model)
    rows = []
    for name, (angles, yaw) in POSES.items():
        rot = torch.zeros(model.num_bones, 3)
        for bone, vec in angles.items():
            rot[model.bone(bone)] = torch.tensor(vec)
        truth = observe(model, [0.4, 0.6, 0.5, 0.55, 0.6, 0.45], rot, yaw_deg=yaw)
        cpu0, wall0 = time.process_time(), time.monotonic()
        fit = fitter.fit(truth.observation)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        err = np.linalg.norm(fit.joints_camera - truth.joints_camera, axis=1)[[model.bone(b) for b in FREE_BONES]]
        rows.append({"pose": name, "cpu_s": cpu, "wall_s": wall, "evaluations": fit.losses["evaluations"],
                     "landmark_px": fit.landmark_error_px, "joint_mean_cm": 100 * err.mean(),
                     "joint_max_cm": 100 * err.max()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-build", action="store_true", help="use the data already built by set-up")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} (1 min average), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_build:
            os.environ["SYNCHUMAN_DATA"] = tmp
            b = bench_build(Path(tmp))
            print("\n| set-up build | wall | CPU | data file | anny package (site-packages) |")
            print("|---|---|---|---|---|")
            print(f"| `synchuman body-model build` | {b['build_wall_s']:.0f} s | {b['build_cpu_s']:.0f} s | "
                  f"{b['data_mb']:.0f} MB | {anny_package_mb():.0f} MB |")
        probe = json.loads(subprocess.run([sys.executable, "-c", LOAD_PROBE], check=True, capture_output=True,
                                          text=True, env=os.environ).stdout)
        print("\n| in a job (fresh process) | seconds |\n|---|---|")
        print(f"| import torch | {probe['torch_import_s']:.2f} |")
        print(f"| load the body model | {probe['load_s']:.2f} |")
        print(f"| first forward (13,718 vertices) | {probe['first_forward_s']:.2f} |")
        rows = bench_fits()
    print("\n| fit to a known body (2D + 3D landmarks + mask) | CPU | wall | evaluations | landmark error "
          "| joint error mean / max |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pose']} | {r['cpu_s']:.2f} s | {r['wall_s']:.2f} s | {r['evaluations']} | "
              f"{r['landmark_px']:.1f} px | {r['joint_mean_cm']:.1f} / {r['joint_max_cm']:.1f} cm |")
    print(f"\nload at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
