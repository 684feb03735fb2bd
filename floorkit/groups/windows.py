"""
Connected windows in groups: what the holder of a connection tells Redis.

A *holder* keeps windows connected: a ``runwebsocket`` process for its
websockets, or, for a window in HTTP polling mode, the window itself
(``poll:<window>``), renewed by each poll. While connected, a window counts
in the presence of each group one of its scopes is in
(``floorkit.groups.scripts``); ``connect()`` says which groups those are and
from which sequence number the window receives each of them, so that its
router and its replay deliver exactly the group messages published while it
was a member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from floorkit import conf
from floorkit.delivery.message_log import Range
from floorkit.groups import scripts
from floorkit.groups.names import group_address, member_id
from floorkit.signals.request import SignalRequest


@dataclass
class Connected:
    """
    A window's groups at the moment it connected: ``seq``, the last sequence
    number then; ``groups``, group -> the seq of its (earliest) join;
    ``scopes``, group -> the window's scopes in it; ``ended``, group -> the ``(join, leave)`` of memberships that ended less
    than ``LOG_RETENTION`` ago.
    """

    seq: int
    groups: dict[str, int] = field(default_factory=dict)
    scopes: dict[str, set[str]] = field(default_factory=dict)
    ended: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def ranges(self) -> dict[str, list[Range]]:
        """Group address -> the ranges of sequence numbers the window receives of it."""
        ranges: dict[str, list[Range]] = {}
        for group, spans in self.ended.items():
            ranges[group_address(group)] = [(start, end) for start, end in spans]
        for group, joined in self.groups.items():
            ranges.setdefault(group_address(group), []).append((joined, None))
        return ranges


def scopes_of(request: SignalRequest) -> list[str]:
    """The scopes a window's memberships come from: its window, session and user."""
    scopes = [f"window:{request.window}"]
    if request.session:
        scopes.append(f"session:{request.session}")
    if request.username:
        scopes.append(f"user:{request.username}")
    return scopes


def window_ttl() -> int:
    """Seconds a disconnected window keeps its own memberships."""
    return conf.get("LOG_RETENTION")


def connect(request: SignalRequest, holder: str, conn: str, deadline: float) -> Connected:
    """
    Record ``request.window`` as connected through ``holder`` (connection
    ``conn``; another holder's claim is taken over), enter the presence of
    its groups and return them. ``deadline`` renews the holder's. Raise
    ``RedisUnavailable``.
    """
    seq, flat, ended = scripts.run(
        scripts.CONNECT,
        [
            request.window,
            holder,
            conn,
            member_id(request.username, request.session, request.window),
            request.username or "",
            f"{deadline:.3f}",
            *scopes_of(request),
        ],
        "connecting a window to its groups",
        request.trace_id,
    )
    connected = Connected(int(seq))
    for index in range(0, len(flat), 3):
        group, joined = _text(flat[index]), int(flat[index + 1])
        connected.groups[group] = min(joined, connected.groups.get(group, joined))
        connected.scopes.setdefault(group, set()).add(_text(flat[index + 2]))
    for index in range(0, len(ended), 2):
        spans = connected.ended.setdefault(_text(ended[index]), [])
        for span in _text(ended[index + 1]).split(","):
            start, _, end = span.partition(" ")
            spans.append((int(start), int(end)))
    return connected


def gone(window: str, conn: str = "", holder: str = "") -> bool:
    """
    The connection ``conn`` of ``window`` (any, with ``""``) held by
    ``holder`` (any, with ``""``) ended: the window leaves every presence,
    unless another connection took it over since. Return whether it left.
    Raise ``RedisUnavailable``.
    """
    return bool(
        scripts.run(scripts.GONE, [window, conn, holder, window_ttl()], "disconnecting a window")
    )


def follow(window: str, group: str, trace: str | None = None) -> int:
    """
    Make a connected window's presence in ``group`` follow its memberships
    after one changed: 1 if it entered, -1 if it left, 0 if nothing changed.
    """
    return int(scripts.run(scripts.FOLLOW, [window, group], f"updating presence in {group}", trace))


def poll_holder(window: str) -> str:
    """The holder of a window in HTTP polling mode."""
    return f"poll:{window}"


def poll_deadline() -> float:
    """Until when one poll keeps its window connected: the long poll, then a heartbeat."""
    return time.time() + conf.get("LONG_POLL") + conf.get("HEARTBEAT")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
