"""Calls inside a transaction: jobs wait for the commit (and the CallResult says so),
messages go out at once unless published on commit, and a rollback sends nothing of
what waited. Real Redis, a real database transaction."""

from __future__ import annotations

import pytest
from django.db import transaction
from rq.job import Job

from floorkit import BROADCAST, SignalRequest, call
from floorkit.jobs import get_queue
from tests.test_publish import subscriber  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


def test_jobs_of_a_rolled_back_transaction_never_exist_and_the_result_says_pending(redis_client):
    with pytest.raises(Rollback), transaction.atomic():
        result = call("tests.delayed", SignalRequest(), value=1)
        assert result.pending_commit is True  # its job id is a promise, kept only on commit
        raise Rollback
    (job_id,) = result.jobs
    assert not Job.exists(job_id, connection=redis_client)
    assert get_queue("default").count == 0


def test_jobs_of_a_committed_transaction_are_pushed_at_commit(redis_client):
    with transaction.atomic():
        result = call("tests.delayed", SignalRequest(), value=2)
        assert not Job.exists(result.jobs[0], connection=redis_client)
    assert Job.exists(result.jobs[0], connection=redis_client)
    assert call("tests.delayed", SignalRequest(), value=3).pending_commit is False  # no transaction


def test_messages_go_out_at_once_by_default_even_in_a_transaction(subscriber):  # noqa: F811
    with pytest.raises(Rollback), transaction.atomic():
        result = call("tests.jsonly", SignalRequest(), BROADCAST, n=1)
        assert [m["kwargs"]["n"] for _, m in subscriber()] == [1]
        assert result.seq is not None and result.pending_commit is False
        raise Rollback


def test_on_commit_messages_wait_for_the_commit(subscriber):  # noqa: F811
    deferred = call.options(on_commit=True)
    with transaction.atomic():
        result = deferred("tests.jsonly", SignalRequest(), BROADCAST, n=2)
        assert subscriber() == []
        assert result.pending_commit is True and result.seq is None
    assert [m["kwargs"]["n"] for _, m in subscriber()] == [2]
    assert result.seq is not None  # numbered once published


def test_on_commit_messages_of_a_rolled_back_transaction_are_never_sent(subscriber):  # noqa: F811
    with pytest.raises(Rollback), transaction.atomic():
        call.options(on_commit=True)("tests.jsonly", SignalRequest(), BROADCAST, n=3)
        raise Rollback
    assert subscriber() == []
    outside = call.options(on_commit=True)("tests.jsonly", SignalRequest(), BROADCAST, n=4)
    assert outside.pending_commit is False and outside.seq is not None  # no transaction: now
    assert [m["kwargs"]["n"] for _, m in subscriber()] == [4]
