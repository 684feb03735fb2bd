"""runwebsocket with real websocket clients over real sockets, and real Redis."""

import re
import signal
import time
import uuid

import pytest
import websocket
from django.test import Client

from floorkit import BROADCAST, SESSION, USER, WINDOW, SignalRequest, call
from floorkit.signals.identity import session_id
from floorkit.testing import Server, Tab
from tests.conftest import manage, reports, subprocess_env


@pytest.fixture(scope="module")
def server(redis_server):
    srv = Server(subprocess_env()).start()
    yield srv
    srv.stop()


def login(django_user_model, username: str) -> str:
    if not django_user_model.objects.filter(username=username).exists():
        django_user_model.objects.create_user(username, password="pw")
    client = Client()
    assert client.login(username=username, password="pw")
    return client.cookies["sessionid"].value


@pytest.fixture
def tabs(server, django_user_model, transactional_db):
    """Two users, three tabs of alice (two in one session), bob, and an anonymous visitor."""
    alice_key = login(django_user_model, "alice")
    alice_key2 = login(django_user_model, "alice")
    bob_key = login(django_user_model, "bob")
    opened = {
        "alice1": Tab(server.url, alice_key),
        "alice2": Tab(server.url, alice_key),
        "alice3": Tab(server.url, alice_key2),
        "bob": Tab(server.url, bob_key),
        "anon": Tab(server.url),
    }
    opened["keys"] = {"alice": alice_key, "bob": bob_key}
    yield opened
    for name, tab in opened.items():
        if name != "keys":
            tab.close()


def receivers(tabs, text):
    """The tabs that got the message ``text`` exactly once (a broadcast marker ends the wait)."""
    marker = uuid.uuid4().hex
    call("tests.jsonly", None, BROADCAST, marker=marker)
    got = []
    for name, tab in tabs.items():
        if name == "keys":
            continue
        frames = [f for f in tab.signals(until=marker) if f["kwargs"].get("text") == text]
        assert len(frames) <= 1, f"{name} got {text!r} {len(frames)} times"
        if frames:
            got.append(name)
    return sorted(got)


def alice_request(tabs):
    return SignalRequest(
        user_id=1,
        username="alice",
        session=session_id(tabs["keys"]["alice"]),
        window=tabs["alice1"].window,
    )


@pytest.mark.parametrize(
    "to, expected",
    [
        (WINDOW, ["alice1"]),
        (SESSION, ["alice1", "alice2"]),
        (USER, ["alice1", "alice2", "alice3"]),
        ({USER: ["bob"]}, ["bob"]),
        ({USER: ["alice", "bob"]}, ["alice1", "alice2", "alice3", "bob"]),
        (BROADCAST, ["alice1", "alice2", "alice3", "anon", "bob"]),
        ([SESSION, USER], ["alice1", "alice2", "alice3"]),  # each tab once
    ],
)
def test_each_target_reaches_exactly_the_right_tabs(tabs, to, expected):
    call("tests.jsonly", alice_request(tabs), to, text=f"to {to}")
    assert receivers(tabs, f"to {to}") == expected


def test_hello_identifies_user_and_issues_distinct_windows(tabs):
    assert tabs["alice1"].hello["user"] == "alice" and tabs["anon"].hello["user"] is None
    windows = {tabs[n].window for n in ("alice1", "alice2", "alice3", "bob", "anon")}
    assert len(windows) == 5


def test_reconnect_with_token_keeps_window_but_not_across_sessions(server, tabs):
    alice = tabs["alice1"]
    again = Tab(server.url, tabs["keys"]["alice"], token=alice.hello["token"])
    assert again.window == alice.window
    stolen = Tab(server.url, tabs["keys"]["bob"], token=alice.hello["token"])
    assert stolen.window != alice.window  # a token only works for its own session
    forged = Tab(server.url, tabs["keys"]["alice"], token=f"{tabs['bob'].window}.forged")
    assert forged.window != tabs["bob"].window
    for tab in (again, stolen, forged):
        tab.close()


