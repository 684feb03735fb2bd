"""Tracing: one trace id across browser call, inline handler, job, worker,
publish and delivery; tracesignal and listsignals --stats."""

import json
import logging
import signal
import subprocess
import sys
import time

import pytest

from floorkit import InvalidArguments, call
from floorkit.testing import Server, Tab
from floorkit.tracing import reader, recorder
from tests.conftest import ROOT, manage, subprocess_env
from tests.test_websocket import login


def events_of(trace_id: str, expected: int, timeout: float = 5) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        recorder.flush()
        events = [e for e in recorder.read() if e["trace"] == trace_id]
        if len(events) >= expected or time.monotonic() > deadline:
            return sorted(events, key=lambda e: e["ts"])
        time.sleep(0.1)


@pytest.fixture
def server(redis_server):
    srv = Server(subprocess_env()).start()
    yield srv
    srv.stop()


def test_one_trace_covers_every_hop_in_causal_order(
    server, django_user_model, transactional_db, run_worker, redis_client
):
    tab = Tab(server.url, login(django_user_model, "alice"))
    result = tab.call("tests.trace_chain", text="hops")
    trace_id = result["trace"]
    run_worker("default")
    pushed = tab.wait_for(lambda f: f["type"] == "signal" and f["kwargs"].get("text") == "hops")
    assert pushed["trace"] == trace_id  # the JS client exposes it on received messages
    events = events_of(trace_id, 9)  # every hop listed below
    kinds = [(e["event"], e["signal"], e["role"]) for e in events]
    assert kinds[:2] == [
        ("call", "tests.trace_chain", "websocket"),
        ("handler", "tests.trace_chain", "websocket"),
    ]
    for expected in [
        ("call", "tests.push_from_worker", "websocket"),
        ("job.enqueued", "tests.push_from_worker", "websocket"),
        ("job.started", "tests.push_from_worker", "worker"),
        ("call", "tests.jsonly", "worker"),
        ("message.published", "tests.jsonly", "worker"),
        ("job.finished", "tests.push_from_worker", "worker"),
        ("message.delivered", None, "websocket"),
    ]:
        assert expected in kinds, (expected, kinds)
    by_hop = {e["hop"]: e for e in events}
    roots = [e for e in events if e["parent"] not in by_hop]
    assert [r["event"] for r in roots] == ["call"]  # one tree
    for event in events:  # every hop comes after the hop that caused it
        if event["parent"] in by_hop:
            assert by_hop[event["parent"]]["ts"] <= event["ts"] + 1e-6
    delivered = next(e for e in events if e["event"] == "message.delivered")
    assert delivered["windows"] == [tab.window] and delivered["sockets"] == 1
    tab.close()


@pytest.mark.parametrize(
    "frame, reason",
    [
        ({"signal": "tests.private"}, "not_allowed"),
        ({"signal": "tests.typed", "kwargs": {"count": "x"}}, "invalid_arguments"),
        ({"signal": "no.such"}, "unknown_signal"),
    ],
)
def test_refused_calls_are_traced_with_their_reason(
    server, django_user_model, transactional_db, frame, reason
):
    tab = Tab(server.url, login(django_user_model, "alice"))
    tab.send({"type": "call", "id": 5, "kwargs": {}, **frame})
    tab.wait_for(lambda f: f["type"] == "error")
    time.sleep(0.3)
    refused = [
        e for e in recorder.read() if e.get("reason") == reason and e["signal"] == frame["signal"]
    ]
    assert refused and refused[-1]["outcome"] == "refused" and refused[-1]["role"] == "websocket"
    tab.close()


def test_tracing_off_writes_nothing(settings, redis_client):
    recorder.flush()  # what earlier tests recorded
    settings.FLOORKIT = {**settings.FLOORKIT, "TRACE": False}
    before = redis_client.xlen("floorkit:trace")
    call("tests.echo", None, None, a=1)
    with pytest.raises(InvalidArguments):
        call("tests.typed", count="x")
    recorder.flush()
    assert redis_client.xlen("floorkit:trace") == before


