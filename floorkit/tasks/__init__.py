"""
``django.tasks`` on RQ: ``floorkit.tasks.RQBackend`` (``backend``), the job
that runs a ``@task`` in ``manage.py rqworker`` (``job``), RQ jobs read back
as ``TaskResult`` (``results``), where the framework comes from (``compat``)
and how floorkit's own jobs go through a configured backend (``routing``).
See ``docs/tasks.md``.

``RQBackend`` exists when Django's tasks framework does (Django 6.0, or the
``django-tasks`` backport on Django 5.2); otherwise importing it raises
``ImportError`` saying so (``compat.REASON``), and ``manage.py check``
reports ``floorkit.E009`` when ``TASKS`` names it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RQBackend"]


def __getattr__(name: str) -> Any:
    if name == "RQBackend":
        from floorkit.tasks import compat

        if not compat.AVAILABLE:
            raise ImportError(compat.REASON)
        from floorkit.tasks.backend import RQBackend

        return RQBackend
    raise AttributeError(f"module 'floorkit.tasks' has no attribute {name!r}")
