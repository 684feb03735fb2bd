"""
Frames from the browser: their checks, the rate limit, and running calls.

The path of a frame: ``floorkit.websocket.parking.read_burst()`` reads it
(``Tab.serve()`` when the server runs a greenlet per connection),
``handle_frame()`` decodes and checks it, ``handle_call()`` checks a call's
fields and takes a token from the rate limit, then ``run_call()``, in a
greenlet of its own (``floorkit.websocket.runners``; the burst's own for the
last frame it read), runs it through
``floorkit.signals.dispatch.call_from_client()`` and writes the result.

Every refusal is an ``error`` frame (``docs/protocol.md``), never a close;
the refused frame's call id is echoed when it is a valid one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from floorkit.delivery import wire
from floorkit.exceptions import FloorkitError
from floorkit.jobs.waiting import BadOptions, awaited_call
from floorkit.security.sessions import session_holds
from floorkit.signals.dispatch import call_from_client, replayed_messages, report_failure
from floorkit.tracing import recorder
from floorkit.websocket.db import close_db_connections
from floorkit.websocket.runners import runners

if TYPE_CHECKING:
    from floorkit.websocket.tab import Tab

MAX_ID = 2**53 - 1  # the largest integer a browser's Number holds exactly


def valid_id(value: Any) -> bool:
    """Whether ``value`` is a call id: an integer from 1 to ``MAX_ID`` (not a bool)."""
    return type(value) is int and 0 < value <= MAX_ID


#: ``run(fn, *args)``: how ``handle_call()`` starts ``run_call()``.
Run = Callable[..., None]


def handle_frame(tab: Tab, message: str | bytes, run: Run = runners.run) -> None:
    """
    Handle one frame from ``tab``'s browser: a ``ping`` or a ``call``, whose
    ``run_call()`` is started with ``run`` (by default in a call runner).
    """
    try:
        data = wire.decode(message)
    except wire.BadJSON as exc:
        refuse_json(tab, exc)
        return
    if not isinstance(data, dict):
        tab.error(None, "bad_request", "a frame must be a JSON object")
        return
    kind = data.get("type")
    if kind == "ping":
        handle_ping(tab)
    elif kind == "call":
        handle_call(tab, data, run)
    else:
        call_id = data.get("id")
        tab.error(
            call_id if valid_id(call_id) else None,
            "bad_request",
            f"unknown frame type {kind!r}",
        )


def refuse_json(tab: Tab, exc: wire.BadJSON) -> None:
    """Answer a frame ``wire.decode()`` refused, echoing its call id if valid."""
    data = exc.data if isinstance(exc.data, dict) else {}
    call_id = data.get("id") if valid_id(data.get("id")) else None
    tab.error(call_id, *wire.refusal(exc))


def handle_ping(tab: Tab) -> None:
    """Answer a ``ping`` with a ``pong``; a ping costs a token of the tab's own bucket."""
    if tab.bucket.take():
        tab.send({"type": "pong"})
    else:
        tab.error(None, "rate_limited", "too many frames; slow down")


def handle_call(tab: Tab, data: dict[str, Any], run: Run = runners.run) -> None:
    """
    Check a ``call`` frame's fields (``id``, ``signal``, ``kwargs``,
    ``options``; ``to`` is checked by ``call_from_client()``), take its token, and start
    ``run_call()`` with ``run``; a call over the rate limit is refused and traced.
    """
    call_id = data.get("id")
    if not valid_id(call_id):
        tab.error(None, "bad_request", f"a call needs an integer 'id' from 1 to {MAX_ID}")
        return
    signal = data.get("signal")
    if not isinstance(signal, str):
        tab.error(call_id, "bad_request", "a call needs a string 'signal'")
        return
    kwargs = data.get("kwargs", {})
    if not isinstance(kwargs, dict):
        tab.error(call_id, "bad_request", "'kwargs' must be a JSON object")
        return
    try:
        wait = awaited_call(data.get("options"), call_id, tab.request.window)
    except BadOptions as exc:
        tab.error(call_id, "bad_request", str(exc))
        return
    if not take_call_token(tab):
        refuse_rate_limited(tab, call_id, signal)
        return
    run(run_call, tab, call_id, signal, kwargs, data.get("to"), wait)


def take_call_token(tab: Tab) -> bool:
    """One call's token from the tab's own bucket and its session's."""
    if not tab.bucket.take():
        return False
    shared = tab.session_bucket
    return shared is None or shared.take()


def refuse_rate_limited(tab: Tab, call_id: int, signal: str) -> None:
    """Answer a call over the rate limit, and trace it as refused."""
    tab.error(call_id, "rate_limited", "too many calls; slow down")
    request = tab.request.new_call()
    recorder.emit(
        "call",
        request.trace_id,
        recorder.new_hop(),
        None,
        signal,
        outcome="refused",
        reason="rate_limited",
        window=request.window,
    )


def run_call(
    tab: Tab, call_id: int, signal: str, kwargs: dict, to: Any, wait: int | None = None
) -> None:
    """
    Run one call and answer it: first the messages its handlers asked to
    replay to this tab, then its ``result`` frame, or an ``error`` frame (a
    handler's exception is logged under an error id the browser gets). The
    database connections the call opened are closed after it. ``wait`` is
    the call id that its delayed handlers' outcomes are sent to
    (``floorkit.jobs.waiting``), or ``None``.
    """
    request = tab.request.new_call(wait)
    try:
        if tab.guard is not None and not session_holds(tab, call_id):
            return
        result = call_from_client(signal, request, kwargs, to)
        results = result.results
        for message in replayed_messages(results):
            tab.send(replay_frame(message, request.trace_id))
        tab.send(
            {
                "type": "result",
                "id": call_id,
                "ok": True,
                "results": results,
                "jobs": result.jobs,
                "trace": request.trace_id,
            }
        )
    except FloorkitError as exc:
        tab.error(call_id, exc.kind, str(exc))
    except Exception as exc:
        error_id = report_failure(signal, request, exc, f"for window {request.window}")
        tab.error(call_id, "handler_failed", f"{signal} failed (error {error_id})", error_id)
    finally:
        close_db_connections()


def replay_frame(message: dict[str, Any], trace_id: str) -> dict[str, Any]:
    """
    The ``signal`` frame of a message a handler asked to replay to the
    calling tab. A handler returns ``{"signal", "options"}``;
    ``replayed_messages()`` gives it as ``{"signal", "kwargs"}``, the
    fields of a ``signal`` frame.
    """
    return {
        "type": "signal",
        "id": uuid.uuid4().hex,
        "signal": message["signal"],
        "kwargs": message["kwargs"],
        "trace": trace_id,
    }
