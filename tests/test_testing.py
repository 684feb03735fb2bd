"""
floorkit.testing, the helpers users test their own signals with.

``capture()`` is exercised with Redis unreachable (``no_redis``): what it
records cannot have come from Redis. The websocket client talks to a real
``runwebsocket`` subprocess started by ``run_websocket_server()``, on the
test suite's Redis. Every code example of ``docs/testing.md`` is copied from
this file (``test_docs_examples_are_taken_from_this_file``).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
import urllib.request
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import websocket
from django.db import transaction

from floorkit import (
    BROADCAST,
    SESSION,
    USER,
    WINDOW,
    AsyncSignal,
    InvalidArguments,
    RedisUnavailable,
    SignalRequest,
    User,
    call,
    connect,
    declare,
    register,
)
from floorkit.async_signals.job import ReceiversFailed
from floorkit.delivery import outbox, publish
from floorkit.jobs import handler_jobs
from floorkit.signals.identity import session_id
from floorkit.testing import (
    CallError,
    JobFailed,
    Message,
    WebsocketClient,
    capture,
    login,
    run_websocket_server,
)
from floorkit.testing.server import free_port
from tests.testapp.models import Order

ROOT = Path(__file__).resolve().parent.parent


# -- the signals of a small shop, as a user's signals.py would define them ----------------

declare("shop.cart.updated")
declare("shop.invoice.ready")

INVOICES: list[dict] = []  # what send_invoice did, where the test can see it


@connect(path="shop.cart.add")
def add_to_cart(request, product: int, quantity: int = 1):
    call("shop.cart.updated", request, [SESSION, USER], product=product, quantity=quantity)
    return {"product": product, "quantity": quantity}


@connect(path="shop.invoice.send", allow_from_client=False, delayed=True, retry=2)
def send_invoice(request, order: int, lines=None):
    INVOICES.append({"order": order, "lines": lines, "user": request.username})
    call("shop.invoice.ready", request, USER, order=order)
    return {"sent": order}


@connect(path="shop.order.pay")
def pay(request, order: int):
    return call("shop.invoice.send", request, order=order).jobs


@connect(path="shop.invoice.batch", allow_from_client=False, delayed=True)
def send_invoices(request, orders: list[int]):
    for order in orders:
        call("shop.invoice.send", request, order=order)


@connect(path="shop.invoice.broken", allow_from_client=False, delayed=True)
def broken_invoice(request, order: int):
    raise RuntimeError(f"no printer for order {order}")


order_paid = register(AsyncSignal(), "shop.signals.order_paid")


@pytest.fixture
def no_redis(settings, monkeypatch):
    """floorkit and RQ pointed at a port where no Redis listens."""
    from django_rq.settings import QUEUES

    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": url}
    for queue in QUEUES.values():
        monkeypatch.setitem(queue, "URL", url)
    INVOICES.clear()
    yield url
    INVOICES.clear()


@pytest.fixture
def alice():
    """Alice's browser tab, as a handler sees its caller."""
    return SignalRequest(user_id=1, username="alice", session="s-alice", window="w-alice")


# -- capture(): messages -------------------------------------------------------------------


def test_capture_records_messages_in_order_without_redis(no_redis, alice):
    with pytest.raises(RedisUnavailable):
        call("shop.cart.add", alice, WINDOW, product=7)  # no Redis: a real call fails

    with capture() as captured:
        result = call("shop.cart.add", alice, WINDOW, product=7)

    assert captured.messages == [
        Message(
            "shop.cart.updated", {"product": 7, "quantity": 1}, ["session:s-alice", "user:alice"]
        ),
        Message("shop.cart.add", {"product": 7}, ["window:w-alice"]),
    ]
    assert result.results == [{"product": 7, "quantity": 1}]
    assert [m.trace for m in captured.messages] == [result.trace_id, result.trace_id]
    assert [m.seq for m in captured.messages] == [1, 2] and result.seq == 2
    assert captured.messages[1].id == result.message_id
    with pytest.raises(RedisUnavailable):  # the capture ended: Redis is needed again
        call("shop.cart.add", alice, WINDOW, product=7)


