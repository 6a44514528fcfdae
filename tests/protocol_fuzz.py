"""Seeded hostile request lines and a raw-bytes driver for `synchuman serve --stdio`; shared by the
fuzz test and benchmarks/hostile_probe.py."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import queue

SEEDS = [  # valid requests that finish at once (missing photos) and never stop the service
    '{"type":"hello","protocol":1,"client":"fuzz","id":1}',
    '{"type":"reconstruct","job":"f1","photo":"/nonexistent/a.png","output_dir":"/nonexistent/out","id":"r"}',
    '{"type":"reconstruct","job":"f2","photo":"/nonexistent/b.png","output_dir":"/x","settings":{"seed":3}}',
    '{"type":"cancel","job":"f9","id":2}',
    '{"type":"release","id":null}',
]
HOSTILE = [
    '{"type":[]}', '{"type":{}}', '{"type":null}', "[" * 100_000, "{" * 5000, '{"id":' + "9" * 5000 + "}",
    '{"type":"hello","id":NaN}', '{"type":"hello","id":Infinity}', '{"type":"hello","id":"\\ud800"}',
    '{"type":"hello",\r"id":"cr"}', '{"type":"hello","protocol":"1"}', '"just a string"', "null", "1e999",
    '{"type":"reconstruct","job":"\\udce9","photo":"caf\\udce9.png","output_dir":"/nonexistent"}',
    '{"type":"reconstruct","job":"n","photo":"a\\u0000b","output_dir":"o\\u0000"}',
]
ALPHABET = '{}[]":,\\ 0123456789.eE+-truefalsenullNaNInfinity\t\r\x00\u00e9\ud7ff\U0001f600abc'


def _mutate(rng: random.Random, line: str) -> str:
    chars = list(line)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rng.choice(ALPHABET))
        elif op == 2 and chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(ALPHABET)
        else:
            chars[pos:pos] = list(rng.choice(SEEDS + HOSTILE)[: rng.randint(1, 40)])
    return "".join(chars)


def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "bool", "null"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 2**63, rng.randint(-10**6, 10**6)])
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "str":
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "id", "job", "photo", "output_dir", "settings", "protocol", "client", "x"]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def fuzz_lines(seed: int, count: int) -> list[bytes]:
    """`count` request lines (bytes without the newline): the hostile set, then random and mutated ones."""
    rng = random.Random(seed)
    lines = [h.encode("utf-8", "surrogatepass") for h in HOSTILE]
    while len(lines) < count:
        roll = rng.random()
        if roll < 0.3:
            value = _random_value(rng)
            if isinstance(value, dict) and rng.random() < 0.5:
                value["type"] = rng.choice(["hello", "reconstruct", "cancel", "release", "dance", 7])
            text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        elif roll < 0.9:
            text = _mutate(rng, rng.choice(SEEDS + HOSTILE))
        else:
            text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60)))
        data = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.05:
            data += bytes([rng.choice([0x80, 0xff, 0xc3])])  # invalid UTF-8
        lines.append(data.replace(b"\n", b" "))
    return lines[:count]


def _is_answer(event: dict, accepted: set) -> bool:
    """An event that answers a request, as opposed to the end of a job accepted earlier."""
    if event["type"] == "accepted":
        accepted.add(event["job"])
    if event["type"] in ("progress", "result"):
        return False
    if event["type"] == "error" and "id" not in event and event.get("job") in accepted:
        accepted.discard(event["job"])
        return False
    return True


def run_fuzz(lines: list[bytes], timeout: float = 30.0) -> dict:
    """Sends each line, then a `hello` marker, and collects what the service answered before the
    marker. Returns counts, the lines left unanswered, non-JSON stdout and the exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "synchuman", "serve", "--stdio"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out: "queue.Queue[bytes | None]" = queue.Queue()

    def read() -> None:
        for raw in proc.stdout:
            out.put(raw)
        out.put(None)

    threading.Thread(target=read, daemon=True).start()
    unanswered, bad_stdout, answered, exited, accepted = [], [], 0, False, set()
    for n, line in enumerate(lines):
        marker = f"fuzz-mark-{n}"
        try:
            proc.stdin.write(line + b"\n" + json.dumps({"type": "hello", "id": marker}).encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            exited = True
            break
        answers = 0
        while True:
            try:
                raw = out.get(timeout=timeout)
            except queue.Empty:
                raw = None
            if raw is None:
                exited = True
                break
            try:
                event = json.loads(raw.decode("utf-8"), parse_constant=lambda c: 1 / 0)
            except (ValueError, ZeroDivisionError):
                bad_stdout.append(raw)
                continue
            if event.get("id") == marker and event["type"] == "hello":
                break
            answers += _is_answer(event, accepted)
        if exited:
            unanswered.append(line)
            break
        # a valid cancel of a job that is running is answered by that job's end, which may come later
        if answers == 0 and not _valid_cancel(line) and line.strip(b" \t\r"):
            unanswered.append(line)
        answered += answers > 0
    alive = proc.poll() is None
    proc.stdin.close()
    rc = proc.wait(30)
    return {"lines": len(lines), "answered": answered, "unanswered": unanswered, "bad_stdout": bad_stdout,
            "alive_at_end": alive and not exited, "rc": rc}


def _valid_cancel(line: bytes) -> bool:
    try:
        msg = json.loads(line.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return False
    return isinstance(msg, dict) and msg.get("type") == "cancel"
