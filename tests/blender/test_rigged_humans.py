"""The rig in real Blender: results of the real backend (the preview engine through the CLI, and the
synchuman engine's rigging step on a clothed synthetic person's mesh with its photo, as if generated)
imported by the extension's importer, then posed, exported to FBX and read back."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import bpy
import numpy as np
import pytest

from blender_helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from rig_bends import HINGES, bone_weights, deformed, flex_ratios, turn  # noqa: E402  (the bend check's one place)

CLI_FAST = ["--engine", "preview", "--texture-size", "256", "--max-faces", "20000", "--json"]


def _run(cmd, timeout=600):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, f"{cmd[:4]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def documented_names(column: int) -> list[str]:
    """A column of the bone table in docs/rig.md (0 native, 1 Mixamo, 2 Rigify)."""
    text = (ROOT / "docs" / "rig.md").read_text().split("## Bones and their names")[1]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return [re.findall(r"`([^`]+)`", row)[column] for row in rows]


@pytest.fixture(scope="module")
def preview_glbs(backend, photo, tmp_path_factory):
    """human.glb from the preview engine: photo rest pose (native names) and t-pose."""
    out = tmp_path_factory.mktemp("rig-preview")
    _run([backend, "-m", "synchuman", "reconstruct", str(photo), "-o", str(out / "photo"), *CLI_FAST])
    _run([backend, "-m", "synchuman", "reconstruct", str(photo), "-o", str(out / "tpose"), *CLI_FAST,
          "--rest-pose", "t-pose"])
    return {"photo": next((out / "photo").glob("*/human.glb")), "t-pose": next((out / "tpose").glob("*/human.glb"))}


@pytest.fixture(scope="module")
def synchuman_step_glb(backend, tmp_path_factory):
    """The synchuman engine's rigging step on a clothed synthetic person and its photo (Mixamo names)."""
    path = tmp_path_factory.mktemp("rig-synchuman") / "person.glb"
    _run([backend, str(ROOT / "benchmarks" / "rig.py"), "--case", "standing_studio", "--size", "512",
          "--names", "mixamo", "--glb", str(path)])
    return path


def _import(ext, path):
    imported = ext.importer.import_human(bpy.context, str(path), height_m=None)
    assert imported.armature is not None, "no armature imported"
    return imported.object, imported.armature


def _check_rig(obj, armature, names: list[str], name: dict[str, str]) -> None:
    """The issue's checks; `name` maps our native names to the ones in the file."""
    assert [b.name for b in armature.data.bones] and {b.name for b in armature.data.bones} == set(names)
    assert [m.type for m in obj.modifiers] == ['ARMATURE'] and obj.modifiers[0].object == armature
    assert obj.modifiers[0].use_deform_preserve_volume
    assert obj.parent == armature and obj.users_collection[0] == armature.users_collection[0]
    w = bone_weights(obj, names)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-3)          # every vertex, normalised
    assert ((w > 0).sum(1) <= 4).all()
    dominant = w.argmax(1)
    rest = deformed(obj)

    def part(native):
        return dominant == names.index(name[native])

    # Left-side vertices (more than 5 cm left of the pelvis' middle: the plane through the hips bone,
    # normal from the right thigh's head to the left's) carry < 1 % on right-side bones.
    right = np.array([name_is_right(n, name) for n in names])
    heads = {b: np.array(armature.matrix_world @ armature.data.bones[name[b]].head_local)
             for b in ("hips", "thigh.L", "thigh.R")}
    normal = (heads["thigh.L"] - heads["thigh.R"]) / np.linalg.norm(heads["thigh.L"] - heads["thigh.R"])
    left_side = (rest - heads["hips"]) @ normal > 0.05
    assert w[left_side][:, right].sum(1).max() < 0.01

    turn(armature, name["upper_arm.L"], 60)
    moved = np.linalg.norm(deformed(obj) - rest, axis=1)
    turn(armature, None)
    assert np.median(moved[part("hand.L")]) > 0.10, "the left hand did not follow its upper arm"
    assert moved[part("hand.R")].max() < 0.005, "the right hand moved with the left arm"
    assert np.median(moved[part("hips")]) < 0.005, "the pelvis moved with the left arm"

    # A 90-degree elbow and knee flexion (toward the parent bone): every edge of the limb near the joint
    # stays within 0.5x-2x, no collapse and no tearing. The import's Preserve Volume skinning and the
    # backend's hinge ramps make this hold (docs/rig.md); benchmarks/rig_bends.py runs it on more people.
    for bone, parent, child, forward in HINGES[::2]:   # the left elbow and the left knee
        ratio = flex_ratios(obj, armature, names, name, bone, parent, child, forward)
        print(f"{bone} flexed 90 deg: {len(ratio)} edges, ratio {ratio.min():.2f}..{ratio.max():.2f}")
        assert len(ratio) > 10
        assert 0.5 <= ratio.min() and ratio.max() <= 2.0, (bone, ratio.min(), ratio.max())


