"""
Hostile input, generated: bad JSON, bad frames, bad handshakes and bad HTTP
requests against a real ``runwebsocket --http`` process.

Each case checks that the sender got the answer docs/protocol.md documents
(an ``error`` frame of the right kind, a close code, an HTTP status with a JSON
body) and then that a fresh client can still call. Every new input path gets
its bad cases here.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import struct
import time

import pytest
import websocket

from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env

# The server subprocess keeps its sessions in the test database: collecting these tests as
# database tests makes pytest-django create it (their own transactions touch nothing).
pytestmark = pytest.mark.django_db

CSRF = "hostile0hostile0hostile0hostile0"  # an unmasked 32-character CSRF secret
MASK = b"\x11\x22\x33\x44"
CALL = {"type": "call", "id": 7, "signal": "hostile.echo", "kwargs": {}}


@pytest.fixture(scope="module")
def server(redis_server, django_db_setup):
    overrides = {
        "SIGNAL_MODULES": ["tests.testapp.hostile_signals"],
        "RATE_LIMIT": 0,
        "HANDSHAKE_TIMEOUT": 2,
    }
    srv = Server(subprocess_env(), http=True, overrides=overrides).start()
    yield srv
    srv.stop()


def still_serving(server) -> None:
    """A fresh client connects and calls successfully."""
    tab = Tab(server.url)
    try:
        answer = tab.call("hostile.echo", alive=1)
        assert answer == {**answer, "type": "result", "ok": True, "results": [{"alive": 1}]}
    finally:
        tab.close()


# -- JSON texts: refused on the websocket and in HTTP bodies alike ----------------


def _nest(open_: str, close: str, depth: int, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


def _call_text(kwargs_text: str) -> str:
    return '{"type":"call","id":7,"signal":"hostile.echo","kwargs":' + kwargs_text + "}"


MALFORMED = [
    "{",
    "}",
    "[",
    "",
    " ",
    "nul",
    "tru",
    "{'type': 'call'}",
    '{"type":"call",}',
    '{"a":1}{"b":2}',
    '{"a":1} x',
    "/* comment */{}",
    '{"a":01}',
    '{"a":.5}',
    '{"a":+1}',
    '{"a":0x10}',
    '{"a":"\x01"}',
    '{"a":"\\x41"}',
    '{"a":"\\u12"}',
    '"unterminated',
    "[1,2",
    '{"a" 1}',
    "{1:2}",
    "undefined",
    '{"a":1,"a"}',
    '{"type":"call","id":7,"signal":"hostile.echo","kwargs":{"x":[1,2,]}}',
]
NON_FINITE = [
    "NaN",
    "Infinity",
    "-Infinity",
    "[NaN]",
    "1e999",
    "-1e999",
    "1E400",
    _call_text('{"x":NaN}'),
    _call_text('{"x":Infinity}'),
    _call_text('{"x":-Infinity}'),
    _call_text('{"x":1e999}'),
    _call_text('{"x":[1,2,-1e400]}'),
    _call_text('{"x":{"y":1E999}}'),
]
DEEP = [
    _nest("[", "]", 33),
    _nest("[", "]", 64),
    "[" * 1000,
    "[" * 100_000,
    _nest("[", "]", 100_000),
    _nest('{"a":', "}", 33),
    _nest('{"a":', "}", 5000),
    _call_text(_nest("[", "]", 40)),
    _call_text('{"x":' + _nest("[", "]", 31) + "}"),
    _call_text('{"x":' + _nest('{"k":', "}", 40) + "}"),
]
HUGE_INT = [
    "1" + "0" * 5000,
    _call_text('{"x":' + "9" * 5000 + "}"),
    _call_text('{"x":-' + "9" * 4301 + "}"),
]
NOT_AN_OBJECT = ["1", '"call"', "[]", "null", "true", "1.5", '[{"type":"call"}]']
REFUSED_TEXTS = MALFORMED + NON_FINITE + DEEP + HUGE_INT + NOT_AN_OBJECT


def _text_id(text: str) -> str:
    return repr(text if len(text) < 40 else f"{text[:30]}...({len(text)} chars)")


@pytest.mark.parametrize("text", REFUSED_TEXTS, ids=_text_id)
def test_websocket_refuses_bad_json_with_bad_request(server, text):
    tab = Tab(server.url)
    tab.send(text)
    frame = tab.wait_for(lambda f: f["type"] == "error")
    assert frame["kind"] == "bad_request" and frame["id"] in (None, 7), frame
    assert tab.call("hostile.echo", same=1)["ok"] is True  # the connection survives
    tab.close()
    still_serving(server)


# -- frames with wrong fields (websocket) -------------------------------------------

# A call's "options" ({"wait": true}: floorkit/jobs/waiting.py), refused on both transports.
BAD_OPTIONS = [
    [],
    "wait",
    1,
    True,
    [{"wait": True}],
    {"wait": 1},
    {"wait": 0},
    {"wait": "true"},
    {"wait": None},
    {"wait": [True]},
    {"wait": {}},
    {"wait": True, "extra": 1},
    {"timeout": 5},
    {"onProgress": "alert(1)"},
    {"WAIT": True},
    {"": True},
    {"wait\u0000": True},
]

FIELD_CASES = [
    # (frame, kind, echoed id)
    *[
        ({**CALL, "type": bad}, "bad_request", 7)
        for bad in (None, 1, "CALL", "calls", "", ["call"])
    ],
    ({k: v for k, v in CALL.items() if k != "type"}, "bad_request", 7),
    ({**CALL, "type": "ping!", "id": 0}, "bad_request", None),
    *[
        ({**CALL, "id": bad}, "bad_request", None)
        for bad in (None, 0, -1, -(2**63), 2**53, 2**64, 1.5, "1", True, False, [], {}, 1e3)
    ],
    ({k: v for k, v in CALL.items() if k != "id"}, "bad_request", None),
    *[({**CALL, "signal": bad}, "bad_request", 7) for bad in (None, 1, [], {}, True)],
    ({k: v for k, v in CALL.items() if k != "signal"}, "bad_request", 7),
    *[({**CALL, "kwargs": bad}, "bad_request", 7) for bad in (None, [], "x", 1, True)],
    ({"type": "pong"}, "bad_request", None),
    ({"type": "hello", "id": 3}, "bad_request", 3),
    ({"type": "result", "id": 4, "ok": True}, "bad_request", 4),
    *[({**CALL, "options": bad}, "bad_request", 7) for bad in BAD_OPTIONS],
]


@pytest.mark.parametrize("frame, kind, echoed", FIELD_CASES, ids=lambda v: repr(v)[:60])
def test_websocket_refuses_wrong_fields(server, frame, kind, echoed):
    tab = Tab(server.url)
    tab.send(frame)
    answer = tab.wait_for(lambda f: f["type"] == "error")
    assert (answer["kind"], answer["id"]) == (kind, echoed), answer
    tab.close()
    still_serving(server)


# -- arguments, signals and targets: the same answers over websocket and HTTP -----------

SURROGATE = "\ud800"
ARG_CASES = [
    *[({"count": bad}, "count") for bad in ("abc", 1.5, True, None, [], {}, "1e5", "", "1.0")],
    *[
        ({"count": 1, "ratio": bad}, "ratio")
        for bad in (10**400, -(10**400), "1e999", "nan", "inf", "abc", True, [], {}, None)
    ],
    *[({"count": 1, "name": bad}, "name") for bad in (1, [], {}, True, None, SURROGATE)],
    *[({"count": 1, "flag": bad}, "flag") for bad in (2, "yes", [], 1.5, None, -1)],
    *[({"count": 1, "items": bad}, "items") for bad in ([1, "x"], "1", {}, [[1]], [True], 1)],
    *[({"count": 1, "options": bad}, "options") for bad in ([], "x", 1, True)],
    ({"count": 1, "options": {SURROGATE: 1}}, "options"),
    ({"count": 1, "options": {"k": ["ok", "\udfff"]}}, "options"),
    ({"count": 1, "unknown": 1}, "unknown"),
    ({}, "count"),
]
ECHO_SURROGATES = ["\ud800", "a\udbffb", "\udc00\ud800", "ok \ud83d"]
ROUTING_CASES = [
    # (signal, kwargs, to, kind)
    ("hostile.nope", {}, None, "unknown_signal"),
    ("", {}, None, "unknown_signal"),
    ("hostile.private", {}, None, "not_allowed"),
    ("hostile.members", {}, None, "login_required"),
    *[
        ("hostile.echo", {}, to, "invalid_target")
        for to in (
            "NOWHERE",
            1,
            [1],
            [None],
            {"GROUP": ["x"]},
            {"USER": ["a"], "X": 1},
            "USER",
            ["BROADCAST", "ELSEWHERE"],
            {},
        )
    ],
]


BAD_GROUP_NAMES = [
    "",
    ".",
    "a.",
    ".a",
    "a..b",
    "a b",
    "a/b",
    "a:b",
    "ü.x",
    "x" * 201,
    "a\nb",
    "*",
    "a.b\n",
]
GROUP_CASES = [
    # (signal, kwargs, kind): joining, leaving and reading presence, as an anonymous browser
    *[("floorkit.join", {"group": name}, "invalid_target") for name in BAD_GROUP_NAMES],
    *[("floorkit.leave", {"group": name}, "invalid_target") for name in BAD_GROUP_NAMES[:6]],
    *[("floorkit.presence", {"group": name}, "invalid_target") for name in BAD_GROUP_NAMES[:6]],
    *[
        ("floorkit.join", {"group": value}, "invalid_arguments")
        for value in (5, None, [], {}, True, ["tests.room.a"], 1.5)
    ],
    ("floorkit.join", {}, "invalid_arguments"),
    ("floorkit.join", {"group": "tests.room.a", "scope": "USER"}, "invalid_arguments"),
    ("floorkit.join", {"group": "\ud800"}, "invalid_arguments"),
    ("floorkit.join", {"group": "tests.room.closed"}, "not_allowed"),
    ("floorkit.join", {"group": "nobody.authorizes.this"}, "not_allowed"),
    ("floorkit.join", {"group": "tests.doc.1"}, "login_required"),
    ("floorkit.presence", {"group": "tests.room.closed"}, "not_allowed"),
    ("floorkit.presence", {"group": "tests.room.a", "limit": "many"}, "invalid_arguments"),
    ("floorkit.presence", {"group": "tests.room.a", "offset": [1]}, "invalid_arguments"),
    *[
        ("hostile.echo", {}, to, kind)
        for to, kind in [
            ({"group": "a..b"}, "invalid_target"),
            ({"group": None}, "invalid_target"),
            ({"group": ["tests.room.a"]}, "invalid_target"),
            ({"group": "tests.room.a", "x": 1}, "invalid_target"),
            ([{"group": "tests.room.closed"}], "not_allowed"),
            ([{"group": "nobody.x"}], "not_allowed"),
            ([{"group": "tests.doc.1"}], "login_required"),
            (["BROADCAST", {"group": "tests.room.closed"}], "not_allowed"),
        ]
    ],
]
GROUP_CASES = [
    case if len(case) == 4 else (case[0], case[1], None, case[2]) for case in GROUP_CASES
]


def _typed_id(case) -> str:
    return repr(case)[:60]


@pytest.mark.parametrize("kwargs, argument", ARG_CASES, ids=_typed_id)
def test_websocket_refuses_bad_arguments_naming_them(server, kwargs, argument):
    tab = Tab(server.url)
    answer = tab.call("hostile.typed", **kwargs)
    assert answer["type"] == "error" and answer["kind"] == "invalid_arguments", answer
    assert argument in answer["message"]
    tab.close()
    still_serving(server)


@pytest.mark.parametrize("text", ECHO_SURROGATES, ids=ascii)
def test_websocket_refuses_lone_surrogates_as_invalid_arguments(server, text):
    tab = Tab(server.url)
    answer = tab.call("hostile.echo", said=text)
    assert answer["kind"] == "invalid_arguments" and "said" in answer["message"], answer
    tab.close()
    still_serving(server)


@pytest.mark.parametrize("signal, kwargs, to, kind", ROUTING_CASES + GROUP_CASES, ids=_typed_id)
def test_websocket_refuses_bad_signals_targets_and_groups(server, signal, kwargs, to, kind):
    tab = Tab(server.url)
    tab.send({"type": "call", "id": 9, "signal": signal, "kwargs": kwargs, "to": to})
    answer = tab.wait_for(lambda f: f.get("id") == 9)
    assert (answer["type"], answer["kind"]) == ("error", kind), answer
    assert tab.call("hostile.echo", same=1)["type"] == "result"  # the socket goes on
    tab.close()
    still_serving(server)


def test_huge_presence_pages_are_capped(server):
    tab = Tab(server.url)
    answer = tab.call("floorkit.presence", group="tests.room.ok", limit=10**30, offset=10**30)
    assert answer["type"] == "result", answer
    assert answer["results"][0]["members"] == [] and answer["results"][0]["limit"] == 1000
    tab.close()


def test_a_handler_returning_nan_fails_without_emitting_it(server):
    tab = Tab(server.url)
    answer = tab.call("hostile.nan")
    assert answer["kind"] == "handler_failed", answer
    tab.close()
    still_serving(server)


# -- websocket frames: close codes --------------------------------------------------


def _frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return header + payload
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return header + MASK + masked


def _close(code: int, reason: bytes = b"") -> bytes:
    return _frame(0x8, struct.pack("!H", code) + reason)


PROTOCOL_CASES = [
    # (bytes sent after the handshake, close code expected)
    (_frame(0x1, b'{"type":"ping"}', mask=False), 1002),
    *[(_frame(op, b"x"), 1002) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)],
    *[(_frame(0x1, b"{}", rsv=rsv), 1002) for rsv in (1, 2, 4, 7)],
    (_frame(0x9, b"p" * 126), 1002),
    (_frame(0x9, b"p", fin=False), 1002),
    (_frame(0x8, b"c", fin=False), 1002),
    (_frame(0x0, b"orphan continuation"), 1002),
    (_frame(0x1, b"{", fin=False) + _frame(0x1, b"}"), 1002),
    *[
        (_frame(0x1, bad), 1007)
        for bad in (
            b"\xff",
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"abc\xf8",
            b"\xe2\x82",
            b"\xf4\x90\x80\x80",
        )
    ],
    (_frame(0x1, b"\xe2", fin=False) + _frame(0x0, b"\x28\xa1"), 1007),
    *[(_close(code), 1002) for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)],
    (_frame(0x8, b"\x03"), 1002),
    (_close(1000, b"\xff\xfe"), 1007),
    (struct.pack("!BBQ", 0x81, 0xFF, 2 * 1024 * 1024) + MASK, 1009),
    (struct.pack("!BBQ", 0x82, 0xFF, 2**62) + MASK, 1009),
]


def _raw_socket(server) -> socket.socket:
    """A websocket opened by hand, past the handshake and the hello frame."""
    ws = websocket.create_connection(server.url, timeout=5, suppress_origin=True)
    ws.recv()  # hello
    return ws


def _close_code(ws) -> int | None:
    """Read frames until the server's close frame; return its code."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            opcode, frame = ws.recv_data_frame(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
    return None


