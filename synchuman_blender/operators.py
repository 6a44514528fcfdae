"""Operators: reconstruct, cancel, start/release the backend, import a result, diagnostics."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
import uuid

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import assets, importer
from .client import READY
from .jobs import SESSION, JobRequest
from .preferences import ADDON_ID, backend_problem, get_prefs, job_output_dir, resolve_backend_python, user_dir
from .protocol import PROTOCOL_VERSION

PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


# -- the photo ----------------------------------------------------------------------------------
def editor_image(context):
    """The image of the Image Editor in this window (or any window), or None."""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == 'IMAGE_EDITOR' and space.image is not None:
        return space.image
    wm = context.window_manager
    windows = ([context.window] if getattr(context, "window", None) else []) + list(wm.windows)
    for window in windows:
        screen = window.screen
        for area in (screen.areas if screen else ()):
            if area.type == 'IMAGE_EDITOR' and area.spaces.active.image is not None:
                return area.spaces.active.image
    return None


def chosen_image(context, settings):
    return settings.image if settings.source == 'IMAGE' else editor_image(context)


def photo_problem(context, settings) -> str | None:
    """Why there is no usable photo, or None. Cheap: poll() calls it on every redraw."""
    if settings.source == 'FILE':
        if not settings.photo_path:
            return "Choose a photo of a person first"
        path = bpy.path.abspath(settings.photo_path)
        if os.path.isdir(path):
            return "The photo path is a folder; choose an image file"
        if not os.path.isfile(path):
            return f"The photo does not exist: {path}"
        return None
    image = chosen_image(context, settings)
    if image is None:
        return "Pick an image" if settings.source == 'IMAGE' else "No Image Editor shows an image"
    if not image.has_data and image.packed_file is None and not os.path.isfile(bpy.path.abspath(image.filepath)):
        return f"The image '{image.name}' has no pixels (its file is missing)"
    return None


def reconstruct_blocker(context) -> str | None:
    """Why Reconstruct Human is disabled, in words for the tooltip and the panel; None if enabled."""
    if SESSION.busy():
        return "A reconstruction is running: wait for it or cancel it"
    settings = getattr(context.scene, "synchuman", None)
    if settings is None:
        return "SyncHuman is not registered"
    problem = photo_problem(context, settings)
    if problem:
        return problem
    problem = backend_problem(context)
    if problem:
        return problem
    if not get_prefs(context).start_on_demand:
        client = SESSION.client
        if client is None or client.state != READY:
            return "Start the backend first (Preferences › Add-ons › SyncHuman; start on demand is off)"
    return None


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "photo"


def resolve_photo(context, settings) -> tuple[str, str, str]:
    """(file for the backend, label for provenance, name for the collection).

    Images that exist only inside Blender (packed, generated, edited) are written to the
    extension's user folder first, because the backend reads files."""
    if settings.source == 'FILE':
        path = os.path.abspath(bpy.path.abspath(settings.photo_path))
        return path, path, os.path.splitext(os.path.basename(path))[0]
    image = chosen_image(context, settings)
    name = os.path.splitext(image.name)[0]
    source_path = os.path.abspath(bpy.path.abspath(image.filepath)) if image.filepath else ""
    if image.packed_file is None and image.source == 'FILE' and not image.is_dirty and os.path.isfile(source_path):
        return source_path, source_path, name
    folder = user_dir("inputs")
    if image.packed_file is not None and not image.is_dirty:
        data = image.packed_file.data
        ext = os.path.splitext(source_path)[1].lower() if source_path else ""
        ext = ext if ext in PHOTO_EXTENSIONS else ".png"
        path = os.path.join(folder, f"{_safe(name)}-{hashlib.sha256(data).hexdigest()[:10]}{ext}")
        if not os.path.isfile(path):
            with open(path, "wb") as f:
                f.write(data)
        return path, f"{image.name} (packed in the .blend)", name
    copy = image.copy()  # saving a copy leaves the artist's image (and its path) untouched
    try:
        path = os.path.join(folder, f"{_safe(name)}-{uuid.uuid4().hex[:10]}.png")
        copy.filepath_raw = path
        copy.file_format = 'PNG'
        copy.save()
    finally:
        bpy.data.images.remove(copy)
    return path, f"{image.name} (from the .blend)", name


