#!/usr/bin/env python3
"""Import time of a 100k-face textured GLB through the extension's importer (bpy module).

    .venv/bin/python benchmarks/blender_import.py [--faces 100000] [--texture 1024] [--repeat 3]

Writes a human-sized ellipsoid with ~100k triangles, smooth normals, UVs and an embedded
1024² base-colour texture (y-up, like the backend's GLBs), then imports it `--repeat` times into
an empty scene and prints a table: Blender's glTF importer alone, and the extension's whole
import (clean-up, placement, shading, material, provenance), best and median.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="synchuman-bench-"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "blender")]

import bpy  # noqa: E402
import numpy as np  # noqa: E402


def make_glb(path: str, faces: int, texture: int, with_normals: bool = True) -> int:
    """A human-sized ellipsoid (0.5 × 0.3 × 1.75 m) as a UV-sphere grid with smooth normals and a
    noise texture, written with the tests' small GLB writer (bpy 4.2's glTF exporter crashes the
    process at exit)."""
    from glb_writer import write_glb, zup_to_yup

    rings = int(math.sqrt(faces / 2 / 1.25))
    segments = faces // 2 // rings
    theta = np.linspace(0.0, math.pi, rings + 1)                 # pole to pole
    phi = np.linspace(0.0, 2 * math.pi, segments + 1)            # the seam column is duplicated
    t, p = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    radii = np.array([0.25, 0.15, 0.875])
    positions = unit * radii + np.array([0.0, 0.0, 0.875])
    normals = unit / radii
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    uvs = np.stack([p / (2 * math.pi), 1.0 - t / math.pi], axis=-1).reshape(-1, 2)
    grid = np.arange((rings + 1) * (segments + 1)).reshape(rings + 1, segments + 1)
    a, b = grid[:-1, :-1].ravel(), grid[:-1, 1:].ravel()
    c, d = grid[1:, 1:].ravel(), grid[1:, :-1].ravel()
    triangles = np.stack([a, d, c, a, c, b], axis=1).reshape(-1, 3)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(texture, texture, 4), dtype=np.uint8)
    image[..., 3] = 255
    write_glb(path, zup_to_yup(positions), triangles.ravel(), normals=zup_to_yup(normals) if with_normals else None,
              uvs=uvs,
              texture=image, metallic=0.0)
    return len(triangles)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=100_000)
    p.add_argument("--texture", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--without-normals", action="store_true",
                   help="a GLB without normals: the importer welds and recomputes them (the slower path)")
    args = p.parse_args()

    import addon_utils

    workdir = tempfile.mkdtemp(prefix="synchuman-import-bench-")
    glb = os.path.join(workdir, "human.glb")
    triangles = make_glb(glb, args.faces, args.texture, with_normals=not args.without_normals)
    size_mb = os.path.getsize(glb) / 2**20

    gltf_only, whole = [], []
    for _ in range(args.repeat):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        started = time.perf_counter()
        bpy.ops.import_scene.gltf(filepath=glb, merge_vertices=True)
        gltf_only.append(time.perf_counter() - started)

    for _ in range(args.repeat):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        addon_utils.enable("synchuman_blender", default_set=True)
        try:
            started = time.perf_counter()
            result = bpy.ops.synchuman.import_result(filepath=glb, height_m=1.75)
            whole.append(time.perf_counter() - started)
            assert result == {'FINISHED'}
            obj = bpy.context.view_layer.objects.active
            faces = len(obj.data.polygons)
        finally:
            addon_utils.disable("synchuman_blender", default_set=True)

    print(f"Blender {bpy.app.version_string}; GLB {triangles:,} triangles, {args.texture}² texture, "
          f"{'no normals' if args.without_normals else 'smooth normals'}, {size_mb:.1f} MB; "
          f"imported mesh {faces:,} faces")
    print("| step | best (s) | median (s) |")
    print("|---|---|---|")
    print(f"| glTF importer only | {min(gltf_only):.3f} | {statistics.median(gltf_only):.3f} |")
    print(f"| SyncHuman import (whole operator) | {min(whole):.3f} | {statistics.median(whole):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
