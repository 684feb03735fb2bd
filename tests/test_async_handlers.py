"""
``async def`` handlers wherever ``call()`` runs: inline in a real ``runwebsocket``
(gevent), over the HTTP transport, delayed in a real ``rqworker --burst``, with
Django's async ORM, failing as ``handler_failed``, with every argument checked
before anything runs; ``await acall()`` from async code and from an async view
served by Django's ASGI handler; and 50 tabs whose handlers sleep concurrently.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from django.db import transaction
from django.test import AsyncClient
from rq.job import Job
from rq.serializers import JSONSerializer

from floorkit import InvalidArguments, UnknownSignal, acall, call
from floorkit.signals.registry import registry
from floorkit.testing import Server, Tab, capture
from tests.conftest import ROOT, reports, subprocess_env
from tests.test_http import csrf_client, new_window, post_call
from tests.testapp import async_handlers  # noqa: F401 (connects the handlers here)
from tests.testapp.models import Order

MODULES = {"SIGNAL_MODULES": ["tests.testapp.async_handlers"]}


@pytest.fixture(scope="module")
def server(redis_server, django_db_setup):
    srv = Server(subprocess_env(), http=True, overrides=MODULES).start()
    yield srv
    srv.stop()


def result_of(frame: dict) -> list:
    assert frame["type"] == "result" and frame["ok"] is True, frame
    return frame["results"]


# -- inline, in runwebsocket -------------------------------------------------------


def test_async_handler_runs_inline_in_runwebsocket(server, opened):
    tab = Tab(server.url)
    opened.append(tab)
    frame = tab.call("tests.async.echo", value=4, label="ws")
    assert result_of(frame) == [{"value": 4, "label": "ws", "window": tab.window}]


def test_async_handler_calls_another_signal_with_acall_in_runwebsocket(server, opened):
    tab = Tab(server.url)
    opened.append(tab)
    frame = tab.call("tests.async.nested", value=1)
    assert result_of(frame) == [{"value": 2, "label": "nested", "window": tab.window}]


def test_async_handler_failure_is_handler_failed_with_its_traceback_logged(server, opened):
    tab = Tab(server.url)
    opened.append(tab)
    frame = tab.call("tests.async.fails", value=3)
    assert frame["type"] == "error" and frame["kind"] == "handler_failed", frame
    error_id = frame["error_id"]
    assert f"tests.async.fails failed (error {error_id})" in frame["message"]
    deadline = time.monotonic() + 5
    while f"floorkit error {error_id}" not in server.server.output():
        assert time.monotonic() < deadline, server.server.output()
        time.sleep(0.05)
    logged = server.server.output().split(f"floorkit error {error_id}", 1)[1]
    assert "RuntimeError: async boom 3" in logged
    assert result_of(tab.call("tests.async.echo", value=1))  # the tab still serves


def test_arguments_are_checked_against_every_handler_before_any_runs(server, opened, redis_client):
    tab = Tab(server.url)
    opened.append(tab)
    refused = tab.call("tests.async.checked", marker="m1")  # the async handler needs count
    assert refused["type"] == "error" and refused["kind"] == "invalid_arguments", refused
    assert "count" in refused["message"]
    with pytest.raises(InvalidArguments, match="count"):
        call("tests.async.checked", marker="m2", count="many")
    assert reports(redis_client, "async_checked") == []  # neither handler ran
    assert result_of(tab.call("tests.async.checked", marker="m3", count=2)) == [None, None]
    ran = [(r["handler"], r["marker"]) for r in reports(redis_client, "async_checked")]
    assert ran == [("sync", "m3"), ("async", "m3")]


def test_async_orm_in_runwebsocket(server, opened, transactional_db):
    tab = Tab(server.url)
    opened.append(tab)
    first = result_of(tab.call("tests.async.orders", number="ws-1"))[0]
    second = result_of(tab.call("tests.async.orders", number="ws-2"))[0]
    assert first["numbers"] == ["ws-1"] and second["numbers"] == ["ws-1", "ws-2"]
    rows = Order.objects.filter(number__startswith="ws").order_by("pk")
    assert [(o.pk, o.number) for o in rows] == [(first["pk"], "ws-1"), (second["pk"], "ws-2")]


def test_async_signal_receivers_run_concurrently_in_runwebsocket(server, opened):
    """Django's send() runs async def receivers with async_to_sync: in a greenlet of its own."""
    tabs = [Tab(server.url) for _ in range(10)]
    opened.extend(tabs)
    started = time.monotonic()
    for number, tab in enumerate(tabs, 1):
        tab.send(
            {
                "type": "call",
                "id": number,
                "signal": "tests.async.tick",
                "kwargs": {"value": number},
            }
        )
    frames = [tab.wait_for(lambda f, n=n: f.get("id") == n) for n, tab in enumerate(tabs, 1)]
    elapsed = time.monotonic() - started
    assert [result_of(frame) for frame in frames] == [[[2 * n]] for n in range(1, 11)]
    assert elapsed < 0.6, f"10 receivers sleeping 100 ms took {elapsed:.2f} s"


