"""
The Redis connection floorkit uses, and the naming of its keys and channels.

One connection pool per Redis URL and process, of at most
``FLOORKIT["REDIS_MAX_CONNECTIONS"]`` connections: when all are busy (a burst
of greenlets under ``runwebsocket``), an operation waits for one, up to
``REDIS_POOL_TIMEOUT`` seconds, instead of failing as redis-py's default pool
does past 100. Commands that block on purpose (long polls) use a second pool,
``get_redis(url, blocking=True)``, bounded only by the server, so that they
never hold up the others. Every Redis failure that reaches user code is
turned into ``floorkit.exceptions.RedisUnavailable``.

No command waits for an unresponsive Redis longer than ``REDIS_TIMEOUT``
seconds (a connect, ``REDIS_CONNECT_TIMEOUT``): a browser call then fails with
``redis_unavailable`` instead of hanging. An outage is logged once, as a
warning, when ``redis_errors()`` first sees it, and once more when an
operation succeeds again; not once per failed request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis

from floorkit import conf
from floorkit.exceptions import RedisUnavailable

_clients: dict[tuple[str, bool], redis.Redis] = {}
_lock = threading.Lock()


logger = logging.getLogger("floorkit.redis")
BLOCK_SLICE = 4.0  # longest XREAD BLOCK floorkit sends; the blocking pool's reads allow for it


def _options(url: str, blocking: bool) -> dict:
    timeout = conf.get("REDIS_TIMEOUT")
    options = {
        "socket_connect_timeout": conf.get("REDIS_CONNECT_TIMEOUT"),
        "socket_timeout": (timeout + BLOCK_SLICE) if blocking else timeout,
        "health_check_interval": 30,
    }
    # TCP keepalive: redis-py's unix-socket connection refuses the option
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    return options


def get_redis(url: str | None = None, blocking: bool = False) -> redis.Redis:
    """
    Return the shared client for ``url`` (default: ``FLOORKIT["REDIS_URL"]``),
    or with ``blocking=True`` the client for commands that block on purpose
    (``XREAD BLOCK``), whose pool is not bounded by ``REDIS_MAX_CONNECTIONS``.

    Clients are created once per URL and process; they are safe to share
    between threads and greenlets.
    """
    url = url or conf.get("REDIS_URL")
    client = _clients.get((url, blocking))
    if client is None:
        with _lock:
            client = _clients.get((url, blocking))
            if client is None:
                if blocking:
                    pool = redis.ConnectionPool.from_url(
                        url, max_connections=2**31, **_options(url, blocking=True)
                    )
                else:
                    pool = redis.BlockingConnectionPool.from_url(
                        url,
                        max_connections=conf.get("REDIS_MAX_CONNECTIONS"),
                        timeout=conf.get("REDIS_POOL_TIMEOUT"),
                        **_options(url, blocking=False),
                    )
                client = _clients[url, blocking] = redis.Redis(connection_pool=pool)
    return client


_scripts: dict[tuple[int, str], object] = {}


def lua_script(client: redis.Redis, source: str):
    """``client.register_script(source)``, made once per client and script."""
    script = _scripts.get((id(client), source))
    if script is None:
        script = _scripts[id(client), source] = client.register_script(source)
    return script


def reset() -> None:
    """Forget every cached client (after a fork, or when settings change in tests)."""
    with _lock:
        for client in _clients.values():
            with contextlib.suppress(Exception):
                client.close()
        _clients.clear()


@contextlib.contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """
    Turn connection-level Redis errors raised in the block into
    ``RedisUnavailable``, whose message says what could not be done.
    """
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        error = RedisUnavailable(
            f"Redis at {safe_url(conf.get('REDIS_URL'))} is unreachable, {action} failed: {exc}"
        )
        if not _outage:
            _outage.append(error)
            logger.warning("%s (logged once until Redis answers again)", error)
        raise error from exc
    if _outage:
        _outage.clear()
        logger.warning("Redis at %s answers again", safe_url(conf.get("REDIS_URL")))


_outage: list[RedisUnavailable] = []  # the first error of the outage going on, if any


def safe_url(url: str) -> str:
    """Return ``url`` with any password masked, fit for error messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def key(*parts: str) -> str:
    """Return the Redis key or channel ``<KEY_PREFIX>:<part>:<part>...``."""
    return ":".join((conf.get("KEY_PREFIX"), *parts))
