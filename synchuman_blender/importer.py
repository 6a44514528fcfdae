"""Import a SyncHuman GLB as a clean, correctly placed and scaled human.

Contract (docs/protocol.md, design.md): the GLB is y-up with the person facing +Z, which
Blender's glTF importer turns into z-up facing -Y. Here the result is
* put in its own collection named after the photo,
* stripped of wrapper empties (and anything that is not a mesh),
* baked to identity transforms, then scaled to the requested height, feet on z = 0, centred on
  the 3D cursor (object origin between the feet),
* shaded smooth where the surface is smooth (the file's normals when they are sane; else
  welded, smooth, with edges sharper than SHARP_ANGLE kept sharp),
* given a Principled BSDF with its base-colour texture packed and metallic 0,
* tagged with provenance custom properties;
* when the GLB carries a skin (the backend's rig): an Armature object named "<name>_rig" in the
  same collection, the mesh parented to it and bound by an Armature modifier (armature.py).

Callers wrap `import_human` in an operator with UNDO, so the whole import is one undo step.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import assets
from .armature import finish_armature

SHARP_ANGLE = math.radians(60.0)
PROP_PREFIX = "synchuman_"


class ImportFailed(RuntimeError):
    """The GLB could not be turned into a human (corrupt file, no mesh, no height)."""


@dataclass
class ImportedHuman:
    collection: bpy.types.Collection
    object: bpy.types.Object                   # the main mesh (most faces)
    objects: list = field(default_factory=list)
    seconds: float = 0.0
    armature: bpy.types.Object | None = None   # the rig, when the GLB has one


def read_job_metadata(glb_path: str) -> dict:
    """The job.json that the backend writes next to its GLB, or {} for a GLB made elsewhere."""
    path = os.path.join(os.path.dirname(os.path.abspath(glb_path)), "job.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def name_for(glb_path: str, metadata: dict) -> str:
    """The photo's name when known, else the job folder's (for human.glb) or the file's."""
    photo = (metadata.get("input") or {}).get("path")
    if photo:
        return os.path.splitext(os.path.basename(photo))[0] or "human"
    stem = os.path.splitext(os.path.basename(glb_path))[0]
    if stem == "human":
        return os.path.basename(os.path.dirname(os.path.abspath(glb_path))) or stem
    return stem or "human"


def import_human(context, glb_path: str, *, height_m: float | None = 1.75, location=None,
                 name: str | None = None, metadata: dict | None = None, photo_label: str = "") -> ImportedHuman:
    """Imports `glb_path` into the active scene. `height_m=None` keeps the file's size.
    `location` defaults to the 3D cursor. Raises ImportFailed (and leaves nothing behind)."""
    import time

    started = time.perf_counter()
    glb_path = os.path.abspath(bpy.path.abspath(glb_path))
    if not os.path.isfile(glb_path):
        raise ImportFailed(f"No GLB at {glb_path}")
    metadata = read_job_metadata(glb_path) if metadata is None else metadata
    name = name or name_for(glb_path, metadata)
    scene = context.scene
    location = Vector(scene.cursor.location if location is None else location)

    if context.mode != 'OBJECT' and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode='OBJECT')  # a result can arrive while the artist is in Edit Mode
    _deselect_all(context)
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    before = set(bpy.data.objects)
    try:
        _run_gltf_importer(context, glb_path, collection)
        created = [o for o in bpy.data.objects if o not in before]
        meshes, armatures = _keep_meshes_only(created, collection)
        if not meshes:
            raise ImportFailed(f"{os.path.basename(glb_path)} holds no mesh")
        _bake_transforms(meshes + armatures)
        scale_to_bu = 1.0 / _unit_scale(scene)
        scale = _place_and_scale(meshes, None if height_m is None else height_m * scale_to_bu, location, armatures)
        for obj in meshes:
            _smooth_shading(obj)
        main = max(meshes, key=lambda o: len(o.data.polygons))
        main.name = name
        main.data.name = name
        _fix_materials(meshes, name)
        _write_provenance(main, collection, glb_path, metadata, height_m, photo_label)
        armature = armatures[0] if armatures else None
        if armature is not None:
            finish_armature(context, armature, meshes, f"{name}_rig", scale)
            armature[PROP_PREFIX + "job_id"] = main[PROP_PREFIX + "job_id"]
        _select_only(context, meshes + armatures, main)
    except BaseException:
        _remove_collection_and_contents(collection, before)
        raise
    return ImportedHuman(collection=collection, object=main, objects=meshes,
                         seconds=time.perf_counter() - started, armature=armature)


