"""
The exceptions floorkit raises. Every one of them derives from
``FloorkitError`` and carries a short machine-readable ``kind``, which is also
what a browser receives in an error frame.
"""

from __future__ import annotations


class FloorkitError(Exception):
    """Base class of every floorkit error."""

    kind = "error"


class InvalidSignalName(FloorkitError, ValueError):
    """A signal name is not a dotted Python identifier (raised at import time)."""

    kind = "invalid_signal_name"


class UnknownSignal(FloorkitError, LookupError):
    """No handler is connected to, and nothing declared, the signal name."""

    kind = "unknown_signal"

    def __init__(self, signal: str):
        self.signal = signal
        super().__init__(
            f"unknown signal {signal!r}: no handler is connected to it "
            "(JS-only signals must be declared with floorkit.declare())"
        )


class InvalidArguments(FloorkitError, TypeError):
    """
    The keyword arguments of a call do not fit a handler's signature.

    ``signal``, ``handler`` (dotted path) and ``argument`` (parameter name, or
    ``None`` when the problem is not about one argument) say exactly where.
    """

    kind = "invalid_arguments"

    def __init__(self, signal: str, handler: str, argument: str | None, reason: str):
        self.signal = signal
        self.handler = handler
        self.argument = argument
        self.reason = reason
        where = f"argument {argument!r}: " if argument else ""
        super().__init__(f"{signal} (handler {handler}): {where}{reason}")


class InvalidTarget(FloorkitError, ValueError):
    """A ``to=`` target cannot be resolved, e.g. ``WINDOW`` without a window."""

    kind = "invalid_target"


class NotAllowed(FloorkitError, PermissionError):
    """A browser called a signal whose handlers are not open to browsers."""

    kind = "not_allowed"


class LoginRequired(FloorkitError, PermissionError):
    """An anonymous caller called a signal that requires a logged-in user."""

    kind = "login_required"


class RedisUnavailable(FloorkitError, ConnectionError):
    """
    Redis could not be reached, so a message or job could not be handed over.

    floorkit never drops a message silently: when this is raised, nothing of
    the failed operation was delivered.
    """

    kind = "redis_unavailable"
