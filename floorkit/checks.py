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
* ``floorkit.E005``: ``RQ_QUEUES`` is not set although delayed handlers or
  ``AsyncSignal`` objects exist.
* ``floorkit.E006``: the Redis URL has no ``redis://``, ``rediss://`` or
  ``unix://`` scheme (or is otherwise unparsable).
* ``floorkit.E007``: a handler's first parameter does not look like the
  ``request`` (``def h(text)``): it would receive the ``SignalRequest``.
* ``floorkit.E008``: ``FLOORKIT["WEBSOCKET_URL"]`` is neither a path nor a
  ``ws://``/``wss://`` URL with a path.
* ``floorkit.E009``: ``TASKS`` names ``floorkit.tasks.RQBackend`` but Django's
  tasks framework is missing (Django 5.2 without ``django-tasks``).
* ``floorkit.E010``: ``FLOORKIT["TASK_BACKEND"]`` is not an alias of ``TASKS``.

Every check reports a problem as a message; none raises, so that
``manage.py check`` lists every problem at once.
"""

from __future__ import annotations

import inspect

import redis
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from floorkit import conf
from floorkit.delivery.redis_client import safe_url
from floorkit.signals.registry import registry

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
                    _missing_queue("Delayed handler", handler.path, queue, id="floorkit.E002")
                )
    return errors


def _missing_queue(what: str, name: str, queue: str, id: str) -> Error:
    return Error(
        f"{what} {name} uses RQ queue {queue!r}, which is not in settings.RQ_QUEUES.",
        hint=f"Add {queue!r} to RQ_QUEUES, pointing at your Redis.",
        obj=name,
        id=id,
    )


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
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    except (ValueError, TypeError, AttributeError) as exc:
        return [
            Error(
                f"The Redis URL {safe_url(str(url))!r} (FLOORKIT['REDIS_URL'] or "
                f"$FLOORKIT_REDIS_URL) cannot be used: {exc}.",
                hint="Use redis://HOST:PORT/DB (rediss:// for TLS, unix:///path.sock), "
                "e.g. redis://127.0.0.1:6379/0.",
                id="floorkit.E006",
            )
        ]
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
    every floorkit job. floorkit's own default (``floorkit.jobs.rq_defaults``)
    never triggers it; a user's own class keeps working, with this warning,
    when every ``rqworker`` runs with ``--serializer`` JSON (then silence it).
    """
    from floorkit.async_signals.names import all_signals
    from floorkit.jobs.rq_defaults import FIX

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
    from floorkit.jobs.worker import _FloorkitWorkerMixin

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

    from floorkit.async_signals.names import all_signals
    from floorkit.async_signals.options import resolve_run_mode

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
            errors.append(_missing_queue("AsyncSignal", signal.name, queue, id="floorkit.E003"))
    return errors


@register(Tags.compatibility)
def check_rq_queues_set(app_configs=None, **kwargs):
    from floorkit.async_signals.names import all_signals

    if getattr(settings, "RQ_QUEUES", None) is not None:
        return []
    users = [h.path for info in registry.all() for h in info.handlers if h.delayed]
    users += [signal.name for signal in all_signals()]
    if not users:
        return []
    return [
        Error(
            f"settings.RQ_QUEUES is not set, but {', '.join(sorted(users)[:3])}"
            f"{' and others' if len(users) > 3 else ''} run on RQ workers: "
            "they would fail with ImproperlyConfigured when called.",
            hint="Add RQ_QUEUES = {'default': {'URL': 'redis://127.0.0.1:6379/0'}} to settings "
            "(and 'django_rq' to INSTALLED_APPS).",
            id="floorkit.E005",
        )
    ]


#: First-parameter names taken to mean "this is the SignalRequest".
REQUEST_NAMES = ("request", "req", "r", "_")


def _takes_request(fn) -> bool:
    from floorkit.signals.request import SignalRequest

    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True  # reported by E001
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        return True  # no positional first parameter: E001's business
    first = parameters[0]
    if first.annotation is SignalRequest or first.annotation == "SignalRequest":
        return True
    name = first.name.lower()
    return name in REQUEST_NAMES or name.startswith("_") or name.endswith("request")


@register(Tags.compatibility)
def check_request_parameter(app_configs=None, **kwargs):
    errors = []
    for info in registry.all():
        for handler in info.handlers:
            if handler.signature.problems or _takes_request(handler.fn):
                continue
            first = next(iter(inspect.signature(handler.fn).parameters))
            errors.append(
                Error(
                    f"Handler {handler.path} of signal {info.name!r} has no request parameter: "
                    f"its first parameter {first!r} would receive the SignalRequest, and "
                    f"calls passing {first}= would be refused.",
                    hint=f"Write def {handler.fn.__name__}(request, {first}, ...): a handler's "
                    "first parameter is the request (name it request, or annotate it "
                    "SignalRequest).",
                    obj=handler.path,
                    id="floorkit.E007",
                )
            )
    return errors


@register(Tags.compatibility)
def check_websocket_url(app_configs=None, **kwargs):
    from floorkit.websocket.url import WebSocketUrlError, websocket_path

    try:
        websocket_path(conf.get("WEBSOCKET_URL"))
    except WebSocketUrlError as exc:
        return [
            Error(
                f"FLOORKIT['WEBSOCKET_URL'] is not usable: {exc}.",
                hint="Use a path ('/ws/floorkit/') or an absolute URL with a path "
                "('ws://127.0.0.1:8001/ws/floorkit/').",
                id="floorkit.E008",
            )
        ]
    return []


BACKEND_PATHS = ("floorkit.tasks.RQBackend", "floorkit.tasks.backend.RQBackend")


@register(Tags.compatibility)
def check_tasks(app_configs=None, **kwargs):
    """
    E009: ``TASKS`` names ``floorkit.tasks.RQBackend`` but Django's tasks
    framework is missing (Django 5.2 without the ``django-tasks`` backport).
    E010: ``FLOORKIT["TASK_BACKEND"]`` is not an alias of ``TASKS``.
    """
    from floorkit.tasks import compat

    errors = []
    configured = getattr(settings, "TASKS", None) or {}
    ours = [
        a
        for a, p in configured.items()
        if isinstance(p, dict) and p.get("BACKEND") in BACKEND_PATHS
    ]
    if ours and not compat.AVAILABLE:
        errors.append(
            Error(
                f"TASKS[{ours[0]!r}] uses floorkit.tasks.RQBackend, which is absent: "
                f"{compat.REASON}",
                hint="Upgrade to Django 6, or pip install 'django-tasks>=0.12' and add "
                "'django_tasks' to INSTALLED_APPS.",
                id="floorkit.E009",
            )
        )
    alias = conf.get("TASK_BACKEND")
    if alias and (alias not in configured or not compat.AVAILABLE):
        why = (
            "Django's tasks framework is missing"
            if not compat.AVAILABLE
            else (f"TASKS has no such alias (configured: {sorted(configured)})")
        )
        errors.append(
            Error(
                f"FLOORKIT['TASK_BACKEND'] = {alias!r} cannot be used: {why}; delayed handlers "
                "and AsyncSignal sends would fail.",
                hint="Name an alias of TASKS, or leave FLOORKIT['TASK_BACKEND'] unset "
                "(floorkit's RQ jobs).",
                id="floorkit.E010",
            )
        )
    return errors
