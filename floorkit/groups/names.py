"""
Group names, and the addresses and member ids that groups and presence use.

A group name is dot-separated segments of letters, digits, ``_`` and ``-``
(``doc.42``, ``game.7f3a.players``), at most ``MAX_LENGTH`` characters. Its
messages go to the address ``group:<name>`` (``floorkit.signals.targets``),
logged and numbered like every other address.

A *scope* is the address that holds a membership: ``window:<id>``,
``session:<id>`` or ``user:<name>``. A *member* of a group's presence is a
user (``user:<username>``) or, for anonymous visitors, a session
(``anon:<12 hex digits>``, derived from the opaque session id and revealing
nothing of it).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from floorkit.exceptions import InvalidTarget

MAX_LENGTH = 200
SEGMENT = r"[A-Za-z0-9_-]+"
GROUP_RE = re.compile(rf"{SEGMENT}(\.{SEGMENT})*\Z")

SCOPE_KINDS = ("window", "session", "user")


def check_group(name: Any) -> str:
    """Return ``name`` if it is a valid group name, else raise ``InvalidTarget``."""
    if not isinstance(name, str) or len(name) > MAX_LENGTH or not GROUP_RE.match(name):
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise InvalidTarget(
            f"invalid group name {shown}: use dot-separated segments of letters, digits, "
            f"'_' and '-' (e.g. 'doc.42'), at most {MAX_LENGTH} characters"
        )
    return name


def group_address(name: str) -> str:
    """The address of group ``name``: ``group:<name>``."""
    return f"group:{name}"


def group_of(address: str) -> str | None:
    """The group of a ``group:<name>`` address; ``None`` for other addresses."""
    return address[6:] if address.startswith("group:") else None


def member_id(username: str | None, session: str | None, window: str | None) -> str:
    """The presence member of a window: its user, or its anonymous session."""
    if username:
        return f"user:{username}"
    source = session or f"window:{window}"
    return "anon:" + hashlib.blake2b(source.encode(), digest_size=6).hexdigest()


def scope_kind(scope: str) -> str:
    """``"window"``, ``"session"`` or ``"user"``: the kind of a scope address."""
    return scope.split(":", 1)[0]
