"""
``floorkit.tasks.RQBackend`` against the behaviours Django's own tests/tasks/
expect of a backend, with a real ``manage.py rqworker --burst``: the round
trip, failures with tracebacks, ``run_after``, priorities, validation,
signals, the async API; then floorkit's own jobs read as ``TaskResult`` and
sent through ``FLOORKIT["TASK_BACKEND"]``, and ``capture()``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from rq.job import Job
from rq.serializers import JSONSerializer

from floorkit import BROADCAST, call
from floorkit.tasks import compat
from tests.conftest import manage, reports

# Under CI (CI=true) a missing tasks framework fails these tests instead of skipping them.
pytestmark = pytest.mark.skipif(
    not compat.AVAILABLE and not os.environ.get("CI"), reason=compat.REASON or "n/a"
)

if compat.AVAILABLE:
    from floorkit.tasks import RQBackend
    from floorkit.tasks.results import SUCCESSFUL
    from tests.testapp import tasks

    Status = compat.TaskResultStatus


def backend(alias: str = "default"):
    return compat.task_backends[alias]


def worker(*queues: str, scheduler: bool = False) -> None:
    flags = ["--with-scheduler"] if scheduler else []
    done = manage("rqworker", "--burst", *flags, *(queues or ("default",)), timeout=90)
    assert done.returncode == 0, done.stderr


# -- the round trip ------------------------------------------------------------------------


def test_enqueue_then_worker_then_get_result(redis_client, transactional_db):
    result = tasks.add.enqueue(2, 3)
    assert result.status == Status.READY and not result.is_finished
    assert result.backend == "default" and result.task.func is tasks.add.func
    assert result.args == [2, 3] and result.kwargs == {}
    assert result.enqueued_at is not None and result.started_at is None
    with pytest.raises(ValueError):
        result.return_value  # noqa: B018 (not finished yet)

    waiting = backend().get_result(result.id)
    assert waiting.status == Status.READY and waiting.worker_ids == []
    assert waiting.task == tasks.add and waiting.args == [2, 3]

    worker()
    done = backend().get_result(result.id)
    assert done.status == SUCCESSFUL and done.is_finished
    assert done.return_value == 5
    assert done.errors == [] and done.attempts == 1 and len(done.worker_ids[0]) > 0
    assert done.enqueued_at <= done.started_at <= done.last_attempted_at <= done.finished_at
    assert timezone.is_aware(done.finished_at)
    (ran,) = reports(redis_client, "tasks")
    assert ran["pid"] != os.getpid()  # in the worker

    result.refresh()  # Django's TaskResult.refresh() goes through get_result()
    assert result.status == SUCCESSFUL and result.return_value == 5
    assert tasks.add.get_result(result.id).id == result.id
    with pytest.raises(compat.TaskResultMismatch):
        tasks.record.get_result(result.id)  # another task's result


def test_raising_task_lands_failed_with_its_traceback(redis_client, transactional_db):
    failing = tasks.explode.enqueue("kaboom")
    bad_value = tasks.unserializable.enqueue()
    worker()

    failed = backend().get_result(failing.id)
    assert failed.status == Status.FAILED and failed.is_finished
    (error,) = failed.errors
    assert error.exception_class_path == "tests.testapp.tasks.TaskBoom"
    assert error.exception_class is tasks.TaskBoom
    assert error.traceback.startswith("Traceback (most recent call last)")
    assert "raise TaskBoom(message)" in error.traceback and "kaboom" in error.traceback
    assert failed.finished_at is not None and failed.attempts == 1
    with pytest.raises(ValueError, match="failed"):
        failed.return_value  # noqa: B018

    # a return value JSON cannot carry fails the task, as in Django's own backends
    (error,) = backend().get_result(bad_value.id).errors
    assert error.exception_class_path == "builtins.TypeError"


def test_task_context_async_task_and_other_queue(redis_client, transactional_db):
    context = tasks.with_context.enqueue("x")
    coroutine = tasks.add_async.enqueue(4, 5)
    slow = tasks.on_slow_queue.enqueue()
    worker("default", "slow")
    assert backend().get_result(context.id).return_value == {
        "attempt": 1,
        "id": context.id,
        "label": "x",
    }
    assert backend().get_result(coroutine.id).return_value == 9
    assert backend().get_result(slow.id).return_value == "slow"
    assert Job.fetch(slow.id, connection=redis_client, serializer=JSONSerializer).origin == "slow"


def test_deferred_task_runs_after_run_after(redis_client, transactional_db):
    run_after = timezone.now() + timedelta(seconds=4)
    result = tasks.add.using(run_after=run_after).enqueue(1, 1)
    assert result.task.run_after == run_after
    worker(scheduler=True)  # too early: the scheduler leaves it waiting
    early = backend().get_result(result.id)
    assert early.status == Status.READY and reports(redis_client, "tasks") == []
    assert early.task.run_after == run_after

    time.sleep(max(0.0, (run_after - timezone.now()).total_seconds()) + 0.2)
    worker(scheduler=True)
    done = backend().get_result(result.id)
    assert done.status == SUCCESSFUL and done.return_value == 2
    assert done.started_at >= run_after


def test_higher_priority_runs_first(redis_client, transactional_db):
    tasks.record.enqueue("normal")
    tasks.record.using(priority=-20).enqueue("low")
    tasks.record.using(priority=10).enqueue("high")
    high = tasks.record.using(priority=100).enqueue("highest")
    assert backend().get_result(high.id).task.priority == 100
    worker()
    order = [r["label"] for r in reports(redis_client, "task_order")]
    # priority > 0: the front of the queue (newest first); 0 and below: the back, in order
    assert order == ["highest", "high", "normal", "low"]


# -- validation: Django's own errors -------------------------------------------------------


def test_invalid_tasks_raise_djangos_invalid_task(settings):
    def nested(value):
        return value

    with pytest.raises(compat.InvalidTask, match="module level"):
        compat.task(nested)
    with pytest.raises(compat.InvalidTask, match="priority"):
        tasks.add.using(priority=101)
    with pytest.raises(compat.InvalidTask, match="priority"):
        tasks.add.using(priority=-101)
    with pytest.raises(compat.InvalidTask, match="priority"):
        tasks.add.using(priority=3.1)
    with pytest.raises(compat.InvalidTask, match="module level"):
        compat.task(any)
    with pytest.raises(compat.InvalidTask, match="not valid for backend"):
        tasks.add.using(backend="default_only", queue_name="slow")
    with pytest.raises(compat.InvalidTask, match="not valid for backend|RQ_QUEUES"):
        tasks.add.using(queue_name="nowhere")
    with pytest.raises(compat.InvalidTask, match="aware"):
        tasks.add.using(run_after=datetime(2030, 1, 1))
    with pytest.raises(compat.InvalidTask, match="context"):
        compat.task(takes_context=True)(tasks.add.func)
    assert RQBackend.supports_defer and RQBackend.supports_get_result
    assert RQBackend.supports_priority


def test_queue_missing_from_rq_queues_is_invalid(settings):
    settings.TASKS = {
        **settings.TASKS,
        "open": {"BACKEND": "floorkit.tasks.RQBackend", "QUEUES": []},
    }
    with pytest.raises(compat.InvalidTask, match="RQ_QUEUES"):
        tasks.add.using(backend="open", queue_name="nowhere")


def test_arguments_json_cannot_carry_raise_type_error(redis_client, transactional_db):
    with pytest.raises(TypeError):
        tasks.add.enqueue(object(), 1)
    with pytest.raises(TypeError):
        asyncio.run(tasks.add.aenqueue(datetime.now(), 1))
    assert redis_client.keys("rq:job:*") == []


def test_refresh_of_a_waiting_result_changes_nothing(redis_client, transactional_db):
    result = tasks.add.using(priority=3).enqueue(1, 2)
    before = dataclasses.asdict(result)
    result.refresh()
    assert dataclasses.asdict(result) == before
    asyncio.run(result.arefresh())
    assert dataclasses.asdict(result) == before
    assert import_string(result.task.module_path) is tasks.add


def test_unknown_id_raises_task_result_does_not_exist(redis_client):
    for bad in ("0" * 32, "", "x" * 10_000, None):
        with pytest.raises(compat.TaskResultDoesNotExist):
            backend().get_result(bad)
    with pytest.raises(compat.TaskResultDoesNotExist):
        asyncio.run(backend().aget_result("missing"))


# -- signals, on commit, the async API -----------------------------------------------------


def test_signals_enqueued_here_started_and_finished_in_the_worker(redis_client, transactional_db):
    seen = []

    def on_enqueued(sender, task_result, **kwargs):
        seen.append((sender, task_result.id, task_result.status, task_result.enqueued_at))

    compat.task_enqueued.connect(on_enqueued)
    try:
        good = tasks.add.enqueue(1, 2)
        bad = tasks.explode.enqueue("no")
    finally:
        compat.task_enqueued.disconnect(on_enqueued)
    assert [(s, i, st) for s, i, st, _ in seen] == [
        (RQBackend, good.id, Status.READY),
        (RQBackend, bad.id, Status.READY),
    ]
    assert all(at is not None for *_, at in seen)

    worker()
    sent = reports(redis_client, "task_signals")
    sender = "floorkit.tasks.backend.RQBackend"
    assert [(s["signal"], s["id"], s["status"], s["sender"]) for s in sent] == [
        ("started", good.id, "RUNNING", sender),
        ("finished", good.id, str(SUCCESSFUL), sender),
        ("started", bad.id, "RUNNING", sender),
        ("finished", bad.id, "FAILED", sender),
    ]
    assert {s["worker_pid"] for s in sent} != {os.getpid()}


def test_enqueued_on_commit_by_default_and_at_once_when_told(
    redis_client, transactional_db, settings
):
    with transaction.atomic():
        pending = tasks.add.enqueue(1, 2)
        with pytest.raises(compat.TaskResultDoesNotExist):
            backend().get_result(pending.id)  # not pushed before the commit
        assert pending.enqueued_at is None
    assert backend().get_result(pending.id).status == Status.READY
    assert pending.enqueued_at is not None

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            rolled_back = tasks.add.enqueue(1, 2)
            raise RuntimeError
    with pytest.raises(compat.TaskResultDoesNotExist):
        backend().get_result(rolled_back.id)

    settings.TASKS = {
        **settings.TASKS,
        "now": {"BACKEND": "floorkit.tasks.RQBackend", "OPTIONS": {"enqueue_on_commit": False}},
    }
    with transaction.atomic():
        at_once = tasks.add.using(backend="now").enqueue(1, 2)
        assert compat.task_backends["now"].get_result(at_once.id).status == Status.READY


def test_aenqueue_and_aget_result(redis_client, transactional_db):
    async def enqueue():
        return await tasks.add.aenqueue(20, 22)

    result = asyncio.run(enqueue())
    worker()

    async def read():
        fetched = await backend().aget_result(result.id)
        await result.arefresh()
        return fetched, await tasks.add.aget_result(result.id)

    fetched, through_task = asyncio.run(read())
    assert fetched.return_value == 42 == through_task.return_value
    assert result.status == SUCCESSFUL


# -- floorkit's own jobs as TaskResults ----------------------------------------------------


def test_delayed_handler_and_async_signal_ids_resolve_to_task_results(
    redis_client, transactional_db
):
    from tests.testapp.async_signals import flaky

    handled = call("tests.delayed", value=5, label="x").jobs[0]
    failing = call("tests.delayed_fails", value=1).jobs[0]  # retry=1: two attempts
    sent = flaky.send(sender=None, value=3)
    assert backend().get_result(handled).status == Status.READY
    worker()

    done = backend().get_result(handled)
    assert done.status == SUCCESSFUL and done.return_value == {"value": 5}
    assert done.task.module_path == "floorkit.jobs.handler_jobs.run_handler"
    assert done.args[:2] == ["tests.delayed", "tests.testapp.signals.delayed"]
    assert done.attempts == 1 and done.started_at <= done.finished_at

    failed = backend().get_result(failing)
    assert failed.status == Status.FAILED and failed.attempts == 2
    # RQ keeps the text of the final failure only
    assert [e.exception_class_path for e in failed.errors] == ["builtins.RuntimeError"]
    assert "boom 1" in failed.errors[-1].traceback

    signal_job = backend().get_result(sent)
    assert signal_job.status == Status.FAILED  # flaky_boom raises, on both attempts
    assert signal_job.attempts == 2
    assert signal_job.errors[0].exception_class_path == (
        "floorkit.async_signals.job.ReceiversFailed"
    )


def test_task_backend_immediate_runs_jobs_at_once(redis_client, transactional_db, settings):
    from tests.testapp.async_signals import everything

    settings.FLOORKIT = {**settings.FLOORKIT, "TASK_BACKEND": "immediate"}
    job_id = call("tests.delayed", value=7).jobs[0]
    (ran,) = reports(redis_client, "delayed")
    assert ran["value"] == 7 and ran["pid"] == os.getpid()  # here, at once
    sent = everything.send(sender=None, n=1)
    assert reports(redis_client, "everything")[0]["pid"] == os.getpid()
    for job in (job_id, sent):
        with pytest.raises(compat.TaskResultDoesNotExist):
            backend().get_result(job)  # no RQ job
    assert redis_client.keys("rq:job:*") == []


def test_task_backend_dummy_keeps_jobs(redis_client, transactional_db, settings):
    from tests.testapp.async_signals import everything

    settings.FLOORKIT = {**settings.FLOORKIT, "TASK_BACKEND": "dummy"}
    dummy = backend("dummy")
    dummy.clear()
    job_id = call("tests.delayed", value=8).jobs[0]
    sent = everything.send(sender=None, n=2)
    stored = dummy.get_result(job_id)
    assert stored.status == Status.READY
    assert stored.args[0] == "floorkit.jobs.run_handler"
    assert stored.args[1][:2] == ["tests.delayed", "tests.testapp.signals.delayed"]
    assert dummy.get_result(sent).args[0] == "floorkit.async_signals.job.run_receivers"
    assert [r.id for r in dummy.results] == [job_id, sent]
    assert reports(redis_client, "delayed") == [] and redis_client.keys("rq:job:*") == []


def test_task_backend_naming_rq_backend_keeps_the_rq_path(redis_client, transactional_db, settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "TASK_BACKEND": "default"}
    job_id = call("tests.delayed_fails", value=2).jobs[0]
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.func_name == "floorkit.jobs.run_handler" and job.retries_left == 1


def test_capture_records_task_enqueues_in_order(redis_client, transactional_db):
    from floorkit.testing import capture

    with capture() as captured:
        call("tests.delayed", value=1)
        result = tasks.add.using(priority=5).enqueue(2, 3)
        call("tests.jsonly", None, BROADCAST, text="hi")
        later = timezone.now() + timedelta(hours=1)
        tasks.record.using(run_after=later).enqueue("later")
    kinds = [getattr(item, "kind", "message") for item in captured.sent]
    assert kinds == ["handler", "task", "message", "task"]
    job = captured.jobs[1]
    assert job.id == result.id and job.task == "tests.testapp.tasks.add"
    assert job.args == [2, 3] and job.kwargs == {} and job.at_front
    assert captured.jobs[2].run_after == later and not captured.jobs[2].at_front
    ran = captured.run_jobs(raise_errors=False)
    assert [j.status for j in ran] == ["finished"] * 3 and ran[1].result == 5
