"""
The demo's Long job page awaits its job (``floorkit.call(..., {wait: true,
onProgress})``) in headless Chromium, against the real ``runwebsocket --http``
server (behind a proxy that can cut websockets or refuse them) and a real RQ
worker: the bar follows the job's progress and the page shows its result,
over a websocket that is cut mid-job, and over HTTP polling.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_demo_pages import worker  # noqa: F401  (the fixture)
from tests.browser.test_fallback import blocker, fallback_server, watch  # noqa: F401

FINISHED = '{"outcome":"finished","step":10,"of":10}'

# After the page's floorkit is there: what the "progress" events say, in order.
RECORD_PROGRESS = """
window.progressSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  floorkit.on("progress", ({signal, done, total}) => progressSeen.push([signal, done, total]));
});
"""


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def open_job_page(pages, login, blocker, username: str, mode: str):  # noqa: F811
    if mode == "websocket":
        blocker.unblock()
    page = pages.new(session=login(username), base_url=blocker.url)
    watch(page, probeMin=30, fallbackAfter=100 if mode == "websocket" else 3)
    page.add_init_script(RECORD_PROGRESS)
    page.goto("/job/")
    page.wait_for_function(f"floorkit.mode === '{mode}' && floorkit.state === 'open'")
    return page


def assert_finished(page) -> None:
    expect(page.locator("#status")).to_have_text("finished (10 steps)", timeout=20_000)
    expect(page.locator("#result")).to_have_text(FINISHED)
    expect(page.locator("#progress")).to_have_attribute("value", "10")
    expect(page.locator("#start")).to_be_enabled()
    expect(page.locator("#cancel")).to_be_disabled()
    expect(page.locator("#error")).to_have_text("")
    seen = page.evaluate("progressSeen")
    assert seen == [["demo.job.start", done, 10] for done in range(11)], seen  # all, in order


def test_the_long_job_page_awaits_its_job_across_a_cut_websocket(
    pages,
    login,
    blocker,  # noqa: F811
    worker,  # noqa: F811
):
    page = open_job_page(pages, login, blocker, "gina", "websocket")
    page.click("#start")
    expect(page.locator("#status")).to_have_text(re.compile(r"step [1-5] of 10"))
    expect(page.locator("#job")).to_have_text(re.compile(r"\(RQ job [0-9a-f]{32}\)"))
    blocker.block(cut=True)  # the connection dies mid-job, with no close frame
    page.wait_for_function("floorkit.state !== 'open'")
    page.wait_for_timeout(1000)  # steps go by while the tab cannot hear them
    blocker.unblock()
    page.wait_for_function("recoveries.length > 0", timeout=15_000)
    recovery = page.evaluate("recoveries[0]")
    assert recovery["lost"] is False and recovery["replayed"] >= 1, recovery
    assert_finished(page)
    assert page.evaluate("floorkit.mode") == "websocket"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-job-wait.png"), full_page=True)


def test_the_long_job_page_awaits_its_job_over_http_polling(
    pages,
    login,
    blocker,  # noqa: F811
    worker,  # noqa: F811
):
    page = open_job_page(pages, login, blocker, "hugo", "http")
    page.click("#start")
    expect(page.locator("#status")).to_have_text(re.compile(r"step \d+ of 10"))
    assert_finished(page)
    assert page.evaluate("floorkit.mode") == "http"


@pytest.mark.parametrize("mode", ["websocket", "http"])
def test_what_a_wait_resolves_or_rejects_with(
    pages,
    login,
    blocker,  # noqa: F811
    worker,  # noqa: F811
    mode,
):
    page = open_job_page(pages, login, blocker, f"ines-{mode}", mode)
    rejected = page.evaluate(
        """async () => {
          const kinds = [];
          for (const options of [{wait: "yes"}, {wait: true, onProgress: 5}]) {
            await floorkit.call("demo.job.start", {}, options).catch((e) => kinds.push(e.kind));
          }
          // a job that takes longer than the call's timeout: kind "timeout"
          await floorkit.call("demo.job.start", {steps: 3}, {wait: true, timeout: 200})
            .catch((e) => kinds.push(e.kind));
          // no delayed handler: it resolves with the inline results at once
          kinds.push(await floorkit.call("demo.job.cancel", {job: "x"}, {wait: true}));
          // an inline and a delayed handler: the delayed one's return value (None)
          kinds.push(await floorkit.call("demo.trace.ping", {}, {wait: true, timeout: 15000}));
          // a job that fails (after its retry): handler_failed, with the worker's error id
          await floorkit.call("tests.delayed_fails", {value: 1}, {wait: true, timeout: 15000})
            .catch((e) => kinds.push([e.kind, e.signal, e.message === `tests.delayed_fails failed (error ${e.errorId})`]));
          return kinds;
        }"""
    )
    assert rejected == [
        "bad_request",
        "bad_request",
        "timeout",
        [{"cancelling": "x"}],
        None,
        ["handler_failed", "tests.delayed_fails", True],
    ]
