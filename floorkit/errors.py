"""
The error kinds: every refusal or failure floorkit answers with, on the
websocket (an ``error`` frame), over HTTP (a JSON body with ``status``) and in
the JS client (``FloorkitError.kind``). This table is the only place a kind is
defined: the views take their status from it, the trace marks a call
``refused`` (nothing ran) or ``error`` from it, ``docs/protocol.md`` lists it
(checked by a test) and ``floorkit.js`` is built with it.

``origin`` says who raises a kind: ``server`` (both transports), ``http``
(only floorkit's HTTP endpoints) or ``client`` (only the JS client, never on
the wire).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    kind: str
    status: int
    refusal: bool  # True: refused before anything ran; False: something failed while running
    origin: str
    meaning: str


KINDS: dict[str, ErrorKind] = {
    e.kind: e
    for e in [
        ErrorKind(
            "bad_request",
            400,
            True,
            "server",
            "malformed or refused JSON (syntax, non-finite numbers, nesting), missing or mistyped fields",
        ),
        ErrorKind(
            "invalid_signal_name", 400, True, "server", "a signal name that is not a dotted name"
        ),
        ErrorKind(
            "unknown_signal", 404, True, "server", "no handler and no declare() for that name"
        ),
        ErrorKind(
            "not_allowed",
            403,
            True,
            "server",
            "the signal is closed to browsers (allow_from_client=False)",
        ),
        ErrorKind(
            "login_required",
            403,
            True,
            "server",
            "an anonymous visitor calling a login-only signal, or connecting where anonymous visitors are refused",
        ),
        ErrorKind(
            "invalid_arguments",
            400,
            True,
            "server",
            "the kwargs do not fit the handlers' signatures (the message names the argument)",
        ),
        ErrorKind("invalid_target", 400, True, "server", "a bad 'to'"),
        ErrorKind("rate_limited", 429, True, "server", "too many calls or frames for this session"),
        ErrorKind("foreign_window", 403, True, "http", "a window issued to another session"),
        ErrorKind("csrf_failed", 403, True, "http", "no valid CSRF token"),
        ErrorKind(
            "method_not_allowed",
            405,
            True,
            "http",
            "the wrong HTTP method (the Allow header names the right one)",
        ),
        ErrorKind(
            "too_large", 413, True, "http", "a body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE"
        ),
        ErrorKind("redis_unavailable", 503, False, "server", "the server cannot reach Redis"),
        ErrorKind(
            "handler_failed",
            500,
            False,
            "server",
            "a Python handler raised (error_id names the server's log line)",
        ),
        ErrorKind(
            "connection_lost",
            0,
            False,
            "client",
            "the connection went away before the answer: the call may have run, and is never re-sent",
        ),
        ErrorKind(
            "timeout",
            0,
            False,
            "client",
            "no answer within callTimeout: the call may still have run",
        ),
    ]
}

#: The kinds that mean "refused: nothing ran".
REFUSALS = frozenset(k for k, e in KINDS.items() if e.refusal)


def http_status(kind: str) -> int:
    """The HTTP status answering ``kind`` (400 for a kind not in the table)."""
    entry = KINDS.get(kind)
    return entry.status if entry and entry.status else 400
