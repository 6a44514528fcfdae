"""The rig step's time and weight checks: the synchuman engine's path (the body fitted to a finished mesh
from the photo's landmarks) on clothed synthetic people, as if their dressed mesh had been generated.

Each case renders a photo (benchmarks/clothed_people.py), runs the real foreground + pose step on it,
takes the person's true dressed mesh (~60k faces) in the GLB frame, and rigs it (`synchuman.rig`).
Prints a table: faces, fit / weights / total seconds, the median mesh-to-body gap, the largest weight
of a left-side vertex on right-side bones, and the worst weight sum. A second table times the preview
engine's rig step on the example photo at the default face budget: fitting the body itself (today),
and given a fitted body (what the dressed preview hands over: the same body, passed back in).

    python benchmarks/rig.py                                   # the tables (docs/benchmarks.md)
    python benchmarks/rig.py --preview-only                    # only the preview engine's rig step
    python benchmarks/rig.py --case turned30_skirt_studio --glb /tmp/skirt.glb [--rest-pose t-pose]
        (one case, its rigged GLB written: what tests/blender/test_rigged_humans.py checks in Blender)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clothed_people as cp  # noqa: E402

CASES = ("standing_studio", "turned30_skirt_studio", "walking_coat_street", "crossed_arms_hair_rocket",
         "arms_out_brick")
STEP = 0.0102  # the dressed mesh's grid: ~60k faces


def rig_case(name: str, size: int = 768, names: str = "native", rest_pose: str = "photo", seed: int = 7):
    """(case, rig result, faces, uv-less mesh) for one case of clothed_people.CASES."""
    from synchuman.foreground import cut_person
    from synchuman.images import load_photo
    from synchuman.rig import rig_result

    spec = next(c for c in cp.CASES if c[0] == name)
    case = cp.render_case(spec, size=size, step=STEP, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image

        path = Path(tmp) / "photo.png"
        Image.fromarray(case["photo"]).save(path)
        person = cut_person(load_photo(path))
    truth = case["truth"]
    vertices, faces = truth["vertices"].astype(np.float64), truth["faces"].astype(np.int64)
    started, cpu = time.perf_counter(), time.process_time()
    rig = rig_result(vertices, faces, pose=person.pose, mask=person.alpha, names=names, rest_pose=rest_pose)
    rig.facts["wall_s"] = round(time.perf_counter() - started, 3)
    rig.facts["cpu_s"] = round(time.process_time() - cpu, 3)
    return case, rig, vertices, faces


def left_on_right(rig, vertices: np.ndarray, margin: float = 0.05) -> float:
    """The largest total weight a clearly left-side vertex (more than `margin` left of the pelvis' middle
    plane: through the hips bone, normal from the right thigh's head to the left's) puts on right-side
    bones (the Blender test's definition)."""
    sk = rig.skeleton
    normal = sk.heads[sk.index("thigh.L")] - sk.heads[sk.index("thigh.R")]
    left = (vertices - sk.heads[sk.index("hips")]) @ (normal / np.linalg.norm(normal)) > margin
    right = sk.sides()[rig.joints.astype(np.int64)] < 0
    on_right = (rig.weights * right).sum(1)
    return float(on_right[left].max()) if left.any() else 0.0


def write_case_glb(rig, faces: np.ndarray, path: Path) -> Path:
    from synchuman.export.glb import write_glb

    uv = np.zeros((len(rig.vertices), 2))
    texture = np.full((8, 8, 3), 180, np.uint8)
    return write_glb(path, rig.vertices, faces, uv, texture, skin=rig.skin())


def preview_table(photo: Path) -> None:
    from synchuman.engines.base import ReconstructSettings
    from synchuman.engines.preview import build_preview
    from synchuman.images import load_photo
    from synchuman.rig import rig_result

    built = build_preview(load_photo(photo), ReconstructSettings(rig=False), lambda *a: None)   # rigged below
    print("| preview mesh | faces | rig step, body fitted here | rig step, body given |")
    print("|---|---|---|---|")
    started, cpu = time.perf_counter(), time.process_time()
    fitted = rig_result(built.vertices, built.faces, pose=built.person.pose, mask=built.person.alpha,
                        photo_to_output=built.to_photo, normals=built.normals)
    fit_s, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    rig_result(built.vertices, built.faces, body=fitted.fitted_body, normals=built.normals)
    print(f"| {photo.name} | {len(built.faces)} | {fit_s:.2f} s (CPU {fit_cpu:.1f} s) | "
          f"{time.perf_counter() - started:.2f} s (CPU {time.process_time() - cpu:.1f} s) |", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", action="append", help="a clothed_people case (repeatable; default: a set of 5)")
    p.add_argument("--glb", help="write the (single) case's rigged GLB here")
    p.add_argument("--names", default="native")
    p.add_argument("--rest-pose", default="photo")
    p.add_argument("--size", type=int, default=768)
    p.add_argument("--preview-only", action="store_true")
    args = p.parse_args(argv)
    if args.preview_only or not (args.case or args.glb):
        preview_table(Path(__file__).resolve().parents[1] / "backend" / "synchuman" / "data" / "examples" / "person.png")
        if args.preview_only:
            return
    cases = args.case or list(CASES)
    if args.glb:
        _, rig, vertices, faces = rig_case(cases[0], args.size, args.names, args.rest_pose)
        write_case_glb(rig, faces, Path(args.glb))
        print(f"{args.glb}: {len(faces)} faces, {rig.skeleton.count} bones, {rig.facts['wall_s']} s")
        for note in rig.warnings:
            print(f"warning: {note}")
        return
    print("| case | faces | fit s | weights s | rig total s (wall) | CPU s | median gap to body | left on right (max) "
          "| weight sum error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in cases:
        _, rig, vertices, faces = rig_case(name, args.size)
        t = rig.facts["timings_s"]
        sums = rig.weights.sum(1)
        print(f"| {name} | {len(faces)} | {t.get('fit', 0):.2f} | {t['weights']:.2f} | {rig.facts['wall_s']:.2f} | "
              f"{rig.facts['cpu_s']:.1f} | "
              f"{rig.facts['median_body_distance_m'] * 100:.1f} cm | {left_on_right(rig, vertices):.4f} | "
              f"{np.abs(sums - 1).max():.1e} |", flush=True)


if __name__ == "__main__":
    main()