@pytest.mark.parametrize("raw, code", PROTOCOL_CASES, ids=lambda v: repr(v)[:40])
def test_bad_frames_get_the_documented_close_code(server, raw, code):
    ws = _raw_socket(server)
    ws.sock.sendall(raw)
    assert _close_code(ws) == code
    ws.close()
    still_serving(server)


# After a ping or pong with nothing behind it the tab is parked (framing.CONTROL):
# the frames of the next write are read by a new burst, with the same checks.
AFTER_A_CONTROL_FRAME = [
    (_frame(0xA, b"beat"), _frame(0x9, b"p" * 126), 1002),
    (_frame(0x9, b"are you there"), _frame(0x0, b"orphan continuation"), 1002),
    (_frame(0xA, b""), _frame(0x1, b"\xff"), 1007),
    (_frame(0x1, b"{", fin=False) + _frame(0x9, b"mid"), _frame(0x1, b"}"), 1002),
    (_frame(0x1, b"\xe2", fin=False) + _frame(0xA, b""), _frame(0x0, b"\x28\xa1"), 1007),
    (_frame(0xA, b"beat"), struct.pack("!BBQ", 0x81, 0xFF, 2**62) + MASK, 1009),
]


@pytest.mark.parametrize("first, then, code", AFTER_A_CONTROL_FRAME, ids=lambda v: repr(v)[:40])
def test_bad_frames_after_a_ping_or_pong_get_the_same_close_code(server, first, then, code):
    ws = _raw_socket(server)
    ws.sock.sendall(first)
    time.sleep(0.1)  # read, and nothing behind it: parked (or, mid-message, waiting for the rest)
    ws.sock.sendall(then)
    assert _close_code(ws) == code
    ws.close()
    still_serving(server)


