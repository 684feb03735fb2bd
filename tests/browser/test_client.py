"""
floorkit.js in headless Chromium against the real ``runwebsocket --http``
server (a subprocess), with the demo chat page and the test app's signals.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import threading

import pytest

from tests.browser.conftest import Server, free_port, wait_open


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def messages(page) -> list[str]:
    return page.locator("#messages li").all_inner_texts()


@pytest.mark.django_db(transaction=True)
def test_click_calls_python_which_calls_javascript(pages, django_user_model):
    """Log in with the form, send a chat line: Python broadcasts it back to the page."""
    django_user_model.objects.create_user("alice", password="alice-password")
    page = pages.new()
    page.goto("/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{pages.base_url}/")
    expect(page.locator("#user")).to_have_text("alice")
    wait_open(page)
    expect(page.locator("#state")).to_have_text("open")
    assert page.evaluate("floorkit.user") == "alice"

    page.fill("#chat input[name=text]", "hello from the browser")
    page.click("#chat button")
    expect(page.locator("#messages li")).to_have_text(["[lobby] alice: hello from the browser"])
    expect(page.locator("#error")).to_have_text("")


def test_users_see_only_their_own_messages(pages, login, run_manage):
    from floorkit import User, call

    alice = pages.new(session=login("alice"))
    bob = pages.new(session=login("bob"))
    for page in (alice, bob):
        page.goto("/")
        wait_open(page)

    # From another process, to every tab of alice.
    text = json.dumps({"text": "for alice only", "room": "@alice", "author": "system"})
    fired = run_manage("firesignal", "demo.chat.show", "--to", "user:alice", "--kwargs", text)
    assert fired.returncode == 0, fired.stderr
    expect(alice.locator("#messages li")).to_have_text(["[@alice] system: for alice only"])

    # From bob's page: demo.chat.private goes to {USER: [alice]} and bob's own window.
    bob.fill("#private input[name=to]", "alice")
    bob.fill("#private input[name=text]", "psst")
    bob.click("#private button")
    expect(alice.locator("#messages li")).to_have_text(
        ["[@alice] system: for alice only", "[@alice] bob: psst"]
    )
    expect(bob.locator("#messages li")).to_have_text(["[@alice] bob: psst"])

    # From this process, to bob only.
    call("demo.chat.show", None, User("bob"), text="for bob only", room="@bob", author="system")
    expect(bob.locator("#messages li")).to_have_text(
        ["[@alice] bob: psst", "[@bob] system: for bob only"]
    )
    assert len(messages(alice)) == 2, messages(alice)


def test_cross_origin_page_cannot_open_a_socket(pages, ws_server):
    """A page of another origin gets no socket (HTTP 403 before the upgrade), so no hello."""
    ws_url = f"ws://127.0.0.1:{ws_server.port}/ws/floorkit/"
    html = f"""<!doctype html><title>evil</title><h1>another origin</h1><script>
        window.events = [];
        const ws = new WebSocket({json.dumps(ws_url)});
        ws.onopen = () => events.push("open");
        ws.onmessage = (e) => events.push("message " + e.data);
        ws.onerror = () => events.push("error");
        ws.onclose = (e) => {{ events.push("close " + e.code); window.done = true; }};
    </script>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{other.server_address[1]}"
        page = pages.new(base_url=origin)
        page.goto("/")
        page.wait_for_function("window.done === true")
        assert page.evaluate("events") == ["error", "close 1006"]
        assert any("Unexpected response code: 403" in line for line in pages.console), pages.console
    finally:
        other.shutdown()
        other.server_close()

    # What the browser cannot show: the server's answer to that upgrade.
    assert _upgrade_status(ws_server.port, origin) == 403
    assert _upgrade_status(ws_server.port, ws_server.url) == 101


def _upgrade_status(port: int, origin: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "GET",
            "/ws/floorkit/",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
                "Origin": origin,
            },
        )
        return conn.getresponse().status
    finally:
        conn.close()


