"""
Fixtures of the browser tests: the real ``runwebsocket --http`` server in a
subprocess (test Redis, shared sqlite test database) and headless Chromium
driven by Playwright's sync API.

Chromium is Debian's ``/usr/bin/chromium`` (``$FLOORKIT_CHROMIUM`` overrides).
Without it, or without Playwright, the tests are skipped with a loud message,
and fail when ``$CI`` is set. Each test leaves screenshots of its pages and
the server's log under ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import warnings

import pytest

from floorkit.testing import free_port
from tests.conftest import ROOT, subprocess_env

CHROMIUM = os.environ.get("FLOORKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 10_000


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(process: subprocess.Popen) -> None:
    """Terminate ``process`` and wait for it (killing it after 10 s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Server:
    """``manage.py runwebsocket 127.0.0.1:<port> --http`` in a subprocess."""

    def __init__(self, port: int | None = None, name: str = "server", env: dict | None = None):
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> Server:
        ARTIFACTS.mkdir(exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 (the child process writes to it)
        log.write(f"--- start on port {self.port}\n")
        log.flush()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "runwebsocket",
                f"127.0.0.1:{self.port}",
                "--http",
                "--noreload",  # stop() ends this process; a reloader's child would live on
            ],
            cwd=ROOT,
            env=self.env or subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            wait_for_port(self.port, timeout, self.process)
        except Exception as exc:
            self.stop()
            raise RuntimeError(
                f"runwebsocket did not start ({exc}); see {self.log_path}:\n{self.log()}"
            ) from None
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def ws_server(redis_server, django_db_setup, django_db_blocker):
    """The site and its websocket, shared by the browser tests."""
    server = Server(name="server").start()
    yield server
    server.stop()


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FLOORKIT_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a test module."""
    missing = _browser_missing()
    if missing:
        message = f"BROWSER TESTS NOT RUN: {missing}"
        if os.environ.get("CI"):
            pytest.fail(message)
        warnings.warn(message, stacklevel=1)
        sys.stderr.write(f"\n\n*** {message} ***\n\n")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, which
    # makes Django refuse ORM calls in the test (SynchronousOnlyOperation).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Pages:
    """Opens pages in fresh browser contexts, remembers them for screenshots and console logs."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.pages: list = []
        self.contexts: list = []
        self.console: list[str] = []

    def new(self, *, session: str | None = None, base_url: str | None = None):
        """A page in a new context (its own cookies), logged in if ``session`` is a session key."""
        from django.conf import settings

        base = base_url or self.base_url
        context = self.browser.new_context(base_url=base)
        context.set_default_timeout(TIMEOUT_MS)
        if session:
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}]
            )
        page = context.new_page()
        index = len(self.pages)
        page.on(
            "console", lambda msg: self.console.append(f"[page {index}] {msg.type}: {msg.text}")
        )
        page.on("pageerror", lambda exc: self.console.append(f"[page {index}] pageerror: {exc}"))
        self.contexts.append(context)
        self.pages.append(page)
        return page

    def close(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        for index, page in enumerate(self.pages):
            suffix = f"-{index}" if len(self.pages) > 1 else ""
            try:
                page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}.png"), full_page=True)
            except Exception as exc:  # a closed page: nothing to show
                self.console.append(f"[page {index}] no screenshot: {exc}")
        if self.console:
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(self.console) + "\n")
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(request, browser, ws_server):
    """``pages.new()`` opens a page on the test server; screenshots land in test-artifacts/."""
    opened = Pages(browser, ws_server.url)
    yield opened
    opened.close(re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))


@pytest.fixture
def login(transactional_db):
    """``login("alice")`` creates the user and returns a session key for the browser's cookie."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    def login(username: str, password: str | None = None) -> str:
        password = password or f"{username}-password"
        get_user_model().objects.create_user(username, password=password)
        client = Client()
        assert client.login(username=username, password=password)
        from django.conf import settings

        return client.cookies[settings.SESSION_COOKIE_NAME].value

    return login


def wait_open(page) -> None:
    """Wait until the page's floorkit client has its hello."""
    page.wait_for_function("() => window.floorkit && floorkit.state === 'open'")
