"""
``call()``: the one way to fire a signal from Python.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction

from floorkit.delivery import publish
from floorkit.errors import REFUSALS
from floorkit.exceptions import FloorkitError, InvalidArguments, LoginRequired, NotAllowed
from floorkit.groups.authorizers import authorize
from floorkit.jobs import handler_jobs
from floorkit.signals import targets
from floorkit.signals.coroutines import call_sync
from floorkit.signals.registry import Handler, registry
from floorkit.signals.request import SignalRequest
from floorkit.tracing import recorder

logger = logging.getLogger("floorkit.signals.dispatch")


@dataclass
class Outcome:
    """What one handler did: ran inline and returned ``result``, or was enqueued as ``job_id``."""

    handler: str
    delayed: bool
    result: Any = None
    job_id: str | None = None


@dataclass
class CallResult:
    """
    What a call did. ``outcomes`` has one ``Outcome`` per handler, in
    registration order; ``results`` are the inline handlers' return values and
    ``jobs`` the RQ job ids of the delayed ones. ``message_id`` is the id of the
    message published to ``addresses`` (``None`` without targets), ``trace_id``
    the call's trace, ``seq`` its sequence number once published.

    ``pending_commit`` is ``True`` when the call was made inside a transaction
    and something waits for its commit: the delayed handlers' jobs (always),
    and the message with ``call.options(on_commit=True)`` (then ``seq`` is
    ``None``). If the transaction rolls back, those jobs never exist and that
    message is never sent.
    """

    signal: str
    trace_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    message_id: str | None = None
    addresses: list[str] = field(default_factory=list)
    seq: int | None = None
    pending_commit: bool = False

    @property
    def results(self) -> list[Any]:
        return [o.result for o in self.outcomes if not o.delayed]

    @property
    def jobs(self) -> list[str]:
        return [o.job_id for o in self.outcomes if o.delayed]


def bind_arguments(
    signal: str, kwargs: dict[str, Any], handlers: list[Handler]
) -> list[tuple[Handler, dict[str, Any]]]:
    """
    Check ``kwargs`` against every handler before anything runs. Return the
    handlers with their converted arguments; raise ``InvalidArguments``.
    """
    bound = [(handler, handler.bind(kwargs)) for handler in handlers]
    for handler, arguments in bound:
        if handler.delayed:
            handler_jobs.check_json_arguments(signal, handler.path, arguments)
    return bound


def execute(
    signal: str,
    request: SignalRequest,
    bound: list[tuple[Handler, dict[str, Any]]],
    message: tuple[str, bytes] | None,
    addresses: list[str],
    publish_hop: str | None = None,
    on_commit: bool = False,
) -> CallResult:
    """
    Run the inline handlers in order, enqueue the delayed ones, then publish
    the message to ``addresses`` (with ``on_commit``, once the current
    transaction commits). A handler's exception propagates and stops the call:
    later handlers do not run, nothing is published. ``request`` is the call's
    hop (its ``parent`` is the call's hop id).
    """
    result = CallResult(signal, request.trace_id, addresses=addresses)
    enqueued = False
    for handler, arguments in bound:
        if handler.delayed:
            result.outcomes.append(_enqueue_delayed(signal, request, handler, arguments))
            enqueued = True
        else:
            result.outcomes.append(_run_inline(signal, request, handler, arguments))
    call_hop = request.parent
    # Only jobs and on_commit messages depend on a transaction: asking Django
    # costs a lookup of the connection, which a plain call does not need.
    waits_for_commit = enqueued or (message is not None and on_commit)
    in_transaction = waits_for_commit and transaction.get_connection().in_atomic_block
    if message is not None:
        result.message_id, payload = message
        if on_commit and in_transaction:
            transaction.on_commit(
                lambda: _publish(result, payload, addresses, signal, publish_hop, call_hop)
            )
        else:
            _publish(result, payload, addresses, signal, publish_hop, call_hop)
    result.pending_commit = in_transaction
    return result


def _enqueue_delayed(
    signal: str, request: SignalRequest, handler: Handler, arguments: dict[str, Any]
) -> Outcome:
    """Enqueue one delayed handler as an RQ job and trace it; Redis errors propagate."""
    hop = recorder.new_hop()
    enqueued_at = time.time()  # before the push: a worker may start it at once
    job_id = handler_jobs.enqueue_handler(handler, request.child(hop), arguments)
    recorder.emit(
        "job.enqueued",
        request.trace_id,
        hop,
        request.parent,
        signal,
        ts=enqueued_at,
        handler=handler.path,
        job=job_id,
    )
    return Outcome(handler.path, True, job_id=job_id)


def _run_inline(
    signal: str, request: SignalRequest, handler: Handler, arguments: dict[str, Any]
) -> Outcome:
    """
    Run one inline handler under the call's trace (an ``async def`` one to
    completion, by ``call_sync``); its exception propagates.
    """
    hop = recorder.new_hop()
    started = time.time()
    token = recorder.current_trace.set(request.trace_id)
    outcome = "error"
    try:
        if handler.is_async:
            value = call_sync(handler.fn, request.child(hop), **arguments)
        else:
            value = handler.fn(request.child(hop), **arguments)
        outcome = "ok"
    finally:
        recorder.current_trace.reset(token)
        recorder.emit_timed(
            "handler", request, hop, signal, started, outcome=outcome, handler=handler.path
        )
    return Outcome(handler.path, False, result=value)


def _publish(
    result: CallResult,
    payload: bytes,
    addresses: list[str],
    signal: str,
    publish_hop: str | None,
    call_hop: str | None,
) -> None:
    """Publish the call's message now and record its ``seq`` on ``result``."""
    published_at = time.time()
    result.seq = publish.publish(payload, addresses, f"publishing {signal}")
    recorder.emit(
        "message.published",
        result.trace_id,
        publish_hop,
        call_hop,
        signal,
        ts=published_at,
        seq=result.seq,
        addresses=addresses,
    )


