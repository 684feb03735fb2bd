"""
Which backend floorkit's own jobs (delayed handlers, ``AsyncSignal`` sends)
go through: ``FLOORKIT["TASK_BACKEND"]``, an alias of ``TASKS``.

Unset, or an alias of ``floorkit.tasks.RQBackend``: floorkit's RQ path
(``floorkit.jobs.handler_jobs``, ``floorkit.async_signals.enqueue``), with
its retries, model mapping and trace ids; ``task_backend()`` is ``None``.
Another backend (Django's ``ImmediateBackend``, ``DummyBackend``): the job
becomes a task of ``floorkit.tasks.job.run_job`` handed to that backend at
once, without waiting for a commit (``ImmediateBackend`` runs it then and
there, ``DummyBackend`` keeps it in its ``results``); its id is the
``TaskResult``'s, which that
backend's ``get_result`` resolves as it can. Such a task's queue is the RQ
queue floorkit would have used; the backend must allow it (Django's
``QUEUES``; ``[]`` allows any).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from floorkit import conf

__all__ = ["enqueue", "task_backend"]

_tasks: dict[tuple[int, str], tuple[Any, Any]] = {}


def task_backend() -> Any | None:
    """
    The backend of ``FLOORKIT["TASK_BACKEND"]`` when it is not floorkit's
    ``RQBackend``, else ``None``. Raise ``ImproperlyConfigured`` when the
    setting is set but Django's tasks framework is missing, and Django's
    ``InvalidTaskBackend`` for an alias ``TASKS`` lacks.
    """
    alias = conf.get("TASK_BACKEND")
    if not alias:
        return None
    from floorkit.tasks import compat

    if not compat.AVAILABLE:
        raise ImproperlyConfigured(f"FLOORKIT['TASK_BACKEND'] = {alias!r}: {compat.REASON}")
    from floorkit.tasks.backend import RQBackend

    backend = compat.task_backends[alias]
    return None if isinstance(backend, RQBackend) else backend


def _task(backend: Any, queue: str) -> Any:
    from floorkit.tasks import compat
    from floorkit.tasks.job import run_job

    key = (id(backend), queue)
    backend_and_task = _tasks.get(key)
    if backend_and_task is not None and backend_and_task[0] is backend:
        return backend_and_task[1]
    values = {
        "priority": 0,
        "func": run_job,
        "backend": backend.alias,
        "queue_name": queue,
        "run_after": None,
    }
    names = {f.name for f in dataclasses.fields(compat.Task) if f.init}
    task = compat.Task(**{k: v for k, v in values.items() if k in names})
    _tasks[key] = (backend, task)
    return task


def enqueue(backend: Any, function: str, args: tuple, queue: str) -> str:
    """
    Enqueue the job ``function(*args)`` as a task on ``backend``; return the
    ``TaskResult``'s id. Raise Django's ``InvalidTask`` when the backend
    refuses ``queue``.
    """
    return _task(backend, queue).enqueue(function, list(args)).id
