"""
A Redis for tests: a private server (``floorkit.delivery.embedded_redis``)
that floorkit and RQ are pointed at while it runs.

``run_redis()`` starts one and points this process at it with
``use_redis()``: ``FLOORKIT["REDIS_URL"]``, every queue of ``RQ_QUEUES``,
and ``$FLOORKIT_REDIS_URL`` (read by the subprocesses a test starts, such as
``run_websocket_server()``). When its block ends, the previous
configuration is back and the server is stopped. It is meant for a pytest
session fixture::

    @pytest.fixture(scope="session")
    def redis_server():
        with run_redis() as server:
            yield server  # server.url
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from floorkit.conf import REDIS_URL_ENV as _ENV
from floorkit.delivery.embedded_redis import EmbeddedRedis

__all__ = ["run_redis", "use_redis"]

_MISSING: Any = object()


def use_redis(url: str) -> None:
    """
    Point floorkit and every RQ queue of ``RQ_QUEUES`` at the Redis ``url``,
    in place (no ``setting_changed`` signal is sent), and forget the clients
    connected to the previous one.
    """
    from django.conf import settings

    from floorkit.delivery import redis_client

    settings.FLOORKIT["REDIS_URL"] = url
    for queue in settings.RQ_QUEUES.values():
        queue["URL"] = url
    os.environ[_ENV] = url
    redis_client.reset()


def _snapshot() -> tuple[Any, dict[str, Any], Any]:
    from django.conf import settings

    queues = {name: queue.get("URL", _MISSING) for name, queue in settings.RQ_QUEUES.items()}
    return settings.FLOORKIT.get("REDIS_URL", _MISSING), queues, os.environ.get(_ENV, _MISSING)


def _restore(snapshot: tuple[Any, dict[str, Any], Any]) -> None:
    from django.conf import settings

    from floorkit.delivery import redis_client

    floorkit_url, queues, env_url = snapshot
    for place, name, value in [
        (settings.FLOORKIT, "REDIS_URL", floorkit_url),
        (os.environ, _ENV, env_url),
        *((settings.RQ_QUEUES[queue], "URL", url) for queue, url in queues.items()),
    ]:
        if value is _MISSING:
            place.pop(name, None)
        else:
            place[name] = value
    redis_client.reset()


@contextlib.contextmanager
def run_redis(port: int | None = 0) -> Iterator[EmbeddedRedis]:
    """
    Start a private Redis (``port=0``: a free TCP port, which subprocesses
    reach too; ``None``: a unix socket), point this process at it
    (``use_redis()``) and yield the ``EmbeddedRedis`` (``.url``). When the
    block ends, however it ends, restore the previous Redis settings and stop
    the server. Raise ``EmbeddedRedisError`` when no server can start.
    """
    server = EmbeddedRedis(port=port)
    url = server.start()
    snapshot = _snapshot()
    try:
        use_redis(url)
        yield server
    finally:
        _restore(snapshot)
        server.stop()
