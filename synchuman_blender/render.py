"""Headless renders of a result (front or an 8-view turntable) and a contact sheet for a batch.

Cycles on the CPU by default: it needs no GPU or display, so it works in `blender -b` and
with the bpy module. Few samples plus denoising, a transparent film, the Standard view
transform (the texture should look like the photo), and a simple three-point light rig.
"""

from __future__ import annotations

import math
import os

import bpy
import numpy as np
from mathutils import Euler, Vector

RIG_COLLECTION = "SyncHuman Render Rig"
TURNTABLE_VIEWS = 8


def configure(scene, *, resolution: int = 512, samples: int = 16, denoise: bool = True) -> None:
    render = scene.render
    render.engine = 'CYCLES'
    scene.cycles.device = 'CPU'
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = True
    scene.cycles.use_denoising = denoise
    if denoise:
        try:
            scene.cycles.denoiser = 'OPENIMAGEDENOISE'
        except TypeError:
            scene.cycles.use_denoising = False  # a build without OIDN
    render.film_transparent = True
    render.resolution_x = render.resolution_y = resolution
    render.resolution_percentage = 100
    render.image_settings.file_format = 'PNG'
    render.image_settings.color_mode = 'RGBA'
    scene.view_settings.view_transform = 'Standard'
    scene.view_settings.look = 'None'
    if scene.world is None:
        scene.world = bpy.data.worlds.new("SyncHuman Render World")
    world = scene.world
    world.use_nodes = True
    background = next((n for n in world.node_tree.nodes if n.type == 'BACKGROUND'), None)
    if background is not None:
        background.inputs["Color"].default_value = (0.6, 0.6, 0.62, 1.0)
        background.inputs["Strength"].default_value = 0.3  # soft ambient fill; the film stays transparent


def world_bounds(obj) -> tuple[Vector, Vector]:
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    lo = Vector((min(c.x for c in corners), min(c.y for c in corners), min(c.z for c in corners)))
    hi = Vector((max(c.x for c in corners), max(c.y for c in corners), max(c.z for c in corners)))
    return lo, hi


def build_rig(scene, obj):
    """An orthographic camera in front of the person (looking +Y at the face) and key, fill and
    rim area lights sized to the person. Returns the camera."""
    rig = bpy.data.collections.get(RIG_COLLECTION)
    if rig is None:
        rig = bpy.data.collections.new(RIG_COLLECTION)
    if rig.name not in scene.collection.children:
        scene.collection.children.link(rig)
    for old in list(rig.objects):
        bpy.data.objects.remove(old)

    lo, hi = world_bounds(obj)
    centre = (lo + hi) / 2
    height = max(hi.z - lo.z, 1e-3)
    reach = max(hi.x - lo.x, hi.y - lo.y)   # the widest the turntable can show
    distance = 3.0 * max(height, reach)

    cam_data = bpy.data.cameras.new("SyncHuman Camera")
    cam_data.type = 'ORTHO'
    cam_data.ortho_scale = 1.12 * max(height, reach)
    cam_data.clip_start = 0.01
    cam_data.clip_end = distance * 4
    camera = bpy.data.objects.new("SyncHuman Camera", cam_data)
    camera.location = centre + Vector((0.0, -distance, 0.0))
    camera.rotation_euler = Euler((math.pi / 2, 0.0, 0.0))
    rig.objects.link(camera)
    scene.camera = camera

    for name, azimuth_deg, elevation, power, size in (
            ("Key", -40.0, 0.45, 70.0, 1.0),      # watts for a 1.75 m person: about the photo's
            ("Fill", 50.0, 0.15, 25.0, 1.5),     # brightness with the Standard view transform
            ("Rim", 160.0, 0.6, 50.0, 0.6)):
        light_data = bpy.data.lights.new(f"SyncHuman {name}", 'AREA')
        light_data.energy = power * height * height / (1.75 * 1.75)  # same look at any height
        light_data.size = size * height
        light = bpy.data.objects.new(f"SyncHuman {name}", light_data)
        azimuth = math.radians(azimuth_deg)
        offset = Vector((math.sin(azimuth), -math.cos(azimuth), elevation)) * (1.6 * height)
        light.location = centre + offset
        light.rotation_euler = (centre - light.location).to_track_quat('-Z', 'Y').to_euler()
        rig.objects.link(light)
    return camera


def render_views(scene, obj, out_dir: str, name: str, mode: str = "front") -> list[str]:
    """Renders `obj` from the front ("front") or from 8 angles ("turntable", turning the person
    so the lights stay put relative to the camera). Returns the PNG paths."""
    if mode == "none":
        return []
    os.makedirs(out_dir, exist_ok=True)
    build_rig(scene, obj)
    views = 1 if mode == "front" else TURNTABLE_VIEWS
    original = obj.rotation_euler.z
    paths = []
    try:
        for i in range(views):
            obj.rotation_euler.z = original + 2 * math.pi * i / views
            suffix = "front" if mode == "front" else f"view{i:02d}"
            path = os.path.join(out_dir, f"{name}_{suffix}.png")
            scene.render.filepath = path
            bpy.ops.render.render(write_still=True, scene=scene.name)
            paths.append(path)
    finally:
        obj.rotation_euler.z = original
    return paths


def contact_sheet(rows: list[list[str]], out_path: str, tile: int = 256,
                  background=(0.16, 0.16, 0.17)) -> str | None:
    """One PNG with every render: one row per item when items have several views, else a
    near-square grid. Transparent renders are composited over `background`."""
    rows = [r for r in rows if r]
    if not rows:
        return None
    if max(len(r) for r in rows) == 1:
        flat = [r[0] for r in rows]
        columns = math.ceil(math.sqrt(len(flat)))
        rows = [flat[i:i + columns] for i in range(0, len(flat), columns)]
    columns = max(len(r) for r in rows)
    pad = max(2, tile // 32)
    width, height = columns * (tile + pad) + pad, len(rows) * (tile + pad) + pad
    sheet = np.empty((height, width, 4), dtype=np.float32)
    sheet[..., :3] = background
    sheet[..., 3] = 1.0
    for r, row in enumerate(rows):
        for c, path in enumerate(row):
            pixels = _load_square(path, tile)
            if pixels is None:
                continue
            top, left = pad + r * (tile + pad), pad + c * (tile + pad)
            cell = sheet[top:top + tile, left:left + tile]
            alpha = pixels[..., 3:4]
            cell[..., :3] = pixels[..., :3] * alpha + cell[..., :3] * (1 - alpha)
    image = bpy.data.images.new("SyncHuman Contact Sheet", width, height, alpha=True)
    try:
        image.pixels.foreach_set(np.flipud(sheet).ravel())  # Blender stores rows bottom-up
        image.filepath_raw = out_path
        image.file_format = 'PNG'
        image.save()
    finally:
        bpy.data.images.remove(image)
    return out_path


def _load_square(path: str, tile: int):
    """The image at `path` scaled to tile×tile, top row first, or None when unreadable."""
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError:
        return None
    try:
        if image.size[0] == 0 or image.size[1] == 0:
            return None
        image.scale(tile, tile)
        pixels = np.empty(tile * tile * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        return np.flipud(pixels.reshape(tile, tile, 4))
    finally:
        bpy.data.images.remove(image)
