"""Benchmark of the post-processing chain (raw mesh + views -> textured GLB) at real scale, on CPU.

It builds its own inputs (cached between runs):
* a dense human-shaped mesh: marching cubes of a composed implicit body (smooth union of capsules and ellipsoids,
  z-up in the unit cube, facing -Y) with the defects the chain must remove: a closed inner void (an inner shell), a
  pocket reached through a thin tunnel (inner faces behind a small hole), small punched holes, floating specks;
* a coloured ground truth (a colour function of 3D position: skin, striped shirt with a chest logo, jeans, shoes,
  hair, eyes and mouth) rendered in the reference's conventions: 4 orthographic 768² body views (2 and 3 stored
  mirrored) and the 3x face view, 2x2 supersampled on white, with world-normal maps whose foreground is the mask;
* "decoded Gaussians": points on the surface with the ground-truth colours (for regions no view sees).

Then it runs the chain in a fresh child process (so its peak memory is the chain's own) and prints time per step,
peak memory, faces before/after, holes left, manifoldness, texel coverage, and the masked PSNR of the baked asset
re-rendered in the 5 views (same supersampling) against the views.

    .venv/bin/python benchmarks/postprocess.py [--faces 500000] [--texture 1024] [--max-faces 60000] [--mode fast]
    .venv/bin/python benchmarks/postprocess.py --raster     # CPU rasteriser vs Embree ray casting
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

CACHE = Path(os.environ.get("SYNCHUMAN_BENCH_CACHE", Path(tempfile.gettempdir()) / "synchuman_postprocess_bench"))
VIEW_RES = 768
SUPERSAMPLE = 2


# ---------------------------------------------------------------- implicit body

def _segment_distance(p, a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _smooth_min(a, b, k=0.02):
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


# (start, end, radius, per-axis scale or None)
_PARTS = [((0, 0, 0.37), (0, 0, 0.37), 0.075, (0.87, 1.0, 1.2)),       # head
          ((0, 0, 0.25), (0, 0, 0.32), 0.035, None),                     # neck
          ((0, 0, 0.03), (0, 0, 0.19), 0.1, (1.0, 0.62, 1.0)),           # torso
          ((-0.06, 0, 0.0), (0.06, 0, 0.0), 0.085, (1.0, 0.75, 1.0)),    # hips
          ((0, -0.07, 0.365), (0, -0.07, 0.365), 0.014, None)]           # nose
for _s in (-1, 1):
    _PARTS += [((_s * 0.14, 0, 0.21), (_s * 0.2, 0, 0.05), 0.035, None),
               ((_s * 0.2, 0, 0.05), (_s * 0.24, -0.02, -0.1), 0.03, None),
               ((_s * 0.25, -0.02, -0.14), (_s * 0.25, -0.02, -0.14), 0.035, None),
               ((_s * 0.06, 0, -0.02), (_s * 0.07, 0, -0.22), 0.055, None),
               ((_s * 0.07, 0, -0.22), (_s * 0.075, 0, -0.42), 0.042, None),
               ((_s * 0.075, 0, -0.445), (_s * 0.08, -0.07, -0.45), 0.025, None)]
SPECKS = [(0.3, -0.05, 0.1), (-0.2, 0.1, 0.4), (0.05, -0.15, -0.3)]


def body_sdf(p: np.ndarray, defects: bool = True) -> np.ndarray:
    d = np.full(len(p), 1e9)
    for a, b, r, scale in _PARTS:
        if scale is None:
            d = _smooth_min(d, _segment_distance(p, a, b) - r)
        else:
            q = (p - np.asarray(a)) / np.asarray(scale) + np.asarray(a)
            d = _smooth_min(d, (_segment_distance(q, a, b) - r) * min(scale))
    if defects:
        d = np.maximum(d, -(np.linalg.norm(p - np.array([0, 0, 0.12]), axis=1) - 0.04))      # closed inner void
        pocket = np.minimum(np.linalg.norm(p - np.array([0, 0, -0.02]), axis=1) - 0.03,
                            _segment_distance(p, (0, 0, -0.02), (0, 0.2, -0.02)) - 0.007)  # opens at the back
        d = np.maximum(d, -pocket)
        for c in SPECKS:
            d = np.minimum(d, np.linalg.norm(p - np.array(c), axis=1) - 0.006)
    return d


def marching_cubes_body(n: int, defects: bool) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes on an n^3 grid, evaluating the SDF only in a band found on a coarse grid."""
    from skimage import measure

    coarse = 48
    g = (np.arange(coarse) + 0.5) / coarse - 0.5
    coarse_sdf = body_sdf(np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3), defects)
    coarse_sdf = coarse_sdf.reshape(coarse, coarse, coarse)
    band = np.abs(coarse_sdf) < 2.7 / coarse
    x = np.linspace(-0.5, 0.5, n)
    cell = np.clip(((x + 0.5) * coarse).astype(int), 0, coarse - 1)
    volume = np.empty((n, n, n), np.float32)
    for i in range(n):
        in_band = band[cell[i]][cell][:, cell]
        slab = np.where(coarse_sdf[cell[i]][cell][:, cell] > 0, 1.0, -1.0).astype(np.float32)
        ys, zs = np.nonzero(in_band)
        if len(ys):
            slab[ys, zs] = body_sdf(np.stack([np.full(len(ys), x[i]), x[ys], x[zs]], 1), defects)
        volume[i] = slab
    vertices, faces, _, _ = measure.marching_cubes(volume, 0.0, spacing=(1.0 / (n - 1),) * 3)
    return vertices - 0.5, faces.astype(np.int64)


