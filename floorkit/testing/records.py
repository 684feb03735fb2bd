"""
What ``capture()`` records: ``Message`` (one message sent to browsers),
``Job`` (one job pushed to RQ) and ``Membership`` (one group join or leave),
and ``JobFailed``, raised for a captured job that failed when it ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from floorkit.signals.request import SignalRequest

__all__ = ["Job", "JobFailed", "JobKind", "JobStatus", "Membership", "Message"]

JobKind = Literal["handler", "async_signal", "task", "function"]
JobStatus = Literal["queued", "finished", "failed"]


@dataclass
class Message:
    """
    One message sent to browsers: what ``call()`` published for ``signal``.

    ``kwargs`` are the arguments exactly as a browser receives them: decoded
    from the JSON frame, so a ``datetime`` or a ``Decimal`` is a string there.
    ``addresses`` are where it went, in order (``"broadcast"``,
    ``"user:alice"``, ``"session:<opaque id>"``, ``"window:<id>"``; see
    ``floorkit.signals.targets``). One call publishes one message, to all its
    addresses.

    Two messages are equal when their ``signal``, ``kwargs`` and
    ``addresses`` are, so that a test can write the messages it expects::

        assert captured.messages == [Message("shop.cart.updated", {"count": 2}, ["user:alice"])]

    ``trace`` (the call's trace id), ``id``, ``seq`` (numbered from 1 in each
    capture) and ``frame`` (the whole websocket frame, a dict) are not
    compared.
    """

    signal: str
    kwargs: dict[str, Any]
    addresses: list[str]
    trace: str | None = field(default=None, compare=False)
    id: str | None = field(default=None, compare=False)
    seq: int | None = field(default=None, compare=False)
    frame: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Membership:
    """
    One group membership change: ``scope`` (``"window:<id>"``,
    ``"session:<id>"``, ``"user:<name>"``) ``joined`` (True) or left (False)
    ``group``, with ``meta`` (the presence metadata of a join). ``seq`` is
    that of its ``floorkit.membership`` message, captured too; it is not
    compared::

        assert captured.memberships == [Membership("doc.42", "user:alice", True, {"name": "A"})]
    """

    group: str
    scope: str
    joined: bool
    meta: dict[str, Any] = field(default_factory=dict)
    seq: int | None = field(default=None, compare=False)


@dataclass(eq=False)
class Job:
    """
    One job pushed to an RQ queue: a delayed handler call (``kind ==
    "handler"``), an ``AsyncSignal`` send (``kind == "async_signal"``) or a
    ``django.tasks`` task enqueued through ``floorkit.tasks.RQBackend``
    (``kind == "task"``: ``task`` is its module path, ``args`` and
    ``kwargs`` its arguments, ``run_after`` and ``at_front`` where RQ would
    put it; ``id`` is the ``TaskResult``'s).

    ``signal`` is the signal's name; ``handler`` the dotted path of the
    delayed handler (``None`` for an ``AsyncSignal``: one job runs all its
    receivers). ``id`` is the job id that ``call()`` returned in
    ``CallResult.jobs`` (or ``AsyncSignal.send()`` returned), ``queue`` the
    RQ queue, ``retries`` the retries RQ would allow.

    ``status`` is ``"queued"`` until the job runs (``Captured.run_jobs()``),
    then ``"finished"`` with its ``result``, or ``"failed"`` with the
    exception in ``error``.

    The job is kept as the JSON bytes RQ would store; every read below
    decodes them again, so you see what a worker would get.
    """

    id: str
    kind: JobKind
    function: str
    signal: str | None
    handler: str | None
    queue: str
    retries: int | None
    payload: bytes = field(repr=False)
    status: JobStatus = "queued"
    result: Any = None
    error: BaseException | None = None
    run_after: datetime | None = None
    at_front: bool = False

    def _decoded(self) -> tuple[list[Any], dict[str, Any]]:
        _function, _instance, args, kwargs = json.loads(self.payload)
        return list(args), dict(kwargs)

    @property
    def kwargs(self) -> dict[str, Any]:
        """
        The arguments as the code on the worker gets them: for a delayed
        handler, its keyword arguments after the JSON round trip (a tuple is
        a list, dict keys are strings; the handler's annotations convert
        them again when it runs); for an ``AsyncSignal``, the receivers'
        named arguments rebuilt by ``floorkit.async_signals.mappings`` (a model instance
        is fetched again from the database, at each access).
        """
        args, kwargs = self._decoded()
        if self.kind == "handler":
            return args[3]
        if self.kind == "task":
            return args[2]
        if self.kind == "async_signal":
            from floorkit.async_signals import mappings

            return {key: mappings.decode(value, key) for key, value in args[2].items()}
        return kwargs

    @property
    def sender(self) -> Any:
        """The ``sender`` of an ``AsyncSignal`` send, rebuilt as receivers get it; else ``None``."""
        if self.kind != "async_signal":
            return None
        from floorkit.async_signals import mappings

        return mappings.decode(self._decoded()[0][1], "sender")

    @property
    def request(self) -> SignalRequest | None:
        """The caller a delayed handler runs as (a ``SignalRequest``); ``None`` for other jobs."""
        if self.kind != "handler":
            return None
        from floorkit.signals.request import SignalRequest

        return SignalRequest.from_dict(self._decoded()[0][2])

    @property
    def args(self) -> list[Any]:
        """The job function's positional arguments (a task's own), as JSON data."""
        if self.kind == "task":
            return self._decoded()[0][1]
        return self._decoded()[0]

    @property
    def task(self) -> str | None:
        """The module path of a ``django.tasks`` task (``kind == "task"``); else ``None``."""
        return self._decoded()[0][0] if self.kind == "task" else None

    def describe(self) -> str:
        """``"job <id> (<signal> -> <handler>)"``, for messages."""
        if self.kind == "handler":
            return f"job {self.id} ({self.signal} -> {self.handler})"
        if self.kind == "async_signal":
            return f"job {self.id} (AsyncSignal {self.signal})"
        if self.kind == "task":
            return f"job {self.id} (task {self.task})"
        return f"job {self.id} ({self.function})"


class JobFailed(Exception):
    """
    A captured job raised when it ran. ``job`` is the ``Job`` (its ``error``
    is the exception, also chained as ``__cause__``).
    """

    def __init__(self, job: Job):
        self.job = job
        error = job.error
        super().__init__(f"{job.describe()} failed: {type(error).__name__}: {error}")
