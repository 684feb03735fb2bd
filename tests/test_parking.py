"""
Parked tabs (floorkit/websocket/parking.py): an idle websocket of a real
runwebsocket holds no greenlet, and its frames are still read whole, in
order, however they arrive.
"""

import json
import signal
import subprocess
import sys
import time

import pytest
import websocket

from floorkit.testing import Server, Tab, free_port
from floorkit.testing.client import login
from tests.conftest import ROOT, subprocess_env


@pytest.fixture(scope="module")
def server(redis_server):
    srv = Server(subprocess_env()).start()
    yield srv
    srv.stop()


@pytest.fixture
def user_key(django_user_model, transactional_db):
    user, _ = django_user_model.objects.get_or_create(username="parker")
    return login(user)


def state(tab: Tab) -> dict:
    (result,) = tab.call("tests.server_state")["results"]
    return result


def wait_state(tab: Tab, check, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        now = state(tab)
        if check(now) or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def frame(data: dict) -> bytes:
    """A masked text frame, as a browser sends it."""
    return websocket.ABNF.create_frame(json.dumps(data), websocket.ABNF.OPCODE_TEXT).format()


def call_frame(call_id: int, signal: str, **kwargs) -> bytes:
    return frame({"type": "call", "id": call_id, "signal": signal, "kwargs": kwargs})


def server_side_sockets(port: int) -> int:
    """Server-side TCP sockets of ``port`` that hold a file: established or closed by the peer only."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                if int(local.rsplit(":", 1)[1], 16) == port and state in ("01", "08"):
                    count += 1  # ESTABLISHED, CLOSE_WAIT
    return count


def wait_sockets(port: int, expected: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := server_side_sockets(port)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def test_idle_tabs_hold_no_greenlet_and_their_sockets_close_when_they_go(redis_server):
    with Server(subprocess_env()).start() as server:  # its own: no other test's tab open
        check_idle_tabs(server)


def check_idle_tabs(server: Server) -> None:
    probe = Tab(server.url)
    before = state(probe)
    idle = [Tab(server.url) for _ in range(60)]
    held = wait_state(probe, lambda s: s["tabs"] == before["tabs"] + 60)
    assert held["tabs"] == before["tabs"] + 60
    # a greenlet per tab would be 60 more; call runners come and go by a few
    assert held["greenlets"] - before["greenlets"] < 10, (before, held)
    assert held["fds"] >= before["fds"] + 60
    assert wait_sockets(server.port, 61) == 61
    for tab in idle:
        tab.close()
    after = wait_state(probe, lambda s: s["tabs"] == before["tabs"])
    assert after["tabs"] == before["tabs"]
    assert wait_sockets(server.port, 1) == 1  # the probe's: every other one is closed


def test_idle_tabs_that_answer_heartbeats_hold_no_greenlet(redis_server):
    """A heartbeat's pong (or a peer's own ping) wakes a parked tab: once it
    is read, the tab is parked again, with no greenlet waiting in a read."""
    with Server(subprocess_env()).start() as server:
        probe = Tab(server.url)
        before = state(probe)
        idle = [Tab(server.url) for _ in range(60)]
        for tab in idle:
            tab.ws.pong(b"beat")
            tab.ws.ping(b"are you there")
        for tab in idle:  # the server's answer to the ping: every pong and ping was read
            tab.ws.settimeout(5)
            opcode, answer = tab.ws.recv_data(control_frame=True)
            assert (opcode, answer) == (websocket.ABNF.OPCODE_PONG, b"are you there")
        held = wait_state(probe, lambda s: s["greenlets"] - before["greenlets"] < 10)
        assert held["tabs"] == before["tabs"] + 60
        assert held["greenlets"] - before["greenlets"] < 10, (before, held)
        assert state(idle[0])["tabs"] == held["tabs"]  # and the tab still answers calls


def test_a_frame_that_arrives_in_parts_is_read_whole(server, user_key):
    tab = Tab(server.url, user_key)
    data = call_frame(7, "tests.echo", text="x" * 300)
    sock = tab.ws.sock
    for start, end in ((0, 1), (1, 3), (3, 9), (9, len(data))):  # inside the header, mask, payload
        sock.sendall(data[start:end])
        time.sleep(0.15)
    result = tab.wait_for(lambda f: f.get("id") == 7)
    assert result["results"] == [{"text": "x" * 300}]
    assert tab.call("tests.echo", n=1)["results"] == [{"n": 1}]  # and the tab reads on


def test_a_ping_between_the_fragments_of_a_message_does_not_cut_it(server, user_key):
    tab = Tab(server.url, user_key)
    text = json.dumps({"type": "call", "id": 8, "signal": "tests.echo", "kwargs": {"n": 8}})
    ABNF, sock = websocket.ABNF, tab.ws.sock
    sock.sendall(ABNF.create_frame(text[:10], ABNF.OPCODE_TEXT, fin=0).format())
    sock.sendall(ABNF.create_frame(b"mid-message", ABNF.OPCODE_PING).format())
    time.sleep(0.3)  # the ping is read with nothing after it, inside the message
    sock.sendall(ABNF.create_frame(text[10:], ABNF.OPCODE_CONT, fin=1).format())
    assert tab.wait_for(lambda f: f.get("id") == 8)["results"] == [{"n": 8}]


def test_frames_sent_together_are_all_handled_in_order(server, user_key):
    tab = Tab(server.url, user_key)
    tab.ws.sock.sendall(b"".join(call_frame(i, "tests.echo", n=i) for i in range(1, 41)))
    results = [tab.wait_for(lambda f: f["type"] == "result") for _ in range(40)]
    assert [r["id"] for r in results] == list(range(1, 41))
    assert [r["results"] for r in results] == [[{"n": i}] for i in range(1, 41)]


def test_a_waiting_call_delays_no_frame_sent_with_it_or_after_it(server, user_key):
    tab = Tab(server.url, user_key)
    started = time.monotonic()
    # the slow call is the last frame of its burst, the echo the first of the next one
    tab.ws.sock.sendall(call_frame(1, "tests.sleep", seconds=1.0))
    time.sleep(0.1)
    tab.ws.sock.sendall(call_frame(2, "tests.echo", n=2) + frame({"type": "ping"}))
    got = [tab.recv(), tab.recv()]
    assert sorted((f["type"], f.get("id")) for f in got) == [("pong", None), ("result", 2)]
    assert time.monotonic() - started < 0.8
    # the slow call with a ping behind it in the same write
    tab.ws.sock.sendall(call_frame(3, "tests.sleep", seconds=1.0) + frame({"type": "ping"}))
    assert tab.recv()["type"] == "pong"
    done = [tab.wait_for(lambda f: f.get("id") in (1, 3), timeout=3) for _ in range(2)]
    assert sorted(f["id"] for f in done) == [1, 3]


def test_bad_frames_to_a_parked_tab_get_errors_and_it_stays(server):
    tab = Tab(server.url)
    tab.ws.sock.sendall(frame({"type": "nope"}) + frame({"type": "call", "id": "x"}))
    kinds = [tab.recv()["kind"] for _ in range(2)]
    assert kinds == ["bad_request", "bad_request"]
    tab.ws.sock.sendall(websocket.ABNF.create_frame("{", websocket.ABNF.OPCODE_TEXT).format())
    assert tab.recv()["type"] == "error"
    assert state(tab)["tabs"] >= 1


def test_a_protocol_error_ends_a_parked_tab_with_1002(server):
    tab = Tab(server.url)
    tab.ws.sock.sendall(b"\x81\x05hello")  # unmasked: clients must mask
    tab.ws.settimeout(5)
    opcode, data = tab.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1002


def test_with_a_spawn_pool_each_connection_keeps_its_greenlet(redis_server, user_key):
    """A server given ``spawn`` (a pool, counting connections by greenlet) does not park."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "pool_server.py"), str(port)],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"ws://127.0.0.1:{port}/ws/floorkit/"
        deadline = time.monotonic() + 20
        while True:
            try:
                probe = Tab(url, user_key)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        before = state(probe)
        others = [Tab(url, user_key) for _ in range(5)]
        held = wait_state(probe, lambda s: s["tabs"] == before["tabs"] + 5)
        assert held["greenlets"] - before["greenlets"] >= 5
        others[0].ws.sock.sendall(call_frame(3, "tests.echo", n=3) + frame({"type": "ping"}))
        got = [others[0].recv(), others[0].recv()]
        assert sorted(f["type"] for f in got) == ["pong", "result"]
        for tab in others:
            tab.close()
        after = wait_state(probe, lambda s: s["tabs"] == before["tabs"])
        assert after["tabs"] == before["tabs"]
        process.send_signal(signal.SIGTERM)
        probe.ws.settimeout(5)
        opcode, data = probe.ws.recv_data(control_frame=True)
        assert (opcode, int.from_bytes(data[:2], "big")) == (websocket.ABNF.OPCODE_CLOSE, 1001)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
