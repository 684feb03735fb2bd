"""
RQ worker classes that read floorkit's JSON jobs.

RQ pickles by default; floorkit's jobs are JSON (``rq.serializers.JSONSerializer``),
and a worker must use the same serializer. ``SimpleWorker`` is django-rq's
default worker class once floorkit is installed (``floorkit.jobs.rq_defaults``), so
``python manage.py rqworker default`` runs floorkit jobs; to pick one::

    RQ = {"WORKER_CLASS": "floorkit.jobs.worker.ForkingWorker"}

``SimpleWorker`` (recommended) runs jobs in the worker process: fast (see
``bench/README.md``), but a job that crashes the interpreter or leaks memory
affects the worker. ``ForkingWorker`` forks a
child per job (RQ's default model): isolated, but far slower.

Both keep RQ's bookkeeping: the job hash, the started, finished and failed
registries, executions, results, retries, dependents and the worker hash
hold what RQ's own workers write (``tests/test_worker.py`` compares them).
``SimpleWorker`` only sends those writes in fewer round trips.
"""

from __future__ import annotations

import time
from typing import Any

import rq
from rq.exceptions import DeserializationError
from rq.executions import Execution
from rq.job import Job, JobStatus, _job_stack
from rq.repeat import Repeat
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from floorkit.jobs.lease import Renewal, lease_seconds, reclaim_abandoned


class FloorkitJob(Job):
    """
    RQ's ``Job``, with the PERSIST that ``perform()`` sends on its own moved
    into the pipeline that marks the job started (same write, one round trip
    fewer). Used by ``SimpleWorker`` unless another job class is configured,
    and django-rq's default job class (``floorkit.jobs.rq_defaults``).

    A job whose data the worker's serializer cannot read fails with a
    ``DeserializationError`` whose text names the serializer and the fix.
    """

    _persist_sent = False

    def _deserialize_data(self) -> None:
        try:
            super()._deserialize_data()
        except DeserializationError as exc:
            from floorkit.jobs.rq_defaults import serializer_failure

            cause = exc.__cause__
            detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            raise DeserializationError(
                serializer_failure(self.id, self.serializer) + detail
            ) from cause

    def prepare_for_execution(self, worker_name: str, pipeline: Any) -> None:
        super().prepare_for_execution(worker_name, pipeline)
        pipeline.persist(self.key)
        self._persist_sent = True

    def perform(self) -> Any:
        if not self._persist_sent:
            return super().perform()
        _job_stack.push(self)
        try:
            self._result = self._execute()
        finally:
            assert self is _job_stack.pop()
        return self._result


