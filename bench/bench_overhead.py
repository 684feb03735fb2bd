"""
What tracing and the message log cost, measured on bench/run_ws.py's floorkit
scenarios in one run, variants interleaved:

* ``full``: the defaults (tracing on, message log on);
* ``notrace``: ``FLOORKIT["TRACE"] = False`` — the cost of tracing on calls;
* ``nolog``: ``FLOORKIT["MESSAGE_LOG"] = False`` — the cost of the log on
  broadcast fan-out.

    python bench/bench_overhead.py [--runs 3] [--duration 3]

Also prints the Redis memory per idle window log (bytes per window stream
holding one message), measured on a private redis-server.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = {
    "full": "floorkit_bench_settings",
    "notrace": "floorkit_bench_settings_notrace",
    "nolog": "floorkit_bench_settings_nolog",
}


def run_variant(settings: str, duration: float) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "FLOORKIT_BENCH_SETTINGS": settings}
        subprocess.run(
            [sys.executable, str(HERE / "run_ws.py"), "--peers", "floorkit", "--runs", "1",
             "--no-setup", "--duration", str(duration), "--idle-clients", "50", "--out", out.name],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return json.load(open(out.name))["medians"]["floorkit"]


def window_log_memory(count: int = 2000) -> float:
    sys.path[:0] = [str(ROOT), str(HERE)]
    os.environ["DJANGO_SETTINGS_MODULE"] = "floorkit_bench_settings"
    from floorkit.delivery.embedded_redis import EmbeddedRedis

    with EmbeddedRedis(port=0) as server:
        os.environ["FLOORKIT_REDIS_URL"] = server.url
        import django

        django.setup()
        from floorkit import WINDOW, SignalRequest, call
        from floorkit.delivery.redis_client import get_redis

        client = get_redis()
        before = client.info("memory")["used_memory"]
        for n in range(count):
            call("bench.broadcast", SignalRequest(window=f"w{n:06d}"), WINDOW, bench_seq=n)
        after = client.info("memory")["used_memory"]
        from floorkit.tracing import recorder

        recorder.flush()
        return (after - before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for run in range(args.runs):
        for name, settings in VARIANTS.items():
            results[name].append(run_variant(settings, args.duration))
            print(f"run {run + 1}/{args.runs} {name}: {results[name][-1]}", file=sys.stderr)

    def median(name: str, metric: str) -> float:
        return statistics.median(r[metric] for r in results[name])

    print(f"\nMedians over {args.runs} interleaved runs (floorkit runwebsocket, 2 cores):\n")
    print("| metric | full | without | cost |")
    print("|---|---|---|---|")
    for metric, other in [
        ("calls1_rps", "notrace"),
        ("calls50_rps", "notrace"),
        ("bcast100_dps", "nolog"),
        ("bcast1000_dps", "nolog"),
    ]:
        full, without = median("full", metric), median(other, metric)
        what = "tracing" if other == "notrace" else "message log"
        print(
            f"| {metric} | {full:.0f} | {without:.0f} (no {what}) | {100 * (1 - full / without):+.1f}% |"
        )
    print(f"\nRedis memory per idle window log (one message): {window_log_memory():.0f} bytes")


if __name__ == "__main__":
    main()
