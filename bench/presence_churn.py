"""
Presence churn on one ``runwebsocket`` process: M members sit in a group
while C churners each join and leave it in a loop (the browser's
``floorkit.join`` / ``floorkit.leave`` calls); one member measures the time
from a churner sending its join to that member receiving the churner's
``floorkit.presence`` "joined" event, which goes to every member.

    bench/.venvs/driver/bin/python bench/presence_churn.py [--members 1000]
        [--churners 16] [--duration 10]

Runs in the load driver's venv (asyncio + websockets, bench/setup_peers.sh);
starts a private redis-server and floorkit's server from the project's .venv
(as bench/run_ws.py does). Prints one JSON line: joins + leaves per second,
presence events delivered per second, the join-to-event p50/p99, and the
server's CPU per operation.
"""

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH / "peers")]

import floorkit_adapter  # noqa: E402
import run_ws  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

GROUP = "bench.churn"


def anonymous_member(window: str) -> str:
    """The presence id floorkit gives a window without a session (floorkit.groups.names)."""
    return "anon:" + hashlib.blake2b(f"window:{window}".encode(), digest_size=6).hexdigest()


async def open_tab(url):
    ws = await connect(url, compression=None, max_size=None, ping_interval=None, max_queue=None)
    hello = json.loads(await ws.recv())
    return ws, hello["window"]


async def call(ws, ids, signal, group):
    """Send a call and wait for its answer, skipping pushed frames."""
    n = next(ids)
    await ws.send(
        json.dumps({"type": "call", "id": n, "signal": signal, "kwargs": {"group": group}})
    )
    marker = f'"id":{n},'
    while True:
        msg = await ws.recv()
        if marker in msg and ('"result"' in msg or '"error"' in msg):
            if '"error"' in msg:
                raise RuntimeError(msg[:200])
            return


async def main(args, url):
    import itertools

    ids = itertools.count(1)
    members = []
    sem = asyncio.Semaphore(64)

    async def member():
        async with sem:
            ws, _window = await open_tab(url)
            await call(ws, ids, "floorkit.join", GROUP)
            members.append(ws)

    await asyncio.gather(*(member() for _ in range(args.members)))
    observer = members[0]
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    delivered = [0]

    last_frame = [time.time()]
    churning = [False]

    async def observe():
        async for msg in observer:
            last_frame[0] = time.time()
            if churning[0] and '"floorkit.presence"' in msg:
                delivered[0] += 1
                frame = json.loads(msg)
                for entry in frame["kwargs"]["joined"]:
                    started = sent_at.pop(entry["id"], None)
                    if started is not None:
                        latencies.append(time.time() - started)

    async def drain(ws):  # the other members read their presence events too
        async for _msg in ws:
            last_frame[0] = time.time()

    watchers = [asyncio.create_task(observe())]
    watchers += [asyncio.create_task(drain(ws)) for ws in members[1:]]
    # the members' own joins sent N²/2 presence events: churn starts once they are read
    while time.time() - last_frame[0] < 1.0:
        await asyncio.sleep(0.2)
    churning[0] = True
    operations = [0]
    stop_at = time.time() + args.duration

    async def churner():
        ws, window = await open_tab(url)
        me = anonymous_member(window)
        while time.time() < stop_at:
            sent_at[me] = time.time()
            await call(ws, ids, "floorkit.join", GROUP)
            await call(ws, ids, "floorkit.leave", GROUP)
            operations[0] += 2
        await ws.close()

    started = time.time()
    cpu0 = run_ws.tree_cpu_s(args.server_pid)
    client0 = time.process_time()
    await asyncio.gather(*(churner() for _ in range(args.churners)))
    elapsed = time.time() - started
    cpu = run_ws.tree_cpu_s(args.server_pid) - cpu0
    client_cpu = time.process_time() - client0
    await asyncio.sleep(1)
    for task in watchers:
        task.cancel()
    latencies.sort()
    return {
        "members": args.members,
        "churners": args.churners,
        "joins_and_leaves_per_s": operations[0] / elapsed,
        "presence_events_seen_by_one_member_per_s": delivered[0] / elapsed,
        "join_to_event_p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "join_to_event_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
        "samples": len(latencies),
        "server_cpu_us_per_join_or_leave": cpu / operations[0] * 1e6 if operations[0] else None,
        "server_cpu_pct": cpu / elapsed * 100,
        # one client process reads every member's events: near 100 % it is the bottleneck
        "client_cpu_pct": client_cpu / elapsed * 100,
    }


def run():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--churners", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    run_ws.raise_nofile()
    logdir = Path(run_ws.tempfile.mkdtemp(prefix="bench-churn-"))
    try:
        _redis, redis_url = run_ws.start_redis(logdir)
        port = run_ws.free_port()
        log_path = logdir / "server.log"
        env = {**run_ws.os.environ, **floorkit_adapter.server_env(redis_url)}
        with open(log_path, "w") as log:
            server = run_ws.PROCS.spawn(
                floorkit_adapter.server_command(port),
                env=env,
                cwd=floorkit_adapter.SERVER_CWD,
                stdout=log,
                stderr=run_ws.subprocess.STDOUT,
            )
        run_ws.wait_accept(port, server, 60, log_path)
        args.server_pid = server.pid
        result = asyncio.run(main(args, floorkit_adapter.ws_url(port)))
        print(json.dumps(result), flush=True)
    finally:
        run_ws.PROCS.kill_all()


if __name__ == "__main__":
    run()