def build_request(context) -> JobRequest:
    settings = context.scene.synchuman
    prefs = get_prefs(context)
    photo, label, name = resolve_photo(context, settings)
    job_settings = {
        "engine": settings.engine,
        "seed": int(settings.seed),
        "height_m": round(float(settings.height_m), 4),
        "texture_size": int(settings.texture_size),
        "max_faces": int(settings.max_faces),
        "device": prefs.device,
        "precision": prefs.precision,
        "memory_mode": prefs.memory_mode,
    }
    for key in ("stage1_steps", "stage2_steps"):  # 0 keeps the method's default
        if getattr(settings, key):
            job_settings[key] = int(getattr(settings, key))
    return JobRequest(photo=photo, photo_label=label, name=name, output_dir=job_output_dir(context),
                      settings=job_settings, height_m=float(settings.height_m),
                      mark_asset=settings.mark_asset, catalog=settings.asset_catalog,
                      tags=settings.asset_tags, library_dir=settings.library_dir)


# -- operators ----------------------------------------------------------------------------------
class SYNCHUMAN_OT_reconstruct(bpy.types.Operator):
    """Reconstruct a clothed, textured 3D human from the photo and import it at the 3D cursor"""

    bl_idname = "synchuman.reconstruct"
    bl_label = "Reconstruct Human"
    # No UNDO here: the job itself changes nothing; its import is a separate undoable operator.
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        reason = reconstruct_blocker(context)
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def execute(self, context):
        try:
            request = build_request(context)
        except (OSError, RuntimeError) as exc:
            self.report({'ERROR'}, f"SyncHuman: could not read the photo: {exc}")
            return {'CANCELLED'}
        SESSION.submit(context, request)
        state = context.window_manager.synchuman_job
        if not SESSION.blocking():
            self.report({'INFO'}, f"SyncHuman: reconstructing {request.name}…")
            return {'FINISHED'}
        if state.status == 'DONE':
            self.report({'INFO'}, f"SyncHuman: imported {state.result_object} in {state.elapsed_s:.1f} s")
            return {'FINISHED'}
        if state.status == 'CANCELLED':
            self.report({'WARNING'}, "SyncHuman: the reconstruction was cancelled")
            return {'CANCELLED'}
        hint = f" — {state.error_hint}" if state.error_hint else ""
        self.report({'ERROR'}, f"SyncHuman [{state.error_code}]: {state.error_message}{hint}")
        return {'CANCELLED'}


class SYNCHUMAN_OT_cancel(bpy.types.Operator):
    """Cancel the running reconstruction (the backend stops it; nothing is imported)"""

    bl_idname = "synchuman.cancel"
    bl_label = "Cancel"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        if not SESSION.busy():
            cls.poll_message_set("No reconstruction is running")
            return False
        return True

    def execute(self, context):
        SESSION.cancel(context)
        self.report({'INFO'}, "SyncHuman: cancelling…")
        return {'FINISHED'}


class SYNCHUMAN_OT_start_backend(bpy.types.Operator):
    """Start the SyncHuman backend now (it loads models on its first job)"""

    bl_idname = "synchuman.start_backend"
    bl_label = "Start Backend"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        problem = backend_problem(context)
        if problem:
            cls.poll_message_set(problem)
            return False
        client = SESSION.client
        if client is not None and client.is_running():
            cls.poll_message_set("The backend is already running")
            return False
        return True

    def execute(self, context):
        try:
            SESSION.start_backend(context)
        except OSError as exc:
            self.report({'ERROR'}, f"SyncHuman: could not start the backend: {exc}")
            return {'CANCELLED'}
        return {'FINISHED'}