def punch_holes(vertices, faces, count=6, radius=0.006, seed=1):
    rng = np.random.default_rng(seed)
    centroids = vertices[faces].mean(1)
    outer = np.abs(body_sdf(centroids, defects=False)) < 0.003          # on the body, not in defects
    for index in rng.choice(np.nonzero(outer)[0], count, replace=False):
        keep = np.linalg.norm(centroids - centroids[index], axis=1) > radius
        faces, centroids = faces[keep], centroids[keep]
    return faces


# ---------------------------------------------------------------- ground-truth colours

def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def ground_truth_colour(p: np.ndarray) -> np.ndarray:
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    skin, hair = np.array([0.87, 0.66, 0.53]), np.array([0.23, 0.14, 0.08])
    navy, white = np.array([0.15, 0.22, 0.5]), np.array([0.92, 0.92, 0.9])
    denim, shoe, red = np.array([0.24, 0.33, 0.52]), np.array([0.3, 0.2, 0.12]), np.array([0.8, 0.12, 0.15])
    colour = np.broadcast_to(skin, p.shape).copy()
    stripes = _smoothstep(-0.4, 0.4, np.sin(2 * np.pi * z / 0.04))[:, None]
    shirt = (_smoothstep(-0.035, -0.025, z) * (1 - _smoothstep(0.255, 0.265, z))
             * np.maximum(1 - _smoothstep(0.16, 0.17, np.abs(x)), _smoothstep(0.1, 0.12, z)))[:, None]
    colour = colour * (1 - shirt) + shirt * (stripes * navy + (1 - stripes) * white)
    logo = ((1 - _smoothstep(0.03, 0.035, np.hypot(x, z - 0.17))) * (y < -0.03))[:, None]
    colour = colour * (1 - logo) + logo * red
    jeans = (1 - _smoothstep(-0.035, -0.025, z))[:, None] * _smoothstep(-0.415, -0.405, z)[:, None]
    colour = colour * (1 - jeans) + jeans * (denim * (0.85 + 0.3 * (z[:, None] + 0.4)))
    shoes = (1 - _smoothstep(-0.415, -0.405, z))[:, None]
    colour = colour * (1 - shoes) + shoes * shoe
    hair_mask = np.maximum(_smoothstep(0.39, 0.40, z), _smoothstep(-0.02, 0.0, y) * _smoothstep(0.33, 0.34, z))
    colour = colour * (1 - hair_mask[:, None]) + hair_mask[:, None] * hair
    for side in (-1, 1):
        eye = (1 - _smoothstep(0.006, 0.009, np.hypot(x - side * 0.025, (z - 0.385) * 1.5))) * (y < -0.04)
        colour = colour * (1 - eye[:, None]) + eye[:, None] * np.array([0.1, 0.08, 0.07])
    mouth = (1 - _smoothstep(0.003, 0.005, np.abs(z - 0.342))) * (1 - _smoothstep(0.018, 0.022, np.abs(x))) * (y < -0.04)
    colour = colour * (1 - mouth[:, None]) + mouth[:, None] * np.array([0.7, 0.25, 0.25])
    texture = 0.03 * np.sin(60 * x) * np.sin(60 * y) * np.sin(60 * z)
    return np.clip(colour + texture[:, None], 0.0, 1.0)


