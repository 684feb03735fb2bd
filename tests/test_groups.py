"""Groups: targeting by window, session and user scope across two runwebsocket
processes, authorizers, sending to a group from a browser, leaving, and the
exact replay of group messages after a reconnect."""

import json
import time

import pytest

from floorkit import SESSION, USER, Group, SignalRequest, User, call, join, leave, presence
from floorkit.exceptions import InvalidTarget
from floorkit.signals.identity import session_id
from floorkit.signals.targets import parse
from floorkit.testing import Tab
from tests.test_websocket import login

ROOM = "tests.room.python"


@pytest.fixture
def keys(django_user_model, transactional_db, redis_client):
    return {
        "alice": login(django_user_model, "alice"),
        "alice2": login(django_user_model, "alice"),  # another session of alice
        "bob": login(django_user_model, "bob"),
    }


def open_tab(opened, server, key=None, **kwargs) -> Tab:
    """A tab on ``server``, closed at the end of the test (``opened``)."""
    tab = Tab(server.url, key, **kwargs)
    opened.append(tab)
    return tab


def numbers(tab: Tab, quiet: float = 0.5) -> list[int]:
    """The ``n`` of the tests.jsonly messages the tab got."""
    return [f["kwargs"]["n"] for f in tab.signals(quiet) if f["signal"] == "tests.jsonly"]


def joined(tab: Tab, group: str = ROOM) -> dict:
    reply = tab.call("floorkit.join", group=group)
    assert reply["type"] == "result", reply
    return reply["results"][0]


def request_of(tab: Tab, key: str | None, username: str | None = None) -> SignalRequest:
    return SignalRequest(
        username=username, session=session_id(key) if key else None, window=tab.window
    )


def test_a_group_message_reaches_exactly_the_windows_that_joined(servers, keys, opened):
    first, second = servers
    alice1 = open_tab(opened, first, keys["alice"])
    alice2 = open_tab(opened, second, keys["alice"])  # same session, other process
    bob = open_tab(opened, second, keys["bob"])
    anon = open_tab(opened, first)
    joined(alice1)
    joined(bob)
    call("tests.jsonly", None, Group(ROOM), n=1)
    assert numbers(alice1) == [1]
    assert numbers(bob) == [1]
    assert numbers(alice2) == [] and numbers(anon) == []


def test_a_session_scope_covers_every_tab_of_the_session_even_later_ones(servers, keys, opened):
    first, second = servers
    alice1 = open_tab(opened, first, keys["alice"])
    alice2 = open_tab(opened, second, keys["alice"])
    other_session = open_tab(opened, first, keys["alice2"])
    join(request_of(alice1, keys["alice"], "alice"), "tests.room.s", SESSION)
    later = open_tab(opened, second, keys["alice"])
    assert later.hello["groups"] == ["tests.room.s"]
    call("tests.jsonly", None, Group("tests.room.s"), n=2)
    for tab in (alice1, alice2, later):
        assert numbers(tab) == [2]
    assert numbers(other_session) == []
    membership = [f for f in alice2.signals(0.1)]  # the notice came before the message
    assert membership == []


def test_a_user_scope_covers_every_session_of_the_user(servers, keys, opened):
    first, second = servers
    alice1 = open_tab(opened, first, keys["alice"])
    alice2 = open_tab(opened, second, keys["alice2"])
    bob = open_tab(opened, first, keys["bob"])
    join(None, "tests.room.u", User("alice"))
    later = open_tab(opened, first, keys["alice2"])
    call("tests.jsonly", None, [Group("tests.room.u"), Group("tests.room.u")], n=3)
    for tab in (alice1, alice2, later):
        assert numbers(tab) == [3]  # once, though addressed twice
    assert numbers(bob) == []
    assert leave(None, "tests.room.u", User("alice")) is not None
    call("tests.jsonly", None, Group("tests.room.u"), n=4)
    for tab in (alice1, alice2, later):
        assert numbers(tab) == []


def test_the_membership_notice_reaches_the_scope(servers, keys, opened):
    tab = open_tab(opened, servers[0], keys["bob"])
    joined(tab, "tests.room.notice")
    notices = [f["kwargs"] for f in tab.signals(0.3) if f["signal"] == "floorkit.membership"]
    assert notices == [{"group": "tests.room.notice", "scope": "window", "joined": True}]


def test_leave_stops_delivery_at_once(servers, keys, opened):
    first, second = servers
    alice = open_tab(opened, first, keys["alice"])
    bob = open_tab(opened, second, keys["bob"])
    joined(alice)
    joined(bob)
    reply = alice.call("floorkit.leave", group=ROOM)
    assert reply["results"] == [{"group": ROOM, "left": True}]
    call("tests.jsonly", None, Group(ROOM), n=5)  # right after the answer
    assert numbers(alice) == []
    assert numbers(bob) == [5]
    assert alice.call("floorkit.leave", group=ROOM)["results"] == [{"group": ROOM, "left": False}]


