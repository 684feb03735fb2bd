"""
The HTTP endpoints of degraded mode (no websocket): calls, polling, and
issuing a window. Include them with ``path("floorkit/", include("floorkit.urls"))``.

They use the session and CSRF protection of the site, and the same
permission and argument checks as the websocket. Errors are JSON objects
``{"ok": false, "kind": ..., "message": ..., "error_id": ...}`` with a 4xx
status (500 for a failing handler); nothing runs on a refused call.
"""

from __future__ import annotations

import functools
import json
import time

from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from floorkit import conf
from floorkit.delivery import wire
from floorkit.delivery.message_log import MAX_CURSOR, Missed, current_position, valid_cursor, wait
from floorkit.errors import http_status
from floorkit.exceptions import FloorkitError, RedisUnavailable
from floorkit.groups import holders, windows
from floorkit.jobs.waiting import BadOptions, awaited_call
from floorkit.security.ratelimit import take_http
from floorkit.security.sessions import session_valid
from floorkit.signals import identity
from floorkit.signals.dispatch import call_from_client, replayed_messages, report_failure
from floorkit.signals.request import WINDOW_HEADER, SignalRequest
from floorkit.signals.targets import addresses_of

_DUMPS = {"allow_nan": False, "separators": (",", ":")}  # nothing JSON.parse cannot read


def _error(kind: str, message: str, error_id: str | None = None) -> JsonResponse:
    response = JsonResponse(
        {"ok": False, "kind": kind, "message": message, "error_id": error_id},
        status=http_status(kind),
        json_dumps_params=_DUMPS,
    )
    if kind == "redis_unavailable":  # logged once per outage by floorkit.delivery.redis_client,
        response._has_been_logged = True  # not once per request by django.request
    return response


def _endpoint(method: str):
    """
    Make a view a floorkit endpoint for one HTTP ``method``: any other method
    gets a JSON 405 with ``Allow``, a body over Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` a JSON 413 and an unreachable Redis a JSON
    503, so that every answer of a floorkit URL is JSON.
    """

    def decorate(view):
        @csrf_exempt  # the POST views check CSRF themselves (csrf_protect_json)
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != method:
                response = _error("method_not_allowed", f"use {method} for this endpoint")
                response["Allow"] = method
                return response
            try:
                return view(request, *args, **kwargs)
            except RequestDataTooBig:
                return _error("too_large", "the request body is too large")
            except RedisUnavailable as exc:
                return _error(exc.kind, str(exc))

        return wrapped

    return decorate


class _JSONCsrf(CsrfViewMiddleware):
    """Django's CSRF checks, answering a failure with floorkit's JSON error."""

    def _reject(self, request, reason):
        return _error("csrf_failed", f"CSRF verification failed: {reason}")


def csrf_protect_json(view):
    """Like ``csrf_protect``, with a JSON 403 instead of Django's HTML page."""
    checker = _JSONCsrf(lambda request: None)

    @csrf_exempt
    def wrapped(request, *args, **kwargs):
        checker.process_request(request)
        rejected = checker.process_view(request, view, args, kwargs)
        return rejected or view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _json(data: dict) -> JsonResponse:
    return JsonResponse(data, encoder=DjangoJSONEncoder, json_dumps_params=_DUMPS)


def _window_request(request) -> SignalRequest | JsonResponse:
    """The caller, with a window its session owns; an error response otherwise."""
    signal_request = SignalRequest.from_request(request)
    if request.META.get(WINDOW_HEADER) and signal_request.window is None:
        return _error("foreign_window", "this window was not issued to your session")
    return _refuse_anonymous(signal_request.is_authenticated) or signal_request


def _refuse_anonymous(authenticated: bool) -> JsonResponse | None:
    """The error for an anonymous visitor when ``ALLOW_ANONYMOUS`` is off, else ``None``."""
    if not authenticated and not conf.get("ALLOW_ANONYMOUS"):
        return _error("login_required", "log in to receive messages")
    return None


@_endpoint("POST")
@csrf_protect_json
def window(request) -> JsonResponse:
    """Issue a window to this session: ``{"window", "token", "seq"}``."""
    refused = _refuse_anonymous(request.user.is_authenticated)
    if refused is not None:
        return refused
    if request.session.session_key is None:
        request.session.save()
    signal_request = SignalRequest.from_request(request)
    window_id, token = identity.new_window(signal_request.session)
    seq, epoch = current_position()
    return _json({"window": window_id, "token": token, "seq": seq, "epoch": epoch})


