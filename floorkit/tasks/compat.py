"""
Where the tasks framework comes from: ``django.tasks`` (Django 6.0 and
later) or, on Django 5.2, the ``django-tasks`` backport (``django_tasks``,
0.12 or later), whose API is the same under another module name.

``AVAILABLE`` tells whether either is importable; when neither is,
``REASON`` says why and how to fix it, and the other names are absent
(``floorkit.tasks.RQBackend`` then raises ``ImportError`` with ``REASON``,
and ``floorkit.checks`` reports it as ``floorkit.E009`` when ``TASKS`` names
floorkit's backend). ``SOURCE`` is the module that provides the framework.

The names exported are the framework's own classes, exceptions and signals,
so that floorkit raises and sends exactly what Django does:
``BaseTaskBackend``, ``Task``, ``TaskContext``, ``TaskError``,
``TaskResult``, ``TaskResultStatus``, ``InvalidTask``,
``TaskResultDoesNotExist``, ``TaskResultMismatch``, ``task`` (the decorator), ``task_backends``
(the ``TASKS`` handler),
``task_enqueued``, ``task_started`` and ``task_finished``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AVAILABLE", "REASON", "SOURCE", "backend_path", "load"]

AVAILABLE = False
SOURCE = ""
REASON = ""


def _first(module: Any, *names: str) -> Any:
    for name in names:
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(f"{module.__name__} has none of {', '.join(names)}")


def load(source: str) -> dict[str, Any]:
    """
    The framework's names from ``source`` (``"django.tasks"`` or
    ``"django_tasks"``); raise ``ImportError`` when it is not installed or
    lacks one of them.
    """
    root = importlib.import_module(source)
    base = importlib.import_module(f"{source}.base")
    backends = importlib.import_module(f"{source}.backends.base")
    exceptions = importlib.import_module(f"{source}.exceptions")
    signals = importlib.import_module(f"{source}.signals")
    return {
        "task_backends": _first(root, "task_backends", "tasks"),
        "task": root.task,
        "BaseTaskBackend": backends.BaseTaskBackend,
        "Task": base.Task,
        "TaskContext": base.TaskContext,
        "TaskError": base.TaskError,
        "TaskResult": base.TaskResult,
        "TaskResultStatus": _first(base, "TaskResultStatus", "ResultStatus"),
        "InvalidTask": _first(exceptions, "InvalidTask", "InvalidTaskError"),
        "TaskResultDoesNotExist": _first(
            exceptions, "TaskResultDoesNotExist", "ResultDoesNotExist"
        ),
        "TaskResultMismatch": _first(exceptions, "TaskResultMismatch", "TaskIntegrityError"),
        "task_enqueued": signals.task_enqueued,
        "task_started": signals.task_started,
        "task_finished": signals.task_finished,
    }


def backend_path(name: str) -> str:
    """The dotted path of the framework's own backend ``name`` (``"immediate"``, ``"dummy"``)."""
    classes = {"immediate": "ImmediateBackend", "dummy": "DummyBackend"}
    return f"{SOURCE}.backends.{name}.{classes[name]}"


_problems = []
for _source in ("django.tasks", "django_tasks"):
    try:
        globals().update(load(_source))
    except ImportError as exc:
        _problems.append(f"{_source}: {exc}")
        continue
    AVAILABLE, SOURCE = True, _source
    break
else:
    import django

    REASON = (
        f"floorkit.tasks.RQBackend needs Django's tasks framework: Django 6.0 or later "
        f"(django.tasks), or on Django {django.get_version()} the django-tasks backport "
        f"(pip install 'django-tasks>=0.12'). Not found: {'; '.join(_problems)}."
    )