def test_reconnects_after_a_server_restart(pages, login):
    """Kill the server, call while it is down, start it again: the call is delivered,
    and the message sent to the window meanwhile is replayed."""
    from floorkit import Window, call

    server = Server(name="restart-server").start()
    try:
        page = pages.new(session=login("carol"), base_url=server.url)
        sockets = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto("/")
        wait_open(page)
        window, token = page.evaluate("[floorkit.window, floorkit.token]")
        page.evaluate(
            "window.closes = []; floorkit.on('close', (e) => closes.push(e.code));"
            "window.recoveries = []; floorkit.on('recovery', (r) => recoveries.push(r)); null"
        )
        last = page.evaluate("floorkit.seq")

        server.stop()
        page.wait_for_function("floorkit.state !== 'open'")
        expect(page.locator("#state")).to_have_text("closed")
        assert page.evaluate("closes[0]") == 1001  # the server's shutdown code
        call("demo.chat.show", None, Window(window), text="missed", author="system")
        page.fill("#chat input[name=text]", "sent while the server was down")
        page.click("#chat button")
        page.evaluate(
            "window.echo = null;"
            "floorkit.call('tests.echo', {n: 1}).then((r) => { window.echo = r.results; }); null"
        )

        server.start()
        wait_open(page)
        expect(page.locator("#state")).to_have_text("open")
        expect(page.locator("#messages li")).to_have_text(
            ["[lobby] system: missed", "[lobby] carol: sent while the server was down"]
        )
        # replayed: the missed message, and the lobby's presence changes of this very
        # window (it left when its server stopped, and came back)
        assert page.evaluate("recoveries") == [{"after": last, "replayed": 3, "lost": False}]
        page.wait_for_function("window.echo !== null")
        assert page.evaluate("window.echo") == [{"n": 1}]
        # The window survived: the reconnect carried the token of the last hello.
        assert page.evaluate("floorkit.window") == window
        epoch = page.evaluate("floorkit.epoch")
        assert sockets[-1].endswith(f"?token={token}&last={last}&epoch={epoch}"), sockets
        assert page.locator("#error").inner_text() == ""
    finally:
        server.stop()


MODULE_PAGE = """<!doctype html><title>module</title><h1>floorkit.mjs</h1>
<script id="floorkit-config" type="application/json">{"url": "/ws/floorkit/"}</script>
%(classic)s
<script type="module">
  import floorkit, {call, connect, FloorkitError} from "/static/floorkit/floorkit.mjs";
  window.seen = [];
  connect("tests.local", (kwargs, meta) => seen.push(kwargs.n));
  window.check = {
    same: floorkit === window.floorkit,
    df: typeof df.call === "function" && typeof df.connect === "function",
    error: typeof FloorkitError === "function",
  };
  call("tests.local", {n: 1}).catch((err) => { window.check.kind = err.kind; });
  call("tests.anonymous", {text: "from a module"}).then((r) => { window.check.results = r.results; });
</script>"""


@pytest.mark.parametrize("classic", [False, True], ids=["module-only", "module-and-script"])
def test_es_module(pages, classic):
    page = pages.new()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    script = '<script src="/static/floorkit/floorkit.js"></script>' if classic else ""
    # A page of the site's origin without floorkit: a 404 page, whose document is replaced.
    # (A page.route()-fulfilled document would be "public" to Chrome's Local Network
    # Access checks, which then block its socket to 127.0.0.1.)
    page.goto("/module-test/")
    page.set_content(MODULE_PAGE % {"classic": script})
    wait_open(page)
    page.wait_for_function("window.check && window.check.results && window.check.kind")
    check = page.evaluate("window.check")
    assert check == {
        "same": True,
        "df": True,
        "error": True,
        "kind": "unknown_signal",
        "results": [{"user": None, "text": "from a module"}],
    }
    assert page.evaluate("seen") == [1]  # the local handler ran, once
    assert len(sockets) == 1, sockets  # one client even when loaded both ways


def test_call_rejections(pages):
    page = pages.new()
    page.goto("/")
    wait_open(page)
    outcome = page.evaluate(
        """async () => {
            const kind = (promise) => promise.then(
                (r) => "resolved",
                (e) => [e.kind, e.name, e instanceof floorkit.FloorkitError, e.signal]);
            return {
                unknown: await kind(floorkit.call("no.such.signal", {})),
                login: await kind(floorkit.call("demo.chat.message", {text: "hi"})),
                invalid: await kind(floorkit.call("tests.anonymous", {bogus: 1})),
                private: await kind(floorkit.call("tests.private", {})),
                local: await kind(floorkit.call("", {})),
                ok: await floorkit.call("tests.anonymous", {text: "fine"}),
            };
        }"""
    )
    name = "FloorkitError"
    assert outcome["unknown"] == ["unknown_signal", name, True, "no.such.signal"]
    assert outcome["login"] == ["login_required", name, True, "demo.chat.message"]
    assert outcome["invalid"] == ["invalid_arguments", name, True, "tests.anonymous"]
    assert outcome["private"] == ["not_allowed", name, True, "tests.private"]
    assert outcome["local"] == ["bad_request", name, True, None]
    assert outcome["ok"]["results"] == [{"user": None, "text": "fine"}]
    assert outcome["ok"]["jobs"] == []
    assert re.fullmatch(r"[0-9a-f]+", outcome["ok"]["trace"])
    assert page.evaluate("floorkit.state") == "open"  # refusals never close the socket

    # The demo page shows a refused call.
    page.fill("#chat input[name=text]", "anonymous says hi")
    page.click("#chat button")
    expect(page.locator("#error")).to_contain_text("login_required")


