"""Degraded mode over HTTP: calls, polling and windows, with the site's
session, CSRF protection and the websocket's checks."""

import json
import threading
import time
import urllib.request

import pytest
from django.test import Client

from floorkit import BROADCAST, SESSION, WINDOW, SignalRequest, call
from floorkit.signals.identity import session_id
from floorkit.testing import Server
from tests.conftest import reports, subprocess_env


def csrf_client(django_user_model=None, username=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if username:
        django_user_model.objects.create_user(username, password="pw")
        assert client.login(username=username, password="pw")
    client.get("/rooms/")  # sets the csrftoken cookie (ensure_csrf_cookie); joins no group
    return client


def headers(client, token=None, csrf=True):
    out = {}
    if csrf:
        out["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    if token:
        out["HTTP_X_FLOORKIT_WINDOW"] = token
    return out


def new_window(client) -> dict:
    response = client.post("/floorkit/window/", **headers(client))
    assert response.status_code == 200, response.content
    return response.json()


def post_call(client, body, token=None, csrf=True):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        "/floorkit/call/", data, content_type="application/json", **headers(client, token, csrf)
    )


@pytest.fixture
def alice(django_user_model, redis_client, transactional_db):
    return csrf_client(django_user_model, "alice")


def test_call_runs_handlers_and_returns_results_and_window_messages(alice):
    window = new_window(alice)
    response = post_call(alice, {"signal": "tests.replay", "kwargs": {"n": 2}}, window["token"])
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and len(body["trace"]) == 16
    assert body["messages"] == [
        {"signal": "tests.jsonly", "options": {"step": 0}},
        {"signal": "tests.jsonly", "options": {"step": 1}},
    ]
    whoami = post_call(alice, {"signal": "tests.whoami"}, window["token"]).json()
    assert whoami["results"][0]["window"] == window["window"]
    assert whoami["results"][0]["user"] == "alice"


def test_call_enqueues_delayed_handlers(alice, redis_client):
    window = new_window(alice)
    body = post_call(
        alice, {"signal": "tests.delayed", "kwargs": {"value": 2}}, window["token"]
    ).json()
    assert body["results"] == [] and len(body["jobs"]) == 1


@pytest.mark.parametrize(
    "body, status, kind",
    [
        ("{nope", 400, "bad_request"),
        ({"kwargs": {}}, 400, "bad_request"),
        ({"signal": "no.such"}, 404, "unknown_signal"),
        ({"signal": "tests.private"}, 403, "not_allowed"),
        ({"signal": "tests.order", "kwargs": {"value": "x"}}, 400, "invalid_arguments"),
        ({"signal": "tests.jsonly", "to": "GALAXY"}, 400, "invalid_target"),
    ],
)
def test_refused_calls_get_json_errors_and_nothing_runs(alice, redis_client, body, status, kind):
    window = new_window(alice)
    response = post_call(alice, body, window["token"])
    assert response.status_code == status
    assert response.json()["ok"] is False and response.json()["kind"] == kind
    assert reports(redis_client, "order") == []


def test_missing_csrf_token_is_refused_with_json(alice, redis_client):
    response = post_call(alice, {"signal": "tests.order", "kwargs": {"value": 1}}, csrf=False)
    assert response.status_code == 403
    assert response.json()["kind"] == "csrf_failed"
    assert reports(redis_client, "order") == []


def test_foreign_window_is_refused(alice, django_user_model, redis_client):
    bob = csrf_client(django_user_model, "bob")
    bobs_window = new_window(bob)
    response = post_call(
        alice, {"signal": "tests.order", "kwargs": {"value": 1}}, bobs_window["token"]
    )
    assert response.status_code == 403 and response.json()["kind"] == "foreign_window"
    poll = alice.get("/floorkit/poll/?after=0", **headers(alice, bobs_window["token"], False))
    assert poll.status_code == 403 and poll.json()["kind"] == "foreign_window"
    assert reports(redis_client, "order") == []


def test_anonymous_call_to_login_only_signal_is_refused(redis_client, transactional_db):
    anonymous = csrf_client()
    window = new_window(anonymous)
    response = post_call(
        anonymous, {"signal": "tests.order", "kwargs": {"value": 1}}, window["token"]
    )
    assert response.status_code == 403 and response.json()["kind"] == "login_required"
    assert reports(redis_client, "order") == []
    ok = post_call(
        anonymous, {"signal": "tests.anonymous", "kwargs": {"text": "hi"}}, window["token"]
    )
    assert ok.json()["results"] == [{"user": None, "text": "hi"}]


def test_anonymous_windows_can_be_disallowed(settings, redis_client, transactional_db):
    settings.FLOORKIT = {**settings.FLOORKIT, "ALLOW_ANONYMOUS": False}
    anonymous = csrf_client()
    response = anonymous.post("/floorkit/window/", **headers(anonymous))
    assert response.status_code == 403 and response.json()["kind"] == "login_required"


def test_poll_returns_window_messages_in_order(alice):
    window = new_window(alice)
    session = session_id(alice.session.session_key)
    request = SignalRequest(username="alice", session=session, window=window["window"])
    for n, to in enumerate([WINDOW, SESSION, BROADCAST, [SESSION, WINDOW]]):
        call("tests.jsonly", request, to, n=n)
    call("tests.jsonly", SignalRequest(window="someone-else"), WINDOW, n=99)
    response = alice.get(
        f"/floorkit/poll/?after={window['seq']}", **headers(alice, window["token"], False)
    )
    body = response.json()
    assert [m["kwargs"]["n"] for m in body["messages"]] == [0, 1, 2, 3]
    assert body["lost"] is False and body["last"] == body["messages"][-1]["seq"]
    again = alice.get(
        f"/floorkit/poll/?after={body['last']}", **headers(alice, window["token"], False)
    )
    assert again.json()["messages"] == []


def test_poll_requires_a_window_and_a_cursor(alice):
    assert alice.get("/floorkit/poll/?after=0").json()["kind"] == "bad_request"
    window = new_window(alice)
    response = alice.get("/floorkit/poll/", **headers(alice, window["token"], False))
    assert response.status_code == 400


def test_long_poll_under_runwebsocket_waits_for_the_next_message(alice):
    server = Server(subprocess_env(), http=True).start()
    try:
        window = new_window(alice)
        cookie = f"sessionid={alice.cookies['sessionid'].value}"
        url = f"http://127.0.0.1:{server.port}/floorkit/poll/?after={window['seq']}"
        request = urllib.request.Request(
            url, headers={"Cookie": cookie, "X-Floorkit-Window": window["token"]}
        )
        session = session_id(alice.session.session_key)
        sender = threading.Timer(
            1.0,
            lambda: call(
                "tests.jsonly", SignalRequest(session=session, window=window["window"]), WINDOW, n=7
            ),
        )
        started = time.monotonic()
        sender.start()
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        assert 0.9 < time.monotonic() - started < 5  # held until the message came
        assert [m["kwargs"]["n"] for m in body["messages"]] == [7]
    finally:
        server.stop()


def test_long_poll_longer_than_the_redis_socket_timeout(alice, settings):
    """A poll held for longer than redis-py's 5 s socket timeout still answers cleanly."""
    from floorkit.delivery import message_log

    window = new_window(alice)
    session = session_id(alice.session.session_key)
    request = SignalRequest(session=session, window=window["window"])
    sender = threading.Timer(6.0, lambda: call("tests.jsonly", request, WINDOW, n=8))
    sender.start()
    started = time.monotonic()
    found = message_log.wait([f"window:{window['window']}"], window["seq"], timeout=8)
    assert 5.5 < time.monotonic() - started < 8
    assert [json.loads(p)["kwargs"]["n"] for p in found.payloads] == [8]
