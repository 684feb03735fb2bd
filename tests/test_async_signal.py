"""
AsyncSignal: Django's signal API, with send() running the receivers on a real
``manage.py rqworker --burst`` subprocess through one JSON job.
"""

import asyncio
import gc
import json
import logging
import os
import uuid
import zlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.functional import SimpleLazyObject
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from floorkit import AsyncSignal, InvalidSignalName, RedisUnavailable, register
from floorkit.async_signals.job import JOB_FUNCTION, ReceiversFailed
from floorkit.async_signals.names import UnregisteredSignal, get_signal, unregister
from floorkit.jobs import get_queue
from floorkit.signals.discovery import autodiscover
from tests.conftest import reports
from tests.testapp.async_signals import (
    Money,
    describe,
    everything,
    flaky,
    missing_fails,
    missing_skips,
    slow,
)
from tests.testapp.models import Order, Ticket
from tests.testapp.signals import pinged


def queued(client, queue="default"):
    return [job_id.decode() for job_id in client.lrange(f"rq:queue:{queue}", 0, -1)]


def job_data(client, job_id):
    """The job's (function, instance, args, kwargs), read as RQ stores it: zlib'd JSON."""
    return json.loads(zlib.decompress(client.hget(f"rq:job:{job_id}", "data")))


def fetch(client, job_id):
    return Job.fetch(job_id, connection=client, serializer=JSONSerializer)


@pytest.fixture
def local_signal():
    """A fresh AsyncSignal registered as ``tests.local.signal``, forgotten afterwards."""
    signal = register(AsyncSignal(), "tests.local.signal")
    yield signal
    unregister(signal)


# -- Django's dispatch semantics: send_now(), and send() in sync mode ------------------------


class Sender:
    pass


def receiver_1_arg(val, **kwargs):
    return val


class Receiver:
    def __call__(self, val, **kwargs):
        return val

    def method(self, val, **kwargs):
        return val


def fails(val, **kwargs):
    raise ValueError("this")


def uid_receiver_1(**kwargs):
    return 1


def uid_receiver_2(**kwargs):
    return 2


class Dispatch:
    """One way of dispatching synchronously, with Django's semantics."""

    def __init__(self, name, send, send_robust):
        self.name, self._send, self._send_robust = name, send, send_robust

    def send(self, signal, sender=None, **named):
        return self._send(signal)(sender, **named)

    def send_robust(self, signal, sender=None, **named):
        return self._send_robust(signal)(sender, **named)


@pytest.fixture(params=["send_now", "sync setting", "sync environment", "sync per call"])
def dispatch(request, settings, monkeypatch):
    flavor = request.param
    if flavor == "send_now":
        return Dispatch(flavor, lambda s: s.send_now, lambda s: s.send_robust_now)
    if flavor == "sync per call":
        return Dispatch(
            flavor,
            lambda s: s.options(run_mode="sync").send,
            lambda s: s.options(run_mode="sync").send_robust,
        )
    if flavor == "sync setting":
        settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "sync"}
    else:  # the environment overrides the setting
        settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "eager"}
        monkeypatch.setenv("FLOORKIT_ASYNC_RUN_MODE", "sync")
    return Dispatch(flavor, lambda s: s.send, lambda s: s.send_robust)


def assert_clean(signal):
    assert not signal.has_listeners()
    assert signal.receivers == []


def test_connect_send_disconnect(dispatch):
    signal, sender = AsyncSignal(), Sender()
    signal.connect(receiver_1_arg, sender=sender)
    assert dispatch.send(signal, sender, val="test") == [(receiver_1_arg, "test")]
    assert signal.disconnect(receiver_1_arg, sender=sender) is True
    assert dispatch.send(signal, sender, val="test") == []
    assert_clean(signal)


def test_no_receivers(dispatch):
    signal = AsyncSignal()
    assert dispatch.send(signal, Sender(), val="test") == []
    assert dispatch.send_robust(signal, Sender(), val="test") == []


def test_receiver_without_sender_hears_every_sender_and_none(dispatch):
    signal = AsyncSignal()
    signal.connect(receiver_1_arg)
    assert dispatch.send(signal, Sender(), val="a") == [(receiver_1_arg, "a")]
    assert dispatch.send(signal, val="b") == [(receiver_1_arg, "b")]
    signal.disconnect(receiver_1_arg)
    assert_clean(signal)