def test_browser_call_runs_python_with_the_connection_identity(tabs):
    result = tabs["alice1"].call("tests.whoami")
    assert result["type"] == "result" and result["ok"] is True
    (who,) = result["results"]
    assert who["user"] == "alice" and who["window"] == tabs["alice1"].window
    assert who["session"] == session_id(tabs["keys"]["alice"])
    assert len(result["trace"]) == 16


def test_calls_of_one_tab_run_concurrently(tabs):
    """A slow handler delays neither the tab's other calls nor the reading of its socket."""
    tab = tabs["alice1"]
    tab.send({"type": "call", "id": 901, "signal": "tests.sleep", "kwargs": {"seconds": 1.0}})
    started = time.monotonic()
    tab.send({"type": "call", "id": 902, "signal": "tests.echo", "kwargs": {"n": 1}})
    first = tab.recv()
    assert (first["type"], first["id"]) == ("result", 902)
    assert time.monotonic() - started < 0.8
    assert tab.call("tests.echo", n=2)["results"] == [{"n": 2}]  # still reading
    second = tab.wait_for(lambda f: f.get("id") == 901)
    assert second["results"] == [1.0]


def test_each_call_starts_with_fresh_context_variables(tabs):
    """Greenlets are reused from call to call; context variables are not carried over."""
    tab = tabs["alice1"]
    for name in ("first", "second", "third"):
        assert tab.call("tests.context", name=name)["results"] == [None]


def test_browser_call_delivers_to_the_targets_it_asked_for(tabs):
    result = tabs["bob"].call("tests.jsonly", to=[{"USER": ["alice"]}], text="from bob")
    assert result["type"] == "result"
    assert receivers(tabs, "from bob") == ["alice1", "alice2", "alice3"]
    result = tabs["bob"].call("tests.jsonly", to="WINDOW", text="me")
    assert receivers(tabs, "me") == ["bob"]


def test_delayed_handler_called_from_browser_returns_job_id(tabs, redis_client, run_worker):
    result = tabs["alice1"].call("tests.delayed", value=3)
    assert result["results"] == [] and len(result["jobs"]) == 1
    run_worker("default")
    (done,) = reports(redis_client, "delayed")
    assert done["request"]["window"] == tabs["alice1"].window
    assert done["request"]["trace_id"] == result["trace"]


def test_signal_fired_from_an_rq_worker_reaches_the_tab(tabs, run_worker):
    result = tabs["alice1"].call("tests.push_from_worker", text="from worker")
    assert result["type"] == "result"
    run_worker("default")
    (frame,) = [f for f in tabs["alice1"].signals() if f["kwargs"].get("text") == "from worker"]
    assert frame["trace"] == result["trace"]
    assert receivers(tabs, "from worker") == []  # nobody else


def test_firesignal_reaches_a_tab(tabs):
    window = tabs["bob"].window
    result = manage(
        "firesignal", "tests.jsonly", "--to", f"window:{window}", "--kwargs", '{"text": "cli"}'
    )
    assert result.returncode == 0, result.stderr
    assert receivers(tabs, "cli") == ["bob"]


def test_broadcast_through_two_server_processes(server, tabs, redis_server):
    second = Server(subprocess_env()).start()
    try:
        other = Tab(second.url)
        call("tests.jsonly", None, BROADCAST, text="both")
        assert [f["kwargs"]["text"] for f in other.signals(quiet=0.5)] == ["both"]
        assert receivers(tabs, "both") == ["alice1", "alice2", "alice3", "anon", "bob"]
        other.close()
    finally:
        second.stop()


def test_handler_replay_list_reaches_calling_window_in_order(tabs):
    tab = tabs["alice1"]
    result = tab.call("tests.replay", n=3)
    replayed = [f["kwargs"]["step"] for f in tab.pending if f["type"] == "signal"]
    assert replayed == [0, 1, 2]
    assert result["ok"] is True
    assert receivers(tabs, "x") == []