# -- handshakes ------------------------------------------------------------------

GOOD_KEY = base64.b64encode(b"k" * 16).decode()


def _handshake(server, **headers: str | None) -> tuple[int, dict[str, str]]:
    fields = {
        "Host": f"127.0.0.1:{server.port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": GOOD_KEY,
    }
    for name, value in headers.items():
        fields[name.replace("_", "-")] = value
    lines = ["GET /ws/floorkit/ HTTP/1.1"] + [
        f"{k}: {v}" for k, v in fields.items() if v is not None
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    return status, {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:])}


VERSIONS = ["8", "7", "12", "14", "abc", "0", "13, 8", "013"]
KEYS = [
    "",
    "abc",
    "not base64!!",
    base64.b64encode(b"k" * 15).decode(),
    base64.b64encode(b"k" * 17).decode(),
    "=" * 24,
]


def _origins(port: int) -> list[str]:
    return [
        f"https://127.0.0.1:{port}",
        "http://evil.example",
        "http://127.0.0.1:1",
        "null",
        "file://",
        f"http://127.0.0.1:{port}.evil.example",
        f"ftp://127.0.0.1:{port}",
        "http://",
        "javascript:alert(1)",
        "http://[::1",
        f"HTTPS://127.0.0.1:{port}",
        f"http://user@127.0.0.1:{port}",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_only_websocket_version_13_is_upgraded(server, version):
    status, headers = _handshake(server, **{"Sec-WebSocket-Version": version})
    assert status == 400 and headers["sec-websocket-version"] == "13"
    still_serving(server)


def test_a_missing_websocket_version_asks_for_13(server):
    status, headers = _handshake(server, **{"Sec-WebSocket-Version": None})
    assert status == 426 and headers["sec-websocket-version"] == "13"
    still_serving(server)


@pytest.mark.parametrize("key", [*KEYS, None])
def test_bad_websocket_keys_get_400(server, key):
    status, _headers = _handshake(server, **{"Sec-WebSocket-Key": key})
    assert status == 400
    still_serving(server)


@pytest.mark.parametrize("index", range(len(_origins(0))))
def test_foreign_or_wrong_scheme_origins_get_403(server, index):
    status, _headers = _handshake(server, Origin=_origins(server.port)[index])
    assert status == 403
    still_serving(server)


def test_the_sites_own_origin_is_upgraded(server):
    status, headers = _handshake(server, Origin=f"http://127.0.0.1:{server.port}")
    assert status == 101 and headers["upgrade"].lower() == "websocket"


def test_half_open_handshakes_are_dropped_while_tabs_are_served(server):
    held = []
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /ws/floorkit/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        held.append(sock)
    started = time.monotonic()
    still_serving(server)  # meanwhile, other tabs are served
    for sock in held:
        sock.settimeout(max(0.1, started + 8 - time.monotonic()))
        try:
            while sock.recv(4096):
                pass  # the server may answer 400 before closing
        except TimeoutError:
            pytest.fail("a half-open handshake was still held after HANDSHAKE_TIMEOUT + 6 s")
        except ConnectionError:
            pass
        sock.close()
    assert time.monotonic() - started < 8
    still_serving(server)


# -- HTTP endpoints: every answer is JSON ----------------------------------------


class Browser:
    """An anonymous visitor over HTTP: session and CSRF cookies, and a window token."""

    def __init__(self, server):
        self.server = server
        self.cookies = {"csrftoken": CSRF}
        status, body, headers = self.request("POST", "/floorkit/window/")
        assert status == 200, body
        self.token = body["token"]
        self.cookies["sessionid"] = headers["set-cookie"].split("sessionid=", 1)[1].split(";")[0]

    def request(self, method: str, path: str, body: bytes | str | None = None, **extra: str):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "X-CSRFToken": CSRF,
            "Content-Type": "application/json",
            **extra,
        }
        if getattr(self, "token", None):
            headers.setdefault("X-Floorkit-Window", self.token)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
        assert answer_headers.get("content-type") == "application/json", (
            response.status,
            raw[:3000],
        )
        return response.status, json.loads(raw), answer_headers

    def call(self, body: bytes | str | dict):
        data = json.dumps(body) if isinstance(body, dict) else body
        return self.request("POST", "/floorkit/call/", data)


