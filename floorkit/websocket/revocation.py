"""
Closing the sockets of ended sessions in a ``runwebsocket`` process.

The router hands over the end notices of ``floorkit.security.sessions``; this module
finds the sockets they concern through the router's routes
(``session:<id>``, ``user:<name>``) and closes them with close code ``4001``
after taking them off every route, so that they receive nothing more. A timer
greenlet also closes, within a second, the sockets whose session's expiry
date has passed (after re-verifying it: activity may have extended it); its live messages
are held from the expiry date until that check, so none goes out late.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import time
import weakref

import gevent

from floorkit.security.sessions import RECHECK_DELAY, SESSION_ENDED

logger = logging.getLogger("floorkit.websocket")

_order = itertools.count()
EXPIRY_TICK = 0.5  # seconds at most between looks at the expiry heap


class Revocations:
    """End notices and expiry dates → closed sockets, for one router."""

    def __init__(self, router) -> None:
        self.router = router
        self.expiring: list[tuple[float, int, weakref.ref]] = []  # a heap by due time
        self._greenlet: gevent.Greenlet | None = None

    def watch(self, connection) -> None:
        """Close ``connection`` when its session's expiry date passes (if it has one)."""
        guard = getattr(connection, "guard", None)
        left = guard.seconds_left() if guard is not None else None
        if left is not None:
            due = time.monotonic() + left
            heapq.heappush(self.expiring, (due, next(_order), weakref.ref(connection)))

    def notice(self, data: bytes | str) -> None:
        """Handle one end notice; a malformed one is logged and ignored."""
        try:
            notice = json.loads(data)
            sid, username = notice.get("session"), notice.get("user")
        except (ValueError, AttributeError, TypeError):
            logger.warning("ignored a malformed session notice %r", data)
            return
        if isinstance(sid, str):
            for connection in self._connections(f"session:{sid}"):
                self.end(connection)
        if isinstance(username, str):
            for connection in self._connections(f"user:{username}"):
                self.hold(connection)
                gevent.spawn_later(RECHECK_DELAY, self.recheck, connection)

    @staticmethod
    def hold(connection) -> None:
        """Hold live messages of ``connection`` until ``recheck()`` has decided."""
        if connection.held is None:
            connection.held = []
            connection.guard.holding = True

    def _connections(self, address: str) -> tuple:
        return tuple(self.router.routes.get(self.router.channel(address), ()))

    def recheck(self, connection) -> None:
        """Re-verify the session of ``connection`` now; close it when it ended."""
        guard = getattr(connection, "guard", None)
        if guard is None or connection.closed:
            return
        try:
            still_valid = guard.verify()
        except Exception:
            logger.exception("could not re-verify the session of %s", connection.request.window)
            still_valid = True  # unverifiable now: the next call verifies again
        if still_valid:
            self.watch(connection)
            self.release(connection)
        else:
            self.end(connection)

    @staticmethod
    def release(connection) -> None:
        """Deliver, in order, the live messages ``hold()`` kept back."""
        if connection.guard.holding:
            connection.guard.holding = False
            held, connection.held = connection.held or [], None
            for frame, seq, epoch in held:
                connection.deliver(frame, seq, epoch)

    def end(self, connection) -> None:
        """Stop routing to ``connection`` at once, then close it with 4001."""
        if connection.guard is not None:
            connection.guard.ended = True
            connection.guard.holding = False
            connection.held = None  # what was held for the ended session is dropped
        self.router.remove(connection, connection.addresses)
        if not connection.closed:
            gevent.spawn(connection.close, SESSION_ENDED, "session ended")

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._expire)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _expire(self) -> None:
        while True:
            now = time.monotonic()
            while self.expiring and self.expiring[0][0] <= now:
                connection = heapq.heappop(self.expiring)[2]()
                if connection is not None and not connection.closed:
                    self.hold(connection)  # nothing goes out until the session is verified
                    gevent.spawn(self.recheck, connection)
            next_due = self.expiring[0][0] - now if self.expiring else EXPIRY_TICK
            gevent.sleep(min(EXPIRY_TICK, max(0.01, next_due)))
