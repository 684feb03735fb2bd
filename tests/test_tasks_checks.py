"""
Checks of ``django.tasks`` set-ups (``floorkit.checks.check_tasks``), and
``floorkit.tasks.RQBackend`` absent, saying why, where Django's tasks
framework is missing; run with and without the framework installed.
"""

import pytest

from floorkit.checks import check_tasks
from floorkit.tasks import compat


def ids(*wanted: str) -> dict:
    """floorkit's own check (Django's would instantiate every backend of TASKS)."""
    return {m.id: m for m in check_tasks() if m.id in wanted}


def test_e009_names_the_missing_framework(settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "floorkit.tasks.RQBackend"}}
    monkeypatch.setattr(compat, "AVAILABLE", False)
    monkeypatch.setattr(compat, "REASON", "no tasks framework here")
    found = ids("floorkit.E009")
    assert "no tasks framework here" in found["floorkit.E009"].msg
    assert "django-tasks" in found["floorkit.E009"].hint
    with pytest.raises(ImportError, match="no tasks framework here"):
        from floorkit.tasks import RQBackend  # noqa: F401


def test_e010_names_a_task_backend_tasks_lacks(settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "floorkit.tasks.RQBackend"}}
    settings.FLOORKIT = {**settings.FLOORKIT, "TASK_BACKEND": "nope"}
    if compat.AVAILABLE:
        (error,) = ids("floorkit.E010").values()
        assert "'nope'" in error.msg and "TASKS has no such alias" in error.msg
    monkeypatch.setattr(compat, "AVAILABLE", False)
    (error,) = ids("floorkit.E010").values()
    assert "tasks framework is missing" in error.msg


def test_no_error_when_tasks_name_no_floorkit_backend(settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "somewhere.else.Backend"}}
    monkeypatch.setattr(compat, "AVAILABLE", False)
    assert ids("floorkit.E009", "floorkit.E010") == {}
