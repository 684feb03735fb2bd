"""Settings of bench/bench_async.py: the test settings, plus django-tasks-rq's
backend as TASKS["django_tasks_rq"] when it is installed (a bench venv), so
that one run compares it with floorkit's RQBackend (TASKS["default"])."""

import importlib.util

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

if importlib.util.find_spec("django_tasks_rq") is not None:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_rq"]
    TASKS = {  # noqa: F405
        **TASKS,  # noqa: F405
        "django_tasks_rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]},
    }