def test_sender_filter(dispatch):
    signal, mine, other = AsyncSignal(), Sender(), Sender()
    signal.connect(receiver_1_arg, sender=mine)
    assert dispatch.send(signal, other, val="x") == []
    assert dispatch.send(signal, None, val="x") == []
    assert dispatch.send(signal, mine, val="x") == [(receiver_1_arg, "x")]
    assert signal.has_listeners(mine) and not signal.has_listeners(other)


def test_weak_receiver_is_dropped_when_garbage_collected(dispatch):
    signal, sender = AsyncSignal(), Sender()
    receiver = Receiver()
    signal.connect(receiver.method, sender=sender)
    signal.connect(receiver, sender=sender)
    assert len(dispatch.send(signal, sender, val=1)) == 2
    del receiver
    gc.collect()
    assert dispatch.send(signal, sender, val=1) == []
    assert_clean(signal)


def test_strong_receiver_survives_its_last_reference(dispatch):
    signal = AsyncSignal()
    receiver = Receiver()
    signal.connect(receiver, weak=False)
    del receiver
    gc.collect()
    ((got, response),) = dispatch.send(signal, val=7)
    assert isinstance(got, Receiver) and response == 7


def test_same_receiver_connected_twice_runs_once(dispatch):
    signal, sender = AsyncSignal(), Sender()
    receiver = Receiver()
    for _ in range(3):
        signal.connect(receiver, sender=sender)
    assert len(dispatch.send(signal, sender, val="x")) == 1
    del receiver
    gc.collect()
    assert_clean(signal)


def test_dispatch_uid_identifies_a_receiver(dispatch):
    signal = AsyncSignal()
    signal.connect(uid_receiver_1, dispatch_uid="uid")
    signal.connect(uid_receiver_2, dispatch_uid="uid")
    assert len(signal.receivers) == 1
    assert dispatch.send(signal) == [(uid_receiver_1, 1)]
    assert signal.disconnect(dispatch_uid="uid") is True
    assert_clean(signal)


def test_disconnect_says_whether_it_removed_a_receiver(dispatch):
    signal = AsyncSignal()
    assert signal.disconnect(receiver_1_arg) is False
    signal.connect(receiver_1_arg)
    signal.connect(uid_receiver_1)
    assert signal.disconnect(receiver_1_arg) is True
    assert dispatch.send(signal, val=1) == [(uid_receiver_1, 1)]


def test_send_robust_collects_exceptions(dispatch, caplog):
    signal = AsyncSignal()
    signal.connect(fails)
    signal.connect(receiver_1_arg)
    with caplog.at_level(logging.ERROR, logger="django.dispatch"):
        (first, second) = dispatch.send_robust(signal, Sender(), val="test")
    assert first[0] is fails and isinstance(first[1], ValueError)
    assert str(first[1]) == "this" and first[1].__traceback__ is not None
    assert second == (receiver_1_arg, "test")
    assert "Error calling" in caplog.text and "fails" in caplog.text


def test_send_propagates_the_first_exception_and_stops(dispatch):
    signal, ran = AsyncSignal(), []
    signal.connect(fails)
    signal.connect(lambda **kwargs: ran.append(1), weak=False)
    with pytest.raises(ValueError, match="this"):
        dispatch.send(signal, val="test")
    assert ran == []


def test_cached_receivers_follow_connect_and_disconnect(dispatch):
    signal, sender = AsyncSignal(use_caching=True), Sender()
    assert dispatch.send(signal, sender, val=1) == []
    signal.connect(receiver_1_arg, sender=sender)
    assert dispatch.send(signal, sender, val=1) == [(receiver_1_arg, 1)]
    signal.disconnect(receiver_1_arg, sender=sender)
    assert dispatch.send(signal, sender, val=1) == []


def test_async_receivers_run_after_sync_ones(dispatch):
    signal = AsyncSignal()

    async def async_receiver(val, **kwargs):
        return f"async {val}"

    signal.connect(async_receiver)
    signal.connect(receiver_1_arg)
    assert dispatch.send(signal, val=1) == [(receiver_1_arg, 1), (async_receiver, "async 1")]


def test_asend_in_sync_mode_awaits_the_receivers(settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "sync"}
    signal = AsyncSignal()
    signal.connect(receiver_1_arg)
    assert asyncio.run(signal.asend(val=3)) == [(receiver_1_arg, 3)]
    assert asyncio.run(signal.asend_now(val=4)) == [(receiver_1_arg, 4)]


