"""
``capture()``: record what the code under test sends, instead of sending it.

``capture()`` installs a recording outbox (``floorkit.delivery.outbox``, the
seam every message to browsers and every RQ job goes through) for the
duration of its block, and uninstalls it however the block ends. Messages
are numbered as Redis numbers them (``floorkit.delivery.publish.number()``,
with the capture's own counter); jobs are kept as the JSON bytes RQ would
store and run here by ``Captured.run_jobs()``. Everything else is floorkit's
real code: argument checks, targets, JSON encoding, ``transaction.on_commit``.
While a capture is active no trace event is recorded, so nothing reaches
Redis.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from floorkit.delivery import outbox
from floorkit.testing.records import Job, JobFailed, JobKind, Membership, Message

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from rq import Queue
    from rq.job import Job as RQJob

    from floorkit.groups.membership import MembershipChange

__all__ = ["Captured", "capture"]


class Captured:
    """
    What was sent while a ``capture()`` block was active, in the order it
    was sent: ``sent`` holds ``Message``, ``Job`` and ``Membership`` objects
    interleaved; ``messages``, ``jobs`` and ``memberships`` are the same, by
    kind. A group join or leave also sends its ``floorkit.membership``
    message, captured after it; ``presence()`` answers that nobody is
    connected (no tab is, in a capture).

    A message is captured when ``call()`` publishes it (after the inline
    handlers ran). A job is captured when it is pushed: at once outside a
    transaction, when the transaction commits inside ``transaction.atomic()``
    (never if it rolls back) — as with Redis.

    ``epoch`` is the epoch that the captured frames carry, made as Redis
    makes one (microseconds since 1970, when the capture started).
    """

    def __init__(self, run_jobs: bool = False) -> None:
        self.sent: list[Message | Job] = []
        self.auto_run = run_jobs
        self.epoch = str(time.time_ns() // 1000)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._depth = 0
        self._auto_failures: list[Job] = []
        self._groups: dict[str, dict[str, int]] = {}  # scope -> group -> seq of its join

    def __repr__(self) -> str:
        return f"<Captured: {len(self.messages)} messages, {len(self.jobs)} jobs>"

    @property
    def messages(self) -> list[Message]:
        """The messages sent to browsers, in order."""
        return [item for item in self.sent if isinstance(item, Message)]

    @property
    def jobs(self) -> list[Job]:
        """The jobs pushed (delayed handlers, ``AsyncSignal`` sends, ``django.tasks`` tasks), in order."""
        return [item for item in self.sent if isinstance(item, Job)]

    @property
    def memberships(self) -> list[Membership]:
        """The group joins and leaves, in order."""
        return [item for item in self.sent if isinstance(item, Membership)]

    def groups_of(self, scope: str) -> list[str]:
        """The groups ``scope`` (``"user:alice"``...) is in now, after the captured changes."""
        return sorted(self._groups.get(scope, {}))

    def messages_to(self, target: Any, request: Any = None) -> list[Message]:
        """
        The messages sent to ``target``, in order: an address string
        (``"broadcast"``, ``"user:alice"``, ``"session:ID"``, ``"window:ID"``)
        or any target ``call()`` accepts (``BROADCAST``, ``{USER: ["bob"]}``,
        ``User("bob")``, a list...). ``WINDOW``, ``SESSION`` and ``USER`` are
        those of ``request`` (an ``HttpRequest`` or a ``SignalRequest``).

        A message matches when one of its addresses is one of the target's:
        ``messages_to(User("bob"))`` does not include broadcasts (see
        ``messages_reaching``). Raise ``InvalidTarget`` as ``call()`` would.
        """
        from floorkit.signals import targets
        from floorkit.signals.request import SignalRequest

        if isinstance(target, str):
            target = targets.parse(target)
        wanted = set(targets.resolve(target, SignalRequest.coerce(request)))
        return [m for m in self.messages if wanted.intersection(m.addresses)]

    def messages_reaching(self, request: Any) -> list[Message]:
        """
        The messages that a browser tab of ``request`` (an ``HttpRequest`` or a
        ``SignalRequest``) would receive, in order: those sent to its window,
        its session, its user, or to everyone (``targets.addresses_of``), and
        those sent to a group while one of these was in it.
        """
        from floorkit.groups.names import group_address
        from floorkit.signals import targets
        from floorkit.signals.request import SignalRequest

        scopes = targets.addresses_of(SignalRequest.coerce(request))
        reaching, inside, found = set(scopes), {s: set() for s in scopes}, []
        for item in self.sent:
            if isinstance(item, Membership) and item.scope in inside:
                change = inside[item.scope].add if item.joined else inside[item.scope].discard
                change(group_address(item.group))
            elif isinstance(item, Message):
                now = reaching.union(*inside.values())
                if now.intersection(item.addresses):
                    found.append(item)
        return found

    def run_jobs(self, *, raise_errors: bool = True, limit: int = 1000) -> list[Job]:
        """
        Run every queued job here and now, oldest first, as a worker would:
        the job function gets its arguments decoded from the JSON that RQ
        would store, so a value that does not survive JSON is seen as a
        worker sees it. Jobs that these jobs push run too, after them.
        Return the jobs run, in order.

        A failing job does not stop the others (it is ``"failed"``, with its
        ``error``). Then, if ``raise_errors``, raise ``JobFailed`` for the
        first failure. RQ's retries are not simulated, and
        ``rq.get_current_job()`` is ``None`` inside these jobs. Raise
        ``RuntimeError`` when more than ``limit`` jobs ran (a job that
        enqueues itself).
        """
        ran = self._drain(limit)
        failed = [job for job in ran if job.status == "failed"]
        if failed and raise_errors:
            raise JobFailed(failed[0]) from failed[0].error
        return ran

    def clear(self) -> None:
        """Forget what was captured so far (the numbering of messages goes on)."""
        with self._lock:
            self.sent.clear()
            self._auto_failures.clear()

    # -- recording (called by the capture's outbox) --------------------------------------

    def _record_message(self, payload: bytes, addresses: list[str]) -> int:
        from floorkit.delivery.publish import number

        with self._lock:
            seq = next(self._seq)
            frame = json.loads(number(payload, seq, self.epoch))
            self.sent.append(
                Message(
                    frame["signal"],
                    frame["kwargs"],
                    list(addresses),
                    trace=frame.get("trace"),
                    id=frame.get("id"),
                    seq=seq,
                    frame=frame,
                )
            )
        return seq

    def _record_membership(self, change: MembershipChange) -> int | None:
        """Keep one join or leave and its ``floorkit.membership`` message; as Redis answers."""
        from floorkit.delivery.publish import encode
        from floorkit.signals.request import SignalRequest

        groups = self._groups.setdefault(change.scope, {})
        if change.joined and change.group in groups:
            return groups[change.group]
        if not change.joined and change.group not in groups:
            return None
        notice = json.loads(change.notice)
        payload = encode(
            "floorkit.membership",
            notice,
            SignalRequest(trace_id=change.trace),
            uuid.uuid4().hex,
            change.hop,
        )
        meta = json.loads(change.meta) if change.joined else {}
        with self._lock:
            membership = Membership(change.group, change.scope, change.joined, meta)
            self.sent.append(membership)
        membership.seq = self._record_message(payload, [change.scope])
        if change.joined:
            groups[change.group] = membership.seq
        else:
            del groups[change.group]
        return membership.seq

    def _record_job(
        self, queue: Queue, rq_job: RQJob, at: datetime | None = None, at_front: bool = False
    ) -> None:
        """
        Keep ``rq_job``; with ``run_jobs=True`` run what is queued. A job for a
        synchronous queue (``AsyncSignal``'s eager mode) runs at once, and
        its failure is reported to the eager send as RQ's run would. A
        ``django.tasks`` job keeps its ``run_after`` (``at``) and whether it
        went to the front of its queue, but runs in the order it was pushed.
        """
        rq_job.origin = queue.name
        job = _job_of(rq_job, queue.name)
        job.run_after, job.at_front = at, at_front
        with self._lock:
            self.sent.append(job)
        if not queue.is_async:
            self._run(job, eager=True)
        self._auto_drain()

    def _auto_drain(self) -> None:
        """With ``run_jobs=True``: run what is queued, unless a job is running (it will)."""
        if self.auto_run and self._depth == 0:
            ran = self._drain(limit=1000)
            self._auto_failures.extend(j for j in ran if j.status == "failed")

    def _drain(self, limit: int) -> list[Job]:
        ran: list[Job] = []
        while True:
            job = next((j for j in self.jobs if j.status == "queued"), None)
            if job is None:
                return ran
            if len(ran) >= limit:
                raise RuntimeError(
                    f"more than {limit} jobs ran in one go: does a job enqueue itself? "
                    f"(next: {job.describe()})"
                )
            self._run(job)
            ran.append(job)

    def _run(self, job: Job, eager: bool = False) -> None:
        """
        Run ``job`` as a worker would, from its JSON, inline: the job
        functions leave the test's database connections alone. An
        ``AsyncSignal`` job reports its failure to its eager send when
        ``eager`` (``run_receivers()`` appends it to the send's list), else to
        nobody but ``job.error``.
        """
        from django.utils.module_loading import import_string

        from floorkit.async_signals.job import _eager_errors
        from floorkit.jobs.waiting import running_job

        function, _instance, args, kwargs = json.loads(job.payload)  # the worker's view
        errors = _eager_errors.get() if eager else None
        token = _eager_errors.set([] if errors is None else errors)
        self._depth += 1
        try:
            with outbox.running_inline(), running_job(job.id):
                job.result = import_string(function)(*args, **kwargs)
            job.status = "finished"
        except Exception as exc:
            job.status, job.error = "failed", exc
        finally:
            self._depth -= 1
            _eager_errors.reset(token)


def _job_of(rq_job: RQJob, queue: str) -> Job:
    """The ``Job`` record of an RQ job, told apart by its job function."""
    from floorkit.async_signals.job import JOB_FUNCTION as ASYNC_SIGNAL_JOB
    from floorkit.jobs.handler_jobs import JOB_FUNCTION as HANDLER_JOB
    from floorkit.tasks.job import TASK_FUNCTION as TASK_JOB

    payload = rq_job.data  # RQ's JSON serialization: raises for what JSON cannot carry
    function, _instance, args, _kwargs = json.loads(payload)
    kind: JobKind = "function"
    signal = handler = None
    if function == HANDLER_JOB:
        kind, signal, handler = "handler", args[0], args[1]
    elif function == ASYNC_SIGNAL_JOB:
        kind, signal = "async_signal", args[0]
    elif function == TASK_JOB:
        kind, signal = "task", None
    return Job(
        id=rq_job.id,
        kind=kind,
        function=function,
        signal=signal,
        handler=handler,
        queue=queue,
        retries=rq_job.retries_left,
        payload=payload,
    )


class CaptureOutbox:
    """
    The outbox ``capture()`` installs (``floorkit.delivery.outbox``): it hands
    messages, jobs and group changes to its ``Captured`` and records no
    trace events.
    """

    records_traces = False

    def __init__(self, captured: Captured) -> None:
        self.captured = captured

    def __repr__(self) -> str:
        return f"<CaptureOutbox {self.captured!r}>"

    def publish(self, payload: bytes, addresses: list[str], action: str) -> int | None:
        return self.captured._record_message(payload, addresses)

    def enqueue(
        self,
        queue: Queue,
        job: RQJob,
        pipeline: Any = None,
        *,
        at: datetime | None = None,
        at_front: bool = False,
    ) -> RQJob:
        self.captured._record_job(queue, job, at=at, at_front=at_front)
        return job

    def change_membership(self, change: MembershipChange, action: str) -> int | None:
        return self.captured._record_membership(change)

    def read_presence(self, group: str, offset: int, limit: int) -> tuple[int, list[dict]]:
        return 0, []


@contextlib.contextmanager
def capture(*, run_jobs: bool = False) -> Iterator[Captured]:
    """
    Capture the messages sent to browsers and the jobs pushed to RQ while the
    block runs, instead of sending them to Redis; yield a ``Captured``.

    Nothing in the block needs Redis: ``call()`` runs its inline handlers and
    checks its arguments as usual, and what it would publish or enqueue is
    recorded, in order. Jobs wait in ``Captured.jobs`` until
    ``Captured.run_jobs()`` runs them. With ``run_jobs=True``, each job runs
    as soon as it is pushed (a job pushed by a running job runs after it);
    a failing job does not disturb the code that pushed it, as with a
    worker, but the block raises ``JobFailed`` at its end (unless it is
    already raising).

    A ``django.tasks`` task enqueued through ``floorkit.tasks.RQBackend`` is a
    captured job too (``kind == "task"``), pushed when its transaction
    commits; running it runs the ``@task``, sending Django's ``task_started``
    and ``task_finished``.

    ``AsyncSignal``: in ``"async"`` mode a send is a captured job; in
    ``"eager"`` mode it is captured and run at once, and a receiver's
    exception propagates from ``send()`` as in eager mode; ``"sync"`` mode
    pushes no job, so nothing is captured.

    The capture is process-wide (every thread; it installs a
    ``CaptureOutbox``), meant for one test at a time. Blocks nest: the
    innermost one captures, and each block's end, even by an exception,
    gives back the outbox that was current before it. Trace events are not
    recorded while capturing (trace ids still flow).
    """
    captured = Captured(run_jobs=run_jobs)
    with outbox.installed(CaptureOutbox(captured)):
        yield captured
    if captured._auto_failures:  # only reached when the block did not raise
        job = captured._auto_failures[0]
        raise JobFailed(job) from job.error


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a test extra
    pytest = None

if pytest is not None:

    @pytest.fixture
    def floorkit_capture() -> Iterator[Captured]:
        """
        pytest fixture: a ``capture()`` active for the whole test. Enable it
        with ``pytest_plugins = ["floorkit.testing"]`` in the root ``conftest.py``.
        """
        with capture() as captured:
            yield captured
