"""The preview engine on the hard set: clothed people with garments of their own geometry
(benchmarks/clothed_people.py), against their true dressed surface, for its two methods side by
side: the fitted body dressed by the photo ("body") and the silhouette inflation ("inflation", forced
with $SYNCHUMAN_PREVIEW_METHOD).

    .venv/bin/python benchmarks/preview_clothed.py [--seed 0] [--only CASE ...] [--methods body inflation]

The cases are rendered once; each method then runs in its own process (so its peak memory is its own),
per case through the real engine path (`run_reconstruction`, as the CLI and the service run it), after a
warm-up job:
- Chamfer (mm): symmetric mean distance between points sampled on our GLB and on the true dressed mesh,
  both normalised to unit height with feet at 0 and centred, reported at the person's true height
  (the engine only knows the photo, so scale and placement are factored out as in benchmarks/preview.py);
- to-surface (mm): the one-sided part, from our surface to the true one (how far our points are off);
- normal consistency: mean |n_ours · n_true| over nearest-point pairs, both ways (1 = same orientation);
- sil IoU: coverage of views/front.png against the true mask; PSNR: masked, front view vs photo;
- s / CPU s: wall and CPU time of the job (warm; the machine is shared, so CPU time is the steadier
  number); peak MB: the worker process's peak resident memory during the job (imports and models
  included; its high-water mark is reset before each job, so the benchmark's own scoring of the last
  case does not count);
- watertight: of the GLB's welded geometry; method: what the engine says it ran.
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

from preview import normalise  # noqa: E402

SAMPLES = 40_000


def _samples_with_normals(vertices: np.ndarray, faces: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    cross = np.cross(b - a, c - a)
    area = 0.5 * np.linalg.norm(cross, axis=1)
    idx = rng.choice(len(faces), n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    pts = (1 - s)[:, None] * a[idx] + (s * (1 - r2))[:, None] * b[idx] + (s * r2)[:, None] * c[idx]
    normals = cross[idx] / np.maximum(np.linalg.norm(cross[idx], axis=1, keepdims=True), 1e-12)
    return pts, normals


def surface_scores(ours_v, ours_f, true_v, true_f, height_m: float) -> dict:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    pa, na = _samples_with_normals(ours_v, ours_f, SAMPLES, rng)
    pb, nb = _samples_with_normals(true_v, true_f, SAMPLES, rng)
    a, b = normalise(pa), normalise(pb)
    da, ia = cKDTree(b).query(a)
    db, ib = cKDTree(a).query(b)
    nc = 0.5 * (np.abs((na * nb[ia]).sum(1)).mean() + np.abs((nb * na[ib]).sum(1)).mean())
    return {"chamfer_mm": float((da.mean() + db.mean()) / 2 * height_m * 1000),
            "to_surface_mm": float(da.mean() * height_m * 1000), "normal_consistency": float(nc)}


def run_case(case: dict, tmp: Path, engines) -> dict:
    import trimesh
    from PIL import Image

    from synchuman.engines import ReconstructSettings
    from synchuman.jobs import CancelToken
    from synchuman.runner import run_reconstruction

    name, truth, meta = case["meta"]["name"], case["truth"], case["meta"]
    tmp.mkdir(parents=True, exist_ok=True)
    photo = tmp / f"{name}.png"
    Image.fromarray(case["photo"]).save(photo)
    settings = ReconstructSettings(engine="preview", height_m=float(meta["top_m"]))
    _reset_peak()
    t, cpu = time.perf_counter(), time.process_time()
    result = run_reconstruction(photo, tmp / "out", settings, lambda e: None, CancelToken(), engines)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak = _peak_mb()
    scene = trimesh.load(result["glb"])
    (mesh,) = scene.geometry.values()
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    welded.merge_vertices(merge_tex=True, merge_norm=True)
    scores = surface_scores(np.asarray(welded.vertices), np.asarray(welded.faces), truth["vertices"],
                            truth["faces"], float(meta["top_m"]))
    view = np.asarray(Image.open(result["views"]["front"]).convert("RGB"))
    mask, rgb = truth["mask"], case["photo"]
    if view.shape[:2] != mask.shape:
        size = (view.shape[1], view.shape[0])
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.BOX)) >= 128
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BOX))
    cover = np.abs(view.astype(int) - 235).sum(-1) > 0
    sel = cover & mask
    mse = ((view.astype(float) - rgb.astype(float)) ** 2)[sel].mean()
    return {"case": name, "s": seconds, "cpu_s": cpu, "peak_mb": peak, "method": result["metadata"]["preview"]["method"],
            **scores,
            "sil_iou": float((cover & mask).sum() / max((cover | mask).sum(), 1)),
            "psnr": float(10 * np.log10(255 ** 2 / max(mse, 1e-9))),
            "watertight": bool(welded.is_watertight and welded.is_winding_consistent)}


def _reset_peak() -> None:
    """Resets the process's peak resident memory (Linux: /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:   # elsewhere the peak stays the process's since it started
        pass


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(folder: Path, method: str) -> None:
    """Runs every case saved in `folder` with one method; prints one JSON row per case."""
    import clothed_people as cp  # noqa: F401  (the cases' modules on the path)
    from PIL import Image

    from synchuman.runner import EngineCache

    os.environ["SYNCHUMAN_PREVIEW_METHOD"] = "inflation" if method == "inflation" else "auto"
    engines = EngineCache()
    names = json.loads((folder / "cases.json").read_text())
    with tempfile.TemporaryDirectory() as d:
        for i, name in enumerate([names[0]] + names):   # the first run warms up
            with np.load(folder / name / "truth.npz") as z:
                truth = {k: z[k] for k in z.files}
            case = {"photo": np.asarray(Image.open(folder / name / "photo.png").convert("RGB")), "truth": truth,
                    "meta": json.loads((folder / name / "case.json").read_text())}
            row = run_case(case, Path(d) / f"{i}", engines)
            if i:
                print(json.dumps(row), flush=True)
                print(f"  {method}: {name}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--methods", nargs="*", default=["body", "inflation"], choices=["body", "inflation"])
    ap.add_argument("--worker", nargs=2, metavar=("FOLDER", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(Path(args.worker[0]), args.worker[1])

    import clothed_people as cp

    specs = [c for c in cp.CASES if not args.only or c[0] in args.only]
    load = os.getloadavg()
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        for spec in specs:
            cp.write_case(cp.render_case(spec, 1024, seed=1000 * args.seed + cp.CASES.index(spec) + 1), folder / spec[0])
        (folder / "cases.json").write_text(json.dumps([spec[0] for spec in specs]))
        for method in args.methods:
            out = subprocess.run([sys.executable, __file__, "--worker", str(folder), method], stdout=subprocess.PIPE,
                                 text=True, check=True)
            rows[method] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    end = os.getloadavg()
    print(f"preview engine on the clothed people, seed {args.seed}; load {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f} at the start, {end[0]:.2f} / {end[1]:.2f} / {end[2]:.2f} at the end")
    for method, table in rows.items():
        print(f"\n{method}:\n")
        print("| case | ran | Chamfer mm | to-surface mm | normal consistency | sil IoU | PSNR dB | s | CPU s | watertight |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in table:
            print(f"| {r['case']} | {r['method']} | {r['chamfer_mm']:.1f} | {r['to_surface_mm']:.1f} | "
                  f"{r['normal_consistency']:.3f} | {r['sil_iou']:.4f} | {r['psnr']:.1f} | {r['s']:.2f} | "
                  f"{r['cpu_s']:.2f} | {'yes' if r['watertight'] else 'NO'} |")
        col = lambda k: np.array([r[k] for r in table])  # noqa: E731
        print(f"\n{method}: Chamfer median {np.median(col('chamfer_mm')):.1f} mm, max {col('chamfer_mm').max():.1f}; "
              f"normal consistency median {np.median(col('normal_consistency')):.3f}; sil IoU median "
              f"{np.median(col('sil_iou')):.4f}; PSNR median {np.median(col('psnr')):.1f} dB; time median "
              f"{np.median(col('s')):.2f} s wall, {np.median(col('cpu_s')):.2f} s CPU (max {col('cpu_s').max():.2f}); "
              f"peak {max(col('peak_mb')):.0f} MB; watertight {sum(r['watertight'] for r in table)}/{len(table)}")


if __name__ == "__main__":
    main()
