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

import rq
from rq.serializers import JSONSerializer


class _JSONWorkerMixin:
    def __init__(self, *args, **kwargs):
        from floorkit import tracing

        tracing.set_role("worker")
        kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)


class SimpleWorker(_JSONWorkerMixin, rq.SimpleWorker):
    """Runs JSON jobs in the worker process (recommended)."""


class ForkingWorker(_JSONWorkerMixin, rq.Worker):
    """Runs JSON jobs in a forked child per job (isolation over speed)."""