def test_message_kwargs_are_what_a_browser_receives(no_redis):
    when = datetime(2026, 1, 2, 3, 4, 5)
    with capture() as captured:
        call("shop.invoice.ready", None, BROADCAST, when=when, total=Decimal("1.50"))

    (message,) = captured.messages
    assert message.kwargs == {"when": "2026-01-02T03:04:05", "total": "1.50"}  # JSON
    assert message.frame["type"] == "signal" and message.frame["seq"] == message.seq


def test_messages_to_a_target_and_messages_reaching_a_tab(no_redis, alice):
    with capture() as captured:
        call("shop.cart.updated", alice, BROADCAST, product=1)
        call("shop.cart.updated", alice, {USER: ["bob"]}, product=2)
        call("shop.cart.updated", alice, [WINDOW, USER], product=3)

    def products(messages):
        return [m.kwargs["product"] for m in messages]

    assert products(captured.messages_to("user:bob")) == [2]
    assert products(captured.messages_to(User("bob"))) == [2]
    assert products(captured.messages_to({USER: ["alice", "bob"]})) == [2, 3]
    assert products(captured.messages_to(BROADCAST)) == [1]
    assert products(captured.messages_to(WINDOW, alice)) == [3]
    assert products(captured.messages_reaching(alice)) == [1, 3]
    bob = SignalRequest(user_id=2, username="bob", session="s-bob", window="w-bob")
    assert products(captured.messages_reaching(bob)) == [1, 2]


def test_capture_keeps_the_checks_of_call(no_redis, alice):
    with capture() as captured:
        with pytest.raises(InvalidArguments, match="delayed handlers take JSON values"):
            call("shop.invoice.send", alice, order=1, lines={"at": object()})
        with pytest.raises(InvalidArguments):
            call("shop.cart.add", alice, WINDOW, product="seven")
    assert captured.sent == []  # a refused call sends nothing


# -- capture(): jobs -----------------------------------------------------------------------


def test_delayed_handlers_are_captured_not_run(no_redis, alice, transactional_db):
    with capture() as captured:
        result = call("shop.order.pay", alice, WINDOW, order=42)

    (job,) = captured.jobs
    assert (job.signal, job.handler, job.kwargs) == (
        "shop.invoice.send",
        "tests.test_testing.send_invoice",
        {"order": 42},
    )
    assert result.results == [[job.id]]
    assert job.status == "queued" and INVOICES == []  # not run
    assert job.request.username == "alice" and job.request.trace_id == result.trace_id
    assert (job.queue, job.retries, job.kind) == ("default", 2, "handler")
    # the job was pushed while pay() ran, before the call's own message
    assert [type(item).__name__ for item in captured.sent] == ["Job", "Message"]


def test_run_jobs_runs_delayed_handlers_through_json(no_redis, alice, transactional_db):
    with capture() as captured:
        result = call("shop.invoice.send", alice, order=7, lines={1: "apple"})
        assert INVOICES == []
        ran = captured.run_jobs()

    assert ran == captured.jobs and ran[0].id == result.jobs[0]
    assert ran[0].status == "finished" and ran[0].result == {"sent": 7}
    assert INVOICES == [{"order": 7, "lines": {"1": "apple"}, "user": "alice"}]  # JSON keys
    assert captured.messages == [Message("shop.invoice.ready", {"order": 7}, ["user:alice"])]
    assert captured.messages[0].trace == result.trace_id  # the worker's call continues the trace


def test_run_jobs_runs_the_jobs_that_jobs_push_after_them(no_redis, alice, transactional_db):
    with capture() as captured:
        call("shop.invoice.batch", alice, orders=[1, 2])
        captured.run_jobs()

    assert [(job.signal, job.status) for job in captured.jobs] == [
        ("shop.invoice.batch", "finished"),
        ("shop.invoice.send", "finished"),
        ("shop.invoice.send", "finished"),
    ]
    assert [invoice["order"] for invoice in INVOICES] == [1, 2]
    assert captured.run_jobs() == []  # nothing left