@pytest.mark.parametrize(
    "setting, environment, message",
    [
        ("later", None, r"FLOORKIT\['ASYNC_RUN_MODE'\] is 'later'"),
        ("sync", "soon", r"\$FLOORKIT_ASYNC_RUN_MODE is 'soon'"),
    ],
)
def test_invalid_run_mode_is_refused(settings, monkeypatch, setting, environment, message):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": setting}
    if environment:
        monkeypatch.setenv("FLOORKIT_ASYNC_RUN_MODE", environment)
    with pytest.raises(ImproperlyConfigured, match=message):
        AsyncSignal().send(val=1)
    with pytest.raises(ImproperlyConfigured, match="run_mode is 'never'"):
        AsyncSignal().options(run_mode="never")


# -- identity ----------------------------------------------------------------------------


def test_module_level_signals_of_signals_modules_are_named_after_their_module():
    assert pinged.name == "tests.testapp.signals.pinged"
    # defined in async_signals.py, re-exported by signals.py: named where it is defined
    assert everything.name == "tests.testapp.async_signals.everything"
    assert get_signal("tests.testapp.async_signals.everything") is everything


def test_signal_of_an_unlisted_module_is_refused_until_listed(settings, redis_client):
    from tests.testapp import extra_signals

    with pytest.raises(UnregisteredSignal, match="has no name a worker could find it by"):
        extra_signals.listed.send(value=1)
    settings.FLOORKIT = {**settings.FLOORKIT, "SIGNAL_MODULES": ["tests.testapp.extra_signals"]}
    try:
        assert "tests.testapp.extra_signals" in autodiscover()
        assert extra_signals.listed.name == "tests.testapp.extra_signals.listed"
        assert get_signal("tests.testapp.extra_signals.listed") is extra_signals.listed
    finally:
        unregister(extra_signals.listed)
    assert queued(redis_client) == []


def test_register_names_a_signal_once():
    signal, other = AsyncSignal(), AsyncSignal()
    try:
        assert register(signal, "tests.local.named") is signal
        assert register(signal, "tests.local.named") is signal
        assert signal.name == "tests.local.named"
        with pytest.raises(ValueError, match="already belongs to another AsyncSignal"):
            register(other, "tests.local.named")
        with pytest.raises(ValueError, match="already registered as 'tests.local.named'"):
            register(signal, "tests.local.renamed")
        with pytest.raises(InvalidSignalName):
            register(other, "not a name")
        with pytest.raises(TypeError, match="takes an AsyncSignal"):
            register(object(), "tests.local.object")
    finally:
        unregister(signal)
    with pytest.raises(UnregisteredSignal):
        get_signal("tests.local.named")


def test_job_for_a_signal_the_worker_does_not_know_fails(
    redis_client, run_worker, transactional_db
):
    job = get_queue("default").enqueue_call(JOB_FUNCTION, args=("tests.nowhere", None, {}))
    run_worker("default")
    assert job.get_status(refresh=True) == "failed"
    assert "no AsyncSignal named 'tests.nowhere'" in job.latest_result().exc_string


def test_job_queued_under_the_old_function_path_still_runs(
    redis_client, run_worker, transactional_db
):
    # jobs pushed by earlier releases name floorkit.async_signal.deliver
    job = get_queue("default").enqueue_call(
        "floorkit.async_signal.deliver", args=(everything.name, None, {"value": 1}, None)
    )
    assert JOB_FUNCTION != "floorkit.async_signal.deliver"
    run_worker("default")
    assert job.get_status(refresh=True) == "finished"
    assert (
        "tests.testapp.async_signals.on_everything" in job.latest_result().return_value["receivers"]
    )
    (seen,) = reports(redis_client, "everything")
    assert seen["signal"] == everything.name and seen["kwargs"]["value"] == describe(1)


# -- send() on a real worker -------------------------------------------------------------


