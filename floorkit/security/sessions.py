"""
Ending access when a session ends: logout, a deleted or expired session, a
password change (Django's session auth hash).

A live connection keeps acting as the user it was opened by only while that
user's session is still valid. In the process that ends a session (the
``user_logged_out`` signal, a deleted ``Session`` row) or changes a user (a
saved user, whose session auth hash may have changed), an *end notice* is
published on the Redis channel ``<KEY_PREFIX>:sessions``:

* ``{"session": SID}``: that session is over; every socket of it is closed;
* ``{"user": NAME}``: that user changed; each of their sockets re-verifies its
  session and is closed when it no longer validates.

Every ``runwebsocket`` process's router receives the notices and closes the
sockets concerned with close code ``4001`` ("session ended"); they are taken
off their routes first, so they get no further message. As a backstop for a
session that ends without a notice (a cache session backend, expiry), a
socket's session is re-verified at most every ``SESSION_RECHECK`` seconds when
it calls, and when the session's expiry date passes.

Only opaque session ids (``floorkit.signals.identity.session_id``) and usernames go
through Redis; the raw session key stays in the memory of the process.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.utils.crypto import constant_time_compare

from floorkit import conf
from floorkit.delivery.redis_client import get_redis, key
from floorkit.signals.identity import session_id

logger = logging.getLogger("floorkit.security.sessions")

SESSION_ENDED = 4001  # close code of a socket whose session is over
RECHECK_DELAY = 0.3  # seconds before re-verifying after a user change: the changing
# request saves its updated session auth hash after the user itself


def channel() -> str:
    """The Redis channel of end notices."""
    return key("sessions")


def announce(notice: dict[str, str]) -> None:
    """
    Publish an end notice once the current transaction commits (at once
    outside one), so that the sockets re-verify against committed data; a
    Redis failure is logged, never raised to the caller.
    """
    from django.db import transaction

    transaction.on_commit(lambda: _publish(notice))


def _publish(notice: dict[str, str]) -> None:
    try:
        get_redis().publish(channel(), json.dumps(notice))
    except Exception as exc:  # a logout must not fail because Redis is down
        logger.warning("could not announce %s: %s", notice, exc)


def session_valid(session_key: str, user_id: Any) -> datetime | None:
    """
    Whether ``session_key`` still logs in ``user_id``: the session exists and
    is unexpired, names that user, and its auth hash matches the user's
    current one (a password change invalidates it). Return the session's
    expiry date when valid, else ``None``. Never modifies the session (unlike
    ``django.contrib.auth.get_user``, which flushes a stale one).
    """
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore(session_key)
    try:
        if not store.exists(session_key):
            return None
        data = store.load()
    except Exception:  # an unreadable session is no session
        return None
    backend_path = data.get(auth.BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        pk = auth.get_user_model()._meta.pk.to_python(data.get(auth.SESSION_KEY))
    except Exception:
        return None
    if pk is None or str(pk) != str(user_id):
        return None
    user = auth.load_backend(backend_path).get_user(pk)
    if user is None:
        return None
    if hasattr(user, "get_session_auth_hash") and not constant_time_compare(
        data.get(auth.HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    ):
        return None
    return expiry_date(store)


def expiry_date(store) -> datetime:
    """
    When the loaded session ``store`` expires: the stored date of a database
    session (``get_expiry_date()`` would count from now), else the store's own.
    """
    if hasattr(store, "get_model_class") and store.session_key:
        row = store.get_model_class()._default_manager.filter(session_key=store.session_key)
        stored = row.values_list("expire_date", flat=True).first()
        if stored is not None:
            return stored
    return store.get_expiry_date()


class SessionGuard:
    """
    The session of one authenticated connection, re-verified on demand.

    ``valid()`` answers from the last verification when it is younger than
    ``SESSION_RECHECK`` seconds, else verifies again (a database or cache
    read); once invalid, it stays invalid.
    """

    __slots__ = ("key", "sid", "user_id", "username", "checked", "expires", "ended", "holding")

    def __init__(self, session_key: str, user_id: Any, username: str, expires: datetime | None):
        self.key = session_key
        self.sid = session_id(session_key)
        self.user_id = user_id
        self.username = username
        self.checked = time.monotonic()
        self.expires = expires
        self.ended = False
        self.holding = False  # live messages are held while a user change is verified

    def seconds_left(self) -> float | None:
        """Seconds until the session's expiry date as last verified (``None``: unknown)."""
        if self.expires is None:
            return None
        from django.utils import timezone

        return max(0.0, (self.expires - timezone.now()).total_seconds())

    def verify(self) -> bool:
        """Verify the session now; return whether it is still valid."""
        if self.ended:
            return False
        from floorkit.websocket.db import close_db_connections

        try:
            self.expires = session_valid(self.key, self.user_id)
        finally:
            close_db_connections()
        self.checked = time.monotonic()
        self.ended = self.expires is None
        return not self.ended

    def valid(self) -> bool:
        """Whether the session still holds, verified at most ``SESSION_RECHECK`` s ago."""
        if self.ended:
            return False
        if time.monotonic() - self.checked < conf.get("SESSION_RECHECK"):
            left = self.seconds_left()
            if left is None or left > 0:
                return True
        return self.verify()


def _on_logged_out(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    sid = session_id(getattr(session, "session_key", None))
    if sid is not None:
        announce({"session": sid})


def _on_session_deleted(sender, instance, **kwargs) -> None:
    announce({"session": session_id(instance.session_key)})


def _on_user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if kwargs.get("created") or (update_fields is not None and "password" not in update_fields):
        return
    announce({"user": instance.get_username()})


def connect_signals() -> None:
    """Connect the Django signals that end sessions (called by the app's ``ready()``)."""
    from django.contrib.auth import signals as auth_signals
    from django.db.models.signals import post_delete, post_save

    auth_signals.user_logged_out.connect(
        _on_logged_out, dispatch_uid="floorkit.security.sessions.logout"
    )
    post_save.connect(
        _on_user_saved,
        sender=settings.AUTH_USER_MODEL,
        dispatch_uid="floorkit.security.sessions.user",
    )
    if "django.contrib.sessions" in settings.INSTALLED_APPS:
        post_delete.connect(
            _on_session_deleted,
            sender="sessions.Session",
            dispatch_uid="floorkit.security.sessions.deleted",
        )


def session_holds(connection, call_id: Any) -> bool:
    """
    Whether the session of ``connection`` (which has a ``guard``) still holds
    for a call. When it ended, answer the call with a ``login_required`` error,
    close the socket with 4001 and return ``False``: nothing runs.
    """
    if connection.guard.valid():
        return True
    import gevent

    connection.error(call_id, "login_required", "your session has ended: log in again")
    gevent.spawn(connection.close, SESSION_ENDED, "session ended")
    return False