def name_is_right(file_name: str, name: dict[str, str]) -> bool:
    native = {v: k for k, v in name.items()}[file_name]
    return native.endswith(".R")


def _fbx_round_trip(armature, tmp_path) -> int:
    path = str(tmp_path / "human.fbx")
    assert bpy.ops.export_scene.fbx(filepath=path, object_types={'ARMATURE', 'MESH'}, add_leaf_bones=False,
                                    bake_anim=False) == {'FINISHED'}
    before = set(bpy.data.objects)
    assert bpy.ops.import_scene.fbx(filepath=path) == {'FINISHED'}
    imported = [o for o in bpy.data.objects if o not in before and o.type == 'ARMATURE']
    assert len(imported) == 1
    meshes = [o for o in bpy.data.objects if o not in before and o.type == 'MESH']
    assert meshes and meshes[0].find_armature() == imported[0]
    return len(imported[0].data.bones)


def test_preview_result_is_rigged(ext, preview_glbs, tmp_path):
    native = documented_names(0)
    assert len(native) == 54
    obj, armature = _import(ext, preview_glbs["photo"])
    assert armature.name.endswith("_rig") and armature.users_collection[0].name == obj.users_collection[0].name
    _check_rig(obj, armature, native, {n: n for n in native})
    assert _fbx_round_trip(armature, tmp_path) == len(armature.data.bones)


def test_synchuman_rigging_step_on_a_clothed_person(ext, synchuman_step_glb, tmp_path):
    native, mixamo = documented_names(0), documented_names(1)
    obj, armature = _import(ext, synchuman_step_glb)
    _check_rig(obj, armature, mixamo, dict(zip(native, mixamo)))
    assert _fbx_round_trip(armature, tmp_path) == 54


def test_t_pose_arms_are_level(ext, preview_glbs):
    native = documented_names(0)
    obj, armature = _import(ext, preview_glbs["t-pose"])
    w = bone_weights(obj, native)
    rest = deformed(obj)
    for side in ("L", "R"):
        for bone in (f"upper_arm.{side}", f"forearm.{side}"):
            b = armature.data.bones[bone]
            d = np.array(b.tail_local - b.head_local)
            assert math.degrees(math.asin(abs(d[2]) / np.linalg.norm(d))) < 10, bone
        shoulder = np.array(armature.data.bones[f"upper_arm.{side}"].head_local)
        hand = rest[w.argmax(1) == native.index(f"hand.{side}")].mean(0)
        d = hand - shoulder
        assert math.degrees(math.atan2(abs(d[2]), np.hypot(d[0], d[1]))) < 10, f"the {side} arm's mesh is not level"


def test_rig_off_gives_a_plain_mesh(ext, backend, photo, tmp_path):
    _run([backend, "-m", "synchuman", "reconstruct", str(photo), "-o", str(tmp_path), *CLI_FAST, "--no-rig"])
    imported = ext.importer.import_human(bpy.context, str(next(tmp_path.glob("*/human.glb"))), height_m=1.7)
    assert imported.armature is None and not [o for o in bpy.data.objects if o.type == 'ARMATURE']
    assert not imported.object.vertex_groups


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
