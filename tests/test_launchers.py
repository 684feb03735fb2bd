"""
Every floorkit command works the same through each of Django's launchers:
``python manage.py``, ``python /abs/manage.py`` from another folder (a process
manager), ``python -m django`` and ``django-admin`` (with
``DJANGO_SETTINGS_MODULE`` set). ``runwebsocket`` re-executes itself under
gevent, which is where launchers differ.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from floorkit.testing import Tab, free_port
from tests.conftest import ROOT, reports, subprocess_env

LAUNCHERS = {
    "manage.py": ([sys.executable, "manage.py"], ROOT),
    "absolute manage.py": ([sys.executable, str(ROOT / "manage.py")], Path("/")),
    "python -m django": ([sys.executable, "-m", "django"], ROOT),
    "django-admin": ([str(Path(sys.executable).parent / "django-admin")], ROOT),
}


def run(launcher: str, *args: str) -> subprocess.CompletedProcess:
    prefix, cwd = LAUNCHERS[launcher]
    return subprocess.run(
        [*prefix, *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_runwebsocket_http_serves_the_site_and_websockets(launcher, redis_server):
    prefix, cwd = LAUNCHERS[launcher]
    port = free_port()
    process = subprocess.Popen(
        [*prefix, "runwebsocket", f"127.0.0.1:{port}", "--http"],
        cwd=cwd,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            try:
                status, page = get(f"http://127.0.0.1:{port}/login/")
                break
            except OSError:
                assert time.monotonic() < deadline, "runwebsocket did not serve"
                time.sleep(0.1)
        assert status == 200 and "<form" in page
        tab = Tab(f"ws://127.0.0.1:{port}/ws/floorkit/")
        assert tab.window
        tab.close()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert "Traceback" not in err.decode(), err.decode()


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_other_commands_through_each_launcher(launcher, redis_client, transactional_db):
    listed = run(launcher, "listsignals")
    assert listed.returncode == 0, listed.stderr
    assert "tests.delayed" in listed.stdout

    fired = run(launcher, "firesignal", "tests.delayed", "--kwargs", '{"value": 7}')
    assert fired.returncode == 0, fired.stderr
    worker = run(launcher, "rqworker", "--burst", "default")
    assert worker.returncode == 0, worker.stderr
    assert [r["value"] for r in reports(redis_client, "delayed")] == [7]

    traced = run(launcher, "tracesignal", "--last", "5", "tests.*")
    assert traced.returncode == 0, traced.stderr
    assert "tests.delayed" in traced.stdout
