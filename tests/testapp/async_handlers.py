"""``async def`` handlers for tests/test_async_handlers.py (loaded by the servers and
workers of those tests via SIGNAL_MODULES, imported by the tests themselves)."""

import asyncio
import threading

from asgiref.sync import sync_to_async

from floorkit import AsyncSignal, acall, connect, register
from tests.testapp.models import Order
from tests.testapp.signals import report


@connect(path="tests.async.echo", auth_required=False)
async def echo(request, value: int, label: str = ""):
    await asyncio.sleep(0)
    return {"value": value, "label": label, "window": request.window}


@connect(path="tests.async.sleep", auth_required=False)
async def sleep(request, seconds: float):
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@connect(path="tests.async.fails", auth_required=False)
async def fails(request, value: int):
    await asyncio.sleep(0)
    raise RuntimeError(f"async boom {value}")


@connect(path="tests.async.checked", auth_required=False)
def checked_sync(request, marker: str, count: int = 0):
    report("async_checked", handler="sync", marker=marker)


@connect(path="tests.async.checked", auth_required=False)
async def checked_async(request, marker: str, count: int):
    await sync_to_async(report)("async_checked", handler="async", marker=marker, count=count)


@connect(path="tests.async.orders", auth_required=False)
async def orders(request, number: str):
    """Create an order, then read back every order whose number shares its prefix."""
    created = await Order.objects.acreate(number=number)
    prefix = number.split("-")[0]
    numbers = [
        o.number async for o in Order.objects.filter(number__startswith=prefix).order_by("pk")
    ]
    return {"pk": created.pk, "numbers": numbers}


@connect(path="tests.async.count_orders", auth_required=False)
async def count_orders(request):
    return await Order.objects.acount()


@connect(path="tests.async.delayed", delayed=True)
async def delayed(request, value: int):
    created = await Order.objects.acreate(number=f"job-{value}")
    await asyncio.sleep(0.01)
    await sync_to_async(report)(
        "async_delayed", value=value, order=created.pk, trace=request.trace_id
    )
    return {"value": value, "order": created.pk}


@connect(path="tests.async.delayed_fails", delayed=True, retry=0)
async def delayed_fails(request, value: int):
    await asyncio.sleep(0)
    raise RuntimeError(f"async job boom {value}")


@connect(path="tests.async.mixed", auth_required=False)
def mixed_sync(request, value: int):
    return {"handler": "sync", "value": value, "thread": threading.get_ident()}


@connect(path="tests.async.mixed", auth_required=False)
async def mixed_async(request, value: int):
    await asyncio.sleep(0)
    return {"handler": "async", "value": value, "loop": id(asyncio.get_running_loop())}


@connect(path="tests.async.mixed", delayed=True)
def mixed_delayed(request, value: int):
    return value


@connect(path="tests.async.nested", auth_required=False)
async def nested(request, value: int):
    """An async handler that calls another signal with ``acall``."""
    result = await acall("tests.async.echo", request, value=value + 1, label="nested")
    return result.results[0]


@connect(path="tests.async.sync_echo", auth_required=False)
def sync_echo(request, value: int):
    return value


# the name discovery gives it where SIGNAL_MODULES lists this module, given here for the tests
ticked = register(AsyncSignal(), "tests.testapp.async_handlers.ticked")


async def double(sender, value, **kwargs):
    await asyncio.sleep(0.1)
    return value * 2


ticked.connect(double)


@connect(path="tests.async.tick", auth_required=False)
def tick(request, value: int):
    """A sync handler sending an AsyncSignal here and now to its async def receiver."""
    return [response for _, response in ticked.send_now(value=value)]
