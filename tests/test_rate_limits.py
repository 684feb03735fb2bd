"""Rate limits: per socket (calls and JSON pings), per session over a process's sockets,
and per session over HTTP across processes. Real runwebsocket processes, real clients."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env
from tests.test_http import csrf_client, new_window, post_call
from tests.test_websocket import login


def outcomes(tab: Tab, count: int, start: int = 1) -> list[str]:
    for i in range(count):
        tab.send({"type": "call", "id": start + i, "signal": "tests.whoami", "kwargs": {}})
    frames = [tab.wait_for(lambda f: f["type"] in ("result", "error")) for _ in range(count)]
    return [f.get("kind", "ok") for f in frames]


def test_json_pings_are_counted_by_the_socket_limit(redis_server, transactional_db):
    srv = Server(subprocess_env(), overrides={"RATE_LIMIT": 5}).start()
    try:
        tab = Tab(srv.url)
        for _ in range(30):
            tab.send({"type": "ping"})
        frames = [tab.wait_for(lambda f: f["type"] in ("pong", "error")) for _ in range(30)]
        assert [f["type"] for f in frames].count("pong") == 10  # the burst: twice the rate
        refused = [f for f in frames if f["type"] == "error"]
        assert len(refused) == 20 and {f["kind"] for f in refused} == {"rate_limited"}
        time.sleep(0.5)
        tab.send({"type": "ping"})
        assert tab.wait_for(lambda f: f["type"] in ("pong", "error"))["type"] == "pong"
        tab.close()
    finally:
        srv.stop()


def test_sockets_of_one_session_share_the_session_limit(
    redis_server, django_user_model, transactional_db
):
    overrides = {"RATE_LIMIT": 0, "SESSION_RATE_LIMIT": 5}
    srv = Server(subprocess_env(), overrides=overrides).start()
    try:
        key = login(django_user_model, "sam")
        tabs = [Tab(srv.url, key) for _ in range(4)]
        kinds = []
        began = time.monotonic()
        for n, tab in enumerate(tabs):
            kinds += outcomes(tab, 8, start=100 * (n + 1))
        refilled = int((time.monotonic() - began) * 5)  # tokens that came back meanwhile
        assert 10 <= kinds.count("ok") <= 10 + refilled, kinds  # one bucket for all four
        assert kinds.count("rate_limited") >= 22 - refilled
        other = Tab(srv.url, login(django_user_model, "tess"))  # another session is not slowed
        assert outcomes(other, 8) == ["ok"] * 8
        for tab in [*tabs, other]:
            tab.close()
    finally:
        srv.stop()


@pytest.fixture
def http_server(redis_server):
    srv = Server(subprocess_env(), http=True, overrides={"RATE_LIMIT": 5}).start()
    yield srv
    srv.stop()


def test_http_calls_of_one_session_are_limited_across_processes(
    http_server, django_user_model, settings
):
    settings.FLOORKIT = {**settings.FLOORKIT, "RATE_LIMIT": 5}
    client = csrf_client(django_user_model, "hugo")
    token = new_window(client)["token"]
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())

    def remote_call() -> int:  # the same session, through another process
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_server.port}/floorkit/call/",
            data=json.dumps({"signal": "tests.whoami"}).encode(),
            headers={
                "Cookie": cookies,
                "X-CSRFToken": client.cookies["csrftoken"].value,
                "X-Floorkit-Window": token,
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            assert json.loads(error.read())["kind"] == "rate_limited"
            return error.code

    statuses = []
    began = time.monotonic()
    for _ in range(15):
        statuses.append(post_call(client, {"signal": "tests.whoami"}, token).status_code)
        statuses.append(remote_call())
    refilled = int((time.monotonic() - began) * 5)  # tokens that came back meanwhile
    assert 10 <= statuses.count(200) <= 10 + refilled, statuses  # burst: twice the rate
    assert statuses.count(429) >= 20 - refilled
    # the bucket is empty now; a token may come back (one per 200 ms) between two calls
    answers = [post_call(client, {"signal": "tests.whoami"}, token) for _ in range(3)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and refused[0].json()["kind"] == "rate_limited", answers
    time.sleep(0.5)
    assert post_call(client, {"signal": "tests.whoami"}, token).status_code == 200
