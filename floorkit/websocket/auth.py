"""
Who is on the other end of a websocket, and may they connect at all.

The Django session cookie identifies the user, resolved through Django's own
session engine and ``django.contrib.auth.get_user``. The ``Origin`` header is
checked before the upgrade, as Django's CSRF middleware checks it for POSTs.
"""

from __future__ import annotations

from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import auth
from django.core.handlers.wsgi import WSGIRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from floorkit.security.sessions import SessionGuard, expiry_date
from floorkit.signals.identity import session_id
from floorkit.signals.request import SignalRequest


def origin_allowed(environ: dict) -> bool:
    """
    Whether the upgrade request's ``Origin`` may open a socket: its host is
    the ``Host`` of the request and allowed by ``ALLOWED_HOSTS`` and its
    scheme is the request's (``https`` behind a proxy that sets
    ``SECURE_PROXY_SSL_HEADER``, else the server's own), or it is in
    ``CSRF_TRUSTED_ORIGINS`` (wildcards as in Django). Browsers always send
    ``Origin`` on websockets; a request without one (a non-browser client,
    which cannot carry a victim's cookies across sites) is allowed.
    """
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            trusted_parsed = urlsplit(trusted)
            if trusted_parsed.scheme == parsed.scheme and is_same_domain(
                parsed.netloc, trusted_parsed.netloc
            ):
                return True
    host = environ.get("HTTP_HOST", "")
    if parsed.netloc.lower() != host.lower() or parsed.scheme != _scheme(environ):
        return False
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _scheme(environ: dict) -> str:
    """The scheme the page must have used: ``https`` when Django deems the request secure."""
    return "https" if WSGIRequest(environ).is_secure() else "http"


def identify(environ: dict) -> SignalRequest:
    """
    Return the ``SignalRequest`` (without a window yet) of the user whose
    session cookie came with the upgrade request. Without a session cookie the
    peer is anonymous and no database query is made. An authenticated request
    carries a ``guard`` (``floorkit.security.sessions.SessionGuard``) for its connection.
    """
    request = WSGIRequest(environ)
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return SignalRequest()
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(session_key)
    user = auth.get_user(request)  # loads the session: a forged or expired key becomes None
    signal_request = SignalRequest.for_user(user, session=session_id(request.session.session_key))
    if (
        signal_request.is_authenticated
    ):  # the connection re-verifies it (floorkit.security.sessions)
        signal_request.guard = SessionGuard(
            request.session.session_key, user.pk, user.get_username(), expiry_date(request.session)
        )
    return signal_request
