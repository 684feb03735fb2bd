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
runs ``floorkit.async_signals.job.run_receivers``: it finds the signal by name
(``floorkit.async_signals.names``), rebuilds the arguments (model instances
are fetched again) and calls every receiver connected for that sender. See
``docs/async_signals.md``.

Jobs are pushed through the current outbox (``floorkit.delivery.outbox``):
Redis, unless a test installed another.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.dispatch import Signal
from django.dispatch.dispatcher import _make_id

from floorkit import conf
from floorkit.async_signals import mappings
from floorkit.async_signals.enqueue import enqueue_task, push_job, run_eager
from floorkit.async_signals.names import UnregisteredSignal, is_registered
from floorkit.async_signals.options import SendOptions, resolve_run_mode
from floorkit.async_signals.receivers import (
    Responses,
    call_receivers,
    describe_receivers,
    sender_label,
)
from floorkit.exceptions import RedisUnavailable
from floorkit.signals.coroutines import greenlet_local_loops
from floorkit.signals.request import new_trace_id
from floorkit.tracing import recorder

__all__ = ["AsyncSignal"]

logger = logging.getLogger("floorkit.async_signals.signal")

ON_MISSING = ("fail", "skip")


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
        self._connections[key] = (sender_label(sender), dispatch_uid)

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
        greenlet_local_loops()  # Django runs async def receivers with async_to_sync
        return Signal.send(self, sender, **named)

    def send_robust_now(self, sender: Any = None, **named: Any) -> Responses:
        """
        Django's ``Signal.send_robust`` here and now: return
        ``[(receiver, response or exception), ...]``.
        """
        greenlet_local_loops()
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
        if not is_registered(self):
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
        if mode == "async":  # FLOORKIT["TASK_BACKEND"] may name another backend
            task_id = enqueue_task(self, encoded_sender, encoded, trace)
            if task_id is not None:
                return task_id

        push = functools.partial(
            self._push, mode, job_id, (sender, named), (encoded_sender, encoded), robust, trace
        )
        if self.on_commit if on_commit is None else on_commit:
            transaction.on_commit(push)
        else:
            push()
        return job_id

    def _push(
        self,
        mode: str,
        job_id: str,
        arguments: tuple[Any, dict[str, Any]],
        encoded: tuple[Any, dict[str, Any]],
        robust: bool,
        trace: dict,
    ) -> None:
        """
        Push the job of one send (or, in eager mode, run it here); with
        ``ASYNC_FALLBACK_SYNC``, call the receivers here with the original
        ``arguments`` when Redis is down.
        """
        enqueued_at = time.time()
        try:
            if mode == "eager":
                run_eager(self, job_id, *encoded, robust, trace)
            else:
                push_job(self, job_id, *encoded, trace)
            recorder.emit(
                "job.enqueued",
                trace["trace"],
                trace["parent"],
                None,
                self._name,
                ts=enqueued_at,
                job=job_id,
            )
        except RedisUnavailable as exc:
            if not conf.get("ASYNC_FALLBACK_SYNC"):
                raise
            logger.warning(
                "AsyncSignal %s: %s; running its receivers in this process instead "
                "(FLOORKIT['ASYNC_FALLBACK_SYNC'])",
                self._name,
                exc,
            )
            call_receivers(self, *arguments)

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

    def describe(self) -> dict[str, Any]:
        """
        A JSON-serializable description (``listsignals --json``)::

            {"signal": "shop.signals.order_paid", "async": True, "queue": "default",
             "retry": 0, "on_commit": True, "on_missing": "fail",
             "receivers": [{"receiver": "shop.receivers.send_receipt",
                            "sender": "shop.Order", "dispatch_uid": None,
                            "weak": True, "is_async": False}]}
        """
        retry = self.retry if self.retry is not None else conf.get("RETRY")
        return {
            "signal": self._name,
            "async": True,
            "queue": self.queue or conf.get("DEFAULT_QUEUE"),
            "retry": retry if isinstance(retry, int) else retry.max,
            "on_commit": self.on_commit,
            "on_missing": self.on_missing,
            "receivers": describe_receivers(self),
        }