def test_a_failing_job_raises_job_failed_after_the_others_ran(no_redis, alice, transactional_db):
    with capture() as captured:
        call("shop.invoice.broken", alice, order=1)
        call("shop.invoice.send", alice, order=2)
        with pytest.raises(JobFailed, match="no printer for order 1") as failed:
            captured.run_jobs()

    broken, sent = captured.jobs
    assert failed.value.job is broken and isinstance(broken.error, RuntimeError)
    assert failed.value.__cause__ is broken.error
    assert (broken.status, sent.status) == ("failed", "finished")
    assert INVOICES[0]["order"] == 2


def test_run_jobs_without_raising_reports_failures_in_the_jobs(no_redis, alice, transactional_db):
    with capture() as captured:
        call("shop.invoice.broken", alice, order=1)
        (job,) = captured.run_jobs(raise_errors=False)
    assert job.status == "failed" and str(job.error) == "no printer for order 1"


def test_capture_run_jobs_runs_each_job_when_it_is_pushed(no_redis, alice, transactional_db):
    with capture(run_jobs=True) as captured:
        call("shop.invoice.send", alice, order=7)
        assert INVOICES == [{"order": 7, "lines": None, "user": "alice"}]

    assert [job.status for job in captured.jobs] == ["finished"]
    assert captured.messages == [Message("shop.invoice.ready", {"order": 7}, ["user:alice"])]


def test_capture_run_jobs_raises_a_failure_when_the_block_ends(no_redis, alice, transactional_db):
    with pytest.raises(JobFailed, match="shop.invoice.broken"):
        with capture(run_jobs=True) as captured:
            result = call("shop.invoice.broken", alice, WINDOW, order=1)
            assert result.jobs  # as with a worker, the caller is not disturbed
            assert captured.messages_to(WINDOW, alice)  # the call went on


def test_jobs_are_captured_when_the_transaction_commits(no_redis, alice, transactional_db):
    with capture() as captured:
        with pytest.raises(RuntimeError), transaction.atomic():
            call("shop.invoice.send", alice, order=1)
            raise RuntimeError("rolled back")
        assert captured.jobs == []  # never pushed

        with transaction.atomic():
            call("shop.invoice.send", alice, order=2)
            assert captured.jobs == []  # pushed on commit
        assert [job.kwargs for job in captured.jobs] == [{"order": 2}]


def test_with_the_db_fixture_run_on_commit_callbacks(
    no_redis, alice, db, django_capture_on_commit_callbacks
):
    with capture() as captured, django_capture_on_commit_callbacks(execute=True):
        call("shop.invoice.send", alice, order=3)
    assert [job.kwargs for job in captured.jobs] == [{"order": 3}]


# -- capture(): AsyncSignal ----------------------------------------------------------------


@pytest.fixture
def receipts():
    """Receivers of order_paid that note what they got."""
    got = []

    def send_receipt(sender, order, **kwargs):
        got.append((sender, order))

    order_paid.connect(send_receipt)
    yield got
    order_paid.disconnect(send_receipt)


def test_async_signal_sends_are_captured_jobs(no_redis, receipts, transactional_db):
    order = Order.objects.create(number="A-1")
    with capture() as captured:
        job_id = order_paid.send(sender=Order, order=order)
        assert receipts == []  # not run

        (job,) = captured.jobs
        assert (job.id, job.kind, job.signal) == (job_id, "async_signal", "shop.signals.order_paid")
        assert job.sender is Order and job.kwargs == {"order": order}

        captured.run_jobs()
    assert receipts == [(Order, order)]
    assert receipts[0][1] is not order  # fetched again, as on a worker
    assert job.result == {"receivers": ["tests.test_testing.receipts.<locals>.send_receipt"]}


