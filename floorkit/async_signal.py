"""
Old import path of ``AsyncSignal``, kept for one release:
``floorkit.async_signal.deliver`` is the function path of the jobs that
floorkit 0.x wrote, and they may still wait in a queue.
New code imports ``from floorkit import AsyncSignal``.
"""

from floorkit.async_signals.signal import AsyncSignal, deliver

__all__ = ["AsyncSignal", "deliver"]
