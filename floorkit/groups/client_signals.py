"""
The signals browsers call to join, leave and read groups: ``floorkit.join``,
``floorkit.leave`` and ``floorkit.presence`` (the JS client's
``floorkit.join()``, ``floorkit.leave()`` and ``floorkit.presence()``). They
are ordinary calls, over the websocket or HTTP alike: rate limits, argument
checks and error kinds are those of every call. Joining and reading
presence need an authorizer's yes (``floorkit.groups.authorizers``);
leaving never does. Each joins or leaves the calling window only.
"""

from __future__ import annotations

from typing import Any

from floorkit.groups.authorizers import authorize
from floorkit.groups.membership import join, leave
from floorkit.groups.names import check_group
from floorkit.groups.presence import MAX_LIMIT, presence
from floorkit.signals.registry import connect
from floorkit.signals.request import SignalRequest
from floorkit.signals.targets import WINDOW

MAX_OFFSET = 10**9  # beyond any group: the page is empty


@connect(path="floorkit.join", auth_required=False)
def join_group(request: SignalRequest, group: str) -> dict[str, Any]:
    """Put the calling window in ``group``; answer its presence, the caller included."""
    meta = authorize(request, group)
    join(request, group, WINDOW, meta)
    return presence(group).as_dict()


@connect(path="floorkit.leave", auth_required=False)
def leave_group(request: SignalRequest, group: str) -> dict[str, Any]:
    """Take the calling window out of ``group``; ``left`` is False if it was not in it."""
    check_group(group)
    return {"group": group, "left": leave(request, group, WINDOW) is not None}


@connect(path="floorkit.presence", auth_required=False)
def group_presence(
    request: SignalRequest, group: str, limit: int = 100, offset: int = 0
) -> dict[str, Any]:
    """The presence of a group the caller may join, a page at a time."""
    authorize(request, group)
    return presence(group, max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))).as_dict()
