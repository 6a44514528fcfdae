"""The weights folder in the preferences: its verify status and a cancellable Download.

Both run the backend's own command line (`synchuman weights verify|download --json`) as a subprocess
read on a worker thread; a timer applies its lines on the main thread (the thread never touches bpy).
Headless (timers never fire) the same task runs to the end before the operator returns. The download
reaches the internet, so it is offered only when Blender's "Allow Online Access" is on.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from .preferences import backend_config, backend_problem


def online_access_allowed() -> bool:
    """Blender's "Allow Online Access" (always False in the bpy module; tests replace this function)."""
    return bool(getattr(bpy.app, "online_access", True))


class WeightsTask:
    """One `synchuman weights ...` run: JSON lines into a queue; `cancel()` ends the process
    (an interrupted download resumes next time)."""

    def __init__(self, python: str, action: str, weights_dir: str):
        cmd = [python, "-m", "synchuman", "weights", action, "--json"]
        if weights_dir:
            cmd += ["--dir" if action == "download" else "--weights", weights_dir]
        self.action = action
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith("{") and line.endswith("}") and '"type"' in line[:20]:
                self.events.put(json.loads(line))  # progress and error lines
            else:
                self._stdout.append(line)          # the final status document (indented JSON)
        self.process.wait()
        text = "\n".join(self._stdout).strip()
        status = None
        if text.startswith("{"):
            try:
                status = json.loads(text)
            except ValueError:
                status = None
        self.events.put({"type": "finished", "code": self.process.returncode, "status": status,
                         "stderr": "".join(self._stderr[-20:])})

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()


_TASK: WeightsTask | None = None


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


def _apply(event: dict) -> None:
    state = _state()
    kind = event.get("type")
    if kind == "download":
        state.file = event.get("file", "")
        total = event.get("total") or 0
        state.fraction = min(1.0, event.get("done", 0) / total) if total else 0.0
    elif kind == "error":
        state.error_code, state.error_message = event.get("code", ""), event.get("message", "")
        state.error_hint = event.get("hint", "")
    elif kind == "finished":
        status = event.get("status")
        if status:
            components = status.get("components") or []
            # an optional component (the background-removal model) may be absent, never damaged
            absent_optional = [c for c in components if c.get("optional") and c.get("status") == "missing"]
            bad = [c for c in components if c.get("status") != "ok" and c not in absent_optional]
            state.checked, state.folder = True, status.get("dir", "")
            state.present = bool(status.get("present")) and not bad
            state.missing = len(bad) if components else len(status.get("missing", []))
            state.fix = status.get("fix", "")
            state.summary = ("complete and matching" + (
                " (no background-removal model: photos without alpha use the classical cut-out)"
                if absent_optional else "") if state.present else f"{state.missing} component(s) missing or damaged")
        elif event.get("code") and not state.error_code:
            state.error_code, state.error_message = "weights.failed", event.get("stderr", "")[-300:]
        state.busy = ""


def _drain() -> float | None:
    """The timer: applies the task's lines; stops when the task has finished."""
    global _TASK
    task = _TASK
    if task is None:
        return None
    while True:
        try:
            event = task.events.get_nowait()
        except queue.Empty:
            return 0.2
        _apply(event)
        if event["type"] == "finished":
            _TASK = None
            return None


def start(action: str, context) -> None:
    global _TASK
    config = backend_config(context)
    state = context.window_manager.synchuman_weights
    state.busy, state.file, state.fraction = action, "", 0.0
    state.error_code = state.error_message = state.error_hint = ""
    _TASK = WeightsTask(config.python, action, config.weights_dir)
    if bpy.app.background:  # timers never fire: finish here
        _TASK.thread.join()
        while _drain() is not None:
            pass
    elif not bpy.app.timers.is_registered(_drain):
        bpy.app.timers.register(_drain, first_interval=0.2)


def stop() -> None:
    """Cancels a running task (on unregister too)."""
    global _TASK
    if _TASK is not None:
        _TASK.cancel()
        _TASK = None
    if bpy.app.timers.is_registered(_drain):
        bpy.app.timers.unregister(_drain)


def _can_start(operator_class, context) -> bool:
    """A weights task needs a configured backend and no other task running; says why not."""
    problem = backend_problem(context) or ("Busy" if _TASK is not None else None)
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


class SYNCHUMAN_OT_weights_cancel(bpy.types.Operator):
    bl_idname = "synchuman.weights_cancel"
    bl_label = "Cancel Download"
    bl_description = "Stop the download; it resumes where it stopped next time"

    @classmethod
    def poll(cls, context):
        return _TASK is not None

    def execute(self, context):
        stop()
        state = context.window_manager.synchuman_weights
        state.busy, state.summary = "", "download cancelled (it resumes next time)"
        return {'FINISHED'}


def draw(layout, context) -> None:
    """The Weights box of the preferences."""
    state = context.window_manager.synchuman_weights
    box = layout.box()
    box.label(text="Model Weights", icon='FILE_BLEND')
    if state.busy == "download":
        box.progress(factor=state.fraction, text=f"Downloading {state.file or '…'}")
        box.operator(SYNCHUMAN_OT_weights_cancel.bl_idname, icon='CANCEL')
    elif state.busy:
        box.label(text="Checking…", icon='TIME')
    elif state.checked:
        box.label(text=f"{state.folder}: {state.summary}", icon='CHECKMARK' if state.present else 'ERROR')
        if state.fix and not state.present:
            box.label(text=f"Fix: {state.fix}")
    if state.error_code:
        box.label(text=f"{state.error_code}: {state.error_message}", icon='ERROR')
        if state.error_hint:
            box.label(text=state.error_hint)
    row = box.row()
    row.operator(SYNCHUMAN_OT_weights_verify.bl_idname, icon='VIEWZOOM')
    row.operator(SYNCHUMAN_OT_weights_download.bl_idname, icon='IMPORT')
    if not online_access_allowed():
        box.label(text="Downloading needs Allow Online Access (Preferences › System)", icon='INFO')


classes = (SYNCHUMAN_PG_weights, SYNCHUMAN_OT_weights_verify, SYNCHUMAN_OT_weights_download,
           SYNCHUMAN_OT_weights_cancel)


def register_properties():
    bpy.types.WindowManager.synchuman_weights = bpy.props.PointerProperty(type=SYNCHUMAN_PG_weights)


def unregister_properties():
    stop()
    del bpy.types.WindowManager.synchuman_weights
