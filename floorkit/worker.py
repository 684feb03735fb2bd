"""
RQ worker classes that read floorkit's JSON jobs.

RQ pickles by default; floorkit's jobs are JSON (``rq.serializers.JSONSerializer``),
and a worker must use the same serializer. Point django-rq at one of these::

    RQ = {"WORKER_CLASS": "floorkit.worker.SimpleWorker"}

and ``python manage.py rqworker default`` runs floorkit jobs.

``SimpleWorker`` (recommended) runs jobs in the worker process: several
times faster, but a job that crashes the interpreter or leaks memory affects
the worker. ``ForkingWorker`` forks a child per job (RQ's default model):
isolated, but far slower.
"""

from __future__ import annotations

import time

import rq
from rq.serializers import JSONSerializer


class _FloorkitWorkerMixin:
    """
    JSON jobs, the ``worker`` role in traces, and cheaper heartbeats: RQ sends
    a heartbeat (two round trips) several times per job; a heartbeat asking
    for no longer an expiry than one sent less than a second ago is skipped,
    and the others go in one pipelined round trip.
    """

    HEARTBEAT_EVERY = 1.0

    def __init__(self, *args, **kwargs):
        from floorkit import tracing

        tracing.set_role("worker")
        kwargs["serializer"] = JSONSerializer
        self._beat_at = 0.0
        self._beat_timeout = 0
        super().__init__(*args, **kwargs)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        timeout = timeout or self.worker_ttl + 60
        now = time.monotonic()
        if now - self._beat_at < self.HEARTBEAT_EVERY and timeout <= self._beat_timeout:
            return None
        self._beat_at, self._beat_timeout = now, timeout
        with self.connection.pipeline() as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            pipe.execute()
        return None


class SimpleWorker(_FloorkitWorkerMixin, rq.SimpleWorker):
    """Runs JSON jobs in the worker process (recommended)."""

    def __init__(self, *args, **kwargs):
        from floorkit import tracing

        tracing.FLUSH_AFTER_JOBS = False  # the worker lives on: its flusher thread writes
        super().__init__(*args, **kwargs)


class ForkingWorker(_FloorkitWorkerMixin, rq.Worker):
    """Runs JSON jobs in a forked child per job (isolation over speed)."""
