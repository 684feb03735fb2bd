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

    def watch(self, tab) -> None:
        """Close ``tab`` when its session's expiry date passes (if it has one)."""
        guard = getattr(tab, "guard", None)
        left = guard.seconds_left() if guard is not None else None
        if left is not None:
            due = time.monotonic() + left
            heapq.heappush(self.expiring, (due, next(_order), weakref.ref(tab)))

    def notice(self, data: bytes | str) -> None:
        """Handle one end notice; a malformed one is logged and ignored."""
        try:
            notice = json.loads(data)
            sid, username = notice.get("session"), notice.get("user")
        except (ValueError, AttributeError, TypeError):
            logger.warning("ignored a malformed session notice %r", data)
            return
        if isinstance(sid, str):
            for tab in self._tabs(f"session:{sid}"):
                self.end(tab)
        if isinstance(username, str):
            for tab in self._tabs(f"user:{username}"):
                self.hold(tab)
                gevent.spawn_later(RECHECK_DELAY, self.recheck, tab)

    @staticmethod
    def hold(tab) -> None:
        """Hold live messages of ``tab`` until ``recheck()`` has decided."""
        if tab.cursor.hold():
            tab.guard.holding = True

    def _tabs(self, address: str) -> tuple:
        return tuple(self.router.routes.get(self.router.channel(address), ()))

    def recheck(self, tab) -> None:
        """Re-verify the session of ``tab`` now; close it when it ended."""
        guard = getattr(tab, "guard", None)
        if guard is None or tab.closed:
            return
        try:
            still_valid = guard.verify()
        except Exception:
            logger.exception("could not re-verify the session of %s", tab.request.window)
            still_valid = True  # unverifiable now: the next call verifies again
        if still_valid:
            self.watch(tab)
            self.release(tab)
        else:
            self.end(tab)

    @staticmethod
    def release(tab) -> None:
        """Send, in order, the live messages ``hold()`` kept back."""
        if tab.guard.holding:
            tab.guard.holding = False
            tab.cursor.release()

    def end(self, tab) -> None:
        """Stop routing to ``tab`` at once, then close it with 4001."""
        if tab.guard is not None:
            tab.guard.ended = True
            tab.guard.holding = False
            tab.cursor.drop()  # what was held for the ended session is dropped
        self.router.remove(tab, tab.addresses)
        if not tab.closed:
            gevent.spawn(tab.close, SESSION_ENDED, "session ended")

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
                tab = heapq.heappop(self.expiring)[2]()
                if tab is not None and not tab.closed:
                    self.hold(tab)  # nothing goes out until the session is verified
                    gevent.spawn(self.recheck, tab)
            next_due = self.expiring[0][0] - now if self.expiring else EXPIRY_TICK
            gevent.sleep(min(EXPIRY_TICK, max(0.01, next_due)))