def test_calls_time_out_with_kind_timeout(pages, login):
    page = pages.new(session=login("tim"))
    page.goto("/")
    wait_open(page)
    outcome = page.evaluate(
        """async () => {
            const began = Date.now();
            const late = await floorkit.call("tests.sleep", {seconds: 2}, {timeout: 300}).then(
                () => "resolved", (e) => [e.kind, e.signal, e instanceof floorkit.FloorkitError]);
            const waited = Date.now() - began;
            const quick = await floorkit.call("tests.sleep", {seconds: 0.05}, {timeout: 5000});
            return {late, waited, quick: quick.results.length, byDefault: floorkit.options.callTimeout};
        }"""
    )
    assert outcome["late"] == ["timeout", "tests.sleep", True]
    assert 250 <= outcome["waited"] < 1500  # the call's own timeout, not the handler's 2 s
    assert outcome["quick"] == 1  # an answer in time resolves as usual
    assert outcome["byDefault"] == 30000  # on by default
    assert page.evaluate("floorkit.state") == "open"  # a timeout never closes the socket


def test_local_handlers_and_targets(pages, login):
    """Without `to` the tab's handlers run at once; with `to` only the server delivers."""
    page = pages.new(session=login("dave"))
    page.goto("/")
    wait_open(page)
    page.evaluate(
        """async () => {
            window.seen = [];
            floorkit.connect("tests.jsonly", (kw, meta) =>
                seen.push([kw.n, meta.local === true, meta.signal, typeof meta.trace]));
            const first = floorkit.call("tests.jsonly", {n: 1});
            window.synchronous = seen.length;
            window.first = await first;
            await floorkit.call("tests.jsonly", {n: 2}, {to: ["WINDOW"]});
            // The server's delivery may come after the result frame: wait for it.
            while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
            df.connect("tests.jsonly", (kw) => seen.push(["df", kw.n]));
            await df.call("tests.jsonly", {n: 3});
        }"""
    )
    page.wait_for_function("seen.length >= 4")
    page.wait_for_timeout(300)  # nothing more comes
    assert page.evaluate("synchronous") == 1
    assert page.evaluate("first.results") == []
    assert page.evaluate("seen") == [
        [1, True, "tests.jsonly", "object"],  # local, trace null
        [2, False, "tests.jsonly", "string"],  # from the server
        [3, True, "tests.jsonly", "object"],
        ["df", 3],
    ]


def test_delayed_job_reports_progress_to_the_window(pages, login, run_worker):
    """The demo's report button: an RQ job (a real worker) calls the tab back, step by step."""
    page = pages.new(session=login("erin"))
    page.goto("/")
    wait_open(page)
    page.evaluate(
        "window.steps = []; floorkit.connect('demo.job.progress', (kw) => steps.push(kw.step));"
        "floorkit.call('demo.report.build', {year: 2026}).then((r) => { window.built = r; }); null"
    )
    page.wait_for_function("window.built")
    built = page.evaluate("built")
    assert built["results"] == [] and len(built["jobs"]) == 1, built
    run_worker("default")
    page.wait_for_function("steps.length === 5")
    assert page.evaluate("steps") == [1, 2, 3, 4, 5]
    expect(page.locator("#progress")).to_have_attribute("value", "5")


def test_signal_frames_run_in_arrival_order(pages):
    from floorkit import Window, call

    page = pages.new()
    page.goto("/")
    wait_open(page)
    page.evaluate(
        "window.got = []; floorkit.connect('demo.job.progress', (kw) => got.push(kw.step)); null"
    )
    window = page.evaluate("floorkit.window")
    for step in range(40):
        call("demo.job.progress", None, Window(window), step=step, of=40)
    page.wait_for_function("got.length === 40")
    assert page.evaluate("got") == list(range(40))
    expect(page.locator("#progress")).to_have_attribute("value", "39")


HELLO = {"type": "hello", "window": "w1", "token": "w1.sig", "user": None, "heartbeat": 20}