class SYNCHUMAN_OT_release_backend(bpy.types.Operator):
    """Stop the backend process to free its memory (a running job is cancelled); the next job starts it again"""

    bl_idname = "synchuman.release_backend"
    bl_label = "Release Backend"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        client = SESSION.client
        if client is None or not client.is_running():
            cls.poll_message_set("The backend is not running")
            return False
        return True

    def invoke(self, context, event):
        if SESSION.busy():
            return context.window_manager.invoke_confirm(self, event)
        return self.execute(context)

    def execute(self, context):
        SESSION.release_backend(context)
        self.report({'INFO'}, "SyncHuman: backend released")
        return {'FINISHED'}


class SYNCHUMAN_OT_dismiss(bpy.types.Operator):
    """Clear the last job's message from the panel"""

    bl_idname = "synchuman.dismiss"
    bl_label = "Dismiss"
    bl_options = {'INTERNAL'}

    def execute(self, context):
        state = context.window_manager.synchuman_job
        if state.status in ('DONE', 'FAILED', 'CANCELLED'):
            state.status = 'IDLE'
        state.error_code = state.error_message = state.error_hint = state.error_log = ""
        return {'FINISHED'}


class SYNCHUMAN_OT_report(bpy.types.Operator):
    """Report a message in the Info log (used by the job timer, which has no operator of its own)"""

    bl_idname = "synchuman.report"
    bl_label = "SyncHuman Report"
    bl_options = {'INTERNAL'}

    level: EnumProperty(items=[(k, k, "") for k in ('INFO', 'WARNING', 'ERROR')], default='INFO')
    message: StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {'FINISHED'}


def diagnostics_text(context) -> str:
    """Everything a bug report needs, as plain text."""
    prefs = get_prefs(context)
    python, source = resolve_backend_python(prefs)
    state = context.window_manager.synchuman_job
    client = SESSION.client
    lines = [
        "SyncHuman for Blender — diagnostics",
        f"extension: {ADDON_ID} {_extension_version()} (protocol {PROTOCOL_VERSION})",
        f"blender: {bpy.app.version_string} ({'background' if bpy.app.background else 'UI'})",
        f"blender python: {sys.version.split()[0]} on {platform.platform()}",
        f"backend python: {python or '(none)'} [{source}]",
        f"weights folder: {prefs.weights_dir or '(backend default)'}",
        f"device / precision / memory: {prefs.device} / {prefs.precision} / {prefs.memory_mode}",
        f"start on demand: {prefs.start_on_demand}",
        f"results folder: {job_output_dir(context)}",
        f"backend: {state.backend_state} pid={state.backend_pid or '-'} version={state.backend_version or '?'}",
        f"engines: {state.backend_engines or '?'}",
        f"device (backend): {state.backend_device or '?'}",
        f"last job: {state.status} {state.job_id} {state.photo_name} stage={state.stage_label!r} "
        f"fraction={state.fraction:.2f}",
    ]
    if state.error_code:
        lines.append(f"last error: [{state.error_code}] {state.error_message} — {state.error_hint}")
    if client is not None:
        diag = client.diagnostics()
        lines.append(f"command: {' '.join(diag['command'])}")
        lines.append(f"log file: {diag['log_path']}")
        lines.append("last log lines:")
        lines.extend("  " + line for line in diag["log_tail"])
    return "\n".join(lines)


def _extension_version() -> str:
    from . import EXTENSION_VERSION

    return EXTENSION_VERSION


