"""Arguments are checked against every handler's signature before anything runs."""

import pytest

from floorkit import InvalidArguments, call, connect
from floorkit.signals.registry import registry


def test_annotated_arguments_are_converted_from_json_values():
    result = call(
        "tests.typed",
        count="42",
        ratio=2,
        name="n",
        flag="true",
        items=[1, "2", 3.0],
        options={"a": 1},
        maybe=None,
    )
    assert result.results == [
        {
            "count": 42,
            "ratio": 2.0,
            "name": "n",
            "flag": True,
            "items": [1, 2, 3],
            "options": {"a": 1},
            "maybe": None,
        }
    ]


@pytest.mark.parametrize(
    "kwargs, argument, reason",
    [
        ({}, "count", "missing required argument"),
        ({"count": 1, "colour": "red"}, "colour", "unexpected argument"),
        ({"count": "many"}, "count", "expected int, got str 'many'"),
        ({"count": True}, "count", "expected int, got bool"),
        ({"count": 1.5}, "count", "expected int, got float"),
        ({"count": 1, "ratio": "fast"}, "ratio", "expected float"),
        ({"count": 1, "ratio": float("nan")}, "ratio", "expected a finite float"),
        ({"count": 1, "name": 3}, "name", "expected str, got int"),
        ({"count": 1, "flag": "yes"}, "flag", "expected bool"),
        ({"count": 1, "items": "1,2"}, "items", "expected list"),
        ({"count": 1, "items": [1, "x"]}, "items", "item 1: expected int"),
        ({"count": 1, "options": [1]}, "options", "expected dict"),
        ({"count": 1, "maybe": 5}, "maybe", "expected str, got int 5"),
    ],
)
def test_bad_arguments_name_signal_handler_and_argument(kwargs, argument, reason):
    with pytest.raises(InvalidArguments) as info:
        call("tests.typed", **kwargs)
    error = info.value
    assert error.signal == "tests.typed"
    assert error.handler == "tests.testapp.signals.typed"
    assert error.argument == argument
    assert reason in str(error)
    assert "tests.typed" in str(error) and "tests.testapp.signals.typed" in str(error)


def test_no_handler_runs_when_any_handler_refuses(redis_client):
    from tests.conftest import reports

    state = registry.snapshot()
    try:

        @connect(path="tests.order")
        def third(request, value: int, extra: str):
            raise AssertionError("must not run")

        with pytest.raises(InvalidArguments, match="extra"):
            call("tests.order", value=1)
        assert reports(redis_client, "order") == []
    finally:
        registry.restore(state)


def test_nothing_is_enqueued_or_published_for_bad_arguments(redis_client):
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("floorkit:ch:*")
    pubsub.get_message(timeout=1)
    with pytest.raises(InvalidArguments):
        call("tests.delayed", to=None, value="nope")
    from floorkit import BROADCAST

    with pytest.raises(InvalidArguments):
        call("tests.delayed", None, BROADCAST, value="nope")
    assert redis_client.llen("rq:queue:default") == 0
    assert pubsub.get_message(timeout=0.3) is None
    pubsub.close()


def test_delayed_handlers_refuse_values_json_cannot_carry():
    with pytest.raises(InvalidArguments, match="cannot travel to a worker"):
        call("tests.delayed_any", payload=object())
