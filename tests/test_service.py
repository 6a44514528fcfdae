"""The real `synchuman serve --stdio` subprocess: protocol round trips, jobs, cancel, shutdown."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from service_driver import ServiceProcess
from synchuman.jobs import PARTIAL_MARK
from synchuman.protocol import PROTOCOL_VERSION


@pytest.fixture
def service():
    svc = ServiceProcess()
    yield svc
    svc.close()


def _is(kind, job=None):
    return lambda e: e["type"] == kind and (job is None or e.get("job") == job)


def _ends(job):
    return lambda e: e.get("job") == job and e["type"] in ("result", "error")


def no_partial_folders(out: Path) -> bool:
    return not out.exists() or not any(PARTIAL_MARK in p.name for p in out.iterdir())


def test_hello_and_info(service):
    service.send({"type": "hello", "id": 1, "protocol": PROTOCOL_VERSION, "client": "tests"})
    hello, _ = service.wait_for(_is("hello"))
    assert hello["protocol"] == PROTOCOL_VERSION and hello["id"] == 1 and "preview" in hello["engines"]
    service.send({"type": "info", "id": 2})
    info, _ = service.wait_for(_is("info"), timeout=120)
    assert info["engines"]["preview"]["available"] is True
    assert info["engines"]["synchuman"]["available"] is False  # tests run with an empty weights folder
    assert info["auto_engine"] == "preview" and info["weights"]["missing"] and info["weights"]["fix"]


def test_malformed_lines_get_errors_and_the_service_keeps_serving(service):
    for line in ("{oops", "42", '{"type":"explode","id":7}', '{"type":"reconstruct","job":"x"}'):
        service.send(line)
        err, _ = service.wait_for(_is("error"))
        assert err["code"].startswith("protocol.") and err["message"]
    service.send({"type": "hello", "protocol": 99})
    err, _ = service.wait_for(_is("error"))
    assert err["code"] == "protocol.version_mismatch"
    service.send({"type": "hello"})
    service.wait_for(_is("hello"))
    assert all(json.loads(line) for line in service.raw_lines)  # stdout carries protocol lines only


def test_reconstruct_round_trip(service, example_photo, tmp_path):
    out = tmp_path / "out"
    service.send({"type": "reconstruct", "id": "r1", "job": "j1", "photo": str(example_photo),
                  "output_dir": str(out), "settings": {"height_m": 1.6, "texture_size": 512}})
    accepted, _ = service.wait_for(_is("accepted", "j1"))
    assert accepted["position"] == 0
    result, before = service.wait_for(_ends("j1"), timeout=180)
    assert result["type"] == "result", result
    progress = [e for e in before if e["type"] == "progress"]
    assert progress and progress[0]["stage"] == "input"
    fractions = [e["fraction"] for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] > 0.9
    assert {e["stage_count"] for e in progress} == {progress[0]["stage_count"]}
    job_dir = Path(result["job_dir"])
    assert job_dir.parent == out.resolve() and job_dir.name == example_photo.stem
    assert Path(result["glb"]).is_file() and (job_dir / "job.log").is_file()
    meta = json.loads((job_dir / "job.json").read_text())
    assert meta["engine"] == "preview" and meta["settings"]["height_m"] == 1.6 and meta["job_id"] == "j1"
    assert len(meta["input"]["sha256"]) == 64 and meta["timings_s"]["total"] > 0
    assert no_partial_folders(out)


def test_bad_photos_are_errors_with_codes(service, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20)).save(tiny)
    cases = {"missing": (tmp_path / "none.png", "input.not_found"), "broken": (broken, "input.unreadable"),
             "tiny": (tiny, "input.too_small")}
    for job, (photo, code) in cases.items():
        service.send({"type": "reconstruct", "job": job, "photo": str(photo), "output_dir": str(tmp_path / "out")})
        err, _ = service.wait_for(_ends(job))
        assert err["type"] == "error" and err["code"] == code and err["hint"]
    service.send({"type": "reconstruct", "job": "bad-settings", "photo": str(tiny), "output_dir": str(tmp_path),
                  "settings": {"height_m": 99}})
    err, _ = service.wait_for(_is("error"))
    assert err["code"] == "settings.invalid"
    assert no_partial_folders(tmp_path / "out")


def test_cancel_running_and_queued_jobs(service, example_photo, tmp_path):
    out = tmp_path / "out"
    for job in ("first", "second", "third"):
        service.send({"type": "reconstruct", "job": job, "photo": str(example_photo), "output_dir": str(out),
                      "settings": {"texture_size": 2048}})
    second_accepted, _ = service.wait_for(_is("accepted", "second"))
    assert second_accepted["position"] >= 1
    service.send({"type": "cancel", "job": "second"})  # queued: removed at once
    err, _ = service.wait_for(_ends("second"))
    assert err["code"] == "job.cancelled"
    # Cancel "first" as soon as it is past reading the photo.
    service.wait_for(lambda e: e.get("job") == "first" and e["type"] == "progress" and e["stage"] != "input",
                     timeout=120)
    service.send({"type": "cancel", "job": "first"})
    err, _ = service.wait_for(_ends("first"), timeout=60)
    assert err["type"] == "error" and err["code"] == "job.cancelled"
    result, _ = service.wait_for(_ends("third"), timeout=180)  # the queue goes on
    assert result["type"] == "result"
    assert sorted(p.name for p in out.iterdir()) == [example_photo.stem]
    service.send({"type": "cancel", "job": "third"})
    err, _ = service.wait_for(_is("error"))
    assert err["code"] == "protocol.unknown_job"


def test_stdin_closed_mid_job_exits_cleanly(example_photo, tmp_path):
    out = tmp_path / "out"
    svc = ServiceProcess()
    svc.start_busy_job(example_photo, out)
    started = time.monotonic()
    assert svc.close(timeout=60) == 0
    assert time.monotonic() - started < 30
    assert no_partial_folders(out) and (not out.exists() or not any(out.iterdir()))


def test_release_and_shutdown(service, example_photo, tmp_path):
    service.send({"type": "reconstruct", "job": "j", "photo": str(example_photo), "output_dir": str(tmp_path)})
    service.wait_for(_ends("j"), timeout=180)
    service.send({"type": "release", "id": "r"})
    released, _ = service.wait_for(_is("released"))
    assert released["engines"] == ["preview"] and released["busy"] is False
    service.send({"type": "shutdown"})
    assert service.proc.wait(30) == 0