def test_async_signal_eager_mode_runs_at_once(no_redis, receipts, settings, transactional_db):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "eager"}
    order = Order.objects.create(number="E-1")
    with capture() as captured:
        order_paid.send(sender=Order, order=order)
        assert receipts == [(Order, order)]
        assert [job.status for job in captured.jobs] == ["finished"]

        def refuse(sender, **kwargs):
            raise ValueError("card declined")

        order_paid.connect(refuse)
        try:
            with pytest.raises(ReceiversFailed):
                order_paid.send(sender=Order, order=order)
            order_paid.send_robust(sender=Order, order=order)  # robust: does not raise
        finally:
            order_paid.disconnect(refuse)
    assert [job.status for job in captured.jobs] == ["finished", "failed", "failed"]


def test_async_signal_sync_mode_pushes_no_job(no_redis, receipts, settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "sync"}
    with capture() as captured:
        order_paid.send(sender=None, order=None)
    assert receipts == [(None, None)] and captured.jobs == []


# -- capture(): nesting, clean-up, the pytest fixture ---------------------------------------


def test_captures_nest_and_restore_redis_even_on_errors(no_redis, alice):
    with capture() as outer:
        call("shop.cart.updated", alice, BROADCAST, product=1)
        with capture() as inner:
            call("shop.cart.updated", alice, BROADCAST, product=2)
        call("shop.cart.updated", alice, BROADCAST, product=3)
        inner.clear()
    assert [m.kwargs["product"] for m in outer.messages] == [1, 3]
    assert inner.sent == []

    with pytest.raises(LookupError), capture():
        raise LookupError("the test failed inside the block")
    with pytest.raises(RedisUnavailable):
        call("shop.cart.updated", alice, BROADCAST, product=4)


# -- the seam: floorkit.delivery.outbox ------------------------------------------------------


class ListOutbox:
    """An outbox of a test's own: it keeps what it is handed, in order."""

    records_traces = False

    def __init__(self):
        self.sent = []

    def publish(self, payload, addresses, action):
        self.sent.append(("message", addresses))
        return len(self.sent)

    def enqueue(self, queue, job, pipeline=None):
        self.sent.append(("job", job.func_name))
        return job


def test_an_installed_outbox_gets_messages_and_jobs_until_uninstalled(
    no_redis, alice, transactional_db
):
    mine = ListOutbox()
    outbox.install(mine)
    try:
        assert outbox.current() is mine
        call("shop.order.pay", alice, BROADCAST, order=7)
    finally:
        outbox.uninstall(mine)
    assert mine.sent == [("job", handler_jobs.JOB_FUNCTION), ("message", ["broadcast"])]
    assert isinstance(outbox.current(), outbox.RedisOutbox)
    with pytest.raises(RedisUnavailable):  # Redis again
        call("shop.cart.updated", alice, BROADCAST, product=1)


def test_outbox_installs_nest_and_may_end_in_any_order():
    first, second = ListOutbox(), ListOutbox()
    outbox.install(first)
    outbox.install(second)
    outbox.uninstall(first)
    assert outbox.current() is second
    outbox.uninstall(second)
    assert isinstance(outbox.current(), outbox.RedisOutbox)
    with pytest.raises(ValueError, match="not installed"):
        outbox.uninstall(second)
    with pytest.raises(LookupError), outbox.installed(first):
        raise LookupError("the block failed")
    assert isinstance(outbox.current(), outbox.RedisOutbox)


def test_capture_gives_back_the_outbox_it_found_even_on_errors(no_redis, alice):
    mine = ListOutbox()
    with outbox.installed(mine):
        with pytest.raises(LookupError), capture() as outer:
            with capture() as inner:
                assert outbox.current().captured is inner
                call("shop.cart.updated", alice, BROADCAST, product=1)
            assert outbox.current().captured is outer
            raise LookupError("the test failed inside the block")
        assert outbox.current() is mine and mine.sent == []
    assert [m.kwargs for m in inner.messages] == [{"product": 1}] and outer.sent == []
    assert isinstance(outbox.current(), outbox.RedisOutbox)


