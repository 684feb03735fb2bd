"""
AsyncSignals of the test suite (``tests/test_async_signal.py``), their
receivers and a user-registered mapping.

``tests.testapp.signals`` star-imports this module, so discovery finds these
signals there and names them after this module, where they are defined:
``tests.testapp.async_signals.<attribute>``. Receivers report what they got
to Redis lists (``tests:<name>``), described by ``describe()`` so that a test
can compare the worker's view with its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Model

from floorkit import AsyncSignal, register_mapping
from floorkit.delivery.redis_client import get_redis
from tests.testapp.models import Ticket

__all__ = ["everything", "flaky", "missing_fails", "missing_skips", "slow"]


@dataclass(frozen=True)
class Money:
    """A user type that travels through a registered mapping."""

    amount: Decimal
    currency: str


@register_mapping(Money)
class MoneyMapping:
    @staticmethod
    def encode(value: Money) -> list[Any]:
        return [value.amount, value.currency]  # the Decimal is mapped in turn

    @staticmethod
    def decode(data: list[Any]) -> Money:
        return Money(*data)


def describe(value: Any) -> Any:
    """What a receiver saw: the exact type and repr, or a model row as fetched."""
    if isinstance(value, Model):
        return {
            "model": value._meta.label,
            "class": value.__class__.__qualname__,  # request.user: the user, not its lazy wrapper
            "fields": {f.attname: repr(getattr(value, f.attname)) for f in value._meta.fields},
        }
    cls = type(value)
    text = "AnonymousUser" if cls.__name__ == "AnonymousUser" else repr(value)
    return [f"{cls.__module__}.{cls.__qualname__}", text]


def report(name: str, **data: Any) -> None:
    get_redis().rpush(f"tests:{name}", json.dumps({"pid": os.getpid(), **data}))


def report_call(name: str, signal: AsyncSignal, sender: Any, kwargs: dict[str, Any]) -> None:
    report(
        name,
        signal=signal.name,
        sender=describe(sender),
        kwargs={key: describe(value) for key, value in kwargs.items()},
    )


# -- every built-in mapping, the sender filter, an async receiver -------------------------

everything = AsyncSignal()


def on_everything(sender: Any, signal: AsyncSignal, **kwargs: Any) -> str:
    report_call("everything", signal, sender, kwargs)
    return "ok"


async def on_everything_async(sender: Any, signal: AsyncSignal, **kwargs: Any) -> None:
    report("everything_async", keys=sorted(kwargs))


def only_tickets(sender: Any, signal: AsyncSignal, **kwargs: Any) -> None:
    report("only_tickets", sender=describe(sender))


everything.connect(on_everything)
everything.connect(on_everything_async)
everything.connect(only_tickets, sender=Ticket, dispatch_uid="tests.only_tickets")


# -- one failing receiver among good ones, retried once -----------------------------------

flaky = AsyncSignal(retry=1)


def flaky_before(sender: Any, value: int, **kwargs: Any) -> None:
    report("flaky", receiver="before", value=value)


def flaky_boom(sender: Any, value: int, **kwargs: Any) -> None:
    report("flaky", receiver="boom", value=value)
    raise RuntimeError(f"boom {value}")


def flaky_after(sender: Any, value: int, **kwargs: Any) -> None:
    report("flaky", receiver="after", value=value)


for _receiver in (flaky_before, flaky_boom, flaky_after):
    flaky.connect(_receiver)


# -- a model instance deleted before the worker runs --------------------------------------

missing_fails = AsyncSignal()
missing_skips = AsyncSignal(on_missing="skip")


def on_missing(sender: Any, signal: AsyncSignal, **kwargs: Any) -> None:
    report("missing", signal=signal.name, kwargs={k: describe(v) for k, v in kwargs.items()})


missing_fails.connect(on_missing)
missing_skips.connect(on_missing)


# -- another queue --------------------------------------------------------------------------

slow = AsyncSignal(queue="slow", on_commit=False)


def on_slow(sender: Any, signal: AsyncSignal, **kwargs: Any) -> None:
    report("slow", kwargs=kwargs)


slow.connect(on_slow)
