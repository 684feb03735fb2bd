"""Test settings: the demo project plus the test app, with a file database that
worker subprocesses share with the test process."""

import os
import tempfile

from demo_project.settings import *  # noqa: F403
from demo_project.settings import INSTALLED_APPS

_db = os.environ.setdefault(
    "FLOORKIT_TEST_DB", os.path.join(tempfile.gettempdir(), f"floorkit-test-{os.getpid()}.sqlite3")
)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _db,
        "TEST": {"NAME": _db},
        "OPTIONS": {"timeout": 20},
    }
}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests start servers with other settings through $FLOORKIT_TEST_OVERRIDES (JSON).
FLOORKIT = {
    **FLOORKIT,  # noqa: F405
    **__import__("json").loads(os.environ.get("FLOORKIT_TEST_OVERRIDES", "{}")),
}

# django.tasks: Django 6's, or the django-tasks backport on Django 5.2 when installed.
_tasks_source = next(
    (
        name
        for name in ("django.tasks", "django_tasks")
        if __import__("importlib.util").util.find_spec(name.split(".")[0]) is not None
        and (name != "django.tasks" or __import__("django").VERSION >= (6,))
    ),
    None,
)
if _tasks_source:
    if _tasks_source == "django_tasks":
        INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks"]
    TASKS = {
        "default": {"BACKEND": "floorkit.tasks.RQBackend"},
        "default_only": {"BACKEND": "floorkit.tasks.RQBackend", "QUEUES": ["default"]},
        "immediate": {
            "BACKEND": f"{_tasks_source}.backends.immediate.ImmediateBackend",
            "QUEUES": [],
        },
        "dummy": {"BACKEND": f"{_tasks_source}.backends.dummy.DummyBackend", "QUEUES": []},
    }
