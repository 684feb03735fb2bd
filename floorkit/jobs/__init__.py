"""
floorkit's RQ jobs: delayed handlers (``handler_jobs``), the worker classes
that run them (``worker``), leases that catch a dead worker's jobs
(``lease``) and the django-rq defaults that make ``manage.py rqworker`` use
them (``rq_defaults``).

``floorkit.jobs.run_handler`` is the function path written into every
delayed-handler job, so it stays importable from here for as long as jobs
written by any floorkit release may wait in a queue.
"""

from floorkit.jobs.handler_jobs import get_queue, run_handler

__all__ = ["get_queue", "run_handler"]
