"""
``runwebsocket --processes N``: N server processes on one port.

The supervisor binds the port first (with ``SO_REUSEPORT``, without
listening), so that a port another program holds is one clear error, then
starts N ``runwebsocket`` processes with ``--reuse-port``. Each binds its own
listening socket to the same port (the kernel spreads new connections over
them), has its own Redis pub/sub connection and its own presence holder, and
shares nothing else with its siblings: whatever one process knows, Redis knows.

The processes are started fresh (not forked from the supervisor) so that a
restart runs the code on disk now. Signals to the supervisor:

* SIGTERM, SIGINT: every process stops gracefully (its tabs are closed with
  1001 and leave their groups at once); the supervisor exits when all did, or
  kills those still running after ``STOP_TIMEOUT`` seconds.
* SIGHUP: a rolling restart. One process at a time, a new one is started and
  waited for until it listens, then the old one is stopped: the port never
  stops accepting, and each old tab reconnects (to any process) and replays
  what it missed.

A process that exits by itself is started again after ``RESTART_DELAY``
seconds (doubling while it keeps failing within ``RESTART_DELAY * 10``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

logger = logging.getLogger("floorkit.websocket")

STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
RESTART_DELAY = 1.0
READY_FD_ENV = "FLOORKIT_READY_FD"


def reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """
    A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (listening when
    ``listen``). Raise ``OSError`` when the port is held without it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def signal_ready() -> None:
    """Tell the supervisor (if any) that this process listens now."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is not None:
        try:
            os.write(int(fd), b"1")
            os.close(int(fd))
        except (OSError, ValueError):
            pass


def _stop_with_parent() -> None:
    """In a new server process: get SIGTERM when the supervisor dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    """
    Runs ``count`` copies of the server command ``argv`` and keeps them
    running until SIGTERM/SIGINT (see the module docstring). ``argv`` must
    start a process that calls ``signal_ready()`` once it listens.
    """

    def __init__(self, argv: Sequence[str], count: int, *, out=None) -> None:
        self.argv = list(argv)
        self.count = count
        self.out = out or sys.stdout
        self.processes: list[subprocess.Popen] = []
        self._stopping = False
        self._restart = False

    def spawn(self) -> subprocess.Popen | None:
        """Start one server process and wait until it listens; None if it did not."""
        read_fd, write_fd = os.pipe()
        env = {**os.environ, READY_FD_ENV: str(write_fd)}
        try:
            process = subprocess.Popen(
                self.argv, env=env, pass_fds=(write_fd,), preexec_fn=_stop_with_parent
            )
        finally:
            os.close(write_fd)
        try:
            ready = self._wait_ready(read_fd, process)
        finally:
            os.close(read_fd)
        if not ready:
            self._stop([process])
            return None
        return process

    @staticmethod
    def _wait_ready(read_fd: int, process: subprocess.Popen) -> bool:
        import select

        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            readable, _, _ = select.select([read_fd], [], [], 0.2)
            if readable:
                return os.read(read_fd, 1) == b"1"
            if process.poll() is not None:
                return False
        return False

    def run(self) -> int:
        """Serve until stopped; return the exit status."""
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        try:
            for _ in range(self.count):
                process = self.spawn()
                if process is None:
                    self.out.write("a server process did not start; stopping\n")
                    self._stop(self.processes)
                    return 1
                self.processes.append(process)
            self.out.write(
                f"{self.count} processes (pids {self._pids()}), supervisor pid {os.getpid()}\n"
            )
            self.out.flush()
            self._watch()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._stop(self.processes)
        return 0

    def _pids(self) -> str:
        return ", ".join(str(process.pid) for process in self.processes)

    def _on_signal(self, signum, _frame) -> None:
        if signum == signal.SIGHUP:
            self._restart = True
        else:
            self._stopping = True

    def _watch(self) -> None:
        delays = [RESTART_DELAY] * self.count
        started = [time.monotonic()] * self.count
        while not self._stopping:
            if self._restart:
                self._restart = False
                self._rolling_restart()
            for i, process in enumerate(self.processes):
                if process.poll() is None or self._stopping:
                    continue
                # exited by itself: start it again, backing off while it keeps failing
                if time.monotonic() - started[i] < RESTART_DELAY * 10:
                    delays[i] = min(delays[i] * 2, 30.0)
                else:
                    delays[i] = RESTART_DELAY
                logger.warning(
                    "server process %d exited with %s; starting another in %.0fs",
                    process.pid,
                    process.returncode,
                    delays[i],
                )
                time.sleep(delays[i])
                if self._stopping:  # it exited because the stop signal reached it first
                    break
                replacement = self.spawn()
                if replacement is not None:
                    self.processes[i] = replacement
                    started[i] = time.monotonic()
            time.sleep(0.2)

    def _rolling_restart(self) -> None:
        for i, old in enumerate(list(self.processes)):
            if self._stopping:
                return
            new = self.spawn()
            if new is None:
                logger.warning("restart: a new server process did not start; keeping %d", old.pid)
                continue
            self.processes[i] = new
            self._stop([old])
        self.out.write(f"restarted: pids {self._pids()}\n")
        self.out.flush()

    @staticmethod
    def _stop(processes: Sequence[subprocess.Popen]) -> None:
        """SIGTERM each running process; SIGKILL those alive after ``STOP_TIMEOUT``."""
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
