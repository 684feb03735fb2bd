"""
The websocket handshake: the HTTP upgrade of gevent's pywsgi to a websocket.

``WebSocketHandler`` is gevent-websocket 0.10.1's handler, subclassed:

* Only ``Sec-WebSocket-Version: 13`` (RFC 6455) is upgraded, and only with a
  ``Sec-WebSocket-Key`` that is the base64 of 16 bytes; any other request is
  refused with HTTP 400, its body in bytes.
* It creates floorkit's ``WebSocket`` (``floorkit.websocket.framing``) with
  the server's ``max_message_size``, reading the socket through a
  ``SocketReader`` once upgraded; the HTTP reader's buffer is 1 KiB.
* After the application returns, it lingers so that the peer reads the close
  frame before the TCP connection ends; unless the application detached the
  connection (``detach()``), which then outlives the handler until
  ``end_detached()``.

``runwebsocket``'s policy on top of it (the websocket path, ``Origin``, the
request head's timeout) is ``floorkit.websocket.handshake_policy``.

Usage::

    from gevent import pywsgi
    from floorkit.websocket.handshake import WebSocketHandler, make_handler

    pywsgi.WSGIServer(address, app, handler_class=WebSocketHandler)  # 1 MiB
    pywsgi.WSGIServer(address, app, handler_class=make_handler(max_message_size=65536))

or give the server a ``max_message_size`` attribute (see ``WebSocketHandler``).
The application finds the ``WebSocket`` in ``environ["wsgi.websocket"]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import socket
import time
from collections.abc import Iterable
from typing import Any

from geventwebsocket import handler as _handler
from geventwebsocket import websocket as _websocket

from floorkit.websocket.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    SocketReader,
    WebSocket,
    check_max_message_size,
)

__all__ = [
    "KEPT_ENVIRON",
    "WebSocketHandler",
    "is_valid_websocket_key",
    "make_handler",
]

#: Read buffer of each client socket's HTTP reader. pywsgi's default is 8 KiB,
#: allocated per connection for its whole life; an HTTP request's headers read
#: as well through 1 KiB (a larger body is read straight into its destination),
#: and a websocket reads through a ``SocketReader`` once upgraded.
RFILE_BUFFER = 1024


#: The keys an upgraded websocket's environ keeps after ``slim_environ()``:
#: what the handler's log and error reports and the ``WebSocket``'s
#: ``origin``, ``path``, ``protocol`` and ``version`` read.
KEPT_ENVIRON = (
    "REQUEST_METHOD",
    "PATH_INFO",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "HTTP_HOST",
    "HTTP_ORIGIN",
    "HTTP_SEC_WEBSOCKET_PROTOCOL",
    "HTTP_SEC_WEBSOCKET_VERSION",
    "wsgi.websocket",
    "wsgi.websocket_version",
)


def slim_environ(environ: dict) -> None:
    """
    Drop, in place, every key of an upgraded websocket's ``environ`` but
    ``KEPT_ENVIRON``: for an application that has read what it needs of
    the request (its cookies, query string, headers) and keeps the
    connection open, so that the rest is not held for the connection's life.
    """
    kept = {key: environ[key] for key in KEPT_ENVIRON if key in environ}
    environ.clear()
    environ.update(kept)


def is_valid_websocket_key(key: str) -> bool:
    """
    Return whether ``key`` is a valid ``Sec-WebSocket-Key``: the base64 of
    exactly 16 bytes (RFC 6455 4.2.1), padding included, nothing else.
    """
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return False


class WebSocketHandler(_handler.WebSocketHandler):
    """
    gevent-websocket's handler creating floorkit's ``WebSocket``, refusing an
    invalid ``Sec-WebSocket-Key`` with HTTP 400, and ending the TCP
    connection gracefully.

    Settings, class attributes (override them in a subclass, or use
    ``make_handler()``):

        max_message_size
            Largest message accepted, in bytes, or None for no limit (default
            ``DEFAULT_MAX_MESSAGE_SIZE``, 1 MiB). If the *server* object has a
            ``max_message_size`` attribute, that value is used instead, so a
            server sets the limit per instance without a handler subclass.
            Read at each upgrade; ``TypeError``/``ValueError`` (HTTP 500)
            unless a positive int or None.

        linger_timeout
            After the application returns, the handler shuts down the sending
            side of the socket (the peer reads EOF after the close frame) and
            discards what the peer still sends until it closes, for at most
            this many seconds (default 2.0; 0 disables). Otherwise a peer cut
            off in the middle of an oversize message gets a TCP reset, which
            can destroy the 1009 close frame before the peer reads it.

        websocket_class
            The ``WebSocket`` subclass to create (default ``WebSocket``),
            called as ``websocket_class(environ, stream, handler,
            max_message_size=...)``.

        track_clients
            Whether each open websocket is listed in the server's ``clients``
            dict (address -> ``Client``), as the package does (default True).

    ``detached`` is True once the application called ``detach()``.
    """

    SUPPORTED_VERSIONS = ("13",)  # RFC 6455; 7 and 8 were drafts
    websocket_class: type[WebSocket] = WebSocket
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    linger_timeout: float = 2.0
    track_clients: bool = True
    detached: bool = False

    def get_max_message_size(self) -> int | None:
        """
        Return the message size limit for this connection: the server's
        ``max_message_size`` attribute if it has one, else the handler's.
        """
        return check_max_message_size(
            getattr(self.server, "max_message_size", self.max_message_size)
        )

    def upgrade_websocket(self) -> list[bytes] | None:
        """
        The package's ``upgrade_websocket()``, with its ``str`` error bodies
        encoded to bytes, which gevent can write.
        """
        result = super().upgrade_websocket()
        if result:
            return [c.encode("utf-8") if isinstance(c, str) else c for c in result]
        return result

    def upgrade_connection(self) -> list[bytes] | None:
        """
        Check the handshake headers and switch protocols: start a 101
        response, set ``self.websocket`` and ``environ["wsgi.websocket"]``
        and return None.

        Start a 400 response and return its body if the
        ``Sec-WebSocket-Version`` is not supported or if the
        ``Sec-WebSocket-Key`` is missing or not the base64 of 16 bytes.

        A subprotocol is accepted, as in the package, if the application has
        an ``app_protocol(path)`` method; its answer must be one of the
        comma-separated ``Sec-WebSocket-Protocol`` tokens.
        """
        version = self.environ.get("HTTP_SEC_WEBSOCKET_VERSION")
        if version not in self.SUPPORTED_VERSIONS:
            return self._refuse_upgrade(
                f"Unsupported WebSocket version: {version}",
                [("Sec-WebSocket-Version", ", ".join(self.SUPPORTED_VERSIONS))],
            )
        key = self.environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
        if not key:
            return self._refuse_upgrade("Sec-WebSocket-Key header is missing/empty")
        if not is_valid_websocket_key(key):
            return self._refuse_upgrade("Invalid Sec-WebSocket-Key: base64 of 16 bytes expected")

        protocol = None
        if hasattr(self.application, "app_protocol"):
            allowed = self.application.app_protocol(self.environ["PATH_INFO"])
            requested = self.environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
            if allowed and allowed in (token.strip() for token in requested.split(",")):
                protocol = allowed

        self.websocket = self.websocket_class(
            self.environ,
            _websocket.Stream(self),
            self,
            max_message_size=self.get_max_message_size(),
        )
        self.environ.update({"wsgi.websocket_version": version, "wsgi.websocket": self.websocket})
        digest = hashlib.sha1((key + self.GUID).encode("ascii")).digest()
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", base64.b64encode(digest).decode("ascii")),
        ]
        if protocol:
            headers.append(("Sec-WebSocket-Protocol", protocol))
        self.logger.debug("WebSocket request accepted, switching protocols")
        self.start_response("101 Switching Protocols", headers)
        return None

    def _refuse_upgrade(self, msg: str, headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
        self.logger.warning(msg)
        self.start_response(
            "400 Bad Request", [*headers, ("Content-Type", "text/plain; charset=utf-8")]
        )
        return [msg.encode("utf-8")]

    def __init__(self, sock: Any, address: Any, server: Any, rfile: Any = None) -> None:
        if rfile is None:  # see RFILE_BUFFER
            rfile = sock.makefile("rb", RFILE_BUFFER)
        super().__init__(sock, address, server, rfile)

    def run_websocket(self) -> None:
        """
        Run the application on the websocket, then end the connection with
        ``linger()``, unless the application detached it. The websocket
        reads its socket through a ``SocketReader`` (no buffer held while
        idle); pywsgi's parsed request headers (copied into ``environ``
        already) and response headers (sent) are let go, and its HTTP
        reader, unless a request body is still to be discarded, is closed:
        pywsgi reads no further request from a closed reader.
        """
        if getattr(self, "prevent_wsgi_call", False):
            return super().run_websocket()
        self.headers = None
        self.response_headers = None  # sent already
        self.websocket.raw_read = SocketReader(self.socket, self._read_ahead()).read
        body = self.wsgi_input
        if not body.chunked_input and body.position >= (body.content_length or 0):
            self.rfile.close()  # nothing left for it to read: its buffer is freed
        try:
            if self.track_clients:
                super().run_websocket()
            else:
                self._run_untracked()
        finally:
            if not self.detached:
                self.linger()
        return None

    def _run_untracked(self) -> None:
        """The package's ``run_websocket()`` without the server's ``clients`` entry."""
        try:
            list(self.application(self.environ, _ignore_start_response))
        finally:
            if not self.detached:
                self._close_websocket()

    def _close_websocket(self) -> None:
        if not self.websocket.closed:
            self.websocket.close()
        if self.environ is not None:
            self.environ.update({"wsgi.websocket": None})
        self.websocket = None

    def detach(self) -> Any:
        """
        Keep the connection open after the application returns, and return
        its socket. Called by the application, before it returns, with
        ``track_clients`` False: the handler then neither closes the
        websocket nor lingers, ``handle()`` returns without closing the
        socket, and the caller owns it until it calls ``end_detached()``.
        The server must not close the socket when ``handle()`` returns
        (``floorkit.websocket.server.WebSocketServer`` checks ``detached``).
        Raise ``RuntimeError`` for a handler that lists its clients.
        """
        if self.track_clients:
            raise RuntimeError("a handler that lists its clients cannot detach its connection")
        self.detached = True
        sock, self.socket = self.socket, None  # handle() stops, leaving it open
        self._detached_socket = sock
        return sock

    def end_detached(self) -> None:
        """
        End a detached connection as ``run_websocket()`` ends one: close the
        websocket if it is still open, ``linger()``, then close the socket.
        Ending it again does nothing.
        """
        sock = self.__dict__.pop("_detached_socket", None)
        if sock is None:
            return
        if self.websocket is not None:
            self._close_websocket()
        try:
            self.linger(sock)
        finally:
            sock.close()

    def _read_ahead(self) -> bytes:
        """What the HTTP reader holds past the handshake (frames sent at once), without waiting."""
        sock = self.socket
        timeout = sock.gettimeout()
        sock.settimeout(0)
        try:
            return self.rfile.read1(RFILE_BUFFER) or b""
        except OSError:  # nothing there (a non-blocking read), or a dead socket
            return b""
        finally:
            sock.settimeout(timeout)

    def linger(self, sock: Any = None) -> None:
        """
        Shut down the sending side of the socket (``sock``, by default the
        handler's), then discard incoming data until the peer closes or
        ``linger_timeout`` seconds pass. Socket errors are ignored.
        """
        if sock is None:
            sock = getattr(self, "socket", None)
        timeout = self.linger_timeout
        if sock is None or not timeout or timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        try:
            sock.shutdown(socket.SHUT_WR)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                if not sock.recv(65536):
                    break
        except OSError:
            pass


def _ignore_start_response(status: str, headers: Any, exc_info: Any = None) -> list:
    return []  # an upgraded websocket's application answers nothing over HTTP


_UNSET: Any = object()


def make_handler(
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    *,
    linger_timeout: float = _UNSET,
    base: type[WebSocketHandler] = WebSocketHandler,
) -> type[WebSocketHandler]:
    """
    Return a subclass of ``base`` with the given settings, for
    ``WSGIServer(..., handler_class=make_handler(max_message_size=...))``.

    Arguments:

        max_message_size
            Largest message accepted, in bytes, or None for no limit. A
            server's own ``max_message_size`` attribute still takes precedence
            (see ``WebSocketHandler``).

        linger_timeout
            Seconds to wait for the peer to close after the application
            returns (``base``'s value if not given).

        base
            The handler class to subclass (default ``WebSocketHandler``).

    Raise ``TypeError``/``ValueError`` for an invalid ``max_message_size``.
    """
    attrs: dict[str, Any] = {"max_message_size": check_max_message_size(max_message_size)}
    if linger_timeout is not _UNSET:
        attrs["linger_timeout"] = float(linger_timeout)
    return type(base.__name__, (base,), attrs)