class SYNCHUMAN_OT_copy_diagnostics(bpy.types.Operator):
    """Copy versions, paths, backend state and its last log lines to the clipboard, for a bug report"""

    bl_idname = "synchuman.copy_diagnostics"
    bl_label = "Copy Diagnostics"
    bl_options = {'REGISTER'}

    def execute(self, context):
        text = diagnostics_text(context)
        context.window_manager.clipboard = text
        self.report({'INFO'}, f"SyncHuman: diagnostics copied ({len(text.splitlines())} lines)")
        return {'FINISHED'}


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
            imported = importer.import_human(context, self.filepath,
                                             height_m=self.height_m if self.height_m > 0 else None,
                                             name=self.name or None, photo_label=self.photo_label)
        except importer.ImportFailed as exc:
            self.report({'ERROR'}, f"SyncHuman: {exc}")
            return {'CANCELLED'}
        SESSION.last_import = imported
        if self.mark_asset or self.library_dir:
            self._make_asset(context, imported)
        self.report({'INFO'}, f"SyncHuman: imported {imported.object.name} "
                              f"({len(imported.object.data.polygons):,} faces) in {imported.seconds:.2f} s")
        return {'FINISHED'}

    def _make_asset(self, context, imported) -> None:
        obj = imported.object
        photo = str(obj.get(importer.PROP_PREFIX + "photo", ""))
        engine = obj.get(importer.PROP_PREFIX + "engine", "")
        if photo and engine:
            description = (f"Reconstructed by SyncHuman from {os.path.basename(photo)} "
                           f"({engine} engine, seed {obj.get(importer.PROP_PREFIX + 'seed', 0)})")
        else:
            description = f"SyncHuman result imported from {os.path.basename(self.filepath)}"
        assets.mark_as_asset(
            obj, catalog_path=self.catalog, tags=self.tags.split(","), author="SyncHuman",
            library_dir=self.library_dir, description=description,
            preview_from=photo if photo and os.path.isfile(photo) else "")
        if self.library_dir:
            path = assets.write_library_blend(obj, self.library_dir, obj.name, self.catalog)
            obj[importer.PROP_PREFIX + "library_file"] = path
        elif self.catalog and not assets.catalog_folder():
            self.report({'WARNING'}, f"SyncHuman: catalog '{self.catalog}' is assigned but not written: save "
                                     "the .blend (or set a library folder) so Blender can list it")

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


def generated_views_path(obj) -> str:
    """The images the engine generated for a result: the synchuman engine's sheet of the 5 colour and
    5 normal views (views/concat.png), else the preview engine's front render (views/front.png);
    "" when the job folder is not on this machine."""
    glb = str(obj.get(importer.PROP_PREFIX + "glb", "")) if obj is not None else ""
    if not glb:
        return ""
    folder = os.path.join(os.path.dirname(glb), "views")
    return next((os.path.join(folder, n) for n in ("concat.png", "front.png")
                 if os.path.isfile(os.path.join(folder, n))), "")


class SYNCHUMAN_OT_show_views(bpy.types.Operator):
    """Show the images the engine generated for the active human (its multiview colour and normal images, or \
the preview engine's front render) in an Image Editor"""

    bl_idname = "synchuman.show_views"
    bl_label = "Show Generated Views"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or not obj.get(importer.PROP_PREFIX + "generated"):
            cls.poll_message_set("Select a human made by SyncHuman")
            return False
        if not generated_views_path(obj):
            cls.poll_message_set("Its job folder (views/) is no longer on this machine")
            return False
        return True

    def execute(self, context):
        obj = context.active_object
        path = generated_views_path(obj)
        image = bpy.data.images.load(path, check_existing=True)
        editors = [a for a in (context.screen.areas if context.screen else ()) if a.type == 'IMAGE_EDITOR']
        for area in editors[:1]:
            area.spaces.active.image = image
        where = "in the Image Editor" if editors else "(open an Image Editor to see it)"
        self.report({'INFO'}, f"SyncHuman: {image.name} ({image.size[0]}x{image.size[1]}) loaded {where}")
        return {'FINISHED'}


def menu_import(self, context):
    self.layout.operator(SYNCHUMAN_OT_import_result.bl_idname, text="SyncHuman result (.glb)")


classes = (
    SYNCHUMAN_OT_reconstruct,
    SYNCHUMAN_OT_cancel,
    SYNCHUMAN_OT_start_backend,
    SYNCHUMAN_OT_release_backend,
    SYNCHUMAN_OT_dismiss,
    SYNCHUMAN_OT_report,
    SYNCHUMAN_OT_copy_diagnostics,
    SYNCHUMAN_OT_import_result,
    SYNCHUMAN_OT_show_views,
)
