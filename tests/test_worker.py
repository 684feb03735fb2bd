"""
floorkit's ``SimpleWorker`` sends RQ's bookkeeping in fewer round trips: these
tests run RQ's own ``SimpleWorker`` and floorkit's on the same jobs against the
real Redis and require the same keys, fields, registries, results and expiries
afterwards, for success, failure, retries, dependents, a job TTL and callbacks.
"""

from __future__ import annotations

import base64
import re
import time
import zlib
from typing import Any

import pytest
import rq
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from floorkit.jobs.worker import SimpleWorker
from floorkit.tracing import recorder

HEX = re.compile(rb"[0-9a-f]{32}")
TIME_FIELDS = {
    b"created_at",
    b"enqueued_at",
    b"started_at",
    b"ended_at",
    b"last_heartbeat",
    b"birth",
    b"death",
    b"total_working_time",
    b"current_job_working_time",
    b"pid",
    b"hostname",
    b"ip_address",
    b"version",
    b"python_version",
    b"execution_started_at",
    b"execution_ended_at",
}
CALLBACK_RUNS: list[str] = []


@pytest.fixture(autouse=True)
def _keep_the_test_process_role():
    """A worker built here makes this process trace as "worker": undo it afterwards."""
    role, flush_after_jobs = recorder._role, recorder.FLUSH_AFTER_JOBS
    yield
    recorder.set_role(role)
    recorder.FLUSH_AFTER_JOBS = flush_after_jobs


def double(x: int) -> int:
    return x * 2


def boom() -> None:
    raise ValueError("boom")


def on_success(job: Any, connection: Any, result: Any) -> None:
    connection.rpush("callbacks", f"success {job.id} {result}")


def on_failure(job: Any, connection: Any, *exc_info: Any) -> None:
    connection.rpush("callbacks", f"failure {job.id} {exc_info[0].__name__}")


def enqueue_scenarios(connection: Any) -> None:
    queue = Queue("compare", connection=connection, serializer=JSONSerializer)
    queue.enqueue(double, 21, job_id="ok")
    queue.enqueue(boom, job_id="fails")
    queue.enqueue(boom, job_id="retried", retry=Retry(max=1))
    queue.enqueue(double, 2, job_id="parent")
    queue.enqueue(double, 3, job_id="child", depends_on="parent")
    queue.enqueue(double, 4, job_id="with-ttl", ttl=300)
    queue.enqueue(double, 5, job_id="called-back", on_success=Callback(on_success))
    queue.enqueue(boom, job_id="called-back-failing", on_failure=Callback(on_failure))


def stream_field(field: bytes, value: bytes) -> bytes:
    if field in TIME_FIELDS:
        return b"<time>"
    if field == b"exc_string":  # a compressed traceback
        value = zlib.decompress(base64.b64decode(value))
    return normalize(value)


def normalize(value: bytes) -> bytes:
    value = HEX.sub(b"<id>", value)
    if b"Traceback" in value:  # the frames differ (floorkit's Job.perform); the error not
        value = value.strip().splitlines()[-1]
    return value


def snapshot(connection: Any) -> dict[bytes, Any]:
    """Every key with its normalized content and whether it expires."""
    state: dict[bytes, Any] = {}
    for key in sorted(connection.keys("*")):
        kind = connection.type(key)
        if kind == b"hash":
            content: Any = {
                field: b"<time>" if field in TIME_FIELDS else normalize(value)
                for field, value in sorted(connection.hgetall(key).items())
            }
        elif kind == b"zset":
            content = sorted(normalize(member) for member in connection.zrange(key, 0, -1))
        elif kind == b"set":
            content = sorted(normalize(member) for member in connection.smembers(key))
        elif kind == b"list":
            content = [normalize(item) for item in connection.lrange(key, 0, -1)]
        elif kind == b"stream":
            content = [
                {f: stream_field(f, v) for f, v in fields.items()}
                for _, fields in connection.xrange(key)
            ]
        else:
            content = normalize(connection.get(key) or b"")
        ttl = connection.ttl(key)
        state[normalize(key)] = (kind, content, "no expiry" if ttl < 0 else "expires")
    return state


