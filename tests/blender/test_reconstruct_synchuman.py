"""Reconstruct Human with the synchuman engine, in real bpy, through the real backend, on a tiny
weights folder (tests/tiny_weights.py, built by the backend's Python): every stage runs and a
textured human is imported. Random tiny weights give an odd shape; the chain is what is checked."""

from __future__ import annotations

import subprocess

import bpy
import pytest

from blender_helpers import ROOT, world_vertices

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_weights(backend, tmp_path_factory):
    dest = tmp_path_factory.mktemp("tiny-weights")
    subprocess.run([backend, str(ROOT / "tests" / "tiny_weights.py"), str(dest)], check=True, timeout=300,
                   capture_output=True)
    return dest


def test_reconstruct_with_the_synchuman_engine(settings, ext, tiny_weights):
    prefs = bpy.context.preferences.addons[ext.__name__].preferences
    prefs.weights_dir = str(tiny_weights)
    settings.photo_path = str(ROOT / "backend" / "synchuman" / "data" / "examples" / "person_cutout.png")
    settings.engine = 'synchuman'
    settings.stage1_steps, settings.stage2_steps = 1, 2
    settings.height_m = 1.7
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_job
    assert state.status == 'DONE', state.error_message if hasattr(state, "error_message") else state.status
    assert state.stage_count == 9  # reading the photo + the engine's eight stages
    obj = bpy.data.objects[state.result_object]
    assert obj["synchuman_engine"] == "synchuman"
    rig = obj.parent   # rigged by default: the armature binds the mesh
    assert rig is not None and rig.type == 'ARMATURE' and len(rig.data.bones) == 54
    assert obj.modifiers[0].type == 'ARMATURE' and len(obj.vertex_groups) > 0
    v = world_vertices(obj)
    assert v[:, 2].min() == pytest.approx(0.0, abs=1e-4)
    assert v[:, 2].max() - v[:, 2].min() == pytest.approx(1.7, rel=1e-3)
    bsdf = next(n for n in obj.active_material.node_tree.nodes if n.type == 'BSDF_PRINCIPLED')
    assert bsdf.inputs["Metallic"].default_value == 0.0
    assert bsdf.inputs["Base Color"].links[0].from_node.image.packed_file is not None

    # the generated multiview images: 5 colour and 5 normal views side by side, 768 px each
    assert bpy.ops.synchuman.show_views() == {'FINISHED'}
    sheet = next(i for i in bpy.data.images if i.filepath.endswith("concat.png"))
    assert tuple(sheet.size) == (10 * 768, 768)
