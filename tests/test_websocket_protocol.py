"""The gevent-websocket 0.10.1 defects, fixed in floorkit.websocket.protocol,
checked against real clients over real sockets."""

import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websocket

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def port():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "wsprotocol_server.py"), str(LIMIT)],
        stdout=subprocess.PIPE,
        env=env,
    )
    yield int(process.stdout.readline())
    process.kill()
    process.wait()


def connect(port, path="/echo"):
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=5)
    return ws


def close_status(ws) -> tuple[int, bytes]:
    """Read until the close frame; return its code and reason."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", data[:2])[0], data[2:]


def test_close_code_and_reason_reach_the_peer(port):
    ws = connect(port, "/close")
    assert close_status(ws) == (4000, b"bye")


def test_one_mebibyte_masked_text_and_binary_echo_intact(port):
    ws = connect(port)
    text = "é漢字🙂abc" * (LIMIT // 20)
    ws.send(text)
    assert ws.recv() == text
    blob = os.urandom(LIMIT - 1)
    ws.send_binary(blob)
    assert ws.recv() == blob


def test_oversize_message_gets_1009(port):
    ws = connect(port)
    ws.send("x" * (LIMIT + 1))
    assert close_status(ws)[0] == 1009


def test_oversize_fragmented_message_gets_1009(port):
    ws = connect(port)
    chunk = "y" * (LIMIT // 2)
    ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_TEXT, fin=0))
    ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_CONT, fin=0))
    ws.send_frame(websocket.ABNF.create_frame("z", websocket.ABNF.OPCODE_CONT, fin=1))
    assert close_status(ws)[0] == 1009


def test_64_mib_header_is_refused_without_reading_the_payload(port):
    ws = connect(port)
    # only the header of a 64 MiB masked text frame: the server must answer at once
    ws.sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 64 * 1024 * 1024) + b"\x01\x02\x03\x04")
    started = time.monotonic()
    assert close_status(ws)[0] == 1009
    assert time.monotonic() - started < 2


def test_invalid_utf8_gets_1007(port):
    ws = connect(port)
    ws.send_frame(websocket.ABNF.create_frame(b"ok \xff\xfe", websocket.ABNF.OPCODE_TEXT))
    assert close_status(ws)[0] == 1007


def handshake(port, key: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            (
                "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        return sock.recv(4096).split(b"\r\n")[0]


@pytest.mark.parametrize("key", ["not-base64!!", "YWJj", "dGhlIHNhbXBsZSBub25jZQ"])
def test_invalid_key_gets_400(port, key):
    assert handshake(port, key) == b"HTTP/1.1 400 Bad Request"


def test_valid_key_switches_protocols(port):
    assert handshake(port, "dGhlIHNhbXBsZSBub25jZQ==") == b"HTTP/1.1 101 Switching Protocols"


def test_unmask_is_correct_and_fast():
    from floorkit.websocket.protocol import unmask

    payload = os.urandom(LIMIT)
    mask = b"\x11\x22\x33\x44"
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(payload[:4096]))
    assert unmask(payload, mask)[:4096] == expected
    assert unmask(unmask(payload, mask), mask) == payload
