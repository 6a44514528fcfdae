"""Helpers shared by the Blender tests (import as `blender_helpers`)."""

from __future__ import annotations

import time
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "synchuman_blender"


def pump_until(session, predicate, timeout: float = 120.0, interval: float = 0.02):
    """Plays the part of bpy.app.timers (which never fire headless): calls the timer callback
    on this, the main, thread until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.on_timer()
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout} s; "
                         f"status={bpy.context.window_manager.synchuman_job.status}")


def make_person_glb(path, *, parent_empty: bool = True, metallic: float = 1.0) -> str:
    """Writes a GLB with Blender's own exporter: a box "person" 1.0 tall standing at z 0.2..1.2,
    off-centre, facing -Y (its nose sticks out towards -Y at head height), with an image texture
    and, when asked, under a translated and scaled wrapper empty. The glTF exporter turns -Y into
    +Z, which is how the backend writes its GLBs. The scene is cleared before and after."""
    import bmesh
    import numpy as np

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    mesh = bpy.data.meshes.new("body")
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0)
    for v in bm.verts:
        v.co.x *= 0.4
        v.co.y *= 0.2
        v.co.z += 0.5
    nose = bmesh.ops.create_cube(bm, size=0.08)["verts"]
    for v in nose:
        v.co.y -= 0.13
        v.co.z += 0.9
    bm.to_mesh(mesh)
    bm.free()
    mesh.uv_layers.new(name="UVMap")
    obj = bpy.data.objects.new("body", mesh)
    obj.location = (0.3, -0.1, 0.2)
    bpy.context.scene.collection.objects.link(obj)

    image = bpy.data.images.new("skin", 32, 32)
    pixels = np.tile(np.array([0.8, 0.5, 0.4, 1.0], dtype=np.float32), 32 * 32)
    image.pixels.foreach_set(pixels)
    image.pack()
    material = bpy.data.materials.new("skin")
    material.use_nodes = True
    nodes = material.node_tree.nodes
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Metallic"].default_value = metallic
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    material.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    mesh.materials.append(material)

    if parent_empty:
        empty = bpy.data.objects.new("wrapper", None)
        empty.location = (0.0, 0.0, 0.1)
        empty.scale = (2.0, 2.0, 2.0)
        bpy.context.scene.collection.objects.link(empty)
        obj.parent = empty
    bpy.ops.export_scene.gltf(filepath=str(path), export_format='GLB', export_yup=True)
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    for datablocks in (bpy.data.meshes, bpy.data.materials, bpy.data.images):
        for block in list(datablocks):
            datablocks.remove(block)
    return str(path)


def world_vertices(obj):
    import numpy as np

    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float64)
    obj.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    m = np.array(obj.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3]
