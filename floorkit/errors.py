"""
The error kinds: every refusal or failure floorkit answers with, on the
websocket (an ``error`` frame), over HTTP (a JSON body with ``status``) and in
the JS client (``FloorkitError.kind``). This table is the only place a kind is
defined: the views take their status from it, the trace marks a call
``refused`` (nothing ran) or ``error`` from it, ``docs/protocol.md`` and
``docs/js.md`` list it (checked by ``tests/test_error_kinds.py``) and
``floorkit.js`` is built with it.

``origin`` says who raises a kind: ``server`` (both transports), ``http``
(only floorkit's HTTP endpoints), ``client`` (only the JS client, never on
the wire), ``event`` (only the JS client's ``"error"`` events, never a
call's outcome) or ``python`` (only to Python callers, never to a browser).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    kind: str
    status: int  # the HTTP status; 0 for kinds that never travel over HTTP
    refusal: bool  # True: refused before anything ran; False: failed while running
    origin: str
    meaning: str


# fmt: off
_TABLE = [
    ("bad_request", 400, True, "server",
     "malformed or refused JSON (syntax, non-finite numbers, nesting), missing or mistyped fields"),
    ("unknown_signal", 404, True, "server", "no handler and no declare() for that name"),
    ("not_allowed", 403, True, "server", "the signal is closed to browsers (allow_from_client=False)"),
    ("login_required", 403, True, "server",
     "an anonymous visitor calling a login-only signal, or connecting where they are refused"),
    ("invalid_arguments", 400, True, "server",
     "the kwargs do not fit the handlers' signatures (the message names the argument)"),
    ("invalid_target", 400, True, "server", "a bad 'to'"),
    ("rate_limited", 429, True, "server", "too many calls or frames for this session"),
    ("foreign_window", 403, True, "http", "a window issued to another session"),
    ("csrf_failed", 403, True, "http", "no valid CSRF token"),
    ("method_not_allowed", 405, True, "http", "the wrong HTTP method (the Allow header names the right one)"),
    ("too_large", 413, True, "http", "a body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE"),
    ("redis_unavailable", 503, False, "server", "the server cannot reach Redis"),
    ("handler_failed", 500, False, "server", "a Python handler raised (error_id names the server's log line)"),
    ("connection_lost", 0, False, "client",
     "the connection went away before the answer: the call may have run, and is never re-sent"),
    ("timeout", 0, False, "client",
     "no answer within callTimeout, or no outcome of a waiting call's jobs within its timeout:"
     " the call may still have run"),
    ("handler_error", 0, False, "event", "a JS handler threw; the other handlers still ran"),
    ("socket", 0, False, "event", "the websocket failed (the client reconnects)"),
    ("bad_frame", 0, False, "event", "the server sent a frame that is not floorkit's JSON"),
    ("error", 0, False, "event", "an error answer that named no kind"),
    ("invalid_signal_name", 0, True, "python", "a signal name that is not a dotted name"),
    ("unregistered_signal", 0, True, "python", "an AsyncSignal sent before it has a name"),
    ("missing_instance", 0, False, "python",
     "a model instance an AsyncSignal carried by primary key no longer exists on the worker"),
]
# fmt: on

KINDS: dict[str, ErrorKind] = {row[0]: ErrorKind(*row) for row in _TABLE}

#: The kinds that mean "refused: nothing ran".
REFUSALS = frozenset(k for k, e in KINDS.items() if e.refusal)


def http_status(kind: str) -> int:
    """The HTTP status answering ``kind`` (400 for a kind with none or not in the table)."""
    entry = KINDS.get(kind)
    return entry.status if entry and entry.status else 400
