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
