"""
floorkit.websocket.framing and .handshake against real clients over real sockets.

The servers run in a subprocess (gevent's pywsgi with floorkit's handler); the
tests talk to them with websocket-client or raw sockets. No Django involved.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websocket
from websocket import ABNF

from floorkit.websocket import masking

pytestmark = []

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3
GOOD_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # its Sec-WebSocket-Accept, from the RFC
MASK = b"\x37\xfa\x21\x3d"

# Three servers: the default limit (1 MiB), a handler made with make_handler(1000),
# and a server object carrying max_message_size = 2000. Each echoes every message
# back (text as text, binary as binary), except on /close, where the server
# closes at once with close(4000, "bye").
SERVER = r"""
import json, os
import gevent
from gevent import pywsgi
from floorkit.websocket.handshake import WebSocketHandler, make_handler

def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain HTTP"]
    if environ["PATH_INFO"] == "/close":
        ws.close(4000, "bye")
        return []
    while True:
        message = ws.receive()
        if message is None:
            return []
        ws.send(message)

class LimitedServer(pywsgi.WSGIServer):
    max_message_size = 2000

servers = {
    "default": pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None),
    "handler_1000": pywsgi.WSGIServer(
        ("127.0.0.1", 0), app, handler_class=make_handler(max_message_size=1000), log=None
    ),
    "server_2000": LimitedServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None),
}
for server in servers.values():
    server.start()
print(json.dumps({name: s.server_port for name, s in servers.items()}), flush=True)
parent = os.getppid()
while os.getppid() == parent:  # exit with the test process, whatever happens to it
    gevent.sleep(0.5)
"""


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line, f"the websocket server did not start (exit code {proc.poll()})"
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()


@contextmanager
def client(port: int, path: str = "/echo") -> Iterator[websocket.WebSocket]:
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}{path}", timeout=5, skip_utf8_validation=True
    )
    try:
        yield ws
    finally:
        ws.shutdown()


def close_of(ws: websocket.WebSocket) -> tuple[int, str]:
    """Read frames up to the server's close frame; return its code and reason."""
    for _ in range(10):
        frame = ws.recv_frame()  # websocket-client rejects an invalid close code itself
        if frame.opcode == ABNF.OPCODE_CLOSE:
            assert len(frame.data) >= 2, f"close frame without a code: {frame.data!r}"
            return struct.unpack("!H", frame.data[:2])[0], frame.data[2:].decode("utf-8")
    raise AssertionError("no close frame")


def fragment(ws: websocket.WebSocket, opcode: int, parts: list[bytes]) -> None:
    """Send ``parts`` as the fragments of one message."""
    for index, part in enumerate(parts):
        ws.send_frame(
            ABNF(
                fin=int(index == len(parts) - 1),
                opcode=opcode if index == 0 else ABNF.OPCODE_CONT,
                data=part,
            )
        )


# -- raw sockets ---------------------------------------------------------------


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {count} bytes")
        data += chunk
    return data


