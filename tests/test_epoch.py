"""
A Redis restarted empty (no persistence) while tabs are connected: the message
counter starts again from 1 under a new epoch, and open tabs, reconnecting tabs
and HTTP polls all get the new messages and are told they lost the rest.
Real Redis (restarted on the same port), real runwebsocket, real clients.
"""

from __future__ import annotations

import time

import pytest
import redis as redis_py

from floorkit import BROADCAST, SignalRequest, call
from floorkit.delivery import redis_client
from floorkit.delivery.embedded_redis import EmbeddedRedis
from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env
from tests.test_http import csrf_client, headers, new_window


@pytest.fixture
def restartable(settings, transactional_db):
    """A Redis of this test's own, used by this process and by a runwebsocket."""
    server = EmbeddedRedis(port=0)
    url = server.start()
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": url}
    redis_client.reset()
    ws = Server(subprocess_env(FLOORKIT_REDIS_URL=url)).start()
    state = {"redis": server, "ws": ws}
    yield state
    ws.stop()
    state["redis"].stop()
    redis_client.reset()


def restart_empty(state) -> None:
    """Stop Redis and start an empty one on the same port; wait for the router to resubscribe."""
    old = state["redis"]
    port = old.port if old.port else int(old.url.rsplit(":", 1)[1].split("/")[0])
    old.stop()
    new = EmbeddedRedis(port=port)
    new.start()
    state["redis"] = new
    redis_client.reset()
    client = redis_py.Redis.from_url(new.url)
    deadline = time.monotonic() + 15
    while client.pubsub_numpat() < 1:
        assert time.monotonic() < deadline, "the router never resubscribed"
        time.sleep(0.05)
    client.close()


def broadcast(count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        call("tests.jsonly", SignalRequest(), BROADCAST, n=n)


def numbered(tab: Tab, count: int) -> list[tuple[int, str, int]]:
    frames = [tab.wait_for(lambda f: f["type"] == "signal", timeout=10) for _ in range(count)]
    return [(f["seq"], f["epoch"], f["kwargs"]["n"]) for f in frames]


def test_open_tabs_get_every_message_after_an_empty_restart(restartable):
    tabs = [Tab(restartable["ws"].url) for _ in range(3)]
    broadcast(3)
    before = [numbered(tab, 3) for tab in tabs]
    old_epoch = before[0][0][1]
    assert all(b == [(1, old_epoch, 0), (2, old_epoch, 1), (3, old_epoch, 2)] for b in before)

    restart_empty(restartable)
    broadcast(32, start=100)
    for tab in tabs:  # none dropped as duplicates of the old numbers
        after = numbered(tab, 32)
        new_epoch = after[0][1]
        assert new_epoch != old_epoch
        assert after == [(seq, new_epoch, 99 + seq) for seq in range(1, 33)]
        tab.close()


def test_a_reconnect_with_a_cursor_of_the_old_epoch_is_told_it_lost_messages(restartable):
    tab = Tab(restartable["ws"].url)
    broadcast(5)
    seen = numbered(tab, 5)
    last, old_epoch, token = seen[-1][0], seen[-1][1], tab.hello["token"]
    assert tab.hello["epoch"] == old_epoch
    tab.close()

    restart_empty(restartable)
    broadcast(3, start=200)
    url = f"{restartable['ws'].url}?token={token}&last={last}&epoch={old_epoch}"
    import websocket

    ws = websocket.create_connection(url, timeout=5, suppress_origin=True)
    import json

    frames = [json.loads(ws.recv()) for _ in range(5)]  # hello, 3 replayed, recovery
    ws.close()
    hello, *replayed, recovery = frames
    new_epoch = hello["epoch"]
    assert new_epoch != old_epoch and hello["seq"] == 0
    assert [(f["seq"], f["epoch"], f["kwargs"]["n"]) for f in replayed] == [
        (1, new_epoch, 200),
        (2, new_epoch, 201),
        (3, new_epoch, 202),
    ]
    assert recovery == {
        "type": "recovery",
        "after": last,
        "replayed": 3,
        "lost": True,
        "epoch": new_epoch,
    }


def test_a_reconnect_in_the_same_epoch_loses_nothing(restartable):
    tab = Tab(restartable["ws"].url)
    broadcast(2)
    seen = numbered(tab, 2)
    tab.close()
    broadcast(2, start=10)
    resumed = Tab(restartable["ws"].url, token=tab.hello["token"], last=seen[-1][0])
    replayed = numbered(resumed, 2)
    recovery = resumed.wait_for(lambda f: f["type"] == "recovery")
    assert [n for _, _, n in replayed] == [10, 11]
    assert recovery["lost"] is False and recovery["epoch"] == seen[0][1]
    resumed.close()


def test_http_polling_with_a_cursor_of_the_old_epoch_starts_over_and_says_lost(
    restartable, django_user_model
):
    client = csrf_client(django_user_model, "polly")
    window = new_window(client)
    broadcast(4)
    poll = client.get(
        f"/floorkit/poll/?after={window['seq']}&epoch={window['epoch']}",
        **headers(client, window["token"], csrf=False),
    ).json()
    assert [m["kwargs"]["n"] for m in poll["messages"]] == [0, 1, 2, 3]
    assert poll["lost"] is False and poll["epoch"] == window["epoch"]

    restart_empty(restartable)
    broadcast(2, start=300)
    again = client.get(
        f"/floorkit/poll/?after={poll['last']}&epoch={poll['epoch']}",
        **headers(client, window["token"], csrf=False),
    ).json()
    assert again["epoch"] != poll["epoch"] and again["lost"] is True
    assert [(m["seq"], m["kwargs"]["n"]) for m in again["messages"]] == [(1, 300), (2, 301)]
    assert again["last"] == 2