def test_dead_connection_is_dropped_and_reopened(pages):
    """A server that stops answering pings: after three unanswered pings the client
    closes the socket and reconnects with the window token (websocket mocked)."""
    connections = []

    def server(ws):
        number = len(connections)
        received = []
        connections.append({"url": ws.url, "received": received})
        hello = {"type": "hello", "window": "w1", "token": "w1.sig", "user": None}
        ws.send(json.dumps({**hello, "heartbeat": 0.3}))

        def on_message(message):
            frame = json.loads(message)
            received.append(frame["type"])
            if number > 0 and frame["type"] == "ping":
                ws.send('{"type": "pong"}')

        ws.on_message(on_message)

    page = pages.new()
    page.route_web_socket(re.compile(r"/ws/floorkit/"), server)
    page.goto("/")
    wait_open(page)
    page.evaluate("window.closes = []; floorkit.on('close', (e) => closes.push(e.code)); null")
    page.wait_for_function("closes.length === 1")
    assert page.evaluate("closes") == [4000]
    wait_open(page)
    assert connections[0]["received"] == ["ping", "ping", "ping"]
    assert connections[1]["url"].endswith("/ws/floorkit/?token=w1.sig")
    page.wait_for_timeout(700)  # answered pings keep it open
    assert page.evaluate("[floorkit.state, closes.length]") == ["open", 1]


def _mock_socket(page, answer):
    """Replace the page's websocket server by ``answer(ws, number, frame)``; return the
    list of connections ({"url", "received"})."""
    connections = []

    def server(ws):
        number = len(connections)
        received = []
        connections.append({"url": ws.url, "received": received})

        def on_message(message):
            frame = json.loads(message)
            received.append(frame)
            answer(ws, number, frame)

        ws.on_message(on_message)
        answer(ws, number, None)

    page.route_web_socket(re.compile(r"/ws/floorkit/"), server)
    return connections


def test_sequence_numbers_skip_duplicates_and_resume(pages):
    """Signals at or below the last seq are skipped (frames without seq, such as replayed
    handler results, never are); a reconnect asks for what came after the last one."""
    signal = {"type": "signal", "signal": "demo.chat.show", "trace": "t"}

    def answer(ws, number, frame):
        if frame is None and number == 0:
            ws.send(json.dumps({**HELLO, "seq": 3}))
            for seq in (4, 4, 5, 3):
                ws.send(
                    json.dumps({**signal, "id": f"m{seq}", "seq": seq, "kwargs": {"text": seq}})
                )
            ws.send(json.dumps({**signal, "id": "r", "kwargs": {"text": "no seq"}}))
        elif frame is None:
            ws.send(json.dumps({**HELLO, "seq": 5}))
            ws.send('{"type": "recovery", "after": 5, "replayed": 0, "lost": true}')

    page = pages.new()
    connections = _mock_socket(page, answer)
    page.goto("/")
    wait_open(page)
    expect(page.locator("#messages li .text")).to_have_text(["4", "5", "no seq"])
    page.evaluate(
        "window.recoveries = []; floorkit.on('recovery', (r) => recoveries.push(r)); null"
    )
    assert page.evaluate("floorkit.seq") == 5
    page.evaluate("floorkit.stop(); floorkit.start()")
    page.wait_for_function("recoveries.length === 1")
    assert page.evaluate("recoveries") == [{"after": 5, "replayed": 0, "lost": True}]
    assert connections[1]["url"].endswith("/ws/floorkit/?token=w1.sig&last=5")


def test_anonymous_refused_stops_reconnecting(pages):
    """Close code 4003 (ALLOW_ANONYMOUS off): no retry, waiting calls are refused."""

    def answer(ws, number, frame):
        if frame is None:
            ws.close(code=4003, reason="login required")

    page = pages.new()
    page.add_init_script(
        "window.addEventListener('DOMContentLoaded', () => {"
        " window.refused = null; window.closes = [];"
        " floorkit.on('close', (e) => closes.push(e.code));"
        " floorkit.call('tests.anonymous', {}).catch((e) => { refused = e.kind; });"
        "})"
    )
    connections = _mock_socket(page, answer)
    page.goto("/")
    page.wait_for_function("window.refused !== null && window.refused !== undefined")
    assert page.evaluate("[refused, closes, floorkit.state]") == [
        "login_required",
        [4003],
        "closed",
    ]
    page.wait_for_timeout(1000)  # past the first backoff delay: no second attempt
    assert len(connections) == 1
