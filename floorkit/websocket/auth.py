"""
Who is on the other end of a websocket.

The Django session cookie of the upgrade request identifies the user,
resolved through Django's own session engine and
``django.contrib.auth.get_user``. (Whether the page may connect at all, its
``Origin``, is checked before the upgrade: ``floorkit.security.origin``.)
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.core.handlers.wsgi import WSGIRequest

from floorkit.security.sessions import SessionGuard, expiry_date
from floorkit.signals.identity import session_id
from floorkit.signals.request import SignalRequest


def identify(environ: dict) -> SignalRequest:
    """
    Return the ``SignalRequest`` (without a window yet) of the user whose
    session cookie came with the upgrade request. Without a session cookie the
    peer is anonymous and no database query is made. An authenticated request
    carries a ``guard`` (``floorkit.security.sessions.SessionGuard``) for its tab.
    """
    request = WSGIRequest(environ)
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return SignalRequest()
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(session_key)
    user = auth.get_user(request)  # loads the session: a forged or expired key becomes None
    signal_request = SignalRequest.for_user(user, session=session_id(request.session.session_key))
    if signal_request.is_authenticated:  # the tab re-verifies it (floorkit.security.sessions)
        signal_request.guard = SessionGuard(
            request.session.session_key, user.pk, user.get_username(), expiry_date(request.session)
        )
    return signal_request
