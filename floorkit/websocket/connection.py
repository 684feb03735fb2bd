"""
One browser tab's websocket: identity, the read loop, calls, and writes.

Writes never block the router: a frame is written to the socket at once when
its buffer has room, otherwise queued and written by a short-lived writer
greenlet, so one slow tab never delays the others. Frames of one connection
are written in the order they were sent.
"""

from __future__ import annotations

import collections
import logging
import uuid
from typing import Any

import gevent

from floorkit import conf
from floorkit.delivery import wire
from floorkit.exceptions import FloorkitError
from floorkit.security.ratelimit import Bucket, session_bucket
from floorkit.security.sessions import session_holds
from floorkit.signals import identity
from floorkit.signals.dispatch import call_from_client, replayed_messages, report_failure
from floorkit.signals.request import SignalRequest
from floorkit.signals.targets import addresses_of
from floorkit.tracing import recorder
from floorkit.websocket.db import close_db_connections
from floorkit.websocket.frames import PING, text_frame
from floorkit.websocket.runners import runners

logger = logging.getLogger("floorkit.websocket")


def _json_frame(data: dict[str, Any]) -> bytes:
    return text_frame(wire.encode(data).encode())


class Connection:
    """A websocket of one tab, routed by its addresses."""

    __slots__ = (
        "ws",
        "sock",
        "raw",
        "request",
        "token",
        "addresses",
        "outbox",
        "writer",
        "last_seq",
        "epoch",
        "held",
        "bucket",
        "session_bucket",
        "closed",
        "guard",
        "__weakref__",
    )

    def __init__(self, ws, sock, request: SignalRequest, token: str) -> None:
        self.ws = ws
        self.sock = sock
        self.raw = getattr(sock, "_sock", None)  # the non-blocking OS socket under gevent's
        self.request = request
        self.token = token
        self.addresses = addresses_of(request)
        self.outbox: collections.deque | None = None  # created when a write must wait
        self.writer: gevent.Greenlet | None = None
        self.last_seq = 0
        self.epoch: str | None = None  # of the counter ``last_seq`` counts in
        self.held: list | None = None  # live messages held while missed ones are replayed
        self.bucket = Bucket(conf.get("RATE_LIMIT"))  # this socket's calls and pings
        self.session_bucket = session_bucket(request.session)  # all its session's sockets here
        ws.raw_write = self.send_frame  # pongs and close frames queue behind our frames
        self.closed = False
        self.guard = request.__dict__.pop("guard", None)  # a SessionGuard when logged in

    # -- writing -----------------------------------------------------------

    def send_frame(self, frame: bytes) -> None:
        """Write one complete frame, in order, without blocking the caller."""
        if self.closed:
            return
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
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = collections.deque()
        outbox.append(frame)
        if self.writer is None:
            self.writer = gevent.spawn(self._write_outbox)

    def _write_outbox(self) -> None:
        """Write the queued frames; until it ends, every frame queues behind them."""
        try:
            while self.outbox and not self.closed:
                self.sock.sendall(self.outbox.popleft())
        except OSError:
            self.abort()
        finally:
            self.writer = None
            if not self.outbox:
                self.outbox = None

    def deliver(self, frame: bytes, seq: int | None, epoch: str | None = None) -> int:
        """
        Deliver a routed message unless this connection already got it (its
        ``seq`` is not above the last one delivered, in the same ``epoch``). A
        message of a new epoch (Redis restarted empty, numbering from 1 again)
        resets the cursor: it is delivered, and the page, seeing the new epoch,
        knows it lost what came before. While missed messages are being
        replayed, live ones are held and sent after them.
        """
        if self.held is not None:
            self.held.append((frame, seq, epoch))
            return 1
        if seq is not None:
            if epoch is not None and epoch != self.epoch:
                self.epoch, self.last_seq = epoch, 0
            if seq <= self.last_seq:
                return 0
            self.last_seq = seq
        self.send_frame(frame)
        return 1

    def start(self, after: int | None, epoch: str | None = None) -> None:
        """
        Greet the peer, then replay in order what this window missed after
        sequence number ``after`` of ``epoch``, then the live messages held
        meanwhile (the connection was routed before), with no duplicate and no
        gap; a ``recovery`` frame says how many were replayed and whether some
        were lost. A cursor of another epoch is worth nothing: everything of the
        current epoch is replayed, with ``lost``. Without ``after`` (a first
        connection), start from now.
        """
        from floorkit.delivery.message_log import Missed, current_position, missed
        from floorkit.delivery.publish import message_seq

        if after == UNRECOVERABLE:  # nothing to replay: start from now, and say so
            last, current = current_position()
            result: Missed | None = Missed(last=last, lost=True, epoch=current)
            after = cursor = last
        elif after is not None:
            result = missed(self.addresses, after, epoch)
            if result.epoch is None:  # nothing published yet in this life of Redis
                result.epoch = current_position()[1]
            cursor = after if epoch is None or epoch == result.epoch else 0
        else:
            result = None
        if result is None:
            self.last_seq, self.epoch = current_position()
        else:
            self.last_seq, self.epoch = cursor, result.epoch
        self.hello()
        if result is not None:
            for payload in result.payloads:
                seq = message_seq(payload)
                if seq is not None and seq > self.last_seq:
                    self.last_seq = seq
                    self.send_frame(text_frame(payload))
            self.send(
                {
                    "type": "recovery",
                    "after": after,
                    "replayed": len(result.payloads),
                    "lost": result.lost,
                    "epoch": self.epoch,
                }
            )
        held, self.held = self.held or [], None
        for frame, seq, message_epoch in held:
            self.deliver(frame, seq, message_epoch)

    def send(self, data: dict[str, Any]) -> None:
        self.send_frame(_json_frame(data))

    def ping(self) -> None:
        self.send_frame(PING)

    @property
    def last_seen(self) -> float:
        """When the peer last sent a frame (any frame, pongs included)."""
        return self.ws.last_seen

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` (after queued frames), then end the socket."""
        if self.closed:
            return
        self.ws.close(code, reason)
        self.finish()

    def finish(self) -> None:
        """
        Let queued frames go out (for at most 2 s), then stop sending; the
        handler lingers to read what the peer still sends before closing, so
        that our close frame is not lost to a connection reset.
        """
        if self.writer is not None and not self.closed:
            self.writer.join(timeout=2)
        if not self.closed:
            self.closed = True
            self.outbox = None
            try:
                self.sock.shutdown(1)  # SHUT_WR
            except OSError:
                pass

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.outbox = None
        try:
            self.sock.shutdown(2)
        except OSError:
            pass

    # -- reading -----------------------------------------------------------

    def hello(self) -> None:
        self.send(
            {
                "type": "hello",
                "window": self.request.window,
                "token": self.token,
                "user": self.request.username,
                "heartbeat": conf.get("HEARTBEAT"),
                "seq": self.last_seq,
                "epoch": self.epoch,
            }
        )

    def serve(self) -> None:
        """Read frames until the peer goes away."""
        receive = self.ws.receive
        while not self.closed:
            try:
                message = receive()
            except Exception as exc:  # a protocol error: the socket is being closed
                logger.debug("websocket %s closed: %s", self.request.window, exc)
                break
            if message is None:
                break
            self.handle(message)

    def error(self, call_id: Any, kind: str, message: str, error_id: str | None = None) -> None:
        self.send(
            {"type": "error", "id": call_id, "kind": kind, "message": message, "error_id": error_id}
        )

    def handle(self, message: str | bytes) -> None:
        """Handle one client frame; every refusal is an error frame, never a close."""
        try:
            data = wire.decode(message)
        except wire.BadJSON as exc:
            self.refuse_json(exc)
            return
        if not isinstance(data, dict):
            self.error(None, "bad_request", "a frame must be a JSON object")
            return
        kind = data.get("type")
        if kind == "ping":
            if self.bucket.take():
                self.send({"type": "pong"})
            else:
                self.error(None, "rate_limited", "too many frames; slow down")
            return
        call_id = data.get("id")
        if kind != "call":
            self.error(
                call_id if _valid_id(call_id) else None,
                "bad_request",
                f"unknown frame type {kind!r}",
            )
            return
        if not _valid_id(call_id):
            self.error(None, "bad_request", f"a call needs an integer 'id' from 1 to {MAX_ID}")
            return
        signal = data.get("signal")
        if not isinstance(signal, str):
            self.error(call_id, "bad_request", "a call needs a string 'signal'")
            return
        kwargs = data.get("kwargs", {})
        if not isinstance(kwargs, dict):
            self.error(call_id, "bad_request", "'kwargs' must be a JSON object")
            return
        if not self.take_token():
            self.error(call_id, "rate_limited", "too many calls; slow down")
            request = self.request.new_call()
            recorder.emit(
                "call",
                request.trace_id,
                recorder.new_hop(),
                None,
                signal,
                outcome="refused",
                reason="rate_limited",
                window=request.window,
            )
            return
        runners.run(self.run_call, call_id, signal, kwargs, data.get("to"))

    def refuse_json(self, exc: wire.BadJSON) -> None:
        """Answer a frame ``wire.decode()`` refused, echoing its call id if valid."""
        data = exc.data if isinstance(exc.data, dict) else {}
        call_id = data.get("id") if _valid_id(data.get("id")) else None
        self.error(call_id, *wire.refusal(exc))

    def take_token(self) -> bool:
        """One call's token from this socket's bucket and its session's."""
        if not self.bucket.take():
            return False
        shared = self.session_bucket
        return shared is None or shared.take()

    def run_call(self, call_id: int, signal: str, kwargs: dict, to: Any) -> None:
        request = self.request.new_call()
        try:
            if self.guard is not None and not session_holds(self, call_id):
                return
            result = call_from_client(signal, request, kwargs, to)
            results = result.results
            for replay in replayed_messages(results):
                self.send(
                    {
                        "type": "signal",
                        "id": uuid.uuid4().hex,
                        "signal": replay["signal"],
                        "kwargs": replay["kwargs"],
                        "trace": request.trace_id,
                    }
                )
            frame = _json_frame(
                {
                    "type": "result",
                    "id": call_id,
                    "ok": True,
                    "results": results,
                    "jobs": result.jobs,
                    "trace": request.trace_id,
                }
            )
            self.send_frame(frame)
        except FloorkitError as exc:
            self.error(call_id, exc.kind, str(exc))
        except Exception as exc:
            error_id = report_failure(signal, request, exc, f"for window {request.window}")
            self.error(call_id, "handler_failed", f"{signal} failed (error {error_id})", error_id)
        finally:
            close_db_connections()


UNRECOVERABLE = -1  # a reconnect whose window could not be reclaimed


MAX_ID = 2**53 - 1  # the largest integer a browser's Number holds exactly


def _valid_id(value: Any) -> bool:
    """Whether ``value`` is a call id: an integer from 1 to ``MAX_ID`` (not a bool)."""
    return type(value) is int and 0 < value <= MAX_ID


def open_connection(ws, sock, environ: dict) -> tuple[Connection, int | None, str | None]:
    """
    Identify the peer and issue (or reclaim, with ``?token=``) its window.
    Return the connection (holding live messages until ``start()``), the
    sequence number to recover from (``?last=``, honoured with a reclaimed
    window only) and the epoch it counts in (``?epoch=``, if given).
    """
    from urllib.parse import parse_qs

    from floorkit.delivery.message_log import valid_cursor
    from floorkit.websocket.auth import identify

    try:
        request = identify(environ)
    finally:
        close_db_connections()
    query = parse_qs(environ.get("QUERY_STRING", ""))
    token = query.get("token", [None])[0]
    window = identity.verify_window(token, request.session)
    try:
        after = int(query["last"][0])
    except (KeyError, ValueError):
        after = None
    if after is not None and not valid_cursor(after):
        after = UNRECOVERABLE  # no such point in the logs: start from now, and say so
    if window is None:
        window, token = identity.new_window(request.session)
        if after is not None:  # the old window is not ours to resume: say so
            after = UNRECOVERABLE
    request.window = window
    connection = Connection(ws, sock, request, token)
    connection.held = []
    epoch = query.get("epoch", [None])[0]
    return connection, after, epoch
