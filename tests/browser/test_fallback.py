"""
The JS client's HTTP fallback in headless Chromium: websockets blocked at the
network level by a proxy in front of the real ``runwebsocket --http`` server
(it answers websocket upgrades with 403 while blocking, as a corporate proxy
does, and passes everything else through), calls over POST /floorkit/call/,
pushed messages by polling, and the way back to the websocket.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.urls import path

from tests.browser.conftest import Server, free_port, wait_open
from tests.conftest import ROOT

# A URLconf without floorkit.urls (for the template tag test below).
urlpatterns = [path("", lambda request: None, name="index")]


class WebsocketBlocker:
    """
    A TCP proxy to ``upstream_port`` that refuses websocket upgrades with HTTP 403
    while ``blocked`` (and can cut the websockets it let through), like a proxy
    that does not allow websockets. Plain HTTP requests always pass.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.blocked = True
        self.refused = 0  # upgrades answered with 403
        self.upgrades: list[str] = []  # request lines of the upgrades let through
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sockets: list[tuple[socket.socket, socket.socket, bool]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    client.close()
                    return
                head += chunk
        except OSError:
            client.close()
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        is_upgrade = b"\r\nupgrade: websocket" in head.lower()
        if is_upgrade and self.blocked:
            self.refused += 1
            client.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            upstream.sendall(head)
        except OSError:  # the server is down: so is the site behind the proxy
            client.close()
            return
        with self.lock:
            if is_upgrade:
                self.upgrades.append(request_line)
            self.sockets.append((client, upstream, is_upgrade))
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def block(self, *, cut: bool = False) -> None:
        """Refuse new websockets; with ``cut``, also kill the open ones (no close frame)."""
        self.blocked = True
        if cut:
            with self.lock:
                for client, upstream, is_upgrade in self.sockets:
                    if is_upgrade:
                        for sock in (client, upstream):
                            try:
                                sock.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass

    def unblock(self) -> None:
        self.blocked = False

    def close(self) -> None:
        self.listener.close()
        self.block(cut=True)
        with self.lock:
            for client, upstream, _ in self.sockets:
                client.close()
                upstream.close()


@pytest.fixture(scope="module")
def fallback_server(redis_server, django_db_setup, django_db_blocker):
    """The site with long polls of 4 s: redis-py 8 reads with a 5 s socket timeout by
    default, which fails the XREAD of a longer idle long poll (503 redis_unavailable)."""
    previous = os.environ.get("FLOORKIT_TEST_OVERRIDES")
    os.environ["FLOORKIT_TEST_OVERRIDES"] = json.dumps({"LONG_POLL": 4})
    try:
        server = Server(name="fallback-server").start()
    finally:
        if previous is None:
            del os.environ["FLOORKIT_TEST_OVERRIDES"]
        else:
            os.environ["FLOORKIT_TEST_OVERRIDES"] = previous
    yield server
    server.stop()


@pytest.fixture
def blocker(fallback_server):
    proxy = WebsocketBlocker(fallback_server.port)
    yield proxy
    proxy.close()


# Run before the page's scripts: tweak floorkit's config (read at DOMContentLoaded) and
# record what the page sees.
WATCH = """
window.modes = []; window.recoveries = []; window.closes = []; window.got = [];
document.addEventListener("DOMContentLoaded", () => {  // before floorkit's listener
  const config = document.getElementById("floorkit-config");
  config.textContent = JSON.stringify(Object.assign(JSON.parse(config.textContent), %s));
  floorkit.on("mode", (event) => modes.push(event.mode));
  floorkit.on("recovery", (event) => recoveries.push(event));
  floorkit.on("close", (event) => closes.push(event.code));
  floorkit.connect("tests.jsonly", (kwargs, meta) => got.push([kwargs.n, meta.seq]));
});
"""


def watch(page, **config) -> None:
    page.add_init_script(WATCH % json.dumps(config))


class Requests:
    """The page's requests to the floorkit endpoints, by kind."""

    def __init__(self, page) -> None:
        self.seen: list[tuple[float, str, str]] = []
        page.on("request", self._record)

    def _record(self, request) -> None:
        for kind in ("window", "call", "poll"):
            if f"/floorkit/{kind}/" in request.url:
                self.seen.append((time.monotonic(), request.method, kind))

    def count(self, kind: str, method: str | None = None) -> int:
        return sum(1 for _, m, k in self.seen if k == kind and (method is None or m == method))


def tab_request(page, session_key: str, username: str):
    """The SignalRequest of the page's window, to send it messages from this process."""
    from django.contrib.auth import get_user_model

    from floorkit import SignalRequest
    from floorkit.signals.identity import session_id

    user = get_user_model().objects.get(username=username)
    return SignalRequest(
        user_id=user.pk,
        username=username,
        session=session_id(session_key),
        window=page.evaluate("floorkit.window"),
    )


def send_numbers(request, values) -> None:
    """``tests.jsonly(n=...)`` to the window, its session, its user and everyone, in turn."""
    from floorkit import BROADCAST, SESSION, USER, WINDOW, call

    targets = [WINDOW, SESSION, USER, BROADCAST, [SESSION, USER]]
    for n in values:
        call("tests.jsonly", request, targets[n % len(targets)], n=n)


def numbers(page) -> list[int]:
    return [n for n, _ in page.evaluate("got")]


def test_blocked_websocket_falls_back_to_http(pages, login, blocker):
    """Websockets refused from the start: calls, pushes (in order, once) and replayed
    handler results all work over HTTP, and nothing replayed is sent back."""
    from playwright.sync_api import expect

    session = login("frank")
    page = pages.new(session=session, base_url=blocker.url)
    watch(page, probeMin=30)  # no background websocket attempt during this test
    requests = Requests(page)
    page.goto("/")
    page.wait_for_function("floorkit.mode === 'http' && floorkit.state === 'open'")
    assert page.evaluate("modes") == ["http"]
    assert blocker.refused >= 3 and blocker.upgrades == []
    failed = page.evaluate("closes")  # the websockets that never opened, before the switch
    assert len(failed) >= 3 and set(failed) == {1006}
    expect(page.locator("#state")).to_have_text("open")

    # A click in the chat: the call goes over POST, the broadcast comes back by polling.
    page.fill("#chat input[name=text]", "hello over HTTP")
    page.click("#chat button")
    expect(page.locator("#messages li")).to_have_text(["[lobby] frank: hello over HTTP"])
    expect(page.locator("#error")).to_have_text("")

    # 30 messages from this process to the tab's window, session, user and everyone.
    send_numbers(tab_request(page, session, "frank"), range(30))
    page.wait_for_function("got.length >= 30")
    got = page.evaluate("got")
    assert [n for n, _ in got] == list(range(30))  # in order, no duplicates
    seqs = [seq for _, seq in got]
    assert seqs == sorted(set(seqs)) and page.evaluate("floorkit.seq") == seqs[-1]

    # Same result shape and rejection kinds as over the websocket.
    outcome = page.evaluate(
        """async () => {
            const kind = (promise) => promise.then(
                (r) => "resolved",
                (e) => [e.kind, e instanceof floorkit.FloorkitError, e.signal]);
            window.replayed = [];
            floorkit.connect("tests.jsonly", (kwargs, meta) =>
                replayed.push([kwargs.step, meta.seq, typeof meta.trace]));
            const result = await floorkit.call("tests.replay", {n: 3});
            return {
                keys: Object.keys(result).sort(),
                result: result,
                unknown: await kind(floorkit.call("no.such.signal", {})),
                invalid: await kind(floorkit.call("tests.anonymous", {bogus: 1})),
                private: await kind(floorkit.call("tests.private", {})),
            };
        }"""
    )
    assert outcome["keys"] == ["jobs", "results", "trace"]
    assert outcome["result"]["jobs"] == []
    assert outcome["result"]["results"] == [
        [{"signal": "tests.jsonly", "options": {"step": step}} for step in range(3)]
    ]
    assert outcome["unknown"] == ["unknown_signal", True, "no.such.signal"]
    assert outcome["invalid"] == ["invalid_arguments", True, "tests.anonymous"]
    assert outcome["private"] == ["not_allowed", True, "tests.private"]
    # The returned messages ran here, in order, before the promise resolved (no seq: they
    # are not in the window's log), and were never sent back: one POST per call.
    assert page.evaluate("replayed") == [[step, None, "string"] for step in range(3)]
    page.wait_for_timeout(1200)  # a poll or two later: still nothing sent back
    assert requests.count("call", "POST") == 5  # the chat line, tests.replay, three refusals
    assert page.evaluate("replayed.length") == 3
    assert requests.count("window", "POST") == 1
    assert page.evaluate("[floorkit.mode, floorkit.state, closes]") == ["http", "open", failed]


def test_unblocking_brings_the_page_back_to_the_websocket(pages, login, blocker):
    """Messages keep coming while the page switches from polling to a websocket: none is
    lost or duplicated, and polling stops."""
    session = login("grace")
    page = pages.new(session=session, base_url=blocker.url)
    watch(page, probeMin=0.5, probeMax=1)
    requests = Requests(page)
    page.goto("/")
    page.wait_for_function("floorkit.mode === 'http' && floorkit.state === 'open'")
    window, token, failed = page.evaluate("[floorkit.window, floorkit.token, closes]")
    request = tab_request(page, session, "grace")

    stop = threading.Event()
    sent: list[int] = []

    def keep_sending() -> None:
        n = 0
        while not stop.is_set():
            send_numbers(request, [n])
            sent.append(n)
            n += 1
            time.sleep(0.02)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        time.sleep(0.6)
        assert page.evaluate("floorkit.mode") == "http"
        blocker.unblock()
        page.wait_for_function("floorkit.mode === 'websocket'", timeout=5000)
        time.sleep(0.5)
    finally:
        stop.set()
        sender.join()
    page.wait_for_function(f"got.length >= {len(sent)}")
    page.wait_for_timeout(300)  # nothing more comes
    assert numbers(page) == sent  # around the switch: all of them, in order, once
    assert len(sent) > 30
    assert page.evaluate("modes") == ["http", "websocket"]
    assert page.evaluate("[floorkit.state, floorkit.window, closes]") == ["open", window, failed]
    # The websocket reclaimed the window and resumed from the polling cursor.
    assert blocker.upgrades and f"?token={token}&last=" in blocker.upgrades[0]

    polls = requests.count("poll")
    page.wait_for_timeout(1500)  # more than a poll interval
    assert requests.count("poll") == polls  # polling stopped
    assert page.evaluate("floorkit.call('tests.echo', {n: 1})")["results"] == [{"n": 1}]
    assert requests.count("call") == 0  # calls go over the websocket again


def test_polls_delivered_before_the_hello_are_not_run_twice(pages, login, blocker):
    """The race of the switch: the websocket's URL says ``last=N``, polls then deliver
    messages after N, and only then comes the hello, whose replay repeats them."""
    session = login("ruth")
    page = pages.new(session=session, base_url=blocker.url)
    watch(page, probeMin=0.3, probeMax=0.3)
    sockets: list[dict] = []

    def route(ws) -> None:
        if blocker.blocked:
            ws.close(code=4000, reason="blocked by the test")  # before any hello
            return
        held: list = []
        entry = {"url": ws.url, "held": held, "holding": True, "page": ws}
        sockets.append(entry)
        server = ws.connect_to_server()

        def from_server(message) -> None:
            if entry["holding"]:
                held.append(message)
            else:
                ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/floorkit/"), route)
    page.goto("/")
    page.wait_for_function("floorkit.mode === 'http' && floorkit.state === 'open'")
    request = tab_request(page, session, "ruth")
    send_numbers(request, range(3))
    page.wait_for_function("got.length === 3")

    blocker.unblock()  # the next attempt reaches the server; its frames are held
    deadline = time.monotonic() + 5
    while not (sockets and sockets[0]["held"]) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    hello = json.loads(sockets[0]["held"][0])
    assert hello["type"] == "hello" and f"last={hello['seq']}" in sockets[0]["url"]
    send_numbers(request, range(3, 8))  # polled while the hello waits
    page.wait_for_function("got.length === 8")
    assert page.evaluate(f"[floorkit.mode, floorkit.seq > {hello['seq']}]") == ["http", True]

    entry = sockets[0]
    entry["holding"] = False
    for message in entry["held"]:  # hello, the replay of 3..7, recovery, live messages
        entry["page"].send(message)
    page.wait_for_function("floorkit.mode === 'websocket'")
    send_numbers(request, range(8, 10))
    page.wait_for_function("got.length >= 10")
    page.wait_for_timeout(200)
    assert numbers(page) == list(range(10))


def test_websocket_lost_mid_session_keeps_the_window(pages, login, blocker):
    """A page on a websocket whose proxy starts refusing it: HTTP mode keeps the window
    and its cursor, so what was sent meanwhile is recovered by the first poll."""
    session = login("heidi")
    blocker.unblock()
    page = pages.new(session=session, base_url=blocker.url)
    watch(page, probeMin=30, backoffMin=0.2)
    page.goto("/")
    wait_open(page)
    window, before = page.evaluate("[floorkit.window, floorkit.seq]")
    request = tab_request(page, session, "heidi")

    blocker.block(cut=True)
    page.wait_for_function("closes.length >= 1")
    send_numbers(request, range(5))  # while the page has no connection at all
    page.wait_for_function("floorkit.mode === 'http'")
    page.wait_for_function("got.length >= 5")
    send_numbers(request, range(5, 8))
    page.wait_for_function("got.length >= 8")
    page.wait_for_timeout(300)
    assert numbers(page) == list(range(8))
    assert page.evaluate("floorkit.window") == window
    recoveries = page.evaluate("recoveries")
    assert recoveries[0]["after"] == before and recoveries[0]["lost"] is False
    assert recoveries[0]["replayed"] >= 1


def test_without_websocket_or_without_fallback(pages, blocker, transactional_db):
    """A browser without WebSocket goes to HTTP at once; pollInterval 0 disables the
    fallback (the client keeps trying websockets and never calls the endpoints)."""
    page = pages.new(base_url=blocker.url)
    page.add_init_script("delete window.WebSocket")
    watch(page)
    page.goto("/")
    page.wait_for_function("floorkit.mode === 'http' && floorkit.state === 'open'")
    result = page.evaluate("floorkit.call('tests.anonymous', {text: 'no socket'})")
    assert result["results"] == [{"user": None, "text": "no socket"}]

    page = pages.new(base_url=blocker.url)
    watch(page, pollInterval=0, backoffMin=0.05, backoffMax=0.1)
    requests = Requests(page)
    page.goto("/")
    page.wait_for_function("closes.length >= 6")
    assert page.evaluate("[floorkit.mode, modes]") == ["websocket", []]
    assert requests.seen == []


LOG_CONSOLE = """
window.logged = [];
const log = console.log;
console.log = (...values) => { logged.push(values.map(String).join(" ")); log(...values); };
"""


def js_examples() -> list[str]:
    text = (ROOT / "docs" / "js.md").read_text()
    return re.findall(r"^```js\n(.*?)^```$", text, re.S | re.M)


@pytest.mark.parametrize("mode", ["websocket", "http"])
def test_js_md_examples(pages, login, blocker, mode):
    """Every ``js`` example of docs/js.md, in order, on the demo page, in both modes."""
    examples = js_examples()
    assert len(examples) >= 8
    if mode == "websocket":
        blocker.unblock()
    page = pages.new(session=login("ivan"), base_url=blocker.url)
    page.add_init_script(LOG_CONSOLE)
    watch(page, probeMin=30)
    page.goto("/")
    page.wait_for_function(f"floorkit.mode === '{mode}' && floorkit.state === 'open'")
    for example in examples:
        page.evaluate("(code) => { (0, eval)(code); }", example)
    expected = [
        "sent [object Object] ",  # results, jobs, trace
        "one of my tabs said to all my tabs",
        "df got from DjangoFloor code",
        "ivan: hello ",  # author: text, seq, trace
        "job ",
        "fetched 200",
        f"open {mode} ",  # state, mode, window, user, seq
        'inline only: [{"sent":true}]',  # {wait: true} without delayed handlers: at once
    ]
    page.wait_for_function(
        "(expected) => expected.every((line) => logged.some((l) => l.startsWith(line)))",
        arg=expected,
    )
    page.wait_for_timeout(300)
    logged = page.evaluate("logged")
    assert sum(line == "one of my tabs said to all my tabs" for line in logged) == 1, logged
    trace = next(line for line in logged if line.startswith("job ")).split()[-1]
    assert re.fullmatch(r"[0-9a-f]{16}", trace), logged
    polling = [line for line in logged if line.startswith("no websocket: polling every")]
    assert polling == (["no websocket: polling every 1000 ms"] if mode == "http" else [])
    assert not [line for line in pages.console if "pageerror" in line], pages.console
    assert page.locator("#error").inner_text() == ""


def render(source: str) -> dict:
    html = Template("{% load floorkit %}" + source).render(Context())
    start = html.index(">", html.index('id="floorkit-config"')) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_tag_config_of_the_fallback():
    assert render("{% floorkit_config %}") == {
        "url": "/ws/floorkit/",
        "windowUrl": "/floorkit/window/",
        "callUrl": "/floorkit/call/",
        "pollUrl": "/floorkit/poll/",
        "pollInterval": 1000,
    }
    with override_settings(FLOORKIT={"POLL_INTERVAL": 100}):
        assert render("{% floorkit_config %}")["pollInterval"] == 500  # the minimum
    with override_settings(FLOORKIT={"POLL_INTERVAL": 0}):
        assert render("{% floorkit_config %}") == {"url": "/ws/floorkit/", "pollInterval": 0}
    with override_settings(ROOT_URLCONF=__name__):  # floorkit.urls not included
        assert render("{% floorkit_js %}") == {"url": "/ws/floorkit/", "pollInterval": 0}
    with override_settings(CSRF_COOKIE_NAME="csrf", CSRF_HEADER_NAME="HTTP_X_CSRF"):
        config = render("{% floorkit_config %}")
        assert config["csrfCookie"] == "csrf" and config["csrfHeader"] == "X-CSRF"
