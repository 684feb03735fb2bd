"""Presence: one member per user (anonymous visitors per session), counted
windows, one event per change, the death bound of a killed process, the
graceful stop, HTTP polling windows, and paging."""

import contextlib
import json
import signal
import time

import pytest

from floorkit import SignalRequest, presence
from floorkit.groups import holders, windows
from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env
from tests.test_groups import open_tab
from tests.test_http import csrf_client, new_window, post_call
from tests.test_websocket import login

ROOM = "tests.room.presence"
HEARTBEAT = 2  # seconds, for the servers of the death-bound tests


def join(tab: Tab, group: str = ROOM) -> dict:
    reply = tab.call("floorkit.join", group=group)
    assert reply["type"] == "result", reply
    return reply["results"][0]


def changes(tab: Tab, quiet: float = 0.5) -> list[tuple[str, str]]:
    """The presence changes the tab got: ("joined" | "left", member id)."""
    found = []
    for frame in tab.signals(quiet):
        if frame["signal"] == "floorkit.presence":
            found += [("joined", m["id"]) for m in frame["kwargs"]["joined"]]
            found += [("left", m["id"]) for m in frame["kwargs"]["left"]]
    return found


def wait_for_change(tab: Tab, change: tuple[str, str], timeout: float) -> float:
    """Seconds until ``tab`` gets the presence ``change``; fail after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            frame = tab.recv(0.2)
        except Exception:
            continue
        if frame.get("signal") == "floorkit.presence":
            kwargs = frame["kwargs"]
            got = [("joined", m["id"]) for m in kwargs["joined"]]
            got += [("left", m["id"]) for m in kwargs["left"]]
            if change in got:
                return time.monotonic() - started
    raise AssertionError(f"{change} not received within {timeout} s")


def test_one_member_per_user_with_its_windows_and_one_event_per_change(
    servers, django_user_model, transactional_db, redis_client, opened
):
    first, second = servers
    alice_a, alice_b = login(django_user_model, "alice"), login(django_user_model, "alice")
    bob = open_tab(opened, first, login(django_user_model, "bob"))
    snapshot = join(bob)
    assert [(m["id"], m["windows"]) for m in snapshot["members"]] == [("user:bob", 1)]
    assert snapshot["members"][0]["meta"] == {"name": "bob", "color": "#3366ff"}
    changes(bob)
    alices = [open_tab(opened, first, alice_a), open_tab(opened, second, alice_a)]
    alices.append(open_tab(opened, second, alice_b))
    for tab in alices:
        join(tab)
    anon1, anon2 = open_tab(opened, first), open_tab(opened, second)
    join(anon1)
    snapshot = join(anon2)
    members = {m["id"]: m for m in snapshot["members"]}
    assert snapshot["count"] == 4 and len(members) == 4
    assert members["user:alice"]["windows"] == 3
    assert members["user:alice"]["user"] == "alice"
    anon_ids = [m for m in members if m.startswith("anon:")]
    assert len(anon_ids) == 2 and all(members[m]["user"] is None for m in anon_ids)
    assert list(members) == ["user:bob", "user:alice", *anon_ids]  # join order
    seen = changes(bob)
    assert seen == [("joined", "user:alice"), ("joined", anon_ids[0]), ("joined", anon_ids[1])]
    alices[0].close()
    alices[1].call("floorkit.leave", group=ROOM)
    assert changes(bob) == []  # alice still has a window in the room
    assert presence(ROOM).members[1]["windows"] == 1
    alices[2].close()
    assert changes(bob) == [("left", "user:alice")]
    assert [m["id"] for m in presence(ROOM).members] == ["user:bob", *anon_ids]


def test_presence_pages_in_join_order(servers, transactional_db, redis_client, opened):
    for _ in range(5):
        join(open_tab(opened, servers[0]), "tests.room.paged")
    everyone = presence("tests.room.paged", limit=100)
    page = presence("tests.room.paged", limit=2, offset=2)
    assert everyone.count == page.count == 5
    assert [m["id"] for m in page.members] == [m["id"] for m in everyone.members[2:4]]
    assert not page.complete and everyone.complete
    reply = opened[0].call("floorkit.presence", group="tests.room.paged", limit=2, offset=4)
    assert reply["results"][0]["count"] == 5 and len(reply["results"][0]["members"]) == 1
    for limit in (0, 1001, "3"):
        with pytest.raises(ValueError):
            presence("tests.room.paged", limit=limit)
    refused = opened[0].call("floorkit.presence", group="tests.room.closed")
    assert (refused["type"], refused["kind"]) == ("error", "not_allowed")


@contextlib.contextmanager
def alice_watched_by_bob(django_user_model, group: str):
    """Alice on one server and Bob on another, both in ``group``: (alice's server, bob's tab)."""
    env = subprocess_env(FLOORKIT_TEST_OVERRIDES=json.dumps({"HEARTBEAT": HEARTBEAT}))
    alices, bobs = Server(env).start(), Server(env).start()
    try:
        observer = Tab(bobs.url, login(django_user_model, "bob"))
        join(observer, group)
        join(Tab(alices.url, login(django_user_model, "alice")), group)
        assert ("joined", "user:alice") in changes(observer)
        yield alices, observer
        observer.close()
    finally:
        alices.stop()
        bobs.stop()


def test_the_members_of_a_killed_process_leave_within_the_bound(
    django_user_model, transactional_db, redis_client
):
    with alice_watched_by_bob(django_user_model, "tests.room.death") as (victim, observer):
        time.sleep(0.3)
        victim.process.send_signal(signal.SIGKILL)
        took = wait_for_change(observer, ("left", "user:alice"), timeout=3 * HEARTBEAT)
        print(f"left {took:.2f}s after SIGKILL (HEARTBEAT {HEARTBEAT}s)")
        # documented bound: 1.5 x HEARTBEAT after the victim's last beat
        assert took <= 1.5 * HEARTBEAT + 0.5, took
        assert [m["id"] for m in presence("tests.room.death").members] == ["user:bob"]


def test_a_graceful_stop_leaves_at_once(django_user_model, transactional_db, redis_client):
    with alice_watched_by_bob(django_user_model, "tests.room.stop") as (stopping, observer):
        started = time.monotonic()
        stopping.stop()
        wait_for_change(observer, ("left", "user:alice"), timeout=HEARTBEAT)
        print(f"left {time.monotonic() - started:.2f}s after a graceful stop began")
        assert time.monotonic() - started < HEARTBEAT  # not the death bound


def test_an_http_polling_window_joins_and_receives_group_messages(
    servers, django_user_model, transactional_db, redis_client, opened
):
    from floorkit import Group, call

    client = csrf_client(django_user_model, "dora")
    window = new_window(client)
    watcher = open_tab(opened, servers[0], login(django_user_model, "bob"))
    join(watcher, "tests.room.http")
    changes(watcher)
    answer = post_call(
        client, {"signal": "floorkit.join", "kwargs": {"group": "tests.room.http"}}, window["token"]
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["results"][0]["count"] == 1  # not connected yet: no poll so far
    poll = client.get(
        f"/floorkit/poll/?after={window['seq']}", HTTP_X_FLOORKIT_WINDOW=window["token"]
    )
    assert poll.status_code == 200
    assert (
        wait_for_change(watcher, ("joined", "user:dora"), timeout=2) >= 0
    )  # the poll connected it
    last = poll.json()["last"]
    call("tests.jsonly", None, Group("tests.room.http"), n=1)
    poll = client.get(f"/floorkit/poll/?after={last}", HTTP_X_FLOORKIT_WINDOW=window["token"])
    got = [m["kwargs"] for m in poll.json()["messages"] if m["signal"] == "tests.jsonly"]
    assert got == [{"n": 1}]
    assert {m["id"] for m in presence("tests.room.http").members} == {"user:bob", "user:dora"}
    # a polling window that stops polling leaves once its deadline has passed
    holders.reap(now=windows.poll_deadline() + 1)
    assert wait_for_change(watcher, ("left", "user:dora"), timeout=2) >= 0


def test_holders_beat_and_reap_in_python(redis_client, transactional_db):
    request = SignalRequest(username="erin", session="s-erin", window="w-erin")
    from floorkit import USER
    from floorkit import join as join_group

    join_group(request, "tests.room.reap", USER)
    windows.connect(request, "dead-holder", "c1", time.time() - 1)
    assert presence("tests.room.reap").count == 1
    assert holders.reap() == 1
    assert presence("tests.room.reap").count == 0
    assert holders.beat("live-holder") is True and holders.beat("live-holder") is False


def test_a_python_join_of_a_user_brings_its_connected_tabs_into_presence(
    servers, django_user_model, transactional_db, redis_client, opened
):
    from floorkit import User
    from floorkit import join as join_scope
    from floorkit import leave as leave_scope

    watcher = open_tab(opened, servers[0], login(django_user_model, "bob"))
    join(watcher, "tests.room.follow")
    changes(watcher)
    key_a, key_b = login(django_user_model, "alice"), login(django_user_model, "alice")
    open_tab(opened, servers[0], key_a)
    open_tab(opened, servers[1], key_b)
    join_scope(None, "tests.room.follow", User("alice"), meta={"name": "Alice"})
    assert wait_for_change(watcher, ("joined", "user:alice"), timeout=2) >= 0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # the second tab's process follows in the background
        members = {m["id"]: m for m in presence("tests.room.follow").members}
        if members.get("user:alice", {}).get("windows") == 2:
            break
        time.sleep(0.05)
    assert members["user:alice"]["windows"] == 2 and members["user:alice"]["meta"] == {
        "name": "Alice"
    }
    assert changes(watcher) == []  # one joined for the user, not one per tab
    leave_scope(None, "tests.room.follow", User("alice"))
    assert wait_for_change(watcher, ("left", "user:alice"), timeout=2) >= 0