def raw_handshake(
    port: int, key: str | None = GOOD_KEY
) -> tuple[socket.socket, int, dict[str, str], bytes]:
    """Send an upgrade request; return the socket, status, headers and body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    request = (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    )
    if key is not None:
        request += f"Sec-WebSocket-Key: {key}\r\n"
    sock.sendall((request + "\r\n").encode("latin-1"))
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exactly(sock, 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {name.lower(): value.strip() for name, value in (h.split(":", 1) for h in lines)}
    body = recv_exactly(sock, int(headers.get("content-length", 0)))
    return sock, int(status_line.split()[1]), headers, body


def masked_frame(opcode: int, payload: bytes = b"", *, length: int | None = None) -> bytes:
    """A final, masked client frame; ``length`` overrides the announced length."""
    length = len(payload) if length is None else length
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return header + MASK + masked


def read_server_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = recv_exactly(sock, 2)
    assert not second & 0x80, "server frames must not be masked"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", recv_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", recv_exactly(sock, 8))
    return first & 0x0F, recv_exactly(sock, length)


# -- close codes on the wire ----------------------------------------------------


def test_server_close_puts_code_and_reason_on_the_wire(ports):
    with client(ports["default"], "/close") as ws:
        assert close_of(ws) == (4000, "bye")


def test_client_close_is_answered_with_its_code_and_reason(ports):
    with client(ports["default"]) as ws:
        ws.send_close(4001, b"see you")
        assert close_of(ws) == (4001, "see you")


# -- size limit ------------------------------------------------------------------


def test_message_at_the_default_limit_is_accepted(ports):
    payload = os.urandom(MiB)
    with client(ports["default"]) as ws:
        ws.send_binary(payload)
        assert ws.recv() == payload


def test_frame_over_the_limit_gets_1009(ports):
    with client(ports["default"]) as ws:
        ws.send_binary(b"x" * (2 * MiB))
        assert close_of(ws)[0] == 1009


def test_client_still_sending_an_oversize_message_reads_1009_not_a_reset(ports):
    # Larger than the kernel buffers: the server stops reading long before the
    # client is done. Closing the socket then would reset the connection under
    # the sender; the handler drains the rest instead, and the client sees 1009.
    with client(ports["default"]) as ws:
        ws.send_binary(b"x" * (16 * MiB))
        assert close_of(ws)[0] == 1009


def test_fragments_summing_over_the_limit_get_1009(ports):
    with client(ports["default"]) as ws:
        # Each fragment is under 1 MiB; together they are over it.
        fragment(ws, ABNF.OPCODE_BINARY, [b"a" * (600 * 1024), b"b" * (600 * 1024)])
        assert close_of(ws)[0] == 1009


def test_huge_length_is_refused_from_the_header_alone(ports):
    sock, status, _, _ = raw_handshake(ports["default"])
    with sock:
        assert status == 101
        sock.settimeout(2)  # a server waiting for the 64 MiB payload would time out here
        sock.sendall(masked_frame(ABNF.OPCODE_BINARY, length=64 * MiB))  # header only
        opcode, payload = read_server_frame(sock)
        assert (opcode, payload[:2]) == (ABNF.OPCODE_CLOSE, struct.pack("!H", 1009))
        assert sock.recv(1) == b""  # and the server stopped: EOF


@pytest.mark.parametrize(("server", "limit"), [("handler_1000", 1000), ("server_2000", 2000)])
def test_configured_limit_is_enforced_to_the_byte(ports, server, limit):
    with client(ports[server]) as ws:
        ws.send_binary(b"\x01" * limit)
        assert ws.recv() == b"\x01" * limit
        fragment(ws, ABNF.OPCODE_TEXT, [b"a" * (limit // 2), b"b" * (limit - limit // 2)])
        assert ws.recv() == "a" * (limit // 2) + "b" * (limit - limit // 2)
        ws.send_binary(b"\x01" * (limit + 1))
        assert close_of(ws)[0] == 1009


# -- unmasking and UTF-8 -----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 4097, 65539])
def test_the_c_unmasking_and_the_python_one_give_the_same_bytes(size):
    """The server unmasks in C (websockets' ``apply_mask``), byte for byte as RFC 6455 says."""
    assert masking.unmask is not masking.unmask_in_python, "websockets' C extension is missing"
    payload, key = os.urandom(size), os.urandom(4)
    by_the_rfc = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert masking.unmask(payload, key) == masking.unmask_in_python(payload, key) == by_the_rfc


def test_1mib_text_message_echoes_intact(ports):
    text = "aé€𝄞" * (MiB // 10) + "aé€"  # 1, 2, 3 and 4-byte characters
    assert len(text.encode()) == MiB
    with client(ports["default"]) as ws:
        ws.send(text)
        assert ws.recv() == text


@pytest.mark.parametrize("size", [0, 1, 3, 5, 125, 126, 127, 65535, 65536, 65539])
def test_binary_messages_of_every_length_class_echo_intact(ports, size):
    payload = os.urandom(size)
    with client(ports["default"]) as ws:
        ws.send_binary(payload)
        assert ws.recv() == payload


def test_fragmented_text_with_characters_split_across_fragments_echoes(ports):
    encoded = ("€𝄞" * 50_000).encode()
    parts = [encoded[:100_001], encoded[100_001:200_002], encoded[200_002:]]
    with client(ports["default"]) as ws:
        fragment(ws, ABNF.OPCODE_TEXT, parts)
        assert ws.recv() == "€𝄞" * 50_000


@pytest.mark.parametrize(
    "parts",
    [
        [b"\xff"],
        [b"ok \xed\xa0\x80"],  # a UTF-16 surrogate
        [b"\xc0\xaf"],  # an overlong "/"
        [b"\xf4\x90\x80\x80"],  # above U+10FFFF
        [b"cut \xe2\x82"],  # truncated at the end of the message
        [b"fine", b"\xe2\x82", b"(\xac"],  # broken across fragments
    ],
    ids=["ff", "surrogate", "overlong", "above-max", "truncated", "fragmented"],
)
def test_invalid_utf8_text_gets_1007(ports, parts):
    with client(ports["default"]) as ws:
        fragment(ws, ABNF.OPCODE_TEXT, parts)
        assert close_of(ws)[0] == 1007


def test_unmasked_client_frame_gets_1002(ports):
    sock, status, _, _ = raw_handshake(ports["default"])
    with sock:
        assert status == 101
        sock.sendall(b"\x81\x02hi")  # a text frame without the mask bit
        opcode, payload = read_server_frame(sock)
        assert (opcode, payload[:2]) == (ABNF.OPCODE_CLOSE, struct.pack("!H", 1002))


# -- handshake -------------------------------------------------------------------


def test_good_handshake_switches_protocols(ports):
    sock, status, headers, _ = raw_handshake(ports["default"], GOOD_KEY)
    with sock:
        assert status == 101
        assert headers["sec-websocket-accept"] == GOOD_ACCEPT
        sock.sendall(masked_frame(ABNF.OPCODE_TEXT, b"hello"))
        assert read_server_frame(sock) == (ABNF.OPCODE_TEXT, b"hello")


@pytest.mark.parametrize(
    "key",
    [
        "not-base64!!",
        "abc",  # bad padding
        "YWJj",  # base64 of 3 bytes
        "dGhlIHNhbXBsZSBub25jZQ",  # 16 bytes, padding missing
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",  # trailing garbage
        "",
        None,
    ],
)
def test_bad_key_gets_400_with_its_whole_body(ports, key):
    sock, status, _, body = raw_handshake(ports["default"], key)
    with sock:
        assert status == 400
        assert body and b"Sec-WebSocket-Key" in body


def test_frames_sent_with_the_handshake_are_not_lost(ports):
    """
    A client may send frames in the same write as its upgrade request: what
    the HTTP reader read ahead is handed to the websocket, in order.
    """
    sock = socket.create_connection(("127.0.0.1", ports["default"]), timeout=5)
    request = (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {GOOD_KEY}\r\n\r\n"
    ).encode("latin-1")
    frames = [masked_frame(ABNF.OPCODE_TEXT, f"early {n}".encode()) for n in range(3)]
    sock.sendall(request + b"".join(frames))
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exactly(sock, 1)
    assert head.startswith(b"HTTP/1.1 101")
    assert [read_server_frame(sock) for _ in range(3)] == [
        (ABNF.OPCODE_TEXT, f"early {n}".encode()) for n in range(3)
    ]
    sock.sendall(masked_frame(ABNF.OPCODE_TEXT, b"later"))  # then straight from the socket
    assert read_server_frame(sock) == (ABNF.OPCODE_TEXT, b"later")
    sock.close()
