"""
The RQ job functions of ``django.tasks``.

``run_task`` (``TASK_FUNCTION``) is the function of every job that
``RQBackend`` enqueues: ``run_task(module_path, args, kwargs, options)``
finds the ``@task`` by its module path, sends ``task_started``, calls it
(with a ``TaskContext`` first when it ``takes_context``), sends
``task_finished`` and returns its return value, normalized as JSON. A task
that raises is recorded in the job's meta (``META_ERRORS``: exception class
path and traceback, one per attempt) and re-raised, so that RQ moves the job
to its failed registry; a return value JSON cannot carry fails the task with
``TypeError``, as in Django's own backends.

``run_job`` is the task function of floorkit's delayed handlers and
``AsyncSignal`` sends when ``FLOORKIT["TASK_BACKEND"]`` names another
backend than floorkit's (Django's ``ImmediateBackend`` or ``DummyBackend``):
it runs the RQ job function ``function`` with ``args``, as an inline job
(the database connections are the caller's).
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from django.db import close_old_connections
from django.utils.module_loading import import_string

from floorkit.delivery import outbox

__all__ = ["META_ERRORS", "META_RETRIES", "TASK_FUNCTION", "run_job", "run_task"]

#: The function path written into every job of a ``@task``.
TASK_FUNCTION = "floorkit.tasks.job.run_task"
#: ``job.meta`` key: the errors of the task's attempts, oldest first.
META_ERRORS = "floorkit_task_errors"
#: ``job.meta`` key of floorkit's retried jobs: the retries they were enqueued with.
META_RETRIES = "floorkit_retries"


def error_of(exc: BaseException) -> dict[str, str]:
    """``{"exception_class_path", "traceback"}`` of ``exc``, as Django's ``TaskError`` holds them."""
    kind = type(exc)
    return {
        "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
        "traceback": "".join(traceback.format_exception(exc)),
    }


def normalize(value: Any) -> Any:
    """
    ``value`` as JSON gives it back (Django's ``normalize_json`` where Django
    has it); raise ``TypeError`` for what JSON cannot carry.
    """
    try:
        from django.utils.json import normalize_json
    except ImportError:  # Django 5.2
        normalize_json = None
    try:
        if normalize_json is not None:
            value = normalize_json(value)
        return json.loads(json.dumps(value, allow_nan=False))
    except ValueError as exc:
        raise TypeError(str(exc)) from None


def run_task(path: str, args: list, kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
    """
    The RQ job function of a ``@task`` (see the module docstring). ``options``
    holds the backend alias, queue, priority and ``run_after`` it was
    enqueued with. Raise what the task raised.
    """
    from rq import get_current_job

    from floorkit.tasks import compat, results

    inline = outbox.runs_inline()  # then the connections are the caller's
    if not inline:
        close_old_connections()
    try:
        task = results.load_task(path, options)
        job = get_current_job()
        backend = type(task.get_backend())
        signals = (compat.task_started, compat.task_finished)
        # a TaskResult costs a Redis read: built only when something receives it
        wanted = task.takes_context or any(s.has_listeners(backend) for s in signals)
        result = results.running(job, task, args, kwargs) if wanted else None
        if result is not None:
            compat.task_started.send(sender=backend, task_result=result)
        try:
            if task.takes_context:
                value = task.call(compat.TaskContext(task_result=result), *args, **kwargs)
            else:
                value = task.call(*args, **kwargs)
            value = normalize(value)
        except Exception as exc:
            error = error_of(exc)
            if job is not None:
                error["worker"] = job.worker_name or ""
                job.meta.setdefault(META_ERRORS, []).append(error)
                job.save_meta()
            if result is not None:
                results.finish(result, compat.TaskResultStatus.FAILED, error=error)
                compat.task_finished.send(sender=backend, task_result=result)
            raise
        if result is not None:
            results.finish(result, results.SUCCESSFUL, value=value)
            compat.task_finished.send(sender=backend, task_result=result)
        return value
    finally:
        if not inline:
            close_old_connections()


def run_job(function: str, args: list) -> Any:
    """
    Run the RQ job function ``function`` with ``args`` here, as an inline job
    (an ``AsyncSignal`` job as in eager mode). Raise what it raises.
    """
    from floorkit.async_signals.job import _eager_errors

    token = _eager_errors.set([])
    try:
        with outbox.running_inline():
            return import_string(function)(*args)
    finally:
        _eager_errors.reset(token)


# Django rebuilds a copied or unpickled Task from its module path, taking the
# ``.func`` of the object found there (``Task._reconstruct``): the task of
# run_job (floorkit.tasks.routing) is found at this very function.
run_job.func = run_job  # type: ignore[attr-defined]
