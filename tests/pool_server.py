"""
A websocket server given a ``spawn`` pool, as a user may build one
(``python tests/pool_server.py PORT``): each connection then keeps its
greenlet, which the pool counts (tests/test_parking.py).
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import django  # noqa: E402
import gevent.pool  # noqa: E402

django.setup()

from floorkit.websocket.server import WebSocketServer  # noqa: E402

if __name__ == "__main__":
    WebSocketServer(("127.0.0.1", int(sys.argv[1])), spawn=gevent.pool.Pool(8)).serve()
