"""Everything the extension draws: the "SyncHuman" tab in the 3D viewport's sidebar and the
add-on preferences (with the backend status and the weights box)."""

from __future__ import annotations

import textwrap
import time

import bpy

from . import backend_setup, weights
from .importer import PROP_PREFIX
from .jobs import SESSION
from .operators import (SYNCHUMAN_OT_cancel, SYNCHUMAN_OT_copy_diagnostics, SYNCHUMAN_OT_dismiss,
                        SYNCHUMAN_OT_reconstruct, SYNCHUMAN_OT_release_backend, SYNCHUMAN_OT_start_backend,
                        reconstruct_blocker)
from .preferences import ADDON_ID, PreferenceProperties, resolve_backend_python
from .request import editor_image
from .results import SYNCHUMAN_OT_show_views


def wrapped(layout, text: str, context=None, icon: str = 'NONE', width_px: int = 0) -> None:
    """Labels cannot wrap, so long messages are split to the region's width."""
    region = getattr(context, "region", None) if context is not None else None
    width = width_px or (region.width if region is not None else 300)
    scale = bpy.context.preferences.system.ui_scale or 1.0  # 0 in background runs
    chars = max(20, int(width / (7.0 * scale)))
    first = True
    for paragraph in text.splitlines() or [""]:
        for line in textwrap.wrap(paragraph, chars) or [""]:
            layout.label(text=line, icon=icon if first else 'BLANK1' if icon != 'NONE' else 'NONE')
            first = False


