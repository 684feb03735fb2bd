"""
Reading trace events back: following them live, grouping them into traces,
drawing a trace as a tree, and summary statistics. ``manage.py tracesignal``
and ``manage.py listsignals --stats`` are thin layers over these functions.
"""

from __future__ import annotations

import fnmatch
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from floorkit.delivery.redis_client import get_redis, redis_errors
from floorkit.tracing import recorder

FAILED = ("error", "refused")


def follow(block_ms: int = 500) -> Iterator[list[dict[str, Any]]]:
    """
    Yield the events written from now on, batch by batch (an empty list when
    ``block_ms`` passed without any), forever.
    """
    last = "$"
    client = get_redis()
    while True:
        with redis_errors("following trace events"):
            reply = client.xread({recorder.stream_key(): last}, block=block_ms, count=100)
        events: list[dict[str, Any]] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                events.extend(recorder.expand(entry_id, fields))
        yield events


def group(events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events by trace id, each trace in time order, traces in order of their first event."""
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        traces[event["trace"]].append(event)
    for trace_events in traces.values():
        trace_events.sort(key=lambda e: e["ts"])
    return dict(sorted(traces.items(), key=lambda item: item[1][0]["ts"]))


def matches(trace_events: list[dict[str, Any]], patterns: list[str]) -> bool:
    """Whether any event's signal matches one of the glob ``patterns`` (all when none)."""
    if not patterns:
        return True
    return any(
        e.get("signal") and any(fnmatch.fnmatchcase(e["signal"], p) for p in patterns)
        for e in trace_events
    )


def failed(trace_events: list[dict[str, Any]]) -> bool:
    """Whether any hop of the trace failed or was refused."""
    return any(e.get("outcome") in FAILED for e in trace_events)


def finished(trace_events: list[dict[str, Any]]) -> bool:
    """Whether the trace is over: its first call is recorded and every job it enqueued finished."""
    hops = {e["hop"] for e in trace_events}
    if not any(e["event"] == "call" and e.get("parent") not in hops for e in trace_events):
        return False
    started = {e["parent"]: e["hop"] for e in trace_events if e["event"] == "job.started"}
    done = {e["parent"] for e in trace_events if e["event"] == "job.finished"}
    enqueued = [e["hop"] for e in trace_events if e["event"] == "job.enqueued"]
    return all(hop in started and started[hop] in done for hop in enqueued)


def select(
    events: Iterable[dict[str, Any]],
    patterns: list[str] = (),
    trace: str | None = None,
    errors: bool = False,
    last: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The traces among ``events`` that match the filters of ``tracesignal``."""
    traces = group(events)
    chosen = {
        trace_id: trace_events
        for trace_id, trace_events in traces.items()
        if (trace is None or trace_id == trace)
        and matches(trace_events, list(patterns))
        and (not errors or failed(trace_events))
        and (last is None or finished(trace_events))
    }
    if last is not None:
        chosen = dict(list(chosen.items())[-last:])
    return chosen


COLOURS = {"ok": "\033[32m", "error": "\033[31m", "refused": "\033[33m"}
RESET, DIM = "\033[0m", "\033[2m"


def describe(event: dict[str, Any]) -> str:
    """One line about an event, without indentation."""
    parts = [event["event"]]
    if event.get("signal"):
        parts.append(event["signal"])
    for name in ("handler", "job", "seq"):
        if event.get(name) is not None:
            parts.append(f"{name}={event[name]}")
    if event.get("addresses"):
        parts.append("to " + ",".join(event["addresses"]))
    if event.get("group"):  # group.joined / group.left
        parts.append(f"group:{event['group']} scope {event.get('scope')}")
    if event["event"] == "message.delivered":
        parts.append(f"{event.get('sockets')} socket(s) {','.join(event.get('windows') or [])}")
    if event.get("dur") is not None:
        parts.append(f"{event['dur'] * 1000:.1f} ms")
    outcome = event.get("outcome", "ok")
    if outcome != "ok":
        parts.append(
            f"{outcome.upper()}: {event.get('reason') or ''} {event.get('error') or ''}".strip()
        )
    return " ".join(str(p) for p in parts)


def tree(trace_events: list[dict[str, Any]], colour: bool = False) -> list[str]:
    """
    Draw one trace as an indented tree: each hop under the hop that caused it,
    siblings in time order, with the process (role host:pid) of each hop.
    """
    by_hop = {e["hop"]: e for e in trace_events}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for event in trace_events:
        parent = event.get("parent")
        children[parent if parent in by_hop else None].append(event)
    start = trace_events[0]["ts"] if trace_events else 0
    lines = [f"trace {trace_events[0]['trace']}" if trace_events else "trace (empty)"]

    def walk(parent: str | None, depth: int) -> None:
        for event in sorted(children.get(parent, []), key=lambda e: e["ts"]):
            offset = f"+{(event['ts'] - start) * 1000:7.1f} ms"
            where = f"[{event.get('role')} {event.get('host')}:{event.get('pid')}]"
            text = describe(event)
            if colour:
                text = COLOURS.get(event.get("outcome", "ok"), "") + text + RESET
                where = DIM + where + RESET
            lines.append(f"{offset} {'  ' * depth}{text} {where}")
            walk(event["hop"], depth + 1)

    walk(None, 1)
    return lines


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stats(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """
    Per signal, over ``events``: ``calls``, ``errors`` (failed or refused
    calls and hops) and, per kind of hop, the count and p50/p99 duration in ms.
    """
    table: dict[str, dict[str, Any]] = {}
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for event in events:
        signal = event.get("signal")
        if not signal:
            continue
        row = table.setdefault(signal, {"calls": 0, "errors": 0, "hops": {}})
        if event["event"] == "call":
            row["calls"] += 1
        if event.get("outcome") in FAILED:
            row["errors"] += 1
        if event.get("dur") is not None:
            durations[(signal, event["event"])].append(event["dur"] * 1000)
    for (signal, kind), values in durations.items():
        table[signal]["hops"][kind] = {
            "count": len(values),
            "p50_ms": round(statistics.median(values), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
        }
    return dict(sorted(table.items()))


def to_json(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, default=str)
