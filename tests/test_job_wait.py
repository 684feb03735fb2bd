"""
Browser calls that wait for their delayed handlers (``{"options": {"wait": true}}``,
floorkit/jobs/waiting.py): a real ``runwebsocket --http`` server, real Redis and
real ``rqworker`` processes. The outcome and the progress of the jobs reach
the calling window as numbered ``floorkit.job.*`` messages, in order, over
the websocket and over HTTP polling, and after a reconnect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from floorkit import SignalRequest, call
from floorkit.signals.dispatch import call_from_client
from floorkit.testing import Server, Tab, capture
from tests.conftest import ROOT, subprocess_env
from tests.test_hostile_input import Browser
from tests.test_websocket import login
from tests.testapp import wait_signals  # noqa: F401  (the handlers, in this process too)

OVERRIDES = {"SIGNAL_MODULES": ["tests.testapp.wait_signals"]}
PROGRESS, RESULT = "floorkit.job.progress", "floorkit.job.result"
LEASE = 3  # seconds: a dead worker's job is failed within about three


def env(**overrides) -> dict[str, str]:
    return subprocess_env(FLOORKIT_TEST_OVERRIDES=json.dumps({**OVERRIDES, **overrides}))


@pytest.fixture(scope="module")
def server(redis_server, django_db_setup):
    srv = Server(env(), http=True).start()
    yield srv
    srv.stop()


def burst() -> subprocess.CompletedProcess:
    """``manage.py rqworker --burst default``: runs the queued jobs, then exits.

    A worker still running after 60 s gets SIGABRT, and the failure shows
    what it was doing: its log, and the stack of every one of its threads
    (``faulthandler``)."""
    args = [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst", "default"]
    with subprocess.Popen(
        args,
        cwd=ROOT,
        env={**env(), "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            out, err = worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGABRT)
            out, err = worker.communicate(timeout=10)
            pytest.fail(f"rqworker --burst still running after 60 s:\n{out}\n{err}")
    assert worker.returncode == 0, err
    return subprocess.CompletedProcess(args, worker.returncode, out, err)


def send_waiting(tab: Tab, signal: str, **kwargs) -> int:
    """Send a call that waits; return its id."""
    call_id = next(Tab._ids)  # the ids Tab.call() uses: one sequence per process
    options = {"wait": True}
    tab.send(
        {"type": "call", "id": call_id, "signal": signal, "kwargs": kwargs, "options": options}
    )
    return call_id


def waiting_call(tab: Tab, signal: str, **kwargs) -> dict:
    """Send a call that waits; return its answer (``result`` or ``error``, with its ``id``)."""
    call_id = send_waiting(tab, signal, **kwargs)
    return tab.wait_for(lambda f: f.get("id") == call_id and f["type"] in ("result", "error"))


def job_frames(tab: Tab, until_results: int = 1, timeout: float = 10) -> list[dict]:
    """The ``floorkit.job.*`` frames the tab receives, up to the ``until_results``-th result."""
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while sum(f["signal"] == RESULT for f in frames) < until_results:
        frame = tab.wait_for(
            lambda f: f["type"] == "signal" and f["signal"].startswith("floorkit.job."),
            max(0.01, deadline - time.monotonic()),
        )
        frames.append(frame)
    return frames


def no_job_frames(tab: Tab) -> list[dict]:
    return [f for f in tab.signals(quiet=0.5) if f["signal"].startswith("floorkit.job.")]


@pytest.fixture
def alice(server, django_user_model, transactional_db, redis_client):
    """Two tabs of one session of alice."""
    key = login(django_user_model, "alice")
    tabs = [Tab(server.url, key), Tab(server.url, key)]
    yield key, tabs
    for tab in tabs:
        tab.close()


def test_progress_in_order_then_the_result_reach_the_calling_tab_only(alice):
    _key, (caller, other) = alice
    answer = waiting_call(caller, "wait.steps", n=3)
    assert answer["type"] == "result" and answer["results"] == [], answer
    (job,) = answer["jobs"]
    burst()
    frames = job_frames(caller)
    assert [(f["signal"], f["kwargs"].get("done")) for f in frames] == [
        (PROGRESS, 1),
        (PROGRESS, 2),
        (PROGRESS, 3),
        (RESULT, None),
    ]
    assert frames[0]["kwargs"] == {
        "call": answer["id"],
        "job": job,
        "done": 1,
        "total": 3,
        "text": "step 1 of 3",
    }
    assert frames[-1]["kwargs"] == {
        "call": answer["id"],
        "job": job,
        "ok": True,
        "result": {"steps": 3, "window": caller.window},
    }
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4  # numbered, logged messages
    assert all(f["trace"] == answer["trace"] for f in frames)
    assert no_job_frames(other) == []  # the same session's other tab hears nothing


def test_a_failing_job_rejects_with_handler_failed_and_its_error_id(alice):
    _key, (caller, _other) = alice
    answer = waiting_call(caller, "wait.fails")
    (job,) = answer["jobs"]
    worker = burst()
    frames = job_frames(caller)
    # retry=1: two attempts, each reporting progress; one failure, after the last
    assert [f["signal"] for f in frames] == [PROGRESS, PROGRESS, RESULT]
    outcome = frames[-1]["kwargs"]
    assert outcome == {
        **outcome,
        "call": answer["id"],
        "job": job,
        "ok": False,
        "kind": "handler_failed",
    }
    assert outcome["message"] == f"wait.fails failed (error {outcome['error_id']})"
    assert "s3cret" not in json.dumps(frames)  # the exception's text stays in the log
    assert f"floorkit error {outcome['error_id']}" in worker.stderr + worker.stdout
    assert "the detail s3cret stays on the server" in worker.stderr + worker.stdout


def test_a_tab_that_reconnects_before_the_job_ends_gets_progress_and_result_replayed(server, alice):
    key, (caller, other) = alice
    answer = waiting_call(caller, "wait.steps", n=2)
    (job,) = answer["jobs"]
    token, last = caller.hello["token"], caller.hello["seq"]
    caller.close()  # the job runs while the tab is away
    burst()
    back = Tab(server.url, key, token=token, last=last)
    try:
        assert back.window == caller.window
        frames = job_frames(back)
        assert [(f["signal"], f["kwargs"]["call"]) for f in frames] == [
            (PROGRESS, answer["id"]),
            (PROGRESS, answer["id"]),
            (RESULT, answer["id"]),
        ]
        assert frames[-1]["kwargs"]["result"] == {"steps": 2, "window": caller.window}
        assert frames[-1]["kwargs"]["job"] == job
        recovery = back.wait_for(lambda f: f["type"] == "recovery")
        assert recovery["lost"] is False and recovery["replayed"] >= 3
    finally:
        back.close()
    assert no_job_frames(other) == []


def test_each_delayed_handler_sends_its_outcome_and_inline_results_answer_at_once(alice):
    _key, (caller, _other) = alice
    answer = waiting_call(caller, "wait.pair", x=5)
    assert answer["results"] == [{"inline": 5}] and len(answer["jobs"]) == 2
    burst()
    frames = job_frames(caller, until_results=2)
    outcomes = {f["kwargs"]["job"]: f["kwargs"]["result"] for f in frames}
    first, second = answer["jobs"]
    assert outcomes == {first: {"first": 5}, second: {"second": 5}}


def test_inline_progress_of_a_waiting_call_reaches_the_tab(alice):
    _key, (caller, _other) = alice
    call_id = send_waiting(caller, "wait.inline", x=2)
    progress = caller.wait_for(lambda f: f.get("signal") == PROGRESS)
    assert progress["kwargs"] == {
        "call": call_id,
        "job": None,
        "done": 1,
        "total": 1,
        "text": "inline work",
    }
    answer = caller.wait_for(lambda f: f.get("id") == call_id)
    assert (answer["results"], answer["jobs"]) == ([{"inline": 2}], [])


def test_calls_that_do_not_wait_and_handlers_own_calls_send_no_job_messages(alice):
    _key, (caller, _other) = alice
    plain = caller.call("wait.steps", n=2)
    assert plain["type"] == "result" and len(plain["jobs"]) == 1
    answer = waiting_call(caller, "wait.nested")
    (job,) = answer["jobs"]
    burst()  # runs wait.steps twice: the plain call's and the nested call's
    frames = job_frames(caller)
    assert [(f["signal"], f["kwargs"]["job"]) for f in frames] == [(RESULT, job)]
    (nested_job,) = frames[0]["kwargs"]["result"]["nested"]
    assert nested_job != job
    assert no_job_frames(caller) == []  # nothing of the nested job, nor of the plain call


def test_http_polling_gets_progress_and_result(server, redis_client, transactional_db):
    browser = Browser(server)
    status, body, _ = browser.call(
        {"signal": "wait.steps", "kwargs": {"n": 2}, "id": 21, "options": {"wait": True}}
    )
    assert status == 200 and body["ok"] is True, body
    (job,) = body["jobs"]
    burst()
    status, polled, _ = browser.request("GET", "/floorkit/poll/?after=0")
    assert status == 200, polled
    frames = [m for m in polled["messages"] if m["signal"].startswith("floorkit.job.")]
    assert [(f["signal"], f["kwargs"].get("done")) for f in frames] == [
        (PROGRESS, 1),
        (PROGRESS, 2),
        (RESULT, None),
    ]
    assert frames[-1]["kwargs"]["call"] == 21 and frames[-1]["kwargs"]["job"] == job
    assert frames[-1]["kwargs"]["result"]["steps"] == 2


def test_a_dead_workers_job_fails_the_waiting_call(server, alice):
    _key, (caller, _other) = alice
    answer = waiting_call(caller, "wait.hangs")
    (job,) = answer["jobs"]
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(
            subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "rqworker", "default"],
                cwd=ROOT,
                env=env(WORKER_LEASE=LEASE),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        return started[-1]

    try:
        first = start()
        hanging = caller.wait_for(lambda f: f.get("signal") == PROGRESS, timeout=30)
        assert hanging["kwargs"]["text"] == "hanging" and hanging["kwargs"]["job"] == job
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        start()
        outcome = caller.wait_for(lambda f: f.get("signal") == RESULT, timeout=3 * LEASE + 15)
    finally:
        for worker in started:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    assert outcome["kwargs"] == {
        "call": answer["id"],
        "job": job,
        "ok": False,
        "kind": "handler_failed",
        "message": f"wait.hangs failed: the worker running job {job} died",
        "error_id": None,
    }


# -- in this process: what travels to the worker -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_wait_travels_to_the_worker_and_stops_at_a_handlers_own_calls():
    request = SignalRequest(window="w1", wait=4)
    with capture() as captured:
        call_from_client("wait.steps", request, {"n": 1})
        call("wait.steps", request, n=1)  # a Python call: nobody awaits it
    awaited, plain = (json.loads(job.payload)[2][2] for job in captured.jobs)
    assert awaited["wait"] == 4 and awaited["window"] == "w1"
    assert plain["wait"] is None
    assert SignalRequest.from_dict(awaited).wait == 4
    assert SignalRequest.from_dict({**awaited, "wait": "4"}).wait is None


@pytest.mark.django_db(transaction=True)
def test_progress_checks_its_values_and_sends_nothing_when_nobody_waits():
    with capture() as captured:
        assert SignalRequest(window="w1").progress(1, 2, "x") is None  # no call waits
        assert SignalRequest(wait=3).progress(1, 2, "x") is None  # no window to tell
        waiting = SignalRequest(window="w1", wait=3)
        for done, total, text, error in [
            ("1", 2, "", TypeError),
            (True, 2, "", TypeError),
            (1, [2], "", TypeError),
            (1, 2, 3, TypeError),
            (float("nan"), 2, "", ValueError),
            (1, float("inf"), "", ValueError),
            (-1, 2, "", ValueError),
        ]:
            with pytest.raises(error):
                waiting.progress(done, total, text)
        assert captured.messages == []
        assert waiting.progress(1, None, "x" * 5000) is not None
    (message,) = captured.messages
    assert message.signal == PROGRESS and message.addresses == ["window:w1"]
    assert message.kwargs == {"call": 3, "job": None, "done": 1, "total": None, "text": "x" * 1000}


@pytest.mark.django_db(transaction=True)
def test_capture_records_the_progress_and_outcome_sent_to_a_waiting_call():
    with capture(run_jobs=True) as captured:
        result = call_from_client("wait.steps", SignalRequest(window="w1", wait=4), {"n": 2})
    (job,) = result.jobs
    assert [(m.signal, m.addresses) for m in captured.messages] == [
        (PROGRESS, ["window:w1"]),
        (PROGRESS, ["window:w1"]),
        (RESULT, ["window:w1"]),
    ]
    assert captured.messages[0].kwargs["job"] == job
    assert captured.messages[-1].kwargs == {
        "call": 4,
        "job": job,
        "ok": True,
        "result": {"steps": 2, "window": "w1"},
    }
