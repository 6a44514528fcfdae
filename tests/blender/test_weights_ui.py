"""The weights box of the preferences: verify status, the online-access gate of Download, and a
download that fails offline showing the backend's error and hint. The backend's real command line
runs as a subprocess."""

from __future__ import annotations

import bpy
import pytest

from blender_helpers import fake_python, pump_steps
from hub_fixture import serve_hub
from synchuman_blender.runner import BackendProcess


@pytest.fixture
def empty_weights(ext, tmp_path):
    prefs = bpy.context.preferences.addons[ext.__name__].preferences
    prefs.weights_dir = str(tmp_path)
    return tmp_path


def test_verify_shows_what_is_missing_and_the_fix(ext, empty_weights):
    assert bpy.ops.synchuman.weights_verify() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_weights
    assert state.checked and not state.present and state.busy == ""
    assert state.missing == 10  # every component of an empty folder
    assert state.fix == f"synchuman weights download --dir {empty_weights}"


def test_download_needs_online_access(ext, empty_weights):
    assert bpy.app.online_access is False  # the bpy module's setting
    assert not bpy.ops.synchuman.weights_download.poll()
    with pytest.raises(RuntimeError, match="Allow Online Access"):
        bpy.ops.synchuman.weights_download()


def test_download_offline_reports_the_backend_error(ext, empty_weights, monkeypatch):
    monkeypatch.setattr(ext.weights, "online_access_allowed", lambda: True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # inherited by the backend: no network attempt at all
    assert bpy.ops.synchuman.weights_download.poll()
    with pytest.raises(RuntimeError, match="Cannot reach huggingface.co"):  # the ERROR report, raised in scripts
        bpy.ops.synchuman.weights_download()
    state = bpy.context.window_manager.synchuman_weights
    assert state.error_code == "weights.offline" and "SYNCHUMAN_WEIGHTS" in state.error_hint
    assert state.busy == ""
    assert not list(empty_weights.iterdir())  # nothing half-downloaded


def test_download_cancel_ends_a_download_that_blocks(ext, empty_weights, monkeypatch):
    """The backend's real download, from a loopback hub whose file never finishes: only a cancel
    that really ends the process can end it. The part already fetched stays for the resume."""
    monkeypatch.setattr(ext.weights, "online_access_allowed", lambda: True)
    monkeypatch.setattr(ext.weights, "blocking", lambda: False)  # the UI path: the timer applies events
    state = bpy.context.window_manager.synchuman_weights
    first = 1 << 20  # the backend's read size: its first progress event needs this much
    with serve_hub({"ckpts/OneStage/big.bin": bytes(range(256)) * (3 * first // 256)},
                   stall=("ckpts/OneStage/big.bin",), stall_after=first) as (url, _hits):
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert bpy.ops.synchuman.weights_download() == {'FINISHED'}
        task = ext.weights.TASKS.task
        assert state.busy == "download"
        pump_steps(ext, lambda: state.fraction > 0, timeout=60)
        assert state.file == "ckpts/OneStage/big.bin" and state.fraction == pytest.approx(1 / 3)
        assert bpy.ops.synchuman.weights_cancel.poll()
        assert bpy.ops.synchuman.weights_cancel() == {'FINISHED'}
        pump_steps(ext, lambda: state.busy == "", timeout=30)
    assert not task.process.alive() and task.cancelled
    assert state.summary.startswith("download cancelled") and state.error_code == ""
    assert (empty_weights / "ckpts/OneStage/big.bin.part").stat().st_size == first
    assert not (empty_weights / "ckpts/OneStage/big.bin").exists()
    assert ext.pump.tick() is None, "nothing left to watch"


def test_bad_output_never_stalls_the_weights_box(ext, empty_weights, tmp_path):
    """Stray text, a broken JSON line and the status document spread over lines: the reader keeps
    going and the status arrives."""
    prefs = bpy.context.preferences.addons[ext.__name__].preferences
    prefs.backend_python = fake_python(tmp_path, """
        print("Some library says hello", flush=True)
        print('{"type": "download", "file": "a", "done": ', flush=True)   # cut short
        print(json.dumps({"type": "download", "file": "a.bin", "done": 5, "total": 10}), flush=True)
        print(json.dumps({"dir": "/w", "present": True, "missing": [], "fix": "",
                          "components": [{"component": "x", "status": "ok"}]}, indent=2), flush=True)
    """)
    assert bpy.ops.synchuman.weights_verify() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_weights
    assert state.busy == "" and state.checked and state.present and state.folder == "/w"
    assert state.file == "a.bin" and state.fraction == 0.5 and state.error_code == ""


def test_a_crash_mid_document_is_an_error_not_a_stuck_task(ext, empty_weights, tmp_path):
    prefs = bpy.context.preferences.addons[ext.__name__].preferences
    prefs.backend_python = fake_python(tmp_path, """
        print(json.dumps({"type": "download", "file": "a.bin", "done": "many", "total": 10}), flush=True)
        print("{", flush=True)
        print('  "dir": "/w",', flush=True)
        print("Traceback: disk full", file=sys.stderr, flush=True)
        sys.exit(3)
    """)
    assert bpy.ops.synchuman.weights_verify() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_weights
    assert state.busy == "" and not state.checked
    # the malformed event is named, and the task still ended
    assert state.error_code == "weights.bad_output" and "many" in state.error_message
    assert not bpy.ops.synchuman.weights_cancel.poll()


def test_command_task_reader_survives_a_failing_consumer(tmp_path):
    """A consumer that raises on a message: the reader logs it, keeps reading, and still reports the end."""
    script = fake_python(tmp_path, """
        for i in range(3):
            print(json.dumps({"type": "n", "i": i}), flush=True)
    """)
    seen, ends, log = [], [], []

    def consume(message):
        if message["i"] == 1:
            raise KeyError("boom")
        seen.append(message["i"])

    process = BackendProcess([script], on_message=consume, on_exit=ends.append, on_log=log.append, with_stdin=False)
    assert process.exited.wait(30)
    assert seen == [0, 2] and ends == [0]
    assert any("boom" in line for line in log)
