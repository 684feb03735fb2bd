"""
Every demo page (demo/templates/demo/) driven end to end in headless Chromium,
against the real ``runwebsocket --http`` server and a real RQ worker, asserting
what a user sees. Each test saves its page as ``test-artifacts/demo-<page>.png``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.browser.conftest import ARTIFACTS, stop_process, wait_open
from tests.conftest import ROOT, subprocess_env


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"demo-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def worker(ws_server):
    """``manage.py rqworker default slow`` running in the background, as ``make demo`` does."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "demo-worker.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "rqworker", "default", "slow"],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield process
    stop_process(process)


def open_page(pages, path: str, session: str | None = None):
    page = pages.new(session=session)
    page.goto(path)
    wait_open(page)
    return page


@pytest.mark.django_db(transaction=True)
def test_chat(pages, django_user_model):
    """Log in with the switch; a broadcast reaches every tab, a private message only its user."""
    for name in ("alice", "bob"):
        django_user_model.objects.create_user(name, password=f"{name}-password")
    alice, bob, anonymous = (open_page(pages, "/") for _ in range(3))
    for page, name in ((alice, "alice"), (bob, "bob")):
        expect(page.locator("header.who")).to_contain_text("Not logged in")
        page.click(f"form.switch button:text-is('{name}')")
        expect(page.locator("#user")).to_have_text(name)
        expect(page.locator(f"form.switch button:text-is('{name}')")).to_be_disabled()
        wait_open(page)
        assert page.url == f"{pages.base_url}/"

    alice.fill("#chat input[name=text]", "hello everyone")
    alice.click("#chat button")
    for page in (alice, bob, anonymous):
        expect(page.locator("#messages li")).to_have_text(["[lobby] alice: hello everyone"])

    bob.fill("#private input[name=to]", "alice")
    bob.fill("#private input[name=text]", "psst, alice")
    bob.click("#private button")
    for page in (alice, bob):
        expect(page.locator("#messages li.private")).to_have_text(["[@alice] bob: psst, alice"])
    anonymous.fill("#chat input[name=text]", "may I?")
    anonymous.click("#chat button")
    expect(anonymous.locator("#error")).to_contain_text("login_required")
    assert anonymous.locator("#messages li").count() == 1  # never saw the private message

    # The nav links every page.
    links = alice.locator("nav a").all_inner_texts()
    assert links == ["Chat", "Rooms", "Long job", "AsyncSignal", "Resilience", "Trace"]
    screenshot(alice, "chat")


def test_long_job(pages, login, worker):
    """The page awaits its job: each step moves the bar; one job finishes, the next is cancelled."""
    page = open_page(pages, "/job/", login("erin"))
    page.click("#start")
    expect(page.locator("#status")).to_have_text(re.compile(r"queued|started on a worker|step"))
    expect(page.locator("#status")).to_have_text("finished (10 steps)", timeout=15_000)
    expect(page.locator("#result")).to_have_text('{"outcome":"finished","step":10,"of":10}')
    expect(page.locator("#progress")).to_have_attribute("value", "10")
    expect(page.locator("#cancel")).to_be_disabled()

    page.click("#start")
    page.wait_for_function("document.querySelector('#progress').value >= 2")
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text(re.compile(r"cancelled after step [2-5] of 10"))
    step = page.evaluate("document.querySelector('#progress').value")
    page.wait_for_timeout(700)  # more than two steps: the job stopped
    assert page.evaluate("document.querySelector('#progress').value") == step < 10
    expect(page.locator("#start")).to_be_enabled()
    expect(page.locator("#error")).to_have_text("")
    screenshot(page, "job")


def test_async_signal(pages, login, worker):
    """Saving a Note sends an AsyncSignal; its receivers fill the log in from the worker."""
    from demo.models import Note

    page = open_page(pages, "/notes/", login("fiona"))
    page.fill("#note input[name=text]", "floorkit runs receivers elsewhere")
    page.click("#note button")
    lines = page.locator("#log li .line")
    expect(lines).to_have_count(5)
    texts = lines.all_inner_texts()
    note = Note.objects.get(text="floorkit runs receivers elsewhere")
    assert note.author.username == "fiona"
    assert texts[0] == "browser: calling demo.notes.save"
    web = [t for t in texts if t.startswith("web: ")]
    assert len(web) == 1 and re.fullmatch(
        rf"web: saved note #{note.pk}, sent note_saved as RQ job [0-9a-f]{{32}}", web[0]
    ), texts
    assert [t for t in texts[1:] if not t.startswith("web: ")] == [
        f"worker: received note #{note.pk} by fiona",
        f"count_words: 4 word(s) in note #{note.pk}",
        "count_notes: fiona has saved 1 note(s)",
    ]
    # The log shows when each line arrived: the slow receiver's line comes later.
    times = [int(t[1:-3]) for t in page.locator("#log li .at").all_inner_texts()]
    assert times == sorted(times) and times[-1] >= 400, times
    expect(page.locator("#notes li").first).to_have_text("floorkit runs receivers elsewhere")
    screenshot(page, "notes")


