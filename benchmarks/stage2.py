"""Stage-2 CPU time and peak memory, one fresh process per case (peak RSS is per process).

    python benchmarks/stage2.py                 # every case, prints a table
    python benchmarks/stage2.py --case tiny_f   # one case, prints one JSON line
    python benchmarks/stage2.py --threads 1     # torch intra-op threads (default: torch's)

Cases
- tiny_c, tiny_d, tiny_f: the golden cases on the tiny checkpoints (flow forward; both
  decoders + FlexiCubes; the 8-step sampler).
- dec_2k, dec_10k: the full-width Gaussian and mesh decoders (released configs, random weights) on
  2,000 / 10,000 voxels with (1, 4, 64, 64, 4096) multiview maps, FlexiCubes included.
- flow_2k: one full-width SLat flow forward (released config, random weights) on 2,000 voxels.
- fc_10k: FlexiCubes alone on a 10,000-voxel shell (640,000 cubes at 256^3) of an ellipsoid SDF.

Measured (1 torch thread, 2-core machine idle; [brackets]: the same at load ~5):

| case    | voxels | seconds | peak RSS over imports |
|---------|--------|---------|-----------------------|
| tiny_c  | 756    | 0.04    | 19 MB                 |
| tiny_d  | 46     | 0.06    | 40 MB (mesh 2552 v / 5068 f) |
| tiny_f  | 457    | 0.13    | 20 MB (8 steps, 15 forwards) |
| fc_10k  | 10,000 | 2.2     | 1.0 GB incl. 0.58 GB of inputs (115k v / 230k f) |
| dec_2k  | 2,000  | 30 (GS 12, mesh net 17, FlexiCubes 0.9) [161] | 2.8 GB incl. 1.8 GB fp32 weights (one decoder at a time) and 0.5 GB of multiview maps |
| dec_10k | 10,000 | 150 (GS 54, mesh net 93, FlexiCubes 2.5) | 4.3 GB (320k Gaussians; mesh 303k v / 607k f) |
| flow_2k | 2,000  | 9.5 per forward (44 forwards per sampling) [48] | 2.5 GB (2.4 GB weights) |

Windowed attention (12 heads x 64, window 8): stacking equal-size windows (exact, no mask) is
3-5x faster than padding all windows with a key mask (10k voxels: 1.3-1.8 s vs 4.3-8.9 s per
block). The per-pixel multiview injection cut dec_2k from 259 s to 161 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT / "tests"))
GOLDEN = ROOT / "tests" / "golden"
CONFIGS = GOLDEN / "configs" / "SecondStage" / "ckpts"

CASES = ["tiny_c", "tiny_d", "tiny_f", "fc_10k", "dec_2k", "flow_2k", "dec_10k"]
DEFAULT_CASES = CASES[:-1]  # dec_10k takes ~15 min on 2 cores: ask for it with --case


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def shell_coords(n_target: int, res: int = 64):
    """Voxels of an upright ellipsoid shell (roughly human-sized in the unit cube) with about n_target voxels."""
    import torch

    idx = torch.arange(res)
    g = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), -1).reshape(-1, 3)
    p = (g.float() + 0.5) / res - 0.5
    r = ((p[:, 0] / 0.22) ** 2 + (p[:, 1] / 0.12) ** 2 + (p[:, 2] / 0.45) ** 2).sqrt()
    lo, hi = 0.0, 1.0
    for _ in range(40):  # shell thickness giving ~n_target voxels
        mid = (lo + hi) / 2
        if int(((r > 1 - mid) & (r < 1 + mid / 4)).sum()) < n_target:
            lo = mid
        else:
            hi = mid
    keep = (r > 1 - hi) & (r < 1 + hi / 4)
    xyz = g[keep]
    return torch.cat([torch.zeros(xyz.shape[0], 1, dtype=torch.long), xyz], 1).int()


def random_init_(model):
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.normal_(0, fan_in ** -0.5, generator=gen)
            elif "norm" in name or name.endswith("gamma"):
                p.fill_(1.0)
            else:
                p.normal_(0, 0.02, generator=gen)


def build_random(folder: str, dtype=None):
    from synchuman.models.registry import build_model, read_model_config

    name, cfg = read_model_config(CONFIGS / folder)
    model = build_model(name, cfg, "meta").to_empty(device="cpu")
    random_init_(model)
    if hasattr(model, "offset_perturbation"):
        from synchuman.models.gaussian import offset_perturbation

        model.offset_perturbation.copy_(offset_perturbation(model.rep))
    return model.eval().requires_grad_(False)


def run_case(case: str) -> dict:
    import torch
    from golden_support import load_case

    from synchuman.models.sparse import SparseTensor
    from synchuman.models.registry import load_model
    from synchuman.pipelines.stage2 import Stage2Pipeline

    base = peak_mb()
    out: dict = {"case": case, "threads": torch.get_num_threads()}
    tiny = GOLDEN / "tiny" / "ckpts" / "SecondStage"
    with torch.no_grad():
        if case == "tiny_c":
            t, _ = load_case(GOLDEN, "c_slat_flow_forward.safetensors")
            flow = load_model(tiny / "ckpts" / "slat_flow")
            t0 = time.perf_counter()
            flow(SparseTensor(t["in_feats"], t["in_coords"]), t["in_t"], t["in_cond"])
            out["seconds"] = time.perf_counter() - t0
            out["voxels"] = int(t["in_coords"].shape[0])
        elif case == "tiny_d":
            t, _ = load_case(GOLDEN, "d_decoders.safetensors")
            gs = load_model(tiny / "ckpts" / "decoder_GS")
            mesh = load_model(tiny / "ckpts" / "decoder_Mesh")
            slat = SparseTensor(t["in_feats"], t["in_coords"])
            t0 = time.perf_counter()
            gs(slat, t["in_mv_color"], t["in_mv_normal"])
            m = mesh(slat, t["in_mv_color"], t["in_mv_normal"])[0]
            out["seconds"] = time.perf_counter() - t0
            out.update(voxels=int(slat.coords.shape[0]), mesh_vertices=int(m.vertices.shape[0]),
                       mesh_faces=int(m.faces.shape[0]))
        elif case == "tiny_f":
            t, meta = load_case(GOLDEN, "f_stage2_sampler.safetensors")
            pipe = Stage2Pipeline.from_pretrained(tiny, decoders=False)
            t0 = time.perf_counter()
            pipe.sample_slat(t["in_coords"], t["int_cond"], noise=t["in_noise"], steps=int(meta["steps"]))
            out["seconds"] = time.perf_counter() - t0
            out.update(voxels=int(t["in_coords"].shape[0]), steps=int(meta["steps"]))
        elif case == "fc_10k":
            from synchuman.geometry.flexicubes import extract_mesh
            from synchuman.models.sparse import subdivide

            c = shell_coords(10_000)
            fine = subdivide(subdivide(SparseTensor(torch.zeros(c.shape[0], 1), c))).coords[:, 1:].long()
            corners = torch.tensor([(i & 1, (i >> 1) & 1, (i >> 2) & 1) for i in range(8)])
            pos = (fine.unsqueeze(1) + corners).float() / 256 - 0.5
            sdf = ((pos[..., 0] / 0.22) ** 2 + (pos[..., 1] / 0.12) ** 2 + (pos[..., 2] / 0.45) ** 2).sqrt() - 1
            feats = torch.zeros(fine.shape[0], 101)
            feats[:, :8] = sdf * 256 * 0.2
            feats[:, 32:53] = torch.randn(fine.shape[0], 21, generator=torch.Generator().manual_seed(0)) * 0.1
            del pos, sdf
            before = peak_mb()
            t0 = time.perf_counter()
            m = extract_mesh(fine, feats, 256)
            out["seconds"] = time.perf_counter() - t0
            out.update(voxels=int(c.shape[0]), cubes=int(fine.shape[0]), mesh_vertices=int(m.vertices.shape[0]),
                       mesh_faces=int(m.faces.shape[0]), peak_before_extract_mb=round(before - base, 1))
        elif case in ("dec_2k", "dec_10k"):
            c = shell_coords(int(case[4:-1]) * 1000)
            gen = torch.Generator().manual_seed(1)
            slat = SparseTensor(torch.randn(c.shape[0], 8, generator=gen), c)
            mv_c = torch.randn(1, 4, 64, 64, 4096, generator=gen)
            mv_n = torch.randn(1, 4, 64, 64, 4096, generator=gen)
            gs = build_random("decoder_GS")
            t0 = time.perf_counter()
            g = gs(slat, mv_c, mv_n)[0]
            out["gs_seconds"] = time.perf_counter() - t0
            del gs
            mesh = build_random("decoder_Mesh")
            t0 = time.perf_counter()
            raw = mesh.forward_features(slat, mv_c, mv_n)
            out["mesh_net_seconds"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            m = mesh.to_meshes(raw)[0]
            out["flexicubes_seconds"] = time.perf_counter() - t0
            out["seconds"] = out["gs_seconds"] + out["mesh_net_seconds"] + out["flexicubes_seconds"]
            out.update(voxels=int(c.shape[0]), gaussians=len(g), cubes=int(raw.coords.shape[0]),
                       mesh_vertices=int(m.vertices.shape[0]), mesh_faces=int(m.faces.shape[0]))
        elif case == "flow_2k":
            c = shell_coords(2_000)
            gen = torch.Generator().manual_seed(2)
            flow = build_random("slat_flow")
            x = SparseTensor(torch.randn(c.shape[0], 8, generator=gen), c)
            cond = torch.randn(1, 1374, 1024, generator=gen)
            t0 = time.perf_counter()
            flow(x, torch.tensor([500.0]), cond)
            out["seconds"] = time.perf_counter() - t0
            out["voxels"] = int(c.shape[0])
        else:
            raise SystemExit(f"unknown case {case!r}; choose from {CASES}")
    out["peak_rss_mb"] = round(peak_mb(), 1)
    out["peak_rss_over_imports_mb"] = round(peak_mb() - base, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=CASES)
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.case:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(json.dumps(run_case(args.case)))
        return
    rows = []
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--case", case] + (["--threads", str(args.threads)] if args.threads else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        if proc.returncode != 0:
            rows.append({"case": case, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"{'case':8} {'voxels':>7} {'seconds':>8} {'peak RSS MB':>12} {'over imports':>13}  details")
    for r in rows:
        if "error" in r:
            print(f"{r['case']:8} ERROR {r['error']}")
            continue
        extra = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                 if k not in ("case", "voxels", "seconds", "peak_rss_mb", "peak_rss_over_imports_mb")}
        print(f"{r['case']:8} {r.get('voxels', ''):>7} {r['seconds']:8.2f} {r['peak_rss_mb']:12.0f} "
              f"{r['peak_rss_over_imports_mb']:13.0f}  {extra}")


if __name__ == "__main__":
    main()
