"""
``runwebsocket``'s policy for the handshake: ``FloorkitHandler``, the
handler of ``floorkit.websocket.handshake`` that upgrades only the websocket
path, only from an allowed ``Origin`` (HTTP 403), only when the request head
arrives within ``HANDSHAKE_TIMEOUT`` (HTTP 408), and does not log upgrades.
"""

from __future__ import annotations

import logging
import socket

import gevent
from gevent import pywsgi

from floorkit.websocket.handshake import WebSocketHandler

__all__ = ["FloorkitHandler", "HandshakeTimeout"]

logger = logging.getLogger("floorkit.websocket")


_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-length: 0\r\n\r\n"


class HandshakeTimeout(socket.timeout):
    """A request line and headers that took longer than ``HANDSHAKE_TIMEOUT``."""


class FloorkitHandler(WebSocketHandler):
    """
    Upgrades only requests for the websocket path, and only from an allowed
    ``Origin`` (HTTP 403 otherwise, before the upgrade).

    A request's line and headers must arrive within ``HANDSHAKE_TIMEOUT``
    seconds of the first byte being awaited (the timer starts when the handler
    waits for a request, so an idle keep-alive connection is closed after it
    too); a slower peer is disconnected, so half-open requests cannot hold file
    descriptors. Once the headers are in, the timer stops: an upgraded
    websocket may stay idle as long as its heartbeats answer.

    The server gives the path (``websocket_path``) and the timeout in seconds
    (``handshake_timeout``, 0 or None for none) as attributes.
    """

    _head_timer: gevent.Timeout | None = None
    track_clients = False

    def read_requestline(self):
        self._stop_head_timer()
        timeout = self.server.handshake_timeout
        if timeout:
            self._head_timer = gevent.Timeout.start_new(timeout, HandshakeTimeout("handshake"))
        try:
            line = super().read_requestline()
        except BaseException:
            self._stop_head_timer()
            raise
        if not line:
            self._stop_head_timer()
        return line

    def read_request(self, raw_requestline):
        try:
            return super().read_request(raw_requestline)
        finally:
            self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.close()
            self._head_timer = None

    def handle(self):
        try:
            super().handle()
        finally:
            self._stop_head_timer()

    def _handle_client_error(self, ex):
        if isinstance(ex, HandshakeTimeout):  # expected: answered 408, no traceback
            logger.debug("dropped %s: headers not received in time", self.client_address)
            return ("408", _REQUEST_TIMEOUT)
        return super()._handle_client_error(ex)

    def upgrade_websocket(self):
        if self.environ.get("PATH_INFO") != self.server.websocket_path:
            return None
        from floorkit.security.origin import origin_allowed  # Django: not for WebSocketHandler

        if not origin_allowed(self.environ):
            logger.warning(
                "refused websocket from origin %r (Host %r): add it to "
                "settings.CSRF_TRUSTED_ORIGINS to allow it",
                self.environ.get("HTTP_ORIGIN"),
                self.environ.get("HTTP_HOST"),
            )
            self.start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Forbidden: origin not allowed"]
        return super().upgrade_websocket()

    def log_request(self):  # one line per websocket would flood the log
        environ = getattr(self, "environ", None) or {}  # none for a request refused unparsed
        if environ.get("PATH_INFO") != self.server.websocket_path:
            # pywsgi's line to the server's log (runserver's format); the
            # websocket library's own goes to an unconfigured logger.
            pywsgi.WSGIHandler.log_request(self)