def test_worker_runs_every_receiver_with_rebuilt_arguments_of_every_mapping(
    redis_client, run_worker, transactional_db, django_user_model
):
    order = Order.objects.create(number="A-1", total=Decimal("9.99"))
    other = Order.objects.create(number="B-2")
    ticket = Ticket.objects.create(order=order, title="seat")
    user = django_user_model.objects.create_user("erin", password="x")
    values = {
        "none": None,
        "flag": True,
        "count": 3,
        "ratio": 0.25,
        "text": "héllo",
        "items": [1, "two", [3]],
        "pair": (1, Decimal("2.50")),
        "tags": {1, 2, 3},
        "frozen": frozenset({4}),
        "mapping": {"a": 1, "$fk": "plain"},
        "when": datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Paris")),
        "naive": datetime(2026, 1, 2, 3, 4, 5, 6),
        "day": date(2026, 1, 2),
        "at": time(12, 30, 15, 5),
        "span": timedelta(days=1, seconds=2, microseconds=3),
        "price": Decimal("19.99"),
        "ident": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "money": Money(Decimal("5.00"), "EUR"),
        "order": order,
        "ticket": ticket,
        "orders": [order, other],
        "model": Ticket,
        "user": SimpleLazyObject(lambda: user),  # what request.user is
        "anonymous": AnonymousUser(),
    }
    job_id = everything.send(sender=Order, **values)

    assert queued(redis_client) == [job_id]  # one job for all the receivers
    func, _, args, kwargs = job_data(redis_client, job_id)
    assert func == JOB_FUNCTION and kwargs == {}
    assert args[0] == "tests.testapp.async_signals.everything"
    assert args[2]["order"] == {"$fk": "model", "v": ["testapp.Order", order.pk]}

    Order.objects.filter(pk=order.pk).update(number="A-1 edited")  # after send(), before the worker
    run_worker("default")

    (seen,) = reports(redis_client, "everything")
    assert seen["pid"] != os.getpid() and seen["signal"] == everything.name
    assert seen["sender"] == describe(Order)
    order.refresh_from_db()
    assert seen["kwargs"] == {key: describe(value) for key, value in values.items()}
    assert seen["kwargs"]["order"]["fields"]["number"] == "'A-1 edited'"  # fetched again
    assert seen["kwargs"]["user"]["class"] == django_user_model.__qualname__
    assert [r["keys"] for r in reports(redis_client, "everything_async")] == [sorted(values)]
    assert reports(redis_client, "only_tickets") == []  # connected for sender=Ticket only
    job = fetch(redis_client, job_id)
    assert job.get_status() == "finished"
    assert job.return_value() == {
        "receivers": [
            "tests.testapp.async_signals.on_everything",
            "tests.testapp.async_signals.on_everything_async",
        ]
    }


def test_sender_filter_and_omitted_sender_in_the_worker(redis_client, run_worker, transactional_db):
    everything.send(sender=Ticket, n=1)
    everything.send(n=2)
    run_worker("default")
    assert [(r["sender"], r["kwargs"]) for r in reports(redis_client, "everything")] == [
        (describe(Ticket), {"n": describe(1)}),
        (describe(None), {"n": describe(2)}),
    ]
    assert [r["sender"] for r in reports(redis_client, "only_tickets")] == [describe(Ticket)]


def test_failing_receiver_does_not_stop_the_others_and_only_it_is_retried(
    redis_client, run_worker, transactional_db
):
    job_id = flaky.send(value=7)
    result = run_worker("default")

    ran = [(r["receiver"], r["value"]) for r in reports(redis_client, "flaky")]
    # retry=1: the whole job ran twice, but the receivers that succeeded ran once
    assert ran == [("before", 7), ("boom", 7), ("after", 7), ("boom", 7)]
    assert job_id in FailedJobRegistry(queue=get_queue("default")).get_job_ids()
    exc_string = fetch(redis_client, job_id).latest_result().exc_string
    assert "ReceiversFailed: AsyncSignal tests.testapp.async_signals.flaky: 1 of 1 receivers" in (
        exc_string
    )
    assert "RuntimeError: boom 7" in exc_string and "in flaky_boom" in exc_string
    logged = (
        "AsyncSignal tests.testapp.async_signals.flaky: receiver "
        "tests.testapp.async_signals.flaky_boom failed (sender None): RuntimeError: boom 7"
    )
    assert result.stderr.count(logged) == 2
    assert "Traceback (most recent call last)" in result.stderr


