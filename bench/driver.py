"""Load driver: one client process of the websocket benchmark.

Runs in bench/.venvs/driver (asyncio + websockets on uvloop: on this machine
it costs less client CPU per call than gevent + websocket-client, see
bench/client_probe.py and bench/README.md). run_ws.py starts one or more of
these per scenario, always in processes separate from the server.

Control protocol (line based, so several processes can be started in step):

    driver  -> stdout  READY {"connected": n, "failed": f, "errors": [...]}
    run_ws  -> stdin   GO {...}          (calls: {"start": epoch}; bcast: {"deadline": epoch})
                       CLOSE             (idle: close everything and report)
    driver  -> stdout  RESULT {...}

Modes:
    calls  C connections, each in a closed loop: send a call, await its result,
           repeat; only calls that start and end inside the measured window
           [start + warmup, start + warmup + duration] count.
    bcast  C connections that record publish-to-receipt latency of every
           broadcast frame (a frame containing "bench_seq"/"bench_ts", whatever
           the envelope), until each saw --expect frames or the deadline.
           With --rooms A,B the connections join the rooms in turn (the peer's
           own way, --join-style) before READY; only the members of A wait for
           --expect frames, and frames reaching the others are counted as leaked.
    idle   C connections that just stay open (RSS per idle connection).

Wire protocols (--proto):
    plain     JSON text frames as they are (Channels, bare, floorkit).
    socketio  Engine.IO 4 / Socket.IO 5 over a websocket-only transport:
              call = ``42<id>["call",{...}]``, result = ack ``43<id>[{...}]``,
              broadcast = ``42["bcast",{...}]``; pings ``2`` answered ``3``.
"""

import argparse
import asyncio
import json
import re
import resource
import sys
import time

from websockets.asyncio.client import connect

TS_RE = re.compile(r'\\?"bench_ts\\?"\s*:\s*([0-9.eE+-]+)')


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def emit(tag, obj):
    sys.stdout.write(f"{tag} {json.dumps(obj)}\n")
    sys.stdout.flush()


async def read_line():
    loop = asyncio.get_running_loop()
    return (await loop.run_in_executor(None, sys.stdin.readline)).strip()


def call_frame(n):
    return json.dumps({"type": "call", "id": n, "signal": "bench.echo", "kwargs": {"x": n}})


class Conn:
    """One websocket connection speaking the peer's wire protocol."""

    def __init__(self, ws, proto):
        self.ws = ws
        self.proto = proto

    @classmethod
    async def open(cls, url, proto, hello):
        ws = await connect(
            url,
            compression=None,
            max_size=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
            max_queue=None,
        )
        self = cls(ws, proto)
        if proto == "socketio":
            first = await ws.recv()
            if not first.startswith("0"):
                raise RuntimeError(f"engine.io open expected, got {first[:80]!r}")
            await ws.send("40")
            while True:
                msg = await ws.recv()
                if msg.startswith("40"):
                    break
                if msg.startswith("44"):
                    raise RuntimeError(f"socket.io connect refused: {msg[:80]!r}")
                await self.handle_control(msg)
        for frame in hello:
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        return self

    async def join(self, room, style):
        """Join ``room`` the peer's way and wait until it is done (where the peer says so)."""
        ws = self.ws
        if style == "socketio":
            await ws.send("421" + json.dumps(["join", room]))
            done = lambda msg: msg.startswith("431")  # noqa: E731
        elif style == "floorkit":
            frame = {"type": "call", "id": 1, "signal": "floorkit.join", "kwargs": {"group": room}}
            await ws.send(json.dumps(frame))
            done = lambda msg: '"id":1' in msg and ('"result"' in msg or '"error"' in msg)  # noqa: E731
        else:
            await ws.send(json.dumps({"join": room}))
            if style != "channels":
                return
            done = lambda msg: '"joined"' in msg  # noqa: E731
        while True:
            msg = await ws.recv()
            if done(msg):
                if '"error"' in msg:
                    raise RuntimeError(f"join refused: {msg[:120]!r}")
                return
            await self.handle_control(msg)

    async def handle_control(self, msg):
        if self.proto == "socketio" and msg == "2":
            await self.ws.send("3")

    async def call(self, n):
        ws = self.ws
        if self.proto == "socketio":
            await ws.send(
                f"42{n}"
                + json.dumps(
                    ["call", {"type": "call", "id": n, "signal": "bench.echo", "kwargs": {"x": n}}]
                )
            )
            prefix = f"43{n}["
            while True:
                msg = await ws.recv()
                if msg.startswith(prefix):
                    res = json.loads(msg[len(prefix) - 1 :])[0]
                    if res.get("type") == "result" and res.get("id") == n:
                        return
                    raise RuntimeError(f"bad ack {msg[:120]!r}")
                await self.handle_control(msg)
        else:
            await ws.send(call_frame(n))
            while True:
                msg = await ws.recv()
                if '"result"' in msg:
                    res = json.loads(msg)
                    if res.get("type") == "result" and res.get("id") == n:
                        if res.get("ok") is not True or res.get("results") != [{"x": n}]:
                            raise RuntimeError(f"bad result {msg[:120]!r}")
                        return


