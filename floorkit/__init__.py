"""
floorkit: Python and the browser call each other by name.

The public API::

    from floorkit import connect, declare, call, SignalRequest
    from floorkit import WINDOW, SESSION, USER, BROADCAST
"""

from floorkit.dispatch import CallResult, call
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
from floorkit.registry import connect, declare
from floorkit.request import SignalRequest
from floorkit.targets import BROADCAST, SESSION, USER, WINDOW, Session, User, Window

__all__ = [
    "BROADCAST",
    "SESSION",
    "USER",
    "WINDOW",
    "CallResult",
    "FloorkitError",
    "InvalidArguments",
    "InvalidSignalName",
    "InvalidTarget",
    "LoginRequired",
    "NotAllowed",
    "RedisUnavailable",
    "Session",
    "SignalRequest",
    "UnknownSignal",
    "User",
    "Window",
    "call",
    "connect",
    "declare",
]
