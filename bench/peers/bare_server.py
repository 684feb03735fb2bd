"""Bare gevent-websocket server: the floor of the comparison.

Runs in bench/.venvs/bare. No framework at all:

* call: each text frame ``{"type":"call","id":N,"signal":"bench.echo","kwargs":{...}}``
  is answered with ``{"type":"result","id":N,"ok":true,"results":[kwargs]}``;
* broadcast: one subscriber greenlet listens on the Redis channel
  ``bench:broadcast`` and sends every message verbatim to every connected
  socket, one after the other;
* rooms: ``{"join": ROOM}`` puts the socket in ROOM; a message on
  ``bench:room:<ROOM>`` (the same subscriber, pattern-subscribed) goes to the
  sockets of that room only.

    python bare_server.py --port 8001 --redis-url redis://127.0.0.1:6390/0
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

CHANNEL = "bench:broadcast"
clients = set()
rooms = {}  # room -> sockets


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"websocket only\n"]
    clients.add(ws)
    try:
        while True:
            raw = ws.receive()
            if raw is None:
                break
            msg = json.loads(raw)
            if "join" in msg:
                rooms.setdefault(msg["join"], set()).add(ws)
            elif msg.get("type") == "call":
                ws.send(
                    json.dumps(
                        {
                            "type": "result",
                            "id": msg["id"],
                            "ok": True,
                            "results": [msg.get("kwargs", {})],
                        }
                    )
                )
    except Exception:
        pass
    finally:
        clients.discard(ws)
        for members in rooms.values():
            members.discard(ws)
    return []


def fanout(redis_url):
    pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(CHANNEL)
    pubsub.psubscribe("bench:room:*")
    for item in pubsub.listen():
        data = item["data"]
        if isinstance(data, bytes):
            data = data.decode()
        targets = clients
        if item["type"] == "pmessage":
            targets = rooms.get(item["channel"].decode()[len("bench:room:") :], ())
        for ws in list(targets):
            try:
                ws.send(data)
            except Exception:
                clients.discard(ws)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis-url", required=True)
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gevent.spawn(fanout, args.redis_url)
    server = pywsgi.WSGIServer(
        (args.host, args.port), app, handler_class=WebSocketHandler, log=None, backlog=1024
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
