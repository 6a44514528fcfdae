"""Registration, properties, preferences, poll messages, protocol agreement, manifest, and the
rules the extension's source must keep (no torch, no backend import, relative imports)."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
import tomllib
from pathlib import Path

import addon_utils
import bpy
import pytest

from blender_helpers import PACKAGE, ROOT

EXT_DIR = ROOT / "synchuman_blender"
BACKEND_DIR = ROOT / "backend" / "synchuman"

OPERATORS = ("reconstruct", "cancel", "start_backend", "release_backend", "dismiss", "report",
             "copy_diagnostics", "import_result")
PANELS = ("SYNCHUMAN_PT_main", "SYNCHUMAN_PT_asset", "SYNCHUMAN_PT_backend")


def _registered() -> bool:
    return hasattr(bpy.types, "SYNCHUMAN_PT_main") and hasattr(bpy.types.Scene, "synchuman")


def test_register_and_unregister_cleanly_twice(ext):
    assert _registered()
    for op in OPERATORS:
        assert getattr(bpy.ops.synchuman, op).get_rna_type() is not None
    for panel in PANELS:
        assert hasattr(bpy.types, panel)
    assert PACKAGE in bpy.context.preferences.addons
    for _ in range(2):
        addon_utils.disable(PACKAGE, default_set=True)
        assert not _registered()
        assert not hasattr(bpy.types.WindowManager, "synchuman_job")
        assert not bpy.app.timers.is_registered(ext.pump.tick)
        addon_utils.enable(PACKAGE, default_set=True)
        assert _registered()
    ext.register()  # a second registration is a no-op, not an error
    assert _registered()


def test_file_import_menu_entry(ext):
    draw_funcs = bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()
    assert ext.results.menu_import in draw_funcs


def test_scene_and_window_manager_defaults(ext):
    s = bpy.context.scene.synchuman
    assert (s.source, s.photo_path, s.image, s.engine, s.seed) == ("FILE", "", None, "auto", 0)
    assert s.height_m == pytest.approx(1.75)
    assert s.texture_size == "1024" and s.max_faces == 60000
    assert s.mark_asset is False and s.asset_catalog == "Generated/Humans" and s.library_dir == ""
    state = bpy.context.window_manager.synchuman_job
    assert state.status == "IDLE" and state.backend_state == "STOPPED" and state.fraction == 0.0


def test_preferences_defaults_and_interpreter_discovery(ext, monkeypatch):
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    assert (prefs.device, prefs.precision, prefs.memory_mode) == ("auto", "auto", "balanced")
    assert prefs.start_on_demand is True and prefs.weights_dir == "" and prefs.output_dir == ""
    prefs.backend_python = ""
    monkeypatch.delenv("SYNCHUMAN_BACKEND_PYTHON", raising=False)
    path, source = ext.preferences.resolve_backend_python(prefs)
    dev_python = ROOT / ".venv" / "bin" / "python"
    if dev_python.is_file():  # a development checkout: the project's .venv is the default
        assert (path, source) == (str(dev_python), "project .venv")
    monkeypatch.setenv("SYNCHUMAN_BACKEND_PYTHON", "/opt/elsewhere/python")
    assert ext.preferences.resolve_backend_python(prefs) == ("/opt/elsewhere/python", "SYNCHUMAN_BACKEND_PYTHON")
    prefs.backend_python = "/explicit/python"
    assert ext.preferences.resolve_backend_python(prefs) == ("/explicit/python", "preferences")


def test_writable_files_go_to_the_user_folder(ext):
    folder = ext.preferences.user_dir("jobs")
    assert folder.startswith(os.environ["BLENDER_USER_RESOURCES"])
    assert os.path.isdir(folder)


def test_poll_explains_why_reconstruct_is_disabled(ext, tmp_path):
    s = bpy.context.scene.synchuman
    blocker = ext.operators.reconstruct_blocker
    assert not bpy.ops.synchuman.reconstruct.poll()
    assert blocker(bpy.context) == "Choose a photo of a person first"
    s.photo_path = str(tmp_path / "missing.png")
    assert "does not exist" in blocker(bpy.context)
    photo = tmp_path / "p.png"
    photo.write_bytes(b"not checked here")
    s.photo_path = str(photo)
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    prefs.backend_python = str(tmp_path / "no-python")
    assert "does not exist" in blocker(bpy.context)
    prefs.backend_python = sys.executable
    assert blocker(bpy.context) is None
    assert bpy.ops.synchuman.reconstruct.poll()
    prefs.start_on_demand = False
    assert "Start the backend first" in blocker(bpy.context)
    prefs.start_on_demand = True
    s.source = "IMAGE"
    assert blocker(bpy.context) == "Pick an image"
    s.source = "EDITOR"
    assert blocker(bpy.context) == "No Image Editor shows an image"
    s.source = "FILE"
    ext.jobs.SESSION.job = object()  # pretend a job runs
    try:
        assert "running" in blocker(bpy.context)
        assert bpy.ops.synchuman.cancel.poll()
    finally:
        ext.jobs.SESSION.job = None
    assert not bpy.ops.synchuman.cancel.poll()


def test_unconfigured_backend_is_explained(ext, monkeypatch):
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    prefs.backend_python = ""
    monkeypatch.delenv("SYNCHUMAN_BACKEND_PYTHON", raising=False)
    monkeypatch.setattr(ext.preferences, "default_backend_python", lambda _folder: "")
    assert "Backend not configured" in ext.preferences.backend_problem(bpy.context)
    assert not bpy.ops.synchuman.start_backend.poll()


def test_copy_diagnostics(ext):
    assert bpy.ops.synchuman.copy_diagnostics() == {"FINISHED"}  # headless there is no clipboard
    text = ext.operators.diagnostics_text(bpy.context)
    assert "SyncHuman for Blender" in text and bpy.app.version_string in text
    assert "backend python:" in text and "protocol 1" in text


# -- the two sides of the protocol agree ------------------------------------------------------
def _load_backend_protocol():
    """The backend's protocol module, loaded from its file under a private name: the test
    must not put the `synchuman` package into this process."""
    spec = importlib.util.spec_from_file_location("_backend_protocol_for_test", BACKEND_DIR / "protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _backend_constants(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
        if isinstance(node, ast.ClassDef) and node.name == "ReconstructSettings":
            found["settings_fields"] = {}
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    try:
                        found["settings_fields"][item.target.id] = ast.literal_eval(item.value)
                    except ValueError:
                        found["settings_fields"][item.target.id] = None
    return found


def test_protocol_version_and_types_agree_with_the_backend(ext):
    backend = _load_backend_protocol()
    ours = ext.protocol
    assert ours.PROTOCOL_VERSION == backend.PROTOCOL_VERSION
    assert tuple(ours.EVENT_TYPES) == tuple(backend.EVENT_TYPES)
    assert tuple(ours.REQUEST_TYPES) == tuple(backend.REQUEST_FIELDS)


def test_settings_agree_with_the_backend(ext):
    ours = ext.protocol
    base = _backend_constants(BACKEND_DIR / "engines" / "base.py")
    assert ours.ENGINE_CHOICES == base["ENGINE_CHOICES"]
    assert ours.DEVICE_CHOICES == base["DEVICE_CHOICES"]
    assert ours.PRECISION_CHOICES == base["PRECISION_CHOICES"]
    assert ours.MEMORY_MODES == base["MEMORY_MODES"]
    fields = base["settings_fields"]
    assert tuple(fields) == ours.SETTINGS_KEYS
    assert fields["height_m"] == ours.DEFAULT_HEIGHT_M
    assert fields["texture_size"] == ours.DEFAULT_TEXTURE_SIZE
    assert fields["max_faces"] == ours.DEFAULT_MAX_FACES
    # The panel's choices are the protocol's.
    common = _backend_constants(BACKEND_DIR / "common.py")
    assert ours.RIG_NAME_CHOICES == common["RIG_NAME_CHOICES"]
    assert ours.REST_POSE_CHOICES == common["REST_POSE_CHOICES"]
    assert (fields["rig"], fields["rig_names"], fields["rest_pose"]) == (True, "native", "photo")
    s_rna = ext.properties.SYNCHUMAN_PG_settings.bl_rna.properties
    assert tuple(s_rna["engine"].enum_items.keys()) == ours.ENGINE_CHOICES
    assert tuple(s_rna["rig_names"].enum_items.keys()) == ours.RIG_NAME_CHOICES
    assert tuple(s_rna["rest_pose"].enum_items.keys()) == ours.REST_POSE_CHOICES
    assert s_rna["rig"].default is True
    assert tuple(int(k) for k in s_rna["texture_size"].enum_items.keys()) == ours.TEXTURE_SIZES


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def test_extension_source_rules():
    """Pure Python that never imports torch or the backend; relative imports of itself; the
    worker-thread modules do not import bpy."""
    for path in sorted(EXT_DIR.glob("*.py")):
        for module, level in _imports(path):
            top = module.split(".")[0]
            assert top not in ("torch", "synchuman"), f"{path.name} imports {module}"
            if level == 0:
                assert top != "synchuman_blender", f"{path.name}: use relative imports"
    for thread_side in ("client.py", "protocol.py", "runner.py"):
        tops = {m.split(".")[0] for m, level in _imports(EXT_DIR / thread_side) if level == 0}
        assert not tops & {"bpy", "mathutils", "bpy_extras"}, f"{thread_side} must not touch bpy"
    bl_idnames = re.findall(r'bl_idname = "([^"]+)"', "".join(p.read_text() for p in EXT_DIR.glob("*.py")))
    for idname in bl_idnames:
        assert idname.startswith(("synchuman.", "SYNCHUMAN_")), idname
    classes = re.findall(r"^class (\w+)\(bpy\.types\.", "".join(p.read_text() + "\n" for p in EXT_DIR.glob("*.py")),
                         flags=re.M)
    assert classes and all(c.startswith("SYNCHUMAN_") for c in classes), classes


def test_manifest():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == "synchuman_blender"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    tagline = manifest["tagline"]
    assert len(tagline) <= 64 and tagline[-1] not in ".!?,;:"
    assert manifest["blender_version_min"] == "4.2.0"
    assert all(lic.startswith("SPDX:") for lic in manifest["license"])
    assert manifest["permissions"]["files"]
    network = manifest["permissions"]["network"]  # the weights download (gated on online access)
    assert 0 < len(network) <= 64 and not network.endswith(".")
    protocol = (EXT_DIR / "protocol.py").read_text()
    assert f'EXTENSION_VERSION = "{manifest["version"]}"' in protocol


def extension_import_graph() -> dict[str, set[str]]:
    """Module -> the extension modules it imports, at any depth of its code (function-level
    imports included: hiding a circle inside a function still makes it a circle)."""
    modules = {p.stem for p in EXT_DIR.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in EXT_DIR.glob("*.py"):
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    targets.add(node.module.split(".")[0])
                else:
                    targets.update(alias.name for alias in node.names)
        graph[path.stem] = {t for t in targets if t in modules and t != path.stem}
    return graph


def test_no_import_circle_in_the_extension():
    graph = extension_import_graph()
    assert graph["panels"] >= {"operators", "preferences", "weights"}  # the graph sees real edges
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    # Only the package's __init__ may import the modules that register classes.
    assert not any("__init__" in targets for targets in graph.values())


def test_no_extension_file_is_over_450_lines():
    long = {p.name: n for p in EXT_DIR.glob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert not long, long