def test_resilience(pages, login, worker):
    """The page drops its socket for 3 s while a worker sends 20 messages: all 20 arrive,
    in order, once; those sent meanwhile are replayed after the reconnect."""
    page = pages.new(session=login("gus"))
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto("/resilience/")
    wait_open(page)
    page.click("#run")
    expect(page.locator("#events li").first).to_contain_text("queued")
    expect(page.locator("#events")).to_contain_text("connection closed by the page")
    expect(page.locator("#state")).to_have_text("closed")
    expect(page.locator("#received")).to_have_text("20 of 20", timeout=15_000)
    expect(page.locator("#in-order")).to_have_text("yes")
    expect(page.locator("#duplicates")).to_have_text("0")
    expect(page.locator("#missing")).to_have_text("none")
    expect(page.locator("#recovery")).to_have_text(
        re.compile(r"after seq \d+: \d+ replayed, none lost")
    )
    replayed = int(re.search(r"(\d+) replayed", page.inner_text("#recovery"))[1])
    assert replayed >= 5  # about 12 were sent while the socket was closed
    assert page.locator("#ticks span.replayed").count() == replayed
    assert page.locator("#ticks span.live").count() == 20 - replayed
    expect(page.locator("#state")).to_have_text("open")
    assert len(sockets) == 2 and re.search(r"\?token=[^&]+&last=\d+&epoch=\d+$", sockets[1]), (
        sockets
    )
    screenshot(page, "resilience")


def test_trace(pages, login, worker, run_manage):
    """The page shows the tracesignal command and the tree it prints for the last click,
    the same as the real command's output for that trace."""
    page = open_page(pages, "/trace/", login("hana"))
    expect(page.locator("pre.terminal")).to_contain_text(
        "$ python manage.py tracesignal 'demo.*'\nfollowing demo.* (Ctrl-C to stop)"
    )
    page.click("#ping")
    expect(page.locator("#pongs li")).to_have_text(
        ["pong from the websocket server", "pong from the worker"]
    )
    trace = page.inner_text("#trace-id")
    assert re.fullmatch(r"[0-9a-f]{16}", trace), trace
    tree = page.locator("#tree")
    expect(tree).to_contain_text("job.finished demo.trace.ping")
    expect(tree).to_contain_text("message.delivered seq=")
    page.wait_for_timeout(800)  # the page stops asking once the trace is complete
    lines = page.inner_text("#tree").splitlines()
    assert lines[0] == f"trace {trace}"
    text = "\n".join(lines)
    for hop in (
        "call demo.trace.ping",
        "handler demo.trace.ping handler=demo.signals.ping_here",
        "job.enqueued demo.trace.ping handler=demo.signals.ping_on_worker",
        "job.started demo.trace.ping",
        "call demo.trace.pong",
        "message.published demo.trace.pong",
    ):
        assert hop in text, text
    printed = run_manage("tracesignal", "--trace", trace)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == lines
    screenshot(page, "trace")


def test_browser_call_is_one_trace_in_causal_order(pages, login, worker, run_manage):
    """A click calls an inline handler that enqueues a delayed one, which pushes a message
    back to the browser: one trace covers the browser call, the inline handler, the
    enqueue, the worker run, the publish and the delivery to this window, in causal order."""
    import time

    from floorkit.tracing import recorder

    page = open_page(pages, "/trace/", login("ivan"))
    page.click("#ping")
    expect(page.locator("#pongs li")).to_have_text(
        ["pong from the websocket server", "pong from the worker"]
    )
    trace = page.inner_text("#trace-id")
    window = page.evaluate("floorkit.window")
    deadline = time.monotonic() + 15
    while True:  # each process writes its events within 100 ms; wait for all of them
        events = sorted((e for e in recorder.read() if e["trace"] == trace), key=lambda e: e["ts"])
        kinds = [(e["event"], e["signal"], e["role"]) for e in events]
        complete = ("job.finished", "demo.trace.ping", "worker") in kinds and [
            k[0] for k in kinds
        ].count("message.delivered") == 2  # both pongs: from the websocket and the worker
        if complete or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert kinds[0] == ("call", "demo.trace.ping", "websocket")  # the browser's call
    for hop in [
        ("handler", "demo.trace.ping", "websocket"),  # the inline handler
        ("job.enqueued", "demo.trace.ping", "websocket"),  # the delayed one, enqueued
        ("job.started", "demo.trace.ping", "worker"),  # run by the worker
        ("job.finished", "demo.trace.ping", "worker"),
        ("message.published", "demo.trace.pong", "worker"),  # pushed back
        ("message.delivered", None, "websocket"),
    ]:
        assert hop in kinds, (hop, kinds)
    by_hop = {e["hop"]: e for e in events}
    assert [e["event"] for e in events if e["parent"] not in by_hop] == ["call"]  # one tree
    for event in events:
        if event["parent"] in by_hop:  # every hop after the one that caused it
            assert by_hop[event["parent"]]["ts"] <= event["ts"] + 1e-6, event
    delivered = [e for e in events if e["event"] == "message.delivered"]
    assert all(e["windows"] == [window] for e in delivered)
    session = run_manage("tracesignal", "--trace", trace)
    (ARTIFACTS / "tracesignal-session.txt").write_text(
        f"$ python manage.py tracesignal --trace {trace}\n{session.stdout}"
    )