def checked_execute(
    signal: str,
    request: SignalRequest,
    kwargs: dict[str, Any],
    handlers: list[Handler],
    addresses: list[str],
    on_commit: bool = False,
) -> CallResult:
    """Check the arguments and encode the message before anything runs, then ``execute``."""
    bound = bind_arguments(signal, kwargs, handlers)
    publish_hop = recorder.new_hop() if addresses else None
    message = publish.encode_message(signal, kwargs, request, publish_hop) if addresses else None
    return execute(signal, request, bound, message, addresses, publish_hop, on_commit)


def traced_call(signal: str, request: SignalRequest, run: Callable[[SignalRequest], CallResult]):
    """
    Run ``run(hop_request)`` as one traced call of ``signal``: a ``call`` event
    records its duration and outcome (``refused`` with the reason, ``error``),
    and ``hop_request`` makes everything it causes a child of this call.
    """
    hop = recorder.new_hop()
    started = time.time()
    outcome: dict[str, Any] = {}
    try:
        return run(request.child(hop))
    except FloorkitError as exc:
        outcome = {
            "outcome": "refused" if exc.kind in REFUSALS else "error",
            "reason": exc.kind,
            "error": str(exc),
        }
        raise
    except Exception as exc:
        outcome = {"outcome": "error", "error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        recorder.emit_timed("call", request, hop, signal, started, **outcome)


def call(signal: str, request: Any = None, to: Any = None, **kwargs: Any) -> CallResult:
    """
    Fire ``signal`` as ``request`` (an ``HttpRequest``, a ``SignalRequest`` or
    ``None`` for an anonymous system call) and send it to ``to``
    (``floorkit.signals.targets``).

    Every argument is checked against every handler's signature first
    (``InvalidArguments``), and targets are resolved (``InvalidTarget``),
    before anything runs. Then inline handlers run here, in registration
    order, delayed handlers are enqueued on RQ (after commit, inside a
    transaction), and one message per target address is published to Redis.

    Raise ``UnknownSignal`` for a name nothing is connected to, and
    ``RedisUnavailable`` when Redis cannot be reached: nothing is dropped
    silently. Return a ``CallResult``.

    The message goes out at once, even inside a transaction (a notification,
    not data); ``call.options(on_commit=True)(signal, request, to, **kwargs)``
    sends it only once the transaction commits, and never if it rolls back.
    """
    return _call(signal, request, to, kwargs, on_commit=False)


def _call(signal: str, request: Any, to: Any, kwargs: dict, on_commit: bool) -> CallResult:
    signal_request = SignalRequest.coerce(request)
    if signal_request.wait is not None:  # a handler's own call: nobody awaits its jobs
        signal_request = signal_request.waiting(None)

    def run(hop_request: SignalRequest) -> CallResult:
        info = registry.get(signal)
        addresses = targets.resolve(to, hop_request)
        return checked_execute(signal, hop_request, kwargs, info.handlers, addresses, on_commit)

    return traced_call(signal, signal_request, run)


def _options(*, on_commit: bool = False) -> Callable[..., CallResult]:
    """
    ``call`` with options: ``call.options(on_commit=True)`` returns a ``call``
    whose browser message is published once the current transaction commits
    (at once outside a transaction). Options are not keywords of ``call()``
    itself, whose keywords all belong to the handlers.
    """

    def call_with_options(
        signal: str, request: Any = None, to: Any = None, **kwargs: Any
    ) -> CallResult:
        return _call(signal, request, to, kwargs, on_commit=on_commit)

    return call_with_options


call.options = _options  # type: ignore[attr-defined]


async def acall(signal: str, request: Any = None, to: Any = None, **kwargs: Any) -> CallResult:
    """
    ``call()`` for async code (an async view on an ASGI site, an ``async
    def`` handler): the same checks, order, transaction rules, errors and
    ``CallResult``. The call runs as sync code through ``sync_to_async``
    (thread-sensitive, as Django runs sync code), so sync inline handlers
    run there and ``async def`` ones are awaited on the caller's event loop;
    delayed handlers are enqueued and the message published meanwhile.
    ``acall.options(on_commit=True)`` is ``call.options()``'s twin.
    """
    return await sync_to_async(_call)(signal, request, to, kwargs, False)


def _aoptions(*, on_commit: bool = False) -> Callable[..., Any]:
    """``acall`` with ``call.options()``'s options."""

    async def acall_with_options(
        signal: str, request: Any = None, to: Any = None, **kwargs: Any
    ) -> CallResult:
        return await sync_to_async(_call)(signal, request, to, kwargs, on_commit)

    return acall_with_options


acall.options = _aoptions  # type: ignore[attr-defined]


def report_failure(signal: str, request: SignalRequest, exc: BaseException, via: str) -> str:
    """
    Log a browser call whose handler raised, under a new error id (with the
    traceback and the call's trace id); return the id, which the browser gets
    so that the log line can be found.
    """
    error_id = uuid.uuid4().hex[:12]
    logger.error(
        "floorkit error %s: %s failed %s: %s",
        error_id,
        signal,
        via,
        exc,
        exc_info=exc,
        extra={"trace_id": request.trace_id},
    )
    return error_id


def replayed_messages(results: list[Any]) -> list[dict[str, Any]]:
    """
    The messages that inline handlers asked to replay to the calling window:
    a handler may return a list of ``{"signal": NAME, "options": {...}}``
    (DjangoFloor's convention). Return them as ``{"signal", "kwargs"}``, in
    order; other return values give none.
    """
    replay = []
    for value in results:
        if (
            isinstance(value, list)
            and value
            and all(
                isinstance(item, dict)
                and set(item) == {"signal", "options"}
                and isinstance(item["signal"], str)
                and isinstance(item["options"], dict)
                for item in value
            )
        ):
            replay.extend({"signal": i["signal"], "kwargs": i["options"]} for i in value)
    return replay


def call_from_client(
    signal: str, request: SignalRequest, kwargs: Any, to: Any = None
) -> CallResult:
    """
    Run a call that arrived from a browser (websocket frame or HTTP POST).

    On top of ``call()``: only handlers with ``allow_from_client`` run
    (``NotAllowed`` when the signal has none and is not declared open to
    browsers), anonymous callers are refused where a handler (or the
    declaration) requires login (``LoginRequired``), ``kwargs`` must be a
    JSON object and ``to`` is parsed with ``targets.from_client``; a group
    target needs the caller to be allowed to join the group
    (``floorkit.groups.authorizers.authorize``).
    """

    def run(hop_request: SignalRequest) -> CallResult:
        may_call, login_required, handlers = registry.get(signal).client_access()
        if not may_call:
            raise NotAllowed(f"{signal} cannot be called from a browser")
        if login_required and not hop_request.is_authenticated:
            raise LoginRequired(f"{signal} requires a logged-in user")
        if not isinstance(kwargs, dict):
            raise InvalidArguments(signal, "(call)", None, "kwargs must be a JSON object")
        parsed = [] if to is None else targets.from_client(to)
        for target in parsed:
            if isinstance(target, targets.Group):  # only to groups the caller may join
                authorize(hop_request, target.name)
        addresses = targets.resolve(parsed, hop_request)
        return checked_execute(signal, hop_request, kwargs, handlers, addresses)

    return traced_call(signal, request, run)
