"""Delayed handlers run on a real ``manage.py rqworker`` process, with JSON jobs."""

import json
import zlib

import pytest
from django.db import transaction
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from floorkit import RedisUnavailable, SignalRequest, call
from floorkit.jobs import get_queue
from tests.conftest import reports


def test_delayed_handler_runs_in_a_worker_with_the_callers_request(
    redis_client, run_worker, transactional_db
):
    request = SignalRequest(user_id=3, username="alice", session="s1", window="w1")
    result = call("tests.delayed", request, value="5", label="x")
    assert result.results == [] and len(result.jobs) == 1

    job = Job.fetch(result.jobs[0], connection=redis_client, serializer=JSONSerializer)
    assert "tests.delayed" in job.description
    raw = redis_client.hget(f"rq:job:{job.id}", "data")
    func, _, args, kwargs = json.loads(zlib.decompress(raw))  # RQ zlib-compresses: JSON inside
    assert func == "floorkit.jobs.run_handler"
    signal, handler, job_request, job_kwargs = args
    assert (signal, handler, job_kwargs) == (
        "tests.delayed",
        "tests.testapp.signals.delayed",
        {"value": 5, "label": "x"},
    )
    assert {**job_request, "parent": None} == request.to_dict()  # the caller, one hop further
    assert job_request["parent"]

    run_worker("default")
    (done,) = reports(redis_client, "delayed")
    assert done["value"] == 5 and done["label"] == "x"  # converted before enqueueing
    assert {**done["request"], "parent": None} == request.to_dict()
    assert job.get_status(refresh=True) == "finished"
    assert job.return_value() == {"value": 5}


def test_inline_handler_enqueues_delayed_with_same_trace(
    redis_client, run_worker, transactional_db
):
    request = SignalRequest(user_id=1, username="bob", session="s2")
    result = call("tests.chain", request, value=9)
    (job_ids,) = result.results
    assert len(job_ids) == 1
    run_worker("default")
    (done,) = reports(redis_client, "delayed")
    assert done["request"]["trace_id"] == request.trace_id and done["label"] == "chained"


def test_failing_handler_lands_in_failed_registry_with_traceback(
    redis_client, run_worker, transactional_db
):
    result = call("tests.delayed_fails", value=4)
    run_worker("default")
    (job_id,) = result.jobs
    registry = FailedJobRegistry(queue=get_queue("default"))
    assert job_id in registry.get_job_ids()
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert "RuntimeError: boom 4" in job.latest_result().exc_string
    # retry=1 on the handler: it ran twice
    assert [r["value"] for r in reports(redis_client, "delayed_fails")] == [4, 4]


def test_rolled_back_transaction_enqueues_nothing(redis_client, transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        call("tests.delayed", value=1)
        raise RuntimeError("rollback")
    assert redis_client.llen("rq:queue:default") == 0


def test_committed_transaction_enqueues_after_commit(redis_client, transactional_db):
    with transaction.atomic():
        result = call("tests.delayed", value=1)
        assert redis_client.llen("rq:queue:default") == 0
    assert redis_client.lrange("rq:queue:default", 0, -1) == [result.jobs[0].encode()]


def test_redis_stopped_makes_call_raise(settings, transactional_db):
    from floorkit import BROADCAST
    from floorkit.delivery.embedded_redis import EmbeddedRedis
    from tests.conftest import _use_redis

    original = settings.FLOORKIT["REDIS_URL"]
    server = EmbeddedRedis(port=0)
    _use_redis(server.start())
    try:
        call("tests.jsonly", None, BROADCAST)  # works while it is up
        server.stop()
        with pytest.raises(RedisUnavailable, match="unreachable, publishing tests.jsonly failed"):
            call("tests.jsonly", None, BROADCAST)
        with pytest.raises(RedisUnavailable, match="enqueueing tests.delayed"):
            call("tests.delayed", value=1)
    finally:
        server.stop()
        _use_redis(original)
