"""
The receivers of an async signal: calling them robustly where the job runs
(or in the sending process when Redis is down and ``ASYNC_FALLBACK_SYNC`` is
on), and describing them for ``listsignals``.

Every failure is logged on the ``floorkit.async_signals.signal`` logger, the
one logger of ``AsyncSignal``, with the signal, the receiver, the sender and
the traceback.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from floorkit.signals.coroutines import call_sync

if TYPE_CHECKING:  # pragma: no cover
    from floorkit.async_signals.signal import AsyncSignal

__all__ = [
    "Responses",
    "call_receivers",
    "describe_receivers",
    "receiver_path",
    "sender_label",
]

logger = logging.getLogger("floorkit.async_signals.signal")

Responses = list[tuple[Callable[..., Any], Any]]


def receiver_path(receiver: Callable[..., Any]) -> str:
    """The dotted ``module.qualname`` of a receiver, as logs and ``listsignals`` show it."""
    function = getattr(receiver, "__func__", receiver)
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}"


def sender_label(sender: Any) -> str | None:
    """A sender as logs and ``listsignals`` show it: a model's label, else its ``repr``."""
    if sender is None:
        return None
    meta = getattr(sender, "_meta", None)
    if isinstance(sender, type) and meta is not None:
        return meta.label
    return repr(sender)


def call_receivers(
    signal: AsyncSignal, sender: Any, named: dict[str, Any], done: frozenset[str] = frozenset()
) -> Responses:
    """
    Call every live receiver of ``signal`` for ``sender`` but those whose path
    is in ``done``, as ``send_robust`` does: synchronous receivers first, in
    connection order, then ``async def`` receivers concurrently, run by
    ``call_sync`` as ``async def`` handlers are. Log each
    failure; never raise a receiver's exception. Return ``[(receiver,
    response or exception), ...]``.
    """
    sync_receivers, async_receivers = signal._live_receivers(sender)
    responses: Responses = []
    for receiver in sync_receivers:
        if receiver_path(receiver) in done:
            continue
        try:
            response = receiver(signal=signal, sender=sender, **named)
        except Exception as exc:
            _log_failure(signal, receiver, sender, exc)
            response = exc
        responses.append((receiver, response))
    async_receivers = [r for r in async_receivers if receiver_path(r) not in done]
    if async_receivers:

        async def call(receiver: Callable[..., Any]) -> Any:
            try:
                return await receiver(signal=signal, sender=sender, **named)
            except Exception as exc:
                _log_failure(signal, receiver, sender, exc)
                return exc

        async def gather() -> list[Any]:
            return await asyncio.gather(*(call(r) for r in async_receivers))

        responses.extend(zip(async_receivers, call_sync(gather), strict=True))
    return responses


def _log_failure(
    signal: AsyncSignal, receiver: Callable[..., Any], sender: Any, exc: Exception
) -> None:
    logger.error(
        "AsyncSignal %s: receiver %s failed (sender %s): %s: %s",
        signal.name,
        receiver_path(receiver),
        sender_label(sender),
        type(exc).__name__,
        exc,
        exc_info=exc,
    )


def describe_receivers(signal: AsyncSignal) -> list[dict[str, Any]]:
    """
    The live receivers of ``signal``, in connection order, as
    ``AsyncSignal.describe()`` lists them::

        [{"receiver": "shop.receivers.send_receipt", "sender": "shop.Order",
          "dispatch_uid": None, "weak": True, "is_async": False}]
    """
    receivers = []
    with signal.lock:
        entries = list(signal.receivers)
    for entry in entries:
        # Django 5.2: (key, receiver, is_async); Django 6: (key, receiver, sender_ref, is_async)
        key, ref, is_async = entry[0], entry[1], entry[-1]
        weak = isinstance(ref, weakref.ReferenceType)
        receiver = ref() if weak else ref
        if receiver is None:
            continue
        sender, dispatch_uid = signal._connections.get(key, (None, None))
        receivers.append(
            {
                "receiver": receiver_path(receiver),
                "sender": sender,
                "dispatch_uid": dispatch_uid if isinstance(dispatch_uid, str) else None,
                "weak": weak,
                "is_async": is_async,
            }
        )
    return receivers
