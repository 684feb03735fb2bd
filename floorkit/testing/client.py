"""
Browser tabs for tests: websockets to a real ``runwebsocket`` that speak
floorkit's protocol (``docs/protocol.md``), over websocket-client
(``pip install floorkit[test]``).

``WebsocketClient`` is the convenient one: ``call()`` returns a ``Reply`` or
raises ``CallError``, ``receive()`` waits for a signal frame. ``Tab`` is the
raw one that floorkit's own suite uses: ``call()`` returns the answer frame
as it came, ``send()`` sends anything, even what no browser would. Both
share one connection core: the hello handshake, the session cookie, the
``token``/``last`` resumption parameters, frames kept for later while a
wait looks for another one, and ``ReceiveTimeout``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

try:
    import websocket
except ImportError:  # pragma: no cover - a test extra
    websocket = None

if TYPE_CHECKING:  # pragma: no cover
    from floorkit.testing.server import ServerProcess

__all__ = ["CallError", "ReceiveTimeout", "Reply", "Tab", "WebsocketClient", "login"]

Frame = dict[str, Any]


class ReceiveTimeout(
    TimeoutError, *((websocket.WebSocketTimeoutException,) if websocket is not None else ())
):
    """
    Nothing (or nothing expected) arrived in time. A ``TimeoutError``, and
    websocket-client's ``WebSocketTimeoutException`` too.
    """


def login(user: Any, backend: str | None = None) -> str:
    """
    Log ``user`` (a user instance) in: create a Django session for it, as a
    login view would, and return the value of its session cookie
    (``settings.SESSION_COOKIE_NAME``).

    The session is saved in your session store; a ``runwebsocket`` process
    sees it once it is committed (use pytest-django's ``transactional_db``
    or ``TransactionTestCase``). ``backend`` is the authentication backend
    to record (needed only when several are configured).
    """
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user, backend=backend)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _cookie_name() -> str:
    from django.conf import settings

    return settings.SESSION_COOKIE_NAME if settings.configured else "sessionid"


def _encode(data: Any) -> str:
    from django.core.serializers.json import DjangoJSONEncoder

    return data if isinstance(data, str) else json.dumps(data, cls=DjangoJSONEncoder)


class _Socket:
    """
    The connection core of ``Tab`` and ``WebsocketClient``: open the
    websocket (``session`` as the session cookie; ``token`` and ``last``
    resume a window, as the page does after a reconnect; ``origin`` as the
    ``Origin`` header, none by default) and wait for the server's ``hello``,
    else raise ``ConnectionError``. A refused upgrade raises websocket-client's
    ``WebSocketBadStatusException``.

    ``ws`` is the websocket-client connection, ``hello`` the hello frame,
    ``window`` the tab's window id, ``pending`` the frames received but not
    yet asked for, oldest first.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        url: str,
        session: str | None,
        origin: str | None,
        token: str | None,
        last: int | None,
        timeout: float,
    ) -> None:
        if websocket is None:  # pragma: no cover - a test extra
            raise ImportError(
                f"floorkit.testing.{type(self).__name__} needs websocket-client: "
                "pip install 'floorkit[test]'"
            )
        if token:
            url = f"{url}?token={token}" + (f"&last={last}" if last is not None else "")
        headers = [f"Cookie: {_cookie_name()}={session}"] if session else []
        self.timeout = timeout
        self.ws = websocket.create_connection(
            url, header=headers, origin=origin, timeout=timeout, suppress_origin=origin is None
        )
        self.pending: list[Frame] = []
        self.hello: Frame = self.recv(timeout)
        if self.hello.get("type") != "hello":
            self.close()
            raise ConnectionError(f"expected a hello frame, got {self.hello!r}")
        self.window: str = self.hello["window"]
        self.username: str | None = self.hello.get("user")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} window={self.window} user={self.username}>"

    def recv(self, timeout: float | None = None) -> Frame:
        """
        The next frame from the socket, decoded (``pending`` frames are not
        looked at). Raise ``ReceiveTimeout`` after ``timeout`` seconds
        (default: the tab's).
        """
        wait = self.timeout if timeout is None else timeout
        self.ws.settimeout(max(wait, 0.001))
        try:
            return json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            raise ReceiveTimeout(f"nothing received within {wait:g} s") from None

    def send(self, data: Any) -> None:
        """Send ``data``: a string as it is, anything else as JSON."""
        self.ws.send(_encode(data))

    def wait_for(self, predicate: Callable[[Frame], bool], timeout: float | None = None) -> Frame:
        """
        The first frame, ``pending`` ones first, for which ``predicate`` is
        true; the others received meanwhile join ``pending``. Raise
        ``ReceiveTimeout`` when none arrives within ``timeout`` seconds
        (default: the tab's).
        """
        for frame in self.pending:
            if predicate(frame):
                self.pending.remove(frame)
                return frame
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReceiveTimeout(f"nothing expected arrived within {wait:g} s")
            frame = self.recv(remaining)
            if predicate(frame):
                return frame
            self.pending.append(frame)

    def _call(
        self, signal: str, kwargs: Mapping[str, Any], to: Any, timeout: float | None
    ) -> Frame:
        """Send a call frame; return its ``result`` or ``error`` frame."""
        call_id = next(self._ids)
        self.send(
            {"type": "call", "id": call_id, "signal": signal, "kwargs": dict(kwargs), "to": to}
        )
        return self.wait_for(
            lambda f: f.get("type") in ("result", "error") and f.get("id") == call_id, timeout
        )

    def close(self) -> None:
        """Close the websocket (again: nothing)."""
        self.ws.close()