def test_a_browser_may_send_only_to_groups_it_may_join(servers, keys, opened):
    alice = open_tab(opened, servers[0], keys["alice"])
    bob = open_tab(opened, servers[1], keys["bob"])
    joined(bob)
    reply = alice.call("tests.jsonly", to={"group": ROOM}, n=6)
    assert reply["type"] == "result", reply
    assert numbers(bob) == [6]
    for group, kind in [
        ("tests.room.closed", "not_allowed"),
        ("elsewhere.x", "not_allowed"),
        ("tests.doc.abc", "invalid_arguments"),
        ("bad..name", "invalid_target"),
    ]:
        reply = alice.call("tests.jsonly", to=[{"group": group}], n=7)
        assert (reply["type"], reply["kind"]) == ("error", kind), (group, reply)
    assert numbers(bob) == []


@pytest.mark.parametrize(
    ("who", "group", "kind"),
    [
        ("bob", "tests.room.closed", "not_allowed"),  # the authorizer says no
        ("bob", "nobody.authorizes.this", "not_allowed"),  # no authorizer matches
        ("anon", "tests.doc.1", "login_required"),
        ("bob", "tests.doc.abc", "invalid_arguments"),  # pk: int
        ("bob", "tests.doc.500", "not_allowed"),
        ("bob", "bad..name", "invalid_target"),
        ("bob", "x" * 201, "invalid_target"),
        ("bob", 5, "invalid_arguments"),  # group: str
    ],
)
def test_refused_joins_get_clear_errors_and_the_socket_survives(
    servers, keys, opened, who, group, kind
):
    tab = open_tab(opened, servers[0], keys.get(who))
    reply = tab.call("floorkit.join", group=group)
    assert (reply["type"], reply["kind"]) == ("error", kind), reply
    assert tab.hello["groups"] == []
    assert joined(tab, "tests.room.after")["group"] == "tests.room.after"


def test_logged_in_documents_join(servers, keys, opened):
    tab = open_tab(opened, servers[0], keys["bob"])
    snapshot = joined(tab, "tests.doc.7")
    assert [m["user"] for m in snapshot["members"]] == ["bob"]


def test_membership_survives_a_reconnect_to_another_process(servers, keys, opened):
    first, second = servers
    alice = open_tab(opened, first, keys["alice"])
    joined(alice)
    alice.signals(0.2)
    token = alice.hello["token"]
    alice.close()
    again = open_tab(opened, second, keys["alice"], token=token)
    assert again.window == alice.window
    assert again.hello["groups"] == [ROOM]
    call("tests.jsonly", None, Group(ROOM), n=8)
    assert numbers(again) == [8]


def test_group_messages_and_presence_changes_while_away_replay_in_order(servers, keys, opened):
    first, second = servers
    alice = open_tab(opened, first, keys["alice"])
    joined(alice)
    alice.signals(0.3)
    last, token = alice.hello["seq"], alice.hello["token"]
    for frame in alice.signals(0.1):
        last = max(last, frame.get("seq") or 0)
    alice.close()
    expected = []
    visitors = []
    started = time.monotonic()
    for n in range(50):
        call("tests.jsonly", None, Group(ROOM), n=n)
        expected.append(("n", n))
        if n % 10 == 0:  # 5 visitors come and go: 10 presence changes
            visitor = Tab(second.url)
            joined(visitor)
            visitors.append(visitor)
            expected.append(("joined", visitor.window))
        if n % 10 == 5:
            visitor = visitors.pop()
            visitor.close()
            expected.append(("left", visitor.window))
        time.sleep(max(0.0, started + 3.0 * (n + 1) / 50 - time.monotonic()))
    resumed = open_tab(opened, second, keys["alice"], token=token, last=last)
    recovery = resumed.wait_for(lambda f: f["type"] == "recovery")  # after the replay
    assert recovery["lost"] is False
    frames = resumed.signals(1.0)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs))  # in order, no duplicates
    got = []
    for frame in frames:
        if frame["signal"] == "tests.jsonly":
            got.append(("n", frame["kwargs"]["n"]))
        elif frame["signal"] == "floorkit.presence":
            change = frame["kwargs"]
            for member in change["joined"]:
                if member["id"].startswith("anon:"):
                    got.append(("joined", member["id"]))
            for member in change["left"]:
                if member["id"].startswith("anon:"):
                    got.append(("left", member["id"]))
    assert [g for g in got if g[0] == "n"] == [e for e in expected if e[0] == "n"]
    kinds = [g[0] for g in got]
    assert kinds == [e[0] for e in expected], got  # presence changes interleaved in order


def test_replay_stops_where_a_membership_ended_while_away(servers, keys, opened):
    alice = open_tab(opened, servers[0], keys["alice"])
    request = request_of(alice, keys["alice"], "alice")
    join(request, "tests.room.ended", SESSION)
    alice.signals(0.3)
    last, token = alice.hello["seq"], alice.hello["token"]
    alice.close()
    for n in range(3):
        call("tests.jsonly", None, Group("tests.room.ended"), n=n)
    leave(request, "tests.room.ended", SESSION)
    for n in range(3, 6):
        call("tests.jsonly", None, Group("tests.room.ended"), n=n)
    resumed = open_tab(opened, servers[1], keys["alice"], token=token, last=last)
    assert numbers(resumed) == [0, 1, 2]
    assert resumed.hello["groups"] == []


