"""The bundled backend: the zip carries it, Install Backend sets it up from the machine's package index
(pip as configured here, with no other index) through the extension's runner, and a failed or
cancelled install leaves nothing behind. Everything runs for real: the zip built by build.py,
installed into bpy, the set-up script as a subprocess, pip, the new environment's backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import bpy
import pytest

from blender_helpers import INSTALLED, ROOT, load_build_script, pump_steps
from test_panels import draw, texts

BUNDLE = "bundled_backend/"
FAST_SETTINGS = ("256", 5000)   # texture size, faces: keep the real job short on 2 cores


@pytest.fixture
def machine_index(monkeypatch):
    """pip's own configuration of this machine serves every package, torch's CPU build included."""
    monkeypatch.setenv("SYNCHUMAN_TORCH_INDEX", "pip")
    monkeypatch.delenv("SYNCHUMAN_BACKEND_PYTHON", raising=False)


@pytest.fixture
def online(installed, monkeypatch):
    monkeypatch.setattr(installed.weights, "online_access_allowed", lambda: True)
    prefs = bpy.context.preferences.addons[INSTALLED].preferences
    prefs.backend_python = ""
    return prefs


def leftovers(module) -> list[str]:
    """What an install may leave in the extension's user folder besides its log: an environment or its marker."""
    folder = Path(module.backend_setup.setup_dir())
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("env-") or p.name.startswith("current.json"))


def processes_using(path: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in text:
            found.append(text)
    return found


def test_package_carries_the_backend_and_passes_validation(extension_zip, tmp_path):
    build = load_build_script()
    with zipfile.ZipFile(extension_zip) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        for flavour in ("cpu", "cuda"):   # the pins come from build.py, not from a second list
            assert archive.read(f"{BUNDLE}requirements-{flavour}.txt").decode() == build.backend_requirements(flavour)
        wheels = [n for n in names if n.endswith(".whl")]
        assert wheels == [f"{BUNDLE}synchuman-{_version()}-py3-none-any.whl"]
        archive.extract(wheels[0], tmp_path)
    assert "torch==2.13.0+cpu" in build.backend_requirements("cpu") and build.TORCH_PIN in build.backend_requirements("cuda")
    assert "wheels" not in manifest, "Blender would install the backend's wheels into its own Python"
    assert not [n for n in names if "torch" in n.lower()] and extension_zip.stat().st_size < 5_000_000
    with zipfile.ZipFile(tmp_path / wheels[0]) as wheel:
        modules = {n for n in wheel.namelist() if n.endswith(".py")}
    assert "synchuman/cli.py" in modules and "synchuman/data/examples/person.png" in set(wheel.namelist())
    assert all((ROOT / "backend" / m).is_file() for m in modules), "the wheel holds a file the source no longer has"
    validate = subprocess.run([sys.executable, build.blender_ext_tool(Path(sys.executable)), "validate", extension_zip],
                              capture_output=True, text=True)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def _version() -> str:
    return next(line.split('"')[1] for line in (ROOT / "backend/synchuman/__init__.py").read_text().splitlines()
                if line.startswith("__version__"))


def test_install_needs_online_access_and_says_how_to_go_offline(ext):
    assert bpy.app.online_access is False   # the bpy module's setting
    assert not bpy.ops.synchuman.backend_install.poll()
    with pytest.raises(RuntimeError, match="Allow Online Access"):
        bpy.ops.synchuman.backend_install()
    prefs = bpy.context.preferences.addons[ext.__name__].preferences
    seen = draw(type(prefs), target=prefs)
    assert "synchuman_blender.setup_backend" in texts(seen)
    assert "synchuman.backend_install" not in {item[1] for item in seen if item[0] == "operator"}


@pytest.mark.backend_install
def test_install_backend_then_reconstruct_and_remove(installed, online, machine_index, photo):
    """Install Backend from the zip with this machine's pip configuration, then a real job with it."""
    module, prefs = installed, online
    assert bpy.ops.synchuman.backend_install.poll()
    assert bpy.ops.synchuman.backend_install() == {'FINISHED'}
    state = bpy.context.window_manager.synchuman_backend_setup
    assert state.error_code == "" and state.done and state.busy == ""
    assert state.step_index == state.step_count > 10
    marker = module.backend_setup.installed()
    assert prefs.backend_python == marker["python"]   # set for the artist
    env = Path(marker["env"])
    assert env.is_relative_to(module.backend_setup.setup_dir()) and Path(marker["python"]).is_relative_to(env)
    assert marker["flavour"] == ("cuda" if module.setup_backend.nvidia_driver_present() else "cpu")
    assert leftovers(module) == ["current.json", env.name]

    info = subprocess.run([marker["python"], "-m", "synchuman", "info", "--json"], capture_output=True, text=True,
                          timeout=300)
    answer = json.loads(info.stdout)
    assert answer["versions"]["synchuman"] == marker["backend_version"] == _version()
    assert answer["engines"]["preview"]["available"] and answer["person_detector"]["available"]
    assert Path(answer["executable"]).is_relative_to(env)   # not Blender's own Python

    # the Bundled Backend box: installed, with Repair, Remove and the weights step after it
    seen = draw(type(prefs), target=prefs)
    assert "Installed synchuman" in texts(seen)
    ops = {(item[1], item[2]) for item in seen if item[0] == "operator"}
    assert {("synchuman.backend_install", "Repair"), ("synchuman.backend_remove", "Remove"),
            ("synchuman.weights_download", None)} <= ops

    settings = bpy.context.scene.synchuman
    settings.photo_path, settings.texture_size, settings.max_faces = str(photo), *FAST_SETTINGS
    assert bpy.ops.synchuman.reconstruct() == {'FINISHED'}
    job = bpy.context.window_manager.synchuman_job
    assert job.status == 'DONE' and job.backend_state == 'READY'
    human = bpy.data.objects[job.result_object]
    assert human.type == 'MESH' and len(human.data.polygons) > 1000
    assert module.jobs.SESSION.client.config.python == marker["python"]

    assert bpy.ops.synchuman.backend_remove() == {'FINISHED'}
    assert module.backend_setup.installed() is None and leftovers(module) == [] and prefs.backend_python == ""
    assert not env.exists()


def test_cancel_midway_leaves_nothing_half_made(installed, online, machine_index, monkeypatch):
    module = installed
    monkeypatch.setattr(module.backend_setup, "blocking", lambda: False)   # the UI path: the timer applies events
    state = bpy.context.window_manager.synchuman_backend_setup
    assert bpy.ops.synchuman.backend_install() == {'FINISHED'}
    pump_steps(module, lambda: state.step_label.startswith("Installing torch"), timeout=120)
    env = next(Path(module.backend_setup.setup_dir()).glob("env-*"))
    pump_steps(module, lambda: (env / "lib").is_dir() and processes_using(env), timeout=60)   # pip at work
    seen = draw(type(online), target=online)
    text = texts(seen)
    progress = [item for item in seen if item[0] == "progress"]
    assert progress and progress[0][2].startswith(f"[{state.step_index}/{state.step_count}] Installing torch")
    assert "Elapsed 0:" in text and ("operator", "synchuman.backend_setup_cancel", None) in seen

    task = module.backend_setup.TASKS.task
    assert bpy.ops.synchuman.backend_setup_cancel() == {'FINISHED'}
    pump_steps(module, lambda: state.busy == "", timeout=90)
    assert state.error_code == "setup.cancelled" and state.error_step.startswith("pip:torch")
    assert not task.process.alive() and processes_using(env) == []   # pip ended too
    assert leftovers(module) == [] and module.backend_setup.installed() is None and online.backend_python == ""
    assert module.pump.tick() is None, "nothing left to watch"


def test_a_broken_index_names_the_step_the_log_and_the_fix(installed, online, machine_index, monkeypatch, tmp_path):
    empty_index = tmp_path / "index"
    empty_index.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)   # none of this machine's pip configuration
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", empty_index.as_uri())
    with pytest.raises(RuntimeError, match=r"setup\.not_in_index"):
        bpy.ops.synchuman.backend_install()
    state = bpy.context.window_manager.synchuman_backend_setup
    assert state.error_step.startswith("pip:torch") and "torch==2.13.0+cpu" in state.error_hint
    assert "--find-links" in state.error_hint and state.busy == ""
    log = Path(state.log_path).read_text()
    assert f"Looking in indexes: {empty_index.as_uri()}" in log and "ERROR: " in log   # pip's own words
    assert leftovers(installed) == [] and online.backend_python == ""
    text = texts(draw(type(online), target=online))
    assert "setup.not_in_index at step pip:torch" in text and f"Log: {state.log_path}" in text


