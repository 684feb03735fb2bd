"""
The Rooms demo page in headless Chromium: who is here (avatars with the
authorizer's metadata), chat per room, leaving, a reconnect that keeps the
room and replays what was said meanwhile, and the HTTP polling fallback.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import Server, wait_open
from tests.browser.test_fallback import blocker, fallback_server, watch  # noqa: F401  (fixtures)


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def in_room(pages, room: str, session: str | None = None, base_url: str | None = None):
    page = pages.new(session=session, base_url=base_url)
    page.goto("/rooms/")
    wait_open(page)
    enter(page, room)
    return page


def enter(page, room: str) -> None:
    """Enter ``room`` with a button of the list, or by name (a room of the test's own)."""
    button = page.locator(f"#rooms button[data-room={room}]")
    if button.count():
        button.click()
    else:
        page.fill("#other-room input[name=room]", room)
        page.click("#other-room button")
    expect(page.locator("#room")).to_have_text(room)


def avatars(page) -> list[str]:
    return page.locator("#here .avatar").evaluate_all("(els) => els.map((e) => e.dataset.member)")


@pytest.mark.django_db(transaction=True)
def test_members_see_each_other_and_talk_in_their_room_only(pages, login):
    alice = in_room(pages, "pyroom", login("alice"))
    bob = in_room(pages, "pyroom", login("bob"))
    elsewhere = in_room(pages, "djroom", login("carol"))
    expect(bob.locator("#here .avatar")).to_have_count(2)  # the snapshot: alice, then bob
    assert avatars(bob) == ["user:alice", "user:bob"]
    expect(alice.locator("#here .avatar")).to_have_count(2)  # bob came: a presence event
    avatar = alice.locator('#here .avatar[data-member="user:bob"]')
    expect(avatar).to_have_text("B")
    assert avatar.get_attribute("title") == "bob"
    assert avatar.evaluate("(e) => e.style.background") != ""  # the authorizer's colour
    assert avatars(elsewhere) == ["user:carol"]

    alice.fill("#room-chat input[name=text]", "hello pythonistas")
    alice.click("#room-chat button")
    for page in (alice, bob):
        expect(page.locator("#room-messages li")).to_have_text(["alice: hello pythonistas"])
    elsewhere.fill("#room-chat input[name=text]", "django here")
    elsewhere.click("#room-chat button")
    expect(elsewhere.locator("#room-messages li")).to_have_text(["carol: django here"])
    expect(alice.locator("#room-messages li")).to_have_count(1)  # not carol's room
    assert alice.evaluate("floorkit.groups") == ["demo.room.pyroom"]

    bob.close()  # his last window in the room: he leaves
    expect(alice.locator("#here .avatar")).to_have_count(1)
    assert avatars(alice) == ["user:alice"]
    enter(alice, "djroom")  # moving leaves pyroom for djroom
    expect(alice.locator("#here .avatar")).to_have_count(2)
    expect(elsewhere.locator("#here .avatar")).to_have_count(2)
    assert "demo.room.pyroom" not in alice.evaluate("floorkit.groups")


@pytest.mark.django_db(transaction=True)
def test_anonymous_visitors_are_one_member_per_session(pages):
    first = in_room(pages, "anonymous-corner")
    second = in_room(pages, "anonymous-corner")
    expect(first.locator("#here .avatar")).to_have_count(2)
    ids = avatars(first)
    assert len(set(ids)) == 2 and all(i.startswith("anon:") for i in ids)
    assert first.locator("#here .avatar").first.get_attribute("title").startswith("guest")
    assert second.locator("#error").inner_text() == ""


@pytest.mark.django_db(transaction=True)
def test_a_reconnect_keeps_the_room_and_replays_what_was_said(pages, login):
    from floorkit import Group, call

    server = Server(name="rooms-restart-server").start()
    try:
        page = in_room(pages, "python", login("dora"), base_url=server.url)
        page.evaluate(
            "window.recoveries = []; floorkit.on('recovery', (r) => recoveries.push(r)); null"
        )
        window = page.evaluate("floorkit.window")
        server.stop()
        page.wait_for_function("floorkit.state !== 'open'")
        for n in range(5):
            call("demo.chat.show", None, Group("demo.room.python"), text=f"line {n}", room="python")
        server.start()
        wait_open(page)
        expect(page.locator("#room-messages li")).to_have_text(
            [f"anonymous: line {n}" for n in range(5)]
        )
        assert page.evaluate("floorkit.window") == window
        assert page.evaluate("floorkit.groups") == ["demo.room.python"]
        assert page.evaluate("recoveries.map((r) => r.lost)") == [False]
        call("demo.chat.show", None, Group("demo.room.python"), text="live again", room="python")
        expect(page.locator("#room-messages li")).to_have_count(6)
    finally:
        server.stop()


def test_a_polling_page_joins_a_room_and_gets_its_messages(pages, login, blocker):  # noqa: F811
    from floorkit import Group, call

    page = pages.new(session=login("erin"), base_url=blocker.url)
    watch(page, probeMin=30)
    page.goto("/rooms/")
    page.wait_for_function("floorkit.mode === 'http' && floorkit.state === 'open'")
    page.click("#rooms button[data-room=django]")
    expect(page.locator("#room")).to_have_text("django")
    expect(page.locator("#here .avatar")).to_have_count(1)
    call("demo.chat.show", None, Group("demo.room.django"), text="over HTTP", room="django")
    expect(page.locator("#room-messages li")).to_have_text(["anonymous: over HTTP"])
    page.fill("#room-chat input[name=text]", "me too")
    page.click("#room-chat button")
    expect(page.locator("#room-messages li")).to_have_text(["anonymous: over HTTP", "erin: me too"])
    assert blocker.upgrades == []  # all of it over HTTP
