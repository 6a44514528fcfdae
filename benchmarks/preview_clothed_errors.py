"""Where the preview engine's error on the clothed people comes from (issue 15): per case, the
benchmark's Chamfer and normal consistency (benchmarks/preview_clothed.py, same normalisation: each
mesh to unit height, feet at 0, centred on x and z) split by axis, by the true surface's part (body
parts and garments, from the truth's labels: true-to-ours distance), and the fitted bare body
(views/body.npz) against the true bare body in the same normalisations (is it the fit or the
dressing?), and the Chamfer with ours shifted on x and z to the best-matching translation (the shape
apart from where the bounding box's centre puts it).

    .venv/bin/python benchmarks/preview_clothed_errors.py [--seed 0] [--only CASE ...] [--keep DIR]

One JSON row per case (mm at the person's true height), then the medians. It runs the engine
in-process (`run_reconstruction`); times are not measured here (preview_clothed.py does that).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from preview_clothed import SAMPLES, _samples_with_normals  # noqa: E402


ALIGN_STEPS = 8  # nearest-point translation steps for the aligned Chamfer


def _frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The benchmark's normalisation as (origin, height): normalised = (p - origin) / height."""
    lo, hi = points.min(0), points.max(0)
    return np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2]), float(hi[1] - lo[1])


def _sample(vertices, faces, n, rng, labels=None):
    """Area-uniform surface samples with face normals (and the first corner's label)."""
    pts, normals = _samples_with_normals(vertices, faces, n, rng)
    if labels is None:
        return pts, normals, None
    # _samples_with_normals does not say which face each sample came from: label by nearest vertex
    from scipy.spatial import cKDTree

    return pts, normals, labels[cKDTree(vertices).query(pts)[1]]


def decompose(ours_v, ours_f, body_v, body_f, truth: dict, height_m: float, names: dict) -> dict:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    pa, na, _ = _sample(ours_v, ours_f, SAMPLES, rng)
    pb, nb, lb = _sample(truth["vertices"].astype(np.float64), truth["faces"], SAMPLES, rng, truth["labels"])
    (oa, ha), (ob, hb) = _frame(pa), _frame(pb)
    a, b = (pa - oa) / ha, (pb - ob) / hb
    da, ia = cKDTree(b).query(a)
    db, ib = cKDTree(a).query(b)
    mm = height_m * 1000
    row = {"chamfer_mm": (da.mean() + db.mean()) / 2 * mm,
           "normal_consistency": 0.5 * (np.abs((na * nb[ia]).sum(1)).mean() + np.abs((nb * na[ib]).sum(1)).mean()),
           "per_axis_mm": 0.5 * (np.abs(b[ia] - a).mean(0) + np.abs(a[ib] - b).mean(0)) * mm,
           "extent_ours_mm": np.ptp(a, 0) * mm, "extent_true_mm": np.ptp(b, 0) * mm}
    # the shape apart from its placement: ours shifted on x and z (the bounding box's centre moves with
    # a foot in front, a backpack behind) to the translation that best matches the nearest points
    shift = np.zeros(3)
    for _ in range(ALIGN_STEPS):
        d1, i1 = cKDTree(b).query(a + shift)
        d2, i2 = cKDTree(a + shift).query(b)
        step = 0.5 * ((b[i1] - a - shift).mean(0) + (b - a[i2] - shift).mean(0))
        shift[[0, 2]] += step[[0, 2]]
    d1, _ = cKDTree(b).query(a + shift)
    d2, _ = cKDTree(a + shift).query(b)
    row["chamfer_aligned_mm"] = (d1.mean() + d2.mean()) / 2 * mm
    row["aligning_shift_mm"] = shift[[0, 2]] * mm
    cos = np.abs((nb * na[ib]).sum(1))
    row["true_to_ours_mm"] = {names.get(int(k), str(k)): db[lb == k].mean() * mm for k in np.unique(lb)}
    # each part's share of the true-to-ours half of the Chamfer: where the error is, weighted by area
    row["true_to_ours_share"] = {names.get(int(k), str(k)): db[lb == k].sum() / db.sum() for k in np.unique(lb)}
    row["normal_consistency_by_part"] = {names.get(int(k), str(k)): cos[lb == k].mean() for k in np.unique(lb)}
    if body_v is not None:   # the fitted bare body vs the true one, each in its dressed mesh's frame
        pc, _, _ = _sample(body_v, body_f, SAMPLES // 2, rng)
        pt, _, _ = _sample(truth["body_vertices"].astype(np.float64), truth["body_faces"], SAMPLES // 2, rng)
        c, t = (pc - oa) / ha, (pt - ob) / hb
        d1, i1 = cKDTree(t).query(c)
        d2, i2 = cKDTree(c).query(t)
        row["bare_body_chamfer_mm"] = (d1.mean() + d2.mean()) / 2 * mm
        row["bare_body_per_axis_mm"] = 0.5 * (np.abs(t[i1] - c).mean(0) + np.abs(c[i2] - t).mean(0)) * mm
        row["bare_body_mean_shift_mm"] = (c.mean(0) - t.mean(0)) * mm
    return row


def _rounded(x):
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [round(float(v), 1) for v in x]
    return round(float(x), 3) if isinstance(x, (float, np.floating)) else x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--keep", type=Path, help="keep the photos and job folders here (views to look at)")
    args = ap.parse_args()

    import clothed_people as cp
    import trimesh

    from synchuman.body.posed import PosedBody
    from synchuman.engines import ReconstructSettings
    from synchuman.jobs import CancelToken
    from synchuman.runner import EngineCache, run_reconstruction

    from PIL import Image

    engines = EngineCache()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or tmp
        Path(d).mkdir(parents=True, exist_ok=True)
        for spec in [c for c in cp.CASES if not args.only or c[0] in args.only]:
            case = cp.render_case(spec, 1024, seed=1000 * args.seed + cp.CASES.index(spec) + 1)
            meta, truth = case["meta"], case["truth"]
            photo = Path(d) / f"{spec[0]}.png"
            Image.fromarray(case["photo"]).save(photo)
            settings = ReconstructSettings(engine="preview", height_m=float(meta["top_m"]))
            result = run_reconstruction(photo, Path(d) / spec[0], settings, lambda e: None, CancelToken(), engines)
            (mesh,) = trimesh.load(result["glb"]).geometry.values()
            welded = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
            welded.merge_vertices(merge_tex=True, merge_norm=True)
            body_v = body_f = None
            if result["metadata"]["preview"]["method"] == "body":
                body = PosedBody.load(Path(result["job_dir"]) / "views")
                body_v, body_f = body.vertices, body.faces
            row = decompose(np.asarray(welded.vertices), np.asarray(welded.faces), body_v, body_f, truth,
                            float(meta["top_m"]), {int(k): v for k, v in meta["labels"]["names"].items()})
            rows.append({"case": spec[0], "method": result["metadata"]["preview"]["method"], **_rounded(row)})
            print(json.dumps(rows[-1]), flush=True)
    med = lambda k: float(np.median([r[k] for r in rows if k in r]))  # noqa: E731
    print(f"median: Chamfer {med('chamfer_mm'):.1f} mm (aligned on x and z {med('chamfer_aligned_mm'):.1f}), "
          f"normal consistency {med('normal_consistency'):.3f}, "
          f"bare body Chamfer {med('bare_body_chamfer_mm'):.1f} mm; per axis (x, y, z) "
          f"{np.median([r['per_axis_mm'] for r in rows], 0).round(1).tolist()} mm")


if __name__ == "__main__":
    main()
