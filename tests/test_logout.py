"""
Logout ends access: the open sockets of an ended session (logout, deleted or
expired session, password change) stop acting as its user within 1 s, on
every ``runwebsocket`` process: closed with 4001, no more USER messages, no
more calls, and a reconnect is anonymous.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
import websocket
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import Client
from django.utils import timezone

from floorkit import USER, SignalRequest, call
from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env

BOUND = 1.0  # seconds within which an ended session's sockets must be closed
AFTER = "sent after the session ended"


@pytest.fixture(scope="module")
def servers(redis_server):
    first = Server(subprocess_env(), overrides={"SESSION_RECHECK": 1}).start()
    second = Server(subprocess_env(), overrides={"SESSION_RECHECK": 1}).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def alice(django_user_model, transactional_db, redis_client):
    return django_user_model.objects.create_user("alice", password="pw")


def logged_in(username: str = "alice", password: str = "pw") -> Client:
    client = Client()
    assert client.login(username=username, password=password)
    return client


def key_of(client: Client) -> str:
    return client.cookies["sessionid"].value


def closed_within(tab: Tab, timeout: float) -> tuple[int, float, list[dict]]:
    """Wait for the server's close frame: (close code, seconds waited, frames before it)."""
    start = time.monotonic()
    frames = []
    while True:
        remaining = timeout - (time.monotonic() - start)
        if remaining <= 0:
            raise AssertionError(f"socket still open after {timeout}s; got {frames}")
        tab.ws.settimeout(remaining)
        try:
            opcode, frame = tab.ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            continue
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big"), time.monotonic() - start, frames
        if opcode == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(frame.data))


def send_to_alice(text: str) -> None:
    call("tests.jsonly", SignalRequest(user_id=1, username="alice"), USER, text=text)


def assert_still_alice(tab: Tab) -> None:
    text = uuid.uuid4().hex
    send_to_alice(text)
    frame = tab.wait_for(lambda f: f.get("type") == "signal" and f["kwargs"].get("text") == text)
    assert frame["signal"] == "tests.jsonly"
    assert tab.call("tests.echo", value=1)["ok"] is True


def assert_ended(tab: Tab, url: str, key: str, started: float, bound: float = BOUND) -> None:
    """
    ``tab`` is closed with 4001 by ``started + bound`` without getting a USER
    message sent after the session ended, and its cookie reconnects anonymous.
    """
    code, _, frames = closed_within(tab, bound + 2)
    elapsed = time.monotonic() - started
    print(f"socket closed {elapsed:.3f}s after the session ended")
    assert code == 4001, code
    assert elapsed <= bound, f"closed {elapsed:.2f}s after the session ended"
    assert not [f for f in frames if f.get("kwargs", {}).get("text") == AFTER], frames
    again = Tab(url, key)
    try:
        assert again.hello["user"] is None
        refused = again.call("tests.echo", value=1)
        assert refused["type"] == "error" and refused["kind"] == "login_required"
    finally:
        again.close()


def test_logout_in_one_tab_closes_the_other_tabs_of_the_session(servers, alice):
    server, _ = servers
    client, other = logged_in(), logged_in()
    key = key_of(client)
    tab1, tab2 = Tab(server.url, key), Tab(server.url, key)
    bystander = Tab(server.url, key_of(other))  # alice in another browser stays in
    assert_still_alice(tab2)
    started = time.monotonic()
    assert client.post("/logout/").status_code in (200, 302)
    send_to_alice(AFTER)  # a USER message right after logout: only the bystander gets it
    for tab in (tab1, tab2):
        assert_ended(tab, server.url, key, started)
    got = bystander.wait_for(
        lambda f: f.get("type") == "signal" and f["kwargs"].get("text") == AFTER
    )
    assert got["signal"] == "tests.jsonly"
    assert_still_alice(bystander)
    bystander.close()


def test_logout_handled_by_another_process_ends_sockets_on_every_process(servers, alice):
    first, second = servers
    client = logged_in()
    key = key_of(client)
    tab_first, tab_second = Tab(first.url, key), Tab(second.url, key)
    for tab in (tab_first, tab_second):
        assert_still_alice(tab)
    # the logout runs in a third process (this one, a plain Django view), not in either server
    started = time.monotonic()
    client.post("/logout/")
    send_to_alice(AFTER)
    assert_ended(tab_first, first.url, key, started)
    assert_ended(tab_second, second.url, key, started)


