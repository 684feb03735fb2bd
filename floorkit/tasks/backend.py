"""
``RQBackend``: a ``django.tasks`` backend whose tasks run on RQ, in the same
``manage.py rqworker`` as floorkit's delayed handlers::

    TASKS = {
        "default": {
            "BACKEND": "floorkit.tasks.RQBackend",
            # "QUEUES": ["default", "slow"],   # default: every queue of RQ_QUEUES
            # "OPTIONS": {"enqueue_on_commit": True, "result_ttl": 500},
        }
    }

A task's ``queue_name`` is a queue of ``RQ_QUEUES``; its job is JSON
(``floorkit.jobs.handler_jobs.get_queue``), calls
``floorkit.tasks.job.run_task`` and is pushed through the current outbox
(``floorkit.delivery.outbox``: Redis, or ``floorkit.testing.capture()``).

* Priority: RQ has one lever, the end of the queue a job is pushed to. A task
  with ``priority > 0`` is pushed to the front (it runs before every job
  already waiting; of several such, the newest first); ``0`` and below go to
  the back, in order. Negative priorities are not told apart from ``0``.
* ``run_after``: the job waits in RQ's scheduled registry until then; a worker
  started with ``--with-scheduler`` moves it to its queue (at the front when
  its priority is above ``0``).
* On commit: inside ``transaction.atomic()`` the job is pushed when the
  transaction commits (never if it rolls back), as floorkit's own jobs are;
  ``task_enqueued`` is sent then. ``OPTIONS["enqueue_on_commit"] = False``
  pushes at once.
* Results: ``get_result(id)`` reads the job from Redis (``floorkit.tasks.results``);
  RQ keeps a finished job ``OPTIONS["result_ttl"]`` seconds (RQ's default,
  500, when unset; ``-1`` forever) and a failed one ``OPTIONS["failure_ttl"]``
  (RQ's default, a year). The ids of floorkit's delayed handler and
  ``AsyncSignal`` jobs resolve too.

``enqueue`` raises Django's ``InvalidTask`` for a task the backend cannot
run (``validate_task``), ``TypeError`` for arguments JSON cannot carry and
``RedisUnavailable`` when Redis is unreachable at push time; ``get_result``
raises ``TaskResultDoesNotExist`` for an id no job has.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

from django.db import transaction

from floorkit.delivery import outbox
from floorkit.delivery.redis_client import redis_errors
from floorkit.tasks import compat, results
from floorkit.tasks.job import TASK_FUNCTION, normalize

__all__ = ["RQBackend"]

#: What RQ accepts as a job id (``rq.job.JOB_ID_PATTERN``), at most 200 characters.
_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def _rq_queues() -> dict[str, Any]:
    from django_rq.settings import QUEUES

    return QUEUES


class RQBackend(compat.BaseTaskBackend):
    """``django.tasks`` on RQ (see the module docstring)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set(_rq_queues())
        options = params.get("OPTIONS") or {}
        self.enqueue_on_commit = bool(options.get("enqueue_on_commit", True))
        self.result_ttl = options.get("result_ttl")
        self.failure_ttl = options.get("failure_ttl")

    def validate_task(self, task: Any) -> None:
        """Django's validation, and the task's queue must be one of ``RQ_QUEUES``."""
        super().validate_task(task)
        if task.queue_name not in _rq_queues():
            raise compat.InvalidTask(
                f"Queue '{task.queue_name}' is not in settings.RQ_QUEUES "
                f"(configured: {sorted(_rq_queues())})"
            )

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        args, kwargs = normalize([list(args), dict(kwargs)])
        result = results.make_result(
            task,
            id=uuid.uuid4().hex,
            status=results.Status.READY,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
        )
        push = functools.partial(self._push, task, result)
        if self.enqueue_on_commit:
            transaction.on_commit(push)
        else:
            push()
        return result

    def _push(self, task: Any, result: Any) -> None:
        from rq.job import JobStatus

        from floorkit.jobs.handler_jobs import get_queue

        queue = get_queue(task.queue_name)
        options = {
            "backend": self.alias,
            "queue_name": task.queue_name,
            "priority": task.priority,
            "run_after": task.run_after.isoformat() if task.run_after else None,
        }
        with (
            redis_errors(f"enqueueing task {task.module_path}"),
            queue.connection.pipeline() as pipe,
        ):
            job = queue.create_job(
                TASK_FUNCTION,
                args=(task.module_path, result.args, result.kwargs, options),
                job_id=result.id,
                description=f"django task {task.module_path}",
                result_ttl=self.result_ttl,
                failure_ttl=self.failure_ttl,
                status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            )
            front = task.priority > 0
            # one MULTI/EXEC round trip for the whole push
            if task.run_after:
                job.enqueue_at_front = front
                outbox.current().enqueue(queue, job, pipe, at=task.run_after)
            else:
                outbox.current().enqueue(queue, job, pipe, at_front=front)
            pipe.execute()
        results.set_field(result, "enqueued_at", results.local(job.created_at))
        compat.task_enqueued.send(type(self), task_result=result)

    def get_result(self, result_id: str) -> Any:
        from rq.exceptions import DeserializationError, NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        from floorkit.jobs.handler_jobs import get_queue

        if not isinstance(result_id, str) or not _ID.fullmatch(result_id[:201]):
            raise compat.TaskResultDoesNotExist(result_id)  # no RQ job can have that id
        seen = set()
        for name in _rq_queues():
            connection = get_queue(name).connection
            where = repr(connection.connection_pool.connection_kwargs)
            if where in seen:
                continue
            seen.add(where)
            with redis_errors(f"reading task result {result_id[:100]!r}"):
                try:
                    job = Job.fetch(result_id, connection=connection, serializer=JSONSerializer)
                except NoSuchJobError:
                    continue
                try:
                    return results.from_job(job, self.alias)
                except (DeserializationError, ImportError):  # not a JSON job floorkit can read
                    continue
        raise compat.TaskResultDoesNotExist(result_id)
