"""
``SignalRequest``: who called a signal, from which session and window, under
which trace. It travels from hop to hop: HTTP request, websocket frame, RQ
job, and the calls that handlers make in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from floorkit.signals.identity import session_id, verify_window
from floorkit.tracing.recorder import new_trace_id

WINDOW_HEADER = "HTTP_X_FLOORKIT_WINDOW"


@dataclass
class SignalRequest:
    """
    The caller of a signal.

    ``user_id``/``username`` are ``None`` for anonymous callers. ``session`` is
    the opaque session id (``floorkit.signals.identity.session_id``), never the raw
    session key. ``window`` is the server-issued id of the calling browser tab,
    or ``None``. ``trace_id`` is shared by every hop of one call chain.
    ``wait`` is the id of the browser call that awaits this call's delayed
    handlers (``floorkit.call(..., {wait: true})``, ``floorkit.jobs.waiting``),
    else ``None``; it travels to the worker with the rest, and a handler's
    own ``call()`` never carries it further.

    ``user`` is loaded lazily from the database on first access, so that
    permissions are checked against the current user, not a stale snapshot.
    """

    user_id: Any = None
    username: str | None = None
    session: str | None = None
    window: str | None = None
    trace_id: str = field(default_factory=new_trace_id)
    parent: str | None = None
    wait: int | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def user(self):
        """The user model instance (``AnonymousUser`` when anonymous or deleted)."""
        try:
            return self._user
        except AttributeError:
            pass
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import AnonymousUser

        user = None
        if self.user_id is not None:
            user = get_user_model()._default_manager.filter(pk=self.user_id).first()
        self._user = user or AnonymousUser()
        return self._user

    @classmethod
    def from_request(cls, request) -> SignalRequest:
        """
        Build the ``SignalRequest`` of a Django ``HttpRequest``.

        The user comes from ``request.user`` (AuthenticationMiddleware), the
        session from ``request.session``, the window from the
        ``X-Floorkit-Window`` header, honoured only when its token was issued
        to this session.
        """
        existing = getattr(request, "_floorkit_signal_request", None)
        if existing is not None:
            return existing
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        sid = session_id(session.session_key) if session is not None else None
        window = verify_window(request.META.get(WINDOW_HEADER), sid)
        if user is not None and user.is_authenticated:
            signal_request = cls(user.pk, user.get_username(), sid, window)
            signal_request._user = user
        else:
            signal_request = cls(None, None, sid, window)
        request._floorkit_signal_request = signal_request
        return signal_request

    @classmethod
    def for_user(cls, user=None, **fields: Any) -> SignalRequest:
        """Build a request acting as ``user`` (a user instance, or ``None`` for anonymous)."""
        if user is not None and user.is_authenticated:
            signal_request = cls(user.pk, user.get_username(), **fields)
            signal_request._user = user
            return signal_request
        return cls(**fields)

    @classmethod
    def coerce(cls, request) -> SignalRequest:
        """Accept a ``SignalRequest``, an ``HttpRequest`` or ``None`` (anonymous)."""
        if isinstance(request, SignalRequest):
            return request
        if request is None:
            return cls()
        if hasattr(request, "META"):
            return cls.from_request(request)
        raise TypeError(
            f"expected a SignalRequest, an HttpRequest or None, got {type(request).__name__}"
        )

    def new_call(self, wait: int | None = None) -> SignalRequest:
        """
        The same caller, under a new trace: the first hop of a new call,
        awaited by the browser call ``wait`` (``None``: by no one).
        """
        return self._same_caller(new_trace_id(), None, wait)

    def child(self, hop: str) -> SignalRequest:
        """The same caller and trace, one hop further: ``hop`` becomes the parent."""
        return self._same_caller(self.trace_id, hop, self.wait)

    def waiting(self, call_id: int | None) -> SignalRequest:
        """The same hop, awaited by the browser call ``call_id`` (``None``: by no one)."""
        return self._same_caller(self.trace_id, self.parent, call_id)

    def progress(self, done: float, total: float | None = None, text: str = "") -> int | None:
        """
        Report the progress of this call's work to the browser call that
        awaits it: a numbered ``floorkit.job.progress`` message to the calling
        window, through the outbox, which the page gets as its call's
        ``onProgress({done, total, text})`` and a ``progress`` event. Return
        the message's sequence number, or ``None`` (nothing sent) when no
        browser call awaits this one or it has no window.

        Raise ``TypeError`` for a ``done``/``total`` that is not a number or a
        ``text`` that is not a string, ``ValueError`` for a non-finite or
        negative number; ``RedisUnavailable`` when Redis cannot be reached.
        """
        from floorkit.jobs.waiting import report_progress

        return report_progress(self, done, total, text)

    def _same_caller(self, trace_id: str, parent: str | None, wait: int | None) -> SignalRequest:
        copy = SignalRequest(
            self.user_id, self.username, self.session, self.window, trace_id, parent, wait
        )
        if "_user" in self.__dict__:  # the user already loaded for this caller
            copy._user = self._user
        return copy

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable dict; ``from_dict`` rebuilds the request."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "session": self.session,
            "window": self.window,
            "trace_id": self.trace_id,
            "parent": self.parent,
            "wait": self.wait,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalRequest:
        """Rebuild a request from ``to_dict()`` output; unknown keys are ignored."""
        wait = data.get("wait")
        return cls(
            user_id=data.get("user_id"),
            username=data.get("username"),
            session=data.get("session"),
            window=data.get("window"),
            trace_id=data.get("trace_id") or new_trace_id(),
            parent=data.get("parent"),
            wait=wait if type(wait) is int else None,
        )

    def __repr__(self) -> str:
        who = self.username or "anonymous"
        return f"<SignalRequest {who} session={self.session} window={self.window} trace={self.trace_id}>"
