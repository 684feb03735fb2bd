"""
One browser tab's websocket: who it is, where it is routed, its lifecycle.

A ``Tab`` is opened by ``floorkit.websocket.reclaim.open_tab()``, routed by
its addresses, started (``start()``: greeting and replay, see
``floorkit.websocket.replay``), then its frames are read, each one handled by
``floorkit.websocket.incoming.handle_frame()``, until the peer goes away (in
bursts, parked in between: ``floorkit.websocket.parking``; or by ``serve()``
in a greenlet of its own), and it is closed (``close()``/``finish()``) or
aborted (``abort()``). Its
writes go through its ``WriteQueue`` (``floorkit.websocket.write_queue``), so they never
block.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from floorkit import conf
from floorkit.delivery import wire
from floorkit.security.ratelimit import Bucket, session_bucket
from floorkit.signals.request import SignalRequest
from floorkit.signals.targets import addresses_of
from floorkit.websocket.frames import PING, text_frame
from floorkit.websocket.incoming import handle_frame
from floorkit.websocket.replay import Cursor, recover
from floorkit.websocket.write_queue import WriteQueue

logger = logging.getLogger("floorkit.websocket")


def json_frame(data: dict[str, Any]) -> bytes:
    """A text frame carrying ``data`` as strict JSON."""
    return text_frame(wire.encode_bytes(data))


class Tab:
    """The websocket of one browser tab, routed by its addresses."""

    __slots__ = (
        "ws",
        "request",
        "token",
        "addresses",
        "writes",
        "cursor",
        "bucket",
        "session_bucket",
        "guard",
        "conn",
        "groups",
        "pending_notices",
        "replay_ranges",
        "watcher",
        "__weakref__",
    )

    def __init__(self, ws, sock, request: SignalRequest, token: str) -> None:
        self.ws = ws
        self.request = request
        self.token = token
        self.addresses = addresses_of(request)
        self.writes = WriteQueue(sock)
        self.cursor = Cursor(self.writes.write)  # holding until ``start()``
        self.bucket = Bucket(conf.get("RATE_LIMIT"))  # this socket's calls and pings
        self.session_bucket = session_bucket(request.session)  # all its session's sockets here
        ws.raw_write = self.writes.write  # pongs and close frames queue behind our frames
        self.guard = request.__dict__.pop("guard", None)  # a SessionGuard when logged in
        self.conn = uuid.uuid4().hex[:16]  # this connection of the window, for its presence
        self.groups: dict[str, set[str]] = {}  # group -> the window's scopes in it
        self.pending_notices: list | None = []  # membership notices until its groups are routed
        self.replay_ranges: dict = {}  # group address -> the seq ranges it receives of it
        self.watcher: Any = None  # while parked: the io watcher of its socket (parking.py)

    # -- writing -----------------------------------------------------------

    def send(self, data: dict[str, Any]) -> None:
        """Send ``data`` as a JSON frame."""
        self.writes.write(json_frame(data))

    def error(self, call_id: Any, kind: str, message: str, error_id: str | None = None) -> None:
        """Send an ``error`` frame (for the call ``call_id``, or None)."""
        self.send(
            {"type": "error", "id": call_id, "kind": kind, "message": message, "error_id": error_id}
        )

    def ping(self) -> None:
        self.writes.write(PING)

    def hello(self) -> None:
        """Send the ``hello`` frame: the window, its token and where its cursor is."""
        self.send(
            {
                "type": "hello",
                "window": self.request.window,
                "token": self.token,
                "user": self.request.username,
                "heartbeat": conf.get("HEARTBEAT"),
                "seq": self.cursor.last_seq,
                "epoch": self.cursor.epoch,
                "groups": sorted(self.groups),
            }
        )

    # -- lifecycle ---------------------------------------------------------

    def start(self, after: int | None, epoch: str | None = None) -> None:
        """
        Greet the peer and replay what its window missed after ``after`` of
        ``epoch``, then the live messages held meanwhile (see
        ``floorkit.websocket.replay.recover()``).
        """
        recover(self, after, epoch)

    def serve(self) -> None:
        """Read frames until the peer goes away; each is handled by ``handle_frame()``."""
        while (message := self.next_message()) is not None:
            handle_frame(self, message)

    def next_message(self, return_control: bool = False) -> str | bytearray | None:
        """
        Wait for the peer's next message and return it; None once the tab is
        closed or the peer is gone (EOF, its close frame, a protocol error,
        answered by ``WebSocket.receive()``). With ``return_control``,
        ``framing.CONTROL`` for each ping or pong between messages.
        """
        if self.writes.closed:
            return None
        try:
            return self.ws.receive(return_control)
        except Exception as exc:  # a protocol error: the socket is being closed
            logger.debug("websocket %s closed: %s", self.request.window, exc)
            return None

    @property
    def closed(self) -> bool:
        """Whether this tab sends nothing more (finished or aborted)."""
        return self.writes.closed

    @property
    def last_seen(self) -> float:
        """When the peer last sent a frame (any frame, pongs included)."""
        return self.ws.last_seen

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` (after queued frames), then end the socket."""
        if self.writes.closed:
            return
        self.ws.close(code, reason)
        self.finish()

    def finish(self) -> None:
        """
        Let queued frames go out (for at most 2 s), then stop sending; the
        handler lingers to read what the peer still sends before closing, so
        that our close frame is not lost to a connection reset.
        """
        self.writes.finish(timeout=2)

    def abort(self) -> None:
        """End the socket at once, dropping queued frames."""
        self.writes.abort()
