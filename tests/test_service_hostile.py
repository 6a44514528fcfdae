"""The real `synchuman serve --stdio` against hostile requests: it answers, stays up, loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from partials import dead_pid, partial_of
from service_driver import ServiceProcess
from synchuman.jobs import PARTIAL_MARK


@pytest.fixture
def service():
    svc = ServiceProcess()
    yield svc
    svc.close()


def _ends(job):
    return lambda e: e.get("job") == job and e["type"] in ("result", "error")


def _answer(rid):
    return lambda e: e.get("id") == rid


def test_crashing_lines_get_errors_and_the_service_stays_up(service):
    for n, line in enumerate(['{"type":[],"id":1}', '{"type":{},"id":2}', "[" * 100_000,
                              '{"type":"hello","id":' + "7" * 5000 + "}", '{"type":"hello","id":NaN}',
                              '{"type":"hello","protocol":"1","id":3}']):
        service.send(line)
        err, _ = service.wait_for(lambda e: e["type"] == "error")
        assert err["code"].startswith("protocol."), (n, err)
    service.send({"type": "hello", "id": "alive"})
    service.wait_for(_answer("alive"))
    assert service.proc.poll() is None
    for line in service.raw_lines:  # strict JSON only: no bare NaN or Infinity
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {line!r}"))


def test_a_lone_surrogate_is_answered_and_a_latin1_file_name_gets_its_result(service, example_photo, tmp_path):
    service.send('{"type":"hello","id":"\\ud800"}')  # was: UnicodeEncodeError in emit, silent exit 0
    hello, _ = service.wait_for(lambda e: e["type"] == "hello")
    assert hello["id"] == "\ud800"
    latin1 = tmp_path / os.fsdecode(b"caf\xe9.png")  # a Latin-1 name as Linux hands it to Python
    latin1.write_bytes(example_photo.read_bytes())
    service.send({"type": "reconstruct", "job": latin1.name, "photo": str(latin1), "output_dir": str(tmp_path / "o"),
                  "settings": {"texture_size": 256}})
    result, _ = service.wait_for(_ends(latin1.name), timeout=180)
    assert result["type"] == "result" and result["metadata"]["input"]["path"] == str(latin1)
    assert Path(result["glb"]).is_file()


def test_a_cr_inside_a_line_does_not_split_the_request(service):
    service.send('{"type":"hello",\r"id":"cr"}')
    hello, before = service.wait_for(_answer("cr"))
    assert hello["type"] == "hello" and before == []


def test_accepted_comes_first_for_every_job(service, tmp_path):
    jobs = [f"j{i}" for i in range(200)]
    for job in jobs:  # missing photos: each job ends within milliseconds, racing its `accepted`
        service.send({"type": "reconstruct", "job": job, "photo": str(tmp_path / "none.png"),
                      "output_dir": str(tmp_path)})
    seen: dict[str, list[str]] = {}
    while len([j for j in seen if len(seen[j]) > 1 and seen[j][-1] == "error"]) < len(jobs):
        event, _ = service.wait_for(lambda e: "job" in e)
        seen.setdefault(event["job"], []).append(event["type"])
    assert all(kinds[0] == "accepted" for kinds in seen.values()), seen


def test_a_duplicate_job_error_does_not_name_the_live_job(service, example_photo, tmp_path):
    request = {"type": "reconstruct", "job": "live", "photo": str(example_photo), "output_dir": str(tmp_path),
               "settings": {"texture_size": 512}}
    service.send(request)
    service.wait_for(lambda e: e["type"] == "accepted")
    service.send({**request, "id": "again"})
    err, _ = service.wait_for(_answer("again"))
    assert err["code"] == "protocol.duplicate_job" and "job" not in err and "live" in err["message"]
    service.send({**request, "id": "again-bad", "settings": {"height_m": 99}})  # refused for the id first
    err, _ = service.wait_for(_answer("again-bad"))
    assert err["code"] == "protocol.duplicate_job" and "job" not in err
    result, _ = service.wait_for(_ends("live"), timeout=180)
    assert result["type"] == "result"  # the live job goes on


def test_bad_paths_are_coded_errors(service, example_photo, tmp_path):
    cases = {"long": (str(tmp_path / ("x" * 300 + ".png")), str(tmp_path), "input.bad_path"),
             "nul": (str(example_photo), str(tmp_path) + "/a\x00b", "output.bad_path"),
             "long-out": (str(example_photo), str(tmp_path / ("y" * 300)), "output.unwritable")}
    for job, (photo, out, code) in cases.items():
        service.send({"type": "reconstruct", "job": job, "photo": photo, "output_dir": out,
                      "settings": {"texture_size": 256}})
        err, _ = service.wait_for(_ends(job), timeout=120)
        assert err["type"] == "error" and err["code"] == code and err["hint"], err


def test_a_dangling_symlink_at_the_folder_name_is_stepped_over(service, example_photo, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / example_photo.stem).symlink_to(tmp_path / "gone")
    service.send({"type": "reconstruct", "job": "j", "photo": str(example_photo), "output_dir": str(out),
                  "settings": {"texture_size": 256}})
    result, _ = service.wait_for(_ends("j"), timeout=180)
    assert result["type"] == "result", result
    assert Path(result["job_dir"]).name == f"{example_photo.stem}-2"
    assert (out / example_photo.stem).is_symlink() and not (tmp_path / "gone").exists()


def test_sigterm_cancels_the_job_and_the_next_service_sweeps_only_dead_partials(example_photo, tmp_path):
    out = tmp_path / "out"
    svc = ServiceProcess()
    svc.start_busy_job(example_photo, out)
    svc.proc.send_signal(signal.SIGTERM)
    err, _ = svc.wait_for(_ends("j"), timeout=60)
    assert err["code"] == "job.cancelled" and "terminated" in err["message"]
    assert svc.proc.wait(60) == 128 + signal.SIGTERM
    assert not any(PARTIAL_MARK in p.name for p in out.iterdir())

    # Leftovers of a SIGKILLed service are swept by the next one; a live process's folder is kept.
    dead = partial_of(dead_pid(), out, "dead")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live = partial_of(sleeper.pid, out, "live")
        legacy = out / f".old{PARTIAL_MARK}0123abcd"  # no owner: cannot be proven dead
        legacy.mkdir()
        svc = ServiceProcess()
        svc.send({"type": "reconstruct", "job": "k", "photo": str(example_photo), "output_dir": str(out),
                  "settings": {"texture_size": 256}})
        result, _ = svc.wait_for(_ends("k"), timeout=180)
        assert result["type"] == "result"
        assert not dead.exists() and live.is_dir() and (live / "job.log").is_file() and legacy.is_dir()
        assert svc.close() == 0
    finally:
        sleeper.kill()
        sleeper.wait()
