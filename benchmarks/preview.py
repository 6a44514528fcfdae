"""Benchmark of the preview engine on synthetic people with known ground truth.

    .venv/bin/python benchmarks/preview.py            # the standard table (1024x1024 photos)
    .venv/bin/python benchmarks/preview.py --quick    # two cases, for a smoke run

Each case renders a synthetic person (benchmarks/synthetic_people.py) to a photo, then runs the real
engine path (`run_reconstruction`, as the CLI and the service do) in a fresh worker process:

- cold s: the first job in a fresh process (includes importing cv2, scipy, trimesh, ...: what a
  one-off `synchuman reconstruct` pays on top of Python's start-up),
- warm s: the next job in the same process (what the long-running service pays per photo),
- peak MB: the worker's peak resident memory (VmHWM: imports, both jobs),
- fg IoU: the foreground step's mask against the true mask (1.0 for cut-outs),
- warm CPU s: process CPU time of the warm job (less sensitive to other load than wall time; can
  exceed wall time where OpenCV uses both cores),
- sil IoU: coverage of views/front.png (the engine's own render of the GLB) against the true mask,
- sil IoU (render pkg): the same GLB rasterised by `synchuman.render` (independent check),
- PSNR: masked PSNR (dB) of views/front.png against the photo, over the true mask,
- watertight, faces: of the GLB's geometry (seam vertices welded by position),
- Chamfer: symmetric mean surface distance to the true shape after normalising both to unit height
  with the feet at 0 and the bounding box centred, reported in mm at 1.75 m.

Targets (issue 3): <= 2 s and <= 1.5 GB for a 1024x1024 photo, sil IoU >= 0.97, PSNR >= 24 dB,
watertight always. Timings on a shared machine are noisy; the table prints the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CASES = [
    # name, pose, background ("cutout" = RGBA), size, seed
    ("standing cut-out", "standing", "cutout", (1024, 1024), 1),
    ("standing RGB plain", "standing", "plain", (1024, 1024), 2),
    ("arms out RGB plain", "arms_out", "plain", (1024, 1024), 3),
    ("seated RGB textured", "seated", "textured", (1024, 1024), 4),
    ("walking RGB textured", "walking", "textured", (1024, 1024), 5),
    ("arms out cut-out", "arms_out", "cutout", (1024, 1024), 6),
    ("standing cut-out 2048", "standing", "cutout", (2048, 2048), 7),
]
QUICK = [CASES[0], CASES[3]]


def worker(photo: str, out: str) -> None:
    """Runs the engine twice on `photo` in this process; prints timings as JSON."""
    t0 = time.perf_counter()
    from synchuman.engines import ReconstructSettings
    from synchuman.jobs import CancelToken
    from synchuman.runner import EngineCache, run_reconstruction

    engines = EngineCache()
    times, results = [], []
    cpu = []
    for i in range(2):
        start = time.perf_counter() if i else t0
        c0 = time.process_time()
        res = run_reconstruction(photo, Path(out) / f"run{i}", ReconstructSettings(engine="preview"),
                                 lambda e: None, CancelToken(), engines)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - c0)
        results.append(res)
    print(json.dumps({"cold": times[0], "warm": times[1], "warm_cpu": cpu[1], "glb": results[1]["glb"],
                      "frame": results[1]["metadata"]["preview"]["photo_frame"],
                      "front": results[1]["views"]["front"], "torch_imported": "torch" in sys.modules,
                      "timings": results[1]["metadata"]["timings_s"]}))


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, rng) -> np.ndarray:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    idx = rng.choice(len(faces), n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    return (1 - s)[:, None] * a[idx] + (s * (1 - r2))[:, None] * b[idx] + (s * r2)[:, None] * c[idx]


def normalise(points: np.ndarray) -> np.ndarray:
    lo, hi = points.min(0), points.max(0)
    centre = np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
    return (points - centre) / (hi[1] - lo[1])


def chamfer_mm(ours: np.ndarray, truth: np.ndarray, height_m: float = 1.75) -> float:
    from scipy.spatial import cKDTree

    a, b = normalise(ours), normalise(truth)
    d1 = cKDTree(b).query(a)[0].mean()
    d2 = cKDTree(a).query(b)[0].mean()
    return float((d1 + d2) / 2 * height_m * 1000)


def measure(case, tmp: Path) -> dict:
    import trimesh
    from PIL import Image

    import synthetic_people as sp
    from synchuman.foreground import extract_foreground

    name, pose, background, size, seed = case
    body = sp.make_person(pose, seed=seed)
    photo = sp.render_photo(body, *size, background="plain" if background == "cutout" else background)
    path = tmp / f"{name.replace(' ', '_')}.png"
    Image.fromarray(photo.rgba if background == "cutout" else photo.rgb).save(path)
    proc = subprocess.Popen([sys.executable, __file__, "--worker", str(path), str(tmp / "out" / path.stem)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: worker failed:\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    run = json.loads(lines[-2])
    peak_mb = json.loads(lines[-1])["peak_mb"]
    # foreground accuracy (outside the timed runs)
    fg = extract_foreground(photo.rgba if background == "cutout" else photo.rgb) >= 128
    fg_iou = float((fg & photo.mask).sum() / (fg | photo.mask).sum())
    view = np.asarray(Image.open(run["front"]).convert("RGB"))
    H, W = photo.mask.shape
    if view.shape[:2] != (H, W):
        gt = np.asarray(Image.fromarray(photo.mask.astype(np.uint8) * 255).resize((view.shape[1], view.shape[0]),
                                                                                   Image.BOX)) >= 128
        ref = np.asarray(Image.fromarray(photo.rgb).resize((view.shape[1], view.shape[0]), Image.BOX))
    else:
        gt, ref = photo.mask, photo.rgb
    cover = np.abs(view.astype(int) - 235).sum(-1) > 0
    sil_iou = float((cover & gt).sum() / (cover | gt).sum())
    sel = gt & cover
    mse = ((view.astype(float) - ref.astype(float)) ** 2)[sel].mean()
    psnr = float(10 * np.log10(255 ** 2 / mse))
    scene = trimesh.load(run["glb"])
    (mesh,) = scene.geometry.values()
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    welded.merge_vertices(merge_tex=True, merge_norm=True)
    rng = np.random.default_rng(0)
    ours = sample_surface(np.asarray(welded.vertices), np.asarray(welded.faces), 40_000, rng)
    truth = sp.surface_points(body, 40_000)
    # cross-check of the silhouette with the project's render package (torch CPU rasteriser)
    sil_iou_render = None
    try:
        from synchuman.render import rasterize

        fr = run["frame"]
        V = np.asarray(mesh.vertices)
        u = fr["u_of_x0"] + V[:, 0] * fr["px_per_m"]
        v = fr["v_of_y0"] - V[:, 1] * fr["px_per_m"]
        z = V[:, 2] / (np.abs(V[:, 2]).max() + 1e-9)
        clip = np.column_stack([(2 * u + 1) / W - 1, (2 * v + 1) / H - 1, -0.9 * z, np.ones(len(V))])
        raster = rasterize(clip.astype(np.float32), np.asarray(mesh.faces, np.int64), (H, W))
        cov = np.asarray(raster.mask).reshape(H, W)
        sil_iou_render = float((cov & photo.mask).sum() / (cov | photo.mask).sum())
    except ImportError:
        pass
    return {
        "case": name, "warm_cpu_s": run["warm_cpu"], "sil_iou_render": sil_iou_render, "size": f"{size[0]}x{size[1]}", "cold_s": run["cold"], "warm_s": run["warm"],
        "peak_mb": peak_mb, "fg_iou": fg_iou, "sil_iou": sil_iou, "psnr": psnr,
        "watertight": bool(welded.is_watertight and welded.is_winding_consistent and welded.volume > 0),
        "faces": int(len(mesh.faces)), "chamfer_mm": chamfer_mm(ours, truth), "stages": run["timings"],
        "torch": run["torch_imported"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="preview engine benchmark")
    ap.add_argument("--worker", nargs=2, metavar=("PHOTO", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        # the peak resident memory of this worker (VmHWM: ru_maxrss would include the parent's size
        # at fork time), reported on a last line
        status = Path("/proc/self/status").read_text()
        hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        return print(json.dumps({"peak_mb": hwm_kb / 1024}))
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for case in QUICK if args.quick else CASES:
            rows.append(measure(case, Path(d)))
            print(f"  done: {rows[-1]['case']}", file=sys.stderr)
    head = ("| case | photo | cold s | warm s | warm CPU s | peak MB | fg IoU | sil IoU | sil IoU (render pkg) | "
            "PSNR dB | watertight | faces | Chamfer mm |")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start "
          "(shared machine: timings are noisy)")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        cross = "-" if r["sil_iou_render"] is None else f"{r['sil_iou_render']:.4f}"
        print(f"| {r['case']} | {r['size']} | {r['cold_s']:.2f} | {r['warm_s']:.2f} | {r['warm_cpu_s']:.2f} | "
              f"{r['peak_mb']:.0f} | {r['fg_iou']:.4f} | {r['sil_iou']:.4f} | {cross} | {r['psnr']:.1f} | "
              f"{'yes' if r['watertight'] else 'NO'} | "
              f"{r['faces']} | {r['chamfer_mm']:.1f} |")
    print("\nwarm-run stage times (s):")
    for r in rows:
        print(f"  {r['case']}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()))
    if any(r["torch"] for r in rows):   # the body fit and the rig use torch (one thread); the inflation does not
        print("torch was imported (the body fit and the rig step)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
