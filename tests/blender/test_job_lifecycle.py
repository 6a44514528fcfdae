"""What happens around a job: Release while it runs, a result that arrives after Cancel, the
backend stopped when Blender exits, and the generated views of a job folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import bpy
import numpy as np
import pytest

from blender_helpers import ROOT, fake_service, make_person_glb, pump_until, start_job_with


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_release_while_a_job_runs_cancels_it_and_stops_the_backend(settings, ext, photo):
    session = ext.jobs.SESSION
    session.force_blocking = False
    settings.photo_path = str(photo)
    settings.texture_size = '4096'   # a longer job, so the release surely lands while it runs
    jobs_dir = ext.preferences.job_output_dir()
    results_before = sorted(os.listdir(jobs_dir))
    bpy.ops.synchuman.reconstruct()
    state = bpy.context.window_manager.synchuman_job
    pump_until(session, lambda: state.status == 'RUNNING' and state.fraction > 0)
    pid = session.client.pid
    assert bpy.ops.synchuman.release_backend() == {'FINISHED'}   # headless: no confirmation dialog
    pump_until(session, lambda: state.status not in ('RUNNING', 'CANCELLING'), timeout=60)
    assert state.status == 'CANCELLED' and state.error_code == "" and not session.busy()
    pump_until(session, lambda: state.backend_state != 'READY', timeout=30)   # its exit comes after the job's end
    assert state.backend_state == 'STOPPED' and not session.client.is_running()
    assert _gone(pid)
    assert not list(bpy.data.objects)
    assert sorted(os.listdir(jobs_dir)) == results_before, "no result and no partial job folder"


FINISHES_DESPITE_CANCEL = """
if msg["type"] == "reconstruct":
    job = msg["job"]
    print(json.dumps({"type": "accepted", "job": job, "position": 0}), flush=True)
    print(json.dumps({"type": "progress", "job": job, "stage": "export", "stage_label": "Export",
                      "stage_index": 0, "stage_count": 1, "step": 0, "total": 1, "fraction": 0.9,
                      "message": "", "elapsed_s": 0.0}), flush=True)
elif msg["type"] == "cancel":   # too late: the job had already finished
    print(json.dumps({"type": "result", "job": msg["job"], "job_dir": "", "glb": GLB, "views": {},
                      "metadata": {}}), flush=True)
"""


def test_a_result_that_arrives_after_cancel_is_not_imported(ext, tmp_path):
    glb = make_person_glb(str(tmp_path / "human.glb"))
    python = fake_service(tmp_path, FINISHES_DESPITE_CANCEL.replace("GLB", repr(glb)))
    state = start_job_with(ext, python, tmp_path)
    session = ext.jobs.SESSION
    pump_until(session, lambda: state.fraction == pytest.approx(0.9), timeout=30)
    bpy.ops.synchuman.cancel()
    pump_until(session, lambda: state.status == 'CANCELLED', timeout=30)
    assert not list(bpy.data.objects) and not list(bpy.data.meshes)
    assert session.client.is_running(), "the backend itself stays"


EXITS_WITH_A_BACKEND = """
import os, sys
os.environ["BLENDER_USER_RESOURCES"] = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import bpy, addon_utils
addon_utils.enable("synchuman_blender", default_set=True)
bpy.context.preferences.addons["synchuman_blender"].preferences.backend_python = sys.argv[3]
assert bpy.ops.synchuman.start_backend() == {'FINISHED'}
print("BACKEND", bpy.context.window_manager.synchuman_job.backend_pid, flush=True)
sys.stdout.close()   # then exit with the extension still enabled, as when Blender quits
"""

# Busy in one long call, it notices neither a closed stdin nor its parent's end: only the
# extension's own shutdown request (or its kill) ends it.
DEAF_BACKEND = """
if msg["type"] == "info":
    print(json.dumps({"type": "info", "id": msg["id"]}), flush=True)
elif msg["type"] == "shutdown":
    sys.exit(0)
"""


def test_the_backend_stops_when_blender_exits(tmp_path):
    """bpy disables the add-ons at exit (unregister stops the backend); the extension's atexit hook
    is the backstop. Without both, the deaf backend below outlives Blender and this fails."""
    script = tmp_path / "exit_with_backend.py"
    script.write_text(textwrap.dedent(EXITS_WITH_A_BACKEND))
    deaf = fake_service(tmp_path, DEAF_BACKEND, at_eof="time.sleep(90)\n", name="deaf-python")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "user"), str(ROOT), deaf],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pid = 0
    try:
        line = proc.stdout.readline()
        assert line.startswith("BACKEND "), proc.stderr.read()[-2000:] if proc.poll() is not None else line
        pid = int(line.split()[1])
        assert pid > 0
        deadline = time.monotonic() + 30
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(pid), "the backend outlived Blender"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # bpy itself may hang at exit; bounded here
        proc.wait(30)
        if pid and not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def _write_png(path, rgb):
    image = bpy.data.images.new(os.path.basename(path), 8, 4)
    pixels = np.empty((4, 8, 4), dtype=np.float32)
    pixels[...] = (*rgb, 1.0)
    image.pixels.foreach_set(pixels.ravel())
    image.filepath_raw = str(path)
    image.file_format = 'PNG'
    image.save()
    bpy.data.images.remove(image)


def test_show_generated_views_offers_every_view_the_engine_wrote(ext, tmp_path):
    job = tmp_path / "anna"
    (job / "views").mkdir(parents=True)
    glb = make_person_glb(str(job / "human.glb"))
    assert bpy.ops.synchuman.import_result(filepath=glb) == {'FINISHED'}
    obj = bpy.context.view_layer.objects.active
    assert obj is not None and obj.get("synchuman_generated")
    assert not bpy.ops.synchuman.show_views.poll(), "no views/ images yet"
    for name in ("concat", "front", "pose", "side", "back"):
        _write_png(job / "views" / f"{name}.png", (0.2, 0.4, 0.6))

    items = ext.results._view_items(None, bpy.context)
    assert [key for key, *_ in items] == ["ALL", "concat", "front", "pose", "side", "back"]
    assert bpy.ops.synchuman.show_views(view='ALL') == {'FINISHED'}
    loaded = {os.path.basename(i.filepath) for i in bpy.data.images if i.filepath}
    assert {"concat.png", "front.png", "pose.png", "side.png", "back.png"} <= loaded

    for image in [i for i in bpy.data.images if i.filepath]:
        bpy.data.images.remove(image)
    assert bpy.ops.synchuman.show_views(view='pose') == {'FINISHED'}
    assert [os.path.basename(i.filepath) for i in bpy.data.images if i.filepath] == ["pose.png"]

    (job / "views" / "side.png").unlink()     # only what exists is offered
    assert [key for key, *_ in ext.results._view_items(None, bpy.context)] == \
        ["ALL", "concat", "front", "pose", "back"]
