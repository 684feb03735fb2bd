"""
``presence()``: who is connected in a group now.

One member per user (a user with three tabs in the group is one member with
``windows: 3``), anonymous visitors one per session. Members come in the
order they joined, a page at a time: reading a page costs O(log N + limit)
in Redis whatever the group's size N, and each member takes about 300 bytes
of Redis memory plus its metadata (a 10,000-member group: about 3 MB).
Changes arrive as ``floorkit.presence`` messages to the group
(``floorkit.groups.scripts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from floorkit.delivery import outbox
from floorkit.groups import holders
from floorkit.groups.names import check_group

MAX_LIMIT = 1000


@dataclass
class Presence:
    """
    A page of a group's presence: ``count`` members in total, ``members``
    (dicts with ``id``, ``user``, ``joined_at``, ``meta``, ``windows``) from
    ``offset``, at most ``limit`` of them.
    """

    group: str
    count: int
    members: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    limit: int = 100

    @property
    def complete(self) -> bool:
        """Whether this page reaches the last member."""
        return self.offset + len(self.members) >= self.count

    def as_dict(self) -> dict[str, Any]:
        """The JSON form browsers get (``floorkit.join`` and ``floorkit.presence``)."""
        return {
            "group": self.group,
            "count": self.count,
            "members": self.members,
            "offset": self.offset,
            "limit": self.limit,
        }


def presence(group: str, limit: int = 100, offset: int = 0) -> Presence:
    """
    The members of ``group`` now, in join order, from ``offset``, at most
    ``limit`` (1 to ``MAX_LIMIT``), read through the current outbox (nobody
    is connected in a ``capture()``). Windows of dead holders are reaped first
    (at most every ``HEARTBEAT / 2`` per process). Raise ``InvalidTarget``
    for a bad group name, ``ValueError`` for a bad ``limit`` or ``offset``,
    ``RedisUnavailable`` when Redis cannot be reached.
    """
    check_group(group)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    if type(offset) is not int or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
    box = outbox.current()
    if box.records_traces:  # Redis: a dead process's windows go first
        holders.reap_if_due()
    count, members = box.read_presence(group, offset, limit)
    return Presence(group, count, members, offset, limit)
