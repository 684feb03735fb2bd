"""
Joining and leaving groups, from any process: a handler, a view, a worker.

A membership belongs to a *scope*: one window (``WINDOW``, the default),
every window of a session (``SESSION``) or of a user (``USER``), including
windows opened later. Memberships live in Redis (``floorkit.groups.scripts``),
so every ``runwebsocket`` process and every HTTP poll sees them; each change
is a numbered ``floorkit.membership`` message to the scope, and the routers
of every process start or stop delivering the group's messages to the
scope's windows in order with the rest: a message published after
``leave()`` returns never reaches them.

A window's memberships outlive its connection by ``LOG_RETENTION`` seconds
(a reconnecting window keeps its groups); a session's expire with Django's
``SESSION_COOKIE_AGE``; a user's stay until left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from floorkit import conf
from floorkit.delivery import outbox, wire
from floorkit.exceptions import InvalidTarget
from floorkit.groups.names import check_group, scope_kind
from floorkit.signals import targets
from floorkit.signals.request import SignalRequest
from floorkit.tracing import recorder


@dataclass(frozen=True)
class MembershipChange:
    """
    One join or leave, as it leaves through the current outbox
    (``floorkit.delivery.outbox``): ``scope`` joins or leaves ``group``;
    ``meta`` is the presence metadata (JSON text); ``window`` is the caller's
    window when the scope covers it ('' otherwise: its presence changes at
    once); ``notice`` the kwargs (JSON text) of the ``floorkit.membership``
    message to the scope; ``ttl`` how long the scope's memberships live (0:
    for ever; a window's live while it is connected, then ``ttl``).
    """

    joined: bool
    scope: str
    group: str
    meta: str
    window: str
    notice: str
    ttl: int
    trace: str
    hop: str


def scope_address(scope: Any, request: SignalRequest) -> str:
    """
    The address holding a membership: ``scope`` is ``WINDOW``, ``SESSION``,
    ``USER`` (relative to ``request``) or an explicit ``Window(id)``,
    ``Session(id)`` or ``User(name)``. Raise ``InvalidTarget`` otherwise.
    """
    if isinstance(scope, list | tuple | dict) or scope is targets.BROADCAST:
        raise InvalidTarget(f"a group scope is one window, session or user, not {scope!r}")
    addresses = targets.resolve(scope, request)
    if len(addresses) != 1 or scope_kind(addresses[0]) not in ("window", "session", "user"):
        raise InvalidTarget(f"a group scope is one window, session or user, not {scope!r}")
    return addresses[0]


def _caller_window(request: SignalRequest, scope: str) -> str:
    """The caller's window when ``scope`` covers it (its presence changes at once), else ''."""
    if request.window and scope in targets.addresses_of(request):
        return request.window
    return ""


def _notice(group: str, scope: str, joined: bool) -> str:
    return wire.encode({"group": group, "scope": scope_kind(scope), "joined": joined})


def join(
    request: Any, group: str, scope: Any = targets.WINDOW, meta: dict[str, Any] | None = None
) -> int:
    """
    Put ``scope`` in ``group``; return the sequence number of the membership
    message (of the first join, when the scope was in the group already: then
    only its metadata changes). ``meta`` (a JSON object) is shown in the
    presence of the scope's members, e.g. a display name or a colour. The
    change leaves through the current outbox (``floorkit.testing.capture()``
    records it).

    Python callers are trusted: authorizers (``floorkit.groups.authorizers``)
    only guard browsers. Raise ``InvalidTarget`` for a bad group name or
    scope, ``TypeError`` for ``meta`` that is not a JSON object, and
    ``RedisUnavailable`` when Redis cannot be reached (then nothing changed).
    """
    request = SignalRequest.coerce(request)
    check_group(group)
    address = scope_address(scope, request)
    meta_json = _meta_json(meta)
    kind = scope_kind(address)
    if kind == "session":
        ttl = int(settings.SESSION_COOKIE_AGE)
    elif kind == "window":
        ttl = conf.get("LOG_RETENTION")
    else:
        ttl = 0
    return _change(request, True, address, group, meta_json, ttl)


def leave(request: Any, group: str, scope: Any = targets.WINDOW) -> int | None:
    """
    Take ``scope`` out of ``group``; return the sequence number of the
    membership message, or ``None`` when the scope was not in the group
    (nothing changes). The scope's windows stay in the group through their
    other scopes, if any. Raise like ``join()``.
    """
    request = SignalRequest.coerce(request)
    check_group(group)
    return _change(request, False, scope_address(scope, request), group, "{}", 0)


def _change(
    request: SignalRequest, joined: bool, scope: str, group: str, meta: str, ttl: int
) -> int | None:
    """Hand one join or leave to the current outbox, and trace it when something changed."""
    hop = recorder.new_hop()
    change = MembershipChange(
        joined,
        scope,
        group,
        meta,
        _caller_window(request, scope),
        _notice(group, scope, joined),
        ttl,
        request.trace_id,
        hop,
    )
    action = f"{'joining' if joined else 'leaving'} {group}"
    seq = outbox.current().change_membership(change, action)
    if seq is None:
        return None
    event = "group.joined" if joined else "group.left"
    recorder.emit(
        event, request.trace_id, hop, request.parent, None, group=group, scope=scope, seq=seq
    )
    return int(seq)


def _meta_json(meta: dict[str, Any] | None) -> str:
    if meta is None:
        return "{}"
    if not isinstance(meta, dict):
        raise TypeError(
            f"presence metadata must be a dict (a JSON object), got {type(meta).__name__}"
        )
    try:
        return wire.encode(meta)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"presence metadata must be JSON values: {exc}") from None
