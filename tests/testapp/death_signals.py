"""
Jobs that hang on their first attempt, for tests/test_worker_death.py (loaded by
the workers through SIGNAL_MODULES): the test kills the worker running them.
"""

from __future__ import annotations

import time
from typing import Any

from floorkit import AsyncSignal, connect, register
from floorkit.delivery.redis_client import get_redis
from tests.testapp.signals import report


def _attempt(marker: str) -> int:
    """1 on the first run of this marker's job, 2 on the next, ..."""
    return int(get_redis().incr(f"tests:attempt:{marker}"))


@connect(path="death.hangs_once", delayed=True, retry=3)
def hangs_once(request, marker: str):
    attempt = _attempt(marker)
    report("death", marker=marker, attempt=attempt)
    if attempt == 1:
        time.sleep(300)  # killed meanwhile


@connect(path="death.hangs_always", delayed=True)
def hangs_always(request, marker: str):
    report("death", marker=marker, attempt=_attempt(marker))
    time.sleep(300)


# the name discovery gives it in the workers (SIGNAL_MODULES), given here for the test process
hangs = register(AsyncSignal(retry=2), "tests.testapp.death_signals.hangs")


def on_hangs(sender: Any, marker: str, **kwargs: Any) -> None:
    attempt = _attempt(marker)
    report("death", marker=marker, attempt=attempt)
    if attempt == 1:
        time.sleep(300)


hangs.connect(on_hangs)
