"""
Where floorkit's outgoing traffic goes: messages to browsers, jobs to RQ and
group membership changes (with the presence they are read against).

Every message that ``call()`` sends to browsers leaves through
``floorkit.delivery.publish.publish()``, and every job that floorkit pushes
(a delayed handler, ``floorkit.jobs.handler_jobs``; an ``AsyncSignal`` send,
``floorkit.async_signals.signal``; a ``django.tasks`` task, ``floorkit.tasks``) is handed over once it is built, and so
is every ``join()``/``leave()`` of a group (``floorkit.groups.membership``),
with ``presence()`` reading through the same object. All go to the *current
outbox*: an object with the methods of ``Outbox``. The default,
``RedisOutbox``, writes them to Redis (the publish script of
``floorkit.delivery.publish``; RQ's ``Queue.enqueue_job``; the group scripts
of ``floorkit.groups.scripts``).

Installing another outbox redirects that traffic for the whole process (every
thread) until it is uninstalled. This is the seam that tests use, as
Channels' in-memory channel layer is: ``floorkit.testing.capture()``
installs an outbox that records instead of writing. Nothing else changes;
argument checks, targets, JSON encoding and ``transaction.on_commit`` are
floorkit's real code either way::

    from floorkit.delivery import outbox

    with outbox.installed(my_outbox):
        call("shop.cart.add", request, WINDOW, product=7)  # my_outbox.publish(...)

Installs nest: the outbox installed last and not yet uninstalled is the
current one; uninstalling an outer one first leaves the inner one current.
``installed()`` uninstalls even when its block raises.

An outbox whose ``records_traces`` is false turns off trace events
(``floorkit.tracing.recorder.emit``) while it is current, so that nothing at
all reaches Redis. An outbox that runs a job in the thread that pushed it
(rather than leaving it to a worker) does so inside ``running_inline()``: the
job function then leaves the database connections alone, as they are the
caller's (a test's transaction).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from rq import Queue
    from rq.job import Job

    from floorkit.groups.membership import MembershipChange

__all__ = [
    "Outbox",
    "RedisOutbox",
    "current",
    "install",
    "installed",
    "running_inline",
    "runs_inline",
    "uninstall",
]


class Outbox(Protocol):
    """What an outbox provides (``RedisOutbox`` is the reference)."""

    #: Whether trace events are recorded while this outbox is current.
    records_traces: bool

    def publish(self, payload: bytes, addresses: list[str], action: str) -> int | None:
        """
        Send the encoded message ``payload`` (``floorkit.delivery.publish``'s
        format, without ``seq`` and ``epoch``) to every address of the
        non-empty list ``addresses``; return its sequence number. ``action``
        names the operation for error messages. Raise ``RedisUnavailable``
        when nothing could be sent.
        """
        ...

    def enqueue(
        self,
        queue: Queue,
        job: Job,
        pipeline: Any = None,
        *,
        at: datetime | None = None,
        at_front: bool = False,
    ) -> Job:
        """
        Push the RQ ``job`` (created by ``queue.create_job``) to ``queue``,
        within ``pipeline`` when given (the caller executes it). A queue
        made with ``is_async=False`` runs the job at once, in this thread.
        ``at``: the job waits in the queue's scheduled registry until then
        (RQ's ``schedule_job``); ``at_front``: it goes to the head of the
        queue. Only ``django.tasks`` jobs (``floorkit.tasks``) pass these two.
        Return the job.
        """
        ...

    def change_membership(self, change: MembershipChange, action: str) -> int | None:
        """
        Apply one group join or leave (``floorkit.groups.membership``) and
        send its ``floorkit.membership`` message to the scope; return that
        message's sequence number (a join of a scope already in the group:
        the first join's; a leave of one not in it: ``None``, nothing sent).
        """
        ...

    def read_presence(self, group: str, offset: int, limit: int) -> tuple[int, list[dict]]:
        """``(members in all, up to limit members from offset)`` of ``group``'s presence."""
        ...


class RedisOutbox:
    """The default outbox: messages, jobs and membership changes go to Redis."""

    records_traces = True

    def publish(self, payload: bytes, addresses: list[str], action: str) -> int | None:
        from floorkit.delivery.publish import write

        return write(payload, addresses, action)

    def enqueue(
        self,
        queue: Queue,
        job: Job,
        pipeline: Any = None,
        *,
        at: datetime | None = None,
        at_front: bool = False,
    ) -> Job:
        if at is not None:
            return queue.schedule_job(job, at, pipeline=pipeline)
        return queue.enqueue_job(job, pipeline=pipeline, at_front=at_front)

    def change_membership(self, change: MembershipChange, action: str) -> int | None:
        from floorkit.groups.scripts import change_membership

        return change_membership(change, action)

    def read_presence(self, group: str, offset: int, limit: int) -> tuple[int, list[dict]]:
        from floorkit.groups.scripts import read_presence

        return read_presence(group, offset, limit)

    def __repr__(self) -> str:
        return "<RedisOutbox>"


_default: Outbox = RedisOutbox()
# Newest last; current() reads the last one without the lock (a list read is atomic).
_installed: list[Outbox] = []
_lock = threading.Lock()


def current() -> Outbox:
    """The outbox in use: the newest installed one, else the ``RedisOutbox``."""
    return _installed[-1] if _installed else _default


def install(outbox: Outbox) -> None:
    """Make ``outbox`` current for the whole process, until ``uninstall(outbox)``."""
    with _lock:
        _installed.append(outbox)


def uninstall(outbox: Outbox) -> None:
    """
    Stop using ``outbox`` (installed by ``install()``); the newest outbox
    still installed, else Redis, is current again. Raise ``ValueError`` if
    ``outbox`` is not installed.
    """
    with _lock:
        for index in range(len(_installed) - 1, -1, -1):
            if _installed[index] is outbox:
                del _installed[index]
                return
    raise ValueError(f"{outbox!r} is not installed")


@contextlib.contextmanager
def installed(outbox: Outbox) -> Iterator[Outbox]:
    """Install ``outbox`` for the block (yielded), and uninstall it however the block ends."""
    install(outbox)
    try:
        yield outbox
    finally:
        uninstall(outbox)


_inline: contextvars.ContextVar[bool] = contextvars.ContextVar("floorkit_inline_job", default=False)


def runs_inline() -> bool:
    """Whether the code running is a job that an outbox runs in the thread that pushed it."""
    return _inline.get()


@contextlib.contextmanager
def running_inline() -> Iterator[None]:
    """Mark the block as a job run inline (``runs_inline()`` is true inside)."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)