@pytest.fixture(scope="module")
def browser(server):
    return Browser(server)


def _assert_error(answer, status: int, kind: str) -> dict:
    got_status, body, _headers = answer
    assert (got_status, body["ok"], body["kind"]) == (status, False, kind), body
    return body


@pytest.mark.parametrize("text", REFUSED_TEXTS, ids=_text_id)
def test_http_call_refuses_bad_json_with_400(server, browser, text):
    _assert_error(browser.call(text), 400, "bad_request")
    still_serving(server)


@pytest.mark.parametrize("kwargs, argument", ARG_CASES, ids=_typed_id)
def test_http_call_refuses_bad_arguments_naming_them(server, browser, kwargs, argument):
    body = _assert_error(
        browser.call({"signal": "hostile.typed", "kwargs": kwargs}), 400, "invalid_arguments"
    )
    assert argument in body["message"]
    still_serving(server)


@pytest.mark.parametrize("text", ECHO_SURROGATES, ids=ascii)
def test_http_call_refuses_lone_surrogates(server, browser, text):
    body = browser.call({"signal": "hostile.echo", "kwargs": {"said": text}})
    assert "said" in _assert_error(body, 400, "invalid_arguments")["message"]
    still_serving(server)


ROUTING_STATUS = {
    "unknown_signal": 404,
    "not_allowed": 403,
    "login_required": 403,
    "invalid_target": 400,
    "invalid_arguments": 400,
}