def test_python_api_contracts(redis_client, transactional_db):
    request = SignalRequest(username="carol", session="s-carol", window="w-carol")
    first = join(request, "tests.room.api", USER)
    assert join(request, "tests.room.api", USER, meta={"name": "Carol"}) == first  # idempotent
    assert leave(request, "tests.room.api", USER) > first
    assert leave(request, "tests.room.api", USER) is None
    with pytest.raises(InvalidTarget):
        join(request, "bad name", USER)
    with pytest.raises(InvalidTarget):
        join(request, "tests.room.api", [USER, SESSION])
    with pytest.raises(InvalidTarget):
        join(SignalRequest(), "tests.room.api")  # WINDOW needs a window
    with pytest.raises(TypeError):
        join(request, "tests.room.api", USER, meta=["not", "a", "dict"])
    with pytest.raises(TypeError):
        join(request, "tests.room.api", USER, meta={"x": float("nan")})
    with pytest.raises(InvalidTarget):
        Group("..")
    assert parse("group:doc.42") == Group("doc.42")


def test_firesignal_sends_to_a_group(servers, keys, opened, run_manage):
    bob = open_tab(opened, servers[0], keys["bob"])
    joined(bob, "tests.room.cli")
    result = run_manage(
        "firesignal", "tests.jsonly", "--to", "group:tests.room.cli", "--kwargs", '{"n": 9}'
    )
    assert result.returncode == 0, result.stderr
    assert numbers(bob) == [9]


def test_a_worker_joins_and_an_async_signal_receiver_sends_to_the_group(
    servers, keys, opened, run_worker
):
    from tests.testapp.signals import room_news

    alice = open_tab(opened, servers[0], keys["alice"])
    assert alice.call("tests.join_later", group="tests.room.worker")["type"] == "result"
    room_news.send(sender=None, group="tests.room.worker", n=10)
    assert run_worker("default").returncode == 0
    frames = alice.signals(1.0)
    assert [f["signal"] for f in frames] == [
        "floorkit.membership",  # to the session
        "floorkit.presence",  # alice's window entered the group's presence
        "tests.jsonly",
    ]
    assert frames[2]["kwargs"] == {"n": 10}


def test_listsignals_and_tracesignal_show_groups(servers, keys, opened, run_manage):
    from floorkit.tracing import recorder

    listed = run_manage("listsignals", "--groups", "--json")
    assert {
        "pattern": "tests.room.{name}",
        "authorizer": "tests.testapp.signals.can_join_room",
        "auth_required": False,
    } in json.loads(listed.stdout)
    assert "group:tests.doc.{pk}  tests.testapp.signals.can_join_doc  [login required]" in (
        run_manage("listsignals").stdout
    )
    bob = open_tab(opened, servers[0], keys["bob"])
    join_trace = bob.call("floorkit.join", group="tests.room.trace")["trace"]
    sent = call("tests.jsonly", None, Group("tests.room.trace"), n=11)
    assert numbers(bob) == [11]
    recorder.flush()
    time.sleep(0.5)  # the server's events are flushed every 100 ms
    tree = run_manage("tracesignal", "--trace", sent.trace_id).stdout
    assert "to group:tests.room.trace" in tree and "1 socket(s)" in tree, tree
    joined_tree = run_manage("tracesignal", "--trace", join_trace).stdout
    assert "group.joined" in joined_tree and "group:tests.room.trace scope window:" in joined_tree


def test_capture_records_group_changes_without_redis(settings):
    from floorkit.testing import Membership, Message, capture

    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": "redis://127.0.0.1:1/0"}
    alice = SignalRequest(username="alice", session="s-alice", window="w-alice")
    bob = SignalRequest(username="bob", session="s-bob", window="w-bob")
    with capture() as captured:
        call("tests.jsonly", None, Group("tests.room.c"), n=0)  # before alice joined
        seq = join(alice, "tests.room.c", meta={"name": "Alice"})
        assert join(alice, "tests.room.c") == seq
        call("tests.jsonly", None, Group("tests.room.c"), n=1)
        assert leave(alice, "tests.room.c") > seq
        assert leave(alice, "tests.room.c") is None
        call("tests.jsonly", None, Group("tests.room.c"), n=2)
        assert presence("tests.room.c").count == 0  # nobody is connected in a capture
    assert captured.memberships == [
        Membership("tests.room.c", "window:w-alice", True, {"name": "Alice"}),
        Membership("tests.room.c", "window:w-alice", False),
    ]
    notice = {"group": "tests.room.c", "scope": "window", "joined": True}
    assert Message("floorkit.membership", notice, ["window:w-alice"]) in captured.messages
    reaching = [m.kwargs.get("n") for m in captured.messages_reaching(alice)]
    assert reaching == [None, 1, None]  # the two notices and the message sent while a member
    assert captured.messages_reaching(bob) == []
    assert captured.groups_of("window:w-alice") == []
