"""Signals the test suite calls. Delayed handlers report to Redis lists so that
tests can see what ran in the worker process."""

import contextvars
import json
import os
import time
from typing import Any, Optional

from floorkit import call, connect, declare, group
from floorkit.delivery.redis_client import get_redis

declare("tests.jsonly", allow_from_client=True)
declare("tests.jsonly_closed")
declare("tests.jsonly_anon", allow_from_client=True, auth_required=False)


def report(name: str, **data: Any) -> None:
    get_redis().rpush(f"tests:{name}", json.dumps({"pid": os.getpid(), **data}))


@connect(path="tests.echo")
def echo(request, **kwargs):
    return kwargs


@connect(path="tests.typed")
def typed(
    request,
    count: int,
    ratio: float = 1.0,
    name: str = "",
    flag: bool = False,
    items: list[int] | None = None,
    options: dict | None = None,
    maybe: Optional[str] = None,  # noqa: UP045 (typing.Optional is supported too)
):
    return {
        "count": count,
        "ratio": ratio,
        "name": name,
        "flag": flag,
        "items": items,
        "options": options,
        "maybe": maybe,
    }


@connect(path="tests.order")
def first(request, value: int):
    report("order", handler="first", value=value)
    return "first"


@connect(path="tests.order")
def second(request, value: int):
    report("order", handler="second", value=value)
    return "second"


@connect(path="tests.delayed", delayed=True)
def delayed(request, value: int, label: str = ""):
    report("delayed", request=request.to_dict(), value=value, label=label)
    return {"value": value}


@connect(path="tests.delayed_fails", delayed=True, retry=1)
def delayed_fails(request, value: int):
    report("delayed_fails", value=value)
    raise RuntimeError(f"boom {value}")


@connect(path="tests.chain")
def chain(request, value: int):
    """An inline handler that calls a delayed one, keeping the request."""
    return call("tests.delayed", request, value=value, label="chained").jobs


@connect(path="tests.private", allow_from_client=False)
def private(request):
    return "private"


@connect(path="tests.anonymous", auth_required=False)
def anonymous(request, text: str = ""):
    return {"user": request.username, "text": text}


@connect(path="tests.delayed_any", delayed=True)
def delayed_any(request, payload):
    report("delayed_any", payload=payload)


@connect(path="tests.explode")
def explode(request):
    raise ValueError("kaboom")


@connect(path="tests.replay")
def replay(request, n: int = 2):
    return [{"signal": "tests.jsonly", "options": {"step": i}} for i in range(n)]


@connect(path="tests.push_from_worker", delayed=True)
def push_from_worker(request, text: str):
    from floorkit import WINDOW

    call("tests.jsonly", request, WINDOW, text=text, pid=os.getpid())


@connect(path="tests.sleep")
def sleep(request, seconds: float):
    time.sleep(seconds)  # cooperative under runwebsocket (monkey-patched)
    return seconds


handled_call = contextvars.ContextVar("handled_call", default=None)


@connect(path="tests.context")
def context(request, name: str):
    """Return the value a previous call left in a context variable (none: each runs fresh)."""
    before = handled_call.get()
    handled_call.set(name)
    return before


@connect(path="tests.pid", auth_required=False)
def pid(request):
    """The id of the process that ran the call (runwebsocket --processes tests)."""
    return os.getpid()


@connect(path="tests.server_state", auth_required=False)
def server_state(request):
    """What the serving process holds (tests/test_parking.py): greenlets, open tabs, open files."""
    import gc

    import greenlet

    from floorkit.websocket.server import WebSocketServer

    objects = gc.get_objects()
    servers = [o for o in objects if isinstance(o, WebSocketServer)]
    return {
        "greenlets": sum(isinstance(o, greenlet.greenlet) for o in objects),
        "tabs": sum(len(server.tabs) for server in servers),
        "fds": len(os.listdir("/proc/self/fd")),
    }


@connect(path="tests.whoami", auth_required=False)
def whoami(request):
    return {"user": request.username, "window": request.window, "session": request.session}


# -- AsyncSignal (tests/test_async_signal.py) ------------------------------------------
# Star-imported so that discovery finds them here; they are named after the module
# that defines them: tests.testapp.async_signals.<attribute>.
from floorkit import AsyncSignal  # noqa: E402
from tests.testapp.async_signals import *  # noqa: E402, F403

pinged = AsyncSignal()  # defined in this signals module: "tests.testapp.signals.pinged"


def on_pinged(sender, signal, **kwargs):
    report(
        "pinged", sender=repr(sender), kwargs={key: repr(value) for key, value in kwargs.items()}
    )


pinged.connect(on_pinged)


@connect(path="tests.trace_chain")
def trace_chain(request, text: str = "traced"):
    """Inline → delayed (tests.push_from_worker) → a message back to the calling window."""
    import logging

    logging.getLogger("tests.trace").warning("chaining %s", text)
    return call("tests.push_from_worker", request, text=text).jobs


@group("tests.room.{name}", auth_required=False)
def can_join_room(request, name: str):
    """Rooms open to anyone but ``closed``; the metadata names the member."""
    if name == "closed":
        return False
    return {"name": request.username or "guest", "color": "#3366ff"}


@group("tests.doc.{pk}")
def can_join_doc(request, pk: int):
    """Documents below 100, for logged-in users only."""
    return pk < 100


@connect(path="tests.join_later", delayed=True)
def join_later(request, group: str):
    """A worker puts the calling session in ``group``."""
    from floorkit import SESSION, join

    join(request, group, SESSION)


room_news = AsyncSignal()  # discovered as tests.testapp.signals.room_news


def on_room_news(sender, group: str, n: int, **kwargs):
    """An AsyncSignal receiver on a worker sends to a group."""
    from floorkit import Group

    call("tests.jsonly", None, Group(group), n=n)


room_news.connect(on_room_news)
