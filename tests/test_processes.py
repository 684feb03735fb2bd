"""runwebsocket --processes N: several server processes on one port, one supervisor."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import websocket

from floorkit import BROADCAST, SignalRequest, call
from floorkit.testing import Server, Tab, free_port
from tests.conftest import ROOT, subprocess_env
from tests.test_logout import closed_within


def supervised(processes: str = "2") -> Server:
    return Server(subprocess_env(), arguments=["--processes", processes]).start()


def banner_pids(server: Server, count: int, timeout: float = 30) -> list[int]:
    """The pids the supervisor printed once all its processes listened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"(\d+) processes \(pids ([\d, ]+)\)", server.server.outputs()[0])
        if found:
            assert int(found[-1][0]) == count
            return [int(pid) for pid in found[-1][1].split(", ")]
        time.sleep(0.1)
    raise AssertionError(f"no supervisor banner:\n{server.server.output()}")


def pids_serving(server: Server, tabs: int = 24) -> set[int]:
    opened = [Tab(server.url) for _ in range(tabs)]
    try:
        return {tab.call("tests.pid")["results"][0] for tab in opened}
    finally:
        for tab in opened:
            tab.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of the supervisor counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, [pid for pid in pids if alive(pid)]
        time.sleep(0.1)


def test_two_processes_share_the_port_and_reach_each_others_tabs(redis_server):
    server = supervised("2")
    try:
        children = banner_pids(server, 2)
        assert pids_serving(server) == set(children)  # the kernel spreads tabs over both
        tabs = [Tab(server.url) for _ in range(12)]
        served = {tab.call("tests.pid")["results"][0] for tab in tabs}
        assert served == set(children)
        call("tests.jsonly", SignalRequest(), BROADCAST, n=7)  # one publish, every process
        for tab in tabs:
            frame = tab.wait_for(lambda f: f["type"] == "signal", timeout=5)
            assert frame["kwargs"] == {"n": 7}
            tab.close()
    finally:
        server.stop()


def test_sigterm_stops_every_process_and_closes_tabs_with_1001(redis_server):
    server = supervised("2")
    children = banner_pids(server, 2)
    tabs = [Tab(server.url) for _ in range(6)]
    os.kill(server.process.pid, signal.SIGTERM)  # the supervisor alone, as a service manager
    for tab in tabs:
        code, _, _ = closed_within(tab, 10)
        assert code == 1001
    assert server.process.wait(timeout=15) == 0
    wait_gone(children)
    assert server.stop()[0].count("stopped") == 3  # each process, then the supervisor


def test_sighup_restarts_the_processes_one_at_a_time_without_refusing_connections(
    redis_server,
):
    server = supervised("2")
    try:
        old = banner_pids(server, 2)
        refused = []
        stop = threading.Event()

        def keep_connecting():
            while not stop.is_set():
                try:
                    socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
                except OSError as exc:
                    refused.append(exc)
                time.sleep(0.01)

        prober = threading.Thread(target=keep_connecting)
        prober.start()
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "restarted: pids" not in server.server.outputs()[0]:
            assert time.monotonic() < deadline, server.server.output()
            time.sleep(0.1)
        stop.set()
        prober.join()
        assert refused == []
        new = [
            int(p)
            for p in re.findall(r"restarted: pids ([\d, ]+)", server.server.outputs()[0])[-1].split(
                ", "
            )
        ]
        assert set(new).isdisjoint(old)
        wait_gone(old)
        assert pids_serving(server) == set(new)
    finally:
        server.stop()


def test_a_process_that_dies_is_started_again(redis_server):
    server = supervised("2")
    try:
        first, second = banner_pids(server, 2)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            try:
                serving = pids_serving(server)
            except (OSError, websocket.WebSocketException):
                # connections the kernel had queued for the killed process are reset
                serving = set()
            if len(serving) == 2 and first not in serving:
                break
            assert time.monotonic() < deadline, serving
            time.sleep(0.5)
        assert second in serving
    finally:
        server.stop()


def test_processes_0_is_one_per_core(redis_server):
    server = supervised("0")
    try:
        assert len(banner_pids(server, os.cpu_count() or 1)) == (os.cpu_count() or 1)
    finally:
        server.stop()


def run_command(*arguments: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "runwebsocket", *arguments],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_port_in_use_is_a_one_line_error():
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    try:
        result = run_command(f"127.0.0.1:{port}", "--processes", "2")
    finally:
        held.close()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"CommandError: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--processes", "-1"], "--processes -1: give a count, or 0 for one per core"),
        (["--processes", "2", "--reload"], "--reload restarts one process"),
    ],
)
def test_bad_process_options_are_one_line_errors(arguments, message):
    result = run_command(f"127.0.0.1:{free_port()}", *arguments)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
