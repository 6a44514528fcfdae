"""Reconstruct Human through the real backend subprocess (preview engine on the CPU): the
blocking path used headless, the timer-driven path used in the UI (its callback is called by
the test, because timers never fire headless), cancel, a killed backend, and a bad photo."""

from __future__ import annotations

import hashlib
import os
import signal

import bpy
import numpy as np
import pytest

from blender_helpers import fake_service, pump_until, start_job_with, world_vertices

HEIGHT = 1.68


def _scene_counts():
    return (len(bpy.data.objects), len(bpy.data.collections), len(bpy.data.meshes), len(bpy.data.materials),
            len(bpy.data.images))


def _check_human(ext, obj, photo, height=HEIGHT, cursor=(0.0, 0.0, 0.0)):
    v = world_vertices(obj)
    assert v[:, 2].min() == pytest.approx(cursor[2], abs=1e-4)
    assert v[:, 2].max() - v[:, 2].min() == pytest.approx(height, rel=1e-3)
    assert (v[:, 0].min() + v[:, 0].max()) / 2 == pytest.approx(cursor[0], abs=1e-3)
    assert (v[:, 1].min() + v[:, 1].max()) / 2 == pytest.approx(cursor[1], abs=1e-3)
    # Standing (tallest along Z) and facing -Y: a person is wider across the shoulders (X)
    # than from front to back (Y).
    extent = v.max(axis=0) - v.min(axis=0)
    assert extent[2] > extent[0] > extent[1]
    assert len(obj.data.polygons) > 100
    material = obj.active_material
    bsdf = next(n for n in material.node_tree.nodes if n.type == 'BSDF_PRINCIPLED')
    assert bsdf.inputs["Metallic"].default_value == 0.0 and not bsdf.inputs["Metallic"].is_linked
    image = bsdf.inputs["Base Color"].links[0].from_node.image
    assert image.packed_file is not None and min(image.size) >= 64
    assert obj.data.uv_layers, "the texture needs UVs"
    assert obj["synchuman_photo"] == str(photo)
    assert obj["synchuman_photo_sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert obj["synchuman_engine"] == "preview"
    assert obj["synchuman_job_id"] == bpy.context.window_manager.synchuman_job.job_id
    assert obj["synchuman_backend_version"] and obj["synchuman_seed"] == 0
    assert obj.users_collection[0].name == photo.stem
    # Rigged by default: the one other object is its armature, in the same collection, binding it.
    others = [o for o in bpy.data.objects if o.type != 'MESH']
    assert [o.type for o in others] == ['ARMATURE'] and obj.parent == others[0]
    assert others[0].users_collection[0] == obj.users_collection[0] and obj.modifiers[0].object == others[0]


def test_reconstruct_blocking_imports_the_human(settings, ext, photo):
    settings.photo_path = str(photo)
    settings.height_m = HEIGHT
    bpy.context.scene.cursor.location = (0.5, -1.0, 0.0)
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_job
    assert state.status == 'DONE' and state.fraction == 1.0 and state.stage_count > 1
    assert state.backend_state == 'READY' and state.backend_version
    obj = bpy.data.objects[state.result_object]
    _check_human(ext, obj, photo, cursor=(0.5, -1.0, 0.0))

    # the engine's front render, for comparison with the photo
    assert bpy.context.view_layer.objects.active == obj
    assert bpy.ops.synchuman.show_views() == {'FINISHED'}
    front = next(i for i in bpy.data.images if i.filepath.endswith("front.png"))
    assert front.size[0] > 64 and front.size[1] > 64
    # the preview engine also renders the person from the side and from behind
    assert bpy.ops.synchuman.show_views(view='ALL') == {'FINISHED'}
    loaded = {os.path.basename(i.filepath): i for i in bpy.data.images if i.filepath}
    assert {"front.png", "pose.png", "side.png", "back.png"} <= set(loaded)
    assert loaded["back.png"].size[1] > 64 and loaded["side.png"].size[0] < loaded["back.png"].size[0]
    glb = obj["synchuman_glb"]
    obj["synchuman_glb"] = os.path.join(os.path.dirname(glb), "moved", "human.glb")  # job folder gone
    assert not bpy.ops.synchuman.show_views.poll()
    obj["synchuman_glb"] = glb
    bpy.context.view_layer.objects.active = None
    assert not bpy.ops.synchuman.show_views.poll()
    assert os.path.isfile(state.result_glb)
    assert state.result_glb.startswith(os.environ["BLENDER_USER_RESOURCES"])  # the extension's user folder


def test_what_a_good_job_warns_about_is_kept_and_shown(settings, ext, photo, tmp_path):
    """A photo whose alpha channel is useless still reconstructs; the backend's warning reaches the panel."""
    source = bpy.data.images.load(str(photo))
    w, h = source.size
    pixels = np.empty(w * h * 4, dtype=np.float32)
    source.pixels.foreach_get(pixels)
    pixels.reshape(-1, 4)[:, 3] = 1 / 255
    faded = tmp_path / "faded.png"
    image = bpy.data.images.new("faded", w, h, alpha=True)
    image.pixels.foreach_set(pixels)
    image.filepath_raw = str(faded)
    image.file_format = 'PNG'
    image.save()
    for im in (source, image):
        bpy.data.images.remove(im)

    settings.photo_path = str(faded)
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_job
    assert state.status == 'DONE'
    assert "fully transparent" in state.result_notes

    settings.photo_path = str(photo)
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}
    assert state.status == 'DONE' and state.result_notes == ""


