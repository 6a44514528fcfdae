"""Protocol framing and validation (pure functions; the live service is tested in test_service.py)."""

from __future__ import annotations

import json

import pytest

from synchuman.protocol import PROTOCOL_VERSION, ProtocolError, decode_request, encode, error_event


def test_encode_is_one_line_of_json():
    line = encode({"type": "progress", "message": "two\nlines", "path": "C:\\x"})
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["message"] == "two\nlines"


@pytest.mark.parametrize("line, code", [
    ("{not json", "protocol.bad_json"),
    ("[1, 2]", "protocol.bad_request"),
    ('{"type": "dance"}', "protocol.unknown_type"),
    ('{"id": 3}', "protocol.unknown_type"),
    ('{"type": "reconstruct", "job": "a", "photo": "p.png"}', "protocol.bad_request"),
    ('{"type": "reconstruct", "job": 5, "photo": "p.png", "output_dir": "o"}', "protocol.bad_request"),
    ('{"type": "reconstruct", "job": "a", "photo": "", "output_dir": "o"}', "protocol.bad_request"),
    ('{"type": "reconstruct", "job": "a", "photo": "p", "output_dir": "o", "settings": 3}', "protocol.bad_request"),
    ('{"type": "cancel"}', "protocol.bad_request"),
    ('{"type": "info", "verbose": true}', "protocol.bad_request"),
    ('{"type": "hello", "protocol": 999}', "protocol.version_mismatch"),
])
def test_bad_requests_have_stable_codes(line, code):
    with pytest.raises(ProtocolError) as err:
        decode_request(line)
    assert err.value.code == code


def test_request_id_survives_into_the_error():
    with pytest.raises(ProtocolError) as err:
        decode_request('{"type": "cancel", "id": 17}')
    assert err.value.request_id == 17


def test_valid_requests_round_trip():
    msg = {"type": "reconstruct", "id": 1, "job": "j", "photo": "a.png", "output_dir": "/o",
           "settings": {"seed": 3}}
    assert decode_request(encode(msg)) == msg
    assert decode_request(encode({"type": "hello", "protocol": PROTOCOL_VERSION}))["type"] == "hello"


def test_error_event_shape():
    event = error_event("input.unreadable", "bad", "fix it", job="j", request_id=2)
    assert event == {"type": "error", "code": "input.unreadable", "message": "bad", "hint": "fix it",
                     "details": {}, "job": "j", "id": 2}


@pytest.mark.parametrize("line, code", [
    ('{"type": []}', "protocol.unknown_type"),                     # unhashable: was a TypeError
    ('{"type": {}}', "protocol.unknown_type"),
    ("[" * 100_000, "protocol.bad_json"),                         # was a RecursionError
    ('{"type": "hello", "id": ' + "9" * 5000 + "}", "protocol.bad_json"),  # was a ValueError (int limit)
    ('{"type": "hello", "id": NaN}', "protocol.bad_json"),         # was echoed back bare
    ('{"type": "hello", "id": -Infinity}', "protocol.bad_json"),
    ('{"type": "hello", "id": [1]}', "protocol.bad_request"),      # ids are scalars: echoing cannot fail
    ('{"type": "hello", "protocol": "1"}', "protocol.bad_request"),
    ('{"type": "hello", "protocol": true}', "protocol.bad_request"),
])
def test_hostile_lines_are_protocol_errors(line, code):
    with pytest.raises(ProtocolError) as err:
        decode_request(line)
    assert err.value.code == code


def test_protocol_as_a_string_gets_a_message_that_says_so():
    with pytest.raises(ProtocolError) as err:
        decode_request('{"type": "hello", "protocol": "1"}')
    assert "must be an integer" in str(err.value) and "'1'" in str(err.value)


def test_encode_is_strict_json_and_always_utf8():
    line = encode({"type": "result", "job": "caf\udce9.png", "id": "\ud800", "x": float("nan"),
                   "nested": {"y": [float("inf"), 1.5]}, "name": "Zoë"})
    line.encode("utf-8")  # a lone surrogate is escaped, not written raw
    msg = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} emitted"))
    assert msg["job"] == "caf\udce9.png" and msg["id"] == "\ud800"  # the client gets the exact string back
    assert msg["x"] is None and msg["nested"]["y"] == [None, 1.5] and msg["name"] == "Zoë"
    assert "Zoë" in encode({"type": "hello", "name": "Zoë"})  # readable UTF-8 whenever possible