def run(worker_class: type, connection: Any) -> dict[bytes, Any]:
    connection.flushdb()
    enqueue_scenarios(connection)
    worker = worker_class(
        [Queue("compare", connection=connection, serializer=JSONSerializer)],
        connection=connection,
        serializer=JSONSerializer,
        name="worker-under-test",
    )
    worker.work(burst=True, logging_level="WARNING")
    return snapshot(connection)


def test_same_redis_state_as_rqs_simple_worker(redis_client):
    expected = run(rq.SimpleWorker, redis_client)
    got = run(SimpleWorker, redis_client)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
    # the scenarios did what they say, so that the comparison covers them
    statuses = {
        job_id: redis_client.hget(f"rq:job:{job_id}", "status")
        for job_id in ("ok", "fails", "retried", "parent", "child", "with-ttl", "called-back")
    }
    assert statuses == {
        "ok": b"finished",
        "fails": b"failed",
        "retried": b"failed",
        "parent": b"finished",
        "child": b"finished",
        "with-ttl": b"finished",
        "called-back": b"finished",
    }
    assert redis_client.hget("rq:job:retried", "retries_left") == b"0"
    assert sorted(redis_client.lrange("callbacks", 0, -1)) == [
        b"failure called-back-failing ValueError",
        b"success called-back 10",
    ]


def test_fewer_round_trips_per_job(redis_client, monkeypatch):
    """RQ's SimpleWorker: 12 round trips per job here; floorkit's: 5."""
    import redis.connection

    counts = {}
    original = redis.connection.AbstractConnection.send_packed_command
    for worker_class in (rq.SimpleWorker, SimpleWorker):
        redis_client.flushdb()
        queue = Queue("compare", connection=redis_client, serializer=JSONSerializer)
        for i in range(50):
            queue.enqueue(double, i)
        worker = worker_class([queue], connection=redis_client, serializer=JSONSerializer)
        worker.work(burst=True, logging_level="WARNING", max_jobs=1)  # start-up done
        sent = []

        def counted(self, *args, sent=sent, **kwargs):
            sent.append(1)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        worker.work(burst=True, logging_level="WARNING")
        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", original)
        assert queue.finished_job_registry.count == 50
        counts[worker_class.__module__] = len(sent) / 49
    rq_trips, floorkit_trips = counts["rq.worker.worker_classes"], counts["floorkit.jobs.worker"]
    assert floorkit_trips <= 5.5, counts
    assert rq_trips >= 2 * floorkit_trips, counts


@pytest.mark.parametrize("status", ["finished", "failed"])
def test_worker_is_idle_in_redis_between_jobs(redis_client, status):
    queue = Queue("compare", connection=redis_client, serializer=JSONSerializer)
    queue.enqueue(double if status == "finished" else boom, *([1] if status == "finished" else []))
    worker = SimpleWorker([queue], connection=redis_client, name="idle-check")
    seen = []
    original = worker.dequeue_job_and_maintain_ttl

    def dequeue(*args, **kwargs):
        seen.append(redis_client.hget(worker.key, "state"))
        return original(*args, **kwargs)

    worker.dequeue_job_and_maintain_ttl = dequeue
    worker.work(burst=True, logging_level="WARNING")
    assert seen[-1] == b"idle"
    assert redis_client.hget(worker.key, "current_job") is None


def test_a_worker_stops_listening_for_commands_within_a_second(redis_client):
    """The race that made ``rqworker --burst`` hang for a minute at exit: the
    pubsub thread has already read the UNSUBSCRIBE reply and waits for a
    subscription when the worker stops listening."""
    worker = SimpleWorker([Queue("default", connection=redis_client)], connection=redis_client)
    worker.subscribe()
    worker.pubsub.unsubscribe()
    deadline = time.monotonic() + 5
    while worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.pubsub.subscribed  # the thread handled the reply
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 1.5
