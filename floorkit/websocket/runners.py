"""
Greenlets that run browser calls, reused from call to call.

Every call from a browser runs in a greenlet of its own, so that a handler
that waits (a database query, an HTTP request) delays neither the other calls
of its tab nor the reading of its socket. Finished greenlets wait for the
next call instead of exiting, up to ``max_idle`` of them: waking a waiting
greenlet costs less than creating one.

Each call runs in a fresh ``contextvars.Context``, as it would in a new
greenlet: a context variable that a handler sets (Django's database
connections and ``asgiref`` locals among them) does not leak into the next
call the same greenlet runs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

import gevent
from gevent.hub import Waiter, get_hub

logger = logging.getLogger("floorkit.websocket")


class CallRunners:
    """
    A pool of greenlets for ``run(fn, *args)``: an idle one when there is
    one, a new one otherwise. Nothing is queued: a call never waits for
    another call to finish. Idle greenlets beyond ``max_idle`` exit.
    """

    def __init__(self, max_idle: int = 64) -> None:
        self.max_idle = max_idle
        self._idle: list[Waiter] = []

    @property
    def idle(self) -> int:
        """How many greenlets wait for a call."""
        return len(self._idle)

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        """
        Run ``fn(*args)`` soon, in a greenlet of its own and a fresh context.
        ``fn`` is expected to handle its errors; one that escapes is logged.
        """
        if self._idle:
            waiter = self._idle.pop()
            get_hub().loop.run_callback(waiter.switch, (fn, args))
        else:
            gevent.spawn_raw(self._serve, fn, args)

    def run_from_hub(self, fn: Callable[..., Any], *args: Any) -> None:
        """
        ``run()`` for a callback of the hub (an io watcher's): an idle
        greenlet is switched to at once, running ``fn`` before the hub goes
        on, instead of at the loop's next turn. Only the hub may call it.
        """
        if self._idle:
            self._idle.pop().switch((fn, args))
        else:
            gevent.spawn_raw(self._serve, fn, args)

    def _serve(self, fn: Callable[..., Any], args: tuple) -> None:
        while True:
            try:
                contextvars.Context().run(fn, *args)
            except Exception:
                logger.exception("unhandled error in a browser call")
            if len(self._idle) >= self.max_idle:
                return
            waiter = Waiter()
            self._idle.append(waiter)
            fn, args = waiter.get()


runners = CallRunners()
