"""Operators of the job and the backend: reconstruct, cancel, start/release the backend, diagnostics.
(Importing and showing results: results.py; the weights: weights.py.)"""

from __future__ import annotations

import platform
import sys

import bpy
from bpy.props import EnumProperty, StringProperty

from .client import READY
from .jobs import SESSION
from .preferences import ADDON_ID, backend_problem, get_prefs, job_output_dir, resolve_backend_python
from .protocol import EXTENSION_VERSION, PROTOCOL_VERSION
from .request import build_request, photo_problem


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
    box = settings.person_box
    if settings.use_person_box and not (box[2] > box[0] and box[3] > box[1]):
        return "The person box needs X1 > X0 and Y1 > Y0 (photo pixels), or turn Use Person Box off"
    problem = backend_problem(context)
    if problem:
        return problem
    if not get_prefs(context).start_on_demand:
        client = SESSION.client
        if client is None or client.state != READY:
            return "Start the backend first (Preferences › Add-ons › SyncHuman; start on demand is off)"
    return None


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
        f"extension: {ADDON_ID} {EXTENSION_VERSION} (protocol {PROTOCOL_VERSION})",
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


classes = (
    SYNCHUMAN_OT_reconstruct,
    SYNCHUMAN_OT_cancel,
    SYNCHUMAN_OT_start_backend,
    SYNCHUMAN_OT_release_backend,
    SYNCHUMAN_OT_dismiss,
    SYNCHUMAN_OT_report,
    SYNCHUMAN_OT_copy_diagnostics,
)
