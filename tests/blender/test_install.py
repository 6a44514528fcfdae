"""The extension as users get it: build.py's `package` step makes the zip (validated with
Blender's own tool), `extensions.package_install_files` installs it into the temporary
BLENDER_USER_RESOURCES, and its operators run from bl_ext.user_default.synchuman_blender."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import addon_utils
import bpy
import pytest

from blender_helpers import PACKAGE, ROOT, make_person_glb

INSTALLED = f"bl_ext.user_default.{PACKAGE}"


def build_zip() -> Path:
    """Runs build.py's package command with this interpreter's bpy wheel. Its environment
    set-up is skipped: it would pip-install into the shared .venv, and this process already
    has what packaging needs (Blender's extension tool)."""
    spec = importlib.util.spec_from_file_location("_synchuman_build_for_test", ROOT / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.setup = lambda with_tests=False: Path(sys.executable)
    assert build.cmd_package() == 0
    manifest_version = next(line.split('"')[1] for line in (ROOT / "blender_manifest.toml").read_text().splitlines()
                            if line.startswith("version"))
    zip_path = ROOT / "dist" / f"{PACKAGE}-{manifest_version}.zip"
    assert zip_path.is_file()
    return zip_path


@pytest.fixture
def installed(backend):
    zip_path = build_zip()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert PACKAGE not in bpy.context.preferences.addons   # the checkout's copy is not enabled
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                      enable_on_install=True)
    try:
        assert result == {'FINISHED'}
        assert INSTALLED in bpy.context.preferences.addons
        yield sys.modules[INSTALLED]
    finally:
        addon_utils.disable(INSTALLED, default_set=True)
        repos = [r.module for r in bpy.context.preferences.extensions.repos]
        bpy.ops.extensions.package_uninstall(repo_index=repos.index("user_default"), pkg_id=PACKAGE)
        assert INSTALLED not in bpy.context.preferences.addons


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
