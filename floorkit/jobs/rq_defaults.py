"""
django-rq defaults that make ``manage.py rqworker QUEUE`` run floorkit's jobs.

floorkit's jobs are JSON; RQ and django-rq read pickle unless told otherwise.
At start-up (``FloorkitConfig.ready()``), ``apply()`` fills in, where the
user has not set them, the settings that django-rq reads when it builds a
worker or a queue:

* ``RQ["WORKER_CLASS"]``: ``floorkit.jobs.worker.SimpleWorker`` (reads JSON);
* ``RQ["JOB_CLASS"]``: ``floorkit.jobs.worker.FloorkitJob``, whose failure text
  names the fix when a job cannot be read by the worker's serializer;
* ``RQ_QUEUES[name]["SERIALIZER"]``: ``rq.serializers.JSONSerializer``, so that
  django-rq's admin pages (and ``django_rq.enqueue``) read and write JSON.

A value the user set is never replaced; ``floorkit.checks`` (W003) says when
the configured worker class cannot read JSON. Nothing here touches Redis.
"""

from __future__ import annotations

from typing import Any

WORKER_CLASS = "floorkit.jobs.worker.SimpleWorker"
JOB_CLASS = "floorkit.jobs.worker.FloorkitJob"
SERIALIZER = "rq.serializers.JSONSerializer"

FIX = (
    "floorkit's jobs are JSON: leave RQ['WORKER_CLASS'] unset (floorkit then uses "
    f"{WORKER_CLASS}), set it to {WORKER_CLASS}, or run rqworker with "
    f"--serializer {SERIALIZER}; jobs of your own on such a queue must be JSON too "
    f"(RQ_QUEUES[...]['SERIALIZER'] = {SERIALIZER!r})."
)


def apply(settings: Any) -> None:
    """
    Set floorkit's django-rq defaults on ``settings`` where nothing is set.

    ``settings.RQ`` is replaced by a copy holding the defaults (a missing
    ``RQ`` becomes one); each ``RQ_QUEUES`` entry that is a dict without a
    ``SERIALIZER`` gets the JSON serializer. Idempotent.
    """
    rq_settings = dict(getattr(settings, "RQ", None) or {})
    rq_settings.setdefault("WORKER_CLASS", WORKER_CLASS)
    rq_settings.setdefault("JOB_CLASS", JOB_CLASS)
    settings.RQ = rq_settings
    for queue in (getattr(settings, "RQ_QUEUES", None) or {}).values():
        if isinstance(queue, dict):
            queue.setdefault("SERIALIZER", SERIALIZER)


def serializer_failure(job_id: str, serializer: Any) -> str:
    """The failure text of a job that ``serializer`` could not read."""
    name = getattr(serializer, "__qualname__", None) or type(serializer).__qualname__
    module = getattr(serializer, "__module__", "")
    return f"job {job_id} could not be read with {module}.{name}. {FIX}"
