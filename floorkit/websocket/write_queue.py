"""
The write queue of one tab's socket: whole frames, in order, never blocking.

A frame is written to the socket at once when its buffer has room, otherwise
queued and written by a short-lived writer greenlet, so one slow tab never
delays the router or the other tabs. Frames are written in the order they
were given; while the queue is not empty, every new frame goes behind it.

While a ``Burst`` is open (the router opens one while it reads messages
already buffered on its pub/sub connection), frames are gathered per socket
instead, and written when the burst closes: one write per socket for the
whole burst, however many messages it carried. A burst never outlives the
call that opened it, so gathered frames are never left behind.
"""

from __future__ import annotations

import collections
import socket
from typing import Any

import gevent


class WriteQueue:
    """
    Ordered, non-blocking writes of whole frames to ``sock`` (a gevent
    socket). A write error aborts the socket; after ``finish()`` or
    ``abort()`` (``closed``), frames are dropped.
    """

    __slots__ = ("sock", "raw", "queue", "writer", "closed", "gathered")

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.raw = getattr(sock, "_sock", None)  # the non-blocking OS socket under gevent's
        self.queue: collections.deque | None = None  # created when a write must wait
        self.writer: gevent.Greenlet | None = None
        self.closed = False
        self.gathered: list[bytes] | None = None  # frames of the open burst, in order

    def write(self, frame: bytes) -> None:
        """Write one complete frame, in order, without blocking the caller."""
        if self.closed:
            return
        burst = Burst.current
        if burst is not None:
            gathered = self.gathered
            if gathered is None:
                self.gathered = [frame]
                burst.queues.append(self)
            else:
                gathered.append(frame)
            return
        self._send(frame)

    def _send(self, frame: bytes) -> None:
        if self.writer is None and self.raw is not None:  # nothing queued: straight out
            try:
                sent = self.raw.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.abort()
                return
            if sent == len(frame):
                return
            frame = memoryview(frame)[sent:]
        queue = self.queue
        if queue is None:
            queue = self.queue = collections.deque()
        queue.append(frame)
        if self.writer is None:
            self.writer = gevent.spawn(self._drain)

    def _flush_gathered(self) -> None:
        gathered, self.gathered = self.gathered, None
        if gathered and not self.closed:
            self._send(gathered[0] if len(gathered) == 1 else b"".join(gathered))

    def _drain(self) -> None:
        """Write the queued frames; until it ends, every frame queues behind them."""
        try:
            while self.queue and not self.closed:
                self.sock.sendall(self.queue.popleft())
        except OSError:
            self.abort()
        finally:
            self.writer = None
            if not self.queue:
                self.queue = None

    def finish(self, timeout: float = 2.0) -> None:
        """
        Let queued frames go out (for at most ``timeout`` seconds), then stop
        sending: the socket's sending side is shut down, its reading side is
        left to the handler.
        """
        self._flush_gathered()
        if self.writer is not None and not self.closed:
            self.writer.join(timeout=timeout)
        if not self.closed:
            self.closed = True
            self.queue = None
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def abort(self) -> None:
        """Drop queued frames and shut the socket down both ways, at once."""
        if self.closed:
            return
        self.closed = True
        self.queue = None
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Burst:
    """
    Gather the frames written to every ``WriteQueue`` while it is open, and
    write each socket's frames at once, in order, when it closes::

        with Burst():
            ...  # route several messages

    Only one burst is open at a time, by one greenlet that does not yield
    while it is open (routing only writes without blocking); frames written
    meanwhile by other code still go out in order, at the close.
    """

    current: Burst | None = None

    __slots__ = ("queues",)

    def __init__(self) -> None:
        self.queues: list[WriteQueue] = []

    def __enter__(self) -> Burst:
        if Burst.current is not None:
            raise RuntimeError("a Burst is already open")
        Burst.current = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        Burst.current = None
        queues, self.queues = self.queues, []
        for queue in queues:
            queue._flush_gathered()