@pytest.mark.parametrize(
    "tab, frame, kind, text",
    [
        ("alice1", {"signal": "no.such"}, "unknown_signal", "unknown signal 'no.such'"),
        ("alice1", {"signal": "tests.private"}, "not_allowed", "cannot be called from a browser"),
        ("alice1", {"signal": "tests.jsonly_closed"}, "not_allowed", "cannot be called"),
        ("anon", {"signal": "tests.echo"}, "login_required", "requires a logged-in user"),
        (
            "alice1",
            {"signal": "tests.typed", "kwargs": {"count": "x"}},
            "invalid_arguments",
            "argument 'count'",
        ),
        (
            "alice1",
            {"signal": "tests.typed", "kwargs": {}},
            "invalid_arguments",
            "missing required",
        ),
        (
            "alice1",
            {"signal": "tests.typed", "kwargs": {"count": 1, "zz": 1}},
            "invalid_arguments",
            "unexpected",
        ),
        (
            "alice1",
            {"signal": "tests.echo", "kwargs": []},
            "bad_request",
            "'kwargs' must be a JSON object",
        ),
        ("alice1", {"signal": 5}, "bad_request", "string 'signal'"),
        (
            "alice1",
            {"signal": "tests.jsonly", "to": "EVERYONE"},
            "invalid_target",
            "invalid target",
        ),
        ("anon", {"signal": "tests.jsonly_anon", "to": "USER"}, "invalid_target", "USER needs"),
    ],
)
def test_refusals_are_error_frames_and_the_connection_stays_open(tabs, tab, frame, kind, text):
    client = tabs[tab]
    client.send({"type": "call", "id": 77, "kwargs": {}, **frame})
    error = client.wait_for(lambda f: f["type"] == "error")
    assert (error["id"], error["kind"]) == (77, kind)
    assert text in error["message"]
    assert client.call("tests.whoami")["type"] == "result"  # still open


@pytest.mark.parametrize(
    "raw, text",
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type": "call", "signal": "tests.echo"}', "integer 'id'"),
        ('{"type": "call", "id": "7", "signal": "tests.echo"}', "integer 'id'"),
        ('{"type": "dance", "id": 1}', "unknown frame type 'dance'"),
    ],
)
def test_malformed_frames_get_bad_request(tabs, raw, text):
    client = tabs["alice1"]
    client.send(raw)
    error = client.wait_for(lambda f: f["type"] == "error")
    assert error["kind"] == "bad_request" and text in error["message"]
    assert client.call("tests.whoami")["type"] == "result"


def test_handler_failure_has_an_error_id_matching_a_server_log_line(redis_server, tabs):
    own = Server(subprocess_env()).start()
    tab = Tab(own.url, tabs["keys"]["alice"])
    error = tab.call("tests.explode")
    assert error["kind"] == "handler_failed" and len(error["error_id"]) == 12
    assert error["error_id"] in error["message"] and "kaboom" not in error["message"]
    assert tab.call("tests.whoami")["type"] == "result"
    tab.close()
    _, log = own.stop()
    assert f"floorkit error {error['error_id']}: tests.explode failed" in log
    # the log line carries the call's trace id, as the error frame's call does
    line = next(x for x in log.splitlines() if error["error_id"] in x)
    assert re.search(r"\[trace [0-9a-f]{16}\]", line), line
    assert "ValueError: kaboom" in log


def test_ping_gets_pong(tabs):
    tabs["anon"].send({"type": "ping"})
    assert tabs["anon"].wait_for(lambda f: f["type"] == "pong")


def test_foreign_origin_gets_403(server):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        Tab(server.url, origin="http://evil.example")
    assert info.value.status_code == 403
    ok = Tab(server.url, origin=f"http://127.0.0.1:{server.port}")
    ok.close()


def test_rate_limit_refuses_excess_calls(redis_server, transactional_db):
    srv = Server(subprocess_env(), overrides={"RATE_LIMIT": 5}).start()
    try:
        tab = Tab(srv.url)
        for i in range(30):
            tab.send({"type": "call", "id": i + 1, "signal": "tests.whoami", "kwargs": {}})
        frames = [tab.wait_for(lambda f: f["type"] in ("result", "error")) for _ in range(30)]
        kinds = [f.get("kind", "ok") for f in frames]
        assert kinds.count("ok") == 10  # the burst: twice the rate
        assert kinds.count("rate_limited") == 20
        time.sleep(0.5)
        assert tab.call("tests.whoami")["type"] == "result"  # refilled
        tab.close()
    finally:
        srv.stop()


