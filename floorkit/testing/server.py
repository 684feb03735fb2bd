"""
A real ``manage.py runwebsocket`` in a subprocess, for tests.

``run_websocket_server()`` starts one and returns its ``ServerProcess``
(called ``WebsocketServer`` before; that name stays as an alias, distinct
from ``floorkit.websocket.server.WebsocketServer``, the server itself).
``Server`` is the form floorkit's own suite uses: built with a complete
environment, started by ``start()``, and ``stop()`` gives stdout and stderr
apart.

A server counts as started once it accepts connections and a moment has
passed for its router to subscribe to Redis. Its output goes to temporary
files (never a pipe, which a chatty server could fill), removed when it
stops. Stopping is Ctrl-C's SIGTERM to its process group (it closes every
socket with 1001), then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal as os_signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from floorkit.delivery.embedded_redis import free_port

__all__ = ["Server", "ServerProcess", "WebsocketServer", "free_port", "run_websocket_server"]

#: After the port accepts connections: time for the router to subscribe.
SETTLE = 0.1


def _read(path: str | None) -> str:
    if path is None:
        return ""
    with open(path, encoding="utf-8", errors="replace") as log:
        return log.read()


class ServerProcess:
    """
    A ``manage.py runwebsocket HOST:PORT`` subprocess (``--http`` with
    ``http``), started by ``start()`` (``run_websocket_server()`` does both).

    ``environment`` is the server's whole environment; ``arguments`` are
    more ``runwebsocket`` options (``["--processes", "2"]``). ``split_output``
    keeps stderr apart from stdout (``outputs()``). ``url`` is its websocket
    endpoint (``ws://HOST:PORT/ws/floorkit/``), ``http_url`` its site root
    (served with ``http=True``), ``process`` the ``subprocess.Popen`` once
    started. ``output()`` is what it printed so far. Use it as a context
    manager, or ``stop()`` it.
    """

    def __init__(
        self,
        manage_py: str | Path,
        environment: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        http: bool = False,
        split_output: bool = False,
        arguments: Sequence[str] = (),
    ) -> None:
        from floorkit import conf
        from floorkit.websocket.url import websocket_path

        self.manage_py = Path(manage_py)
        self.environment = dict(environment)
        self.host = host
        self.port = port or free_port()
        self.http = http
        self.split_output = split_output
        self.arguments = list(arguments)
        self.url = f"ws://{host}:{self.port}{websocket_path(conf.get('WEBSOCKET_URL'))}"
        self.http_url = f"http://{host}:{self.port}/"
        self.process: subprocess.Popen | None = None
        self._logs: list[str] = []
        self._final: tuple[str, str] | None = None

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        return f"<ServerProcess {self.url} pid={pid}>"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """
        Start the server (again, after ``stop()``: its earlier output is
        dropped); return it once it accepts connections. Raise
        ``RuntimeError`` with its output when it exits or is not listening
        within ``timeout`` seconds (it is stopped then).
        """
        self._final, self._logs = None, []  # a stopped server starts afresh
        command = [sys.executable, str(self.manage_py), "runwebsocket"]
        command += [f"{self.host}:{self.port}", "--noreload"]  # tests that need it ask --reload
        if self.http:
            command.append("--http")
        command += self.arguments
        streams = []
        for _ in range(2 if self.split_output else 1):
            fd, path = tempfile.mkstemp(prefix="floorkit-runwebsocket-", suffix=".log")
            self._logs.append(path)
            streams.append(os.fdopen(fd, "wb"))
        try:
            self.process = subprocess.Popen(
                command,
                cwd=self.manage_py.parent,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=streams[0],
                stderr=streams[1] if self.split_output else subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            for stream in streams:
                stream.close()
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                output = self.stop()
                raise RuntimeError(
                    f"runwebsocket exited with code {self.process.returncode}:\n{output}"
                )
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                time.sleep(SETTLE)
                return
            except OSError:
                if time.monotonic() > deadline:
                    output = self.stop()
                    raise RuntimeError(
                        f"runwebsocket was not listening on {self.host}:{self.port} "
                        f"after {timeout:g} s:\n{output}"
                    ) from None
                time.sleep(0.05)

    def outputs(self) -> tuple[str, str]:
        """``(stdout, stderr)`` so far; stderr is in stdout unless ``split_output``."""
        if self._final is not None:
            return self._final
        paths = [*self._logs, None, None]
        return _read(paths[0]), _read(paths[1])

    def output(self) -> str:
        """What the server printed (stdout, then stderr if split) so far."""
        return "".join(self.outputs())

    def stop(self, timeout: float = 10.0, sig: int = os_signal.SIGTERM) -> str:
        """
        Stop the server with ``sig`` (default SIGTERM, as Ctrl-C), killing it
        after ``timeout`` seconds; return its output. Stopping it again, or
        one never started, does nothing.
        """
        if self._final is None and self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, sig)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, os_signal.SIGKILL)
                    self.process.wait()
            final = self.outputs()
            for path in self._logs:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self._final = final
        return self.output()


#: The name of ``ServerProcess`` in floorkit 0.x, kept as an alias.
WebsocketServer = ServerProcess


def _find_manage_py() -> Path:
    from django.conf import settings

    candidates = [Path.cwd() / "manage.py"]
    base = getattr(settings, "BASE_DIR", None)
    if base:
        candidates.insert(0, Path(base) / "manage.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no manage.py in {' or '.join(str(c.parent) for c in candidates)}: "
        "pass run_websocket_server(manage_py=...)"
    )


def server_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """
    This process's environment for a server: ``DJANGO_SETTINGS_MODULE`` set
    to the settings in use here, output unbuffered, and ``env`` on top.
    """
    from django.conf import settings

    environment = dict(os.environ)
    settings_module = getattr(settings, "SETTINGS_MODULE", None)
    if settings_module:
        environment["DJANGO_SETTINGS_MODULE"] = settings_module
    environment["PYTHONUNBUFFERED"] = "1"
    environment.update(env or {})
    return environment


def run_websocket_server(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    manage_py: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    http: bool = False,
    timeout: float = 20.0,
) -> ServerProcess:
    """
    Start ``manage.py runwebsocket HOST:PORT`` (``--http`` with ``http``) in a
    subprocess and return its ``ServerProcess`` once it accepts connections.
    ``port`` defaults to a free one.

    ``manage_py`` defaults to ``BASE_DIR/manage.py``, else ``./manage.py``.
    The server runs with ``server_environment(env)``: this process's
    environment, ``DJANGO_SETTINGS_MODULE`` set to the settings in use here,
    and ``env`` on top. It must reach the same Redis and the same database
    as the test (``docs/testing.md``). Raise ``RuntimeError`` with its
    output when it exits or is not listening within ``timeout`` seconds.
    """
    path = Path(manage_py) if manage_py is not None else _find_manage_py()
    server = ServerProcess(path, server_environment(env), host, port, http=http)
    return server.start(timeout)


class Server:
    """
    ``runwebsocket`` on 127.0.0.1 as floorkit's own suite starts it:
    ``Server(env, port=None, http=False, overrides=None).start()``.

    ``env`` is the server's whole environment; ``overrides`` are
    ``FLOORKIT`` settings for the server, passed as JSON in
    ``$FLOORKIT_TEST_OVERRIDES`` (a settings module that reads it applies
    them; floorkit's test settings do). ``manage_py`` defaults as for
    ``run_websocket_server()``. ``stop()`` returns ``(stdout, stderr)``.
    ``url``, ``port``, ``env`` and, once started, ``process`` are the
    server's; a context manager.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        port: int | None = None,
        http: bool = False,
        overrides: Mapping[str, Any] | None = None,
        *,
        manage_py: str | Path | None = None,
        arguments: Sequence[str] = (),
    ) -> None:
        self.env = dict(env)
        if overrides:
            self.env["FLOORKIT_TEST_OVERRIDES"] = json.dumps(overrides)
        path = Path(manage_py) if manage_py is not None else _find_manage_py()
        self.server = ServerProcess(
            path, self.env, port=port, http=http, split_output=True, arguments=arguments
        )
        self.port = self.server.port
        self.url = self.server.url
        self.http = http

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def process(self) -> subprocess.Popen | None:
        """The ``subprocess.Popen`` once started."""
        return self.server.process

    def start(self, timeout: float = 20.0) -> Server:
        """Start it; return it once it listens (``RuntimeError`` if it cannot)."""
        self.server.start(timeout)
        return self

    def stop(self, sig: int = os_signal.SIGTERM) -> tuple[str, str]:
        """Stop it with ``sig`` (then SIGKILL after 10 s); return ``(stdout, stderr)``."""
        self.server.stop(sig=sig)
        return self.server.outputs()
