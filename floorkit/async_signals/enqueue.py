"""
Pushing an async signal send: ``push_job`` enqueues one JSON job (one
MULTI/EXEC round trip) through the current outbox (``floorkit.delivery.outbox``:
Redis unless a test installed another); ``run_eager`` runs the same job in
this thread, exactly as a worker would read it, and re-raises the first
receiver error unless ``robust``. Both raise ``RedisUnavailable`` when Redis
cannot be reached. ``enqueue_task`` sends the job through the backend of
``FLOORKIT["TASK_BACKEND"]`` when that is not floorkit's
(``floorkit.tasks.routing``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from floorkit import conf
from floorkit.async_signals.job import JOB_FUNCTION, _eager_errors
from floorkit.delivery import outbox
from floorkit.delivery.redis_client import redis_errors
from floorkit.tasks.job import META_RETRIES

if TYPE_CHECKING:
    from floorkit.async_signals.signal import AsyncSignal


def create_job(
    signal: AsyncSignal,
    queue: Any,
    job_id: str,
    sender: Any,
    named: dict[str, Any],
    trace: dict | None,
) -> Any:
    from rq import Retry

    retry = signal.retry if signal.retry is not None else conf.get("RETRY")
    if isinstance(retry, int):
        retry = Retry(max=retry) if retry else None
    return queue.create_job(
        JOB_FUNCTION,
        args=(signal._name, sender, named, trace),
        job_id=job_id,
        description=f"floorkit async signal {signal._name}",
        retry=retry,
        meta={META_RETRIES: retry.max} if retry else None,  # attempts, for get_result()
    )


def enqueue_task(
    signal: AsyncSignal, sender: Any, named: dict[str, Any], trace: dict
) -> str | None:
    """
    Enqueue the job of one ``"async"`` send, at once, through the backend of
    ``FLOORKIT["TASK_BACKEND"]`` and return its ``TaskResult`` id; ``None``
    (nothing done) when floorkit's RQ path is the one to take.
    """
    from floorkit.tasks import routing

    backend = routing.task_backend()
    if backend is None:
        return None
    queue_name = signal.queue or conf.get("DEFAULT_QUEUE")
    return routing.enqueue(backend, JOB_FUNCTION, (signal._name, sender, named, trace), queue_name)


def signal_queue(signal: AsyncSignal) -> Any:
    from floorkit.jobs.handler_jobs import get_queue

    return get_queue(signal.queue or conf.get("DEFAULT_QUEUE"))


def push_job(
    signal: AsyncSignal, job_id: str, sender: Any, named: dict[str, Any], trace: dict
) -> None:
    queue = signal_queue(signal)
    job = create_job(signal, queue, job_id, sender, named, trace)
    # RQ's enqueue takes one round trip per step; handing it a pipeline
    # turns the whole enqueue (SADD queues, HSET job, RPUSH) into one MULTI/EXEC.
    with redis_errors(f"enqueueing async signal {signal._name}"):
        with queue.connection.pipeline() as pipe:
            outbox.current().enqueue(queue, job, pipeline=pipe)
            pipe.execute()


def run_eager(
    signal: AsyncSignal, job_id: str, sender: Any, named: dict[str, Any], robust: bool, trace: dict
) -> None:
    from rq import Queue

    queue = signal_queue(signal)
    sender, named = json.loads(json.dumps([sender, named]))  # exactly what a worker reads
    eager = Queue(
        queue.name,
        connection=queue.connection,
        serializer=queue.serializer,
        is_async=False,
        default_timeout=conf.get("JOB_TIMEOUT"),
    )
    job = create_job(signal, eager, job_id, sender, named, trace)
    errors: list[BaseException] = []
    token = _eager_errors.set(errors)
    try:
        with redis_errors(f"enqueueing async signal {signal._name}"):
            outbox.current().enqueue(eager, job)
    finally:
        _eager_errors.reset(token)
    if errors and not robust:
        raise errors[0]