def test_silent_peer_is_dropped_by_heartbeat(redis_server, transactional_db):
    srv = Server(subprocess_env(), overrides={"HEARTBEAT": 0.3}).start()
    try:
        tab = Tab(srv.url)
        # websocket-client answers pings only while reading: stay silent
        time.sleep(2)
        tab.ws.settimeout(2)
        with pytest.raises(
            (websocket.WebSocketConnectionClosedException, ConnectionError, OSError)
        ):
            while True:
                opcode, _ = tab.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise websocket.WebSocketConnectionClosedException("closed")
        alive = Tab(srv.url)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # a reading client answers pings and stays
            alive.ws.settimeout(0.2)
            try:
                alive.ws.recv()
            except websocket.WebSocketTimeoutException:
                pass
        assert alive.call("tests.whoami")["type"] == "result"
    finally:
        srv.stop()


def test_sigterm_closes_sockets_with_1001(redis_server, transactional_db):
    srv = Server(subprocess_env()).start()
    tab = Tab(srv.url)
    srv.stop(signal.SIGTERM)
    tab.ws.settimeout(5)
    opcode, data = tab.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1001


def test_a_tab_that_stops_reading_gets_every_message_whole_and_in_order(
    redis_server, transactional_db
):
    """
    Its frames queue behind what the socket cannot take yet (several MiB
    here: more than the kernel buffers hold), in order and never interleaved,
    while other tabs keep receiving.
    """
    srv = Server(subprocess_env()).start()
    try:
        stalled, reading = Tab(srv.url), Tab(srv.url)
        pad = "x" * 30000
        for n in range(300):
            call("tests.jsonly", None, BROADCAST, n=n, pad=pad)
        started = time.monotonic()
        got = [
            reading.wait_for(lambda f: f.get("type") == "signal")["kwargs"]["n"] for _ in range(300)
        ]
        assert got == list(range(300)) and time.monotonic() - started < 20
        frames = [stalled.wait_for(lambda f: f.get("type") == "signal") for _ in range(300)]
        assert [f["kwargs"]["n"] for f in frames] == list(range(300))
        assert all(f["kwargs"]["pad"] == pad for f in frames)
        assert [f["seq"] for f in frames] == sorted(f["seq"] for f in frames)
        stalled.close()
        reading.close()
    finally:
        srv.stop()


def test_a_burst_of_tabs_waits_for_redis_connections_instead_of_failing(
    redis_server, transactional_db
):
    """
    60 tabs connect at once to a server allowed 3 Redis connections (one is
    its pub/sub): every tab is greeted, and every tab gets the next broadcast.
    """
    from concurrent.futures import ThreadPoolExecutor

    srv = Server(subprocess_env(), overrides={"REDIS_MAX_CONNECTIONS": 3}).start()
    try:
        with ThreadPoolExecutor(60) as pool:
            opened = list(pool.map(lambda _: Tab(srv.url), range(60)))
        assert len({tab.window for tab in opened}) == 60
        marker = uuid.uuid4().hex
        call("tests.jsonly", None, BROADCAST, marker=marker)
        for tab in opened:
            frame = tab.wait_for(lambda f: f.get("kwargs", {}).get("marker") == marker)
            assert frame["signal"] == "tests.jsonly"
        for tab in opened:
            tab.close()
    finally:
        out, err = srv.stop()
    assert "Too many connections" not in err and "No connection available" not in err


def test_max_message_size_setting_closes_with_1009(redis_server, transactional_db):
    srv = Server(subprocess_env(), overrides={"MAX_MESSAGE_SIZE": 1000}).start()
    try:
        tab = Tab(srv.url)
        assert tab.call("tests.whoami", pad="x" * 100)["type"] in ("result", "error")
        tab.send({"type": "call", "id": 1, "signal": "tests.whoami", "kwargs": {"pad": "x" * 2000}})
        tab.ws.settimeout(5)
        while True:
            opcode, data = tab.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
        assert int.from_bytes(data[:2], "big") == 1009
    finally:
        srv.stop()
