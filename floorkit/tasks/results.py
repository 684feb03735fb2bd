"""
An RQ job as Django's ``TaskResult``.

``from_job(job, alias)`` reads any JSON job of floorkit's queues: a
``@task`` job (``floorkit.tasks.job.run_task``), whose ``task`` is the
``@task`` itself with the priority, queue and ``run_after`` it was enqueued
with, and floorkit's own jobs (delayed handlers, ``AsyncSignal`` sends, any
other JSON job), whose ``task`` is a ``Task`` of the RQ job function
(``floorkit.jobs.run_handler``...) with the job's arguments; that one is
not validated against a backend, as nothing enqueues it through one.

=====================================  ================================
RQ job status                          ``TaskResultStatus``
=====================================  ================================
queued, deferred, scheduled            ``READY`` (also between retries)
started                                ``RUNNING``
finished                               ``SUCCESSFUL``
failed, stopped, canceled              ``FAILED``
=====================================  ================================

Timestamps: ``enqueued_at`` is when the job was pushed (RQ's
``created_at``), ``started_at`` when its first attempt started,
``last_attempted_at`` when its latest did, ``finished_at`` when it ended
(finished or failed). ``worker_ids`` names the RQ worker of each attempt,
so ``attempts`` counts them. A ``@task`` job records each failed attempt
(class path, traceback, worker) in its meta, so ``errors`` has one
``TaskError`` per failed attempt. For floorkit's other jobs RQ keeps only
the final outcome: ``errors`` holds the final failure (class path read from
RQ's failure text), and the attempts RQ retried count from the retries
spent (``META_RETRIES``, written at enqueue), their workers unknown (``""``).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from rq.job import JobStatus
from rq.results import Result
from rq.utils import now

from floorkit.tasks import compat
from floorkit.tasks.job import META_ERRORS, META_RETRIES, TASK_FUNCTION

Status = compat.TaskResultStatus
SUCCESSFUL = getattr(Status, "SUCCESSFUL", None) or Status.SUCCEEDED

STATUSES = {
    JobStatus.QUEUED: Status.READY,
    JobStatus.DEFERRED: Status.READY,
    JobStatus.SCHEDULED: Status.READY,
    JobStatus.STARTED: Status.RUNNING,
    JobStatus.FINISHED: SUCCESSFUL,
    JobStatus.FAILED: Status.FAILED,
    JobStatus.STOPPED: Status.FAILED,
    JobStatus.CANCELED: Status.FAILED,
}

_RESULT_FIELDS = {f.name for f in dataclasses.fields(compat.TaskResult) if f.init}


def local(moment: datetime | None) -> datetime | None:
    """An RQ time (aware, UTC) as Django keeps times: aware with ``USE_TZ``, else naive local."""
    if moment is None or settings.USE_TZ:
        return moment
    return timezone.make_naive(moment)


def make_result(task: Any, **values: Any) -> Any:
    """A ``TaskResult`` of ``task`` from ``values``; fields this Django lacks are dropped."""
    values.setdefault("errors", [])
    values.setdefault("worker_ids", [])
    for name in ("enqueued_at", "started_at", "finished_at", "last_attempted_at"):
        values.setdefault(name, None)
    return_value = values.pop("return_value", None)
    result = compat.TaskResult(
        task=task, **{k: v for k, v in values.items() if k in _RESULT_FIELDS}
    )
    set_field(result, "_return_value", return_value)
    return result


def load_task(path: str, options: dict[str, Any]) -> Any:
    """
    The ``@task`` at ``path`` as it was enqueued (``options``: backend,
    queue, priority, ``run_after``). Raise ``ImportError`` when ``path``
    does not name a task.
    """
    task = import_string(path)
    if not isinstance(task, compat.Task):
        raise ImportError(f"{path} is not a django.tasks Task")
    run_after = options.get("run_after")
    changes = {
        "backend": options.get("backend", task.backend),
        "queue_name": options.get("queue_name", task.queue_name),
        "priority": options.get("priority", task.priority),
        "run_after": datetime.fromisoformat(run_after) if run_after else None,
    }
    if all(getattr(task, k) == v for k, v in changes.items()):
        return task
    return dataclasses.replace(task, **changes)


def job_task(job: Any, alias: str) -> Any:
    """A ``Task`` of an RQ job that is not a ``@task``: its job function, unvalidated."""
    task = object.__new__(compat.Task)
    values = {
        "priority": 0,
        "func": import_string(job.func_name),
        "backend": alias,
        "queue_name": job.origin,
        "run_after": None,
    }
    for field in dataclasses.fields(compat.Task):
        if field.name in values:
            object.__setattr__(task, field.name, values[field.name])
        elif field.default is not dataclasses.MISSING:
            object.__setattr__(task, field.name, field.default)
        elif field.default_factory is not dataclasses.MISSING:
            object.__setattr__(task, field.name, field.default_factory())
    return task


_CLASS_LINE = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::|$)")


def error_of_record(record: dict[str, str]) -> Any:
    """The ``TaskError`` of one failure ``run_task`` recorded."""
    return compat.TaskError(
        exception_class_path=record["exception_class_path"], traceback=record["traceback"]
    )


def class_path_of(text: str) -> str:
    """
    The class path of the exception an RQ failure text reports: the line after
    the last frame of the last traceback (``module.Class: message``; a builtin
    has no module there). ``builtins.Exception`` when none is found.
    """
    lines = (text or "").splitlines()
    if lines and lines[0].lstrip().startswith("+ Exception Group Traceback"):
        lines = [line[4:] for line in lines if line.startswith("  | ")]  # the group's own lines
    if "AbandonedJobError" in (lines[-1] if lines else ""):
        return "rq.exceptions.AbandonedJobError"
    frames = [i for i, line in enumerate(lines) if line.startswith("  ")]
    start = frames[-1] + 1 if frames else 0
    for line in lines[start:]:
        found = _CLASS_LINE.match(line)
        if found:
            path = found.group(1)
            return path if "." in path else f"builtins.{path}"
    return "builtins.Exception"


def from_job(job: Any, alias: str) -> Any:
    """
    The ``TaskResult`` of the RQ ``job`` for backend ``alias``. Raise
    ``ImportError`` when the job's function (or ``@task``) cannot be imported.
    """
    status = STATUSES.get(job.get_status(refresh=False), Status.READY)
    ended = status in (SUCCESSFUL, Status.FAILED)
    # RQ keeps final outcomes only, oldest first here; a @task's attempts are in its meta
    read = ended or job.func_name != TASK_FUNCTION
    attempts = list(reversed(job.results())) if read else []
    current = [job.worker_name or ""] if status in (Status.RUNNING, SUCCESSFUL) else []
    if job.func_name == TASK_FUNCTION:
        path, args, kwargs, options = job.args
        task = load_task(path, options)
        recorded = job.meta.get(META_ERRORS, [])  # one per failed attempt, by run_task
        errors = [error_of_record(error) for error in recorded]
        workers = [error.get("worker", "") for error in recorded] + current
    else:
        task, args, kwargs = job_task(job, alias), list(job.args), job.kwargs
        errors = [
            compat.TaskError(
                exception_class_path=class_path_of(r.exc_string), traceback=r.exc_string or ""
            )
            for r in attempts
            if r.type == Result.Type.FAILED
        ]
        # RQ records nothing of an attempt that it retried but the spent retry
        retried = max(0, int(job.meta.get(META_RETRIES) or 0) - int(job.retries_left or 0))
        workers = [""] * retried + [r.worker_name or "" for r in attempts]
        if status == Status.RUNNING:
            workers += current
    first = next((r.execution_started_at for r in attempts if r.execution_started_at), None)
    return make_result(
        task,
        id=job.id,
        status=status,
        args=list(args),
        kwargs=dict(kwargs),
        backend=alias,
        enqueued_at=local(job.created_at),
        started_at=local(first or job.started_at),
        last_attempted_at=local(job.started_at),
        finished_at=local(job.ended_at or (attempts[-1].created_at if attempts else None))
        if ended
        else None,
        errors=errors,
        worker_ids=workers,
        return_value=attempts[-1].return_value if status == SUCCESSFUL and attempts else None,
    )


def running(job: Any, task: Any, args: list, kwargs: dict[str, Any]) -> Any:
    """The ``TaskResult`` of the attempt starting now, in the worker (``job`` may be ``None``)."""
    if job is None:  # run inline, by floorkit.testing.capture()
        moment = timezone.now()
        return make_result(
            task,
            id="",
            status=Status.RUNNING,
            args=args,
            kwargs=kwargs,
            backend=task.backend,
            enqueued_at=moment,
            started_at=moment,
            last_attempted_at=moment,
            worker_ids=["inline"],
        )
    result = from_job(job, task.backend)
    if result.status != Status.RUNNING:  # the worker did not mark it started
        set_field(result, "status", Status.RUNNING)
        if "worker_ids" in _RESULT_FIELDS:
            result.worker_ids.append(job.worker_name or "")
    started = local(job.started_at or now())
    set_field(result, "last_attempted_at", started)
    if result.started_at is None:
        set_field(result, "started_at", started)
    return result


def set_field(result: Any, name: str, value: Any) -> None:
    """Set a field of the frozen ``result``, when this Django's ``TaskResult`` has it."""
    if name in _RESULT_FIELDS or name == "_return_value":
        object.__setattr__(result, name, value)


def finish(result: Any, status: Any, *, error: dict | None = None, value: Any = None) -> None:
    """Mark ``result`` (from ``running()``) finished with ``status``, in place."""
    set_field(result, "status", status)
    set_field(result, "finished_at", timezone.now())
    if error is not None and "errors" in _RESULT_FIELDS:
        result.errors.append(error_of_record(error))
    set_field(result, "_return_value", value)
