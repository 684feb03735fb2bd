"""
Trace events: where a call went, across browser, web process, worker and back.

Every hop of a call records a small event::

    {"trace": "<trace id>", "hop": "<this hop>", "parent": "<causing hop or null>",
     "event": "call", "signal": "demo.chat.message", "ts": 1763712345.123,
     "dur": 0.0012, "outcome": "ok" | "error" | "refused", "reason": "...",
     "host": "web-1", "pid": 1234, "role": "web" | "websocket" | "worker" | "shell", ...}

Events:

* ``call``: a call received (``call()``, or a browser's call, refused ones
  included), with its duration and outcome;
* ``handler``: an inline handler, started at ``ts`` and finished ``dur`` later;
* ``job.enqueued``, ``job.started`` and ``job.finished``: a delayed handler or
  an ``AsyncSignal`` on RQ;
* ``message.published``: a message to browsers, with its sequence number and
  addresses;
* ``message.delivered``: per websocket process, how many sockets it reached,
  and which windows.

Recording is cheap enough to stay on: ``emit()`` appends a tuple to an
in-process buffer; a background thread (a greenlet under gevent) writes the
buffer as one entry of the capped Redis stream ``<KEY_PREFIX>:trace`` (field
``b``: a JSON batch ``{"host", "pid", "role", "rows": [[event, trace, hop,
parent, signal, ts µs, dur µs, outcome, {fields}], ...]}``; ``read()`` and
``expand()`` give the events as above) every 100 ms, and at exit.
``FLOORKIT["TRACE"] = False`` turns it off entirely: nothing is buffered or
written; so does an outbox that does not record traces while it is current
(``floorkit.delivery.outbox``).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson

from floorkit import conf
from floorkit.delivery import outbox
from floorkit.delivery.redis_client import get_redis, key

logger = logging.getLogger("floorkit.tracing.recorder")

_role = "web"
_host = socket.gethostname()
_buffer: list[dict[str, Any]] = []
_lock = threading.Lock()
_flusher: threading.Thread | None = None
FLUSH_EVERY = 0.1
#: Flush at the end of every traced job (a forked job process exits without
#: running the flusher); ``floorkit.jobs.worker.SimpleWorker`` turns it off.
FLUSH_AFTER_JOBS = True

current_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "floorkit_trace", default=None
)


def set_role(role: str) -> None:
    """Name what this process is in traces: web, websocket, worker or shell."""
    global _role
    _role = role


_random = random.Random(os.urandom(16))
_randbytes = _random.randbytes
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(16)))


def new_trace_id() -> str:
    """
    A new trace id (16 hex digits). Ids only need to be unique, not secret:
    they come from a PRNG seeded from ``os.urandom`` (again in a forked
    child), several times cheaper than a system call per id.
    """
    return _randbytes(8).hex()


def new_hop() -> str:
    """A new hop id (12 hex digits), as ``new_trace_id``."""
    return _randbytes(6).hex()


def stream_key() -> str:
    return key("trace")


def emit(
    event: str,
    trace: str,
    hop: str,
    parent: str | None,
    signal: str | None,
    ts: float | None = None,
    dur: float | None = None,
    outcome: str = "ok",
    **fields: Any,
) -> None:
    """
    Record one event (buffered; written within ``FLUSH_EVERY`` seconds):
    ``ts`` when it happened (default now) and ``dur`` how long it took, in
    seconds (kept to the microsecond), its ``outcome``, and other ``fields``,
    which must be JSON-serializable. Does nothing when tracing is off, or
    while the current outbox does not record traces.
    """
    if not conf.get("TRACE") or not outbox.current().records_traces:
        return
    _buffer.append(
        (
            event,
            trace,
            hop,
            parent,
            signal,
            int((time.time() if ts is None else ts) * 1_000_000),
            None if dur is None else int(dur * 1_000_000),
            outcome,
            fields,
        )
    )
    if _flusher is None:
        _start_flusher()


def emit_timed(
    event: str, request: Any, hop: str, signal: str | None, started: float, **fields: Any
) -> None:
    """``emit()`` an event of the call ``request`` (its ``trace_id`` and
    ``parent``) that began at ``started`` (``time.time()``) and ends now."""
    emit(
        event,
        request.trace_id,
        hop,
        request.parent,
        signal,
        ts=started,
        dur=time.time() - started,
        **fields,
    )


def _start_flusher() -> None:
    global _flusher
    with _lock:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_loop, name="floorkit-trace", daemon=True)
            _flusher.start()


def _after_fork_in_child() -> None:
    """
    A forked child (an RQ job's work horse) starts with no flusher thread, none
    of its parent's buffered events, and a lock that no thread holds: the
    parent's flusher may have held it, mid-write, when the child was forked,
    and no thread of the child would ever release it.
    """
    global _flusher, _lock
    _flusher = None
    _lock = threading.Lock()
    _buffer.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_loop() -> None:
    while True:
        time.sleep(FLUSH_EVERY)
        flush()


def flush() -> int:
    """Write the buffered events now, in one round trip; return how many. Never raises."""
    if not _buffer:
        return 0
    # The lock is held over the write, so that a process's batches reach the
    # stream in the order their events were emitted (two concurrent flushes
    # would otherwise race their XADDs).
    with _lock:
        events = _buffer[:]
        del _buffer[: len(events)]
        if not events:
            return 0
        batch = {"host": _host, "pid": os.getpid(), "role": _role, "rows": events}
        try:
            get_redis().xadd(
                stream_key(),
                {"b": _encode(batch)},
                maxlen=conf.get("TRACE_MAXLEN"),
                approximate=True,
            )
        except Exception as exc:  # tracing must never break the traced code
            _dropped(len(events), exc)
            return 0
    return len(events)


_exact_encode = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False).encode


def _encode(batch: dict[str, Any]) -> bytes:
    """
    A batch as compact JSON: anything JSON cannot hold as its ``str()``, and
    a non-finite float as ``null``. Keys that are not strings are written as
    the standard library writes them; an integer beyond 64 bits, which
    orjson cannot hold, takes the standard library's encoder.
    """
    try:
        return orjson.dumps(batch, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return _exact_encode(batch).encode()


_drops = {"events": 0, "warned": 0.0}


def _dropped(count: int, exc: Exception) -> None:
    """Count events lost to a Redis failure; warn at most once a minute."""
    _drops["events"] += count
    now = time.monotonic()
    if now - _drops["warned"] >= 60:
        logger.warning(
            "trace events dropped: %d so far (Redis: %s); tracing goes on when Redis is back",
            _drops["events"],
            exc,
        )
        _drops["warned"] = now


atexit.register(flush)


@contextlib.contextmanager
def job(trace: str, parent: str | None, signal: str, **fields: Any) -> Iterator[str]:
    """
    Trace the run of an RQ job: ``job.started`` now, ``job.finished`` with its
    duration and outcome (``error`` with the exception) when the block ends;
    inside, ``current_trace`` is ``trace``. Yield the hop id that the job's own
    calls should have as parent. Events are flushed at the end, so that they
    are visible as soon as the job is.
    """
    hop, started = new_hop(), time.time()
    emit("job.started", trace, hop, parent, signal, ts=started, **fields)
    token = current_trace.set(trace)
    outcome, error = "error", None
    try:
        yield hop
        outcome = "ok"
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        current_trace.reset(token)
        emit(
            "job.finished",
            trace,
            new_hop(),
            hop,
            signal,
            ts=started,
            dur=time.time() - started,
            outcome=outcome,
            error=error,
            **fields,
        )
        if FLUSH_AFTER_JOBS:
            flush()


class TraceIdFilter(logging.Filter):
    """
    Adds ``record.trace_id`` (the trace of the call being handled, or ``"-"``)
    to every log record (floorkit's own records about a call carry theirs
    already), so that a format such as
    ``"%(asctime)s [%(trace_id)s] %(message)s"`` correlates your logs with
    ``manage.py tracesignal --trace ID``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace.get() or "-"
        return True


def expand(entry_id: bytes, fields: dict) -> list[dict[str, Any]]:
    """The events of one stream entry, each with its process and the entry's id."""
    batch = json.loads(fields[b"b"])
    process = {
        "host": batch["host"],
        "pid": batch["pid"],
        "role": batch["role"],
        "entry": entry_id.decode(),
    }
    events = []
    for e, t, h, p, s, ts, dur, outcome, fields in batch["rows"]:
        event = {"event": e, "trace": t, "hop": h, "parent": p, "signal": s, "ts": ts / 1e6}
        if dur is not None:
            event["dur"] = dur / 1e6
        events.append({**event, "outcome": outcome, **fields, **process})
    return events


def read(batches: int | None = None) -> list[dict[str, Any]]:
    """The events of the most recent ``batches`` entries (all by default), oldest first."""
    client = get_redis()
    if batches is None:
        entries = client.xrange(stream_key())
    else:
        entries = list(reversed(client.xrevrange(stream_key(), count=batches)))
    return [event for entry_id, fields in entries for event in expand(entry_id, fields)]
