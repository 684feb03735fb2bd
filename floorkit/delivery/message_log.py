"""
Reading the message logs: what a window missed, for reconnecting websockets
and HTTP polling alike (any process can answer, no sticky sessions).

A window's messages are those logged for its addresses (``window:<id>``,
``session:<id>``, ``user:<name>``, ``broadcast``). Every message has one
project-wide sequence number, so "everything after N" is well defined across
the logs; the logs are merged by it, and a message logged under several
addresses of the window (``[SESSION, USER]``) is returned once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from floorkit import conf
from floorkit.delivery.publish import epoch_key, log_key, seq_key
from floorkit.delivery.redis_client import BLOCK_SLICE, get_redis, redis_errors


@dataclass
class Missed:
    """
    The messages after ``after``: ``payloads`` (encoded, in order), ``last``
    (the sequence number to resume from) and ``lost`` (``True`` when some of
    them are no longer in the logs: trimmed by ``LOG_MAXLEN`` or expired after
    ``LOG_RETENTION``, or numbered in another epoch), with ``epoch``, the
    counter's epoch that ``last`` belongs to.
    """

    payloads: list[bytes] = field(default_factory=list)
    last: int = 0
    lost: bool = False
    epoch: str | None = None  # of the counter now; ``last`` counts in it


MAX_CURSOR = 2**63 - 2  # seq is a signed 64-bit Redis counter; "after" + 1 must fit


def valid_cursor(after: object) -> bool:
    """Whether ``after`` can be a resume point: an integer from 0 to ``MAX_CURSOR``."""
    return type(after) is int and 0 <= after <= MAX_CURSOR


def current_position() -> tuple[int, str]:
    """
    ``(seq, epoch)``: the sequence number of the last message published (0
    before any) and the epoch of the counter, created now if it has none yet
    (the publish script creates it too; whichever comes first stays).
    """
    candidate = f"{time.time_ns() // 1000}"
    with redis_errors("reading the message sequence"):
        pipe = get_redis().pipeline(transaction=False)
        pipe.get(seq_key())
        pipe.set(epoch_key(), candidate, nx=True, get=True)
        seq, epoch = pipe.execute()
    return int(seq or 0), (epoch.decode() if epoch is not None else candidate)


def _seq(entry_id: bytes | str) -> int:
    if isinstance(entry_id, bytes):
        entry_id = entry_id.decode()
    return int(entry_id.split("-", 1)[0])


#: ``(after, until)``: the sequence numbers ``after < seq <= until`` (``until`` None: no end).
Range = tuple[int, int | None]


def _floors(
    addresses: list[str], after: int, ranges: dict[str, list[Range]] | None
) -> dict[str, int]:
    """
    The addresses to read, each with the seq after which it is read: ``after``,
    or for an address with ``ranges`` the start of its first range still open
    after ``after`` (an address none of whose ranges is is not read).
    """
    floors = {}
    for address in addresses:
        spans = (ranges or {}).get(address)
        if spans is None:
            floors[address] = after
            continue
        starts = [start for start, until in spans if until is None or until > after]
        if starts:
            floors[address] = max(after, min(starts))
    return floors


def _within(seq: int, spans: list[Range] | None) -> bool:
    return spans is None or any(
        start < seq and (until is None or seq <= until) for start, until in spans
    )


def missed(
    addresses: list[str],
    after: int,
    epoch: str | None = None,
    ranges: dict[str, list[Range]] | None = None,
) -> Missed:
    """
    Return what was published to ``addresses`` after sequence number ``after``
    of ``epoch``. A cursor of another epoch than the counter's (Redis restarted
    empty since) means nothing now: then everything logged in the current
    epoch is returned, with ``lost`` set. ``epoch=None`` trusts the cursor.

    ``ranges`` limits some addresses to the sequence numbers a window
    received of them: a group's messages while the window was a member
    (``floorkit.groups.windows.Connected.ranges``); loss before their start
    is none of the window's business.
    """
    floors = _floors(addresses, after, ranges)
    keys = {address: log_key(address) for address in floors}
    with redis_errors("reading message logs"):
        pipe = get_redis().pipeline(transaction=False)
        pipe.get(epoch_key())
        for address, stream in keys.items():
            pipe.xrange(stream, min=f"{floors[address] + 1}-0", max="+")
        for stream in keys.values():
            pipe.exists(stream)
            pipe.get(f"{stream}:last")
            pipe.get(f"{stream}:trimmed")
        current, *replies = pipe.execute()
    current = current.decode() if current is not None else None
    if epoch is not None and epoch != current:
        if current is None:
            current = current_position()[1]
        result = missed(addresses, 0, None, ranges)
        result.lost, result.epoch = True, current
        return result
    result = Missed(last=after, epoch=current)
    merged: dict[int, bytes] = {}
    for address, stream_entries in zip(keys, replies[: len(keys)], strict=True):
        spans = (ranges or {}).get(address)
        for entry_id, fields in stream_entries:
            seq = _seq(entry_id)
            if _within(seq, spans):
                merged[seq] = fields[b"m"]
    states = replies[len(keys) :]
    for floor, exists, last_written, trimmed in zip(
        floors.values(), states[0::3], states[1::3], states[2::3], strict=True
    ):
        if trimmed is not None and int(trimmed) > floor:
            result.lost = True  # dropped by LOG_MAXLEN
        if not exists and last_written is not None and int(last_written) > floor:
            result.lost = True  # expired after LOG_RETENTION
    for seq in sorted(merged):
        result.payloads.append(merged[seq])
        result.last = seq
    return result


def wait(
    addresses: list[str],
    after: int,
    timeout: float,
    epoch: str | None = None,
    ranges: dict[str, list[Range]] | None = None,
) -> Missed:
    """
    Like ``missed()``, but when nothing was missed, block up to ``timeout``
    seconds for the next message (long polling; cooperative under gevent).
    """
    found = missed(addresses, after, epoch, ranges)
    if found.payloads or found.lost or timeout <= 0:
        return found
    floors = _floors(addresses, after, ranges)
    streams = {log_key(address): f"{floor}-0" for address, floor in floors.items()}
    deadline = time.monotonic() + timeout
    client = get_redis(blocking=True)  # long polls never hold up the shared pool
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return found
        # block in slices; the blocking pool's socket timeout allows for one
        block = max(1, int(min(remaining, BLOCK_SLICE) * 1000))
        with redis_errors("waiting for messages"):
            reply = client.xread(streams, count=conf.get("LOG_MAXLEN"), block=block)
        if reply:
            found = missed(addresses, after, epoch, ranges)
            if found.payloads or found.lost:
                return found
            for stream, entries in reply:  # only entries outside ``ranges``: wait past them
                streams[stream.decode() if isinstance(stream, bytes) else stream] = entries[-1][0]
