#!/usr/bin/env python3
"""Import time of a 100k-face textured GLB through the extension's importer (bpy module).

    .venv/bin/python benchmarks/blender_import.py [--faces 100000] [--texture 1024] [--repeat 3]

Makes a human-sized ellipsoid with ~100k triangles, smooth normals, UVs and a packed
1024² base-colour texture, exports it with Blender's glTF exporter (y-up, like the backend's
GLBs), then imports it `--repeat` times into an empty scene and prints a table: Blender's glTF
importer alone, and the extension's whole import (clean-up, weld, shading, material,
provenance), best and median.
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
sys.path.insert(0, ROOT)

import bpy  # noqa: E402
import numpy as np  # noqa: E402


def make_glb(path: str, faces: int, texture: int) -> int:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    quads = faces // 2
    rings = int(math.sqrt(quads / 1.25))
    segments = quads // rings
    bpy.ops.mesh.primitive_uv_sphere_add(segments=segments, ring_count=rings, radius=1.0)
    obj = bpy.context.active_object
    obj.scale = (0.25, 0.15, 0.875)
    obj.location = (0.0, 0.0, 0.875)
    bpy.ops.object.shade_smooth()
    image = bpy.data.images.new("skin", texture, texture)
    rng = np.random.default_rng(0)
    pixels = rng.random((texture * texture, 4), dtype=np.float32)
    pixels[:, 3] = 1.0
    image.pixels.foreach_set(pixels.ravel())
    image.pack()
    material = bpy.data.materials.new("skin")
    material.use_nodes = True
    tex = material.node_tree.nodes.new("ShaderNodeTexImage")
    tex.image = image
    bsdf = material.node_tree.nodes["Principled BSDF"]
    material.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    obj.data.materials.append(material)
    bpy.ops.export_scene.gltf(filepath=path, export_format='GLB', export_yup=True)
    triangles = sum(len(p.vertices) - 2 for p in obj.data.polygons)
    return triangles


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=100_000)
    p.add_argument("--texture", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    import addon_utils

    workdir = tempfile.mkdtemp(prefix="synchuman-import-bench-")
    glb = os.path.join(workdir, "human.glb")
    triangles = make_glb(glb, args.faces, args.texture)
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
          f"{size_mb:.1f} MB; imported mesh {faces:,} faces")
    print("| step | best (s) | median (s) |")
    print("|---|---|---|")
    print(f"| glTF importer only | {min(gltf_only):.3f} | {statistics.median(gltf_only):.3f} |")
    print(f"| SyncHuman import (whole operator) | {min(whole):.3f} | {statistics.median(whole):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
