"""`make demo` comes up, serves its URL, and Ctrl-C stops everything it started."""

import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

from floorkit.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_make_demo_serves_its_url_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    marker = f"FLOORKIT_DEMO_MARKER={uuid.uuid4().hex}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "FLOORKIT_REDIS_URL")
    }
    env.update(FLOORKIT_DEMO_DB=str(tmp_path / "demo.sqlite3"), PYTHONUNBUFFERED="1")
    env[marker.split("=")[0]] = marker.split("=")[1]
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"DEMO_ADDR=127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = []
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            match = re.search(r"floorkit demo: (http://\S+)", line)
            if match:
                url = match[1]
        assert url == f"http://127.0.0.1:{port}/", "".join(output)
        while not output[-1].startswith("Ctrl-C stops everything"):
            output.append(process.stdout.readline())
        body = None
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.3)
        assert body and "floorkit" in body
        text = "".join(output)
        assert "alice / alice-password" in text and "bob / bob-password" in text
        assert "WARNINGS" not in text  # a newcomer's first run is clean
        assert len(processes_with(marker)) >= 4  # make, rundemo, worker, site (+ Redis)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = process.communicate(timeout=30)
        output.append(rest)
    assert "demo stopped" in "".join(output)
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker) == [], "".join(output)
