"""Each target publishes exactly the documented message, seen by a real Redis subscriber."""

import json

import pytest

from floorkit import (
    BROADCAST,
    SESSION,
    USER,
    WINDOW,
    InvalidTarget,
    Session,
    SignalRequest,
    User,
    Window,
    call,
)


@pytest.fixture
def subscriber(redis_client):
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("floorkit:ch:*")
    assert pubsub.get_message(timeout=2)["type"] == "psubscribe"

    def received(timeout: float = 0.3) -> list[tuple[str, dict]]:
        out = []
        while True:
            message = pubsub.get_message(timeout=timeout)
            if message is None:
                return out
            out.append((message["channel"].decode(), json.loads(message["data"])))

    yield received
    pubsub.close()


@pytest.fixture
def alice_request():
    return SignalRequest(user_id=7, username="alice", session="s" * 32, window="w1")


@pytest.mark.parametrize(
    "to, channels",
    [
        (WINDOW, ["floorkit:ch:window:w1"]),
        (SESSION, ["floorkit:ch:session:" + "s" * 32]),
        (USER, ["floorkit:ch:user:alice"]),
        ({USER: ["bob", "carol"]}, ["floorkit:ch:user:bob", "floorkit:ch:user:carol"]),
        (BROADCAST, ["floorkit:ch:broadcast"]),
        ([WINDOW, BROADCAST], ["floorkit:ch:window:w1", "floorkit:ch:broadcast"]),
        ([USER, {USER: ["alice"]}], ["floorkit:ch:user:alice"]),  # once per address
        (Window("w9"), ["floorkit:ch:window:w9"]),
        (Session("abc"), ["floorkit:ch:session:abc"]),
        (User("dave"), ["floorkit:ch:user:dave"]),
    ],
)
def test_each_target_publishes_the_documented_message(subscriber, alice_request, to, channels):
    result = call("tests.jsonly", alice_request, to, text="hi", n=3)
    messages = subscriber()
    assert [channel for channel, _ in messages] == channels
    for _, payload in messages:
        assert payload == {
            "type": "signal",
            "seq": result.seq,
            "epoch": payload["epoch"],  # the life of the counter, same for every message
            "signal": "tests.jsonly",
            "kwargs": {"text": "hi", "n": 3},
            "id": result.message_id,
            "trace": alice_request.trace_id,
            "hop": payload["hop"],  # the publication's hop, for tracing
        }
        assert len(payload["hop"]) == 12
        assert payload["epoch"].isdigit()
    assert result.addresses == [c.removeprefix("floorkit:ch:") for c in channels]


def test_to_may_be_passed_by_name(subscriber, alice_request):
    call("tests.jsonly", alice_request, to=BROADCAST, text="hi")
    assert [c for c, _ in subscriber()] == ["floorkit:ch:broadcast"]


def test_none_target_reaches_python_only(subscriber):
    assert call("tests.echo", None, None, a=1).results == [{"a": 1}]
    assert subscriber() == []


def test_key_prefix_setting_prefixes_channels(settings, redis_client, alice_request):
    settings.FLOORKIT = {**settings.FLOORKIT, "KEY_PREFIX": "myapp"}
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("myapp:ch:*")
    pubsub.get_message(timeout=2)
    call("tests.jsonly", alice_request, BROADCAST)
    message = pubsub.get_message(timeout=2)
    assert message["channel"] == b"myapp:ch:broadcast"
    pubsub.close()


@pytest.mark.parametrize(
    "request_fields, to, error",
    [
        ({}, WINDOW, "WINDOW needs a caller with a window"),
        ({}, SESSION, "SESSION needs a caller with a session"),
        ({}, USER, "USER needs a logged-in caller"),
        ({}, {USER: "alice"}, "needs a list of usernames"),
        ({}, {"user": ["alice"]}, "a dict target must be"),
        ({}, "everyone", "unknown target"),
    ],
)
def test_unresolvable_targets_are_refused_before_anything_runs(
    subscriber, request_fields, to, error
):
    with pytest.raises(InvalidTarget, match=error):
        call("tests.echo", SignalRequest(**request_fields), to, a=1)
    assert subscriber() == []


def test_values_json_lacks_are_encoded(subscriber, alice_request):
    import datetime
    import decimal
    import uuid

    call(
        "tests.jsonly",
        alice_request,
        BROADCAST,
        when=datetime.date(2026, 1, 2),
        price=decimal.Decimal("1.50"),
        ref=uuid.UUID(int=1),
    )
    ((_, payload),) = subscriber()
    assert payload["kwargs"] == {
        "when": "2026-01-02",
        "price": "1.50",
        "ref": "00000000-0000-0000-0000-000000000001",
    }


def test_values_json_cannot_carry_to_browsers_are_refused_before_handlers_run(
    subscriber, alice_request
):
    from floorkit import InvalidArguments

    with pytest.raises(InvalidArguments, match="must be JSON values"):
        call("tests.echo", alice_request, BROADCAST, text=object())
    assert subscriber() == []
