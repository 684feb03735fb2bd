"""The server CPU of floorkit's call path alone: frame text in, result frame out.

    python3 bench/call_path.py [--calls 50000] [--profile]

Runs in one process, in this checkout's .venv: a private redis-server
(``floorkit.delivery.embedded_redis``, for the traces), a ``Tab`` on one end
of a socketpair with the benchmark's settings, and ``handle_frame()`` on a
``bench.echo`` call frame, the call run in place. Prints process CPU µs per
call: decoding, the call, the trace events, encoding and the ``send()`` of the
result, without the loop, the wake, the read or the framing of the incoming
frame, which ``run_ws.py``'s figure holds too. ``--profile`` adds cProfile's
twenty-five largest self times over 20,000 more calls.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

from gevent import monkey

monkey.patch_all()

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=50000)
    ap.add_argument("--profile", action="store_true")
    cfg = ap.parse_args()

    from floorkit.delivery.embedded_redis import EmbeddedRedis

    with EmbeddedRedis() as redis:
        os.environ["FLOORKIT_REDIS_URL"] = redis.url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "floorkit_bench_settings")
        import django

        django.setup()
        measure(cfg.calls, cfg.profile)


def measure(calls: int, profile: bool) -> None:
    import gevent.socket

    from floorkit.signals.request import SignalRequest
    from floorkit.tracing import recorder
    from floorkit.websocket.incoming import handle_frame
    from floorkit.websocket.parking import call_here
    from floorkit.websocket.tab import Tab

    class NoWebSocket:  # the tab only sends: nothing reads through it
        raw_write = None

    sock, peer = gevent.socket.socketpair()
    peer.setblocking(False)
    request = SignalRequest(None, None, None, "w" * 16)  # as run_ws.py's clients: no session
    tab = Tab(NoWebSocket(), sock, request, "token")
    tab.cursor.release()

    def drain() -> None:
        try:
            while peer.recv(1 << 20):
                pass
        except BlockingIOError:
            pass

    frame = '{"type":"call","id":%d,"signal":"bench.echo","kwargs":{"x":%d}}'

    def run(n: int, start: int) -> None:
        frames = [(frame % (i, i)).encode() for i in range(start, start + n)]
        for i, data in enumerate(frames):
            handle_frame(tab, data, call_here)
            if i % 64 == 0:
                drain()
        drain()

    run(5000, 1)  # warm: imports, caches, the Redis connection
    started = time.process_time()
    run(calls, 10_000)
    spent = time.process_time() - started
    recorder.flush()
    print(f"{spent / calls * 1e6:.2f} µs CPU per call ({calls:,} calls, in process)")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(20000, 10_000 + calls)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