class Tab(_Socket):
    """
    A raw browser tab, as floorkit's own suite drives one: frames are dicts
    as they come. ``Tab(url, session_key, origin, token, last)`` opens it
    (see ``WebsocketClient`` for the friendlier one); ``timeout`` (5 s) is
    the default wait. Has ``recv()``, ``send()``, ``wait_for()`` and
    ``pending`` of the shared core; a context manager.
    """

    def __init__(
        self,
        url: str | ServerProcess,
        session_key: str | None = None,
        origin: str | None = None,
        token: str | None = None,
        last: int | None = None,
        *,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(getattr(url, "url", url), session_key, origin, token, last, timeout)

    def call(self, signal: str, to: Any = None, **kwargs: Any) -> Frame:
        """
        Call ``signal`` (``to``: the targets as a browser writes them) and
        return the ``result`` or ``error`` frame; frames that arrive before it
        are kept in ``pending``.
        """
        return self._call(signal, kwargs, to, None)

    def signals(self, quiet: float = 0.4, until: str | None = None) -> list[Frame]:
        """
        The signal frames received, ``pending`` ones first (other pending
        frames are dropped), until one carries ``kwargs["marker"] == until``
        (not included; ``AssertionError`` if none arrives within 5 s of the
        last frame), or, without ``until``, until the line has been quiet
        for ``quiet`` seconds.
        """
        frames, self.pending = [f for f in self.pending if f["type"] == "signal"], []
        while True:
            try:
                frame = self.recv(5 if until else quiet)
            except ReceiveTimeout:
                if until:
                    raise AssertionError(f"marker {until} never arrived") from None
                return frames
            if frame["type"] == "signal":
                if until and frame["kwargs"].get("marker") == until:
                    return frames
                frames.append(frame)


@dataclass
class Reply:
    """The answer to a browser call: the inline handlers' ``results``, the delayed ones' ``jobs``."""

    results: list[Any]
    jobs: list[str]
    trace: str


class CallError(Exception):
    """
    The server answered a call with an error frame. ``kind`` is what went
    wrong (``"login_required"``, ``"not_allowed"``, ``"invalid_arguments"``,
    ``"unknown_signal"``, ``"handler_failed"``, ...), ``message`` the
    server's explanation, ``error_id`` the id logged with the traceback of a
    failed handler.
    """

    def __init__(self, kind: str, message: str, error_id: str | None, signal: str) -> None:
        self.kind = kind
        self.message = message
        self.error_id = error_id
        self.signal = signal
        super().__init__(f"{signal}: {kind}: {message}")


def _client_target(to: Any) -> Any:
    from floorkit.signals.targets import BROADCAST, SESSION, USER, WINDOW

    if isinstance(to, list | tuple):
        return [_client_target(item) for item in to]
    for constant in (WINDOW, SESSION, USER, BROADCAST):
        if to is constant:
            return constant.name
    if isinstance(to, dict) and len(to) == 1:
        ((key, value),) = to.items()
        if key is USER or key == "USER":
            return {"USER": list(value)}
    if isinstance(to, str):
        return to
    raise TypeError(
        f"a browser can send to WINDOW, SESSION, USER, BROADCAST or {{USER: [names]}}, not {to!r}"
    )


def _is_signal(frame: Frame, signal: str | None) -> bool:
    return frame.get("type") == "signal" and signal in (None, frame.get("signal"))


class WebsocketClient(_Socket):
    """
    One browser tab on a real ``runwebsocket``: a websocket opened with the
    session cookie of a user, speaking floorkit's protocol
    (``docs/protocol.md``). Needs ``websocket-client``
    (``pip install floorkit[test]``).

    ``url`` is the ``ws://`` URL of the endpoint or a ``ServerProcess``.
    ``user`` (a user instance: logged in with ``login()``) or ``session``
    (a session cookie value) says who the tab is; neither: anonymous.
    ``origin`` is sent as the ``Origin`` header when given (none by default,
    as a non-browser client). ``token`` and ``last`` resume a window as a
    reconnecting page does. ``timeout`` is the default wait in seconds.

    Opening waits for the server's ``hello``: ``hello`` is that frame,
    ``window`` the tab's window id, ``username`` its user (``None`` when
    anonymous). A refused upgrade raises websocket-client's
    ``WebSocketBadStatusException``. Waits that time out raise
    ``ReceiveTimeout`` (a ``TimeoutError``). ``recv()``, ``send()``,
    ``wait_for()`` and ``pending`` give the raw frames, as ``Tab`` does.
    Use it as a context manager, or ``close()`` it.
    """

    def __init__(
        self,
        url: str | ServerProcess,
        *,
        user: Any = None,
        session: str | None = None,
        origin: str | None = None,
        token: str | None = None,
        last: int | None = None,
        timeout: float = 5.0,
    ) -> None:
        if user is not None:
            if session is not None:
                raise TypeError("give user or session, not both")
            session = login(user)
        super().__init__(getattr(url, "url", url), session, origin, token, last, timeout)

    def call(self, signal: str, /, **kwargs: Any) -> Reply:
        """
        Call ``signal`` with ``kwargs`` as a browser does, and wait for the
        answer: return a ``Reply``, or raise ``CallError`` for an error frame.
        Frames that arrive meanwhile are kept for ``receive()``.
        """
        return self.call_with(signal, kwargs)

    def call_with(
        self,
        signal: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        to: Any = None,
        timeout: float | None = None,
    ) -> Reply:
        """
        ``call()`` with every option: ``to`` sends the signal to browsers too
        (``WINDOW``, ``SESSION``, ``USER``, ``BROADCAST``, ``{USER: [names]}``,
        a list of them, or their names as a browser writes them); ``timeout``
        (default: the client's) bounds the wait, then ``ReceiveTimeout``.
        """
        target = None if to is None else _client_target(to)
        answer = self._call(signal, kwargs or {}, target, timeout)
        if answer["type"] == "error":
            raise CallError(answer["kind"], answer["message"], answer.get("error_id"), signal)
        return Reply(answer["results"], answer["jobs"], answer["trace"])

    def receive(self, signal: str | None = None, *, timeout: float | None = None) -> Frame:
        """
        Return the next signal frame (of ``signal`` when given; the others
        stay for later), a dict such as ``{"type": "signal", "seq": 3, "id":
        ..., "signal": "shop.cart.updated", "kwargs": {...}, "trace": ...}``.
        Raise ``ReceiveTimeout`` (a ``TimeoutError``) when none arrives
        within ``timeout`` seconds (default: the client's).
        """
        return self.wait_for(lambda f: _is_signal(f, signal), timeout)

    def signals(self, signal: str | None = None, *, quiet: float = 0.3) -> list[Frame]:
        """
        Every signal frame received until nothing has arrived for ``quiet``
        seconds, in order (only those of ``signal`` when given; the others
        stay for later).
        """
        frames = [f for f in self.pending if _is_signal(f, signal)]
        self.pending = [f for f in self.pending if not _is_signal(f, signal)]
        while True:
            try:
                frame = self.recv(quiet)
            except ReceiveTimeout:
                return frames
            (frames if _is_signal(frame, signal) else self.pending).append(frame)