def test_reconstruct_async_through_the_timer(settings, ext, photo):
    session = ext.jobs.SESSION
    session.force_blocking = False      # the UI path
    session.stall_probe = []
    settings.photo_path = str(photo)
    settings.height_m = HEIGHT
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}   # returns at once
    state = bpy.context.window_manager.synchuman_job
    assert state.status in ('STARTING', 'RUNNING')
    assert bpy.app.timers.is_registered(ext.pump.tick)
    seen = []

    def done():
        seen.append((state.fraction, state.stage_label))
        return state.status in ('DONE', 'FAILED')

    pump_until(session, done)
    assert state.status == 'DONE', (state.error_code, state.error_message)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and len(set(fractions)) >= 3
    assert len({label for _, label in seen}) >= 3
    _check_human(ext, bpy.data.objects[state.result_object], photo)
    assert session.on_timer() == ext.jobs.IDLE_INTERVAL_S, "idle: it only watches the backend, slowly"
    while_running = [seconds for seconds, imported in session.stall_probe if not imported]
    print(f"\ntimer callback while the job ran: max {1000 * max(while_running):.2f} ms over "
          f"{len(while_running)} calls")
    assert max(while_running) < 0.1

    # A backend that dies while idle is reported too, with its last log lines.
    os.kill(session.client.pid, signal.SIGKILL)
    pump_until(session, lambda: state.backend_state == 'DEAD', timeout=30)
    assert "stopped unexpectedly" in state.backend_message and state.backend_log
    assert session.on_timer() is None, "nothing left to watch: the timer stops itself"


def test_cancel_reaches_the_backend_and_leaves_nothing(settings, ext, photo):
    session = ext.jobs.SESSION
    session.force_blocking = False
    settings.photo_path = str(photo)
    settings.texture_size = '4096'   # a longer job, so the cancel surely lands while it runs
    before = _scene_counts()
    jobs_dir = ext.preferences.job_output_dir()
    results_before = sorted(os.listdir(jobs_dir))
    bpy.ops.synchuman.reconstruct()
    state = bpy.context.window_manager.synchuman_job
    pump_until(session, lambda: state.status == 'RUNNING' and state.fraction > 0)
    assert bpy.ops.synchuman.cancel() == {'FINISHED'}
    assert state.status == 'CANCELLING'
    pump_until(session, lambda: state.status not in ('RUNNING', 'CANCELLING'), timeout=60)
    assert state.status == 'CANCELLED'
    assert _scene_counts() == before
    assert sorted(os.listdir(jobs_dir)) == results_before, "no result and no partial job folder"
    assert session.client.is_running(), "a cancel stops the job, not the backend"


def test_killed_backend_is_reported_and_the_next_job_restarts_it(settings, ext, photo):
    session = ext.jobs.SESSION
    session.force_blocking = False
    settings.photo_path = str(photo)
    settings.texture_size = '4096'   # a longer job, so the kill surely lands while it runs
    bpy.ops.synchuman.reconstruct()
    state = bpy.context.window_manager.synchuman_job
    pump_until(session, lambda: state.status == 'RUNNING' and state.fraction > 0)
    first_pid = session.client.pid
    os.kill(first_pid, signal.SIGKILL)
    pump_until(session, lambda: state.status == 'FAILED', timeout=30)
    assert state.error_code == "backend.exited"
    assert "stopped unexpectedly" in state.error_message and "next job" in state.error_hint
    assert state.error_log, "the panel shows the backend's last log lines"
    assert state.backend_state == 'DEAD'
    assert not [o for o in bpy.data.objects]

    session.force_blocking = None   # the blocking path restarts it as well
    settings.texture_size = '256'
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}
    assert state.status == 'DONE' and state.backend_state == 'READY'
    assert session.client.pid != first_pid