async def open_all(args, count):
    sem = asyncio.Semaphore(args.connect_concurrency)
    hello = json.loads(args.hello) if args.hello else []
    errors = []

    async def one():
        async with sem:
            for attempt in range(3):
                try:
                    return await Conn.open(args.url, args.proto, hello)
                except Exception as exc:  # noqa: BLE001 - reported to run_ws
                    if attempt == 2:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    await asyncio.sleep(0.2 * (attempt + 1))
            return None

    conns = await asyncio.gather(*(one() for _ in range(count)))
    ok = [c for c in conns if c is not None]
    return ok, len(conns) - len(ok), sorted(set(errors))[:5]


async def close_all(conns):
    async def one(c):
        try:
            await asyncio.wait_for(c.ws.close(), 3)
        except Exception:  # noqa: BLE001
            pass

    await asyncio.gather(*(one(c) for c in conns))


async def mode_calls(args):
    conns, failed, errors = await open_all(args, args.clients)
    emit("READY", {"connected": len(conns), "failed": failed, "errors": errors})
    go = await read_line()
    if not go.startswith("GO"):
        return
    start = json.loads(go[2:])["start"]
    w0 = start + args.warmup
    w1 = w0 + args.duration
    lat_us = []
    errs = []
    cpu = {}

    async def loop(conn, base):
        n = base
        while True:
            now = time.time()
            if now >= w1:
                return
            n += 1
            t0 = time.perf_counter()
            in_window = now >= w0
            try:
                await conn.call(n)
            except Exception as exc:  # noqa: BLE001
                errs.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            if in_window and time.time() <= w1:
                lat_us.append(int((time.perf_counter() - t0) * 1e6))

    async def cpu_sampler():
        await asyncio.sleep(max(0.0, w0 - time.time()))
        cpu["c0"] = cpu_seconds()
        await asyncio.sleep(max(0.0, w1 - time.time()))
        cpu["c1"] = cpu_seconds()

    delay = start - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    sampler = asyncio.create_task(cpu_sampler())
    await asyncio.gather(*(loop(c, i * 10_000_000) for i, c in enumerate(conns)))
    await sampler
    emit(
        "RESULT",
        {
            "calls": len(lat_us),
            "lat_us": lat_us,
            "window_s": args.duration,
            "client_cpu_s": cpu["c1"] - cpu["c0"],
            "errors": sorted(set(errs))[:5],
            "connected": len(conns),
        },
    )
    await close_all(conns)


