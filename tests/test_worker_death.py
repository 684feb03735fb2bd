"""
A worker killed with SIGKILL mid-job: another worker retries the job (retries
left) or fails it with a "worker died" reason, within about three
``WORKER_LEASE``s (floorkit/jobs/lease.py). Real workers, real Redis.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from floorkit import SignalRequest, call
from floorkit.jobs import get_queue
from tests.conftest import ROOT, reports, subprocess_env
from tests.testapp import death_signals

LEASE = 3  # seconds; the default (20) is tested once below


def start_worker(lease: int | None = LEASE) -> subprocess.Popen:
    overrides = {"SIGNAL_MODULES": ["tests.testapp.death_signals"]}
    if lease is not None:
        overrides["WORKER_LEASE"] = lease
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "default"],
        cwd=ROOT,
        env=subprocess_env(FLOORKIT_TEST_OVERRIDES=json.dumps(overrides)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout} s")


def attempts(redis_client, marker: str) -> list[int]:
    return [r["attempt"] for r in reports(redis_client, "death") if r["marker"] == marker]


@pytest.fixture
def workers(redis_server, redis_client, transactional_db):
    started: list[subprocess.Popen] = []

    def start(lease: int | None = LEASE) -> subprocess.Popen:
        started.append(start_worker(lease))
        return started[-1]

    yield start
    for worker in started:
        stop(worker)


def kill_mid_job(redis_client, workers, marker: str, lease: int | None = LEASE) -> float:
    """Let a worker start the job, SIGKILL it, start another; return the kill time."""
    first = workers(lease)
    wait_for(lambda: attempts(redis_client, marker), 30, "the first attempt")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    killed = time.monotonic()
    workers(lease)
    return killed


def test_a_killed_workers_delayed_job_is_retried_by_another_worker(redis_client, workers):
    marker = uuid.uuid4().hex
    (job_id,) = call("death.hangs_once", SignalRequest(), marker=marker).jobs
    killed = kill_mid_job(redis_client, workers, marker)
    wait_for(lambda: attempts(redis_client, marker) == [1, 2], 3 * LEASE + 15, "the retry")
    print(f"retried {time.monotonic() - killed:.1f}s after SIGKILL (lease {LEASE}s)")
    assert time.monotonic() - killed < 3 * LEASE + 15
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    wait_for(lambda: job.get_status(refresh=True) == "finished", 10, "the retried job's end")
    assert job.retries_left == 2


def test_a_killed_workers_job_without_retries_fails_saying_the_worker_died(redis_client, workers):
    marker = uuid.uuid4().hex
    (job_id,) = call("death.hangs_always", SignalRequest(), marker=marker).jobs
    killed = kill_mid_job(redis_client, workers, marker)
    failed = FailedJobRegistry("default", connection=redis_client)
    wait_for(lambda: job_id in failed.get_job_ids(), 3 * LEASE + 15, "the failure")
    print(f"failed {time.monotonic() - killed:.1f}s after SIGKILL (lease {LEASE}s)")
    assert time.monotonic() - killed < 3 * LEASE + 15
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    assert "Worker died while running job" in job.latest_result().exc_string
    assert job_id not in StartedJobRegistry("default", connection=redis_client).get_job_ids()
    assert attempts(redis_client, marker) == [1]  # never run twice


def test_a_killed_workers_async_signal_job_is_retried(redis_client, workers):
    marker = uuid.uuid4().hex
    job_id = death_signals.hangs.send(sender=None, marker=marker)
    killed = kill_mid_job(redis_client, workers, marker)
    wait_for(lambda: attempts(redis_client, marker) == [1, 2], 3 * LEASE + 15, "the retry")
    print(f"retried {time.monotonic() - killed:.1f}s after SIGKILL (lease {LEASE}s)")
    assert time.monotonic() - killed < 3 * LEASE + 15
    queue = get_queue("default")
    job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
    wait_for(lambda: job.get_status(refresh=True) == "finished", 10, "the retried job's end")


def test_with_default_settings_a_dead_workers_job_is_retried_within_60_seconds(
    redis_client, workers
):
    marker = uuid.uuid4().hex
    call("death.hangs_once", SignalRequest(), marker=marker)
    killed = kill_mid_job(redis_client, workers, marker, lease=None)
    wait_for(lambda: attempts(redis_client, marker) == [1, 2], 60, "the retry")
    print(f"retried {time.monotonic() - killed:.1f}s after SIGKILL (default lease)")
    assert time.monotonic() - killed < 60