def test_no_python_is_a_named_error(installed, online, machine_index, tmp_path):
    online.base_python = str(tmp_path / "python3.11")   # not there
    with pytest.raises(RuntimeError, match=r"setup\.no_python"):
        bpy.ops.synchuman.backend_install()
    state = bpy.context.window_manager.synchuman_backend_setup
    assert state.error_step == "python" and "Install Python 3.11" in state.error_hint
    assert leftovers(installed) == []


def test_terminal_set_up_needs_no_bpy_and_rejects_another_python(extension_zip, tmp_path):
    """`python -m synchuman_blender.setup_backend` in a plain Python 3.11 (no bpy installed there)."""
    plain = getattr(sys, "_base_executable", sys.executable)
    assert subprocess.run([plain, "-c", "import bpy"], capture_output=True).returncode != 0
    with zipfile.ZipFile(extension_zip) as archive:
        archive.extractall(tmp_path / "ext", [n for n in archive.namelist() if n.startswith(BUNDLE)])
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\necho 3.10\n")
    old.chmod(0o755)
    target = tmp_path / "backend"
    run = subprocess.run([plain, "-m", "synchuman_blender.setup_backend", "--target", target, "--cpu",
                          "--python", old, "--bundle", tmp_path / "ext" / BUNDLE],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["step"] for e in events[:-1]] == ["python"]
    error = events[-1]
    assert error["type"] == "error" and error["code"] == "setup.no_python" and "Python 3.10, not 3.11" in error["message"]
    assert sorted(p.name for p in target.iterdir()) == ["setup.log"]
