"""A small real websocket client for tests (websocket-client over a real socket)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import websocket

ROOT = Path(__file__).resolve().parent.parent


class Tab:
    """One browser tab: a websocket with the session cookie of its user."""

    _ids = itertools.count(1)

    def __init__(
        self,
        url: str,
        session_key: str | None = None,
        origin: str | None = None,
        token: str | None = None,
        last: int | None = None,
    ):
        headers = []
        if session_key:
            headers.append(f"Cookie: sessionid={session_key}")
        if token:
            url = f"{url}?token={token}" + (f"&last={last}" if last is not None else "")
        self.ws = websocket.create_connection(
            url, header=headers, origin=origin, timeout=5, suppress_origin=origin is None
        )
        self.hello = self.recv()
        assert self.hello["type"] == "hello", self.hello
        self.window = self.hello["window"]
        self.pending: list[dict] = []

    def recv(self, timeout: float = 5) -> dict:
        self.ws.settimeout(timeout)
        return json.loads(self.ws.recv())

    def send(self, data) -> None:
        self.ws.send(data if isinstance(data, str) else json.dumps(data))

    def call(self, signal: str, to=None, **kwargs) -> dict:
        """Call and return the result or error frame (signal frames before it are kept)."""
        call_id = next(self._ids)
        self.send({"type": "call", "id": call_id, "signal": signal, "kwargs": kwargs, "to": to})
        return self.wait_for(
            lambda f: f.get("type") in ("result", "error") and f.get("id") == call_id
        )

    def wait_for(self, predicate, timeout: float = 5) -> dict:
        for frame in self.pending:
            if predicate(frame):
                self.pending.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(0.05, deadline - time.monotonic()))
            if predicate(frame):
                return frame
            self.pending.append(frame)

    def signals(self, quiet: float = 0.4, until: str | None = None) -> list[dict]:
        """
        Signal frames received until one carries ``kwargs["marker"] == until``
        (not included), or, without ``until``, until the line has been quiet
        for ``quiet`` seconds.
        """
        frames, self.pending = [f for f in self.pending if f["type"] == "signal"], []
        while True:
            try:
                frame = self.recv(5 if until else quiet)
            except websocket.WebSocketTimeoutException:
                if until:
                    raise AssertionError(f"marker {until} never arrived") from None
                return frames
            if frame["type"] == "signal":
                if until and frame["kwargs"].get("marker") == until:
                    return frames
                frames.append(frame)

    def close(self) -> None:
        self.ws.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``manage.py runwebsocket`` in a real subprocess."""

    def __init__(self, env: dict, port: int | None = None, http: bool = False, overrides=None):
        self.port = port or free_port()
        self.env = dict(env)
        if overrides:
            self.env["FLOORKIT_TEST_OVERRIDES"] = json.dumps(overrides)
        self.http = http
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/floorkit/"

    def start(self) -> Server:
        args = [sys.executable, str(ROOT / "manage.py"), "runwebsocket", f"127.0.0.1:{self.port}"]
        args.append("--noreload")  # tests that need the reloader ask for --reload
        if self.http:
            args.append("--http")
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runwebsocket exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.1)  # let the router subscribe
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("runwebsocket did not start")

    def stop(self, sig=signal.SIGTERM) -> tuple[str, str]:
        if self.process is None:
            return "", ""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        try:
            out, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            out, err = self.process.communicate()
        self.process = None
        return out.decode(), err.decode()
