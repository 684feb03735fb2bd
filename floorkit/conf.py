"""
floorkit's settings: one ``FLOORKIT`` dict in the Django settings, merged over
documented defaults.

Every key is optional. Values are read at first use and cached until the
setting changes (``override_settings(FLOORKIT={...})`` in tests takes effect
at once).

=========================  ==========================================================
Key                        Meaning (default)
=========================  ==========================================================
``REDIS_URL``              Redis used for pub/sub, message logs and traces. Default:
                           ``$FLOORKIT_REDIS_URL``, else ``redis://127.0.0.1:6379/0``.
``REDIS_MAX_CONNECTIONS``  Redis connections per process at most (long polls aside);
                           beyond, an operation waits for a free one (``50``; a
                           burst of reconnecting tabs queues instead of failing).
``REDIS_POOL_TIMEOUT``     Seconds an operation waits for a free connection before
                           ``RedisUnavailable`` (``10``).
``REDIS_TIMEOUT``          Seconds a Redis command may take before ``RedisUnavailable``
                           (``5``): a browser call fails with ``redis_unavailable``
                           instead of hanging on an unresponsive Redis.
``REDIS_CONNECT_TIMEOUT``  Seconds to connect to Redis before ``RedisUnavailable`` (``2``).
``KEY_PREFIX``             Prefix of every Redis key and channel floorkit uses
                           (``"floorkit"``).
``SIGNAL_MODULES``         Extra modules imported at start-up, besides each installed
                           app's ``signals`` module or package (``[]``).
``DEFAULT_QUEUE``          RQ queue of delayed handlers without ``queue=`` (``"default"``).
``JOB_TIMEOUT``            RQ job timeout in seconds for delayed handlers (``600``).
``RETRY``                  Default retries of a failing delayed handler (``0``).
``TASK_BACKEND``           Alias of ``TASKS`` that delayed handlers and ``AsyncSignal``
                           jobs go through (``None``: floorkit's RQ path; an alias of
                           ``floorkit.tasks.RQBackend`` is the same; Django's
                           ``ImmediateBackend``/``DummyBackend``: through them).
``WORKER_LEASE``           Seconds a running job stays claimed by its worker without
                           renewal; a job whose worker died is retried or failed
                           within about three leases (``20``; see floorkit.jobs.lease).
``WEBSOCKET_URL``          Path of the websocket endpoint (``"/ws/floorkit/"``), or an
                           absolute ``ws://host:port/path`` URL when it runs on
                           another host or port than the site.
``MAX_MESSAGE_SIZE``       Largest websocket message accepted, in bytes (``1048576``).
``HANDSHAKE_TIMEOUT``      Seconds a connection may take to send its request line and
                           headers (websocket handshake or HTTP request) before it is
                           dropped (``10``; ``0`` disables).
``RATE_LIMIT``             Calls (and JSON pings) per second allowed per websocket,
                           and HTTP calls per second per session across processes;
                           burst twice that (``50``; ``0`` disables).
``SESSION_RATE_LIMIT``     Calls per second per session over all its websockets in one
                           ``runwebsocket`` process, burst twice that (``100``; ``0``
                           disables).
``HEARTBEAT``              Seconds between heartbeats; a silent peer is dropped after
                           three missed beats (``20``).
``ASYNC_RUN_MODE``         How ``AsyncSignal.send()`` runs receivers: ``"async"`` (an
                           RQ worker), ``"sync"`` (here, as ``send_now()``) or
                           ``"eager"`` (JSON job run here at once). Default
                           ``"async"``; ``$FLOORKIT_ASYNC_RUN_MODE``, when set,
                           overrides the setting.
``ASYNC_FALLBACK_SYNC``    When Redis is unreachable, run an ``AsyncSignal``'s
                           receivers in-process with a logged warning instead of
                           raising ``RedisUnavailable`` (``False``).
``ALLOW_ANONYMOUS``        Whether anonymous visitors may open a window (websocket or
                           HTTP polling) to receive messages (``True``).
``SESSION_RECHECK``        Seconds a socket trusts its last check of its session when it
                           calls; then the session is read again (``5``). Logouts,
                           deleted sessions and password changes end access at once.
``TRACE``                  Record trace events of every hop (``True``); see
                           ``manage.py tracesignal``.
``TRACE_MAXLEN``           Trace batches kept in Redis, approximately; a batch holds
                           a process's events of 100 ms (``20000``).
``MESSAGE_LOG``            Log every message per address so that reconnecting tabs and
                           HTTP polling miss nothing (``True``).
``LOG_MAXLEN``             Messages kept per address log, approximately (``1000``).
``LOG_RETENTION``          Seconds an address log lives after its last message; a tab
                           away for longer is told it lost messages (``300``).
``POLL_INTERVAL``          Milliseconds between HTTP polls of a client without
                           websocket; ``0`` disables the fallback (``1000``; values
                           under 500 are raised to 500).
``LONG_POLL``              Seconds a poll is held open waiting for a message when the
                           server is gevent's (``runwebsocket --http``) (``20``).
=========================  ==========================================================
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    "REDIS_URL": None,
    "REDIS_MAX_CONNECTIONS": 50,
    "REDIS_POOL_TIMEOUT": 10,
    "REDIS_TIMEOUT": 5,
    "REDIS_CONNECT_TIMEOUT": 2,
    "KEY_PREFIX": "floorkit",
    "SIGNAL_MODULES": [],
    "DEFAULT_QUEUE": "default",
    "JOB_TIMEOUT": 600,
    "RETRY": 0,
    "TASK_BACKEND": None,
    "WORKER_LEASE": 20,
    "WEBSOCKET_URL": "/ws/floorkit/",
    "MAX_MESSAGE_SIZE": 1024 * 1024,
    "HANDSHAKE_TIMEOUT": 10,
    "RATE_LIMIT": 50,
    "SESSION_RATE_LIMIT": 100,
    "HEARTBEAT": 20,
    "ALLOW_ANONYMOUS": True,
    "SESSION_RECHECK": 5,
    "TRACE": True,
    "TRACE_MAXLEN": 20000,
    "MESSAGE_LOG": True,
    "LOG_MAXLEN": 1000,
    "LOG_RETENTION": 300,
    "POLL_INTERVAL": 1000,
    "LONG_POLL": 20,
    "ASYNC_RUN_MODE": "async",
    "ASYNC_FALLBACK_SYNC": False,
}

#: Settings that an environment variable, when set and not empty, overrides.
ENVIRONMENT: dict[str, str] = {"ASYNC_RUN_MODE": "FLOORKIT_ASYNC_RUN_MODE"}

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The environment variable that gives ``REDIS_URL`` when the settings do not
#: (set by ``rundemo`` and the test fixtures for their subprocesses).
REDIS_URL_ENV = "FLOORKIT_REDIS_URL"


#: Settings read afresh on every ``get()``: environment overrides and the
#: Redis URL (which test fixtures and ``rundemo`` set at run time).
_LIVE = frozenset(ENVIRONMENT) | {"REDIS_URL"}
_cache: dict[str, Any] = {}


def get(name: str) -> Any:
    """
    Return the value of ``FLOORKIT[name]``, or its documented default.

    Values are cached until ``settings.FLOORKIT`` is replaced (Django's
    ``setting_changed`` signal, sent by ``override_settings`` and
    pytest-django's ``settings`` fixture): several are read on every call.
    Changing the dict in place at run time is not seen, as Django's settings
    are not meant to change at run time. Raise ``KeyError`` for a name that is
    not a floorkit setting, so that a typo in floorkit's own code fails loudly.
    """
    try:
        return _cache[name]
    except KeyError:
        pass
    if name not in DEFAULTS:
        raise KeyError(f"unknown floorkit setting {name!r}")
    if name in ENVIRONMENT and os.environ.get(ENVIRONMENT[name]):
        return os.environ[ENVIRONMENT[name]]
    user = getattr(settings, "FLOORKIT", None) or {}
    if name in user:
        value = user[name]
    elif name == "REDIS_URL":
        return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    else:
        value = DEFAULTS[name]
    if name not in _LIVE:
        _cache[name] = value
    return value


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "FLOORKIT":
        _cache.clear()


setting_changed.connect(_settings_changed, dispatch_uid="floorkit.conf")


def source(name: str) -> str:
    """Where the value of ``get(name)`` comes from, for error messages."""
    if name in ENVIRONMENT and os.environ.get(ENVIRONMENT[name]):
        return f"${ENVIRONMENT[name]}"
    return f"FLOORKIT[{name!r}]"


def unknown_keys() -> list[str]:
    """Return the keys of ``settings.FLOORKIT`` that floorkit does not know."""
    user = getattr(settings, "FLOORKIT", None) or {}
    return sorted(k for k in user if k not in DEFAULTS)