def test_capture_numbers_messages_as_redis_does(redis_client, alice):
    _id, payload = publish.encode_message("shop.cart.updated", {"product": 1}, alice)
    seq = publish.publish(payload, ["broadcast"], "testing")
    epoch = redis_client.get(publish.epoch_key()).decode()
    ((_, fields),) = redis_client.xrange(publish.log_key("broadcast"))
    assert fields[b"m"] == publish.number(payload, seq, epoch)  # what Redis published
    with capture() as captured:
        call("shop.cart.updated", alice, BROADCAST, product=1)
    (message,) = captured.messages
    assert message.frame["epoch"] == captured.epoch and message.seq == 1
    assert publish.message_position(publish.number(payload, 1, captured.epoch)) == (
        1,
        captured.epoch,
    )


CONFTEST = textwrap.dedent(
    """
    # conftest.py, at the root of your tests
    pytest_plugins = ["floorkit.testing"]
    """
)

TEST_WITH_FIXTURE = textwrap.dedent(
    """
    from floorkit import BROADCAST, call
    from floorkit.testing import Message


    def test_echo_is_sent_to_everyone(floorkit_capture):
        call("tests.echo", None, BROADCAST, text="hi")
        assert floorkit_capture.messages == [Message("tests.echo", {"text": "hi"}, ["broadcast"])]
    """
)


def test_pytest_plugin_gives_the_floorkit_capture_fixture(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user.py").write_text(TEST_WITH_FIXTURE)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "FLOORKIT_TEST_DB": str(tmp_path / "db.sqlite3"),
        "FLOORKIT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing there
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# -- a real runwebsocket and a websocket client --------------------------------------------


@pytest.fixture(scope="module")
def server(redis_server):
    with run_websocket_server() as server:
        yield server


def test_run_websocket_server_serves_until_stopped(redis_server):
    server = run_websocket_server()
    try:
        assert server.url == f"ws://127.0.0.1:{server.port}/ws/floorkit/"
        with WebsocketClient(server) as tab:
            assert tab.username is None and tab.window
    finally:
        output = server.stop()
    assert f"floorkit websocket on {server.url}" in output
    assert server.process.returncode is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)
    assert server.stop() == output  # stopping again does nothing


def test_a_server_started_again_after_stop_is_stopped_again(redis_server):
    server = run_websocket_server()
    first = server.process
    server.stop()
    server.start()
    try:
        assert server.process is not first and server.process.poll() is None
        with WebsocketClient(server) as tab:
            assert tab.window
    finally:
        server.stop()
    assert server.process.poll() is not None  # no server left running after the test
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def test_run_websocket_server_with_http_serves_the_site_too(redis_server):
    with run_websocket_server(http=True) as site:
        with urllib.request.urlopen(f"{site.http_url}login/", timeout=10) as response:
            assert response.status == 200 and b"<form" in response.read()


def test_run_websocket_server_reports_a_server_that_cannot_start(redis_server):
    with pytest.raises(RuntimeError, match="No module named 'no_such_settings'"):
        run_websocket_server(env={"DJANGO_SETTINGS_MODULE": "no_such_settings"})


def test_websocket_client_calls_as_a_logged_in_user(server, django_user_model, transactional_db):
    alice = django_user_model.objects.create_user("alice", password="pw")
    with WebsocketClient(server, user=alice) as tab:
        reply = tab.call("tests.echo", text="hi")
        assert reply.results == [{"text": "hi"}]
        assert tab.username == "alice"
        assert tab.call("tests.whoami").results[0]["window"] == tab.window


def test_login_returns_a_session_cookie_the_server_accepts(
    server, django_user_model, transactional_db
):
    bob = django_user_model.objects.create_user("bob", password="pw")
    cookie = login(bob)
    with WebsocketClient(server.url, session=cookie) as tab:
        (who,) = tab.call("tests.whoami").results
    assert who == {"user": "bob", "window": tab.window, "session": session_id(cookie)}
    with WebsocketClient(server.url, session="forged") as intruder:
        assert intruder.username is None