def test_async_handler_over_http_under_runwebsocket(server, transactional_db, redis_client):
    client = csrf_client()
    window = new_window(client)  # its session is in the database the server reads
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/floorkit/call/",
        data=json.dumps({"signal": "tests.async.orders", "kwargs": {"number": "http-1"}}).encode(),
        headers={
            "Content-Type": "application/json",
            "Cookie": "; ".join(f"{name}={c.value}" for name, c in client.cookies.items()),
            "X-CSRFToken": client.cookies["csrftoken"].value,
            "X-Floorkit-Window": window["token"],
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    assert body["ok"] is True and body["results"][0]["numbers"] == ["http-1"], body
    assert Order.objects.get(number="http-1").pk == body["results"][0]["pk"]


# -- in-process: WSGI views, the HTTP transport, plain call() ----------------------


def test_async_handler_over_the_http_transport(transactional_db, redis_client):
    client = csrf_client()
    window = new_window(client)
    response = post_call(
        client, {"signal": "tests.async.echo", "kwargs": {"value": 5}}, window["token"]
    )
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [{"value": 5, "label": "", "window": window["window"]}]
    failed = post_call(
        client, {"signal": "tests.async.fails", "kwargs": {"value": 1}}, window["token"]
    )
    assert failed.status_code == 500
    assert failed.json()["kind"] == "handler_failed" and failed.json()["error_id"]
    refused = post_call(
        client, {"signal": "tests.async.echo", "kwargs": {"value": "x"}}, window["token"]
    )
    assert refused.status_code == 400 and refused.json()["kind"] == "invalid_arguments"


def test_async_orm_runs_on_the_callers_connection_inside_its_transaction(db, redis_server):
    with transaction.atomic():
        Order.objects.create(number="tx-1")
        [found] = call("tests.async.orders", number="tx-2").results
        assert found["numbers"] == ["tx-1", "tx-2"]  # sees the uncommitted row
        assert call("tests.async.count_orders").results == [Order.objects.count()] == [2]
        transaction.set_rollback(True)
    assert not Order.objects.filter(number__startswith="tx").exists()


def test_async_handler_exception_propagates_from_call_unchanged(redis_server):
    with pytest.raises(RuntimeError, match="async boom 9"):
        call("tests.async.fails", value=9)


def test_connect_marks_async_handlers():
    [echo] = registry.get("tests.async.echo").handlers
    [sync] = registry.get("tests.async.sync_echo").handlers
    assert echo.is_async and echo.describe()["is_async"] is True
    assert not sync.is_async and sync.describe()["is_async"] is False


def test_listsignals_marks_async_handlers(redis_server):
    with_modules = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "listsignals"],
        cwd=ROOT,
        env=subprocess_env(FLOORKIT_TEST_OVERRIDES=json.dumps(MODULES)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert with_modules.returncode == 0, with_modules.stderr
    out = with_modules.stdout
    assert "tests.testapp.async_handlers.echo  [inline, async def, browser-callable" in out
    assert "tests.testapp.async_handlers.delayed  [delayed (queue default), async def" in out
    assert "tests.testapp.async_handlers.sync_echo  [inline, browser-callable" in out


# -- delayed, in a real worker -----------------------------------------------------


def burst_worker() -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst", "default"],
        cwd=ROOT,
        env=subprocess_env(FLOORKIT_TEST_OVERRIDES=json.dumps(MODULES)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_delayed_async_handler_runs_in_a_worker_with_the_async_orm(redis_client, transactional_db):
    result = call("tests.async.delayed", value=7)
    failing = call("tests.async.delayed_fails", value=8)
    assert len(result.jobs) == 1 and len(failing.jobs) == 1
    burst_worker()
    [ran] = reports(redis_client, "async_delayed")
    assert ran["value"] == 7 and ran["trace"] == result.trace_id and ran["pid"] != os.getpid()
    assert Order.objects.get(pk=ran["order"]).number == "job-7"
    job = Job.fetch(result.jobs[0], connection=redis_client, serializer=JSONSerializer)
    assert job.get_status() == "finished"
    assert job.return_value() == {"value": 7, "order": ran["order"]}
    failed = Job.fetch(failing.jobs[0], connection=redis_client, serializer=JSONSerializer)
    assert failed.get_status() == "failed"
    assert "RuntimeError: async job boom 8" in failed.latest_result().exc_string


def test_delayed_async_handler_run_by_capture(transactional_db, redis_client):
    with capture(run_jobs=True) as captured:
        call("tests.async.delayed", value=6)
    [job] = captured.jobs
    assert job.status == "finished", job.error
    assert job.result == {"value": 6, "order": Order.objects.get(number="job-6").pk}


# -- acall ---------------------------------------------------------------------------


def test_acall_from_async_code(transactional_db, redis_server):
    """Sync handlers run in a thread, async ones on the caller's loop, delayed ones enqueued."""

    async def main():
        loop, thread = id(asyncio.get_running_loop()), threading.get_ident()
        with capture() as captured:
            result = await acall("tests.async.mixed", value=2)
        with pytest.raises(RuntimeError, match="async boom 5"):
            await acall("tests.async.fails", value=5)
        with pytest.raises(InvalidArguments):
            await acall("tests.async.checked", marker="x")
        with pytest.raises(UnknownSignal):
            await acall("tests.async.nothing_here")
        nested = await acall("tests.async.nested", value=10)
        return loop, thread, result, captured, nested

    loop, thread, result, captured, nested = asyncio.run(main())
    sync, coroutine = result.results
    assert sync["handler"] == "sync" and sync["value"] == 2 and sync["thread"] != thread
    assert coroutine == {"handler": "async", "value": 2, "loop": loop}
    assert [job.id for job in captured.jobs] == result.jobs and len(result.jobs) == 1
    assert captured.jobs[0].handler == "tests.testapp.async_handlers.mixed_delayed"
    assert nested.results == [{"value": 11, "label": "nested", "window": None}]


@pytest.mark.urls("tests.testapp.async_urls")
def test_acall_from_an_async_view_served_by_the_asgi_handler(transactional_db, redis_server):
    async def get(path):
        return await AsyncClient().get(path)

    with capture() as captured:
        response = asyncio.run(get("/acall/?value=3"))
    assert response.status_code == 200, response.content
    body = response.json()
    sync, coroutine = body["results"]
    assert sync["value"] == 3 and sync["thread"] != body["thread"]
    assert coroutine == {"handler": "async", "value": 3, "loop": body["loop"]}
    assert body["jobs"] == [job.id for job in captured.jobs] and len(body["jobs"]) == 1
    failed = asyncio.run(get("/acall-fails/"))
    assert failed.json() == {"raised": "async boom 3"}


# -- concurrency under gevent ---------------------------------------------------------


def test_fifty_tabs_awaiting_in_async_handlers_run_concurrently(server, opened):
    tabs = [Tab(server.url, timeout=10) for _ in range(50)]
    other = Tab(server.url, timeout=10)
    opened.extend([*tabs, other])
    answered: dict[int, tuple[float, dict]] = {}

    def wait(number: int, tab: Tab) -> None:
        frame = tab.wait_for(lambda f: f.get("id") == number)
        answered[number] = (time.monotonic(), frame)

    started = time.monotonic()
    for number, tab in enumerate(tabs, 1):
        tab.send(
            {
                "type": "call",
                "id": number,
                "signal": "tests.async.sleep",
                "kwargs": {"seconds": 0.2},
            }
        )
    readers = [threading.Thread(target=wait, args=(n, tab)) for n, tab in enumerate(tabs, 1)]
    for reader in readers:
        reader.start()
    sync_answers = []
    for value in range(3):  # another tab's sync calls, answered while the handlers sleep
        sync_answers.append(
            (result_of(other.call("tests.async.sync_echo", value=value)), time.monotonic())
        )
    for reader in readers:
        reader.join(15)
    total = max(at for at, _ in answered.values()) - started
    first = min(at for at, _ in answered.values())
    assert sorted(answered) == list(range(1, 51))
    assert all(result_of(frame) == [{"slept": 0.2}] for _, frame in answered.values())
    assert total < 2.5, f"50 async handlers sleeping 200 ms took {total:.2f} s"
    assert [results for results, _ in sync_answers] == [[0], [1], [2]]
    assert sync_answers[-1][1] < first, "the sync calls waited for the sleeping handlers"
    print(f"\n50 tabs x async handler sleeping 200 ms: {total * 1000:.0f} ms in all")
