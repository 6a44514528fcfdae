"""The headless batch, run as its own process like `blender -b -P batch.py` would: a folder with
one good and one broken photo, library mode, front renders and a contact sheet; then a rerun
that skips what is done; and the script entry that loads the package from its folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import bpy
import pytest

from blender_helpers import ROOT


def run_batch(args, backend, tmp_path, entry=("-m", "synchuman_blender.batch")):
    env = {**os.environ, "SYNCHUMAN_BACKEND_PYTHON": backend,
           "BLENDER_USER_RESOURCES": str(tmp_path / "user-resources")}
    return subprocess.run([sys.executable, *entry, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=400)


@pytest.fixture
def photo_folder(tmp_path, photo):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copyfile(photo, folder / "person.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (folder / "notes.txt").write_text("not a photo, ignored")
    return folder


def test_batch_folder_with_a_broken_photo(backend, photo_folder, tmp_path):
    out, library = tmp_path / "out", tmp_path / "library"
    args = ["--input", str(photo_folder), "--output", str(out), "--library", str(library),
            "--render", "front", "--resolution", "64", "--samples", "2", "--texture-size", "256",
            "--max-faces", "5000", "--height-m", "1.7"]
    first = run_batch(args, backend, tmp_path)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]   # one item failed
    log = json.loads((out / "batch.json").read_text())
    items = {os.path.basename(i["photo"]): i for i in log["items"]}
    assert set(items) == {"person.png", "broken.jpg"}      # notes.txt is not a photo
    bad, good = items["broken.jpg"], items["person.png"]
    assert bad["status"] == "failed" and bad["error"]["code"].startswith("input.")
    assert bad["error"]["message"] and bad["seconds"] is not None
    assert good["status"] == "done" and good["error"] is None and good["seconds"] > 0
    assert good["warnings"] == []   # a clean photo: nothing to note
    outputs = good["outputs"]
    for key in ("glb", "blend", "library"):
        assert os.path.isfile(outputs[key]), key
    assert len(outputs["renders"]) == 1 and os.path.isfile(outputs["renders"][0])
    assert log["summary"] == {"total": 2, "done": 1, "failed": 1, "skipped": 0, "cancelled": 0}
    assert os.path.isfile(log["contact_sheet"])
    assert "[2/2 person.png]" in first.stdout and "% [" in first.stdout        # a line per event
    assert "error [input." in first.stdout

    with bpy.data.libraries.load(outputs["library"], assets_only=True) as (data_from, _data_to):
        assert sorted(data_from.objects) == ["person", "person_rig"]   # the human and its rig, both assets
    assert "Generated/Humans" in (library / "blender_assets.cats.txt").read_text()
    sheet = bpy.data.images.load(log["contact_sheet"])
    assert sheet.size[0] > 64 and sheet.size[1] > 64
    bpy.data.images.remove(sheet)

    second = run_batch(args, backend, tmp_path)
    assert second.returncode == 1
    rerun = {os.path.basename(i["photo"]): i for i in json.loads((out / "batch.json").read_text())["items"]}
    assert rerun["person.png"]["status"] == "skipped" and rerun["broken.jpg"]["status"] == "failed"
    assert "skipped: already done" in second.stdout


def test_batch_as_a_script_outside_its_package(backend, tmp_path):
    """`blender -P <folder>/batch.py -- ...` runs the file without its package."""
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    result = run_batch(["--", "--input", str(missing), "--output", str(out)], backend, tmp_path,
                       entry=(str(ROOT / "synchuman_blender" / "batch.py"),))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    item = json.loads((out / "batch.json").read_text())["items"][0]
    assert item["status"] == "failed" and item["error"]["code"] == "input.not_found"


def test_batch_without_a_backend_is_a_usage_error(tmp_path):
    result = run_batch(["--input", str(tmp_path), "--output", str(tmp_path / "o"), "--python",
                        str(tmp_path / "nope")], str(tmp_path / "nope"), tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr
