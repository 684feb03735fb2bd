"""
What a large group costs: N members joined through the real scripts, then the
Redis memory they take and the time to read a page of presence and to send
one message to the group.

    .venv/bin/python bench/presence_cost.py            # 10,000 members
    .venv/bin/python bench/presence_cost.py --members 1000

Starts a private Redis on a free port; prints one line per measure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    import django

    from floorkit.testing import run_redis

    with run_redis(port=0) as server:
        os.environ["FLOORKIT_REDIS_URL"] = server.url
        django.setup()
        from django.conf import settings

        settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": server.url, "TRACE": False}
        from floorkit import Group, SignalRequest, call, join, presence
        from floorkit.delivery.redis_client import get_redis
        from floorkit.groups import windows

        redis = get_redis()
        before = redis.info("memory")["used_memory"]
        started = time.perf_counter()
        for n in range(args.members):
            request = SignalRequest(username=f"user{n}", session=f"s{n}", window=f"w{n}")
            windows.connect(request, "bench-holder", "c", time.time() + 3600)
            join(request, "bench.big", meta={"name": f"User {n}", "color": "#3366ff"})
        took = time.perf_counter() - started
        used = redis.info("memory")["used_memory"] - before
        print(f"members: {args.members}")
        print(f"connect + join: {took / args.members * 1e6:.0f} us per member (one process)")
        print(
            f"Redis memory: {used / args.members:.0f} bytes per member in all "
            f"({used / 2**20:.1f} MiB: message logs of each window included)"
        )
        group_keys = [f"floorkit:{kind}:bench.big" for kind in ("pjoin", "pmeta", "pcnt")]
        presence_bytes = sum(redis.memory_usage(k, samples=0) or 0 for k in group_keys)
        window_keys = ["floorkit:win:w1", "floorkit:wgrp:w1", "floorkit:grp:window:w1"]
        window_bytes = sum(redis.memory_usage(k, samples=0) or 0 for k in window_keys)
        log_bytes = redis.memory_usage("floorkit:log:window:w1", samples=0) or 0
        print(f"  the group's presence: {presence_bytes / args.members:.0f} bytes per member")
        print(f"  each connected window's records and membership: {window_bytes} bytes")
        print(
            f"  each window's message log (the join's notice): {log_bytes} bytes, "
            "expiring after LOG_RETENTION"
        )
        reads = []
        for _ in range(50):
            started = time.perf_counter()
            page = presence("bench.big", limit=100, offset=args.members // 2)
            reads.append(time.perf_counter() - started)
        assert page.count == args.members and len(page.members) == 100
        print(
            f"presence(limit=100) from the middle: median {statistics.median(reads) * 1e3:.2f} ms"
        )
        sends = []
        for _ in range(50):
            started = time.perf_counter()
            call("demo.chat.show", None, Group("bench.big"), text="x", room="big", author=None)
            sends.append(time.perf_counter() - started)
        print(
            f"call() to the group: median {statistics.median(sends) * 1e3:.2f} ms "
            "(one log write, one publish)"
        )


if __name__ == "__main__":
    main()
