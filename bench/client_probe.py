"""Which load client is faster here? Run in bench/.venvs/driver.

Compares, against one already running plain-JSON peer (the bare
gevent-websocket server is the natural target), the same closed loop of
round-trip calls (C concurrent connections, D seconds) with:

* ``asyncio``: asyncio + websockets (default event loop)
* ``uvloop``:  asyncio + websockets on uvloop
* ``gevent``:  gevent + websocket-client (monkey-patched)

and prints calls/s, the client's CPU use (a client near 100 % of a core is
the bottleneck), and CPU microseconds per call.

    bench/.venvs/driver/bin/python bench/client_probe.py ws://127.0.0.1:PORT/ --backend uvloop
"""

import argparse
import json
import resource
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def frame(n):
    return json.dumps({"type": "call", "id": n, "signal": "bench.echo", "kwargs": {"x": n}})


def run_asyncio(url, clients, duration, use_uvloop):
    import asyncio

    from websockets.asyncio.client import connect

    async def one(end, counter):
        async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
            n = 0
            while time.perf_counter() < end:
                n += 1
                await ws.send(frame(n))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg.get("type") == "result" and msg.get("id") == n:
                        break
                counter[0] += 1

    async def go():
        counter = [0]
        end = time.perf_counter() + duration
        await asyncio.gather(*(one(end, counter) for _ in range(clients)))
        return counter[0]

    if use_uvloop:
        import uvloop

        return uvloop.run(go())
    return asyncio.run(go())


def run_gevent(url, clients, duration):
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import websocket

    counter = [0]
    end = time.perf_counter() + duration

    def one():
        ws = websocket.create_connection(url, enable_multithread=False)
        n = 0
        while time.perf_counter() < end:
            n += 1
            ws.send(frame(n))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("type") == "result" and msg.get("id") == n:
                    break
            counter[0] += 1
        ws.close()

    gevent.joinall([gevent.spawn(one) for _ in range(clients)], raise_error=True)
    return counter[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--backend", choices=["asyncio", "uvloop", "gevent"], required=True)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=3.0)
    args = ap.parse_args()
    c0, w0 = cpu(), time.perf_counter()
    if args.backend == "gevent":
        n = run_gevent(args.url, args.clients, args.duration)
    else:
        n = run_asyncio(args.url, args.clients, args.duration, args.backend == "uvloop")
    c1, w1 = cpu(), time.perf_counter()
    print(
        json.dumps(
            {
                "backend": args.backend,
                "clients": args.clients,
                "calls_per_s": round(n / (w1 - w0)),
                "client_cpu_pct": round(100 * (c1 - c0) / (w1 - w0)),
                "client_cpu_us_per_call": round(1e6 * (c1 - c0) / max(n, 1), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
