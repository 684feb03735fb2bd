"""
The websocket server of ``manage.py runwebsocket``: gevent's pywsgi with
floorkit's websocket handler, serving the websocket endpoint and, with
``http=True``, the whole Django site in the same process.
"""

from __future__ import annotations

import logging
import signal
import time
import weakref
from collections.abc import Callable
from typing import Any

import gevent
from gevent import pywsgi
from gevent.event import AsyncResult

from floorkit import conf
from floorkit.exceptions import RedisUnavailable
from floorkit.groups import holders, windows
from floorkit.signals.coroutines import greenlet_local_loops
from floorkit.websocket.group_routes import leave_groups, route_groups
from floorkit.websocket.handshake import slim_environ
from floorkit.websocket.handshake_policy import FloorkitHandler
from floorkit.websocket.parking import start_reading
from floorkit.websocket.reclaim import open_tab
from floorkit.websocket.router import Router
from floorkit.websocket.runners import runners
from floorkit.websocket.tab import Tab
from floorkit.websocket.url import websocket_path

logger = logging.getLogger("floorkit.websocket")


def elsewhere(fn: Callable[..., Any], *args: Any) -> Any:
    """
    Return ``fn(*args)`` run in one of the call runners' greenlets
    (``floorkit.websocket.runners``), or raise its exception; the calling
    greenlet waits meanwhile.
    """
    result = AsyncResult()

    def run() -> None:
        try:
            result.set(fn(*args))
        except BaseException as exc:  # handed to the waiting greenlet, raised there
            result.set_exception(exc)

    runners.run(run)
    return result.get()


