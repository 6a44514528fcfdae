"""The `synchuman` command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image


def synchuman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synchuman", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_reconstruct_json_events(example_photo, tmp_path):
    proc = synchuman("reconstruct", str(example_photo), "-o", str(tmp_path), "--json", "--height-m", "1.8",
                     "--texture-size", "512", "--max-faces", "20000", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["type"] == "progress" and "auto: using the preview engine" in events[0]["message"]
    result = events[-1]
    assert result["type"] == "result" and Path(result["glb"]).is_file()
    meta = json.loads((Path(result["job_dir"]) / "job.json").read_text())
    assert meta["seed"] == 7 and meta["settings"]["max_faces"] == 20000 and meta["engine"] == "preview"


def test_a_good_job_reports_what_the_user_should_know(example_photo, tmp_path):
    """A photo with a useless alpha channel is reconstructed from its colours, and the result says so."""
    import numpy as np

    rgb = np.asarray(Image.open(example_photo).convert("RGB"))
    photo = tmp_path / "faded.png"
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 1, np.uint8)])).save(photo)
    proc = synchuman("reconstruct", str(photo), "-o", str(tmp_path / "out"), "--json", "--texture-size", "512")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert any("alpha channel is (almost) fully transparent" in w for w in result["metadata"]["warnings"])
    meta = json.loads((Path(result["job_dir"]) / "job.json").read_text())
    assert meta["warnings"] == result["metadata"]["warnings"]

    clean = json.loads(synchuman("reconstruct", str(example_photo), "-o", str(tmp_path / "out"), "--json",
                                 "--texture-size", "512").stdout.splitlines()[-1])
    assert clean["metadata"]["warnings"] == []


def test_reconstruct_several_photos_and_a_bad_one(example_photo, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a jpeg")
    proc = synchuman("reconstruct", str(example_photo), str(bad), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "input.unreadable" in proc.stderr and "hint:" in proc.stderr
    assert (tmp_path / "out" / example_photo.stem / "human.glb").is_file()  # the good one still finished


def test_explicit_synchuman_engine_without_weights_says_how_to_fix(example_photo, tmp_path):
    proc = synchuman("reconstruct", str(example_photo), "-o", str(tmp_path), "--engine", "synchuman", "--json")
    assert proc.returncode == 1
    err = json.loads(proc.stdout.splitlines()[-1])
    assert err["code"] == "engine.unavailable" and "synchuman weights download" in err["hint"]


def test_info_and_weights_path(tmp_path):
    proc = synchuman("info", "--json", "--weights", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["weights"]["dir"] == str(tmp_path.resolve()) and info["weights"]["source"] == "--weights"
    assert info["auto_engine"] == "preview" and info["device"]["torch"]
    assert info["weights"]["background_removal"] is False
    human = synchuman("info")
    assert human.returncode == 0 and "auto engine: preview" in human.stdout
    path = synchuman("weights", "path", "--weights", str(tmp_path))
    assert path.stdout.strip() == str(tmp_path.resolve())
    verify = synchuman("weights", "verify", "--weights", str(tmp_path))
    assert verify.returncode == 1 and " missing " in verify.stdout and "fix: synchuman weights download" in verify.stdout


def test_bad_arguments_are_usage_errors(tmp_path):
    proc = synchuman("reconstruct", "x.png", "-o", str(tmp_path), "--engine", "magic")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = synchuman("reconstruct", "x.png", "-o", str(tmp_path), "--height-m", "40")
    assert proc.returncode == 1 and "settings.invalid" in proc.stderr


def test_usage_errors_under_json_are_one_json_error_line(tmp_path):
    proc = synchuman("reconstruct", "photo.png", "-o", str(tmp_path), "--json", "--texture-size", "big")
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    err = json.loads(lines[0])
    assert err["type"] == "error" and err["code"] == "cli.usage" and "--texture-size" in err["message"]
    assert "synchuman reconstruct" in err["hint"]
    plain = synchuman("reconstruct", "photo.png", "--texture-size", "big")  # without --json: argparse's usual
    assert plain.returncode == 2 and plain.stdout == "" and "error:" in plain.stderr and "usage:" in plain.stderr