async def mode_bcast(args):
    conns, failed, errors = await open_all(args, args.clients)
    rooms = args.rooms.split(",") if args.rooms else []
    members = conns
    if rooms:
        # a few joins at a time: with presence, every join is an event to every member
        # (N joins, N²/2 frames), a storm this scenario is not about (presence_churn.py is)
        sem = asyncio.Semaphore(args.join_concurrency)

        async def join(i, conn):
            async with sem:
                await conn.join(rooms[i % len(rooms)], args.join_style)

        await asyncio.gather(*(join(i, c) for i, c in enumerate(conns)))

        async def settle(conn):  # read what the joins caused until the line is quiet
            while True:
                try:
                    msg = await asyncio.wait_for(conn.ws.recv(), 1.0)
                except TimeoutError:
                    return
                await conn.handle_control(msg)

        await asyncio.gather(*(settle(c) for c in conns))
        members = [c for i, c in enumerate(conns) if i % len(rooms) == 0]
    emit("READY", {"connected": len(conns), "failed": failed, "errors": errors})
    go = await read_line()
    if not go.startswith("GO"):
        return
    deadline = json.loads(go[2:])["deadline"]
    c0, t_go = cpu_seconds(), time.time()
    lat_us = []
    last_recv = [0.0]
    first_recv = [0.0]
    bad = [0]
    leaked = [0]
    other = [0]

    async def outsider(conn):  # not in the room: every frame it gets is a leak
        async for msg in conn.ws:
            if "bench_ts" in msg:
                leaked[0] += 1
            else:
                await conn.handle_control(msg)

    async def reader(conn):
        got = 0
        ws = conn.ws
        while got < args.expect:
            try:
                msg = await ws.recv()
            except Exception:  # noqa: BLE001 - closed: stop counting this client
                return
            now = time.time()
            if "bench_ts" in msg:
                m = TS_RE.search(msg)
                if m is None:
                    bad[0] += 1
                    continue
                lat_us.append(int((now - float(m.group(1))) * 1e6))
                got += 1
                if not first_recv[0]:
                    first_recv[0] = now
                last_recv[0] = now
            else:
                other[0] += 1
                await conn.handle_control(msg)

    tasks = [asyncio.create_task(reader(c)) for c in members]
    others = [asyncio.create_task(outsider(c)) for c in conns if c not in members]
    _done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.time()))
    for t in [*pending, *others]:
        t.cancel()
    timed_out = len(pending)
    c1, t_end = cpu_seconds(), time.time()
    emit(
        "RESULT",
        {
            "received": len(lat_us),
            "lat_us": lat_us,
            "first_recv": first_recv[0],
            "last_recv": last_recv[0],
            "client_cpu_s": c1 - c0,
            "wall_s": t_end - t_go,
            "unparsed": bad[0],
            "connected": len(conns),
            "members": len(members),
            "leaked": leaked[0],
            "other_frames": other[0],
            "clients_timed_out": timed_out,
        },
    )
    await close_all(conns)


async def mode_idle(args):
    conns, failed, errors = await open_all(args, args.clients)

    async def drain(conn):
        try:
            async for msg in conn.ws:
                await conn.handle_control(msg)
        except Exception:  # noqa: BLE001
            pass

    tasks = [asyncio.create_task(drain(c)) for c in conns]
    emit("READY", {"connected": len(conns), "failed": failed, "errors": errors})
    await read_line()
    alive = sum(1 for t in tasks if not t.done())
    await close_all(conns)
    for t in tasks:
        t.cancel()
    emit("RESULT", {"connected": len(conns), "alive_at_close": alive})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["calls", "bcast", "idle"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--proto", choices=["plain", "socketio"], default="plain")
    ap.add_argument("--hello", default="", help="JSON list of frames sent after connecting")
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument(
        "--rooms", default="", help="bcast: rooms joined in turn (the first is sent to)"
    )
    ap.add_argument("--join-concurrency", type=int, default=4)
    ap.add_argument(
        "--join-style", choices=["plain", "channels", "socketio", "floorkit"], default="plain"
    )
    ap.add_argument("--connect-concurrency", type=int, default=64)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    coro = {"calls": mode_calls, "bcast": mode_bcast, "idle": mode_idle}[args.mode](args)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
