"""listsignals and firesignal, run as real subprocesses."""

import json

import pytest

from tests.conftest import reports


def test_listsignals_json_lists_every_signal_with_options(run_manage):
    result = run_manage("listsignals", "--json")
    assert result.returncode == 0, result.stderr
    signals = {entry["signal"]: entry for entry in json.loads(result.stdout)}
    assert signals["tests.delayed"]["handlers"] == [
        {
            "handler": "tests.testapp.signals.delayed",
            "delayed": True,
            "queue": "default",
            "auth_required": True,
            "allow_from_client": True,
            "is_async": False,
        }
    ]
    assert signals["tests.private"]["allow_from_client"] is False
    assert signals["tests.anonymous"]["auth_required"] is False
    assert signals["tests.jsonly"]["handlers"] == [] and signals["tests.jsonly"]["declared"]
    assert [h["handler"] for h in signals["tests.order"]["handlers"]] == [
        "tests.testapp.signals.first",
        "tests.testapp.signals.second",
    ]
    assert "demo.chat.message" in signals


def test_listsignals_text_output(run_manage):
    result = run_manage("listsignals")
    assert result.returncode == 0
    assert "tests.delayed" in result.stdout
    assert (
        "tests.testapp.signals.delayed  [delayed (queue default), browser-callable" in result.stdout
    )
    assert "tests.testapp.signals.private  [inline, python-only, login required]" in result.stdout


def test_firesignal_runs_handlers_enqueues_and_publishes(
    run_manage, redis_client, transactional_db
):
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("floorkit:ch:*")
    pubsub.get_message(timeout=2)
    result = run_manage(
        "firesignal",
        "tests.order",
        "--to",
        "broadcast",
        "--to",
        "user:bob",
        "--kwargs",
        '{"value": 3}',
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tests.order (trace ")
    assert lines[1] == '  ran      tests.testapp.signals.first  -> "first"'
    assert lines[2] == '  ran      tests.testapp.signals.second  -> "second"'
    assert lines[3].startswith("  sent to  broadcast  (message ")
    assert lines[4].startswith("  sent to  user:bob  (message ")
    channels = [pubsub.get_message(timeout=2)["channel"] for _ in range(2)]
    assert channels == [b"floorkit:ch:broadcast", b"floorkit:ch:user:bob"]
    assert [r["value"] for r in reports(redis_client, "order")] == [3, 3]
    pubsub.close()


def test_firesignal_enqueues_delayed_as_user(
    run_manage, redis_client, django_user_model, run_worker, transactional_db
):
    django_user_model.objects.create_user("carol", password="x")
    result = run_manage(
        "firesignal", "tests.delayed", "--user", "carol", "--kwargs", '{"value": 8}'
    )
    assert result.returncode == 0, result.stderr
    assert "  enqueued tests.testapp.signals.delayed  job " in result.stdout
    run_worker("default")
    (done,) = reports(redis_client, "delayed")
    assert done["request"]["username"] == "carol" and done["value"] == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["no.such.signal"], "unknown signal 'no.such.signal'"),
        (["tests.typed", "--kwargs", '{"count": "x"}'], "argument 'count': expected int"),
        (["tests.typed", "--kwargs", "{nope"], "--kwargs is not valid JSON"),
        (["tests.typed", "--kwargs", "[1]"], "--kwargs must be a JSON object"),
        (["tests.echo", "--to", "galaxy"], "invalid target 'galaxy'"),
        (["tests.echo", "--user", "nobody"], "no user 'nobody'"),
    ],
)
def test_firesignal_errors_are_one_line_with_nonzero_exit(
    run_manage, args, message, transactional_db
):
    result = run_manage("firesignal", *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
