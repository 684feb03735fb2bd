"""
Holders' heartbeats, and the windows of dead holders leaving their groups.

Each ``runwebsocket`` process is one holder, named ``<host>:<pid>:<random>``.
It renews its deadline (now + ``HEARTBEAT``) every ``HEARTBEAT / 2``
seconds and, on each beat, reaps holders whose deadline has passed: their
windows leave every presence, with ``left`` events. So the windows of a
process killed with SIGKILL leave within ``1.5 × HEARTBEAT`` of its last
beat while another process runs (``presence()`` and HTTP polls reap too,
at most every ``HEARTBEAT / 2`` per process); a graceful stop leaves at once
(``release()``). An HTTP polling window is its own holder, with the
deadline of its last poll (``floorkit.groups.windows.poll_deadline``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from floorkit import conf
from floorkit.delivery.redis_client import get_redis, key, redis_errors
from floorkit.groups import windows

logger = logging.getLogger("floorkit.groups")

_holder: tuple[int, str] | None = None  # (pid, name): a forked child gets a name of its own
_last_reap = 0.0

REAP_BATCH = 500  # windows read per round trip when a dead holder's are reaped


def process_holder() -> str:
    """The holder name of this process."""
    global _holder
    if _holder is None or _holder[0] != os.getpid():
        _holder = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    return _holder[1]


def deadline() -> float:
    """The deadline a beat gives this process: one ``HEARTBEAT`` from now."""
    return time.time() + conf.get("HEARTBEAT")


def beat(holder: str | None = None) -> bool:
    """
    Renew ``holder``'s deadline (this process's by default), then reap dead
    holders. Return True when the holder was not known: new, or reaped
    (its windows left their groups) while it could not beat.
    """
    with redis_errors("renewing the presence heartbeat"):
        added = get_redis().zadd(key("holders"), {holder or process_holder(): deadline()})
    reap()
    return bool(added)


def reap(now: float | None = None) -> int:
    """
    Make the windows of every holder whose deadline passed before ``now``
    leave their groups; return how many windows left. Safe to run from
    several processes at once.
    """
    global _last_reap
    now = time.time() if now is None else now
    _last_reap = time.monotonic()
    client = get_redis()
    with redis_errors("reaping dead presence holders"):
        dead = client.zrangebyscore(key("holders"), "-inf", now)
    count = 0
    for holder in dead:
        count += release(holder.decode(), expired_before=now)
    return count


def reap_if_due() -> None:
    """``reap()`` unless this process did less than ``HEARTBEAT / 2`` seconds ago."""
    if time.monotonic() - _last_reap >= conf.get("HEARTBEAT") / 2:
        reap()


def release(holder: str, expired_before: float | None = None) -> int:
    """
    Make every window of ``holder`` leave its groups and forget the holder
    (a graceful stop, or a reap); return how many windows left. With
    ``expired_before``, a holder that renewed its deadline meanwhile is kept.
    """
    client = get_redis()
    held = key("held", holder)
    count = 0
    with redis_errors("releasing presence"):
        cursor = 0
        while True:
            cursor, batch = client.sscan(held, cursor, count=REAP_BATCH)
            for window in batch:
                count += windows.gone(window.decode(), "", holder)
            if cursor == 0:
                break
        score = client.zscore(key("holders"), holder)
        if expired_before is None or score is None or score < expired_before:
            client.zrem(key("holders"), holder)
            client.delete(held)
    if count:
        logger.info("%d window(s) of %s left their groups", count, holder)
    return count
