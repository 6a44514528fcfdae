"""Operators on results: File › Import › SyncHuman result, and Show Generated Views."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import importer

# Images an engine may write into a job's views/ folder, in the order they are offered.
GENERATED_VIEWS = (
    ("concat", "Multiview Sheet", "The synchuman engine's 5 colour and 5 normal views"),
    ("front", "Front", "The front render of the result"),
    ("pose", "Pose", "The photo with the detected body landmarks drawn over it"),
    ("side", "Side", "The side render of the result"),
    ("back", "Back", "The back render of the result"),
)


class SYNCHUMAN_OT_import_result(bpy.types.Operator, ImportHelper):
    """Import a SyncHuman result (.glb): cleaned up, scaled to a height, standing at the 3D cursor"""

    bl_idname = "synchuman.import_result"
    bl_label = "Import SyncHuman Result"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb", options={'HIDDEN'})
    height_m: FloatProperty(name="Height (m)", description="Scale the person to this height; 0 keeps the file's size",
                            default=1.75, min=0.0, max=3.0, precision=2)
    name: StringProperty(name="Name", description="Collection and object name (empty: the photo's name)")
    photo_label: StringProperty(options={'HIDDEN', 'SKIP_SAVE'})
    mark_asset: BoolProperty(name="Mark as Asset", default=False)
    catalog: StringProperty(name="Catalog", default="Generated/Humans")
    tags: StringProperty(name="Tags", default="human, generated")
    library_dir: StringProperty(name="Library Folder", subtype='DIR_PATH',
                                description="Also write the asset as its own .blend into this folder")

    def execute(self, context):
        try:
            imported, note = importer.import_result(
                context, self.filepath, height_m=self.height_m if self.height_m > 0 else None,
                name=self.name or None, photo_label=self.photo_label, mark_asset=self.mark_asset,
                catalog=self.catalog, tags=self.tags, library_dir=self.library_dir)
        except importer.ImportFailed as exc:
            self.report({'ERROR'}, f"SyncHuman: {exc}")
            return {'CANCELLED'}
        if note:
            self.report({'WARNING'}, f"SyncHuman: {note}")
        self.report({'INFO'}, f"SyncHuman: imported {imported.object.name} "
                              f"({len(imported.object.data.polygons):,} faces) in {imported.seconds:.2f} s")
        return {'FINISHED'}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "height_m")
        layout.prop(self, "name")
        layout.prop(self, "mark_asset")
        col = layout.column()
        col.active = self.mark_asset
        col.prop(self, "catalog")
        col.prop(self, "tags")
        col.prop(self, "library_dir")


def generated_views(obj) -> list[tuple[str, str, str]]:
    """(key, label, path) of each image the engine wrote next to the active human's GLB (views/*.png);
    empty when none is there or its job folder is not on this machine."""
    glb = str(obj.get(importer.PROP_PREFIX + "glb", "")) if obj is not None else ""
    if not glb:
        return []
    folder = os.path.join(os.path.dirname(glb), "views")
    found = []
    for key, label, _description in GENERATED_VIEWS:
        path = os.path.join(folder, f"{key}.png")
        if os.path.isfile(path):
            found.append((key, label, path))
    return found


_view_items_cache: list = []  # Blender keeps only pointers to enum strings: they must outlive the call


def _view_items(self, context):
    obj = getattr(context, "active_object", None)
    present = {key for key, _label, _path in generated_views(obj)}
    items = [("ALL", "All Views", "Load every generated view; show the first")]
    items += [(key, label, description) for key, label, description in GENERATED_VIEWS if key in present]
    _view_items_cache[:] = items
    return _view_items_cache


class SYNCHUMAN_OT_show_views(bpy.types.Operator):
    """Load the images the engine generated for the active human (multiview sheet, front, pose, side, back: \
whichever exist) and show one in an Image Editor"""

    bl_idname = "synchuman.show_views"
    bl_label = "Show Generated Views"
    bl_options = {'REGISTER'}

    view: EnumProperty(name="View", items=_view_items, description="Which generated image to show")

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or not obj.get(importer.PROP_PREFIX + "generated"):
            cls.poll_message_set("Select a human made by SyncHuman")
            return False
        if not generated_views(obj):
            cls.poll_message_set("Its job folder (views/) is no longer on this machine")
            return False
        return True

    def execute(self, context):
        views = generated_views(context.active_object)
        chosen = views if self.view == 'ALL' else [v for v in views if v[0] == self.view]
        if not chosen:
            self.report({'ERROR'}, f"SyncHuman: the view '{self.view}' is not in the job folder")
            return {'CANCELLED'}
        images = [bpy.data.images.load(path, check_existing=True) for _key, _label, path in chosen]
        editors = [a for a in (context.screen.areas if context.screen else ()) if a.type == 'IMAGE_EDITOR']
        for area in editors[:1]:
            area.spaces.active.image = images[0]
        where = "in the Image Editor" if editors else "(open an Image Editor to see them)"
        names = ", ".join(f"{i.name} ({i.size[0]}x{i.size[1]})" for i in images)
        self.report({'INFO'}, f"SyncHuman: {names} loaded {where}")
        return {'FINISHED'}


def menu_import(self, context):
    self.layout.operator(SYNCHUMAN_OT_import_result.bl_idname, text="SyncHuman result (.glb)")


classes = (SYNCHUMAN_OT_import_result, SYNCHUMAN_OT_show_views)
