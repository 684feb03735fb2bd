"""
Routing messages published to Redis to the sockets of this process.

One Redis pub/sub connection per process, pattern-subscribed to
``<KEY_PREFIX>:ch:*``, feeds a local map from channel to tabs (``floorkit.websocket.tab``).
The same connection reads the end notices of sessions
(``floorkit.websocket.revocation``) and the membership notices of groups
(``floorkit.websocket.group_routes``), so that both take effect in order
with the messages. A
message is framed once and the same bytes are offered to every tab of its
channel. A tab that is reached through several addresses of one call
(``[SESSION, USER]``) gets the message once: each tab's cursor remembers the
sequence number of its last message (``floorkit.websocket.replay``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import gevent
import gevent.pool
import redis

from floorkit import conf
from floorkit.delivery.publish import message_position, trace_of
from floorkit.delivery.redis_client import get_redis, key
from floorkit.security.sessions import channel as sessions_channel
from floorkit.tracing import recorder
from floorkit.websocket.frames import text_frame
from floorkit.websocket.group_routes import apply_notice, parse_notice
from floorkit.websocket.replay import catch_up
from floorkit.websocket.revocation import Revocations
from floorkit.websocket.write_queue import Burst

if TYPE_CHECKING:
    from floorkit.websocket.tab import Tab

logger = logging.getLogger("floorkit.websocket")

#: How long the router may keep routing messages already buffered on its
#: pub/sub connection before the gathered frames go out (``Burst``). A burst
#: only grows while the router is behind (a message is waiting when the last
#: one is routed), and the router does not yield while it is open: this bounds
#: both how long the first message of a backlog waits and the hub's stall.
BURST_SECONDS = 0.02


class Router:
    """Channel → tabs, fed by one pub/sub connection."""

    def __init__(self) -> None:
        self.routes: dict[bytes, set[Tab]] = {}
        self.pattern = key("ch", "*")
        self.prefix = key("ch", "").encode()
        self.ready = gevent.event.Event()
        self.tracing = conf.get("TRACE")
        self._greenlet: gevent.Greenlet | None = None
        self.revocations = Revocations(self)  # end notices of sessions close their tabs

    def channel(self, address: str) -> bytes:
        return self.prefix + address.encode()

    def add(self, tab: Tab, addresses: Iterable[str]) -> None:
        for address in addresses:
            self.routes.setdefault(self.channel(address), set()).add(tab)

    def remove(self, tab: Tab, addresses: Iterable[str]) -> None:
        for address in addresses:
            channel = self.channel(address)
            tabs = self.routes.get(channel)
            if tabs is not None:
                tabs.discard(tab)
                if not tabs:
                    del self.routes[channel]

    def route(self, channel: bytes, payload: bytes) -> int:
        """
        Send the message ``payload`` to every tab of ``channel`` through
        the tab's cursor (``Cursor.offer()``: once per tab); return how many
        got it.
        """
        tabs = self.routes.get(channel)
        if not tabs:
            return 0
        frame = text_frame(payload)
        seq, epoch = message_position(payload)
        count = 0
        windows = []
        for tab in tuple(tabs):
            if tab.cursor.offer(frame, seq, epoch):
                count += 1
                if len(windows) < 20:
                    windows.append(tab.request.window)
        if count and self.tracing:
            origin = trace_of(payload)
            if origin is not None:
                recorder.emit(
                    "message.delivered",
                    origin[0],
                    recorder.new_hop(),
                    origin[1],
                    None,
                    seq=seq,
                    sockets=count,
                    windows=windows,
                )
        return count

    def tabs(self) -> set[Tab]:
        """Every tab routed here."""
        return set().union(*self.routes.values()) if self.routes else set()

    def _resubscribed(self) -> None:
        """
        After the pub/sub connection came back, give every tab what was
        published while it was away: each cursor holds live messages from now
        (before the first one is read), and ``replay.catch_up`` replays the
        gap from the logs, then releases them.
        """
        tabs = [tab for tab in self.tabs() if tab.cursor.hold()]
        if tabs:
            logger.info("pub/sub back: replaying the gap to %d tabs", len(tabs))
            pool = gevent.pool.Pool(16)
            for tab in tabs:
                pool.spawn(catch_up, tab)

    def membership_changed(self, data: bytes) -> None:
        """
        Apply a membership notice to the tabs of its scope here: they start
        or stop getting the group's messages from the next one on.
        """
        notice = parse_notice(data)
        if notice is None:
            logger.warning("malformed membership notice %r ignored", data[:100])
            return
        tabs = self.routes.get(self.channel(notice[1]))
        for tab in tuple(tabs or ()):
            apply_notice(self, tab, notice)

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)
        self.revocations.start()

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
        self.revocations.stop()

    def _route_burst(self, pubsub: redis.client.PubSub, message: dict) -> dict | None:
        """
        Route ``message`` and the messages already buffered after it (for at
        most ``BURST_SECONDS``) in one ``Burst``: each tab gets one write for
        all of them. Return the first message read but not routed (not a
        routed message: a membership or session notice, handled after the
        burst so that it applies in order), or None.
        """
        route = self.route
        deadline = time.monotonic() + BURST_SECONDS
        with Burst():
            while True:
                route(message["channel"], message["data"])
                if time.monotonic() >= deadline:
                    return None
                message = pubsub.get_message(timeout=0)
                if message is None or message["type"] != "pmessage":
                    return message

    def _run(self) -> None:
        delay = 0.1
        membership = key("membership")
        membership_bytes = membership.encode()
        subscribed_before = False
        while True:
            pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(self.pattern)
                pubsub.subscribe(sessions_channel(), membership)
                if subscribed_before:
                    self._resubscribed()
                subscribed_before = True
                self.ready.set()
                delay = 0.1
                heartbeat = conf.get("HEARTBEAT")
                message = None
                while True:
                    if message is None:
                        message = pubsub.get_message(timeout=heartbeat)
                        if message is None:
                            continue
                    if message["type"] == "pmessage":
                        message = self._route_burst(pubsub, message)
                        continue
                    if message["type"] == "message" and message["channel"] == membership_bytes:
                        self.membership_changed(message["data"])
                    elif message["type"] == "message":
                        self.revocations.notice(message["data"])
                    message = None
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.ready.clear()
                logger.warning("Redis pub/sub lost (%s); reconnecting in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                pubsub.close()
