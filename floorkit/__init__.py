"""
floorkit: Python and the browser call each other by name.

The public API::

    from floorkit import connect, declare, call, acall, SignalRequest
    from floorkit import WINDOW, SESSION, USER, BROADCAST
    from floorkit import Group, group, join, leave, presence
    from floorkit import AsyncSignal, register, register_mapping

Names are loaded on first use, so that ``import floorkit.<submodule>`` stays
light: ``runwebsocket`` must monkey-patch with gevent before Django, redis-py
or ``ssl`` are imported.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "call": "floorkit.signals.dispatch",
    "acall": "floorkit.signals.dispatch",
    "CallResult": "floorkit.signals.dispatch",
    "connect": "floorkit.signals.registry",
    "declare": "floorkit.signals.registry",
    "SignalRequest": "floorkit.signals.request",
    "BROADCAST": "floorkit.signals.targets",
    "SESSION": "floorkit.signals.targets",
    "USER": "floorkit.signals.targets",
    "WINDOW": "floorkit.signals.targets",
    "Session": "floorkit.signals.targets",
    "User": "floorkit.signals.targets",
    "Window": "floorkit.signals.targets",
    "Group": "floorkit.signals.targets",
    "group": "floorkit.groups.authorizers",
    "join": "floorkit.groups.membership",
    "leave": "floorkit.groups.membership",
    "presence": "floorkit.groups.presence",
    "Presence": "floorkit.groups.presence",
    "FloorkitError": "floorkit.exceptions",
    "InvalidArguments": "floorkit.exceptions",
    "InvalidSignalName": "floorkit.exceptions",
    "InvalidTarget": "floorkit.exceptions",
    "LoginRequired": "floorkit.exceptions",
    "NotAllowed": "floorkit.exceptions",
    "RedisUnavailable": "floorkit.exceptions",
    "UnknownSignal": "floorkit.exceptions",
    "AsyncSignal": "floorkit.async_signals.signal",
    "register": "floorkit.async_signals.names",
    "register_mapping": "floorkit.async_signals.mappings",
}

__all__ = [
    "AsyncSignal",
    "BROADCAST",
    "CallResult",
    "FloorkitError",
    "Group",
    "InvalidArguments",
    "InvalidSignalName",
    "InvalidTarget",
    "LoginRequired",
    "NotAllowed",
    "Presence",
    "RedisUnavailable",
    "SESSION",
    "Session",
    "SignalRequest",
    "USER",
    "UnknownSignal",
    "User",
    "WINDOW",
    "Window",
    "acall",
    "call",
    "connect",
    "declare",
    "group",
    "join",
    "leave",
    "presence",
    "register",
    "register_mapping",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'floorkit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from floorkit.async_signals.mappings import register_mapping
    from floorkit.async_signals.names import register
    from floorkit.async_signals.signal import AsyncSignal
    from floorkit.exceptions import (
        FloorkitError,
        InvalidArguments,
        InvalidSignalName,
        InvalidTarget,
        LoginRequired,
        NotAllowed,
        RedisUnavailable,
        UnknownSignal,
    )
    from floorkit.groups.authorizers import group
    from floorkit.groups.membership import join, leave
    from floorkit.groups.presence import Presence, presence
    from floorkit.signals.dispatch import CallResult, acall, call
    from floorkit.signals.registry import connect, declare
    from floorkit.signals.request import SignalRequest
    from floorkit.signals.targets import (
        BROADCAST,
        SESSION,
        USER,
        WINDOW,
        Group,
        Session,
        User,
        Window,
    )