# -- steps ----------------------------------------------------------------------------------
def _run_gltf_importer(context, glb_path: str, collection) -> None:
    """Runs Blender's glTF importer with the new collection active, so nothing lands elsewhere."""
    view_layer = context.view_layer
    layer_coll = _find_layer_collection(view_layer.layer_collection, collection)
    previous = view_layer.active_layer_collection
    available = bpy.ops.import_scene.gltf.get_rna_type().properties
    options = {"filepath": glb_path, "merge_vertices": True}  # merged seams shade without cracks
    # Bones: "BLENDER" puts each along its node's +Y (how the backend writes them), the bind pose is the
    # rest, and no custom bone shapes (plain octahedral bones; no helper sphere object).
    for key, value in (("import_scene_as_collection", False), ("import_pack_images", True),
                       ("import_select_created_objects", True), ("import_shading", "NORMALS"),
                       ("bone_heuristic", "BLENDER"), ("guess_original_bind_pose", False),
                       ("disable_bone_shape", True)):
        if key in available:  # options differ between Blender versions
            options[key] = value
    try:
        if layer_coll is not None:
            view_layer.active_layer_collection = layer_coll
        result = bpy.ops.import_scene.gltf(**options)
    except RuntimeError as exc:
        raise ImportFailed(f"Blender's glTF importer failed on {os.path.basename(glb_path)}: {exc}") from exc
    finally:
        if layer_coll is not None:
            view_layer.active_layer_collection = previous
    if 'FINISHED' not in result:
        raise ImportFailed(f"Blender's glTF importer did not import {os.path.basename(glb_path)}")


def _find_layer_collection(layer_coll, collection):
    if layer_coll.collection == collection:
        return layer_coll
    for child in layer_coll.children:
        found = _find_layer_collection(child, collection)
        if found is not None:
            return found
    return None


def _keep_meshes_only(created: list, collection) -> tuple[list, list]:
    """Keeps meshes and armatures, linked to `collection` only; a mesh stays parented to its
    armature, any other parent is dropped (keeping its world transform). Wrapper empties, cameras
    and lights are deleted. Returns (meshes, armatures)."""
    meshes = [o for o in created if o.type == 'MESH']
    armatures = [o for o in created if o.type == 'ARMATURE']
    world = {o: o.matrix_world.copy() for o in meshes + armatures}
    for obj in meshes + armatures:
        if obj.parent is not None and obj.parent.type != 'ARMATURE':
            obj.parent = None
            obj.matrix_world = world[obj]
        for coll in list(obj.users_collection):
            if coll != collection:
                coll.objects.unlink(obj)
        if obj.name not in collection.objects:
            collection.objects.link(obj)
    others = [o for o in created if o.type not in ('MESH', 'ARMATURE')]
    if others:
        bpy.data.batch_remove(others)
    return meshes, armatures


def _bake_transforms(objects: list) -> None:
    """Every object's world transform goes into its data (armatures first: a bound mesh is then
    at identity under an identity armature)."""
    objects = sorted(objects, key=lambda o: o.type != 'ARMATURE')
    world = {o: o.matrix_world.copy() for o in objects}
    for obj in objects:
        if obj.data.users > 1:
            obj.data = obj.data.copy()
        obj.data.transform(world[obj])
        if obj.parent is not None:
            obj.matrix_parent_inverse = Matrix.Identity(4)
        obj.matrix_world = Matrix.Identity(4)
        obj.rotation_mode = 'XYZ'  # the glTF importer leaves quaternions; artists expect Euler


def _unit_scale(scene) -> float:
    units = scene.unit_settings
    return units.scale_length if units.system != 'NONE' and units.scale_length > 0 else 1.0


def _vertex_positions(mesh) -> np.ndarray:
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def _place_and_scale(meshes: list, height_bu: float | None, location: Vector, armatures=()) -> float:
    """Scales to the height, feet at the origin, then moves to `location`; returns the scale."""
    points = np.concatenate([_vertex_positions(o.data) for o in meshes])
    if len(points) == 0:
        raise ImportFailed("The mesh has no vertices")
    lo, hi = points.min(axis=0), points.max(axis=0)
    height = float(hi[2] - lo[2])
    if height <= 1e-9:
        raise ImportFailed("The mesh is flat (no height), so it cannot be scaled")
    scale = 1.0 if height_bu is None else height_bu / height
    feet = Vector(((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, lo[2]))
    to_origin = Matrix.Diagonal((scale, scale, scale, 1.0)) @ Matrix.Translation(-feet)
    for obj in (*meshes, *armatures):
        obj.data.transform(to_origin)
        if obj.type == 'MESH':
            obj.data.update()
        if obj.parent is None:  # a bound mesh moves with its armature
            obj.location = location
    return scale


def _weld(obj) -> None:
    """Joins vertices that glTF had to split (at UV seams and flat-shaded edges), so the
    surface is connected: smooth across seams, and creases come back as sharp edges."""
    import bmesh

    mesh = obj.data
    points = _vertex_positions(mesh)
    if len(points) == 0:
        return
    size = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0))) or 1.0
    bm = bmesh.new()
    try:
        bm.from_mesh(mesh)
        bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=size * 1e-6)
        bm.to_mesh(mesh)
    finally:
        bm.free()


