"""
Routing messages published to Redis to the sockets of this process.

One Redis pub/sub connection per process, pattern-subscribed to
``<KEY_PREFIX>:ch:*``, feeds a local map from channel to connections. A
message is framed once and the same bytes are written to every connection
of its channel. A tab that is reached through several addresses of one call
(``[SESSION, USER]``) gets the message once: connections remember the ids of
their last messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import gevent
import redis

from floorkit import conf
from floorkit.delivery.publish import message_position, trace_of
from floorkit.delivery.redis_client import get_redis, key
from floorkit.security.sessions import channel as sessions_channel
from floorkit.tracing import recorder
from floorkit.websocket.frames import text_frame
from floorkit.websocket.revocation import Revocations

logger = logging.getLogger("floorkit.websocket")


class Router:
    """Channel → connections, fed by one pub/sub connection."""

    def __init__(self) -> None:
        self.routes: dict[bytes, set] = {}
        self.pattern = key("ch", "*")
        self.prefix = key("ch", "").encode()
        self.ready = gevent.event.Event()
        self.tracing = conf.get("TRACE")
        self._greenlet: gevent.Greenlet | None = None
        self.revocations = Revocations(self)  # end notices of sessions close their sockets

    def channel(self, address: str) -> bytes:
        return self.prefix + address.encode()

    def add(self, connection, addresses: Iterable[str]) -> None:
        for address in addresses:
            self.routes.setdefault(self.channel(address), set()).add(connection)
        self.revocations.watch(connection)

    def remove(self, connection, addresses: Iterable[str]) -> None:
        for address in addresses:
            channel = self.channel(address)
            connections = self.routes.get(channel)
            if connections is not None:
                connections.discard(connection)
                if not connections:
                    del self.routes[channel]

    def deliver(self, channel: bytes, payload: bytes) -> int:
        """Write ``payload`` to every connection of ``channel``; return how many got it."""
        connections = self.routes.get(channel)
        if not connections:
            return 0
        frame = text_frame(payload)
        seq, epoch = message_position(payload)
        count = 0
        delivered = []
        for connection in tuple(connections):
            if connection.deliver(frame, seq, epoch):
                count += 1
                if len(delivered) < 20:
                    delivered.append(connection.request.window)
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
                    windows=delivered,
                )
        return count

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)
        self.revocations.start()

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
        self.revocations.stop()

    def _run(self) -> None:
        delay = 0.1
        while True:
            pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(self.pattern)
                pubsub.subscribe(sessions_channel())
                self.ready.set()
                delay = 0.1
                deliver = self.deliver
                while True:
                    message = pubsub.get_message(timeout=conf.get("HEARTBEAT"))
                    if message is not None and message["type"] == "pmessage":
                        deliver(message["channel"], message["data"])
                    elif message is not None and message["type"] == "message":
                        self.revocations.notice(message["data"])
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.ready.clear()
                logger.warning("Redis pub/sub lost (%s); reconnecting in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                pubsub.close()