def test_deleted_session_ends_its_sockets(servers, alice):
    server, _ = servers
    key = key_of(logged_in())
    tab = Tab(server.url, key)
    assert_still_alice(tab)
    started = time.monotonic()
    Session.objects.filter(session_key=key).delete()
    send_to_alice(AFTER)
    assert_ended(tab, server.url, key, started)


def test_password_change_ends_the_other_sessions_but_not_the_changing_one(servers, alice):
    server, other_server = servers
    changing, other = logged_in(), logged_in()
    keep = Tab(server.url, key_of(changing))
    ended = Tab(other_server.url, key_of(other))
    started = time.monotonic()
    alice.set_password("new password")
    alice.save()
    # as update_session_auth_hash() does for the request that changed the password
    session = SessionStore(key_of(changing))
    session[HASH_SESSION_KEY] = alice.get_session_auth_hash()
    session.save()
    send_to_alice(AFTER)
    assert_ended(ended, other_server.url, key_of(other), started)
    assert_still_alice(keep)
    keep.close()


def test_expired_session_closes_its_socket_at_the_expiry_date(servers, alice):
    server, _ = servers
    client = logged_in()
    session = client.session
    session.set_expiry(2)
    session.save()
    key = key_of(client)
    tab = Tab(server.url, key)
    expires = time.monotonic() + 2
    assert_still_alice(tab)
    time.sleep(max(0.0, expires - time.monotonic()))
    send_to_alice(AFTER)
    code, _, frames = closed_within(tab, 5)
    print(f"socket closed {time.monotonic() - expires:.3f}s after the expiry date")
    assert code == 4001
    assert time.monotonic() - expires <= BOUND
    late = [f for f in frames if f.get("type") == "signal" and f["kwargs"].get("text") == AFTER]
    assert not late


def test_session_ended_without_notice_refuses_the_next_call(servers, alice):
    server, _ = servers
    key = key_of(logged_in())
    tab = Tab(server.url, key)
    assert_still_alice(tab)
    # expired in the database without any signal (as a cache backend's eviction would be)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(1))
    time.sleep(1.1)  # SESSION_RECHECK of the servers: the last check is now stale
    refused = tab.call("tests.echo", value=1)
    assert refused["type"] == "error" and refused["kind"] == "login_required"
    code, _, _ = closed_within(tab, 3)
    assert code == 4001


def test_held_long_poll_of_a_logged_out_session_ends_without_its_messages(redis_server, alice):
    server = Server(subprocess_env(), http=True).start()
    try:
        client = logged_in()
        window = client.post("/floorkit/window/").json()
        url = f"http://127.0.0.1:{server.port}/floorkit/poll/?after={window['seq']}"
        held = urllib.request.Request(
            url,
            headers={"Cookie": f"sessionid={key_of(client)}", "X-Floorkit-Window": window["token"]},
        )
        answer: dict = {}

        def poll() -> None:
            try:
                urllib.request.urlopen(held, timeout=30)
                answer["status"] = 200
            except urllib.error.HTTPError as exc:
                answer["status"], answer["body"] = exc.code, json.loads(exc.read())
            answer["at"] = time.monotonic()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(1.5)  # the poll is held by the server (LONG_POLL is 20 s)
        assert not answer
        started = time.monotonic()
        client.post("/logout/")  # no message wakes the poll: the session check ends it
        poller.join(timeout=10)
        assert answer["status"] == 403 and answer["body"]["kind"] == "login_required", answer
        print(f"held poll answered {answer['at'] - started:.3f}s after logout")
        assert answer["at"] - started <= BOUND
    finally:
        server.stop()


def test_password_changed_in_a_transaction_ends_sessions_once_committed(servers, alice):
    server, _ = servers
    key = key_of(logged_in())
    tab = Tab(server.url, key)
    with transaction.atomic():
        alice.set_password("changed in a transaction")
        alice.save()
        time.sleep(0.6)  # longer than the recheck delay: a notice sent now would find the old hash
        assert_still_alice(tab)
    started = time.monotonic()
    send_to_alice(AFTER)
    assert_ended(tab, server.url, key, started)
