"""The importer and assets on GLBs made by Blender's own exporter (no backend needed):
clean-up, placement, scale, orientation, shading, material, provenance, asset marking,
catalogs, previews and library files that round-trip through bpy.data.libraries.load."""

from __future__ import annotations

import json
import os

import bpy
import numpy as np
import pytest

from blender_helpers import make_person_glb, world_vertices


@pytest.fixture
def person_glb(ext, tmp_path):
    return make_person_glb(tmp_path / "anna.glb")


def _only_result():
    meshes = [o for o in bpy.data.objects if o.type == 'MESH']
    assert len(meshes) == 1, [o.name for o in bpy.data.objects]
    return meshes[0]


def test_import_cleans_places_scales_and_orients(ext, person_glb):
    bpy.context.scene.cursor.location = (1.0, 2.0, 0.5)
    assert bpy.ops.synchuman.import_result(filepath=person_glb, height_m=1.6) == {'FINISHED'}
    assert 'UNDO' in bpy.ops.synchuman.import_result.bl_options  # one undo step for the whole import
    assert not [o for o in bpy.data.objects if o.type != 'MESH'], "wrapper empties must be gone"
    obj = _only_result()
    collection = bpy.data.collections["anna"]
    assert obj.name == "anna" and list(obj.users_collection) == [collection]
    assert obj.matrix_world.to_3x3().is_identity or np.allclose(np.array(obj.matrix_world.to_3x3()), np.eye(3))
    assert tuple(obj.location) == pytest.approx((1.0, 2.0, 0.5))
    v = world_vertices(obj)
    assert v[:, 2].min() == pytest.approx(0.5, abs=1e-5)            # feet on the cursor's z
    assert v[:, 2].max() - v[:, 2].min() == pytest.approx(1.6, rel=1e-4)
    assert (v[:, 0].min() + v[:, 0].max()) / 2 == pytest.approx(1.0, abs=1e-5)
    assert (v[:, 1].min() + v[:, 1].max()) / 2 == pytest.approx(2.0, abs=1e-3)
    front = v[np.argmin(v[:, 1])]          # the most -Y point is the nose, at head height
    assert front[2] - 0.5 > 0.7 * 1.6
    assert (v[:, 0].max() - v[:, 0].min()) > (v[:, 1].max() - v[:, 1].min())  # shoulders along X
    assert bpy.context.view_layer.objects.active == obj and obj.select_get()


def test_import_material(ext, person_glb):
    bpy.ops.synchuman.import_result(filepath=person_glb, height_m=1.75)
    obj = _only_result()
    material = obj.active_material
    bsdf = next(n for n in material.node_tree.nodes if n.type == 'BSDF_PRINCIPLED')
    assert bsdf.inputs["Metallic"].default_value == 0.0     # the file said 1.0
    link = bsdf.inputs["Base Color"].links[0]
    assert link.from_node.type == 'TEX_IMAGE'
    image = link.from_node.image
    assert image.packed_file is not None and image.name == "anna_basecolor"
    assert tuple(image.size) == (32, 32)
    assert material.diffuse_color[0] > material.diffuse_color[2]   # the skin tone, not white


def _sharp(mesh, name):
    attribute = mesh.attributes.get(name)
    return 0 if attribute is None else sum(d.value for d in attribute.data)


def test_sane_normals_from_the_file_are_kept(ext, person_glb):
    bpy.ops.synchuman.import_result(filepath=person_glb)
    mesh = _only_result().data
    assert mesh.has_custom_normals and _sharp(mesh, "sharp_face") == 0


@pytest.mark.parametrize("normals", ["none", "flipped"])
def test_missing_or_broken_normals_are_recomputed(ext, tmp_path, normals):
    glb = make_person_glb(tmp_path / "anna.glb", normals=normals)
    bpy.ops.synchuman.import_result(filepath=glb)
    mesh = _only_result().data
    assert not mesh.has_custom_normals
    assert len(mesh.vertices) == 16, "split vertices are welded (two boxes of 8)"
    assert _sharp(mesh, "sharp_face") == 0
    assert _sharp(mesh, "sharp_edge") == 24      # the boxes' 90° edges stay sharp, nothing else
    corner = np.empty(len(mesh.loops) * 3, dtype=np.float32)
    mesh.corner_normals.foreach_get("vector", corner)
    face = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("normal", face)
    sizes = np.array([p.loop_total for p in mesh.polygons])
    owner = np.repeat(np.arange(len(sizes)), sizes)
    dots = (corner.reshape(-1, 3) * face.reshape(-1, 3)[owner]).sum(axis=1)
    assert dots.min() > 0.99, "corner normals follow their (sharp-edged) faces, outwards"


