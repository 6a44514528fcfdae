"""One source for the reconstruction settings: the batch's choices and the panel's ranges are the
protocol module's, and the backend's own ReconstructSettings.validate (run in the backend's
interpreter) accepts exactly what they allow."""

from __future__ import annotations

import json
import subprocess

import pytest

from synchuman_blender import batch, protocol
from synchuman_blender.protocol import (DEVICE_CHOICES, ENGINE_CHOICES, HEIGHT_RANGE_M, MAX_FACES_RANGE,
                                        MEMORY_MODES, PERSON_BOX_LIMIT, PRECISION_CHOICES, REST_POSE_CHOICES,
                                        RIG_NAME_CHOICES, STEPS_RANGE, TEXTURE_SIZES)

VALIDATE = """
import json, sys
from synchuman.engines.base import ReconstructSettings
from synchuman.errors import SyncHumanError
answers = []
for case in json.load(sys.stdin):
    try:
        ReconstructSettings(**case).validate()
        answers.append("ok")
    except SyncHumanError as exc:
        answers.append(exc.code)
print(json.dumps(answers))
"""


def _cases() -> list[tuple[dict, bool]]:
    """(settings, should the backend accept them), from the protocol's choices and ranges."""
    cases = []
    for key, choices in (("engine", ENGINE_CHOICES), ("device", DEVICE_CHOICES),
                         ("precision", PRECISION_CHOICES), ("memory_mode", MEMORY_MODES),
                         ("rig_names", RIG_NAME_CHOICES), ("rest_pose", REST_POSE_CHOICES)):
        cases += [({key: value}, True) for value in choices] + [({key: "nonsense"}, False)]
    cases += [({"texture_size": size}, True) for size in TEXTURE_SIZES] + [({"texture_size": 300}, False)]
    for key, (low, high), step in (("height_m", HEIGHT_RANGE_M, 0.01), ("max_faces", MAX_FACES_RANGE, 1),
                                   ("stage1_steps", STEPS_RANGE, 1), ("stage2_steps", STEPS_RANGE, 1)):
        cases += [({key: low}, True), ({key: high}, True), ({key: low - step}, False), ({key: high + step}, False)]
    cases += [({"rig": True}, True), ({"rig": False}, True), ({"rig": "yes"}, False)]
    top = PERSON_BOX_LIMIT - 1
    cases += [({"person_box": [0, 0, 1, 1]}, True), ({"person_box": [0, 0, top, top]}, True),
              ({"person_box": [0, 0, top + 1, 5]}, False), ({"person_box": [5, 0, 5, 9]}, False)]
    return cases


def test_the_backend_accepts_exactly_what_the_protocol_allows(backend):
    cases = _cases()
    proc = subprocess.run([backend, "-c", VALIDATE], input=json.dumps([c for c, _ in cases]),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answers = json.loads(proc.stdout)
    wrong = [(case, answer) for (case, ok), answer in zip(cases, answers) if (answer == "ok") != ok]
    assert not wrong, wrong
    assert set(answers) == {"ok", "settings.invalid"}


def test_the_panel_uses_the_protocol_ranges(ext):
    rna = ext.properties.SYNCHUMAN_PG_settings.bl_rna.properties
    assert (rna["height_m"].hard_min, rna["height_m"].hard_max) == pytest.approx(HEIGHT_RANGE_M)
    assert (rna["max_faces"].hard_min, rna["max_faces"].hard_max) == MAX_FACES_RANGE
    assert rna["stage1_steps"].hard_max == rna["stage2_steps"].hard_max == STEPS_RANGE[1]
    assert rna["person_box"].array_length == 4 and rna["person_box"].hard_max == PERSON_BOX_LIMIT - 1
    assert tuple(rna["engine"].enum_items.keys()) == ENGINE_CHOICES


def test_the_panel_sends_the_person_box_only_when_enabled(ext, tmp_path):
    import bpy

    photo = tmp_path / "p.png"
    photo.write_bytes(b"x")
    settings = bpy.context.scene.synchuman
    settings.photo_path = str(photo)
    assert "person_box" not in ext.request.build_request(bpy.context).settings
    settings.use_person_box = True
    settings.person_box = (10, 20, 5, 400)
    assert "X1 > X0" in ext.operators.reconstruct_blocker(bpy.context)
    settings.person_box = (10, 20, 300, 400)
    assert ext.operators.reconstruct_blocker(bpy.context) is None
    assert ext.request.build_request(bpy.context).settings["person_box"] == [10, 20, 300, 400]


def _choices(parser, option: str):
    return next(a for a in parser._actions if option in a.option_strings).choices  # noqa: SLF001


def test_the_batch_options_come_from_the_protocol(capsys):
    parser = batch.build_parser()
    assert _choices(parser, "--engine") == ENGINE_CHOICES
    assert _choices(parser, "--device") == DEVICE_CHOICES
    assert _choices(parser, "--precision") == PRECISION_CHOICES
    assert _choices(parser, "--memory-mode") == MEMORY_MODES
    assert _choices(parser, "--texture-size") == TEXTURE_SIZES
    assert _choices(parser, "--rig-names") == RIG_NAME_CHOICES
    assert _choices(parser, "--rest-pose") == REST_POSE_CHOICES
    defaults = batch.parse_args(["-i", "x", "-o", "y"])
    assert (defaults.height_m, defaults.texture_size, defaults.max_faces) == \
        (protocol.DEFAULT_HEIGHT_M, protocol.DEFAULT_TEXTURE_SIZE, protocol.DEFAULT_MAX_FACES)
    assert defaults.person_box is None
    assert (defaults.rig, defaults.rig_names, defaults.rest_pose) == (True, "native", "photo")
    no_rig = batch.parse_args(["-i", "x", "-o", "y", "--no-rig", "--ray"])
    assert no_rig.rig is False
    cmd = batch.backend_batch_command("py", ["a.png"], no_rig, {"rig": False, "rig_names": "mixamo"}, "jobs")
    assert "--no-rig" in cmd and cmd[cmd.index("--rig-names") + 1] == "mixamo"  # switches stay switches
    assert batch.parse_args(["-i", "x", "-o", "y", "--person-box", "1,2,30,40"]).person_box == [1, 2, 30, 40]
    for bad in ("1,2,3", "1,2,0,40", "a,b,c,d"):
        with pytest.raises(SystemExit):
            batch.parse_args(["-i", "x", "-o", "y", "--person-box", bad])
        assert "person box" in capsys.readouterr().err
