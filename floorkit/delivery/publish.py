"""
Messages to browsers, published to Redis.

A call to signal ``S`` with targets publishes one message per *address*
(``floorkit.signals.targets``) on the channel ``<KEY_PREFIX>:ch:<address>``, e.g.
``floorkit:ch:broadcast``, ``floorkit:ch:user:alice``,
``floorkit:ch:session:<opaque id>``, ``floorkit:ch:window:<window id>``.

The payload is a UTF-8 JSON object, which is also exactly the websocket
frame a browser receives::

    {"type": "signal", "seq": 42, "epoch": "1764680000123456", "id": "<message id>",
     "signal": "demo.chat.show", "kwargs": {...}, "trace": "<trace id>",
     "hop": "<hop id of the publication, for tracing>"}

``seq`` numbers every message of the project (one Redis counter,
``<KEY_PREFIX>:seq``); the addresses of one call share it, so a tab reached
twice gets it once, and a tab that processed up to ``seq`` N knows exactly
what it missed. ``epoch`` (``<KEY_PREFIX>:epoch``) names the life of that
counter: a Redis that restarts empty (no persistence, a failover to an empty
replica) starts ``seq`` again from 1 under a new epoch, so a reader holding a
cursor of another epoch knows its cursor means nothing now and that it lost
messages. Keys come in this order, ``seq`` then ``epoch`` first, so that a
router can read them without parsing the JSON.

Each message is also appended to a capped Redis stream per address,
``<KEY_PREFIX>:log:<address>`` (entry id ``<seq>-0``, field ``m``: the
payload), which expires ``LOG_RETENTION`` seconds after its last message and
keeps about ``LOG_MAXLEN`` messages. ``<log>:last`` and ``<log>:trimmed`` (kept
ten times longer) hold the newest message logged and the newest dropped, so
that a reader can tell a quiet log from a lossy one.
Reconnecting tabs and HTTP polling read these logs (``floorkit.delivery.message_log``).

Messages leave through the current outbox (``floorkit.delivery.outbox``):
``publish()`` hands them to it, and the default one calls ``write()``, which
runs the script below. ``number()`` is the same numbering in Python, for an
outbox that numbers messages itself (``floorkit.testing.capture()``).

A process that subscribes to these channels (``runwebsocket``, or any other)
can deliver them. Values that JSON lacks (datetime, Decimal, UUID, lazy
strings) are encoded by ``DjangoJSONEncoder``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from floorkit import conf
from floorkit.delivery import outbox, wire
from floorkit.delivery.redis_client import get_redis, key, lua_script, redis_errors
from floorkit.exceptions import InvalidArguments
from floorkit.signals.request import SignalRequest


def channel(address: str) -> str:
    """The Redis channel of an address (``"broadcast"``, ``"user:alice"``, ...)."""
    return key("ch", address)


def encode(
    signal: str,
    kwargs: dict[str, Any],
    request: SignalRequest,
    message_id: str,
    hop: str | None = None,
) -> bytes:
    """Encode the message once; the same bytes go to every address and socket."""
    return wire.encode_bytes(
        {
            "type": "signal",
            "id": message_id,
            "signal": signal,
            "kwargs": kwargs,
            "trace": request.trace_id,
            "hop": hop,
        }
    )


_TAIL = re.compile(rb'"trace":"([0-9a-f]+)","hop":"([0-9a-f]+)"\}$')


def trace_of(payload: bytes) -> tuple[str, str] | None:
    """The ``(trace, hop)`` of an encoded message, read from its end without parsing it."""
    match = _TAIL.search(payload, max(0, len(payload) - 64))
    return (match[1].decode(), match[2].decode()) if match else None


# What every payload starts with: encode() puts "type" first; numbering puts
# "seq" and then "epoch" right after it (the publish script strips these 17
# bytes and adds them back, so string.sub(ARGV[1], 18) below).
_HEAD = b'{"type":"signal",'
_SEQ_PREFIX = _HEAD + b'"seq":'
_SEQ_AT = len(_SEQ_PREFIX)
_EPOCH = b',"epoch":"'


def number(payload: bytes, seq: int, epoch: str) -> bytes:
    """
    ``payload`` (from ``encode()``) as published under sequence number
    ``seq`` of ``epoch``: byte for byte what the publish script below makes
    of it. Raise ``ValueError`` for a payload that ``encode()`` did not make.
    """
    if not payload.startswith(_HEAD):
        raise ValueError("not a floorkit message payload")
    return b'%s"seq":%d,"epoch":"%s",%s' % (_HEAD, seq, epoch.encode(), payload[len(_HEAD) :])


def message_position(payload: bytes) -> tuple[int | None, str | None]:
    """
    The ``(seq, epoch)`` of a published message, read without parsing the
    JSON (they come first); ``(None, None)`` for a payload that is not a
    floorkit message.
    """
    if payload.startswith(_SEQ_PREFIX):
        end = payload.find(b",", _SEQ_AT)
        if end > 0:
            try:
                seq = int(payload[_SEQ_AT:end])
            except ValueError:
                return None, None
            if payload.startswith(_EPOCH, end):
                start = end + len(_EPOCH)
                close = payload.find(b'"', start)
                if close > 0:
                    return seq, payload[start:close].decode("ascii", "replace")
            return seq, None
    return None, None


def message_seq(payload: bytes) -> int | None:
    """The sequence number of a published message (see ``message_position()``)."""
    return message_position(payload)[0]


# Number a message, log it per address and publish it, in the script that calls
# it (atomic). ``payload`` is an encoded message without its sequence (what
# encode() makes); ``logs`` and ``channels`` go pairwise, one per address; a
# ``ttl`` of 0 logs nothing. What it publishes and logs is number(payload, seq,
# epoch); the two must stay in step. The epoch names the life of the counter:
# it is created with it (from the server's clock) and a Redis that restarts
# empty gets a new one, so readers can tell numbers of two lives apart.
# Other scripts (floorkit.groups) define it too, to publish as part of their own work.
PUBLISH_FUNCTION = """
local function publish_message(seq_key, epoch_key, payload, maxlen, ttl, logs, channels)
  local seq = redis.call('INCR', seq_key)
  local epoch = redis.call('GET', epoch_key)
  if not epoch then
    local now = redis.call('TIME')
    epoch = now[1] .. string.format('%06d', now[2])
    redis.call('SET', epoch_key, epoch)
  end
  payload = '{"type":"signal","seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. string.sub(payload, 18)
  local slack = math.max(1, math.floor(maxlen / 10))
  for i, log in ipairs(logs) do
    if ttl > 0 then
      redis.call('XADD', log, seq .. '-0', 'm', payload)
      local length = redis.call('XLEN', log)
      if length > maxlen + slack then
        -- trim in batches, remembering the newest message dropped
        local dropped = redis.call('XRANGE', log, '-', '+', 'COUNT', length - maxlen)
        redis.call('XTRIM', log, 'MAXLEN', maxlen)
        redis.call('SET', log .. ':trimmed', string.match(dropped[#dropped][1], '^%d+'), 'EX', ttl * 10)
      end
      redis.call('EXPIRE', log, ttl)
      redis.call('SET', log .. ':last', seq, 'EX', ttl * 10)
    end
    redis.call('PUBLISH', channels[i], payload)
  end
  return seq
end
"""

# One round trip: publish_message() for one payload and its addresses.
# KEYS: the sequence counter, the epoch, then one log stream per address.
# ARGV: payload without its sequence, MAXLEN, TTL (0: no log), then one channel per address.
_PUBLISH_LUA = (
    PUBLISH_FUNCTION
    + """
local logs, channels = {}, {}
for i = 3, #KEYS do
  logs[#logs + 1] = KEYS[i]
  channels[#channels + 1] = ARGV[1 + i]
end
return publish_message(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), logs, channels)
"""
)


def log_key(address: str) -> str:
    """The Redis stream that logs the messages of an address."""
    return key("log", address)


def seq_key() -> str:
    """The counter that numbers every message, across all addresses."""
    return key("seq")


def epoch_key() -> str:
    """The epoch of the counter: a new one whenever the counter starts again from 1."""
    return key("epoch")


def encode_message(
    signal: str, kwargs: dict[str, Any], request: SignalRequest, hop: str | None = None
) -> tuple[str, bytes]:
    """
    Encode a message before anything runs; return ``(message_id, payload)``.
    Raise ``InvalidArguments`` for values JSON cannot carry.
    """
    message_id = uuid.uuid4().hex
    try:
        return message_id, encode(signal, kwargs, request, message_id, hop)
    except (TypeError, ValueError) as exc:
        raise InvalidArguments(
            signal, "(browsers)", None, f"arguments sent to browsers must be JSON values: {exc}"
        ) from None


def publish(payload: bytes, addresses: list[str], action: str) -> int | None:
    """
    Send ``payload`` once to each address through the current outbox
    (``floorkit.delivery.outbox``; by default ``write()``, to Redis) and
    return its sequence number; ``None``, sending nothing, when
    ``addresses`` is empty. ``action`` names the operation in errors.

    Raise ``RedisUnavailable`` when Redis cannot be reached: then nothing was
    sent.
    """
    if not addresses:
        return None
    return outbox.current().publish(payload, addresses, action)


def write(payload: bytes, addresses: list[str], action: str) -> int:
    """
    Number ``payload``, append it to the log of each address (unless
    ``FLOORKIT["MESSAGE_LOG"]`` is off) and publish it once to each of the
    non-empty ``addresses``, in one atomic Redis round trip. Return its
    sequence number.

    Raise ``RedisUnavailable`` when Redis cannot be reached: then nothing was
    sent.
    """
    ttl = conf.get("LOG_RETENTION") if conf.get("MESSAGE_LOG") else 0
    keys = [seq_key(), epoch_key(), *(log_key(address) for address in addresses)]
    args = [payload, conf.get("LOG_MAXLEN"), ttl, *(channel(a) for a in addresses)]
    client = get_redis()
    with redis_errors(action):
        return lua_script(client, _PUBLISH_LUA)(keys=keys, args=args, client=client)
