"""Weights folder resolution, download mechanics (against a loopback HTTP server), conversion, refusal offline."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading

import pytest

from synchuman.errors import Cancelled, SyncHumanError
from synchuman.jobs import CancelToken
from synchuman.weights import (PROMPT_EMBEDS_FILE, REQUIRED_FILES, RemoteFile, convert_downloaded_prompt_embeds, download_file,
                               missing_files, require_weights, resolve_weights_dir)

PAYLOAD = bytes(range(256)) * 8192  # 2 MiB


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file with HTTP Range support; records the ranges asked for."""

    requests: list[str | None] = []

    def do_GET(self):  # noqa: N802 - http.server naming
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/file"
    httpd.shutdown()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_verifies_and_reports_progress(server, tmp_path):
    seen = []
    path = download_file(RemoteFile(server, "ckpts/a.bin", len(PAYLOAD), SHA), tmp_path,
                         lambda name, done, total: seen.append((name, done, total)), CancelToken())
    assert path.read_bytes() == PAYLOAD and not path.with_name("a.bin.part").exists()
    assert seen[-1] == ("ckpts/a.bin", len(PAYLOAD), len(PAYLOAD))
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    # A second call finds the verified file and downloads nothing.
    download_file(RemoteFile(server, "ckpts/a.bin", len(PAYLOAD), SHA), tmp_path, lambda *a: None, CancelToken())
    assert RangeHandler.requests == [None]


def test_download_resumes_a_part_file(server, tmp_path):
    part = tmp_path / "ckpts" / "a.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:700_000])
    path = download_file(RemoteFile(server, "ckpts/a.bin", len(PAYLOAD), SHA), tmp_path, lambda *a: None,
                         CancelToken())
    assert path.read_bytes() == PAYLOAD
    assert RangeHandler.requests == ["bytes=700000-"]


def test_cancel_keeps_the_part_for_later(server, tmp_path):
    cancel = CancelToken()

    def progress(name, done, total):
        if done >= 1 << 20:
            cancel.set("stop")

    with pytest.raises(Cancelled):
        download_file(RemoteFile(server, "w.bin", len(PAYLOAD), SHA), tmp_path, progress, cancel)
    assert (tmp_path / "w.bin.part").stat().st_size >= 1 << 20 and not (tmp_path / "w.bin").exists()
    download_file(RemoteFile(server, "w.bin", len(PAYLOAD), SHA), tmp_path, lambda *a: None, CancelToken())
    assert (tmp_path / "w.bin").read_bytes() == PAYLOAD


def test_hash_mismatch_is_corrupt(server, tmp_path):
    with pytest.raises(SyncHumanError) as err:
        download_file(RemoteFile(server, "x.bin", len(PAYLOAD), "0" * 64), tmp_path, lambda *a: None, CancelToken())
    assert err.value.code == "weights.corrupt"
    assert not (tmp_path / "x.bin").exists() and not (tmp_path / "x.bin.part").exists()


def test_an_md5_only_source_is_checked_too(server, tmp_path):
    """rembg publishes only an MD5 for its U²-Net release file."""
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = download_file(RemoteFile(server, "background/u2net.onnx", md5=md5), tmp_path, lambda *a: None,
                         CancelToken())
    assert path.read_bytes() == PAYLOAD
    with pytest.raises(SyncHumanError) as err:
        download_file(RemoteFile(server, "background/other.onnx", md5="0" * 32), tmp_path, lambda *a: None,
                      CancelToken())
    assert err.value.code == "weights.corrupt" and not (tmp_path / "background" / "other.onnx").exists()


def test_unreachable_host_is_offline(tmp_path):
    with pytest.raises(SyncHumanError) as err:
        download_file(RemoteFile("http://127.0.0.1:9/none", "y.bin"), tmp_path, lambda *a: None, CancelToken())
    assert err.value.code == "weights.offline" and "--weights" in err.value.hint


def test_prompt_embeds_are_converted_without_unpickling_objects(tmp_path):
    import torch
    from safetensors.torch import load_file

    (tmp_path / "prompt_embeds").mkdir()
    normal, clr = torch.randn(7, 77, 16), torch.randn(7, 77, 16)
    torch.save(normal, tmp_path / "prompt_embeds" / "normal_embeds.pt")
    torch.save(clr, tmp_path / "prompt_embeds" / "clr_embeds.pt")
    out = convert_downloaded_prompt_embeds(tmp_path)
    loaded = load_file(str(out))
    assert torch.equal(loaded["normal"], normal) and torch.equal(loaded["clr"], clr)
    assert out == tmp_path / PROMPT_EMBEDS_FILE


def test_a_pickled_object_is_refused(tmp_path):
    import torch

    (tmp_path / "prompt_embeds").mkdir()
    torch.save({"evil": object.__new__(RangeHandler)}, tmp_path / "prompt_embeds" / "normal_embeds.pt")
    torch.save(torch.zeros(7, 77, 4), tmp_path / "prompt_embeds" / "clr_embeds.pt")
    with pytest.raises(SyncHumanError) as err:
        convert_downloaded_prompt_embeds(tmp_path)
    assert err.value.code == "weights.corrupt" and "not a plain tensor file" in err.value.message


def test_missing_pieces_are_named_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCHUMAN_WEIGHTS", str(tmp_path))
    assert resolve_weights_dir() == (tmp_path.resolve(), "SYNCHUMAN_WEIGHTS")
    assert len(missing_files(tmp_path)) == len(REQUIRED_FILES) + 1
    with pytest.raises(SyncHumanError) as err:
        require_weights()
    assert err.value.code == "weights.missing" and f"synchuman weights download --dir {tmp_path}" in err.value.hint


def test_download_refuses_clearly_offline(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "synchuman", "weights", "download", "--dir", str(tmp_path),
                           "--json"], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1
    err = json.loads(proc.stdout.splitlines()[-1])
    assert err["code"] == "weights.offline" and "SYNCHUMAN_WEIGHTS" in err["hint"]