def _smooth_shading(obj) -> None:
    """Normals that come with the file are the producer's own smooth surface (the backend
    writes them to hide the seams of its construction): they stay when they agree with the
    faces. Missing or broken ones are replaced: split vertices are welded, every face is
    smooth, and only real creases (over SHARP_ANGLE) stay sharp."""
    mesh = obj.data
    if mesh.has_custom_normals and _normals_agree(mesh):
        if "sharp_face" in mesh.attributes:
            mesh.attributes.remove(mesh.attributes["sharp_face"])
        return
    if mesh.has_custom_normals:
        _clear_custom_normals(obj)
    _weld(obj)
    if "sharp_face" in mesh.attributes:
        mesh.attributes.remove(mesh.attributes["sharp_face"])  # every face smooth...
    mesh.set_sharp_from_angle(angle=SHARP_ANGLE)                # ...except across real creases
    mesh.update()


def _normals_agree(mesh) -> bool:
    """True when the corner normals are finite and point out of their faces (fewer than 1%
    flipped): normals from a broken exporter fail this."""
    if not mesh.polygons:
        return False
    corner = np.empty(len(mesh.loops) * 3, dtype=np.float32)
    mesh.corner_normals.foreach_get("vector", corner)
    face = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("normal", face)
    sizes = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("loop_total", sizes)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    dots = (corner.reshape(-1, 3) * face.reshape(-1, 3)[owner]).sum(axis=1)
    return bool(np.isfinite(dots).all() and (dots < 0).mean() < 0.01)


def _clear_custom_normals(obj) -> None:
    mesh = obj.data
    attribute = mesh.attributes.get("custom_normal")  # Blender 4.5 stores them as an attribute
    if attribute is not None:
        mesh.attributes.remove(attribute)
        return
    with bpy.context.temp_override(object=obj, active_object=obj, selected_objects=[obj],
                                   selected_editable_objects=[obj]):
        bpy.ops.mesh.customdata_custom_splitnormals_clear()


def _fix_materials(meshes: list, name: str) -> None:
    seen_materials, seen_images = set(), set()
    for obj in meshes:
        for slot in obj.material_slots:
            mat = slot.material
            if mat is None or mat in seen_materials:
                continue
            seen_materials.add(mat)
            mat.name = f"{name}_material"
            if not mat.use_nodes or mat.node_tree is None:
                continue
            bsdf = next((n for n in mat.node_tree.nodes if n.type == 'BSDF_PRINCIPLED'), None)
            if bsdf is None:
                continue
            metallic = bsdf.inputs.get("Metallic")
            if metallic is not None and not metallic.is_linked:
                metallic.default_value = 0.0  # the glTF default of 1.0 makes skin look like metal
            mat.metallic = 0.0
            image = _base_color_image(bsdf)
            if image is not None:
                if image not in seen_images:
                    seen_images.add(image)
                    image.name = f"{name}_basecolor"
                    _keep_image_with_file(image)
                # Solid view shows the texture's mean colour instead of white.
                mat.diffuse_color = (*_mean_color(image), 1.0)


def _base_color_image(bsdf):
    """The image feeding Base Color, directly or through colour nodes in between."""
    socket = bsdf.inputs.get("Base Color")
    stack = [socket.links[0].from_node] if socket is not None and socket.is_linked else []
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.type == 'TEX_IMAGE' and node.image is not None:
            return node.image
        stack.extend(link.from_node for inp in node.inputs for link in inp.links)
    return None


def _keep_image_with_file(image) -> None:
    """Packs the texture so the .blend carries it (saving it separately is the user's choice)."""
    if image.packed_file is None and image.has_data:
        try:
            image.pack()
        except RuntimeError:
            pass


