"""The preview engine on the hard set: clothed people with garments of their own geometry
(benchmarks/clothed_people.py), against their true dressed surface.

    .venv/bin/python benchmarks/preview_clothed.py [--seed 0] [--only CASE ...]

Per case, through the real engine path (`run_reconstruction`, as the CLI and the service run it), in one
process after a warm-up job:
- Chamfer (mm): symmetric mean distance between points sampled on our GLB and on the true dressed mesh,
  both normalised to unit height with feet at 0 and centred, reported at the person's true height
  (the engine only knows the photo, so scale and placement are factored out as in benchmarks/preview.py);
- to-surface (mm): the one-sided part, from our surface to the true one (how far our points are off);
- normal consistency: mean |n_ours · n_true| over nearest-point pairs, both ways (1 = same orientation);
- sil IoU: coverage of views/front.png against the true mask; PSNR: masked, front view vs photo;
- s: wall time of the job (warm), watertight: of the GLB's welded geometry.
The numbers are the baseline the body-fitted preview (issue 15) must beat.
"""

from __future__ import annotations

import argparse
import os
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
    t = time.perf_counter()
    result = run_reconstruction(photo, tmp / "out", settings, lambda e: None, CancelToken(), engines)
    seconds = time.perf_counter() - t
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
    return {"case": name, "s": seconds, **scores,
            "sil_iou": float((cover & mask).sum() / max((cover | mask).sum(), 1)),
            "psnr": float(10 * np.log10(255 ** 2 / max(mse, 1e-9))),
            "watertight": bool(welded.is_watertight and welded.is_winding_consistent)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()

    import clothed_people as cp
    from synchuman.runner import EngineCache

    specs = [c for c in cp.CASES if not args.only or c[0] in args.only]
    load = os.getloadavg()
    engines = EngineCache()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        warm = cp.render_case(specs[0], 1024, seed=1000 * args.seed + cp.CASES.index(specs[0]) + 1)
        run_case(warm, tmp / "warm", engines)
        for spec in specs:
            case = cp.render_case(spec, 1024, seed=1000 * args.seed + cp.CASES.index(spec) + 1)
            rows.append(run_case(case, tmp / spec[0], engines))
            print(f"  done: {spec[0]}", file=sys.stderr, flush=True)
    print(f"preview engine (silhouette inflation) on the clothed people, seed {args.seed}; "
          f"load {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    print("| case | Chamfer mm | to-surface mm | normal consistency | sil IoU | PSNR dB | s | watertight |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['chamfer_mm']:.1f} | {r['to_surface_mm']:.1f} | {r['normal_consistency']:.3f} | "
              f"{r['sil_iou']:.4f} | {r['psnr']:.1f} | {r['s']:.2f} | {'yes' if r['watertight'] else 'NO'} |")
    col = lambda k: np.array([r[k] for r in rows])  # noqa: E731
    print(f"\nChamfer median {np.median(col('chamfer_mm')):.1f} mm, max {col('chamfer_mm').max():.1f}; normal "
          f"consistency median {np.median(col('normal_consistency')):.3f}; sil IoU median "
          f"{np.median(col('sil_iou')):.4f}; PSNR median {np.median(col('psnr')):.1f} dB; "
          f"watertight {sum(r['watertight'] for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