def format_elapsed(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def draw_backend_status(layout, context) -> None:
    """Status line with Start / Release / Copy diagnostics; shared by the panel and preferences."""
    state = context.window_manager.synchuman_job
    icons = {'STOPPED': 'RADIOBUT_OFF', 'STARTING': 'SORTTIME', 'READY': 'CHECKMARK', 'DEAD': 'ERROR'}
    label = {'STOPPED': "not running", 'STARTING': "starting", 'READY': "ready",
             'DEAD': "stopped unexpectedly"}[state.backend_state]
    if state.backend_state == 'READY' and state.backend_version:
        label += f" (synchuman {state.backend_version})"
    col = layout.column(align=True)
    col.label(text=f"Backend: {label}", icon=icons[state.backend_state])
    if state.backend_engines:
        col.label(text=f"Engines: {state.backend_engines}", icon='BLANK1')
    if state.backend_device:
        col.label(text=f"Device: {state.backend_device}", icon='BLANK1')
    if state.backend_weights:
        wrapped(col, f"Weights: {state.backend_weights}", context, icon='BLANK1')
    if state.backend_state == 'DEAD':
        box = layout.box()
        wrapped(box, state.backend_message or "The backend stopped unexpectedly.", context, icon='ERROR')
        if state.backend_log:
            log = box.column(align=True)
            log.scale_y = 0.7
            for line in state.backend_log.splitlines()[-8:]:
                log.label(text=line[:120])
        box.label(text="The next job starts it again.", icon='INFO')
    row = layout.row(align=True)
    row.operator(SYNCHUMAN_OT_start_backend.bl_idname, icon='PLAY')
    row.operator(SYNCHUMAN_OT_release_backend.bl_idname, icon='CANCEL')
    layout.operator(SYNCHUMAN_OT_copy_diagnostics.bl_idname, icon='COPYDOWN')


def draw_job(layout, context, state) -> None:
    """Stage, overall progress, step counter, elapsed time and Cancel of the running job."""
    box = layout.box()
    if state.stage_count:
        title = f"[{state.stage_index + 1}/{state.stage_count}] {state.stage_label}"
    else:
        title = state.stage_label or "Starting"
    box.label(text=f"{state.photo_name}: {title}", icon='SORTTIME')
    box.progress(factor=state.fraction, type='BAR', text=f"{100 * state.fraction:.0f}%")
    row = box.row()
    if state.total > 1:
        row.label(text=f"Step {state.step:g}/{state.total:g}")
    job = SESSION.job  # its start time is a Python float; Blender float properties are 32-bit
    elapsed = time.time() - job.started_at if hasattr(job, "started_at") else state.elapsed_s
    row.label(text=f"Elapsed {format_elapsed(elapsed)}")
    if state.message:
        wrapped(box.column(), state.message, context)
    row = box.row()
    row.scale_y = 1.3
    row.enabled = state.status != 'CANCELLING'
    row.operator(SYNCHUMAN_OT_cancel.bl_idname, icon='CANCEL',
                 text="Cancelling…" if state.status == 'CANCELLING' else "Cancel")


def draw_outcome(layout, context, state) -> None:
    """How the last job ended: the backend's message and hint (and log lines) on failure."""
    if state.status == 'FAILED':
        box = layout.box()
        box.alert = True
        wrapped(box.column(), f"{state.error_message}", context, icon='ERROR')
        if state.error_hint:
            wrapped(box.column(), state.error_hint, context, icon='INFO')
        if state.error_log:
            log = box.column(align=True)
            log.scale_y = 0.7
            for line in state.error_log.splitlines()[-8:]:
                log.label(text=line[:120])
        row = box.row(align=True)
        row.label(text=state.error_code)
        row.operator(SYNCHUMAN_OT_copy_diagnostics.bl_idname, text="", icon='COPYDOWN')
        row.operator(SYNCHUMAN_OT_dismiss.bl_idname, text="", icon='X')
    elif state.status == 'DONE':
        row = layout.row(align=True)
        row.label(text=f"Imported {state.result_object} in {format_elapsed(state.elapsed_s)}",
                  icon='CHECKMARK')
        row.operator(SYNCHUMAN_OT_dismiss.bl_idname, text="", icon='X')
        for note in state.result_notes.splitlines():
            wrapped(layout.column(), note, context, icon='INFO')
    elif state.status == 'CANCELLED':
        row = layout.row(align=True)
        row.label(text="Cancelled; nothing was imported", icon='INFO')
        row.operator(SYNCHUMAN_OT_dismiss.bl_idname, text="", icon='X')


class SYNCHUMAN_PT_main(bpy.types.Panel):
    bl_label = "SyncHuman"
    bl_idname = "SYNCHUMAN_PT_main"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "SyncHuman"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.synchuman
        state = context.window_manager.synchuman_job

        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.row().prop(settings, "source", expand=True)
        if settings.source == 'FILE':
            col.prop(settings, "photo_path", text="Photo")
        elif settings.source == 'IMAGE':
            col.template_ID(settings, "image", open="image.open")
        else:
            image = editor_image(context)
            col.label(text=image.name if image else "No Image Editor shows an image",
                      icon='IMAGE_DATA' if image else 'INFO')
        col.separator()
        col.prop(settings, "engine")
        col.prop(settings, "seed")
        col.prop(settings, "height_m")
        col.prop(settings, "texture_size")
        col.prop(settings, "max_faces")
        if settings.engine != 'preview':
            col.prop(settings, "stage1_steps")
            col.prop(settings, "stage2_steps")
        col.prop(settings, "use_person_box")
        if settings.use_person_box:  # which person, when the photo shows several
            col.prop(settings, "person_box", text="Box X0 Y0 X1 Y1")

        running = SESSION.busy()
        if not running:
            row = layout.row()
            row.scale_y = 1.6
            row.operator(SYNCHUMAN_OT_reconstruct.bl_idname, icon='OUTLINER_OB_ARMATURE')
            reason = reconstruct_blocker(context)
            if reason:  # say why the button is disabled, not only in its tooltip
                wrapped(layout.column(), reason, context, icon='INFO')
        else:
            draw_job(layout, context, state)
        draw_outcome(layout, context, state)
        obj = context.active_object
        if obj is not None and obj.get(PROP_PREFIX + "generated"):
            row = layout.row(align=True)
            row.operator(SYNCHUMAN_OT_show_views.bl_idname, icon='IMAGE_DATA')
            row.operator_menu_enum(SYNCHUMAN_OT_show_views.bl_idname, "view", text="", icon='DOWNARROW_HLT')


class SwitchedSubpanel:
    """A sub-panel of the main one: its header checkbox (`switch`) turns on what its `fields` set."""

    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "SyncHuman"
    bl_parent_id = "SYNCHUMAN_PT_main"
    switch = ""
    fields: tuple[str, ...] = ()

    def draw_header(self, context):
        self.layout.prop(context.scene.synchuman, self.switch, text="")

    def draw(self, context):
        settings = context.scene.synchuman
        col = self.layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.active = getattr(settings, self.switch)
        for name in self.fields:
            col.prop(settings, name)


class SYNCHUMAN_PT_rig(SwitchedSubpanel, bpy.types.Panel):
    bl_label = "Rig"
    bl_idname = "SYNCHUMAN_PT_rig"
    switch = "rig"
    fields = ("rest_pose", "rig_names")


class SYNCHUMAN_PT_asset(SwitchedSubpanel, bpy.types.Panel):
    bl_label = "Asset"
    bl_idname = "SYNCHUMAN_PT_asset"
    bl_options = {'DEFAULT_CLOSED'}
    switch = "mark_asset"
    fields = ("asset_catalog", "asset_tags", "library_dir")


class SYNCHUMAN_PT_backend(bpy.types.Panel):
    bl_label = "Backend"
    bl_idname = "SYNCHUMAN_PT_backend"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "SyncHuman"
    bl_parent_id = "SYNCHUMAN_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        draw_backend_status(self.layout, context)


def draw_weights(layout, context) -> None:
    """The Weights box of the preferences."""
    state = context.window_manager.synchuman_weights
    box = layout.box()
    box.label(text="Model Weights", icon='FILE_BLEND')
    if state.busy == "download":
        box.progress(factor=state.fraction, text=f"Downloading {state.file or '…'}")
        box.operator(weights.SYNCHUMAN_OT_weights_cancel.bl_idname, icon='CANCEL')
    elif state.busy:
        box.label(text="Checking…", icon='TIME')
    elif state.checked:
        box.label(text=f"{state.folder}: {state.summary}", icon='CHECKMARK' if state.present else 'ERROR')
        if state.fix and not state.present:
            box.label(text=f"Fix: {state.fix}")
    elif state.summary:
        box.label(text=state.summary, icon='INFO')
    if state.error_code:
        box.label(text=f"{state.error_code}: {state.error_message}", icon='ERROR')
        if state.error_hint:
            box.label(text=state.error_hint)
    row = box.row()
    row.operator(weights.SYNCHUMAN_OT_weights_verify.bl_idname, icon='VIEWZOOM')
    row.operator(weights.SYNCHUMAN_OT_weights_download.bl_idname, icon='IMPORT')
    if not weights.online_access_allowed():
        box.label(text="Downloading needs Allow Online Access (Preferences › System)", icon='INFO')


def draw_backend_setup(layout, context, prefs) -> None:
    """The Install Backend box: install / progress with Cancel / the error and its fix / Repair and Remove."""
    state = context.window_manager.synchuman_backend_setup
    box = layout.box()
    box.label(text="Bundled Backend", icon='PACKAGE')
    marker = backend_setup.installed()
    if state.busy:
        done = max(0, state.step_index - 1) / state.step_count if state.step_count else 0.0
        box.progress(factor=done, text=f"[{state.step_index}/{state.step_count}] {state.step_label}")
        box.label(text=f"Elapsed {format_elapsed(time.monotonic() - state.started)}", icon='TIME')
        box.operator(backend_setup.SYNCHUMAN_OT_backend_setup_cancel.bl_idname, icon='CANCEL')
        return
    if state.error_code:
        wrapped(box, f"{state.error_code} at step {state.error_step or '?'}: {state.error_message}", context,
                icon='ERROR')
        wrapped(box, f"Fix: {state.error_hint}", context, icon='BLANK1')
        box.label(text=f"Log: {state.log_path}", icon='BLANK1')   # whole, so it can be copied
    if marker:
        wrapped(box, state.summary or f"Installed: synchuman {marker.get('backend_version', '?')}, torch "
                f"{marker.get('torch', '?')} ({str(marker.get('flavour', '')).upper()})", context, icon='CHECKMARK')
    box.prop(prefs, "backend_flavour")
    if weights.online_access_allowed():
        row = box.row()
        install = backend_setup.SYNCHUMAN_OT_backend_install.bl_idname
        row.operator(install, text="Repair" if marker else "Install Backend", icon='FILE_REFRESH' if marker else 'IMPORT')
        if marker:
            row.operator(backend_setup.SYNCHUMAN_OT_backend_remove.bl_idname, text="Remove", icon='TRASH')
    else:
        wrapped(box, "Installing needs Allow Online Access (Preferences › System). Offline: run "
                "python -m synchuman_blender.setup_backend --target FOLDER --find-links WHEELS "
                "and set Backend Python below (docs/blender.md).", context, icon='INFO')
        if marker:
            box.operator(backend_setup.SYNCHUMAN_OT_backend_remove.bl_idname, text="Remove", icon='TRASH')
    box.prop(prefs, "base_python")
    box.prop(prefs, "wheels_dir")
    if marker:
        draw_weights(box, context)   # the next step of the path: install, weights, reconstruct


class SYNCHUMAN_AP_preferences(PreferenceProperties, bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    def draw(self, context):
        layout = self.layout
        draw_backend_setup(layout, context, self)
        draw_backend_status(layout.box(), context)
        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(self, "backend_python")
        path, source = resolve_backend_python(self)
        if not self.backend_python:
            col.label(text=f"Using {path} ({source})" if path else "No interpreter found: set one",
                      icon='INFO' if path else 'ERROR')
        col.prop(self, "weights_dir")
        if backend_setup.installed() is None:   # else it is drawn in the Bundled Backend box
            draw_weights(col, context)
        for name in ("device", "precision", "memory_mode", "start_on_demand", "output_dir", "cancel_grace_s"):
            col.prop(self, name)


preference_classes = (SYNCHUMAN_AP_preferences,)
classes = (SYNCHUMAN_PT_main, SYNCHUMAN_PT_rig, SYNCHUMAN_PT_asset, SYNCHUMAN_PT_backend)
