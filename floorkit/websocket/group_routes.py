"""
Routing a process's tabs to their groups, in order with their messages.

When a tab opens, ``route_groups()`` records its window as connected
(``floorkit.groups.windows.connect``) and routes it to the ``group:<name>``
address of each group its window, session or user is in. A membership
change anywhere is announced on ``<KEY_PREFIX>:membership``, which the router
reads on the same pub/sub connection as the messages: so a change is applied
between the messages published before it and those after it, and a tab
never gets a group message published after it left, nor misses one
published after it joined. Notices that come while a tab is connecting are
kept and applied once it knows where it stands (those numbered after its
connection's snapshot). Presence follows in the background
(``floorkit.groups.windows.follow``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import gevent

from floorkit.exceptions import RedisUnavailable
from floorkit.groups import holders, windows
from floorkit.groups.names import group_address

if TYPE_CHECKING:
    from floorkit.websocket.router import Router
    from floorkit.websocket.tab import Tab

logger = logging.getLogger("floorkit.websocket")

#: One membership notice: (op "join" or "leave", scope address, group, seq).
Notice = tuple[str, str, str, int]


def parse_notice(data: bytes) -> Notice | None:
    """A notice read from the membership channel; ``None`` if malformed."""
    try:
        op, scope, group, seq = data.decode().split("\n")
        return op, scope, group, int(seq)
    except (UnicodeDecodeError, ValueError):
        return None


def route_groups(router: Router, tab: Tab) -> None:
    """
    Connect ``tab``'s window to its groups and route it to them; set the
    tab's replay ranges. The tab must be routed by its own addresses already
    (so that no notice for it is missed). When Redis is unreachable the tab
    goes on without its groups, logged.
    """
    try:
        connected = windows.connect(
            tab.request, holders.process_holder(), tab.conn, holders.deadline()
        )
    except RedisUnavailable as exc:
        logger.warning("window %s serves without its groups: %s", tab.request.window, exc)
        tab.pending_notices = None
        return
    for group, scopes in connected.scopes.items():
        tab.groups[group] = set(scopes)
        _route(router, tab, group)
    tab.replay_ranges = connected.ranges()
    pending, tab.pending_notices = tab.pending_notices or [], None
    for notice in pending:
        if notice[3] > connected.seq:
            apply_notice(router, tab, notice)


def apply_notice(router: Router, tab: Tab, notice: Notice) -> None:
    """Apply one membership notice to one of the scope's tabs (kept while it connects)."""
    if tab.pending_notices is not None:
        tab.pending_notices.append(notice)
        return
    op, scope, group, _seq = notice
    scopes = tab.groups.get(group)
    if op == "join":
        if scopes is None:
            scopes = tab.groups[group] = set()
            _route(router, tab, group)
            _follow(tab, group)
        scopes.add(scope)
    elif op == "leave" and scopes is not None:
        scopes.discard(scope)
        if not scopes:
            del tab.groups[group]
            address = group_address(group)
            router.remove(tab, [address])
            tab.addresses.remove(address)
            _follow(tab, group)


def _route(router: Router, tab: Tab, group: str) -> None:
    address = group_address(group)
    router.add(tab, [address])
    tab.addresses.append(address)


def _follow(tab: Tab, group: str) -> None:
    gevent.spawn(_follow_now, tab.request.window, group, tab.request.trace_id)


def _follow_now(window: str, group: str, trace: str) -> None:
    try:
        windows.follow(window, group, trace)
    except RedisUnavailable as exc:
        logger.warning("presence of window %s in %s not updated: %s", window, group, exc)


def leave_groups(tab: Tab) -> bool:
    """
    The tab closed: its window leaves every presence (unless another
    connection took it over). Return False when Redis could not be told
    (the caller retries later).
    """
    try:
        windows.gone(tab.request.window, tab.conn)
        return True
    except RedisUnavailable as exc:
        logger.warning("window %s stays in presence for now: %s", tab.request.window, exc)
        return False