def test_error_frames_raise_call_error_and_the_tab_stays_usable(
    server, django_user_model, transactional_db
):
    with WebsocketClient(server) as anonymous:
        with pytest.raises(CallError) as refused:
            anonymous.call("tests.echo", text="hi")
        assert refused.value.kind == "login_required"

    alice = django_user_model.objects.create_user("alice", password="pw")
    with WebsocketClient(server, user=alice) as tab:
        with pytest.raises(CallError, match="not_allowed"):
            tab.call("tests.private")
        with pytest.raises(CallError) as invalid:
            tab.call("tests.typed", count="many")
        assert invalid.value.kind == "invalid_arguments"
        with pytest.raises(CallError) as failed:
            tab.call("tests.explode")
        assert failed.value.kind == "handler_failed" and len(failed.value.error_id) == 12
        assert tab.call("tests.echo", still="here").results == [{"still": "here"}]


def test_origin_is_checked_as_for_a_browser(server):
    with pytest.raises(websocket.WebSocketBadStatusException, match="403"):
        WebsocketClient(server, origin="https://evil.example")
    with WebsocketClient(server, origin=f"http://127.0.0.1:{server.port}") as tab:
        assert tab.call("tests.whoami").results[0]["window"] == tab.window


def test_receive_and_signals_return_what_python_sends(server, django_user_model, transactional_db):
    alice = django_user_model.objects.create_user("alice", password="pw")
    with WebsocketClient(server, user=alice) as tab:
        call("tests.jsonly_closed", None, {USER: ["alice"]}, n=1)
        call("tests.jsonly", None, {USER: ["alice"]}, n=2)
        call("tests.jsonly", None, BROADCAST, n=3)

        frame = tab.receive("tests.jsonly")
        assert (frame["signal"], frame["kwargs"]) == ("tests.jsonly", {"n": 2})
        assert [(f["signal"], f["kwargs"]) for f in tab.signals()] == [
            ("tests.jsonly_closed", {"n": 1}),
            ("tests.jsonly", {"n": 3}),
        ]
        with pytest.raises(TimeoutError):
            tab.receive(timeout=0.3)


def test_call_with_sends_to_other_tabs(server, django_user_model, transactional_db):
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    with WebsocketClient(server, user=alice) as mine, WebsocketClient(server, user=bob) as his:
        mine.call_with("tests.jsonly", {"text": "hi bob"}, to={USER: ["bob"]})
        assert his.receive()["kwargs"] == {"text": "hi bob"}
        mine.call_with("tests.jsonly", {"text": "to me"}, to=WINDOW)
        assert mine.receive()["kwargs"] == {"text": "to me"}
        assert his.signals() == []


# -- docs/testing.md -------------------------------------------------------------------------


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def appears_in(block: str, source: list[str]) -> bool:
    """Whether the lines of ``block`` appear in ``source`` in a row, equally indented."""
    lines = textwrap.dedent(block).rstrip("\n").split("\n")
    for start, line in enumerate(source):
        if line.strip() != lines[0].strip() or not line.strip():
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        window = source[start : start + len(lines)]
        if len(window) == len(lines) and all(
            got == indent + want if want.strip() else not got.strip()
            for got, want in zip(window, lines, strict=True)
        ):
            return True
    return False


def test_docs_examples_are_taken_from_this_file():
    blocks = code_blocks((ROOT / "docs" / "testing.md").read_text())
    source = Path(__file__).read_text().split("\n")
    assert len(blocks) >= 8
    missing = [block for block in blocks if not appears_in(block, source)]
    assert missing == []


def test_docs_check_would_notice_an_edited_example():
    source = Path(__file__).read_text().split("\n")
    assert appears_in("with capture() as captured:\n", source)
    assert not appears_in("with capture() as captured:\n    call('nowhere')\n", source)
