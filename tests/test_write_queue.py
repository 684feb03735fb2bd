"""A tab's write queue and the router's bursts, over real sockets and a real server."""

import json
import os
import select
import signal
import time

import gevent.socket
import pytest

from floorkit import BROADCAST, call
from floorkit.testing import Server, Tab
from floorkit.websocket.write_queue import Burst, WriteQueue
from tests.conftest import subprocess_env


def readable(sock, timeout=0.0) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


def read_all(sock, size) -> bytes:
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


@pytest.fixture
def queue_and_peer():
    """A write queue over one end of a real socket pair, and the other end."""
    sock, peer = gevent.socket.socketpair()
    return WriteQueue(sock), peer


def test_frames_of_a_burst_go_out_at_its_close_each_socket_in_order():
    a, peer_a = gevent.socket.socketpair()
    b, peer_b = gevent.socket.socketpair()
    qa, qb = WriteQueue(a), WriteQueue(b)
    with Burst():
        qa.write(b"a1")
        qb.write(b"b1")
        qa.write(b"a2")
        qa.write(b"a3")
        qb.write(b"b2")
        assert not readable(peer_a) and not readable(peer_b)
    assert read_all(peer_a, 6) == b"a1a2a3"
    assert read_all(peer_b, 4) == b"b1b2"
    qa.write(b"after")  # no burst open: straight out
    assert read_all(peer_a, 5) == b"after"


def test_finish_inside_a_burst_sends_what_was_gathered_then_stops(queue_and_peer):
    queue, peer = queue_and_peer
    with Burst():
        queue.write(b"close-frame")
        queue.finish()
        queue.write(b"dropped")
    assert read_all(peer, 11) == b"close-frame"
    assert peer.recv(100) == b""  # its sending side is shut down: nothing after


def test_an_aborted_socket_drops_what_a_burst_gathered(queue_and_peer):
    queue, peer = queue_and_peer
    with Burst():
        queue.write(b"lost")
        queue.abort()
    assert peer.recv(100) == b""


def test_bursts_do_not_nest():
    with Burst():
        with pytest.raises(RuntimeError, match="already open"):
            Burst().__enter__()
    assert Burst.current is None


def parse_text_frames(data: bytes) -> tuple[list[dict], bytes]:
    """Unmasked server frames (payloads < 64 KiB) → JSON objects, and the rest."""
    frames = []
    while len(data) >= 2:
        length, at = data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                break
            length, at = int.from_bytes(data[2:4], "big"), 4
        if len(data) < at + length:
            break
        if data[0] & 0x0F == 1:
            frames.append(json.loads(data[at : at + length]))
        data = data[at + length :]
    return frames, data


def test_messages_buffered_on_the_routers_pubsub_reach_a_tab_in_few_writes(
    redis_server, transactional_db
):
    """
    100 messages wait on the router's pub/sub connection (the server is
    stopped while they are sent): the tab gets all of them, in order, in a
    handful of socket writes instead of one per message.
    """
    srv = Server(subprocess_env()).start()
    try:
        tab = Tab(srv.url)
        raw = tab.ws.sock
        os.kill(srv.process.pid, signal.SIGSTOP)
        try:
            for n in range(100):
                call("tests.jsonly", None, BROADCAST, n=n)
        finally:
            os.kill(srv.process.pid, signal.SIGCONT)
        raw.settimeout(10)
        got, rest, reads = [], b"", 0
        deadline = time.monotonic() + 10
        while len(got) < 100 and time.monotonic() < deadline:
            chunk = raw.recv(1 << 20)
            assert chunk, "the server closed the socket"
            reads += 1
            frames, rest = parse_text_frames(rest + chunk)
            got += [f["kwargs"]["n"] for f in frames if f.get("type") == "signal"]
        assert got == list(range(100))
        assert reads <= 20, f"{reads} socket reads for 100 messages"
        tab.close()
    finally:
        srv.stop()
