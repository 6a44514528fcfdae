"""JobClient on its own: start failures, wrong protocol, hello timeout, and the real backend's
handshake, info and clean stop. Fake backends are tiny scripts run as the "interpreter"."""

from __future__ import annotations

import time

import pytest

from blender_helpers import ROOT, fake_python  # noqa: F401

from synchuman_blender import client as client_mod  # noqa: E402  (the package is importable from ROOT)
from synchuman_blender.client import DEAD, READY, STOPPED, BackendConfig, JobClient


def drain(client: JobClient) -> list[dict]:
    events = []
    while not client.events.empty():
        events.append(client.events.get_nowait())
    return events


def test_backend_that_cannot_start_fails_the_job_with_its_log(tmp_path):
    python = fake_python(tmp_path, """
        print("/usr/bin/python: No module named synchuman", file=sys.stderr)
        sys.exit(1)
    """)
    client = JobClient(BackendConfig(python=python, log_path=str(tmp_path / "backend.log")))
    final = client.run_job("/nowhere.png", str(tmp_path), {})
    assert final["type"] == "error" and final["code"] == "backend.start_failed"
    assert any("No module named synchuman" in line for line in final["details"]["log_tail"])
    assert client.state == DEAD
    assert "No module named synchuman" in (tmp_path / "backend.log").read_text()


def test_backend_with_another_protocol_is_refused(tmp_path):
    python = fake_python(tmp_path, """
        print("this is not protocol", flush=True)   # stray output is logged, not fatal
        hello = json.loads(sys.stdin.readline())
        print(json.dumps({"type": "hello", "id": hello["id"], "protocol": 99, "backend": "synchuman",
                          "version": "9.0", "pid": 1, "engines": []}), flush=True)
        time.sleep(30)
    """)
    client = JobClient(BackendConfig(python=python))
    final = client.run_job("/nowhere.png", str(tmp_path), {})
    assert final["code"] == "backend.incompatible" and "99" in final["message"]
    assert any("this is not protocol" in line for line in client.log_tail)
    assert client.state == DEAD


def test_backend_that_never_answers_times_out(tmp_path):
    python = fake_python(tmp_path, "time.sleep(60)\n")
    client = JobClient(BackendConfig(python=python, hello_timeout_s=1.0))
    started = time.monotonic()
    final = client.run_job("/nowhere.png", str(tmp_path), {})
    assert final["code"] == "backend.timeout"
    assert time.monotonic() - started < 15


def test_missing_interpreter_raises_oserror(tmp_path):
    client = JobClient(BackendConfig(python=str(tmp_path / "no-python")))
    with pytest.raises(OSError):
        client.start()
    assert client_mod.check_interpreter(str(tmp_path / "no-python")).endswith("does not exist.")


def test_real_backend_handshake_and_clean_stop(backend, tmp_path):
    client = JobClient(BackendConfig(python=backend, log_path=str(tmp_path / "backend.log")))
    try:
        assert client.wait_ready(60), list(client.log_tail)
        assert client.hello["protocol"] == client_mod.PROTOCOL_VERSION
        assert "preview" in client.hello["engines"]
        pid = client.pid
    finally:
        client.stop(timeout=15)
    assert client.state == STOPPED and client.returncode == 0
    states = [e["state"] for e in drain(client) if e["type"] == "client.state"]
    assert states == ["STARTING", READY, STOPPED]
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def test_json_stream_cuts_objects_and_rejects_only_bad_lines():
    from synchuman_blender.runner import JsonStream

    stream = JsonStream()
    lines = ['{"type": "a"}\n', "warning: stray text\n", "\n", "{\n", '  "dir": "/w",\n', '  "n": [1,\n', "2]\n",
             "}\n", '{"type": "cut sh\n', '{"type": "b"}\n', "[1, 2]\n", "{\n"]
    objects, rejected = [], []
    for line in lines:
        more, bad = stream.feed(line)
        objects += more
        rejected += bad
    assert objects == [{"type": "a"}, {"dir": "/w", "n": [1, 2]}, {"type": "b"}]
    assert rejected == ["warning: stray text", '{"type": "cut sh', "[1, 2]"]
    assert stream.close() == ["{"]  # an object that never finished
