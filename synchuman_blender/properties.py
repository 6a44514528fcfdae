"""Properties: per-file artist settings on the Scene, runtime job state on the WindowManager.

The WindowManager state is written only on Blender's main thread (by jobs.Session) and is
not saved in .blend files, so a file never carries a stale "running" job.
"""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, IntVectorProperty,
                       PointerProperty, StringProperty)

from .protocol import DEFAULT_HEIGHT_M, DEFAULT_MAX_FACES, DEFAULT_TEXTURE_SIZE, ENGINE_CHOICES, HEIGHT_RANGE_M, \
    MAX_FACES_RANGE, PERSON_BOX_LIMIT, REST_POSE_CHOICES, RIG_NAME_CHOICES, STEPS_RANGE, TEXTURE_SIZES

_ENGINE_TEXT = {
    "auto": ("Auto", "SyncHuman when its weights are installed, else Preview"),
    "preview": ("Preview", "Fast classical reconstruction on the CPU, no weights needed"),
    "synchuman": ("SyncHuman", "The neural reconstruction (needs weights; a GPU recommended)"),
}
_ENGINE_ITEMS = [(name, *_ENGINE_TEXT[name]) for name in ENGINE_CHOICES]
_RIG_NAME_TEXT = {
    "native": ("SyncHuman", "Our bone names (hips, upper_arm.L, ...; Blender's .L/.R for symmetry tools)"),
    "mixamo": ("Mixamo", "Mixamo's names (mixamorig:Hips, ...), for Mixamo-style retargeting"),
    "rigify": ("Rigify", "The names of Rigify's human metarig (spine, upper_arm.L, ...)"),
}
_REST_POSE_TEXT = {
    "photo": ("Photo", "The pose of the photo"),
    "a-pose": ("A-Pose", "Arms 45 degrees down, legs straight: consistent characters for a library"),
    "t-pose": ("T-Pose", "Arms level, legs straight"),
}
_RIG_NAME_ITEMS = [(name, *_RIG_NAME_TEXT[name]) for name in RIG_NAME_CHOICES]
_REST_POSE_ITEMS = [(name, *_REST_POSE_TEXT[name]) for name in REST_POSE_CHOICES]

DEFAULT_CATALOG = "Generated/Humans"


class SYNCHUMAN_PG_settings(bpy.types.PropertyGroup):
    source: EnumProperty(
        name="Source",
        items=[
            ("FILE", "File", "A photo file on disk", 'FILE_IMAGE', 0),
            ("IMAGE", "Image", "An image already in this .blend file", 'IMAGE_DATA', 1),
            ("EDITOR", "Image Editor", "The image shown in an open Image Editor", 'IMAGE', 2),
        ],
        default="FILE",
    )
    photo_path: StringProperty(name="Photo", description="Photo of one person, full body, facing the camera",
                               subtype='FILE_PATH')
    image: PointerProperty(name="Image", type=bpy.types.Image, description="Image in this file to use as the photo")
    engine: EnumProperty(
        name="Engine",
        items=_ENGINE_ITEMS,
        default="auto",
    )
    seed: IntProperty(name="Seed", description="Random seed: the same seed gives the same result",
                      default=0, min=0)
    height_m: FloatProperty(name="Height (m)", description="Height of the person in metres",
                            default=DEFAULT_HEIGHT_M, min=HEIGHT_RANGE_M[0], max=HEIGHT_RANGE_M[1],
                            step=1, precision=2)
    texture_size: EnumProperty(
        name="Texture",
        items=[(str(s), f"{s} px", f"Base colour texture of {s}×{s} pixels") for s in TEXTURE_SIZES],
        default=str(DEFAULT_TEXTURE_SIZE),
    )
    max_faces: IntProperty(name="Face Budget", description="Most triangles the mesh may have",
                           default=DEFAULT_MAX_FACES, min=MAX_FACES_RANGE[0], max=MAX_FACES_RANGE[1],
                           step=1000)
    stage1_steps: IntProperty(name="Stage 1 Steps", description="Multiview sampling steps of the SyncHuman "
                              "engine (0: the method's 50; fewer is faster and rougher)", default=0, min=0,
                              max=STEPS_RANGE[1])
    stage2_steps: IntProperty(name="Stage 2 Steps", description="Structured-latent sampling steps of the SyncHuman "
                              "engine (0: the method's 25)", default=0, min=0, max=STEPS_RANGE[1])
    use_person_box: BoolProperty(name="Use Person Box", default=False,
                                 description="Reconstruct the person inside a box of the photo (for photos of "
                                             "several people); off: the most prominent person")
    person_box: IntVectorProperty(name="Person Box", size=4, default=(0, 0, 1, 1), min=0,
                                  max=PERSON_BOX_LIMIT - 1,
                                  description="X0, Y0, X1, Y1 in photo pixels (from the top-left corner); "
                                              "the person that overlaps it most is reconstructed")
    rig: BoolProperty(name="Rig", default=True,
                      description="Give the human a skeleton (an Armature) and skin weights, ready to animate")
    rest_pose: EnumProperty(name="Rest Pose", items=_REST_POSE_ITEMS,
                            default="photo", description="The pose the rigged human rests in")
    rig_names: EnumProperty(name="Bone Names", items=_RIG_NAME_ITEMS,
                            default="native", description="Which naming the bones follow (docs/rig.md)")
    mark_asset: BoolProperty(name="Mark as Asset", description="Mark the result as an asset with a catalog",
                             default=False)
    asset_catalog: StringProperty(name="Catalog", description="Asset catalog path, parts separated by /",
                                  default=DEFAULT_CATALOG)
    asset_tags: StringProperty(name="Tags", description="Comma-separated asset tags",
                               default="human, generated")
    library_dir: StringProperty(
        name="Library Folder",
        description="When set, also write the asset as its own .blend into this asset library folder",
        subtype='DIR_PATH',
    )


