"""The rig of an imported human: the Armature that Blender's glTF importer made from the GLB's skin.

The importer runs with the "Blender" bone heuristic: each bone lies along its node's +Y, which is how
the backend writes them, so heads, directions and rolls arrive unchanged. Only end-bone lengths are
its guess; the file says them in each bone node's `bone_length` extra, which lands as a custom
property on the bone and is applied (and removed) here. docs/rig.md describes the bones.
"""

from __future__ import annotations

import bpy

LENGTH_KEY = "bone_length"


def finish_armature(context, armature, meshes, name: str, scale: float) -> None:
    """Names the armature (object and data), gives its bones the file's lengths, times `scale` (the
    import's scale to the asked height), and turns on Preserve Volume on the meshes' Armature modifiers."""
    armature.name = armature.data.name = name
    armature.show_in_front = True  # the bones stay visible inside the clothed mesh
    for obj in meshes:
        for modifier in obj.modifiers:
            if modifier.type == 'ARMATURE' and modifier.object == armature:
                # Dual quaternion skinning: with the backend's elbow and knee ramps (rig/weights.py) a
                # 90-degree bend keeps its inner side's edges above half their length; linear blending
                # (what glTF viewers use) folds them further.
                modifier.use_deform_preserve_volume = True
    lengths = {b.name: float(b[LENGTH_KEY]) for b in armature.data.bones if LENGTH_KEY in b}
    if lengths:
        previous = context.view_layer.objects.active
        context.view_layer.objects.active = armature
        try:
            bpy.ops.object.mode_set(mode='EDIT')
            for bone in armature.data.edit_bones:
                if bone.name in lengths:
                    bone.length = max(lengths[bone.name] * scale, 1e-4)
                    bone.pop(LENGTH_KEY, None)
        finally:
            bpy.ops.object.mode_set(mode='OBJECT')
            context.view_layer.objects.active = previous
    for pose_bone in armature.pose.bones:
        pose_bone.pop(LENGTH_KEY, None)
