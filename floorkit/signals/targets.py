"""
Where a signal goes besides Python handlers.

``to`` is one of:

* ``None``: Python handlers only, nothing goes to browsers;
* ``WINDOW``: the calling browser tab;
* ``SESSION``: every tab of the caller's session;
* ``USER``: every tab of every session of the calling user;
* ``{USER: ["alice", "bob"]}``: every tab of the named users;
* ``BROADCAST``: every connected tab;
* ``Window(id)``, ``Session(id)``, ``User(name)``: explicit addresses (the ids
  are the opaque ones of ``SignalRequest``);
* ``Group(name)``: every window in the group (``floorkit.groups``);
* or a list of these.

Each target resolves to an *address* such as ``"window:<id>"``,
``"session:<id>"``, ``"user:<username>"``, ``"group:<name>"`` or ``"broadcast"``; the Redis channel
of an address is ``<KEY_PREFIX>:ch:<address>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from floorkit.exceptions import InvalidTarget
from floorkit.groups.names import check_group, group_address
from floorkit.signals.request import SignalRequest


class _Relative:
    """A target relative to the caller: WINDOW, SESSION, USER."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


WINDOW = _Relative("WINDOW")
SESSION = _Relative("SESSION")
USER = _Relative("USER")
BROADCAST = _Relative("BROADCAST")


@dataclass(frozen=True)
class Window:
    """An explicit window, by its opaque id."""

    id: str


@dataclass(frozen=True)
class Session:
    """An explicit session, by its opaque id."""

    id: str


@dataclass(frozen=True)
class User:
    """An explicit user, by username."""

    name: str


@dataclass(frozen=True)
class Group:
    """Every window in a group (``floorkit.groups``); ``InvalidTarget`` for a bad name."""

    name: str

    def __post_init__(self) -> None:
        check_group(self.name)


def _addresses(to: Any, request: SignalRequest) -> list[str]:
    if to is None:
        return []
    if isinstance(to, list | tuple):
        return [address for item in to for address in _addresses(item, request)]
    if to is BROADCAST:
        return ["broadcast"]
    if to is WINDOW:
        if not request.window:
            raise InvalidTarget("WINDOW needs a caller with a window (a browser tab)")
        return [f"window:{request.window}"]
    if to is SESSION:
        if not request.session:
            raise InvalidTarget("SESSION needs a caller with a session")
        return [f"session:{request.session}"]
    if to is USER:
        if not request.username:
            raise InvalidTarget("USER needs a logged-in caller (use {USER: [names]} otherwise)")
        return [f"user:{request.username}"]
    if isinstance(to, dict):
        if set(to) != {USER}:
            raise InvalidTarget(f"a dict target must be {{USER: [usernames]}}, got {to!r}")
        names = to[USER]
        if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
            raise InvalidTarget(f"{{USER: ...}} needs a list of usernames, got {names!r}")
        return [f"user:{name}" for name in names]
    if isinstance(to, Window):
        return [f"window:{to.id}"]
    if isinstance(to, Session):
        return [f"session:{to.id}"]
    if isinstance(to, User):
        return [f"user:{to.name}"]
    if isinstance(to, Group):
        return [group_address(to.name)]
    raise InvalidTarget(f"unknown target {to!r}")


def resolve(to: Any, request: SignalRequest) -> list[str]:
    """
    Return the addresses of ``to`` for the caller ``request``, without
    duplicates, in order.

    Raise ``InvalidTarget`` when a target cannot be resolved (``WINDOW``
    without a window, ``USER`` for an anonymous caller, a malformed value).
    """
    return list(dict.fromkeys(_addresses(to, request)))


def parse(spec: str) -> Any:
    """
    Parse a command-line target: ``broadcast``, ``session:ID``, ``user:NAME``,
    ``window:ID`` or ``group:NAME``. Raise ``InvalidTarget`` otherwise.
    """
    if spec == "broadcast":
        return BROADCAST
    kind, _, value = spec.partition(":")
    factory = {"session": Session, "user": User, "window": Window, "group": Group}.get(kind)
    if factory is None or not value:
        raise InvalidTarget(
            f"invalid target {spec!r}: use broadcast, session:ID, user:NAME, window:ID "
            "or group:NAME"
        )
    return factory(value)


_CLIENT_NAMES = {"WINDOW": WINDOW, "SESSION": SESSION, "USER": USER, "BROADCAST": BROADCAST}


def from_client(to: Any) -> list[Any]:
    """
    Parse the ``to`` of a browser call: ``null``, one target or a list of
    ``"WINDOW"``, ``"SESSION"``, ``"USER"``, ``"BROADCAST"``,
    ``{"USER": ["alice", ...]}`` and ``{"group": "doc.42"}``. Raise
    ``InvalidTarget`` for anything else (whether the caller may send to a
    group is the caller's business: ``floorkit.signals.dispatch``).
    """
    if to is None:
        return []
    items = to if isinstance(to, list) else [to]
    parsed: list[Any] = []
    for item in items:
        if isinstance(item, str) and item.upper() in _CLIENT_NAMES:
            parsed.append(_CLIENT_NAMES[item.upper()])
        elif isinstance(item, dict) and len(item) == 1 and str(next(iter(item))).upper() == "USER":
            parsed.append({USER: next(iter(item.values()))})
        elif isinstance(item, dict) and len(item) == 1 and str(next(iter(item))).lower() == "group":
            parsed.append(Group(next(iter(item.values()))))
        else:
            raise InvalidTarget(
                f"invalid target {_shown(item)}: use WINDOW, SESSION, USER, BROADCAST, "
                '{"USER": [usernames]} or {"group": NAME}'
            )
    return parsed


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def addresses_of(request: SignalRequest) -> list[str]:
    """
    The addresses whose messages reach the window of ``request``: its window,
    ``broadcast``, its session and its user (when it has them).
    """
    addresses = [f"window:{request.window}", "broadcast"]
    if request.session:
        addresses.append(f"session:{request.session}")
    if request.username:
        addresses.append(f"user:{request.username}")
    return addresses
