"""``django.tasks`` tasks of the test suite (``tests/test_tasks_backend.py``); they
report to Redis lists, as the test app's handlers do, so that tests see what ran
in the worker. Imported only where Django's tasks framework exists."""

from __future__ import annotations

import os

from floorkit.tasks import compat
from tests.testapp.signals import report

task = compat.task


class TaskBoom(Exception):
    """The exception ``explode`` raises."""


@task
def add(a: int, b: int) -> int:
    report("tasks", task="add", a=a, b=b)
    return a + b


@task
def explode(message: str) -> None:
    report("tasks", task="explode", message=message)
    raise TaskBoom(message)


@task
def unserializable() -> object:
    return object()


@task
def record(label: str) -> str:
    report("task_order", label=label)
    return label


@task(takes_context=True)
def with_context(context, label: str) -> dict:
    return {"attempt": context.attempt, "id": context.task_result.id, "label": label}


@task
async def add_async(a: int, b: int) -> int:
    return a + b


@task(queue_name="slow")
def on_slow_queue() -> str:
    return "slow"


def _report_signal(name: str):
    def receiver(sender, task_result, **kwargs):
        report(
            "task_signals",
            signal=name,
            sender=f"{sender.__module__}.{sender.__qualname__}",
            id=task_result.id,
            status=str(task_result.status),
            worker_pid=os.getpid(),
        )

    return receiver


# Strong references: the receivers report from whichever process runs the task.
on_started = _report_signal("started")
on_finished = _report_signal("finished")
compat.task_started.connect(on_started, dispatch_uid="tests.task_started")
compat.task_finished.connect(on_finished, dispatch_uid="tests.task_finished")
