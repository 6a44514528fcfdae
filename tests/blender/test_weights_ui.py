"""The weights box of the preferences: verify status, the online-access gate of Download, and a
download that fails offline showing the backend's error and hint. The backend's real command line
runs as a subprocess."""

from __future__ import annotations

import bpy
import pytest


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


def test_weights_task_cancel_stops_the_process(ext, empty_weights, backend):
    task = ext.weights.WeightsTask(backend, "verify", str(empty_weights))
    task.cancel()
    task.thread.join(60)
    assert task.process.poll() is not None