def _mean_color(image) -> tuple[float, float, float]:
    width, height = image.size
    if width == 0 or height == 0:
        return (0.8, 0.8, 0.8)
    pixels = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    rgba = pixels.reshape(-1, 4)[:: max(1, (width * height) // 65536)]
    weights = rgba[:, 3] if rgba[:, 3].sum() > 0 else np.ones(len(rgba), dtype=np.float32)
    srgb = (rgba[:, :3] * weights[:, None]).sum(axis=0) / weights.sum()
    # Byte images hold sRGB values; diffuse_color is linear.
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return tuple(float(c) for c in linear)


def _idprop_int(value):
    """An int custom property when it fits in 32 bits (what Blender stores), else a string."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return str(value)
    return value if -2**31 <= value < 2**31 else str(value)


def provenance(glb_path: str, metadata: dict, height_m: float | None, photo_label: str = "") -> dict:
    """Flat custom properties describing where a result came from."""
    inp = metadata.get("input") or {}
    versions = metadata.get("versions") or {}
    props = {
        "generated": True,
        "job_id": str(metadata.get("job_id") or ""),
        "photo": str(inp.get("path") or photo_label or ""),
        "photo_sha256": str(inp.get("sha256") or ""),
        "engine": str(metadata.get("engine") or ""),
        "seed": _idprop_int(metadata.get("seed", 0)),
        "settings": json.dumps(metadata.get("settings") or {}, sort_keys=True),
        "backend_version": str(versions.get("synchuman") or ""),
        "created": str(metadata.get("created") or ""),
        "glb": glb_path,
    }
    if height_m is not None:
        props["height_m"] = float(height_m)
    return props


def _write_provenance(main, collection, glb_path, metadata, height_m, photo_label) -> None:
    for key, value in provenance(glb_path, metadata, height_m, photo_label).items():
        main[PROP_PREFIX + key] = value
    collection[PROP_PREFIX + "job_id"] = main[PROP_PREFIX + "job_id"]
    collection[PROP_PREFIX + "photo"] = main[PROP_PREFIX + "photo"]


def _deselect_all(context) -> None:
    # Done before the import: afterwards the view layer still lists the deleted wrapper empties
    # until it is synced, and touching those crashes Blender 4.2.
    for obj in context.view_layer.objects:
        if obj.select_get():
            obj.select_set(False)


def _select_only(context, meshes, main) -> None:
    view_layer = context.view_layer
    for obj in meshes:
        obj.select_set(True)
    view_layer.objects.active = main


def _remove_collection_and_contents(collection, before: set) -> None:
    """Undo a failed import: remove what the importer made, and our collection."""
    created = [o for o in bpy.data.objects if o not in before]
    datas = {o.data for o in created if o.type in ('MESH', 'ARMATURE')}
    if created:
        bpy.data.batch_remove(created)
    orphans = [d for d in datas if d is not None and d.users == 0]
    if orphans:
        bpy.data.batch_remove(orphans)
    if collection.name in bpy.data.collections:
        bpy.data.collections.remove(collection)


def import_result(context, glb_path: str, *, height_m: float | None, name: str | None = None,
                  photo_label: str = "", mark_asset: bool = False, catalog: str = "", tags: str = "",
                  library_dir: str = "") -> tuple[ImportedHuman, str | None]:
    """What a finished job and File › Import do: import_human, then (when asked) mark the human as an
    asset and write its library .blend. Returns it and a note for the artist, or None."""
    imported = import_human(context, glb_path, height_m=height_m, name=name, photo_label=photo_label)
    if not (mark_asset or library_dir):
        return imported, None
    obj = imported.object
    photo = str(obj.get(PROP_PREFIX + "photo", ""))
    engine = obj.get(PROP_PREFIX + "engine", "")
    if photo and engine:
        description = (f"Reconstructed by SyncHuman from {os.path.basename(photo)} "
                       f"({engine} engine, seed {obj.get(PROP_PREFIX + 'seed', 0)})")
    else:
        description = f"SyncHuman result imported from {os.path.basename(glb_path)}"
    assets.mark_as_asset(obj, catalog_path=catalog, tags=tags.split(","), author="SyncHuman",
                         library_dir=library_dir, description=description,
                         preview_from=photo if photo and os.path.isfile(photo) else "")
    if library_dir:
        obj[PROP_PREFIX + "library_file"] = assets.write_library_blend(obj, library_dir, obj.name, catalog)
    elif catalog and not assets.catalog_folder():
        return imported, (f"catalog '{catalog}' is assigned but not written: save the .blend (or set a "
                          "library folder) so Blender can list it")
    return imported, None