@pytest.mark.parametrize("signal, kwargs, to, kind", ROUTING_CASES + GROUP_CASES, ids=_typed_id)
def test_http_call_refuses_bad_signals_targets_and_groups(
    server, browser, signal, kwargs, to, kind
):
    answer = browser.call({"signal": signal, "kwargs": kwargs, "to": to})
    _assert_error(answer, ROUTING_STATUS[kind], kind)
    still_serving(server)


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=_typed_id)
def test_http_call_refuses_bad_options(server, browser, options):
    body = {"signal": "hostile.echo", "kwargs": {}, "id": 7, "options": options}
    _assert_error(browser.call(body), 400, "bad_request")
    still_serving(server)


# A call that waits needs its id (the outcome names it) and a window (where it goes).
BAD_WAIT_IDS = [None, 0, -1, 2**53, 1.5, "7", True, [7], {}]


@pytest.mark.parametrize("call_id", BAD_WAIT_IDS, ids=repr)
def test_http_calls_that_wait_need_a_valid_id(server, browser, call_id):
    body = {"signal": "hostile.echo", "kwargs": {}, "options": {"wait": True}}
    if call_id is not None:
        body["id"] = call_id
    _assert_error(browser.call(body), 400, "bad_request")
    still_serving(server)


def test_http_calls_that_wait_need_a_window(server, browser):
    body = json.dumps({"signal": "hostile.echo", "kwargs": {}, "id": 7, "options": {"wait": True}})
    answer = browser.request("POST", "/floorkit/call/", body, **{"X-Floorkit-Window": ""})
    assert "window" in _assert_error(answer, 400, "bad_request")["message"]
    still_serving(server)


