"""
Rate limits on what browsers send: token buckets refilled at ``rate`` per
second, holding at most twice that (the burst).

- ``Bucket``: one in-process bucket. Each websocket has one
  (``RATE_LIMIT``: calls and JSON pings of that socket), and each session has
  one per ``runwebsocket`` process, shared by all the session's sockets there
  (``SESSION_RATE_LIMIT``), from ``session_bucket()``.
- ``take_http(session)``: the bucket of a session's HTTP calls
  (``RATE_LIMIT``), kept in Redis so that every web process counts the same
  calls; one round trip.

A refused frame or call gets the error kind ``rate_limited`` (HTTP 429) and
nothing runs.
"""

from __future__ import annotations

import time
import weakref

from floorkit import conf
from floorkit.delivery.redis_client import get_redis, key, lua_script, redis_errors


class Bucket:
    """A token bucket: ``take()`` is ``False`` when the caller must slow down."""

    __slots__ = ("rate", "tokens", "refilled", "__weakref__")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = float(rate * 2)
        self.refilled = time.monotonic()

    def take(self) -> bool:
        """Take one token; ``True`` when there was one (always, with ``rate`` 0)."""
        rate = self.rate
        if not rate:
            return True
        now = time.monotonic()
        self.tokens = min(rate * 2.0, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


_sessions: weakref.WeakValueDictionary[str, Bucket] = weakref.WeakValueDictionary()


def session_bucket(session: str | None) -> Bucket | None:
    """
    The in-process bucket shared by the sockets of ``session``
    (``SESSION_RATE_LIMIT``); ``None`` without a session or with the limit off.
    The caller keeps a reference: the bucket lives as long as a socket holds it.
    """
    rate = conf.get("SESSION_RATE_LIMIT")
    if not session or not rate:
        return None
    bucket = _sessions.get(session)
    if bucket is None or bucket.rate != rate:
        bucket = _sessions[session] = Bucket(rate)
    return bucket


# KEYS: the bucket hash. ARGV: rate per second, now (seconds, float as text).
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local burst = rate * 2
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


def take_http(session: str | None) -> bool:
    """
    Take a token from the HTTP call bucket of ``session`` (``RATE_LIMIT``,
    shared by every process through Redis). ``True`` with the limit off or no
    session; raise ``RedisUnavailable`` when Redis cannot be reached.
    """
    rate = conf.get("RATE_LIMIT")
    if not rate or not session:
        return True
    script = lua_script(get_redis(), _TAKE_LUA)
    with redis_errors("checking the call rate"):
        return bool(script(keys=[key("rate", session)], args=[rate, repr(time.time())]))
