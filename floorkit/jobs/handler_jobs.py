"""
Running delayed handlers on RQ.

A delayed handler call becomes one RQ job, serialized as JSON (never pickle),
enqueued on the handler's queue of ``RQ_QUEUES`` (django-rq's setting). The job
calls ``JOB_FUNCTION``,
``floorkit.jobs.run_handler(signal, handler_path, request, kwargs)``, where
``request`` is ``SignalRequest.to_dict()``; its description names the signal
and the handler. A failing handler raises in the worker, so RQ keeps
the job in its failed registry with the traceback, after ``retry`` retries.

Inside a ``transaction.atomic()`` block, the job is enqueued only when the
transaction commits, and never if it rolls back.

The job is pushed through the current outbox (``floorkit.delivery.outbox``:
Redis by default; ``floorkit.testing.capture()`` records it instead). A job
that an outbox runs inline (``outbox.runs_inline()``) leaves the database
connections to its caller.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.db import close_old_connections, transaction
from rq import Queue, Retry
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from floorkit import conf
from floorkit.delivery import outbox
from floorkit.delivery.redis_client import redis_errors
from floorkit.exceptions import InvalidArguments
from floorkit.jobs import waiting
from floorkit.signals.coroutines import call_sync
from floorkit.signals.registry import Handler, registry
from floorkit.signals.request import SignalRequest
from floorkit.tasks import routing
from floorkit.tasks.job import META_RETRIES
from floorkit.tracing import recorder

logger = logging.getLogger("floorkit.jobs")

#: The function path written into every delayed-handler job.
JOB_FUNCTION = "floorkit.jobs.run_handler"

_queues: dict[tuple[str, str], Queue] = {}


def get_queue(name: str) -> Queue:
    """
    Return the RQ queue ``name`` configured in ``RQ_QUEUES``, with the JSON
    serializer. Raise ``ImproperlyConfigured`` for a queue django-rq lacks.
    """
    from django.core.exceptions import ImproperlyConfigured
    from django_rq.queues import get_connection
    from django_rq.settings import QUEUES

    if name not in QUEUES:
        raise ImproperlyConfigured(
            f"RQ queue {name!r} is not in settings.RQ_QUEUES (configured: {sorted(QUEUES)})"
        )
    cache_key = (name, repr(QUEUES[name]))
    queue = _queues.get(cache_key)
    if queue is None:
        queue = Queue(
            name,
            connection=get_connection(name),
            serializer=JSONSerializer,
            default_timeout=conf.get("JOB_TIMEOUT"),
        )
        _queues[cache_key] = queue
    return queue


def check_json_arguments(signal: str, handler: str, kwargs: dict[str, Any]) -> None:
    """Raise ``InvalidArguments`` for an argument that a JSON job cannot carry."""
    for name, value in kwargs.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidArguments(
                signal,
                handler,
                name,
                f"{type(value).__name__} cannot travel to a worker: delayed handlers take JSON values",
            ) from None


def enqueue_handler(handler: Handler, request: SignalRequest, kwargs: dict[str, Any]) -> str:
    """
    Enqueue a delayed handler call; return the job id at once.

    The job is pushed when the current transaction (if any) commits. Raise
    ``RedisUnavailable`` when Redis is unreachable at push time. When
    ``FLOORKIT["TASK_BACKEND"]`` names another backend than floorkit's, the
    job is enqueued at once through it instead (``floorkit.tasks.routing``)
    and the id is its ``TaskResult``'s.
    """
    queue_name = handler.queue or conf.get("DEFAULT_QUEUE")
    backend = routing.task_backend()
    if backend is not None:
        arguments = (handler.signal, handler.path, request.to_dict(), kwargs)
        return routing.enqueue(backend, JOB_FUNCTION, arguments, queue_name)
    retry = handler.retry if handler.retry is not None else conf.get("RETRY")
    queue = get_queue(queue_name)
    job_id = uuid.uuid4().hex

    def push() -> None:
        with redis_errors(f"enqueueing {handler.signal} ({handler.path})"):
            job = queue.create_job(
                JOB_FUNCTION,
                args=(handler.signal, handler.path, request.to_dict(), kwargs),
                job_id=job_id,
                description=f"floorkit signal {handler.signal} -> {handler.path}",
                retry=Retry(max=retry) if retry else None,
                meta={META_RETRIES: retry} if retry else None,  # attempts, for get_result()
                status=JobStatus.QUEUED,
            )
            outbox.current().enqueue(queue, job)

    transaction.on_commit(push)
    return job_id


def run_handler(signal: str, path: str, request: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """
    The RQ job function: run the delayed handler ``path`` of ``signal``.

    Arguments are checked again (the handler may have changed since the job
    was enqueued); an ``async def`` handler is run to completion
    (``call_sync``). The return value is kept as the job's result when it is
    JSON-serializable, else ``None``; a browser call awaiting the job
    (``floorkit.jobs.waiting``) is sent that value, or the failure once no
    retry is left.
    """
    inline = outbox.runs_inline()  # then the connections are the caller's
    if not inline:
        close_old_connections()
    caller = SignalRequest.from_dict(request)
    try:
        with recorder.job(caller.trace_id, caller.parent, signal, handler=path) as hop:
            handler = registry.find_handler(signal, path)
            bound = handler.bind(kwargs)
            result = call_sync(handler.fn, caller.child(hop), **bound)
    except Exception as exc:
        waiting.failed(caller, signal, exc)  # a browser call awaiting the job hears of it
        raise
    finally:
        if not inline:
            close_old_connections()
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        result = None
    return waiting.answered(caller, result)
