"""
Opaque identifiers of sessions and windows.

The raw Django session key never leaves the web process: Redis channels,
jobs and traces only ever see ``session_id(key)``, a keyed hash of it.

A window (a browser tab's connection) gets a random id from the server. The
client holds a *window token*, ``"<window id>.<signature>"``, whose signature
binds the window id to the session it was issued to, so a client can neither
choose a window id nor reuse one issued to another session.
"""

from __future__ import annotations

import secrets

from django.utils.crypto import constant_time_compare, salted_hmac

_SESSION_SALT = "floorkit.signals.identity.session"
_WINDOW_SALT = "floorkit.signals.identity.window"


def session_id(session_key: str | None) -> str | None:
    """Return the opaque, stable identifier of a Django session key (or ``None``)."""
    if not session_key:
        return None
    return salted_hmac(_SESSION_SALT, session_key, algorithm="sha256").hexdigest()[:32]


def _window_signature(window: str, session: str | None) -> str:
    return salted_hmac(_WINDOW_SALT, f"{window}|{session or ''}", algorithm="sha256").hexdigest()[
        :24
    ]


def new_window(session: str | None) -> tuple[str, str]:
    """
    Issue a new window for the opaque ``session`` id.

    Return ``(window_id, window_token)``; only the token lets a later request
    (a reconnect, an HTTP call) claim the window again.
    """
    window = secrets.token_urlsafe(12)
    return window, f"{window}.{_window_signature(window, session)}"


def verify_window(token: str | None, session: str | None) -> str | None:
    """
    Return the window id of ``token`` if it was issued to ``session``, else
    ``None``. Never raises on malformed input.
    """
    if not token or not isinstance(token, str) or token.count(".") != 1:
        return None
    window, signature = token.split(".")
    if not window or not constant_time_compare(signature, _window_signature(window, session)):
        return None
    return window
