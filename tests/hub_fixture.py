"""A loopback stand-in for the weights' download hosts (tests only): 127.0.0.1, an ephemeral port,
a thread that ends with the `with` block. Serves

* /api/models/<repo>[...]           the hub's model info: one sibling per file under ckpts/, with sizes
                                    and SHA-256 (what `huggingface_hub` reads when HF_ENDPOINT points here);
* /<repo>/resolve/main/<file>       and /files/<file>: the file's bytes.

A file listed in `stall` sends its first `stall_after` bytes and then waits, bounded, until the
fixture closes: a download that can only end by being cancelled.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from contextlib import contextmanager

REPO = "xishushu/SyncHuman"
STALL_LIMIT_S = 120.0


@contextmanager
def serve_hub(files: dict[str, bytes], stall: tuple[str, ...] = (), stall_after: int = 0):
    release = threading.Event()
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server naming
            path = self.path.split("?")[0]
            hits.append(path)
            if path.startswith(f"/api/models/{REPO}"):
                siblings = [{"rfilename": name, "size": len(data),
                             "lfs": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                     "pointerSize": 130}}
                            for name, data in files.items() if name.startswith("ckpts/")]
                return self._send(json.dumps({"id": REPO, "modelId": REPO, "sha": "0" * 40,
                                              "siblings": siblings}).encode(), "application/json")
            for prefix in (f"/{REPO}/resolve/main/", "/files/"):
                name = path[len(prefix):] if path.startswith(prefix) else None
                if name in files:
                    if name in stall:
                        return self._stall(files[name])
                    return self._send(files[name], "application/octet-stream")
            self.send_error(404)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stall(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:stall_after])
            self.wfile.flush()
            release.wait(STALL_LIMIT_S)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="hub-fixture", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