def test_calls_that_wait_on_inline_handlers_only_are_answered_as_usual(server, browser):
    body = {"signal": "hostile.echo", "kwargs": {"a": 1}, "id": 7, "options": {"wait": True}}
    status, answer, _ = browser.call(body)
    assert (status, answer["results"], answer["jobs"]) == (200, [{"a": 1}], [])
    tab = Tab(server.url)
    tab.send({**CALL, "kwargs": {"a": 2}, "options": {"wait": True}})
    frame = tab.wait_for(lambda f: f.get("id") == 7)
    assert (frame["type"], frame["results"], frame["jobs"]) == ("result", [{"a": 2}], [])
    tab.send({**CALL, "options": {"wait": False}})
    assert tab.wait_for(lambda f: f.get("id") == 7)["type"] == "result"
    tab.close()


HTTP_ROUTES = {
    "/floorkit/window/": "POST",
    "/floorkit/call/": "POST",
    "/floorkit/poll/?after=0": "GET",
}
METHOD_CASES = [
    (path, method)
    for path, allowed in HTTP_ROUTES.items()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    if method != allowed
]


@pytest.mark.parametrize("path, method", METHOD_CASES)
def test_wrong_methods_get_json_405s(server, browser, path, method):
    answer = browser.request(method, path, b"{}")
    _assert_error(answer, 405, "method_not_allowed")
    assert answer[2]["allow"] == HTTP_ROUTES[path]
    still_serving(server)


