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


def missed(addresses: list[str], after: int, epoch: str | None = None) -> Missed:
    """
    Return what was published to ``addresses`` after sequence number ``after``
    of ``epoch``. A cursor of another epoch than the counter's (Redis restarted
    empty since) means nothing now: then everything logged in the current
    epoch is returned, with ``lost`` set. ``epoch=None`` trusts the cursor.
    """
    keys = [log_key(address) for address in addresses]
    with redis_errors("reading message logs"):
        pipe = get_redis().pipeline(transaction=False)
        pipe.get(epoch_key())
        for stream in keys:
            pipe.xrange(stream, min=f"{after + 1}-0", max="+")
        for stream in keys:
            pipe.exists(stream)
            pipe.get(f"{stream}:last")
            pipe.get(f"{stream}:trimmed")
        current, *replies = pipe.execute()
    current = current.decode() if current is not None else None
    if epoch is not None and epoch != current:
        if current is None:
            current = current_position()[1]
        result = missed(addresses, 0, None)
        result.lost, result.epoch = True, current
        return result
    result = Missed(last=after, epoch=current)
    merged: dict[int, bytes] = {}
    for stream_entries in replies[: len(keys)]:
        for entry_id, fields in stream_entries:
            merged[_seq(entry_id)] = fields[b"m"]
    states = replies[len(keys) :]
    for exists, last_written, trimmed in zip(states[0::3], states[1::3], states[2::3], strict=True):
        if trimmed is not None and int(trimmed) > after:
            result.lost = True  # dropped by LOG_MAXLEN
        if not exists and last_written is not None and int(last_written) > after:
            result.lost = True  # expired after LOG_RETENTION
    for seq in sorted(merged):
        result.payloads.append(merged[seq])
        result.last = seq
    return result


def wait(addresses: list[str], after: int, timeout: float, epoch: str | None = None) -> Missed:
    """
    Like ``missed()``, but when nothing was missed, block up to ``timeout``
    seconds for the next message (long polling; cooperative under gevent).
    """
    found = missed(addresses, after, epoch)
    if found.payloads or found.lost or timeout <= 0:
        return found
    streams = {log_key(address): f"{after}-0" for address in addresses}
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
            return missed(addresses, after, epoch)