class SYNCHUMAN_PG_job(bpy.types.PropertyGroup):
    status: EnumProperty(
        name="Status",
        items=[
            ("IDLE", "Idle", ""), ("STARTING", "Starting", ""), ("RUNNING", "Running", ""),
            ("CANCELLING", "Cancelling", ""), ("IMPORTING", "Importing", ""), ("DONE", "Done", ""),
            ("FAILED", "Failed", ""), ("CANCELLED", "Cancelled", ""),
        ],
        default="IDLE",
    )
    job_id: StringProperty()
    photo_name: StringProperty()
    stage: StringProperty()
    stage_label: StringProperty()
    stage_index: IntProperty()
    stage_count: IntProperty()
    step: FloatProperty()
    total: FloatProperty()
    fraction: FloatProperty(min=0.0, max=1.0, subtype='FACTOR')
    message: StringProperty()
    queue_position: IntProperty()
    elapsed_s: FloatProperty()         # final duration once it ended
    error_code: StringProperty()
    error_message: StringProperty()
    error_hint: StringProperty()
    error_log: StringProperty()        # last backend log lines, newline-separated
    result_collection: StringProperty()
    result_object: StringProperty()
    result_glb: StringProperty(subtype='FILE_PATH')
    result_notes: StringProperty()     # the job's warnings, newline-separated (a good job may have some)

    backend_state: EnumProperty(
        name="Backend",
        items=[("STOPPED", "Not running", ""), ("STARTING", "Starting", ""), ("READY", "Ready", ""),
               ("DEAD", "Stopped unexpectedly", "")],
        default="STOPPED",
    )
    backend_pid: IntProperty()
    backend_version: StringProperty()
    backend_engines: StringProperty()
    backend_device: StringProperty()
    backend_weights: StringProperty()
    backend_message: StringProperty()
    backend_log: StringProperty()


classes = (SYNCHUMAN_PG_settings, SYNCHUMAN_PG_job)


def register_properties():
    bpy.types.Scene.synchuman = PointerProperty(type=SYNCHUMAN_PG_settings)
    bpy.types.WindowManager.synchuman_job = PointerProperty(type=SYNCHUMAN_PG_job)


def unregister_properties():
    del bpy.types.WindowManager.synchuman_job
    del bpy.types.Scene.synchuman
