"""
Handlers that browsers await (``{wait: true}``), for tests/test_job_wait.py,
loaded through SIGNAL_MODULES by its server and its workers. Open to
anonymous browsers.
"""

from __future__ import annotations

import time

from floorkit import call, connect


@connect(path="wait.steps", delayed=True, auth_required=False)
def steps(request, n: int = 3):
    """Reports ``n`` steps, then returns what it did."""
    for step in range(1, n + 1):
        request.progress(step, n, f"step {step} of {n}")
    return {"steps": n, "window": request.window}


@connect(path="wait.fails", delayed=True, auth_required=False, retry=1)
def fails(request, secret: str = "s3cret"):
    """Fails on every attempt, with a text that must stay in the worker's log."""
    request.progress(1, 2, "about to fail")
    raise RuntimeError(f"the detail {secret} stays on the server")


@connect(path="wait.pair", auth_required=False)
def pair_inline(request, x: int = 1):
    return {"inline": x}


@connect(path="wait.pair", delayed=True, auth_required=False)
def pair_first(request, x: int = 1):
    return {"first": x}


@connect(path="wait.pair", delayed=True, auth_required=False)
def pair_second(request, x: int = 1):
    return {"second": x}


@connect(path="wait.inline", auth_required=False)
def inline_only(request, x: int = 1):
    """Inline: its progress reaches a waiting call too, before the answer."""
    request.progress(1, 1, "inline work")
    return {"inline": x}


@connect(path="wait.nested", delayed=True, auth_required=False)
def nested(request):
    """Calls a delayed signal with its own request: nobody awaits that job."""
    return {"nested": call("wait.steps", request, n=1).jobs}


@connect(path="wait.hangs", delayed=True, auth_required=False, retry=0)
def hangs(request):
    """Says it started, then hangs: the test kills its worker."""
    request.progress(0, 1, "hanging")
    time.sleep(300)
