"""How backend events change the job state shown in the panel (`WindowManager.synchuman_job`).

Main thread only (jobs.Session calls these); the state is runtime data, never saved in a .blend.
"""

from __future__ import annotations

from .client import DEAD, READY, STARTING, STOPPED

LOG_LINES_SHOWN = 12


def job_state(context):
    wm = getattr(context, "window_manager", None)
    return getattr(wm, "synchuman_job", None) if wm is not None else None


def reset(state, job_id: str, name: str, starting: bool) -> None:
    state.status = 'STARTING' if starting else 'RUNNING'
    state.job_id = job_id
    state.photo_name = name
    state.stage = ""
    state.stage_label = "Starting the backend" if starting else "Sending the job"
    state.stage_index = 0
    state.stage_count = 0
    state.step = 0
    state.total = 0
    state.fraction = 0.0
    state.message = ""
    state.queue_position = 0
    state.elapsed_s = 0.0
    state.error_code = state.error_message = state.error_hint = state.error_log = ""
    state.result_collection = state.result_object = state.result_glb = state.result_notes = ""


def apply_progress(state, event: dict) -> None:
    if state.status not in ('CANCELLING',):
        state.status = 'RUNNING'
    state.stage = str(event.get("stage", ""))
    state.stage_label = str(event.get("stage_label", ""))
    state.stage_index = int(event.get("stage_index", 0))
    state.stage_count = int(event.get("stage_count", 0))
    state.step = float(event.get("step", 0))
    state.total = float(event.get("total", 0))
    state.fraction = min(max(float(event.get("fraction", 0.0)), 0.0), 1.0)
    state.message = str(event.get("message", ""))[:200]


def apply_info(state, event: dict) -> None:
    engines = event.get("engines") or {}
    parts = []
    for name, entry in engines.items():
        if isinstance(entry, dict):
            parts.append(f"{name} ✓" if entry.get("available") else f"{name} ✗")
    if parts:
        state.backend_engines = ", ".join(parts)
    device = event.get("device") or {}
    if device:
        if device.get("cuda_available"):
            text = f"cuda · {device.get('cuda_device', '?')} ({device.get('cuda_memory_gb', '?')} GB)"
        else:
            text = f"cpu · {device.get('cpu_count', '?')} cores"
        state.backend_device = text
    weights = event.get("weights") or {}
    if weights:
        if weights.get("present"):
            state.backend_weights = f"present in {weights.get('dir', '?')}"
        else:
            fix = f" — {weights['fix']}" if weights.get("fix") else ""
            state.backend_weights = f"missing in {weights.get('dir', '?')}{fix}"


def apply_backend_state(state, event: dict) -> None:
    new = event["state"]
    state.backend_state = new
    if new == STARTING:
        state.backend_pid = int(event.get("pid") or 0)
        state.backend_message = "Starting…"
    elif new == READY:
        state.backend_version = str(event.get("version", ""))
        if not state.backend_engines:
            state.backend_engines = ", ".join(event.get("engines", []))
        state.backend_message = ""
        state.backend_log = ""
    elif new == DEAD:
        error = event.get("error") or {}
        state.backend_message = error.get("message", "The backend stopped unexpectedly.")
        state.backend_log = "\n".join(event.get("log_tail", [])[-LOG_LINES_SHOWN:])
        state.backend_pid = 0
    elif new == STOPPED:
        state.backend_message = ""
        state.backend_pid = 0



def set_done(state, glb: str, imported, elapsed_s: float, notes: list[str]) -> None:
    state.status = 'DONE'
    state.fraction = 1.0
    state.stage_label = "Done"
    state.message = ""
    state.elapsed_s = elapsed_s
    state.result_glb = glb
    state.result_collection = imported.collection.name
    state.result_object = imported.object.name
    state.result_notes = "\n".join(notes)


def set_ended(state, event: dict, elapsed_s: float | None) -> None:
    """A job that ended without a result: cancelled, or failed with the backend's code, message and hint."""
    cancelled = event.get("code") == "job.cancelled"
    state.status = 'CANCELLED' if cancelled else 'FAILED'
    state.stage_label = "Cancelled" if cancelled else "Failed"
    state.error_code = "" if cancelled else str(event.get("code", ""))
    state.error_message = "" if cancelled else str(event.get("message", ""))
    state.error_hint = "" if cancelled else str(event.get("hint", ""))
    tail = (event.get("details") or {}).get("log_tail") or []
    state.error_log = "" if cancelled else "\n".join(tail[-LOG_LINES_SHOWN:])
    if elapsed_s is not None:
        state.elapsed_s = elapsed_s
