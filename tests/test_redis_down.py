"""
Redis down or unresponsive: browser calls fail with ``redis_unavailable``
within ``REDIS_TIMEOUT`` instead of hanging, HTTP endpoints answer 503 JSON,
and the log gets one line per outage. Real Redis (stopped, or frozen with
SIGSTOP), real runwebsocket, real clients.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from floorkit.delivery import redis_client
from floorkit.delivery.embedded_redis import EmbeddedRedis
from floorkit.testing import Server, Tab
from tests.conftest import subprocess_env
from tests.test_http import csrf_client, headers, new_window, post_call


@pytest.fixture
def own_redis(settings, transactional_db):
    """A Redis of this test's own, with a 1 s command timeout here and in a runwebsocket."""
    server = EmbeddedRedis(port=0)
    url = server.start()
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": url, "REDIS_TIMEOUT": 1}
    redis_client.reset()
    yield server
    if server.process is not None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()
    redis_client.reset()


def test_a_call_fails_with_redis_unavailable_when_redis_stops_answering(own_redis):
    srv = Server(
        subprocess_env(FLOORKIT_REDIS_URL=own_redis.url), overrides={"REDIS_TIMEOUT": 1}
    ).start()
    try:
        tab = Tab(srv.url)
        assert tab.call("tests.anonymous", to="WINDOW", text="before")["type"] == "result"
        os.kill(own_redis.process.pid, signal.SIGSTOP)  # alive, but answers nothing
        started = time.monotonic()
        answer = tab.call("tests.anonymous", to="WINDOW", text="frozen")
        waited = time.monotonic() - started
        print(f"redis_unavailable after {waited:.2f}s (REDIS_TIMEOUT 1 s)")
        assert answer["type"] == "error" and answer["kind"] == "redis_unavailable", answer
        assert waited < 4, waited  # REDIS_TIMEOUT (1 s) plus slack, not forever
        os.kill(own_redis.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while True:  # back to normal once Redis answers
            answer = tab.call("tests.anonymous", to="WINDOW", text="after")
            if answer["type"] == "result" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answer["type"] == "result", answer
        tab.close()
    finally:
        _out, err = srv.stop()
    assert "Traceback" not in err


def test_http_endpoints_answer_503_json_and_log_one_line_per_outage(
    own_redis, django_user_model, caplog
):
    client = csrf_client(django_user_model, "otto")
    window = new_window(client)
    own_redis.stop()  # connection refused from now on
    own_redis.process = None
    caplog.set_level(logging.WARNING)
    answers = [
        client.post("/floorkit/window/", **headers(client)),
        client.get(f"/floorkit/poll/?after={window['seq']}", **headers(client, window["token"])),
        post_call(client, {"signal": "tests.anonymous", "to": "WINDOW"}, window["token"]),
        client.post("/floorkit/window/", **headers(client)),
        client.get(f"/floorkit/poll/?after={window['seq']}", **headers(client, window["token"])),
    ]
    for response in answers:
        assert response.status_code == 503, response.content
        assert response["Content-Type"] == "application/json"
        assert response.json()["kind"] == "redis_unavailable"
    outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage) == 1 and outage[0].name == "floorkit.redis"
    assert not [r for r in caplog.records if r.name == "django.request"]  # no line per request
    assert not [r for r in caplog.records if r.exc_info]  # and no traceback

    server = EmbeddedRedis(port=int(own_redis.url.rsplit(":", 1)[1].split("/")[0]))
    server.start()
    try:
        assert client.post("/floorkit/window/", **headers(client)).status_code == 200
        assert [r.getMessage() for r in caplog.records if "answers again" in r.getMessage()]
    finally:
        server.stop()


def test_a_redis_on_a_unix_socket_carries_calls_and_messages(settings, transactional_db):
    """``REDIS_URL = "unix:///…"``: the options floorkit gives its clients are
    the ones a unix-socket connection takes (no TCP keepalive)."""
    from floorkit import BROADCAST, call

    server = EmbeddedRedis()  # no port: a unix socket only
    url = server.start()
    assert url.startswith("unix://")
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": url}
    redis_client.reset()
    try:
        assert redis_client.get_redis().ping() and redis_client.get_redis(blocking=True).ping()
        with Server(subprocess_env(FLOORKIT_REDIS_URL=url)).start() as srv:
            tab = Tab(srv.url)
            call("tests.jsonly", None, BROADCAST, text="over the unix socket")
            assert [f["kwargs"]["text"] for f in tab.signals(quiet=0.5)] == ["over the unix socket"]
            tab.close()
    finally:
        server.stop()
        redis_client.reset()
