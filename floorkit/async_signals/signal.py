"""
``AsyncSignal``: a Django signal whose receivers run on an RQ worker.

::

    # shop/signals.py (found at start-up, like every app's signals module)
    from floorkit import AsyncSignal

    order_paid = AsyncSignal()                     # named "shop.signals.order_paid"

    # anywhere
    order_paid.connect(send_receipt, sender=Order)
    order_paid.send(sender=Order, order=order)     # returns the RQ job id at once
    order_paid.send_now(sender=Order, order=order) # Django's Signal.send(), here and now

``send()`` encodes the arguments with ``floorkit.async_signals.mappings`` (JSON, never
pickle), pushes ONE job per send on the signal's queue of ``RQ_QUEUES`` in
one Redis round trip, after the current transaction commits, and returns the
job id. A worker (``manage.py rqworker`` with ``floorkit.jobs.worker.SimpleWorker``)
runs ``deliver()``: it finds the signal by name, rebuilds the arguments (model
instances are fetched again) and calls every receiver connected for that
sender. See ``docs/async_signals.md``.

Jobs are pushed through the current outbox (``floorkit.delivery.outbox``):
Redis, unless a test installed another.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, transaction
from django.dispatch import Signal
from django.dispatch.dispatcher import _make_id

from floorkit import conf
from floorkit.async_signals import mappings
from floorkit.delivery import outbox
from floorkit.delivery.redis_client import redis_errors
from floorkit.exceptions import RedisUnavailable, UnknownSignal
from floorkit.signals.registry import check_name
from floorkit.signals.request import new_trace_id
from floorkit.tracing import recorder

__all__ = [
    "AsyncSignal",
    "ReceiversFailed",
    "SendOptions",
    "UnregisteredSignal",
    "all_signals",
    "collect",
    "deliver",
    "get_signal",
    "register",
    "resolve_run_mode",
]

logger = logging.getLogger("floorkit.async_signals.signal")

RUN_MODES = ("async", "sync", "eager")
ON_MISSING = ("fail", "skip")
#: The RQ job function of every async signal job.
JOB_FUNCTION = "floorkit.async_signal.deliver"
#: ``job.meta`` key listing the receivers that already succeeded (skipped on retry).
META_DONE = "floorkit_done"

Responses = list[tuple[Callable[..., Any], Any]]

# Set while an eager-mode job runs in this thread: deliver() skips closing the
# caller's database connections and reports its exception here.
_eager_errors: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "floorkit_eager_errors", default=None
)


class UnregisteredSignal(UnknownSignal):
    """
    An ``AsyncSignal`` has no name a worker could find it by, or no signal of
    this process has the name a job carries.
    """

    kind = "unregistered_signal"

    def __init__(self, message: str, signal: str | None = None):
        self.signal = signal
        LookupError.__init__(self, message)


class ReceiversFailed(ExceptionGroup):
    """
    Raised by ``deliver()`` when one or more receivers raised: the job then
    lands in RQ's failed registry with every receiver's traceback. The other
    receivers ran.
    """


# -- registry of async signals -----------------------------------------------------------

_lock = threading.Lock()
_signals: dict[str, AsyncSignal] = {}


def register(signal: AsyncSignal, name: str) -> AsyncSignal:
    """
    Give ``signal`` the name workers find it by, and return it.

    Needed only for a signal that is not a module-level attribute of an app's
    ``signals`` module or of a module in ``FLOORKIT["SIGNAL_MODULES"]``; those
    are named ``<module>.<attribute>`` at start-up. Call it at import time of
    a module that every process (web and worker) imports.

    Registering the same signal under the same name again does nothing. Raise
    ``ValueError`` when the signal already has another name or the name
    belongs to another signal, ``InvalidSignalName`` for a name that is not
    dotted identifiers, and ``TypeError`` for something not an ``AsyncSignal``.
    """
    if not isinstance(signal, AsyncSignal):
        raise TypeError(f"floorkit.register() takes an AsyncSignal, got {signal!r}")
    return _register(signal, check_name(name), replace=False)


def _register(signal: AsyncSignal, name: str, replace: bool) -> AsyncSignal:
    with _lock:
        if signal._name is not None:
            if signal._name == name:
                return signal
            raise ValueError(f"this AsyncSignal is already registered as {signal._name!r}")
        other = _signals.get(name)
        if other is not None and other is not signal:
            if not replace:
                raise ValueError(f"the name {name!r} already belongs to another AsyncSignal")
            other._name = None  # a re-executed module: the new object takes the name
        signal._name = name
        _signals[name] = signal
    return signal


def unregister(signal: AsyncSignal) -> None:
    """Forget the name of ``signal`` (tests)."""
    with _lock:
        if signal._name is not None and _signals.get(signal._name) is signal:
            del _signals[signal._name]
        signal._name = None


def get_signal(name: str) -> AsyncSignal:
    """Return the async signal named ``name``; raise ``UnregisteredSignal`` if none is."""
    signal = _signals.get(name)
    if signal is None:
        raise UnregisteredSignal(
            f"no AsyncSignal named {name!r} in this process: define it at module level in "
            "an app's signals module or in FLOORKIT['SIGNAL_MODULES'], or floorkit.register() it",
            name,
        )
    return signal


def all_signals() -> list[AsyncSignal]:
    """Every named async signal, sorted by name."""
    return [_signals[name] for name in sorted(_signals)]


def collect(module: ModuleType) -> list[AsyncSignal]:
    """
    Name the ``AsyncSignal`` instances among the attributes of ``module`` (a
    signals module being discovered) that have no name yet, and return every
    async signal found there.

    A signal is named ``<defining module>.<attribute>``: after the module that
    created it, even when ``module`` merely imported it, so that its name does
    not depend on where it is re-exported. A signal of a re-executed module
    takes over its name from the previous object.
    """
    found = []
    for attribute, value in list(vars(module).items()):
        if not isinstance(value, AsyncSignal):
            continue
        if value._name is None:
            _register(value, _home_name(value, module, attribute), replace=True)
        found.append(value)
    return found


def _home_name(signal: AsyncSignal, module: ModuleType, attribute: str) -> str:
    home = sys.modules.get(signal._module or "")
    if home is not None and home is not module:
        for home_attribute, value in vars(home).items():
            if value is signal:
                return f"{home.__name__}.{home_attribute}"
    return f"{module.__name__}.{attribute}"


def resolve_run_mode(override: str | None = None) -> str:
    """
    Return the run mode of a send: ``override`` if given, else
    ``$FLOORKIT_ASYNC_RUN_MODE`` if set, else ``FLOORKIT["ASYNC_RUN_MODE"]``
    (default ``"async"``). Raise ``ImproperlyConfigured`` for a mode that is
    not ``"async"``, ``"sync"`` or ``"eager"``.
    """
    mode = override if override is not None else conf.get("ASYNC_RUN_MODE")
    if mode not in RUN_MODES:
        source = "run_mode" if override is not None else conf.source("ASYNC_RUN_MODE")
        raise ImproperlyConfigured(f"{source} is {mode!r}; use one of {', '.join(RUN_MODES)}")
    return mode


def receiver_path(receiver: Callable[..., Any]) -> str:
    """The dotted ``module.qualname`` of a receiver, as logs and ``listsignals`` show it."""
    function = getattr(receiver, "__func__", receiver)
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}"


def _sender_label(sender: Any) -> str | None:
    if sender is None:
        return None
    meta = getattr(sender, "_meta", None)
    if isinstance(sender, type) and meta is not None:
        return meta.label
    return repr(sender)


# -- the signal --------------------------------------------------------------------------


class AsyncSignal(Signal):
    """
    A ``django.dispatch.Signal`` whose ``send()`` runs the receivers on an RQ
    worker.

    ``connect``, ``disconnect``, ``has_listeners``, ``dispatch_uid``, the
    ``sender`` filter, weak references and ``use_caching`` are Django's.
    ``send_now``/``send_robust_now`` (and ``asend_now``/``asend_robust_now``)
    are Django's ``send``/``send_robust`` (``asend``/``asend_robust``).

    Options, fixed for the signal:

        queue
            The RQ queue of ``RQ_QUEUES`` its jobs go to (default:
            ``FLOORKIT["DEFAULT_QUEUE"]``).

        retry
            How many times RQ retries a failed job (an ``int``, or an
            ``rq.Retry`` for intervals; default ``FLOORKIT["RETRY"]``). A retry
            runs only the receivers that failed.

        on_missing
            What a worker does when a model instance argument no longer
            exists: ``"fail"`` (default) fails the job with ``MissingInstance``
            naming the model and pk; ``"skip"`` runs no receiver, logs a
            warning and finishes the job.

        on_commit
            ``True`` (default): inside ``transaction.atomic()`` the job is
            pushed when the transaction commits, and never if it rolls back.
            ``False``: pushed at once.
    """

    def __init__(
        self,
        use_caching: bool = False,
        *,
        queue: str | None = None,
        retry: Any = None,
        on_missing: str = "fail",
        on_commit: bool = True,
    ) -> None:
        super().__init__(use_caching=use_caching)
        if on_missing not in ON_MISSING:
            raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
        if retry is not None and not hasattr(retry, "max"):
            if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
                raise ValueError(f"retry must be a non-negative int or rq.Retry, got {retry!r}")
        self.queue = queue
        self.retry = retry
        self.on_missing = on_missing
        self.on_commit = on_commit
        self._name: str | None = None
        # receiver lookup key -> (sender label, dispatch_uid), for listsignals
        self._connections: dict[Any, tuple[str | None, Any]] = {}
        frame = sys._getframe(1)
        while frame is not None and frame.f_locals.get("self") is self:  # subclass __init__
            frame = frame.f_back
        self._module: str | None = frame.f_globals.get("__name__") if frame else None

    def __repr__(self) -> str:
        return f"<AsyncSignal {self._name or '(unregistered)'}>"

    @property
    def name(self) -> str | None:
        """The name workers find this signal by, or ``None`` while it has none."""
        return self._name

    # -- Django's API --------------------------------------------------------------------

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Any = None,
    ) -> None:
        """
        Connect ``receiver`` exactly as ``Signal.connect`` does. The receiver
        must also be connected in the worker processes: connect it in a module
        imported at start-up (a ``signals`` module, ``AppConfig.ready()``).
        """
        super().connect(receiver, sender=sender, weak=weak, dispatch_uid=dispatch_uid)
        key = (dispatch_uid if dispatch_uid else _make_id(receiver), _make_id(sender))
        self._connections[key] = (_sender_label(sender), dispatch_uid)

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: Any = None,
        dispatch_uid: Any = None,
    ) -> bool:
        """Disconnect as ``Signal.disconnect`` does; return whether a receiver was removed."""
        key = (dispatch_uid if dispatch_uid else _make_id(receiver), _make_id(sender))
        self._connections.pop(key, None)
        return super().disconnect(receiver, sender=sender, dispatch_uid=dispatch_uid)

    def send_now(self, sender: Any = None, **named: Any) -> Responses:
        """
        Call every receiver connected for ``sender`` here and now: Django's
        ``Signal.send``. The first exception propagates; return
        ``[(receiver, response), ...]``.
        """
        return Signal.send(self, sender, **named)

    def send_robust_now(self, sender: Any = None, **named: Any) -> Responses:
        """
        Django's ``Signal.send_robust`` here and now: return
        ``[(receiver, response or exception), ...]``.
        """
        return Signal.send_robust(self, sender, **named)

    async def asend_now(self, sender: Any = None, **named: Any) -> Responses:
        """Django's ``Signal.asend``."""
        return await Signal.asend(self, sender, **named)

    async def asend_robust_now(self, sender: Any = None, **named: Any) -> Responses:
        """Django's ``Signal.asend_robust``."""
        return await Signal.asend_robust(self, sender, **named)

    # -- sending to workers --------------------------------------------------------------

    def send(self, sender: Any = None, **named: Any) -> str | Responses:
        """
        Send the signal to an RQ worker: one job for all the receivers.

        Arguments:

            sender
                The sender (usually a model class), or ``None`` (the default).

            named
                Named arguments for the receivers; each must be a type that
                ``floorkit.async_signals.mappings`` carries.

        In the default ``"async"`` run mode, encode the arguments, push the
        job (after the current transaction commits, unless ``on_commit`` is
        false) and return its id at once. The worker calls every receiver
        connected for ``sender``; one receiver's exception does not stop the
        others, and the job fails when any receiver raised.

        Raise ``TypeError`` (naming the argument and its type) for an
        argument that cannot travel, ``UnregisteredSignal`` when the signal
        has no name a worker could find, and ``RedisUnavailable`` when Redis
        cannot be reached (unless ``FLOORKIT["ASYNC_FALLBACK_SYNC"]``: then
        the receivers run here, robustly, and a warning is logged). Nothing
        is pushed when an error is raised.

        In ``"sync"`` run mode, behave exactly as ``send_now()`` and return
        its responses. In ``"eager"`` mode, push the job and run it in this
        process at once, through the same JSON encoding a worker would see;
        a receiver's exception propagates.
        """
        return self._dispatch(sender, named, None, None, robust=False)

    def send_robust(self, sender: Any = None, **named: Any) -> str | Responses:
        """
        Like ``send()``; receivers' exceptions never propagate: in ``"sync"``
        mode this is ``send_robust_now()``, in ``"eager"`` mode the job is
        left failed in RQ's failed registry.
        """
        return self._dispatch(sender, named, None, None, robust=True)

    async def asend(self, sender: Any = None, **named: Any) -> str | Responses:
        """``send()`` for async code (``asend_now()`` in ``"sync"`` mode)."""
        return await self._adispatch(sender, named, None, None, robust=False)

    async def asend_robust(self, sender: Any = None, **named: Any) -> str | Responses:
        """``send_robust()`` for async code (``asend_robust_now()`` in ``"sync"`` mode)."""
        return await self._adispatch(sender, named, None, None, robust=True)

    def options(self, *, run_mode: str | None = None, on_commit: bool | None = None) -> SendOptions:
        """
        Return an object whose ``send``/``send_robust``/``asend``/
        ``asend_robust`` use these options for one call, without changing
        the signal (which is shared by every thread)::

            order_paid.options(run_mode="eager").send(sender=Order, order=order)
            order_paid.options(on_commit=False).send(sender=Order, order=order)
        """
        if run_mode is not None:
            resolve_run_mode(run_mode)
        return SendOptions(self, run_mode, on_commit)

    def _dispatch(
        self,
        sender: Any,
        named: dict[str, Any],
        run_mode: str | None,
        on_commit: bool | None,
        robust: bool,
    ) -> str | Responses:
        mode = resolve_run_mode(run_mode)
        if mode == "sync":
            send = Signal.send_robust if robust else Signal.send
            return send(self, sender, **named)
        name = self._name
        if name is None or _signals.get(name) is not self:
            raise UnregisteredSignal(
                f"{self!r} (created in {self._module}) has no name a worker could find it by: "
                "define it at module level in an app's signals module or in a module of "
                "FLOORKIT['SIGNAL_MODULES'], or call floorkit.register(signal, 'name')"
            )
        encoded_sender = mappings.encode(sender, "sender")
        encoded = {key: mappings.encode(value, key) for key, value in named.items()}
        job_id = uuid.uuid4().hex
        # the send is a hop of the current call's trace, or the first hop of a new one
        trace = {
            "trace": recorder.current_trace.get() or new_trace_id(),
            "parent": recorder.new_hop(),
        }

        def push() -> None:
            enqueued_at = time.time()
            try:
                if mode == "eager":
                    self._run_eager(job_id, encoded_sender, encoded, robust, trace)
                else:
                    self._enqueue(job_id, encoded_sender, encoded, trace)
                recorder.emit(
                    "job.enqueued",
                    trace["trace"],
                    trace["parent"],
                    None,
                    name,
                    ts=enqueued_at,
                    job=job_id,
                )
            except RedisUnavailable as exc:
                if not conf.get("ASYNC_FALLBACK_SYNC"):
                    raise
                logger.warning(
                    "AsyncSignal %s: %s; running its receivers in this process instead "
                    "(FLOORKIT['ASYNC_FALLBACK_SYNC'])",
                    name,
                    exc,
                )
                self._call_receivers(sender, named)

        if self.on_commit if on_commit is None else on_commit:
            transaction.on_commit(push)
        else:
            push()
        return job_id

    async def _adispatch(
        self,
        sender: Any,
        named: dict[str, Any],
        run_mode: str | None,
        on_commit: bool | None,
        robust: bool,
    ) -> str | Responses:
        if resolve_run_mode(run_mode) == "sync":
            send = Signal.asend_robust if robust else Signal.asend
            return await send(self, sender, **named)
        return await sync_to_async(self._dispatch)(sender, named, run_mode, on_commit, robust)

    def _create_job(
        self, queue: Any, job_id: str, sender: Any, named: dict[str, Any], trace: dict | None
    ) -> Any:
        from rq import Retry

        retry = self.retry if self.retry is not None else conf.get("RETRY")
        if isinstance(retry, int):
            retry = Retry(max=retry) if retry else None
        return queue.create_job(
            JOB_FUNCTION,
            args=(self._name, sender, named, trace),
            job_id=job_id,
            description=f"floorkit async signal {self._name}",
            retry=retry,
        )

    def _queue(self) -> Any:
        from floorkit.jobs.handler_jobs import get_queue

        return get_queue(self.queue or conf.get("DEFAULT_QUEUE"))

    def _enqueue(self, job_id: str, sender: Any, named: dict[str, Any], trace: dict) -> None:
        queue = self._queue()
        job = self._create_job(queue, job_id, sender, named, trace)
        # RQ's enqueue takes one round trip per step; handing it a pipeline
        # turns the whole enqueue (SADD queues, HSET job, RPUSH) into one MULTI/EXEC.
        with redis_errors(f"enqueueing async signal {self._name}"):
            with queue.connection.pipeline() as pipe:
                outbox.current().enqueue(queue, job, pipeline=pipe)
                pipe.execute()

    def _run_eager(
        self, job_id: str, sender: Any, named: dict[str, Any], robust: bool, trace: dict
    ) -> None:
        from rq import Queue

        queue = self._queue()
        sender, named = json.loads(json.dumps([sender, named]))  # exactly what a worker reads
        eager = Queue(
            queue.name,
            connection=queue.connection,
            serializer=queue.serializer,
            is_async=False,
            default_timeout=conf.get("JOB_TIMEOUT"),
        )
        job = self._create_job(eager, job_id, sender, named, trace)
        errors: list[BaseException] = []
        token = _eager_errors.set(errors)
        try:
            with redis_errors(f"enqueueing async signal {self._name}"):
                outbox.current().enqueue(eager, job)
        finally:
            _eager_errors.reset(token)
        if errors and not robust:
            raise errors[0]

    # -- running receivers (worker side) -------------------------------------------------

    def _call_receivers(
        self, sender: Any, named: dict[str, Any], done: frozenset[str] = frozenset()
    ) -> Responses:
        """
        Call every live receiver for ``sender`` but those whose path is in
        ``done``, as ``send_robust`` does; log each failure with the signal,
        the receiver and its traceback. Return ``[(receiver, response or
        exception), ...]``.
        """
        sync_receivers, async_receivers = self._live_receivers(sender)
        responses: Responses = []
        for receiver in sync_receivers:
            if receiver_path(receiver) in done:
                continue
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as exc:
                self._log_failure(receiver, sender, exc)
                response = exc
            responses.append((receiver, response))
        async_receivers = [r for r in async_receivers if receiver_path(r) not in done]
        if async_receivers:

            async def call(receiver: Callable[..., Any]) -> Any:
                try:
                    return await receiver(signal=self, sender=sender, **named)
                except Exception as exc:
                    self._log_failure(receiver, sender, exc)
                    return exc

            async def gather() -> list[Any]:
                import asyncio

                return await asyncio.gather(*(call(r) for r in async_receivers))

            responses.extend(zip(async_receivers, async_to_sync(gather)(), strict=True))
        return responses

    def _log_failure(self, receiver: Callable[..., Any], sender: Any, exc: Exception) -> None:
        logger.error(
            "AsyncSignal %s: receiver %s failed (sender %s): %s: %s",
            self._name,
            receiver_path(receiver),
            _sender_label(sender),
            type(exc).__name__,
            exc,
            exc_info=exc,
        )

    def describe(self) -> dict[str, Any]:
        """
        A JSON-serializable description (``listsignals --json``)::

            {"signal": "shop.signals.order_paid", "async": True, "queue": "default",
             "retry": 0, "on_commit": True, "on_missing": "fail",
             "receivers": [{"receiver": "shop.receivers.send_receipt",
                            "sender": "shop.Order", "dispatch_uid": None,
                            "weak": True, "is_async": False}]}
        """
        receivers = []
        with self.lock:
            entries = list(self.receivers)
        for entry in entries:
            # Django 5.2: (key, receiver, is_async); Django 6: (key, receiver, sender_ref, is_async)
            key, ref, is_async = entry[0], entry[1], entry[-1]
            weak = isinstance(ref, weakref.ReferenceType)
            receiver = ref() if weak else ref
            if receiver is None:
                continue
            sender, dispatch_uid = self._connections.get(key, (None, None))
            receivers.append(
                {
                    "receiver": receiver_path(receiver),
                    "sender": sender,
                    "dispatch_uid": dispatch_uid if isinstance(dispatch_uid, str) else None,
                    "weak": weak,
                    "is_async": is_async,
                }
            )
        retry = self.retry if self.retry is not None else conf.get("RETRY")
        return {
            "signal": self._name,
            "async": True,
            "queue": self.queue or conf.get("DEFAULT_QUEUE"),
            "retry": retry if isinstance(retry, int) else retry.max,
            "on_commit": self.on_commit,
            "on_missing": self.on_missing,
            "receivers": receivers,
        }