def test_bad_photo_shows_the_backends_error(settings, ext, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing of the sort")
    settings.photo_path = str(bad)
    with pytest.raises(RuntimeError, match=r"input\.unreadable"):
        bpy.ops.synchuman.reconstruct()
    state = bpy.context.window_manager.synchuman_job
    assert state.status == 'FAILED' and state.error_code == "input.unreadable"
    assert "holiday.png" in state.error_message and state.error_hint
    assert not list(bpy.data.objects)


def test_images_inside_the_blend_are_written_for_the_backend(settings, ext, tmp_path):
    from synchuman_blender.request import resolve_photo  # noqa: PLC0415

    generated = bpy.data.images.new("Painted Person", 16, 32)
    generated.pixels.foreach_set(np.ones(16 * 32 * 4, dtype=np.float32))
    settings.source = 'IMAGE'
    settings.image = generated
    path, label, name = resolve_photo(bpy.context, settings)
    assert os.path.isfile(path) and path.endswith(".png") and name == "Painted Person"
    assert path.startswith(os.environ["BLENDER_USER_RESOURCES"])
    assert generated.filepath == "" and "Painted Person" in label  # the artist's image is untouched

    on_disk = tmp_path / "photo.png"
    generated.filepath_raw = str(on_disk)
    generated.file_format = 'PNG'
    generated.save()
    loaded = bpy.data.images.load(str(on_disk))
    loaded.pack()
    settings.image = loaded
    path, label, _ = resolve_photo(bpy.context, settings)
    assert open(path, "rb").read() == on_disk.read_bytes() and "packed" in label
    loaded.unpack(method='REMOVE')
    settings.image = loaded
    assert resolve_photo(bpy.context, settings)[0] == str(on_disk)   # a plain file is sent as it is


def test_start_and_release_the_backend_from_the_preferences(ext):
    state = bpy.context.window_manager.synchuman_job
    assert bpy.ops.synchuman.start_backend() == {'FINISHED'}   # background: waits for its info
    assert state.backend_state == 'READY' and state.backend_pid > 0
    assert "preview ✓" in state.backend_engines and "synchuman ✗" in state.backend_engines
    assert state.backend_device.startswith("cpu") and state.backend_weights.startswith("missing")
    assert not bpy.ops.synchuman.start_backend.poll()           # already running
    client = ext.jobs.SESSION.client
    assert bpy.ops.synchuman.release_backend() == {'FINISHED'}
    assert state.backend_state == 'STOPPED' and not client.is_running() and client.returncode == 0
    assert not bpy.ops.synchuman.release_backend.poll()


def test_a_backend_that_ignores_cancel_is_killed_after_the_grace(ext, tmp_path):
    """A backend stuck in one long call (e.g. a GPU kernel) cannot check its cancel token."""
    stuck = fake_service(tmp_path, """
if msg["type"] == "reconstruct":
    print(json.dumps({"type": "accepted", "job": msg["job"], "position": 0}), flush=True)
    print(json.dumps({"type": "progress", "job": msg["job"], "stage": "geometry", "stage_label": "Stuck",
                      "stage_index": 0, "stage_count": 1, "step": 0, "total": 1, "fraction": 0.1,
                      "message": "", "elapsed_s": 0.0}), flush=True)
    time.sleep(120)
""", name="stuck-python")
    bpy.context.preferences.addons["synchuman_blender"].preferences.cancel_grace_s = 1.0
    state = start_job_with(ext, stuck, tmp_path)
    session = ext.jobs.SESSION
    pump_until(session, lambda: state.status == 'RUNNING' and state.fraction > 0, timeout=30)
    bpy.ops.synchuman.cancel()
    pump_until(session, lambda: state.status == 'CANCELLED', timeout=30)
    assert state.backend_state == 'STOPPED' and not session.client.is_running()
    assert not list(bpy.data.objects)


def test_an_engine_without_weights_says_how_to_fix_it(settings, ext, photo):
    settings.photo_path = str(photo)
    settings.engine = 'synchuman'      # the session's weights folder is empty
    with pytest.raises(RuntimeError, match=r"engine\.unavailable"):
        bpy.ops.synchuman.reconstruct()
    state = bpy.context.window_manager.synchuman_job
    assert state.error_code == "engine.unavailable" and "weights" in state.error_message
    assert "synchuman weights" in state.error_hint or "--engine preview" in state.error_hint
