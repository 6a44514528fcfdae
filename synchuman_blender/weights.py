"""The weights folder in the preferences: its verify status and a cancellable Download.

Both are the backend's own command line (`synchuman weights verify|download --json`) run as a
runner.CommandTask; the one main-thread timer (pump.py) applies its messages. Headless (timers
never fire) the operator waits for the task and applies them itself. The download reaches the
internet, so it is offered only when Blender's "Allow Online Access" is on.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import pump
from .preferences import backend_config, backend_problem

PUMP_NAME = "weights"
STEP_INTERVAL_S = 0.2
CANCEL_GRACE_S = 5.0


def online_access_allowed() -> bool:
    """Blender's "Allow Online Access". A Blender that does not have the setting (older than 4.2)
    counts as not allowed: nothing is downloaded without the artist's consent. It is False in the
    bpy module; tests replace this function."""
    return bool(getattr(bpy.app, "online_access", False))


def weights_command(python: str, action: str, weights_dir: str) -> list[str]:
    cmd = [python, "-m", "synchuman", "weights", action, "--json"]
    if weights_dir:
        cmd += ["--dir" if action == "download" else "--weights", weights_dir]
    return cmd


def blocking() -> bool:
    """Whether start() waits for the task (timers never fire in background runs; tests replace this)."""
    return bpy.app.background


class SYNCHUMAN_PG_weights(bpy.types.PropertyGroup):
    checked: BoolProperty()
    present: BoolProperty()
    folder: StringProperty()
    missing: IntProperty()
    fix: StringProperty()
    summary: StringProperty()
    busy: StringProperty()               # "", "verify" or "download"
    file: StringProperty()
    fraction: FloatProperty(min=0.0, max=1.0)
    error_code: StringProperty()
    error_message: StringProperty()
    error_hint: StringProperty()


def _state():
    return bpy.context.window_manager.synchuman_weights


def _apply(state, event: dict) -> None:
    kind = event.get("type")
    if kind == "download":
        state.file = str(event.get("file", ""))
        total = event.get("total") or 0
        state.fraction = min(1.0, float(event.get("done", 0)) / total) if total else 0.0
    elif kind == "error":
        state.error_code, state.error_message = str(event.get("code", "")), str(event.get("message", ""))
        state.error_hint = str(event.get("hint", ""))
    elif kind is None and "dir" in event:  # the closing status document of verify and download
        components = event.get("components") or []
        # an optional component (the background-removal model) may be absent, never damaged
        absent_optional = [c for c in components if c.get("optional") and c.get("status") == "missing"]
        bad = [c for c in components if c.get("status") != "ok" and c not in absent_optional]
        state.checked, state.folder = True, str(event.get("dir", ""))
        state.present = bool(event.get("present")) and not bad
        state.missing = len(bad) if components else len(event.get("missing", []))
        state.fix = str(event.get("fix", ""))
        state.summary = ("complete and matching" + (
            " (no background-removal model: photos without alpha use the classical cut-out)"
            if absent_optional else "") if state.present else f"{state.missing} component(s) missing or damaged")
    elif kind == "task.finished":
        state.busy = ""
        if event.get("cancelled"):
            state.summary = "download cancelled (it resumes next time)"
        elif event.get("returncode") and not state.error_code and not state.checked:
            state.error_code = "weights.failed"
            state.error_message = "\n".join(event.get("log_tail") or [])[-300:] or \
                f"The weights command exited with code {event.get('returncode')}."
            state.error_hint = "Check that the Backend Python has the backend installed (`python -m synchuman info`)."


def _bad_event(event: dict, exc: Exception) -> None:
    state = _state()
    state.error_code, state.error_message = "weights.bad_output", f"{exc}: {str(event)[:200]}"
    state.error_hint = "The backend and the extension may not match: install matching versions."


TASKS = pump.TaskSlot(PUMP_NAME, lambda event: _apply(_state(), event), _bad_event, lambda: blocking(),
                      STEP_INTERVAL_S, CANCEL_GRACE_S)


def start(action: str, context) -> None:
    config = backend_config(context)
    state = context.window_manager.synchuman_weights
    state.busy, state.file, state.fraction, state.checked = action, "", 0.0, False
    state.error_code = state.error_message = state.error_hint = ""
    TASKS.start(weights_command(config.python, action, config.weights_dir), f"synchuman-weights-{action}")


def stop() -> None:
    TASKS.stop()


def _can_start(operator_class, context) -> bool:
    """A weights task needs a configured backend and no other task running; says why not."""
    problem = backend_problem(context) or ("Busy" if TASKS.task is not None else None)
    if problem:
        operator_class.poll_message_set(problem)
    return problem is None


class SYNCHUMAN_OT_weights_verify(bpy.types.Operator):
    bl_idname = "synchuman.weights_verify"
    bl_label = "Verify Weights"
    bl_description = "Check that every weight file is present and matches the networks (nothing is loaded)"

    @classmethod
    def poll(cls, context):
        return _can_start(cls, context)

    def execute(self, context):
        start("verify", context)
        return {'FINISHED'}


class SYNCHUMAN_OT_weights_download(bpy.types.Operator):
    bl_idname = "synchuman.weights_download"
    bl_label = "Download Weights"
    bl_description = "Download the SyncHuman weights (about 9 GB; resumes an interrupted download)"

    @classmethod
    def poll(cls, context):
        if not online_access_allowed():
            cls.poll_message_set("Enable Allow Online Access in Preferences › System to download")
            return False
        return _can_start(cls, context)

    def execute(self, context):
        start("download", context)
        state = context.window_manager.synchuman_weights
        if state.error_code:
            self.report({'ERROR'}, f"{state.error_message} {state.error_hint}".strip())
        return {'FINISHED'}


class SYNCHUMAN_OT_weights_cancel(pump.CancelTaskOperator, bpy.types.Operator):
    bl_idname = "synchuman.weights_cancel"
    bl_label = "Cancel Download"
    bl_description = "Stop the download; it resumes where it stopped next time"
    slot = TASKS
    nothing_running = "No download is running"


classes = (SYNCHUMAN_PG_weights, SYNCHUMAN_OT_weights_verify, SYNCHUMAN_OT_weights_download,
           SYNCHUMAN_OT_weights_cancel)


def register_properties():
    bpy.types.WindowManager.synchuman_weights = bpy.props.PointerProperty(type=SYNCHUMAN_PG_weights)


def unregister_properties():
    stop()
    del bpy.types.WindowManager.synchuman_weights
