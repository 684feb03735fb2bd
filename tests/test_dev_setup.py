"""
The everyday development set-up: the site on ``manage.py runserver``, the
websocket on ``runwebsocket`` on another port, configured by the documented
settings (``FLOORKIT["WEBSOCKET_URL"]`` and ``CSRF_TRUSTED_ORIGINS``), and
``runwebsocket``'s development conveniences (reload, request log, clear
errors). Real subprocesses, real sockets, real Redis.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
import websocket

from floorkit.testing import Server, Tab, free_port
from tests.conftest import ROOT, subprocess_env

SIGNALS_V1 = """
from floorkit import connect

@connect(path="dev.first", auth_required=False)
def first(request):
    return "first"
"""

SIGNALS_V2 = (
    SIGNALS_V1
    + """
@connect(path="dev.second", auth_required=False)
def second(request, text: str):
    return text.upper()
"""
)


@pytest.fixture
def dev_project(tmp_path, redis_server):
    """A settings module and an app of its own (``devapp``) in a temporary folder."""
    app = tmp_path / "devapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "signals.py").write_text(SIGNALS_V1)
    site_port, ws_port = free_port(), free_port()
    (tmp_path / "dev_settings.py").write_text(
        textwrap.dedent(f"""
        from tests.settings import *  # noqa
        INSTALLED_APPS = [*INSTALLED_APPS, "devapp"]
        FLOORKIT = {{**FLOORKIT, "WEBSOCKET_URL": "ws://127.0.0.1:{ws_port}/ws/floorkit/"}}
        CSRF_TRUSTED_ORIGINS = ["http://127.0.0.1:{site_port}"]
        """)
    )
    env = subprocess_env()
    env.update(DJANGO_SETTINGS_MODULE="dev_settings", PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    return {"path": tmp_path, "env": env, "site_port": site_port, "ws_port": ws_port}


def start(env, *args: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args} exited: {process.stderr.read().decode()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.2)  # let the router subscribe
            return process
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{args} did not listen on {port}")


def stop(process: subprocess.Popen) -> tuple[str, str]:
    """Stop the process and its children (the reloader's); return its output."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    return out.decode(), err.decode()


def page_config(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    match = re.search(r'<script id="floorkit-config" type="application/json">(.*?)</script>', body)
    assert match, "the page renders {% floorkit_js %}"
    return json.loads(html.unescape(match.group(1)))


def test_runserver_page_connects_to_runwebsocket_on_another_port(dev_project):
    site_port, ws_port, env = dev_project["site_port"], dev_project["ws_port"], dev_project["env"]
    site = start(env, "runserver", f"127.0.0.1:{site_port}", "--noreload", port=site_port)
    ws = start(env, "runwebsocket", f"127.0.0.1:{ws_port}", "--noreload", port=ws_port)
    try:
        origin = f"http://127.0.0.1:{site_port}"
        config = page_config(f"{origin}/")
        assert config["url"] == f"ws://127.0.0.1:{ws_port}/ws/floorkit/"
        tab = Tab(config["url"], origin=origin)  # as the browser opens it from the page
        frame = tab.call("dev.first")
        assert frame.get("results") == ["first"], frame
        tab.close()
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            Tab(config["url"], origin="http://127.0.0.1:9")
        assert refused.value.status_code == 403
    finally:
        stop(site)
        out, err = stop(ws)
    assert "refused websocket from origin 'http://127.0.0.1:9'" in err
    assert "CSRF_TRUSTED_ORIGINS" in err
    assert f"floorkit websocket on ws://127.0.0.1:{ws_port}/ws/floorkit/ " in out


def test_reload_makes_a_new_handler_callable_without_a_restart(dev_project):
    ws_port, env = dev_project["ws_port"], dev_project["env"]
    url = f"ws://127.0.0.1:{ws_port}/ws/floorkit/"
    server = start(env, "runwebsocket", f"127.0.0.1:{ws_port}", "--reload", port=ws_port)
    try:
        tab = Tab(url)
        assert tab.call("dev.second", text="hi")["type"] == "error"
        tab.close()
        signals = dev_project["path"] / "devapp" / "signals.py"
        signals.write_text(SIGNALS_V2)
        later = time.time() + 2  # a newer mtime than the reloader has seen, whatever the clock
        os.utime(signals, (later, later))
        deadline = time.monotonic() + 30
        while True:
            try:
                tab = Tab(url)
                frame = tab.call("dev.second", text="hi")
                tab.close()
                if frame.get("results") == ["HI"]:
                    break
            except (OSError, websocket.WebSocketException):
                pass  # restarting
            assert time.monotonic() < deadline, "dev.second never became callable"
            time.sleep(0.3)
    finally:
        stop(server)


@pytest.mark.parametrize("reload", ["--noreload", "--reload"])
def test_port_in_use_is_a_one_line_command_error(redis_server, reload):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "runwebsocket", f"127.0.0.1:{port}", reload],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "CommandError" in line]
    assert lines == [f"CommandError: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "floorkit websocket on" not in result.stdout


def test_http_mode_logs_requests(redis_server):
    server = Server(subprocess_env(), http=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10) as response:
            assert response.status == 200
    finally:
        out, err = server.stop()
    assert re.search(r'"GET / HTTP/1\.1" 200', err), (out, err)
