"""
The options of one send: the run mode (``resolve_run_mode``) and
``SendOptions``, what ``AsyncSignal.options()`` returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from floorkit import conf

if TYPE_CHECKING:  # pragma: no cover
    from floorkit.async_signals.receivers import Responses
    from floorkit.async_signals.signal import AsyncSignal

__all__ = ["RUN_MODES", "SendOptions", "resolve_run_mode"]

RUN_MODES = ("async", "sync", "eager")


def resolve_run_mode(override: str | None = None) -> str:
    """
    Return the run mode of a send: ``override`` if given, else
    ``$FLOORKIT_ASYNC_RUN_MODE`` if set, else ``FLOORKIT["ASYNC_RUN_MODE"]``
    (default ``"async"``). Raise ``ImproperlyConfigured`` for a mode that is
    not ``"async"``, ``"sync"`` or ``"eager"``.
    """
    mode = override if override is not None else conf.get("ASYNC_RUN_MODE")
    if mode not in RUN_MODES:
        source = "run_mode" if override is not None else conf.source("ASYNC_RUN_MODE")
        raise ImproperlyConfigured(f"{source} is {mode!r}; use one of {', '.join(RUN_MODES)}")
    return mode


class SendOptions:
    """One call's options for an ``AsyncSignal`` (``AsyncSignal.options()``)."""

    __slots__ = ("signal", "run_mode", "on_commit")

    def __init__(self, signal: AsyncSignal, run_mode: str | None, on_commit: bool | None):
        self.signal = signal
        self.run_mode = run_mode
        self.on_commit = on_commit

    def send(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.send()`` with these options."""
        return self.signal._dispatch(sender, named, self.run_mode, self.on_commit, robust=False)

    def send_robust(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.send_robust()`` with these options."""
        return self.signal._dispatch(sender, named, self.run_mode, self.on_commit, robust=True)

    async def asend(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.asend()`` with these options."""
        return await self.signal._adispatch(
            sender, named, self.run_mode, self.on_commit, robust=False
        )

    async def asend_robust(self, sender: Any = None, **named: Any) -> str | Responses:
        """``AsyncSignal.asend_robust()`` with these options."""
        return await self.signal._adispatch(
            sender, named, self.run_mode, self.on_commit, robust=True
        )
