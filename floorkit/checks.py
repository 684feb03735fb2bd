"""
System checks (``manage.py check``) for what users get wrong with floorkit.

* ``floorkit.E001``: a handler whose signature can never be satisfied.
* ``floorkit.E002``: a delayed handler's queue is missing from ``RQ_QUEUES``.
* ``floorkit.W001``: ``SignalRequestMiddleware`` is missing from ``MIDDLEWARE``,
  or comes before the session/auth middleware.
* ``floorkit.W002``: Redis is unreachable.
* ``floorkit.W003``: the RQ worker class would not read floorkit's JSON jobs.
* ``floorkit.W004``: ``FLOORKIT`` holds a key floorkit does not know.
* ``floorkit.E003``: an ``AsyncSignal``'s queue is missing from ``RQ_QUEUES``.
* ``floorkit.E004``: the async run mode (``FLOORKIT["ASYNC_RUN_MODE"]`` or
  ``$FLOORKIT_ASYNC_RUN_MODE``) is not ``async``, ``sync`` or ``eager``.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from floorkit import conf
from floorkit.connection import safe_url
from floorkit.registry import registry

MIDDLEWARE = "floorkit.middleware.SignalRequestMiddleware"


@register(Tags.compatibility)
def check_handlers(app_configs=None, **kwargs):
    errors = []
    try:
        from django_rq.settings import QUEUES
    except Exception:  # django-rq misconfigured: reported by django-rq itself
        QUEUES = None
    for info in registry.all():
        for handler in info.handlers:
            for problem in handler.signature.problems:
                errors.append(
                    Error(
                        f"Handler {handler.path} of signal {info.name!r} can never be called: {problem}.",
                        hint="Handlers are def handler(request, **keyword_arguments).",
                        obj=handler.path,
                        id="floorkit.E001",
                    )
                )
            queue = handler.queue or conf.get("DEFAULT_QUEUE")
            if handler.delayed and QUEUES is not None and queue not in QUEUES:
                errors.append(
                    Error(
                        f"Delayed handler {handler.path} uses RQ queue {queue!r}, "
                        "which is not in settings.RQ_QUEUES.",
                        hint=f"Add {queue!r} to RQ_QUEUES, pointing at your Redis.",
                        obj=handler.path,
                        id="floorkit.E002",
                    )
                )
    return errors


@register(Tags.compatibility)
def check_middleware(app_configs=None, **kwargs):
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE not in middleware:
        return [
            Warning(
                f"{MIDDLEWARE} is not in MIDDLEWARE: views get no request.signal_request.",
                hint="Add it after django.contrib.auth.middleware.AuthenticationMiddleware.",
                id="floorkit.W001",
            )
        ]
    position = middleware.index(MIDDLEWARE)
    for required in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ):
        if required in middleware and middleware.index(required) > position:
            return [
                Warning(
                    f"{MIDDLEWARE} comes before {required}: it cannot see the session and user.",
                    hint=f"Move it after {required}.",
                    id="floorkit.W001",
                )
            ]
    return []


@register(Tags.compatibility)
def check_redis(app_configs=None, **kwargs):
    url = conf.get("REDIS_URL")
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except Exception as exc:
        return [
            Warning(
                f"Redis at {safe_url(url)} is unreachable ({exc}): calls to browsers and "
                "delayed handlers will raise RedisUnavailable.",
                hint="Start Redis, or set FLOORKIT['REDIS_URL'] (or $FLOORKIT_REDIS_URL).",
                id="floorkit.W002",
            )
        ]
    finally:
        client.close()
    return []


@register(Tags.compatibility)
def check_worker_class(app_configs=None, **kwargs):
    """
    W003: ``RQ["WORKER_CLASS"]`` is not one of floorkit's worker classes, so
    (with ``rqworker``'s default ``--serializer``) it reads pickle and fails
    every floorkit job. floorkit's own default (``floorkit.rq_defaults``)
    never triggers it; a user's own class keeps working, with this warning,
    when every ``rqworker`` runs with ``--serializer`` JSON (then silence it).
    """
    from floorkit.async_signal import all_signals
    from floorkit.rq_defaults import FIX

    if not any(h.delayed for info in registry.all() for h in info.handlers) and not all_signals():
        return []
    worker_class = configured = (getattr(settings, "RQ", None) or {}).get("WORKER_CLASS")
    if isinstance(worker_class, str):
        from django.utils.module_loading import import_string

        try:
            worker_class = import_string(worker_class)
        except ImportError as exc:
            return [
                Warning(
                    f"RQ['WORKER_CLASS'] {worker_class!r} cannot be imported ({exc}).",
                    hint=FIX,
                    id="floorkit.W003",
                )
            ]
    from floorkit.worker import _FloorkitWorkerMixin

    if isinstance(worker_class, type) and issubclass(worker_class, _FloorkitWorkerMixin):
        return []
    if not isinstance(configured, str):
        name = getattr(worker_class, "__qualname__", repr(worker_class))
        configured = f"{getattr(worker_class, '__module__', '')}.{name}"
    return [
        Warning(
            f"RQ['WORKER_CLASS'] {configured} is not a floorkit worker: it reads jobs "
            "with rqworker's --serializer, pickle by default, and would fail every "
            "floorkit job (they are JSON).",
            hint=FIX,
            id="floorkit.W003",
        )
    ]


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    return [
        Warning(
            f"FLOORKIT[{name!r}] is not a floorkit setting; it is ignored.",
            hint=f"Known settings: {', '.join(sorted(conf.DEFAULTS))}.",
            id="floorkit.W004",
        )
        for name in conf.unknown_keys()
    ]


@register(Tags.compatibility)
def check_async_signals(app_configs=None, **kwargs):
    from django.core.exceptions import ImproperlyConfigured

    from floorkit.async_signal import all_signals, resolve_run_mode

    errors = []
    try:
        resolve_run_mode()
    except ImproperlyConfigured as exc:
        errors.append(
            Error(
                f"Invalid async run mode: {exc}.",
                hint="async (RQ workers), sync (in-process, like send_now) or eager.",
                id="floorkit.E004",
            )
        )
    try:
        from django_rq.settings import QUEUES
    except Exception:  # django-rq misconfigured: reported by django-rq itself
        return errors
    for signal in all_signals():
        queue = signal.queue or conf.get("DEFAULT_QUEUE")
        if queue not in QUEUES:
            errors.append(
                Error(
                    f"AsyncSignal {signal.name} uses RQ queue {queue!r}, "
                    "which is not in settings.RQ_QUEUES.",
                    hint=f"Add {queue!r} to RQ_QUEUES, pointing at your Redis.",
                    obj=signal.name,
                    id="floorkit.E003",
                )
            )
    return errors
