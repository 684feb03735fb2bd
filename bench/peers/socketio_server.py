"""python-socketio peer, gevent mode, served by gevent-websocket.

Runs in bench/.venvs/socketio.

* call: socket.io event ``call`` with an ack; the handler returns
  ``{"type":"result","id":N,"ok":true,"results":[kwargs]}`` as the ack payload
  (on the wire: client ``42<N>["call",{...}]``, server ``43<N>[{...}]``);
* broadcast: ``socketio.RedisManager`` client manager, so an external
  write-only ``RedisManager.emit("bcast", payload)`` in another process
  reaches every connected client through Redis pub/sub (one listener
  greenlet per server, like floorkit and the bare peer).

    python socketio_server.py --port 8002 --redis-url redis://127.0.0.1:6390/0
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import resource  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

CHANNEL = "bench-socketio"


def build(redis_url):
    mgr = socketio.RedisManager(redis_url, channel=CHANNEL)
    sio = socketio.Server(
        async_mode="gevent",
        client_manager=mgr,
        logger=False,
        engineio_logger=False,
        cors_allowed_origins="*",
        transports=["websocket"],
    )

    @sio.on("join")
    def join(sid, room):
        sio.enter_room(sid, room)
        return True

    @sio.on("call")
    def call(sid, data):
        return {"type": "result", "id": data["id"], "ok": True, "results": [data.get("kwargs", {})]}

    return socketio.WSGIApp(sio)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis-url", required=True)
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = pywsgi.WSGIServer(
        (args.host, args.port),
        build(args.redis_url),
        handler_class=WebSocketHandler,
        log=None,
        backlog=1024,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
