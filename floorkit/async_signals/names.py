"""
The names of async signals: the registry a worker finds a signal in by the
name its job carries.

A signal gets its name at start-up (``collect()``, called by signal discovery
for every signals module) or from ``register()``. Names are checked with
``floorkit.signals.registry.check_name``, the rule of every signal name.
This registry is separate from ``floorkit.signals.registry``: it holds
``AsyncSignal`` objects, not handlers, and a name here may also be the name
of a handler signal.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING

from floorkit.exceptions import UnknownSignal
from floorkit.signals.registry import check_name

if TYPE_CHECKING:  # pragma: no cover
    from floorkit.async_signals.signal import AsyncSignal

__all__ = [
    "UnregisteredSignal",
    "all_signals",
    "collect",
    "get_signal",
    "is_registered",
    "register",
    "unregister",
]


class UnregisteredSignal(UnknownSignal):
    """
    An ``AsyncSignal`` has no name a worker could find it by, or no signal of
    this process has the name a job carries.
    """

    kind = "unregistered_signal"

    def __init__(self, message: str, signal: str | None = None):
        self.signal = signal
        LookupError.__init__(self, message)


# Invariant: signal._name == name exactly when _signals[name] is signal.
_lock = threading.Lock()
_signals: dict[str, AsyncSignal] = {}


def register(signal: AsyncSignal, name: str) -> AsyncSignal:
    """
    Give ``signal`` the name workers find it by, and return it.

    Needed only for a signal that is not a module-level attribute of an app's
    ``signals`` module or of a module in ``FLOORKIT["SIGNAL_MODULES"]``; those
    are named ``<module>.<attribute>`` at start-up. Call it at import time of
    a module that every process (web and worker) imports.

    Registering the same signal under the same name again does nothing. Raise
    ``ValueError`` when the signal already has another name or the name
    belongs to another signal, ``InvalidSignalName`` for a name that is not
    dotted identifiers, and ``TypeError`` for something not an ``AsyncSignal``.
    """
    from floorkit.async_signals.signal import AsyncSignal

    if not isinstance(signal, AsyncSignal):
        raise TypeError(f"floorkit.register() takes an AsyncSignal, got {signal!r}")
    return _register(signal, check_name(name), replace=False)


def _register(signal: AsyncSignal, name: str, replace: bool) -> AsyncSignal:
    with _lock:
        if signal._name is not None:
            if signal._name == name:
                return signal
            raise ValueError(f"this AsyncSignal is already registered as {signal._name!r}")
        other = _signals.get(name)
        if other is not None and other is not signal:
            if not replace:
                raise ValueError(f"the name {name!r} already belongs to another AsyncSignal")
            other._name = None  # a re-executed module: the new object takes the name
        signal._name = name
        _signals[name] = signal
    return signal


def unregister(signal: AsyncSignal) -> None:
    """Forget the name of ``signal`` (tests)."""
    with _lock:
        if signal._name is not None and _signals.get(signal._name) is signal:
            del _signals[signal._name]
        signal._name = None


def is_registered(signal: AsyncSignal) -> bool:
    """Whether a worker of this process would find ``signal`` by its name."""
    return signal._name is not None and _signals.get(signal._name) is signal


def get_signal(name: str) -> AsyncSignal:
    """Return the async signal named ``name``; raise ``UnregisteredSignal`` if none is."""
    signal = _signals.get(name)
    if signal is None:
        raise UnregisteredSignal(
            f"no AsyncSignal named {name!r} in this process: define it at module level in "
            "an app's signals module or in FLOORKIT['SIGNAL_MODULES'], or floorkit.register() it",
            name,
        )
    return signal


def all_signals() -> list[AsyncSignal]:
    """Every named async signal, sorted by name."""
    return [_signals[name] for name in sorted(_signals)]


def collect(module: ModuleType) -> list[AsyncSignal]:
    """
    Name the ``AsyncSignal`` instances among the attributes of ``module`` (a
    signals module being discovered) that have no name yet, and return every
    async signal found there.

    A signal is named ``<defining module>.<attribute>``: after the module that
    created it, even when ``module`` merely imported it, so that its name does
    not depend on where it is re-exported. A signal of a re-executed module
    takes over its name from the previous object.
    """
    from floorkit.async_signals.signal import AsyncSignal

    found = []
    for attribute, value in list(vars(module).items()):
        if not isinstance(value, AsyncSignal):
            continue
        if value._name is None:
            _register(value, _home_name(value, module, attribute), replace=True)
        found.append(value)
    return found


def _home_name(signal: AsyncSignal, module: ModuleType, attribute: str) -> str:
    home = sys.modules.get(signal._module or "")
    if home is not None and home is not module:
        for home_attribute, value in vars(home).items():
            if value is signal:
                return f"{home.__name__}.{home_attribute}"
    return f"{module.__name__}.{attribute}"