@pytest.mark.parametrize("signal", [missing_fails, missing_skips], ids=["default", "skip"])
def test_row_deleted_before_the_worker_runs(redis_client, run_worker, transactional_db, signal):
    order = Order.objects.create(number="D-1")
    pk = order.pk
    job_id = signal.send(sender=Order, order=order, note="x")
    order.delete()
    result = run_worker("default")

    assert reports(redis_client, "missing") == []  # no receiver ran
    job = fetch(redis_client, job_id)
    message = (
        f"argument 'order': testapp.Order with pk {pk} does not exist any more "
        "(deleted before the worker ran)"
    )
    if signal is missing_fails:
        assert job.get_status() == "failed"
        assert f"MissingInstance: {message}" in job.latest_result().exc_string
    else:
        assert job.get_status() == "finished"
        assert job.return_value() == {"skipped": message}
        assert f"missing_skips skipped (on_missing='skip'): {message}" in result.stderr


def test_signal_of_another_queue_runs_on_that_queue(redis_client, run_worker, transactional_db):
    job_id = slow.send(value=2)
    assert queued(redis_client, "slow") == [job_id] and queued(redis_client) == []
    run_worker("slow")
    assert [r["kwargs"] for r in reports(redis_client, "slow")] == [{"value": 2}]


# -- transactions ------------------------------------------------------------------------


def test_rolled_back_transaction_enqueues_nothing(redis_client, transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        order = Order.objects.create(number="R-1")
        pinged.send(sender=Order, order=order)
        raise RuntimeError("rollback")
    assert queued(redis_client) == []


def test_committed_transaction_enqueues_after_commit(redis_client, transactional_db):
    with transaction.atomic():
        order = Order.objects.create(number="C-1")
        job_id = pinged.send(sender=Order, order=order)
        assert queued(redis_client) == []
    assert queued(redis_client) == [job_id]


def test_on_commit_false_enqueues_at_once(redis_client, transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        per_call = pinged.options(on_commit=False).send(value=1)
        per_signal = slow.send(value=2)  # AsyncSignal(on_commit=False)
        assert queued(redis_client) == [per_call]
        assert queued(redis_client, "slow") == [per_signal]
        raise RuntimeError("rollback")
    assert queued(redis_client) == [per_call] and queued(redis_client, "slow") == [per_signal]


# -- what send() refuses -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["async", "eager"])
def test_unknown_type_fails_at_send_time(settings, redis_client, transactional_db, mode):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": mode}
    with pytest.raises(TypeError, match=r"argument 'payload': bytes cannot travel to a worker"):
        pinged.send(payload=b"raw")
    with pytest.raises(TypeError, match=r"argument 'data' at \['x'\]\[0\]: object cannot travel"):
        pinged.send(data={"x": [object()]})
    with pytest.raises(TypeError, match=r"argument 'sender': .*Sender cannot travel"):
        pinged.send(sender=Sender())
    with pytest.raises(TypeError, match=r"argument 'order': unsaved testapp.Order instance"):
        pinged.send(order=Order(number="new"))
    assert queued(redis_client) == [] and reports(redis_client, "pinged") == []


def test_unregistered_signal_fails_at_send_time(redis_client, transactional_db):
    signal = AsyncSignal()
    signal.connect(receiver_1_arg)
    with pytest.raises(UnregisteredSignal, match=r"floorkit.register\(signal, 'name'\)"):
        signal.send(val=1)
    assert queued(redis_client) == []


def test_redis_down_send_raises_or_falls_back_to_sync(
    settings, transactional_db, local_signal, caplog
):
    from floorkit.delivery.embedded_redis import EmbeddedRedis
    from tests.conftest import _use_redis

    seen = []
    local_signal.connect(lambda sender, signal, **kwargs: seen.append(kwargs), weak=False)
    original = settings.FLOORKIT["REDIS_URL"]
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_FALLBACK_SYNC": False}  # a copy to mutate
    server = EmbeddedRedis(port=0)
    _use_redis(server.start())
    try:
        assert local_signal.send(value=1)  # works while Redis is up
        server.stop()
        with pytest.raises(RedisUnavailable, match="enqueueing async signal tests.local.signal"):
            local_signal.send(value=2)
        assert seen == []

        settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_FALLBACK_SYNC": True}
        with caplog.at_level(logging.WARNING, logger="floorkit.async_signals.signal"):
            local_signal.send(value=3)
        assert seen == [{"value": 3}]
        assert "tests.local.signal: Redis at" in caplog.text
        assert "running its receivers in this process instead" in caplog.text
    finally:
        server.stop()
        _use_redis(original)


# -- eager mode --------------------------------------------------------------------------


def test_eager_mode_runs_the_json_job_here_at_once(settings, redis_client, transactional_db):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "eager"}
    order = Order.objects.create(number="E-1")
    seen = []

    def receiver(sender, order, money, **kwargs):
        seen.append((sender, order, money, os.getpid()))

    pinged.connect(receiver)
    try:
        job_id = pinged.send(sender=Order, order=order, money=Money(Decimal("1.5"), "EUR"))
    finally:
        pinged.disconnect(receiver)
    ((sender, got, money, pid),) = seen
    assert sender is Order and pid == os.getpid()
    assert got == order and got is not order  # fetched again, as a worker would
    assert money == Money(Decimal("1.5"), "EUR")
    assert fetch(redis_client, job_id).get_status() == "finished"
    assert queued(redis_client) == []  # ran, not left for a worker


def test_eager_mode_raises_a_receivers_failure_unless_robust(
    settings, redis_client, transactional_db
):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "eager"}
    with pytest.raises(ReceiversFailed) as info:
        flaky.send(value=1)
    assert [str(e) for e in info.value.exceptions] == ["boom 1"]
    job_id = flaky.send_robust(value=2)
    assert fetch(redis_client, job_id).get_status() == "failed"
    ran = [(r["receiver"], r["value"]) for r in reports(redis_client, "flaky")]
    assert ran == [(name, value) for value in (1, 2) for name in ("before", "boom", "after")]


