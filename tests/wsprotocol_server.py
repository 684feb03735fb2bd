"""A minimal gevent server using floorkit's fixed websocket handler, for
tests/test_websocket_protocol.py. Prints its port, then serves:

* ``/echo``: echoes every message back (text as text, binary as binary);
* ``/close``: closes at once with code 4000 and reason "bye".
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from gevent import pywsgi  # noqa: E402

from floorkit.websocket.protocol import WebSocketHandler  # noqa: E402


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain"]
    if environ["PATH_INFO"] == "/close":
        ws.close(4000, "bye")
        return []
    while True:
        message = ws.receive()
        if message is None:
            return []
        ws.send(message, binary=isinstance(message, bytearray))


server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None)
server.max_message_size = int(sys.argv[1])
server.start()
print(server.server_port, flush=True)
server.serve_forever()
