"""
Old import path of ``AsyncSignal``, kept for one release:
``floorkit.async_signal.deliver`` is the function path of the jobs that
earlier releases wrote, and they may still wait in a queue; it is
``floorkit.async_signals.job.run_receivers``, the function path of new jobs.
New code imports ``from floorkit import AsyncSignal``.
"""

from floorkit.async_signals.job import run_receivers as deliver
from floorkit.async_signals.signal import AsyncSignal

__all__ = ["AsyncSignal", "deliver"]
