"""Helpers shared by the Blender tests (import as `blender_helpers`)."""

from __future__ import annotations

import time
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "synchuman_blender"
INSTALLED = f"bl_ext.user_default.{PACKAGE}"   # the module name of the extension installed from its zip


def load_build_script():
    """build.py as a module, its environment set-up replaced by this interpreter: set-up would
    pip-install into the shared .venv, and this process already has what packaging needs."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("_synchuman_build_for_test", ROOT / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.setup = lambda with_tests=False: Path(sys.executable)
    return build


def build_zip() -> Path:
    """Runs build.py's package command (which validates the zip with Blender's own tool)."""
    assert load_build_script().cmd_package() == 0
    manifest_version = next(line.split('"')[1] for line in (ROOT / "blender_manifest.toml").read_text().splitlines()
                            if line.startswith("version"))
    zip_path = ROOT / "dist" / f"{PACKAGE}-{manifest_version}.zip"
    assert zip_path.is_file()
    return zip_path


def pump_until(session, predicate, timeout: float = 120.0, interval: float = 0.02):
    """Plays the part of bpy.app.timers (which never fire headless): calls the timer callback
    on this, the main, thread until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.on_timer()
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout} s; "
                         f"status={bpy.context.window_manager.synchuman_job.status}")


def make_person_glb(path, *, parent_empty: bool = True, metallic: float = 1.0, normals: str = "flat") -> str:
    """Writes a GLB shaped like the backend's: a box "person" 1.0 tall standing at z 0.2..1.2,
    off-centre, facing -Y (its nose sticks out towards -Y at head height), flat-shaded with
    normals, UVs and a 32x32 skin-coloured texture, metallicFactor 1, and (when asked) under a
    translated and scaled wrapper node. Coordinates are converted to glTF's y-up, front +Z.
    normals: "flat" (per face, like a careful exporter), "none", or "flipped" (a broken one)."""
    import numpy as np

    from glb_writer import box, write_glb, zup_to_yup

    body = box((0.0, 0.0, 0.5), (0.4, 0.2, 1.0))
    nose = box((0.0, -0.13, 0.9), (0.08, 0.08, 0.08))
    positions = np.concatenate([body[0], nose[0]])
    face_normals = np.concatenate([body[1], nose[1]])
    uvs = np.concatenate([body[2], nose[2]])
    indices = np.concatenate([body[3], nose[3] + len(body[0])])
    texture = np.empty((32, 32, 4), dtype=np.uint8)
    texture[...] = (204, 128, 102, 255)
    wrapper = {"translation": [0.0, 0.1, 0.0], "scale": [2.0, 2.0, 2.0]} if parent_empty else None
    normal_data = {"flat": zup_to_yup(face_normals), "flipped": -zup_to_yup(face_normals), "none": None}[normals]
    return write_glb(path, zup_to_yup(positions), indices, normals=normal_data, uvs=uvs,
                     texture=texture, metallic=metallic,
                     mesh_translation=tuple(zup_to_yup(np.array([[0.3, -0.1, 0.2]]))[0]), wrapper=wrapper)


def world_vertices(obj):
    import numpy as np

    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float64)
    obj.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    m = np.array(obj.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3]


def pump_steps(ext, predicate, timeout: float = 60.0, interval: float = 0.02):
    """Like pump_until, for everything the extension's one timer (pump.tick) steps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ext.pump.tick()
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout} s")


def fake_python(tmp_path, body: str, name: str = "fake-python") -> str:
    """An executable "interpreter" that ignores its arguments (`-m synchuman ...`) and runs `body`
    (json and sys are imported)."""
    import sys
    import textwrap

    script = Path(tmp_path) / name
    script.write_text(f"#!{sys.executable}\nimport json, sys, time\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return str(script)


def start_job_with(ext, python: str, tmp_path):
    """Points the preferences at `python`, then starts a job the UI way (the test pumps it) on a
    placeholder photo; returns the job state."""
    bpy.context.preferences.addons[PACKAGE].preferences.backend_python = python
    photo = Path(tmp_path) / "p.png"
    photo.write_bytes(b"x")
    bpy.context.scene.synchuman.photo_path = str(photo)
    ext.jobs.SESSION.force_blocking = False
    bpy.ops.synchuman.reconstruct()
    return bpy.context.window_manager.synchuman_job


def fake_service(tmp_path, handlers: str, at_eof: str = "", name: str = "fake-service") -> str:
    """A fake `synchuman serve --stdio`: answers `hello`, runs `handlers` (code that reads `msg`)
    for every other request, then `at_eof` when its stdin closes."""
    import textwrap

    hello = ('{"type": "hello", "id": msg["id"], "protocol": 1, "backend": "synchuman", "version": "0.1.0", '
             '"pid": 0, "engines": ["preview"]}')
    body = ("for line in sys.stdin:\n"
            "    msg = json.loads(line)\n"
            "    if msg['type'] == 'hello':\n"
            f"        print(json.dumps({hello}), flush=True)\n"
            "        continue\n"
            + textwrap.indent(textwrap.dedent(handlers).strip("\n"), "    ") + "\n"
            + textwrap.dedent(at_eof))
    return fake_python(tmp_path, body, name)