class WebSocketServer(pywsgi.WSGIServer):
    """
    A pywsgi server holding the router and the open tabs. ``serve()``
    runs it until SIGTERM/SIGINT, then closes every socket with code 1001.
    """

    def __init__(self, listener, *, http_app=None, **kwargs):
        self.websocket_path = websocket_path(conf.get("WEBSOCKET_URL"))
        self.http_app = http_app
        self.router = Router()
        self.tabs: weakref.WeakSet[Tab] = weakref.WeakSet()
        self.gone_later: list[tuple[str, str]] = []  # closed windows Redis could not be told of
        kwargs.setdefault("handler_class", FloorkitHandler)
        self._plain_greenlets = kwargs.get("spawn", "default") == "default"
        super().__init__(listener, self.application, **kwargs)
        self.max_message_size = conf.get("MAX_MESSAGE_SIZE")
        self.handshake_timeout = conf.get("HANDSHAKE_TIMEOUT")

    def do_handle(self, *args) -> None:
        """
        Serve a new connection (``args``: its socket and address) in a
        greenlet of its own. Unless the server was given ``spawn``, that is a
        plain greenlet (``gevent.spawn_raw``) calling ``handle`` directly: no
        ``gevent.Greenlet`` object, links or spawn tree per connection. It
        lives for the HTTP requests and the handshake: an upgraded
        websocket's tab is parked (``run_websocket()``), and the socket is
        then the tab's to close. An exception that escapes ``handle`` is
        printed by the hub, as a ``Greenlet``'s is.
        """
        if not self._plain_greenlets:
            super().do_handle(*args)
            return
        try:
            gevent.spawn_raw(self._handle_connection, *args)
        except BaseException:
            self.do_close(*args)
            raise

    def _handle_connection(self, sock, address) -> None:
        handler = None
        try:
            handler = self.handler_class(sock, address, self)
            handler.handle()
        finally:
            if handler is None or not handler.detached:  # a parked tab owns its socket
                self.do_close(sock, address)

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
        """
        Serve one upgraded websocket: open and start its tab, then park it
        (``floorkit.websocket.parking``) and return, which ends the
        connection's greenlet: an idle tab holds none. With a ``spawn``
        given to the server (a pool, which counts connections by their
        greenlets), the greenlet instead reads the tab's frames until it
        ends.

        Opening the tab (who the peer is, its groups, its replay) runs in a
        call runner's greenlet, which the connection's greenlet waits for:
        the deep calls of opening (Django's session, Redis) then never
        touch this greenlet's frame memory, which stays resident for the
        connection's life when it reads the frames itself (with ``spawn``).
        Once the tab is open, the
        environ keeps only ``floorkit.websocket.handshake.KEPT_ENVIRON``.
        """
        opened = elsewhere(self._open_tab, ws, environ)
        if opened is None:
            return
        slim_environ(environ)  # the tab has what it needs of the request
        tab, after, epoch = opened
        parked = False
        try:
            elsewhere(self._start_tab, tab, after, epoch)
            if self._plain_greenlets:
                ws.handler.detach()
                start_reading(tab, self._end_parked)
                parked = True
            else:
                tab.serve()
        finally:
            if not parked:
                self._forget_tab(tab)

    def _forget_tab(self, tab: Tab) -> None:
        """Unroute an ended tab, let its queued frames go, and take its window out of its groups."""
        self.router.remove(tab, tab.addresses)
        self.tabs.discard(tab)
        tab.finish()
        if not leave_groups(tab):
            self.gone_later.append((tab.request.window, tab.conn))

    def _end_parked(self, tab: Tab) -> None:
        """End a parked tab whose peer went away: forget it, then end its connection."""
        try:
            self._forget_tab(tab)
        finally:
            tab.ws.handler.end_detached()

    def _open_tab(self, ws, environ) -> tuple[Tab, int | None, str | None] | None:
        """Open and route the tab of ``ws``; None when it was refused (and closed)."""
        tab, after, epoch = open_tab(ws, ws.stream.handler.socket, environ)
        if tab.request.username is None and not conf.get("ALLOW_ANONYMOUS"):
            ws.close(4003, "login required")
            tab.finish()
            return None
        self.tabs.add(tab)
        self.router.add(tab, tab.addresses)
        self.router.revocations.watch(tab)
        return tab, after, epoch

    def _start_tab(self, tab: Tab, after: int | None, epoch: str | None) -> None:
        route_groups(self.router, tab)
        tab.start(after, epoch)

    def heartbeat(self) -> None:
        interval = conf.get("HEARTBEAT")
        while True:
            gevent.sleep(interval)
            deadline = time.monotonic() - 3 * interval
            for tab in list(self.tabs):
                if tab.last_seen < deadline:
                    logger.info("dropping silent websocket %s", tab.request.window)
                    tab.abort()
                else:
                    tab.ping()

    def presence_heartbeat(self) -> None:
        """
        Renew this process's presence deadline every ``HEARTBEAT / 2``
        seconds and reap dead holders (``floorkit.groups.holders``); tell
        Redis of windows that closed while it was unreachable, and put this
        process's windows back in their groups if they were reaped meanwhile.
        """
        while True:
            try:
                if holders.beat() and self.tabs:  # reaped while Redis was away
                    for tab in list(self.tabs):
                        windows.connect(
                            tab.request, holders.process_holder(), tab.conn, holders.deadline()
                        )
                while self.gone_later:
                    windows.gone(*self.gone_later[-1])
                    self.gone_later.pop()
            except RedisUnavailable as exc:
                logger.warning("presence heartbeat failed: %s", exc)
            gevent.sleep(conf.get("HEARTBEAT") / 2)

    def start(self):
        greenlet_local_loops()  # each call's asyncio loop (async def handlers, asgiref) is its own
        self.router.start()
        if not self.router.ready.wait(timeout=10):
            logger.warning(
                "Redis pub/sub is not ready yet; serving anyway, retrying in the background"
            )
        self._heartbeat = gevent.spawn(self.heartbeat)
        self._presence = gevent.spawn(self.presence_heartbeat)
        super().start()

    def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop accepting, close every socket with ``code``, stop the router."""
        self.close()
        tabs = list(self.tabs)
        gevent.joinall([gevent.spawn(tab.close, code, reason) for tab in tabs], timeout=5)
        self._heartbeat.kill()
        self._presence.kill()
        try:  # its windows leave their groups now, not when the deadline passes
            holders.release(holders.process_holder())
        except RedisUnavailable as exc:
            logger.warning("presence not released (it expires by itself): %s", exc)
        self.router.stop()
        self.stop(timeout=1)

    def serve(self, on_listening: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT; call ``on_listening`` once accepting."""
        self.start()
        if on_listening is not None:
            on_listening()
        stop = gevent.event.Event()
        gevent.signal_handler(signal.SIGTERM, stop.set)
        gevent.signal_handler(signal.SIGINT, stop.set)
        stop.wait()
        self.shutdown()
