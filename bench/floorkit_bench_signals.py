"""
The benchmark's signals: an echo handler, a JS-only broadcast, and open bench rooms.

``FLOORKIT_BENCH_ECHO_WORK_US=N`` in the server's environment makes the echo
handler burn N µs of CPU before it answers (a handler with work to do, such
as rendering a template): calls are then bound by the server's cores, not
by the load driver's, which is what ``runwebsocket --processes`` is for. Only
floorkit's servers read it: compare ``floorkit`` with ``floorkit2`` under it,
never with the other peers.
"""

import os
import time

from floorkit import connect, declare, group

declare("bench.broadcast")

WORK_SECONDS = int(os.environ.get("FLOORKIT_BENCH_ECHO_WORK_US", "0")) / 1e6


@connect(path="bench.echo", auth_required=False)
def echo(request, **kwargs):
    if WORK_SECONDS:
        until = time.perf_counter() + WORK_SECONDS
        while time.perf_counter() < until:
            pass
    return kwargs


@group("bench.{room}", auth_required=False)
def can_join(request, room: str):
    return True