def test_provenance_from_job_json(ext, tmp_path):
    job_dir = tmp_path / "anna"
    job_dir.mkdir()
    glb = make_person_glb(job_dir / "human.glb")
    (job_dir / "job.json").write_text(json.dumps({
        "job_id": "j42", "engine": "preview", "seed": 7, "settings": {"texture_size": 256},
        "versions": {"synchuman": "0.1.0"}, "input": {"path": "/photos/Anna Smith.jpg", "sha256": "ab" * 32}}))
    bpy.ops.synchuman.import_result(filepath=glb, height_m=1.7)
    obj = _only_result()
    assert obj.name == "Anna Smith" and "Anna Smith" in bpy.data.collections
    assert obj["synchuman_job_id"] == "j42" and obj["synchuman_engine"] == "preview"
    assert obj["synchuman_seed"] == 7 and obj["synchuman_photo"] == "/photos/Anna Smith.jpg"
    assert obj["synchuman_photo_sha256"] == "ab" * 32 and obj["synchuman_backend_version"] == "0.1.0"
    assert json.loads(obj["synchuman_settings"]) == {"texture_size": 256}
    assert obj["synchuman_height_m"] == pytest.approx(1.7) and obj["synchuman_generated"]


def test_scene_unit_scale_is_respected(ext, person_glb):
    units = bpy.context.scene.unit_settings
    units.system, units.scale_length = 'METRIC', 0.01   # 1 Blender unit = 1 cm
    bpy.ops.synchuman.import_result(filepath=person_glb, height_m=1.8)
    obj = _only_result()
    assert obj.dimensions.z == pytest.approx(180.0, rel=1e-4)


def test_bad_glb_leaves_nothing_behind(ext, tmp_path):
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00garbage")
    before = (len(bpy.data.objects), len(bpy.data.collections))
    with pytest.raises(RuntimeError):
        bpy.ops.synchuman.import_result(filepath=str(bad))
    assert (len(bpy.data.objects), len(bpy.data.collections)) == before


def _catalogs(folder):
    lines = (open(os.path.join(folder, "blender_assets.cats.txt")).read().splitlines())
    return {line.split(":")[1]: line.split(":")[0] for line in lines
            if line and not line.startswith(("#", "VERSION"))}


def test_asset_marking_catalog_and_library_round_trip(ext, person_glb, tmp_path):
    library = tmp_path / "library"
    assert bpy.ops.synchuman.import_result(filepath=person_glb, mark_asset=True, catalog="Generated/Humans",
                                           tags="human, test", library_dir=str(library)) == {'FINISHED'}
    obj = _only_result()
    data = obj.asset_data
    assert data is not None
    assert {t.name for t in data.tags} == {"human", "test"}
    assert data.author == "SyncHuman" and "anna" in data.description
    cats = _catalogs(library)
    assert cats == {"Generated/Humans": str(data.catalog_id)}
    path = obj["synchuman_library_file"]
    assert os.path.isfile(path) and os.path.dirname(path) == str(library)

    # A second asset reuses the catalog instead of adding another line.
    ext.assets.ensure_catalog(str(library), "Generated/Humans")
    assert _catalogs(library) == cats

    name = obj.name
    bpy.data.objects.remove(obj)
    with bpy.data.libraries.load(path, assets_only=True) as (data_from, data_to):
        assert data_from.objects == [name]
        data_to.objects = [name]
    loaded = data_to.objects[0]
    assert loaded.asset_data is not None
    assert str(loaded.asset_data.catalog_id) == cats["Generated/Humans"]
    assert {t.name for t in loaded.asset_data.tags} == {"human", "test"}
    image = loaded.active_material.node_tree.nodes["Image Texture"].image
    assert image.packed_file is not None  # the library file carries its texture


def test_preview_from_photo(ext, tmp_path):
    photo = bpy.data.images.new("photo", 40, 80)
    rgba = np.zeros((80, 40, 4), dtype=np.float32)
    rgba[..., 0] = 1.0
    rgba[..., 3] = 1.0
    photo.pixels.foreach_set(rgba.ravel())
    photo.filepath_raw = str(tmp_path / "photo.png")
    photo.file_format = 'PNG'
    photo.save()
    mesh_obj = bpy.data.objects.new("thing", bpy.data.meshes.new("thing"))
    bpy.context.scene.collection.objects.link(mesh_obj)
    ext.assets.mark_as_asset(mesh_obj, catalog_path="", tags=["x"], preview_from=str(tmp_path / "photo.png"))
    preview = mesh_obj.preview
    assert tuple(preview.image_size) == (256, 256)
    pixels = np.array(preview.image_pixels_float[:]).reshape(256, 256, 4)
    assert pixels[128, 128, 0] > 0.9 and pixels[128, 128, 3] > 0.9   # the photo, centred
    assert pixels[128, 5, 3] == 0.0                                   # letterboxed sides are transparent


def test_import_while_the_artist_is_in_edit_mode(ext, person_glb):
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.object.mode_set(mode='EDIT')
    assert bpy.ops.synchuman.import_result(filepath=person_glb) == {'FINISHED'}
    assert bpy.context.mode == 'OBJECT' and bpy.context.view_layer.objects.active.name == "anna"
