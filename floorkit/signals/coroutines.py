"""
Running ``async def`` functions from synchronous code: the one runner of
``async def`` handlers (inline, in a view, in ``runwebsocket``, in a worker)
and of ``AsyncSignal``'s ``async def`` receivers.

``call_sync(fn, *args, **kwargs)`` calls ``fn`` and, when it is an ``async
def`` function, runs the coroutine to completion with asgiref's
``async_to_sync``: on an event loop of its own in a new thread (a greenlet
under gevent), or on the site's event loop when the caller is itself sync
code that an ASGI site runs through ``sync_to_async``. Sync code the
coroutine awaits through ``sync_to_async`` (Django's async ORM:
``acreate()``, ``async for``) runs back in the calling thread (greenlet),
with its database connection and transaction.

Under gevent (``runwebsocket``), the running event loop is made
greenlet-local (``greenlet_local_loops``): Python keeps "the running loop"
per OS thread, so without it one greenlet's loop would be seen by every other
greenlet of the thread, and another call's ``async_to_sync``, ``asyncio.run``
or Django's ``async_unsafe`` check would refuse to run. Each loop waits on
gevent's patched selectors, so a coroutine that awaits blocks only its own
call.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction

__all__ = ["call_sync", "greenlet_local_loops", "is_async", "refuse_async_generator"]


def is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine (``async def``, or marked so by asgiref)."""
    return iscoroutinefunction(fn)


def refuse_async_generator(fn: Callable[..., Any], what: str) -> None:
    """
    Raise ``TypeError`` for an async generator function: it returns an
    iterator that nothing would consume, not a value, so it can be neither a
    handler nor a receiver. ``what`` names the function in the message.
    """
    if inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"{what} is an async generator (async def with yield): nothing would iterate "
            "it. Return a value from an async def function instead."
        )


def call_sync(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """
    Call ``fn(*args, **kwargs)`` from sync code and return its value; an
    ``async def`` ``fn`` is run to completion first (see the module). Its
    exception propagates unchanged.

    Raise ``RuntimeError`` (asgiref's) for an ``async def`` ``fn`` called in
    a thread whose event loop is running: async code awaits it instead
    (``await floorkit.acall(...)``).
    """
    if not is_async(fn):
        return fn(*args, **kwargs)
    greenlet_local_loops()
    return async_to_sync(fn)(*args, **kwargs)


_traced_threads: set[int] = set()
_trace_lock = threading.Lock()
_parked: dict[Any, Any] = {}  # greenlet switched away from -> the loop it was running


def greenlet_local_loops() -> bool:
    """
    Under gevent's monkey-patched threading, make this OS thread's running
    asyncio loop follow greenlet switches (once per OS thread): the loop of
    the greenlet switched away from is parked and cleared, the one of the
    greenlet switched to is restored. Return whether gevent patched
    threading (without it, threads are OS threads and nothing is needed).

    A tracer installed before (``greenlet.settrace``) is still called.
    """
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return False
    thread = monkey.get_original("_thread", "get_ident")()
    if thread in _traced_threads:
        return True
    with _trace_lock:
        if thread not in _traced_threads:
            _install_tracer()
            _traced_threads.add(thread)
    return True


def _install_tracer() -> None:
    from asyncio import events

    import greenlet

    get_loop, set_loop = events._get_running_loop, events._set_running_loop
    parked = _parked
    previous: Callable[[str, Any], Any] | None = None

    def trace(event: str, args: Any) -> None:
        if event == "switch" or event == "throw":
            origin, target = args
            loop = get_loop()
            if loop is not None:
                parked[origin] = loop
                set_loop(None)
            if parked:
                loop = parked.pop(target, None)
                if loop is not None:
                    set_loop(loop)
        if previous is not None:
            previous(event, args)

    previous = greenlet.settrace(trace)