# ---------------------------------------------------------------- rendering in the reference's conventions

def _downsample(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[0] // SUPERSAMPLE, image.shape[1] // SUPERSAMPLE
    return image.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE, -1).mean((1, 3))


def render_view(vertices, faces, view: int, shade) -> np.ndarray:
    """Supersampled orthographic render of view 0..4 on white; `shade(raster) -> (H,W,3)` colours covered pixels."""
    from synchuman.render import orthographic_clip, rasterize

    res = VIEW_RES * SUPERSAMPLE
    raster = rasterize(orthographic_clip(vertices, view), faces, (res, res), backend="cpu")
    mask = raster.mask[0].numpy()[..., None]
    image = np.where(mask, shade(raster), 1.0)
    return _downsample(image).astype(np.float32)


def ground_truth_views(vertices, faces):
    from synchuman.geometry.mesh_utils import vertex_normals
    from synchuman.render import interpolate

    normals = vertex_normals(vertices, faces)

    def colour(raster):
        position = interpolate(vertices, raster, faces)[0].numpy().reshape(-1, 3)
        return ground_truth_colour(position).reshape(raster.mask.shape[1:] + (3,))

    def normal(raster):
        n = interpolate(normals, raster, faces)[0].numpy()
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
        return 0.5 * (n + 1.0)

    colors = np.stack([render_view(vertices, faces, k, colour) for k in range(5)])
    normal_maps = np.stack([render_view(vertices, faces, k, normal) for k in range(5)])
    return colors, normal_maps


def surface_samples(vertices, faces, count, seed=0):
    rng = np.random.default_rng(seed)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    pick = rng.choice(len(faces), count, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(count)), rng.random(count)
    w = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], 1)
    return np.einsum("nk,nkc->nc", w, tri[pick])