class SendOptions:
    """One call's options for an ``AsyncSignal`` (``AsyncSignal.options()``)."""

    __slots__ = ("signal", "run_mode", "on_commit")

    def __init__(self, signal: AsyncSignal, run_mode: str | None, on_commit: bool | None):
        self.signal = signal
        self.run_mode = run_mode
        self.on_commit = on_commit

    def send(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.send()`` with these options."""
        return self.signal._dispatch(sender, named, self.run_mode, self.on_commit, robust=False)

    def send_robust(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.send_robust()`` with these options."""
        return self.signal._dispatch(sender, named, self.run_mode, self.on_commit, robust=True)

    async def asend(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.asend()`` with these options."""
        return await self.signal._adispatch(
            sender, named, self.run_mode, self.on_commit, robust=False
        )

    async def asend_robust(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.asend_robust()`` with these options."""
        return await self.signal._adispatch(
            sender, named, self.run_mode, self.on_commit, robust=True
        )


# -- the job -----------------------------------------------------------------------------


def deliver(
    name: str, sender: Any, named: dict[str, Any], trace: dict | None = None
) -> dict[str, Any]:
    """
    The RQ job function of an async signal send: rebuild the arguments and
    call every receiver of signal ``name`` connected for the sender.

    Every receiver runs even when another raises; each failure is logged.
    Then raise ``ReceiversFailed`` if any receiver raised, so that RQ retries
    the job (running only the receivers that failed) or keeps it in its
    failed registry with every traceback. A model instance that no longer
    exists raises ``MissingInstance``, or, for a signal with
    ``on_missing="skip"``, ends the job without calling any receiver.

    Return ``{"receivers": [paths that ran]}`` (or ``{"skipped": reason}``).
    """
    eager = _eager_errors.get()
    if eager is None:
        close_old_connections()
    trace = trace or {"trace": new_trace_id(), "parent": None}
    try:
        with recorder.job(trace["trace"], trace["parent"], name):
            return _deliver(name, sender, named)
    except Exception as exc:
        if eager is not None:
            eager.append(exc)
        raise
    finally:
        if eager is None:
            close_old_connections()


def _deliver(name: str, sender: Any, named: dict[str, Any]) -> dict[str, Any]:
    from rq import get_current_job

    signal = get_signal(name)
    try:
        sender = mappings.decode(sender, "sender")
        named = {key: mappings.decode(value, key) for key, value in named.items()}
    except mappings.MissingInstance as exc:
        if signal.on_missing != "skip":
            raise
        logger.warning("AsyncSignal %s skipped (on_missing='skip'): %s", name, exc)
        return {"skipped": str(exc)}
    job = get_current_job()
    done = frozenset(job.meta.get(META_DONE, ())) if job is not None else frozenset()
    responses = signal._call_receivers(sender, named, done)
    failed = {receiver_path(r) for r, response in responses if isinstance(response, Exception)}
    ran = [receiver_path(r) for r, _ in responses]
    if failed:
        if job is not None:
            job.meta[META_DONE] = sorted(done | (set(ran) - failed))
            job.save_meta()
        errors = [response for _, response in responses if isinstance(response, Exception)]
        raise ReceiversFailed(
            f"AsyncSignal {name}: {len(errors)} of {len(responses)} receivers failed "
            f"({', '.join(sorted(failed))})",
            errors,
        )
    return {"receivers": ran}
