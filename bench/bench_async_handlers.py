"""
What running an ``async def`` handler from sync code costs per call, for the
ways of running a coroutine that docs/decisions.md weighs, and whether 50
concurrent calls awaiting 200 ms overlap:

* ``direct``: a plain ``def`` handler called directly (the floor);
* ``call_sync``: floorkit's runner (``floorkit.signals.coroutines``): asgiref's
  ``async_to_sync``, a loop of its own per call, greenlet-local loops under gevent;
* ``asyncio.run``: a new loop per call in the calling greenlet (greenlet-local
  loops under gevent), without asgiref (sync_to_async work would leave the call);
* ``shared loop``: one loop in a greenlet of its own, calls submitted with
  ``run_coroutine_threadsafe`` (gevent only; sync_to_async work goes to one
  shared executor).

Plus, under gevent, the cost per greenlet switch of the loop-parking tracer.

    python bench/bench_async_handlers.py [--calls 2000]

Each variant runs in a fresh subprocess: ``gevent`` (monkey-patched, as
``runwebsocket``) and ``threads`` (as a WSGI worker or an RQ worker).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def handler(request, value):
    return value


async def sleeper(request, seconds):
    import asyncio

    await asyncio.sleep(seconds)
    return seconds


def plain(request, value):
    return value


def per_call(run, calls: int) -> float:
    """Microseconds per call of ``run(i)``, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for i in range(calls):
            run(i)
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


def child(mode: str, calls: int) -> dict:
    if mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    import asyncio

    sys.path.insert(0, str(ROOT))
    from floorkit.signals.coroutines import call_sync, greenlet_local_loops

    out: dict = {"mode": mode}
    patched = greenlet_local_loops()
    out["direct"] = per_call(lambda i: call_sync(plain, None, i), calls)
    out["call_sync"] = per_call(lambda i: call_sync(handler, None, i), calls)
    out["asyncio.run"] = per_call(lambda i: asyncio.run(handler(None, i)), calls)
    if patched:
        import gevent

        loop = asyncio.new_event_loop()
        gevent.spawn(loop.run_forever)
        gevent.sleep(0)
        out["shared loop"] = per_call(
            lambda i: asyncio.run_coroutine_threadsafe(handler(None, i), loop).result(), calls
        )
        loop.call_soon_threadsafe(loop.stop)

        started = time.perf_counter()
        sleepers = [gevent.spawn(call_sync, sleeper, None, 0.2) for _ in range(50)]
        gevent.joinall(sleepers)
        out["50 x 200 ms concurrent (ms)"] = (time.perf_counter() - started) * 1000
        assert all(g.value == 0.2 for g in sleepers), [g.exception for g in sleepers]

        import greenlet

        def switches(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                gevent.sleep(0)
            return (time.perf_counter() - started) / n * 1e6

        with_tracer = min(switches(calls * 10) for _ in range(3))
        previous = greenlet.settrace(None)
        without = min(switches(calls * 10) for _ in range(3))
        greenlet.settrace(previous)
        out["gevent.sleep(0) with tracer (us)"] = with_tracer
        out["gevent.sleep(0) without tracer (us)"] = without
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--child", choices=["gevent", "threads"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls)))
        return
    for mode in ("gevent", "threads"):
        output = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--calls", str(args.calls)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(output.splitlines()[-1])
        print(f"{mode}:")
        for key, value in result.items():
            if key != "mode":
                unit = "" if "(" in key else " us/call"
                print(f"  {key:38} {value:9.1f}{unit}")


if __name__ == "__main__":
    main()
