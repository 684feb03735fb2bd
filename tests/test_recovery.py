"""Nothing lost: missed messages are replayed in order after reconnecting,
and a gap older than the retention is reported."""

import time

import pytest
import websocket

from floorkit import BROADCAST, SESSION, USER, WINDOW, SignalRequest, call
from floorkit.signals.identity import session_id
from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env
from tests.test_websocket import login


@pytest.fixture
def alice(django_user_model, transactional_db, redis_server):
    return login(django_user_model, "alice")


def publish_mixed(request: SignalRequest, count: int, seconds: float) -> list[int]:
    """Send ``count`` messages to the window, session, user and broadcast, spread over ``seconds``."""
    targets = [WINDOW, SESSION, USER, BROADCAST, [SESSION, USER]]
    started = time.monotonic()
    for n in range(count):
        call("tests.jsonly", request, targets[n % len(targets)], n=n)
        if n % 50 == 49:
            time.sleep(max(0.0, started + seconds * (n + 1) / count - time.monotonic()))
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    return list(range(count))


def received_numbers(tab: Tab, count: int) -> list[int]:
    numbers = []
    deadline = time.monotonic() + 20
    while len(numbers) < count and time.monotonic() < deadline:
        try:
            frame = tab.recv(2)
        except websocket.WebSocketTimeoutException:
            break
        if frame["type"] == "signal" and "n" in frame["kwargs"]:
            numbers.append(frame["kwargs"]["n"])
        else:
            tab.pending.append(frame)
    return numbers


def leave(server: Server, session_key: str) -> tuple[SignalRequest, int, str]:
    """Open a tab, then close it: return its caller, its last seq and its window token."""
    tab = Tab(server.url, session_key)
    tab.close()
    request = SignalRequest(username="alice", session=session_id(session_key), window=tab.window)
    return request, tab.hello["seq"], tab.hello["token"]


def disconnect_and_resume(first: Server, second: Server, alice_key: str, restart: bool = False):
    tab = Tab(first.url, alice_key)
    request = SignalRequest(
        user_id=1, username="alice", session=session_id(alice_key), window=tab.window
    )
    call("tests.jsonly", request, WINDOW, n=-1)
    before = tab.wait_for(lambda f: f["type"] == "signal")
    last, token = before["seq"], tab.hello["token"]
    tab.close()
    if restart:
        first.stop()
    expected = publish_mixed(request, 500, 5.0)
    if restart:
        first.start()
    resumed = Tab(second.url, alice_key, token=token, last=last)
    assert resumed.window == tab.window
    numbers = received_numbers(resumed, 500)
    assert numbers == expected  # all of them, in order, no duplicates
    recovery = resumed.wait_for(lambda f: f["type"] == "recovery")
    assert recovery == {
        "type": "recovery",
        "after": last,
        "replayed": 500,
        "lost": False,
        "epoch": before["epoch"],  # the same life of the counter: the cursor held
    }
    assert resumed.hello["epoch"] == tab.hello["epoch"] == before["epoch"]
    call("tests.jsonly", request, WINDOW, n=500)  # and live delivery goes on
    assert received_numbers(resumed, 1) == [500]
    resumed.close()


def test_missed_messages_are_replayed_in_order_after_reconnecting(alice):
    server = Server(subprocess_env()).start()
    try:
        disconnect_and_resume(server, server, alice)
    finally:
        server.stop()


def test_missed_messages_survive_a_server_restart(alice):
    server = Server(subprocess_env()).start()
    try:
        disconnect_and_resume(server, server, alice, restart=True)
    finally:
        server.stop()


def test_missed_messages_are_replayed_by_another_server_process(alice):
    first, second = Server(subprocess_env()).start(), Server(subprocess_env()).start()
    try:
        disconnect_and_resume(first, second, alice)
    finally:
        first.stop()
        second.stop()


def test_live_messages_during_replay_are_neither_lost_nor_duplicated(alice):
    server = Server(subprocess_env()).start()
    try:
        request, last, token = leave(server, alice)
        for n in range(200):
            call("tests.jsonly", request, SESSION, n=n)
        import threading

        more = threading.Thread(
            target=lambda: [call("tests.jsonly", request, USER, n=n) for n in range(200, 400)]
        )
        more.start()
        resumed = Tab(server.url, alice, token=token, last=last)
        more.join()
        assert received_numbers(resumed, 400) == list(range(400))
    finally:
        server.stop()


def test_gap_beyond_the_log_reports_lost_messages(alice, settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "LOG_MAXLEN": 10}
    server = Server(subprocess_env()).start()
    try:
        request, last, token = leave(server, alice)
        for n in range(300):
            call("tests.jsonly", request, WINDOW, n=n)
        resumed = Tab(server.url, alice, token=token, last=last)
        numbers = received_numbers(resumed, 300)
        assert 0 < len(numbers) < 300 and numbers == sorted(numbers)
        recovery = resumed.wait_for(lambda f: f["type"] == "recovery")
        assert recovery["lost"] is True
    finally:
        server.stop()


def test_gap_older_than_retention_reports_lost_messages(alice, settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "LOG_RETENTION": 1}
    server = Server(subprocess_env()).start()
    try:
        request, last, token = leave(server, alice)
        call("tests.jsonly", request, WINDOW, n=1)
        time.sleep(2.2)  # the window's log expires
        resumed = Tab(server.url, alice, token=token, last=last)
        recovery = resumed.wait_for(lambda f: f["type"] == "recovery")
        assert recovery["lost"] is True and recovery["replayed"] == 0
    finally:
        server.stop()


def test_unrecoverable_window_is_reported(alice, redis_server):
    server = Server(subprocess_env()).start()
    try:
        resumed = Tab(server.url, alice, token="stolen.token", last=5)
        recovery = resumed.wait_for(lambda f: f["type"] == "recovery")
        assert recovery["lost"] is True
    finally:
        server.stop()


def test_log_expires_and_broadcast_is_one_write(redis_client, settings):
    call("tests.jsonly", None, BROADCAST, n=1)
    call("tests.jsonly", None, BROADCAST, n=2)
    assert redis_client.xlen("floorkit:log:broadcast") == 2
    assert (
        0
        < redis_client.ttl("floorkit:log:broadcast")
        <= settings.FLOORKIT.get("LOG_RETENTION", 300)
    )
    assert [k for k in redis_client.keys("floorkit:log:*") if not k.endswith(b":last")] == [
        b"floorkit:log:broadcast"
    ]


def test_messages_published_while_the_routers_pubsub_was_away_reach_open_tabs(alice, redis_client):
    server = Server(subprocess_env()).start()
    try:
        tab = Tab(server.url, alice)
        request = SignalRequest(
            user_id=1, username="alice", session=session_id(alice), window=tab.window
        )
        assert redis_client.client_kill_filter(_type="pubsub") >= 1  # the router's connection
        for n in range(10):  # the router is away: Redis publishes these to nobody
            call("tests.jsonly", request, [WINDOW, BROADCAST][n % 2], n=n)
        time.sleep(1.0)  # it resubscribes
        for n in range(10, 20):
            call("tests.jsonly", request, WINDOW, n=n)
        assert received_numbers(tab, 20) == list(range(20))
        recovery = [f for f in tab.pending if f["type"] == "recovery"]
        assert recovery and recovery[0]["replayed"] == 10 and recovery[0]["lost"] is False
        tab.close()
    finally:
        server.stop()
