"""
The websocket server of ``manage.py runwebsocket``: gevent's pywsgi with
floorkit's websocket handler, serving the websocket endpoint and, with
``http=True``, the whole Django site in the same process.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
import weakref

import gevent
from gevent import pywsgi

from floorkit import conf
from floorkit.websocket.auth import origin_allowed
from floorkit.websocket.connection import Connection, open_connection
from floorkit.websocket.protocol import WebSocketHandler
from floorkit.websocket.router import Router
from floorkit.websocket.url import websocket_path

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
    """

    _head_timer: gevent.Timeout | None = None

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


class WebsocketServer(pywsgi.WSGIServer):
    """
    A pywsgi server holding the router and the open connections. ``serve()``
    runs it until SIGTERM/SIGINT, then closes every socket with code 1001.
    """

    def __init__(self, listener, *, http_app=None, **kwargs):
        self.websocket_path = websocket_path(conf.get("WEBSOCKET_URL"))
        self.http_app = http_app
        self.router = Router()
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        kwargs.setdefault("handler_class", FloorkitHandler)
        super().__init__(listener, self.application, **kwargs)
        self.max_message_size = conf.get("MAX_MESSAGE_SIZE")
        self.handshake_timeout = conf.get("HANDSHAKE_TIMEOUT")

    def application(self, environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is not None:
            self.run_websocket(ws, environ)
            return []
        if self.http_app is not None:
            return self.http_app(environ, start_response)
        if environ.get("PATH_INFO") == self.websocket_path:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"expected a websocket upgrade"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"runwebsocket serves only the websocket endpoint (use --http for the site)"]

    def run_websocket(self, ws, environ) -> None:
        sock = ws.stream.handler.socket
        connection, after, epoch = open_connection(ws, sock, environ)
        if connection.request.username is None and not conf.get("ALLOW_ANONYMOUS"):
            ws.close(4003, "login required")
            connection.finish()
            return
        self.connections.add(connection)
        self.router.add(connection, connection.addresses)
        try:
            connection.start(after, epoch)
            connection.serve()
        finally:
            self.router.remove(connection, connection.addresses)
            self.connections.discard(connection)
            connection.finish()

    def heartbeat(self) -> None:
        interval = conf.get("HEARTBEAT")
        while True:
            gevent.sleep(interval)
            deadline = time.monotonic() - 3 * interval
            for connection in list(self.connections):
                if connection.last_seen < deadline:
                    logger.info("dropping silent websocket %s", connection.request.window)
                    connection.abort()
                else:
                    connection.ping()

    def start(self):
        self.router.start()
        if not self.router.ready.wait(timeout=10):
            logger.warning(
                "Redis pub/sub is not ready yet; serving anyway, retrying in the background"
            )
        self._heartbeat = gevent.spawn(self.heartbeat)
        super().start()

    def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop accepting, close every socket with ``code``, stop the router."""
        self.close()
        connections = list(self.connections)
        gevent.joinall([gevent.spawn(c.close, code, reason) for c in connections], timeout=5)
        self._heartbeat.kill()
        self.router.stop()
        self.stop(timeout=1)

    def serve(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        self.start()
        stop = gevent.event.Event()
        gevent.signal_handler(signal.SIGTERM, stop.set)
        gevent.signal_handler(signal.SIGINT, stop.set)
        stop.wait()
        self.shutdown()