@_endpoint("POST")
@csrf_protect_json
def call(request) -> JsonResponse:
    """
    Call a signal with a JSON body ``{"signal", "kwargs", "to"}``; answer
    ``{"ok": true, "results", "jobs", "trace", "messages"}`` where
    ``messages`` are the ``{"signal", "options"}`` the handlers returned for the
    calling window, in order. With ``"options": {"wait": true}`` and the
    call's ``"id"``, the delayed handlers' outcomes are sent to the window
    (``floorkit.jobs.waiting``).
    """
    signal_request = _window_request(request)
    if isinstance(signal_request, JsonResponse):
        return signal_request
    caller = signal_request.session or f"address:{request.META.get('REMOTE_ADDR')}"
    try:
        allowed = take_http(caller)
    except FloorkitError as exc:
        return _error(exc.kind, str(exc))
    if not allowed:
        return _error("rate_limited", "too many calls; slow down")
    try:
        body = wire.decode(request.body)
    except wire.BadJSON as exc:
        return _error(*wire.refusal(exc))
    if not isinstance(body, dict) or not isinstance(body.get("signal"), str):
        return _error("bad_request", 'the body must be {"signal": NAME, "kwargs": {...}}')
    signal = body["signal"]
    try:
        wait = awaited_call(body.get("options"), body.get("id"), signal_request.window)
    except BadOptions as exc:
        return _error("bad_request", str(exc))
    request_for_call = signal_request.new_call(wait)
    try:
        result = call_from_client(signal, request_for_call, body.get("kwargs", {}), body.get("to"))
        return _json(
            {
                "ok": True,
                "results": result.results,
                "jobs": result.jobs,
                "trace": request_for_call.trace_id,
                "messages": [
                    {"signal": m["signal"], "options": m["kwargs"]}
                    for m in replayed_messages(result.results)
                ],
            }
        )
    except FloorkitError as exc:
        return _error(exc.kind, str(exc))
    except Exception as exc:
        error_id = report_failure(signal, request_for_call, exc, "over HTTP")
        return _error("handler_failed", f"{signal} failed (error {error_id})", error_id)


@_endpoint("GET")
def poll(request) -> JsonResponse:
    """
    The window's messages after ``?after=SEQ``, in order:
    ``{"messages": [...], "last": SEQ, "lost": bool}``. Under gevent
    (``runwebsocket --http``) the request is held up to ``LONG_POLL`` seconds
    until a message comes.
    """
    signal_request = _window_request(request)
    if isinstance(signal_request, JsonResponse):
        return signal_request
    if signal_request.window is None:
        return _error("bad_request", "polling needs the X-Floorkit-Window header")
    try:
        after = int(request.GET["after"])
    except (KeyError, ValueError):
        after = None
    if not valid_cursor(after):
        return _error("bad_request", f"?after=SEQ (an integer from 0 to {MAX_CURSOR}) is required")
    try:
        found = _wait_while_logged_in(request, signal_request, after, request.GET.get("epoch"))
    except FloorkitError as exc:
        return _error(exc.kind, str(exc))
    if found is None:  # the session ended while the poll was held: none of its messages go out
        return _error("login_required", "your session has ended: log in again")
    return _json(
        {
            "messages": [json.loads(payload) for payload in found.payloads],
            "last": found.last,
            "lost": found.lost,
            "epoch": found.epoch or current_position()[1],
        }
    )


def _wait_while_logged_in(
    request, signal_request: SignalRequest, after: int, epoch: str | None
) -> Missed | None:
    """
    The window's messages after ``after``, held up to ``LONG_POLL`` seconds
    under gevent. A logged-in caller's session is re-verified every half
    second meanwhile and once more before answering: ``None`` when it ended.
    Each poll keeps the window connected in its groups' presence until the
    next one is due (``floorkit.groups.windows.poll_deadline``), and reads the
    groups' messages sent while it was a member.
    """
    window = signal_request.window
    connected = windows.connect(
        signal_request, windows.poll_holder(window), "poll", windows.poll_deadline()
    )
    holders.reap_if_due()
    ranges = connected.ranges()
    addresses = list(dict.fromkeys([*addresses_of(signal_request), *ranges]))
    timeout = conf.get("LONG_POLL") if _cooperative() else 0
    if not signal_request.is_authenticated:
        return wait(addresses, after, timeout, epoch, ranges)
    deadline = time.monotonic() + timeout
    while True:
        found = wait(addresses, after, min(0.5, deadline - time.monotonic()), epoch, ranges)
        if not session_valid(request.session.session_key, signal_request.user_id):
            return None
        if found.payloads or found.lost or time.monotonic() >= deadline:
            return found


def _cooperative() -> bool:
    """Whether blocking here blocks only this request (gevent), not a worker thread."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")