def test_per_call_eager_inside_a_rolled_back_transaction_runs_nothing(
    redis_client, transactional_db
):
    with pytest.raises(RuntimeError), transaction.atomic():
        pinged.options(run_mode="eager").send(value=1)
        raise RuntimeError("rollback")
    assert reports(redis_client, "pinged") == []
    pinged.options(run_mode="eager").send(value=2)
    assert [r["kwargs"] for r in reports(redis_client, "pinged")] == [{"value": "2"}]


def test_asend_enqueues_like_send(redis_client, transactional_db):
    job_id = asyncio.run(pinged.asend(value=1))
    assert queued(redis_client) == [job_id]


# -- listsignals and checks --------------------------------------------------------------


def test_listsignals_lists_async_signals_with_receivers_and_queue(run_manage):
    result = run_manage("listsignals", "--json")
    assert result.returncode == 0, result.stderr
    entries = {e["signal"]: e for e in json.loads(result.stdout) if e.get("async")}
    assert entries["tests.testapp.async_signals.everything"] == {
        "signal": "tests.testapp.async_signals.everything",
        "async": True,
        "queue": "default",
        "retry": 0,
        "on_commit": True,
        "on_missing": "fail",
        "receivers": [
            {
                "receiver": "tests.testapp.async_signals.on_everything",
                "sender": None,
                "dispatch_uid": None,
                "weak": True,
                "is_async": False,
            },
            {
                "receiver": "tests.testapp.async_signals.on_everything_async",
                "sender": None,
                "dispatch_uid": None,
                "weak": True,
                "is_async": True,
            },
            {
                "receiver": "tests.testapp.async_signals.only_tickets",
                "sender": "testapp.Ticket",
                "dispatch_uid": "tests.only_tickets",
                "weak": True,
                "is_async": False,
            },
        ],
    }
    assert entries["tests.testapp.async_signals.slow"]["queue"] == "slow"
    assert entries["tests.testapp.async_signals.flaky"]["retry"] == 1
    assert entries["tests.testapp.async_signals.missing_skips"]["on_missing"] == "skip"

    text = run_manage("listsignals").stdout
    assert "AsyncSignals (receivers run on RQ workers):" in text
    assert "tests.testapp.async_signals.slow\n  queue slow, retry 0, immediately," in text
    assert (
        "  tests.testapp.async_signals.only_tickets  "
        "[sender testapp.Ticket, dispatch_uid tests.only_tickets]"
    ) in text


def test_checks_report_bad_run_mode_and_unknown_queue(settings, redis_server):
    settings.FLOORKIT = {**settings.FLOORKIT, "ASYNC_RUN_MODE": "later"}
    signal = register(AsyncSignal(queue="nowhere"), "tests.local.nowhere")
    try:
        messages = {m.id: m.msg for m in run_checks() if m.id.startswith("floorkit.")}
    finally:
        unregister(signal)
    assert "'later'" in messages["floorkit.E004"]
    assert "tests.local.nowhere uses RQ queue 'nowhere'" in messages["floorkit.E003"]
