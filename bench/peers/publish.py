"""Broadcast publisher, run as its own process in the peer's virtualenv.

    python publish.py --peer bare|socketio|channels|floorkit --redis-url URL
                      --count M [--rate R] [--room ROOM]

Sends M broadcast payloads ``{"bench_seq": i, "bench_ts": <time.time()>}`` as
fast as possible (``--rate 0``) or paced at R messages/s, through the peer's
own publish path (to the members of ROOM only, with ``--room``: a Socket.IO
room, a Channels group, a floorkit Group, the bare server's room), then prints one JSON line ``{"t0":..,"t1":..,"sent":M}``.
Exit code 3 means the peer's publish hook is not implemented.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def payload(i):
    return {"bench_seq": i, "bench_ts": time.time()}


def pace(t0, i, rate):
    if rate > 0:
        delay = t0 + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)


def run_sync(send, count, rate):
    t0 = time.time()
    for i in range(count):
        pace(t0, i, rate)
        send(payload(i))
    return t0, time.time()


def publish_bare(url, count, rate, room=None):
    import redis

    r = redis.Redis.from_url(url)
    channel = f"bench:room:{room}" if room else "bench:broadcast"
    return run_sync(lambda p: r.publish(channel, json.dumps(p)), count, rate)


def publish_socketio(url, count, rate, room=None):
    import socketio

    mgr = socketio.RedisManager(url, channel="bench-socketio", write_only=True)
    return run_sync(lambda p: mgr.emit("bcast", p, namespace="/", to=room), count, rate)


def publish_channels(url, count, rate, room=None):
    import asyncio

    from channels_redis.pubsub import RedisPubSubChannelLayer

    async def go():
        layer = RedisPubSubChannelLayer(hosts=[url])
        t0 = time.time()
        for i in range(count):
            if rate > 0:
                delay = t0 + i / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await layer.group_send(
                room or "bench", {"type": "bench.broadcast", "text": json.dumps(payload(i))}
            )
        t1 = time.time()
        await layer.flush()
        return t0, t1

    return asyncio.run(go())


def publish_floorkit(url, count, rate, room=None):
    sys.path.insert(0, HERE)
    import floorkit_adapter

    try:
        send = floorkit_adapter.floorkit_publisher(url, room)
        return run_sync(send, count, rate)
    except NotImplementedError as exc:
        print(f"publish_floorkit not implemented: {exc}", file=sys.stderr)
        sys.exit(3)


PUBLISHERS = {
    "bare": publish_bare,
    "socketio": publish_socketio,
    "channels": publish_channels,
    "floorkit": publish_floorkit,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, choices=sorted(PUBLISHERS))
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--room", default=None)
    args = ap.parse_args()
    t0, t1 = PUBLISHERS[args.peer](args.redis_url, args.count, args.rate, args.room)
    print(json.dumps({"t0": t0, "t1": t1, "sent": args.count}), flush=True)


if __name__ == "__main__":
    main()
