"""
Job leases: how a job whose worker died is found, and retried or failed.

RQ records a started job in the queue's ``StartedJobRegistry`` with an expiry
(its score). floorkit's workers keep that expiry short, ``WORKER_LEASE``
seconds (default 20), and renew it every quarter of the lease while the job
runs: ``SimpleWorker`` from a renewal thread (``Renewal``), ``ForkingWorker``
from RQ's own work-horse monitoring, every quarter lease. A worker killed with
SIGKILL stops renewing; once the lease has expired, the next maintenance pass
of any floorkit worker on that queue (every ``WORKER_LEASE`` seconds, and
right after start-up; an idle worker wakes from its blocking pop at least that
often) finds the job and, by ``reclaim_abandoned()``:

* re-enqueues it when it has retries left (RQ's ``Retry``, as a failure would);
* otherwise moves it to the failed registry with a "worker died" reason,
  and a browser call awaiting it gets ``handler_failed`` saying so
  (``floorkit.jobs.waiting``).

So a dead worker's job is retried or failed within about three leases (60 s
with the default) when another worker serves the queue, or that long after
one starts. The price of a short lease: a job that holds the GIL for longer
than a lease without releasing it (a C extension that never yields) is taken
for dead and may run twice; raise ``WORKER_LEASE`` for such jobs.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from rq.exceptions import AbandonedJobError, NoSuchJobError
from rq.job import JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import current_timestamp, now

logger = logging.getLogger("floorkit.jobs.worker")


def lease_seconds() -> int:
    """``FLOORKIT["WORKER_LEASE"]``: seconds a started job stays claimed without renewal."""
    from floorkit import conf

    return max(2, int(conf.get("WORKER_LEASE")))


def reclaim_abandoned(queue: Any, exception_handlers: list | None = None) -> list[str]:
    """
    Retry or fail the jobs of ``queue`` whose lease expired (their worker
    died), running their failure callbacks and the worker's exception
    handlers as RQ does; return their ids. A job with retries left goes back
    to its queue; one without lands in the failed registry, its failure text
    saying that the worker died.
    """
    registry = StartedJobRegistry(
        name=queue.name,
        connection=queue.connection,
        job_class=queue.job_class,
        serializer=queue.serializer,
    )
    score = current_timestamp()
    job_ids = registry.get_expired_job_ids(score)
    if not job_ids:
        return []
    failed = []
    with queue.connection.pipeline() as pipeline:
        for job_id in job_ids:
            try:
                job = queue.job_class.fetch(
                    job_id, connection=queue.connection, serializer=queue.serializer
                )
            except NoSuchJobError:
                continue
            error = AbandonedJobError(f"the worker running job {job_id} died")
            stack = traceback.extract_stack()
            job.execute_failure_callback(
                registry.death_penalty_class, AbandonedJobError, error, stack
            )
            for handler in exception_handlers or ():
                if handler(job, AbandonedJobError, error, stack) is False:
                    break
            if job.retries_left and job.retries_left > 0:
                logger.warning("job %s: its worker died; retrying it", job.id)
                job.retry(queue, pipeline)
            else:
                reason = (
                    f"Worker died while running job {job.id}: its lease was not renewed, "
                    f"found at {now():%Y-%m-%d %H:%M:%S} UTC (AbandonedJobError)"
                )
                logger.warning("job %s: its worker died; moved to the failed registry", job.id)
                job.set_status(JobStatus.FAILED, pipeline=pipeline)
                job._handle_failure(reason, pipeline, worker_name="")
                queue.enqueue_dependents(job, refresh_job_status=False)
                failed.append(job)
        pipeline.zremrangebyscore(registry.key, 0, score)
        pipeline.execute()
    if failed:  # once the failures are recorded
        from floorkit.jobs.waiting import abandoned

        for job in failed:
            abandoned(job)
    return job_ids


class Renewal:
    """
    Renew a running job's lease every quarter lease from a daemon thread, until
    ``stop()``. A failed renewal (Redis away) is logged and retried at the next
    beat; the job itself is never interrupted.
    """

    def __init__(self, worker: Any, job: Any, lease: int) -> None:
        self.worker = worker
        self.job = job
        self.every = lease / 4
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lease {job.id}", daemon=True)

    def start(self) -> Renewal:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.every + 1)

    def _run(self) -> None:
        while not self.stopped.wait(self.every):
            if getattr(self.worker, "execution", None) is None:
                continue  # not started yet
            try:
                self.worker.maintain_heartbeats(self.job)
            except Exception as exc:  # the job goes on; its lease may lapse
                logger.warning("job %s: could not renew its lease: %s", self.job.id, exc)
