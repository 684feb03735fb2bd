"""Logging out in one Chromium tab ends the other tab's access as that user."""

from __future__ import annotations

import json
import time

from tests.browser.conftest import wait_open

RECORD = """() => {
  window.seen = { closes: [], hellos: [] };
  floorkit.on("close", (event) => seen.closes.push(event.code));
  floorkit.on("hello", (hello) => seen.hellos.push(hello.user));
}"""


def test_logout_in_one_tab_closes_the_other_and_it_comes_back_anonymous(pages, login, run_manage):
    from playwright.sync_api import expect

    tab1 = pages.new(session=login("alice"))
    tab2 = tab1.context.new_page()  # the same browser: the same session cookie
    for page in (tab1, tab2):
        page.goto("/")
        wait_open(page)
    tab2.evaluate(RECORD)
    old_window = tab2.evaluate("() => floorkit.window")

    tab1.click("form[action='/logout/'] button")  # the demo's real logout form
    started = time.monotonic()
    tab2.wait_for_function("() => seen.closes.length > 0", timeout=3000)
    assert time.monotonic() - started <= 1.5  # the 1 s bound, plus Playwright's polling
    assert tab2.evaluate("() => seen.closes") == [4001]

    tab2.wait_for_function("() => seen.hellos.length > 0 && floorkit.state === 'open'")
    assert tab2.evaluate("() => seen.hellos") == [None]  # back, as an anonymous visitor
    assert tab2.evaluate("() => floorkit.window") != old_window

    text = json.dumps({"text": "for alice only", "room": "@alice", "author": "system"})
    fired = run_manage("firesignal", "demo.chat.show", "--to", "user:alice", "--kwargs", text)
    assert fired.returncode == 0, fired.stderr
    marker = json.dumps({"text": "for everyone", "room": "lobby", "author": "system"})
    fired = run_manage("firesignal", "demo.chat.show", "--to", "broadcast", "--kwargs", marker)
    assert fired.returncode == 0, fired.stderr
    expect(tab2.locator("#messages li").last).to_have_text("[lobby] system: for everyone")
    assert "for alice only" not in " ".join(tab2.locator("#messages li").all_inner_texts())
