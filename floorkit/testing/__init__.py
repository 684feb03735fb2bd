"""
Test helpers for projects that use floorkit (``docs/testing.md``).

Capture what your code sends, without Redis::

    from floorkit import WINDOW, call
    from floorkit.testing import Message, capture

    with capture() as captured:
        call("shop.cart.add", request, WINDOW, product=7)
    assert captured.messages_to(WINDOW, request) == [
        Message("shop.cart.add", {"product": 7}, [f"window:{request.window}"])
    ]
    captured.run_jobs()  # the delayed handlers and AsyncSignal sends, here and now

Talk to a real ``runwebsocket`` as a browser tab would (needs Redis and
``pip install floorkit[test]``)::

    from floorkit.testing import WebsocketClient, run_websocket_server

    with run_websocket_server() as server, WebsocketClient(server, user=alice) as tab:
        reply = tab.call("shop.cart.add", product=7)
        frame = tab.receive(signal="shop.cart.updated")

With pytest, ``pytest_plugins = ["floorkit.testing"]`` in the root
``conftest.py`` gives the ``floorkit_capture`` fixture.

One concept per module: ``capture`` (``capture()``, ``Captured``, and the
outbox it installs: ``floorkit.delivery.outbox`` is the seam), ``records``
(``Message``, ``Job``, ``JobFailed``), ``client`` (``WebsocketClient``,
``Tab``, ``login``), ``server`` (``run_websocket_server()``,
``ServerProcess``, ``Server``) and ``redis`` (``run_redis()``, a private
Redis for a test session). Every name below is importable from here.
"""

from floorkit.testing.capture import Captured, CaptureOutbox, capture
from floorkit.testing.client import CallError, ReceiveTimeout, Reply, Tab, WebsocketClient, login
from floorkit.testing.records import Job, JobFailed, Membership, Message
from floorkit.testing.redis import run_redis, use_redis
from floorkit.testing.server import (
    Server,
    ServerProcess,
    WebsocketServer,
    free_port,
    run_websocket_server,
    server_environment,
)

try:  # the fixture of pytest_plugins = ["floorkit.testing"]
    from floorkit.testing.capture import floorkit_capture  # noqa: F401
except ImportError:  # pragma: no cover - pytest is a test extra
    pass

__all__ = [
    "CallError",
    "CaptureOutbox",
    "Captured",
    "Job",
    "JobFailed",
    "Membership",
    "Message",
    "ReceiveTimeout",
    "Reply",
    "Server",
    "ServerProcess",
    "Tab",
    "WebsocketClient",
    "WebsocketServer",
    "capture",
    "free_port",
    "login",
    "run_redis",
    "run_websocket_server",
    "server_environment",
    "use_redis",
]
