"""bpy test set-up for the Blender extension.

Every test starts from factory settings with the extension enabled through addon_utils (so its
preferences exist, as in a real Blender) and always disables it afterwards: a class left
registered makes bpy 4.5 hang at exit and 4.2 crash. BLENDER_USER_RESOURCES points to a
temporary folder so nothing touches the user's Blender config. The backend runs as a real
subprocess from $SYNCHUMAN_BACKEND_PYTHON or the project's .venv; the session conftest one
level up gives it an empty weights folder, so `auto` means the CPU `preview` engine.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Before bpy is imported: Blender reads it when it starts.
_USER_RESOURCES = tempfile.mkdtemp(prefix="synchuman-blender-tests-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES

try:
    import bpy
except ImportError as exc:  # in CI a missing bpy is a broken set-up, not a reason to skip the suite
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise RuntimeError(f"CI is set but bpy does not import ({exc}); install it (build.py setup)") from exc
    pytest.skip(f"bpy does not import ({exc}); the Blender suite needs it", allow_module_level=True)
import addon_utils  # noqa: E402  (only importable once bpy is)

from blender_helpers import INSTALLED, PACKAGE, ROOT, build_zip  # noqa: E402  (this folder is on sys.path)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
EXAMPLE_PHOTO = ROOT / "backend" / "synchuman" / "data" / "examples" / "person.png"
FAST_SETTINGS = {"texture_size": "256", "max_faces": 5000}   # keep real backend jobs short on 2 cores


def backend_python() -> str:
    found = os.environ.get("SYNCHUMAN_BACKEND_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    return found if os.path.isfile(found) else ""


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_USER_RESOURCES, ignore_errors=True)


@pytest.fixture(scope="session")
def backend() -> str:
    python = backend_python()
    if not python:
        pytest.skip("no backend interpreter: set SYNCHUMAN_BACKEND_PYTHON or create .venv")
    return python


@pytest.fixture(scope="session")
def photo() -> Path:
    """A real photo of a person for real backend jobs."""
    override = os.environ.get("SYNCHUMAN_TEST_PHOTO")
    path = Path(override) if override else EXAMPLE_PHOTO
    if not path.is_file():
        pytest.skip(f"example photo missing: {path}")
    return path


def _raise(exc):
    raise exc


@pytest.fixture
def ext(backend_python_pref):
    """The extension, enabled on a factory-fresh Blender; yields its module."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    module = addon_utils.enable(PACKAGE, default_set=True, handle_error=_raise)
    assert module is not None, "the extension did not enable"
    try:
        prefs = bpy.context.preferences.addons[PACKAGE].preferences
        prefs.backend_python = backend_python_pref
        yield module
    finally:
        module.jobs.SESSION.force_blocking = None
        module.jobs.SESSION.stall_probe = None
        addon_utils.disable(PACKAGE, default_set=True, handle_error=_raise)
        assert PACKAGE not in bpy.context.preferences.addons


@pytest.fixture
def backend_python_pref() -> str:
    """What the preference is set to (tests override this fixture to test other values)."""
    return backend_python()


@pytest.fixture
def settings(ext):
    scene_settings = bpy.context.scene.synchuman
    scene_settings.texture_size = FAST_SETTINGS["texture_size"]
    scene_settings.max_faces = FAST_SETTINGS["max_faces"]
    return scene_settings


@pytest.fixture(scope="session")
def extension_zip() -> Path:
    """The extension zip as users get it, built once per session by build.py's package step."""
    return build_zip()


@pytest.fixture
def installed(extension_zip):
    """The zip installed with `extensions.package_install_files` into the temporary
    BLENDER_USER_RESOURCES and enabled (bl_ext.user_default.synchuman_blender); yields its module
    and uninstalls it afterwards."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert PACKAGE not in bpy.context.preferences.addons   # the checkout's copy is not enabled
    result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
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