class _FloorkitWorkerMixin:
    """
    JSON jobs, the ``worker`` role in traces, and cheaper heartbeats: RQ sends
    a heartbeat (two round trips) several times per job; a heartbeat asking
    for no longer an expiry than one sent less than a second ago is skipped,
    and the others go in one pipelined round trip.
    """

    HEARTBEAT_EVERY = 1.0

    def __init__(self, *args, **kwargs):
        from floorkit.tracing import recorder

        recorder.set_role("worker")
        kwargs["serializer"] = JSONSerializer
        self.lease = lease_seconds()
        kwargs.setdefault("maintenance_interval", self.lease)
        kwargs.setdefault("job_monitoring_interval", max(1, self.lease // 4))
        self._beat_at = 0.0
        self._beat_timeout = 0
        super().__init__(*args, **kwargs)

    # -- job leases (floorkit.jobs.lease): a dead worker's job is reclaimed within 3 leases

    @property
    def dequeue_timeout(self) -> int:
        """Wake from the blocking pop at least once a lease, to run maintenance."""
        return max(1, min(super().dequeue_timeout, self.lease))

    def get_heartbeat_ttl(self, job: Job) -> int:
        """A started job's claim lasts one lease, renewed every quarter lease."""
        return self.lease

    def clean_registries(self) -> None:
        """RQ's maintenance, after retrying or failing the jobs of dead workers."""
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                try:
                    reclaim_abandoned(queue, self._exc_handlers)
                finally:
                    queue.release_maintenance_lock()
        super().clean_registries()

    # -- the pubsub channel of worker commands (RQ's kill-horse, stop-job, shutdown)

    def unsubscribe(self) -> None:
        """
        Stop listening for worker commands, within a second.

        The pubsub thread's loop is stopped before UNSUBSCRIBE is sent, so the
        reply that wakes its read also ends it. In RQ's own order (UNSUBSCRIBE
        first) a thread that reads the reply before the loop is stopped waits
        60 s for a subscription that never comes, and RQ joins it without a
        bound: ``rqworker --burst`` took a minute to exit.
        """
        thread = self.pubsub_thread
        if thread is None:
            return
        self.log.info(
            "Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name
        )
        try:
            thread.stop(timeout=0)  # clears the loop's flag; joins for no time
        except TypeError:  # redis-py before 8: stop() takes no timeout and joins nothing
            thread.stop()
        if thread.is_alive():
            self.pubsub.unsubscribe()
        thread.join(timeout=1)
        self.pubsub.close()

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        timeout = timeout or self.worker_ttl + 60
        now = time.monotonic()
        if now - self._beat_at < self.HEARTBEAT_EVERY and timeout <= self._beat_timeout:
            return None
        self._beat_at, self._beat_timeout = now, timeout
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        with self.connection.pipeline() as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            pipe.execute()
        return None


class SimpleWorker(_FloorkitWorkerMixin, rq.SimpleWorker):
    """
    Runs JSON jobs in the worker process (recommended).

    Per job, RQ's ``SimpleWorker`` makes twelve Redis round trips; this one
    makes five (take, fetch, start, finish and the suspension check with the
    heartbeat), writing the same keys:

    * the execution record and the ``busy`` state go in the pipeline that
      marks the job started, not in one of their own;
    * the worker's ``idle`` state rides in the pipeline that ends the job
      (RQ writes it on its own, twice);
    * the job's last heartbeat after it ran rides in that pipeline too, unless
      a success or failure callback runs in between (it then goes at once);
    * the job key's PERSIST rides in the pipeline that starts the job
      (``FloorkitJob``);
    * a finished job's dependents are read inside the transaction that marks
      it finished (the dependents' own enqueue WATCHes the job's key, so none
      is missed) instead of under a WATCH before it, and enqueued after it
      only when there are some, as RQ does for failed jobs.
    """

    def __init__(self, *args, **kwargs):
        from floorkit.tracing import recorder

        recorder.FLUSH_AFTER_JOBS = False  # the worker lives on: its flusher thread writes
        if kwargs.get("job_class") in (None, Job):
            kwargs["job_class"] = FloorkitJob
        self._pending_job_heartbeat: tuple[Job, int] | None = None
        self._pending_execution: Job | None = None
        super().__init__(*args, **kwargs)

    def prepare_execution(self, job: Job) -> None:
        """Defer the execution record to the pipeline that marks the job started."""
        self._pending_execution = job

    def _write_pending_execution(self, pipeline: Any) -> None:
        job, self._pending_execution = self._pending_execution, None
        self.execution = Execution.create(
            job, self.get_heartbeat_ttl(job), pipeline=pipeline, worker_name=self.name
        )
        self.set_state(WorkerStatus.BUSY, pipeline=pipeline)

    def set_current_job_id(self, job_id: str | None = None, pipeline=None) -> None:
        if job_id is not None and pipeline is not None and self._pending_execution is not None:
            self._write_pending_execution(pipeline)
        super().set_current_job_id(job_id, pipeline=pipeline)

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        if self._pending_execution is not None:  # RQ started the job another way: write it now
            with self.connection.pipeline() as pipeline:
                self._write_pending_execution(pipeline)
                pipeline.execute()

    def handle_job_success(self, job: Job, queue: Any, started_job_registry: Any) -> None:
        """RQ's success bookkeeping in one transaction, dependents read inside it."""
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                execution = self.execution
                job._handle_success(
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=execution.id if execution else None,
                    execution_started_at=execution.created_at if execution else None,
                    execution_ended_at=job.ended_at,
                )
            if job.repeats_left is not None and job.repeats_left > 0:
                Repeat.schedule(job, queue, pipeline=pipeline)
            else:
                job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            self.cleanup_execution(job, pipeline=pipeline)
            pipeline.smembers(job.dependents_key)
            has_dependents = bool(pipeline.execute()[-1])
        if has_dependents:
            queue.enqueue_dependents(job)
        self.log.info(
            "Successfully completed job %s in %ss on worker %s",
            job.id,
            job.ended_at - job.started_at,
            self.name,
        )

    def set_state(self, state: str, pipeline=None) -> None:
        """Write the state, unless it is the one this worker wrote last."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline=pipeline)

    def handle_execution_ended(self, job: Job, queue: Any, heartbeat_ttl: int) -> None:
        failed = job.get_status(refresh=False) == JobStatus.FAILED
        callback = job.failure_callback if failed else job.success_callback
        if callback is not None:
            return super().handle_execution_ended(job, queue, heartbeat_ttl)
        job.ended_at = rq.utils.now()
        self._pending_job_heartbeat = (job, heartbeat_ttl)
        return None

    def _flush_pending_job_heartbeat(self, pipeline=None) -> None:
        if self._pending_job_heartbeat is not None:
            job, ttl = self._pending_job_heartbeat
            self._pending_job_heartbeat = None
            job.heartbeat(rq.utils.now(), ttl, pipeline=pipeline)

    def cleanup_execution(self, job: Job, pipeline: Any) -> None:
        self._flush_pending_job_heartbeat(pipeline)
        super().cleanup_execution(job, pipeline)
        self.set_state(WorkerStatus.IDLE, pipeline=pipeline)

    def execute_job(self, job: Job, queue: Any) -> None:
        renewal = Renewal(self, job, self.lease).start()
        try:
            super().execute_job(job, queue)
        finally:
            renewal.stop()
            self._flush_pending_job_heartbeat()  # only if RQ ended the job another way


class ForkingWorker(_FloorkitWorkerMixin, rq.Worker):
    """Runs JSON jobs in a forked child per job (isolation over speed)."""