def three_traces() -> dict[str, str]:
    ok = call("tests.echo", None, None, a=1).trace_id
    from floorkit import SignalRequest

    refused_request = SignalRequest()
    with pytest.raises(InvalidArguments):
        call("tests.typed", refused_request, count="x")
    failed_request = SignalRequest()
    with pytest.raises(ValueError):
        call("tests.explode", failed_request)
    recorder.flush()
    return {"ok": ok, "refused": refused_request.trace_id, "error": failed_request.trace_id}


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_tracesignal_last_trace_and_errors_select(redis_client):
    traces = three_traces()
    last = manage("tracesignal", "--last", "2", "--json")
    assert last.returncode == 0, last.stderr
    shown = list(dict.fromkeys(e["trace"] for e in json_lines(last.stdout)))
    assert shown == [traces["refused"], traces["error"]]
    one = manage("tracesignal", "--trace", traces["ok"], "--json")
    assert [(e["event"], e["signal"], e["outcome"]) for e in json_lines(one.stdout)] == [
        ("call", "tests.echo", "ok"),
        ("handler", "tests.echo", "ok"),
    ]
    errors = manage("tracesignal", "--last", "10", "--errors", "--json")
    assert {e["trace"] for e in json_lines(errors.stdout)} == {traces["refused"], traces["error"]}
    by_trace = {e["trace"]: e for e in json_lines(errors.stdout) if e["event"] == "call"}
    assert by_trace[traces["refused"]]["reason"] == "invalid_arguments"
    assert "ValueError: kaboom" in by_trace[traces["error"]]["error"]
    patterns = manage("tracesignal", "tests.ech*", "--last", "10", "--json")
    assert {e["trace"] for e in json_lines(patterns.stdout)} == {traces["ok"]}
    tree = manage("tracesignal", "--trace", traces["error"])
    assert f"trace {traces['error']}" in tree.stdout and "ERROR" in tree.stdout
    missing = manage("tracesignal", "--trace", "nope")
    assert missing.returncode == 1 and "no trace 'nope'" in missing.stderr


def test_tracesignal_follows_live_and_stops_cleanly_on_ctrl_c(redis_client):
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "tracesignal", "tests.*", "--json"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)  # Django start-up, then it waits for new events
    traces = three_traces()
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in err
    seen = {e["trace"] for e in json_lines(out)}
    assert set(traces.values()) <= seen


def test_tracesignal_draws_a_tree(redis_client):
    traces = three_traces()
    result = manage("tracesignal", "--trace", traces["ok"])
    lines = result.stdout.splitlines()
    assert lines[0] == f"trace {traces['ok']}"
    assert "call tests.echo" in lines[1] and "[web " in lines[1]


def test_listsignals_stats(redis_client):
    redis_client.delete("floorkit:trace")
    three_traces()
    call("tests.echo", None, None, a=2)
    recorder.flush()
    result = manage("listsignals", "--stats", "--json")
    table = json.loads(result.stdout)
    assert table["tests.echo"]["calls"] == 2 and table["tests.echo"]["errors"] == 0
    assert table["tests.echo"]["hops"]["handler"]["count"] == 2
    assert table["tests.explode"]["errors"] == 2  # the call and its handler
    assert table["tests.typed"]["errors"] == 1
    assert set(table["tests.echo"]["hops"]["call"]) == {"count", "p50_ms", "p99_ms"}
    text = manage("listsignals", "--stats")
    assert "tests.echo" in text.stdout and "handler: 2" in text.stdout


def test_log_records_carry_the_trace_id(caplog, redis_client, transactional_db):
    handler = logging.getLogger("tests.trace")
    caplog.handler.addFilter(recorder.TraceIdFilter())
    with caplog.at_level(logging.WARNING, logger="tests.trace"):
        result = call("tests.trace_chain", None, None, text="logged")
    record = next(r for r in caplog.records if r.name == "tests.trace")
    assert record.trace_id == result.trace_id
    assert handler is not None
    assert reader.stats([]) == {}


def test_async_signal_sends_join_the_current_trace(redis_client, transactional_db):
    from tests.testapp import async_signals

    token = recorder.current_trace.set("feedfacecafebeef")  # as inside a traced handler
    try:
        async_signals.everything.options(run_mode="eager").send(sender=None, value=1)
    finally:
        recorder.current_trace.reset(token)
    events = events_of("feedfacecafebeef", 3)
    assert [e["event"] for e in events] == ["job.enqueued", "job.started", "job.finished"]
    assert events[0]["signal"] == async_signals.everything.name
    assert events[1]["parent"] == events[0]["hop"] and events[2]["outcome"] == "ok"


FORK_WHILE_FLUSHING = """
import os, signal, sys
import django
django.setup()
from floorkit.tracing import recorder
recorder.emit("call", "parent", "hop", None, "tests.fork")
recorder._lock.acquire()  # the parent's flusher, mid-write, when a job's child is forked
pid = os.fork()
if pid == 0:
    signal.alarm(10)  # a child stuck on the lock dies of SIGALRM
    recorder.emit("call", "child", "hop", None, "tests.fork")
    os._exit(0 if recorder.flush() == 1 else 3)
recorder._lock.release()
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))  # then this process flushes its own event at exit
"""


def test_a_child_forked_while_the_parent_flushes_traces_still_flushes_its_own(redis_client):
    """
    An RQ work horse forked mid-flush writes its job's events and exits; its
    batch holds its own events only, not those its parent had buffered.
    """
    result = subprocess.run(
        [sys.executable, "-c", FORK_WHILE_FLUSHING],
        env=subprocess_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "0", result.stderr
    assert [event["trace"] for event in recorder.read()] == ["child", "parent"]