def build_inputs(target_faces: int) -> Path:
    path = CACHE / f"inputs_{target_faces}.npz"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    n = int(round(400 * np.sqrt(target_faces / 336_000)))
    print(f"building inputs: marching cubes at {n}^3 (cached in {CACHE}) ...", flush=True)
    raw_v, raw_f = marching_cubes_body(n, defects=True)
    raw_f = punch_holes(raw_v, raw_f)
    clean_v, clean_f = marching_cubes_body(max(160, n // 2), defects=False)
    colors, normal_maps = ground_truth_views(clean_v, clean_f)
    xyz = surface_samples(clean_v, clean_f, 200_000)
    rng = np.random.default_rng(7)
    gaussian_xyz = xyz + rng.normal(scale=0.002, size=xyz.shape)
    np.savez(path, vertices=raw_v, faces=raw_f, colors=colors, normals=normal_maps,
             gaussian_xyz=gaussian_xyz, gaussian_rgb=ground_truth_colour(xyz),
             gaussian_opacity=np.full(len(xyz), 0.9))
    return path


# ---------------------------------------------------------------- evaluation

def masked_psnr(rendered: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    mse = float(((rendered[mask] - reference[mask]) ** 2).mean())
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def evaluate(result_npz: Path, inputs: dict) -> list[float]:
    from synchuman.render import interpolate, sample_texture
    from synchuman.render.bake import MASK_THRESHOLD

    data = np.load(result_npz)
    vertices, faces, uv, texture = data["vertices"], data["faces"], data["uv"], data["texture"] / 255.0

    def textured(raster):
        pixel_uv = interpolate(uv, raster, faces)[0].numpy()
        return sample_texture(texture.astype(np.float32), pixel_uv)

    scores = []
    for k in range(5):
        image = render_view(vertices, faces, k, textured)
        mask = (inputs["normals"][k] < MASK_THRESHOLD).any(-1)
        scores.append(masked_psnr(image, inputs["colors"][k], mask))
    return scores


def run_chain(inputs_path: Path, out_dir: Path, texture: int, max_faces: int, mode: str, normal_map: bool) -> dict:
    """Runs in the child process: the chain alone, then its peak memory."""
    from synchuman.pipelines.postprocess import PostprocessOptions, process, write_result

    data = dict(np.load(inputs_path))

    class Gaussians:
        xyz, rgb, opacity = data["gaussian_xyz"], data["gaussian_rgb"], data["gaussian_opacity"]

    options = PostprocessOptions()
    options.cleanup.max_faces = max_faces
    options.uv.resolution = texture
    options.bake.texture_size = texture
    options.bake.mode = mode
    options.normal_map = normal_map
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = process(data["vertices"], data["faces"], data["colors"][:4], data["normals"][:4], data["colors"][4],
                     data["normals"][4], Gaussians, options=options)
    export_started = time.perf_counter()
    write_result(result, out_dir / "human.glb", 1.75, options)
    stats = result.stats
    stats["timings_s"]["export"] = round(time.perf_counter() - export_started, 3)
    stats["wall_s"] = round(time.perf_counter() - started, 3)
    stats["cpu_s"] = round(time.process_time() - cpu_started, 3)
    stats["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    np.savez(out_dir / "result.npz", vertices=result.vertices, faces=result.faces, uv=result.uv,
             texture=result.texture)
    return stats


def raster_table(inputs_path: Path) -> None:
    """CPU rasteriser vs Embree ray casting for the same orthographic views (the choice of CPU implementation)."""
    from synchuman.geometry.cleanup import decimate
    from synchuman.geometry.holes import RayScene
    from synchuman.render import orthographic_clip, rasterize

    data = np.load(inputs_path)
    raw_v, raw_f = data["vertices"], data["faces"]
    meshes = [("raw", raw_v, raw_f), ("decimated", *decimate(raw_v, raw_f, 60_000))]
    print("| mesh | faces | resolution | tile rasteriser, 1 view | Embree: BVH build | Embree: cast 1 view |"
          " 5 views: tile / Embree |\n|---|---|---|---|---|---|---|")
    for name, v, f in meshes:
        for res in (768, 1024):
            started = time.perf_counter()
            for view in range(5):
                rasterize(orthographic_clip(v, view), f, (res, res), backend="cpu")
            tile = (time.perf_counter() - started) / 5
            started = time.perf_counter()
            scene = RayScene(v, f)
            build = time.perf_counter() - started
            cols, rows = np.meshgrid((np.arange(res) + 0.5) / res - 0.5, 0.5 - (np.arange(res) + 0.5) / res)
            origins = np.stack([cols.ravel(), np.full(res * res, -2.0), rows.ravel()], 1)
            directions = np.tile([0.0, 1.0, 0.0], (res * res, 1))
            started = time.perf_counter()
            for _ in range(5):
                scene.intersect(origins, directions)
            cast = (time.perf_counter() - started) / 5
            print(f"| {name} | {len(f):,} | {res}² | {tile:.2f} s | {build:.2f} s | {cast:.2f} s |"
                  f" {5 * tile:.1f} s / {build + 5 * cast:.1f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=500_000, help="raw mesh size (300k-600k)")
    parser.add_argument("--texture", type=int, default=1024)
    parser.add_argument("--max-faces", type=int, default=60_000)
    parser.add_argument("--mode", default="fast", choices=("fast", "opt"))
    parser.add_argument("--normal-map", action="store_true", help="also bake the normal map")
    parser.add_argument("--raster", action="store_true", help="compare the CPU rasteriser with Embree ray casting")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raster:
        raster_table(build_inputs(args.faces))
        return
    if args.child:
        stats = run_chain(Path(args.child[0]), Path(args.child[1]), args.texture, args.max_faces, args.mode,
                          args.normal_map)
        print(json.dumps(stats))
        return

    inputs_path = build_inputs(args.faces)
    out_dir = Path(tempfile.mkdtemp(prefix="postprocess_bench_"))
    child = subprocess.run([sys.executable, __file__, "--child", str(inputs_path), str(out_dir),
                            "--texture", str(args.texture), "--max-faces", str(args.max_faces),
                            "--mode", args.mode] + (["--normal-map"] if args.normal_map else []),
                           capture_output=True, text=True)
    if child.returncode:
        sys.exit(f"the chain failed:\n{child.stderr}")
    stats = json.loads(child.stdout.strip().splitlines()[-1])
    inputs = dict(np.load(inputs_path))
    psnr = evaluate(out_dir / "result.npz", inputs)
    cleanup = stats["cleanup"]
    rows = [("raw faces", f"{stats['faces_in']:,}"), ("faces after decimation", f"{cleanup['faces_decimated']:,}"),
            ("faces out", f"{stats['faces_out']:,}"),
            ("floating pieces removed", cleanup["floating_components_removed"]),
            ("hidden faces removed", f"{cleanup['hidden_faces_removed']:,} (params {cleanup['hidden_params']})"),
            ("holes filled / left", f"{cleanup['holes_filled']} / {cleanup['holes_left']}"),
            ("manifold", f"{cleanup['manifold']} (non-manifold edges {cleanup['non_manifold_edges']}, "
                         f"vertices {cleanup['non_manifold_vertices']}, boundary edges {cleanup['boundary_edges']})"),
            ("components", cleanup["components"]),
            ("UV", f"{stats['uv']['method']}, {stats['uv']['charts']} charts"),
            ("texel coverage (charts)", f"{stats['bake']['covered_texels']:.1%}"),
            ("chart texels seen by a view", f"{stats['bake']['seen_texels']:.1%}"),
            ("chart texels from the Gaussian prior", f"{stats['bake']['filled_from_prior']:.1%}")]
    for name, seconds in cleanup["timings_s"].items():
        rows.append((f"  time cleanup/{name}", f"{seconds:.2f} s"))
    for name, seconds in stats["timings_s"].items():
        rows.append((f"time {name}", f"{seconds:.2f} s"))
    rows += [("time total (wall)", f"{stats['wall_s']:.2f} s"), ("CPU time (all threads)", f"{stats['cpu_s']:.2f} s"),
             ("peak memory (RSS)", f"{stats['peak_rss_mb']:.0f} MB")]
    for name, value in zip(("front", "right", "back", "left", "face"), psnr):
        rows.append((f"PSNR {name}", f"{value:.2f} dB"))
    rows.append(("PSNR min", f"{min(psnr):.2f} dB"))
    print(f"\npostprocess benchmark: {stats['faces_in']:,}-face input, texture {args.texture}, "
          f"max_faces {args.max_faces}, mode {args.mode}, normal map {args.normal_map}, {os.cpu_count()} CPUs\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\noutputs in {out_dir}")


if __name__ == "__main__":
    main()
