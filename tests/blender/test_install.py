"""The extension as users get it: build.py's `package` step makes the zip (validated with
Blender's own tool), `extensions.package_install_files` installs it into the temporary
BLENDER_USER_RESOURCES, and its operators run from bl_ext.user_default.synchuman_blender."""

from __future__ import annotations

import os
from pathlib import Path

import addon_utils
import bpy
import pytest

from blender_helpers import INSTALLED, make_person_glb


def test_built_zip_installs_and_runs(installed, backend, tmp_path, monkeypatch):
    module = installed
    extension_dir = Path(module.__file__).parent
    assert (extension_dir / "blender_manifest.toml").is_file()
    assert extension_dir.is_relative_to(os.environ["BLENDER_USER_RESOURCES"])

    # Writable files go to the extension's user folder, not into the extension.
    jobs_dir = Path(module.preferences.user_dir("jobs"))
    assert jobs_dir.is_relative_to(os.environ["BLENDER_USER_RESOURCES"]) and extension_dir not in jobs_dir.parents
    assert ".user" in jobs_dir.parts or "extensions" in jobs_dir.parts

    # Installed from a zip there is no project .venv next to it: the poll says what to do.
    prefs = bpy.context.preferences.addons[INSTALLED].preferences   # looked up by __package__
    prefs.backend_python = ""
    monkeypatch.delenv("SYNCHUMAN_BACKEND_PYTHON", raising=False)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    bpy.context.scene.synchuman.photo_path = str(bad)
    assert not bpy.ops.synchuman.reconstruct.poll()
    assert "Backend not configured" in module.operators.reconstruct_blocker(bpy.context)

    # Configured, the operator runs through the real backend and reports its error.
    prefs.backend_python = backend
    assert bpy.ops.synchuman.reconstruct.poll()
    with pytest.raises(RuntimeError, match=r"input\.unreadable"):
        bpy.ops.synchuman.reconstruct()
    state = bpy.context.window_manager.synchuman_job
    assert state.error_code == "input.unreadable" and state.backend_state == 'READY'

    # The import operator of the installed module works too.
    glb = make_person_glb(tmp_path / "someone.glb")
    assert bpy.ops.synchuman.import_result(filepath=glb, height_m=1.5) == {'FINISHED'}
    assert bpy.data.objects["someone"].dimensions.z == pytest.approx(1.5, rel=1e-4)

    client = module.jobs.SESSION.client
    addon_utils.disable(INSTALLED, default_set=True)   # disabling stops the backend
    assert client.state == "STOPPED" and client.returncode is not None