BAD_AFTER = ["-1", "99999999999999999999999", str(2**63), "abc", "", "1.5", "0x10", "1e3", "-0x1"]


@pytest.mark.parametrize("after", [*BAD_AFTER, None])
def test_poll_refuses_bad_cursors_with_400(server, browser, after):
    path = "/floorkit/poll/" if after is None else f"/floorkit/poll/?after={after}"
    _assert_error(browser.request("GET", path), 400, "bad_request")
    still_serving(server)


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain"]
)
def test_oversized_bodies_get_413(server, browser, content_type):
    body = b"x" * (3 * 1024 * 1024)
    answer = browser.request("POST", "/floorkit/call/", body, **{"Content-Type": content_type})
    _assert_error(answer, 413, "too_large")
    still_serving(server)


def test_foreign_window_tokens_are_refused(server, browser):
    for token in ("garbage", "w1.sig", browser.token + "x", "." * 50):
        answer = browser.request("GET", "/floorkit/poll/?after=0", **{"X-Floorkit-Window": token})
        _assert_error(answer, 403, "foreign_window")
    still_serving(server)


def test_the_module_covers_at_least_300_inputs():
    count = (
        2 * len(REFUSED_TEXTS)
        + len(FIELD_CASES)
        + 2 * (len(ARG_CASES) + len(ECHO_SURROGATES) + len(ROUTING_CASES) + len(GROUP_CASES))
        + len(PROTOCOL_CASES)
        + len(VERSIONS)
        + 1
        + len(KEYS)
        + 1
        + len(_origins(0))
        + len(METHOD_CASES)
        + len(BAD_AFTER)
        + 1
        + 3
        + 4
        + len(TASK_RESULT_IDS)
        + len(BAD_OPTIONS)  # on HTTP (the websocket's are FIELD_CASES)
        + len(BAD_WAIT_IDS)
        + 1
    )
    print(f"hostile inputs: {count}")
    assert count >= 300, count


# -- task result ids (floorkit.tasks.RQBackend.get_result) -------------------------------

TASK_RESULT_IDS = [
    "",
    "0" * 32,
    "x" * 201,
    "x" * 100_000,
    "../../etc/passwd",
    "rq:job:abc",
    "*",
    "\x00",
    "id with spaces",
    "\udcff",
    "é" * 50,
    None,
    42,
    b"abc",
    ["abc"],
    "pickled",  # a pickle job of someone else's on the same Redis
    "unimportable",  # a JSON job naming a function that does not exist
]


@pytest.mark.parametrize("result_id", TASK_RESULT_IDS, ids=repr)
def test_task_result_ids_naming_no_floorkit_job_raise_does_not_exist(redis_client, result_id):
    from rq import Queue
    from rq.serializers import JSONSerializer

    from floorkit.tasks import compat

    if not compat.AVAILABLE and not os.environ.get("CI"):  # under CI: fail, never skip
        pytest.skip(compat.REASON)
    if result_id == "pickled":
        Queue("default", connection=redis_client).enqueue("os.getcwd", job_id="pickled")
    if result_id == "unimportable":
        Queue("default", connection=redis_client, serializer=JSONSerializer).enqueue(
            "nowhere.to_be.found", job_id="unimportable"
        )
    with pytest.raises(compat.TaskResultDoesNotExist):
        compat.task_backends["default"].get_result(result_id)
