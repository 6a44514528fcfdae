"""Install Backend, Repair and Remove in the preferences: the bundled backend set up in a virtual
environment in the extension's user folder, one click, with per-step progress and Cancel.

The work is setup_backend.py (standard library only) run with Blender's own interpreter through
the extension's one runner (runner.CommandTask, held by a pump.TaskSlot like the weights
download). Its JSON lines say each step; this module applies them on the main thread. The backend
is never installed into Blender's Python, and nothing here imports torch.
"""

from __future__ import annotations

import os
import sys
import time

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import pump, setup_backend, weights
from .jobs import SESSION
from .preferences import BACKEND_SETUP_DIR, get_prefs, user_dir

PUMP_NAME = "backend_setup"
STEP_INTERVAL_S = 0.2
CANCEL_GRACE_S = 60.0   # the set-up deletes its unfinished environment before it exits


def setup_dir() -> str:
    """Where the environment lives: the extension's user folder (kept across extension updates)."""
    return user_dir(BACKEND_SETUP_DIR)


def installed() -> dict | None:
    return setup_backend.read_marker(setup_dir())


def blocking() -> bool:
    """Whether the install waits for its end (timers never fire in background runs; tests replace this)."""
    return bpy.app.background


class SYNCHUMAN_PG_backend_setup(bpy.types.PropertyGroup):
    busy: StringProperty()             # "", "install" or "remove"
    step_label: StringProperty()
    step_index: IntProperty()
    step_count: IntProperty()
    started: FloatProperty()           # time.monotonic() at the start, for the elapsed time
    summary: StringProperty()
    done: BoolProperty()
    error_code: StringProperty()
    error_message: StringProperty()
    error_hint: StringProperty()
    error_step: StringProperty()
    log_path: StringProperty()


def _state():
    return bpy.context.window_manager.synchuman_backend_setup


def _apply(event: dict) -> None:
    state = _state()
    kind = event.get("type")
    if kind == "setup.step":
        state.step_label, state.step_index = str(event["label"]), int(event["index"])
        state.step_count = int(event["count"])
    elif kind == "error":
        state.error_code, state.error_message = str(event.get("code", "")), str(event.get("message", ""))
        state.error_hint, state.error_step = str(event.get("hint", "")), str(event.get("step", ""))
        state.log_path = str(event.get("log", ""))
    elif kind == "setup.done":
        get_prefs().backend_python = str(event["python"])   # the backend path is set for the artist
        state.done, state.log_path = True, str(event.get("log", ""))
        state.summary = (f"Installed synchuman {event.get('backend_version', '?')} with torch {event.get('torch', '?')} "
                         f"({str(event.get('flavour', '')).upper()}) in {float(event.get('seconds', 0)):.0f} s")
        _start_backend()
    elif kind == "setup.removed":
        prefs = get_prefs()
        if prefs.backend_python and os.path.realpath(prefs.backend_python).startswith(os.path.realpath(setup_dir())):
            prefs.backend_python = ""
        state.done, state.summary = False, "Backend removed"
    elif kind == "task.finished":
        state.busy = ""
        if event.get("returncode") and not state.error_code:
            state.error_code = "setup.cancelled" if event.get("cancelled") else "setup.failed"
            state.error_message = "\n".join(event.get("log_tail") or [])[-300:] or \
                f"The set-up exited with code {event.get('returncode')}."
            state.error_hint = "Read the log, then press Repair."


def _start_backend() -> None:
    """Starts the new backend so the status box shows it ready (headless: the next job starts it)."""
    if bpy.app.background:
        return
    try:
        SESSION.start_backend(bpy.context)
    except OSError as exc:
        _state().summary += f" (could not start it: {exc})"


def _bad_event(event: dict, exc: Exception) -> None:
    state = _state()
    state.error_code, state.error_message = "setup.bad_output", f"{exc}: {str(event)[:200]}"
    state.error_hint = "The set-up script and the extension do not match: reinstall the extension."


TASKS = pump.TaskSlot(PUMP_NAME, _apply, _bad_event, lambda: blocking(), STEP_INTERVAL_S, CANCEL_GRACE_S)


def start(action: str, context) -> None:
    state = context.window_manager.synchuman_backend_setup
    state.busy, state.step_label, state.step_index, state.step_count = action, "Starting", 0, 0
    state.started, state.done, state.summary = time.monotonic(), False, ""
    state.error_code = state.error_message = state.error_hint = state.error_step = ""
    state.log_path = os.path.join(setup_dir(), setup_backend.LOG_NAME)
    SESSION.shutdown()   # a running backend may live in the environment about to be replaced or removed
    prefs = get_prefs(context)
    # Blender's own interpreter runs the set-up script (standard library only); it makes the venv too
    # when it can, else the script looks for a Python 3.11 on the system.
    argv = setup_backend.command(sys.executable, setup_dir(), prefs.backend_flavour, action=action,
                                 find_links=bpy.path.abspath(prefs.wheels_dir) if prefs.wheels_dir else "",
                                 base_python=bpy.path.abspath(prefs.base_python) if prefs.base_python else "")
    TASKS.start(argv, f"synchuman-setup-{action}")


def stop() -> None:
    TASKS.stop()


def _idle(operator_class) -> bool:
    if TASKS.task is not None:
        operator_class.poll_message_set("The backend set-up is busy")
        return False
    return True


class SYNCHUMAN_OT_backend_install(bpy.types.Operator):
    bl_idname = "synchuman.backend_install"
    bl_label = "Install Backend"
    bl_description = ("Create the backend's own Python environment in the extension's user folder and install "
                      "the bundled backend with its pinned packages (about 3 GB; needs Allow Online Access)")

    @classmethod
    def poll(cls, context):
        if not weights.online_access_allowed():
            cls.poll_message_set("Enable Allow Online Access in Preferences › System, or install offline "
                                 "(python -m synchuman_blender.setup_backend --find-links WHEELS)")
            return False
        return _idle(cls)

    def execute(self, context):
        start("install", context)
        state = context.window_manager.synchuman_backend_setup
        if state.error_code and not state.busy:
            self.report({'ERROR'}, f"{state.error_code}: {state.error_message} {state.error_hint} "
                                   f"(log: {state.log_path})")
        return {'FINISHED'}


class SYNCHUMAN_OT_backend_remove(bpy.types.Operator):
    bl_idname = "synchuman.backend_remove"
    bl_label = "Remove Backend"
    bl_description = "Delete the installed backend environment (the weights and results stay)"

    @classmethod
    def poll(cls, context):
        if installed() is None:
            cls.poll_message_set("No installed backend")
            return False
        return _idle(cls)

    def execute(self, context):
        start("remove", context)
        return {'FINISHED'}


class SYNCHUMAN_OT_backend_setup_cancel(pump.CancelTaskOperator, bpy.types.Operator):
    bl_idname = "synchuman.backend_setup_cancel"
    bl_label = "Cancel Install"
    bl_description = "Stop the install; its unfinished environment is deleted"
    slot = TASKS
    nothing_running = "No install is running"


classes = (SYNCHUMAN_PG_backend_setup, SYNCHUMAN_OT_backend_install, SYNCHUMAN_OT_backend_remove,
           SYNCHUMAN_OT_backend_setup_cancel)


def register_properties():
    bpy.types.WindowManager.synchuman_backend_setup = bpy.props.PointerProperty(type=SYNCHUMAN_PG_backend_setup)


def unregister_properties():
    stop()
    del bpy.types.WindowManager.synchuman_backend_setup
