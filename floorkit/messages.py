"""
Messages to browsers, published to Redis.

A call to signal ``S`` with targets publishes one message per *address*
(``floorkit.targets``) on the channel ``<KEY_PREFIX>:ch:<address>``, e.g.
``floorkit:ch:broadcast``, ``floorkit:ch:user:alice``,
``floorkit:ch:session:<opaque id>``, ``floorkit:ch:window:<window id>``.

The payload is a UTF-8 JSON object, which is also exactly the websocket
frame a browser receives::

    {"type": "signal", "id": "<message id, shared by the addresses of one call>",
     "signal": "demo.chat.show", "kwargs": {...}, "trace": "<trace id>"}

Keys come in this order, ``id`` first, so that a router can read the id
without parsing the JSON.

A process that subscribes to these channels (``runwebsocket``, or any other)
can deliver them. Values that JSON lacks (datetime, Decimal, UUID, lazy
strings) are encoded by ``DjangoJSONEncoder``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from floorkit.connection import get_redis, key, redis_errors
from floorkit.exceptions import InvalidArguments
from floorkit.request import SignalRequest

_encoder = DjangoJSONEncoder(separators=(",", ":"), ensure_ascii=False)


def channel(address: str) -> str:
    """The Redis channel of an address (``"broadcast"``, ``"user:alice"``, ...)."""
    return key("ch", address)


def encode(signal: str, kwargs: dict[str, Any], request: SignalRequest, message_id: str) -> bytes:
    """Encode the message once; the same bytes go to every address and socket."""
    return _encoder.encode(
        {
            "type": "signal",
            "id": message_id,
            "signal": signal,
            "kwargs": kwargs,
            "trace": request.trace_id,
        }
    ).encode()


_ID_AT = len(b'{"type":"signal","id":"')


def message_id(payload: bytes) -> bytes | None:
    """
    The id of an encoded message, read without parsing the JSON (``encode``
    writes it first); ``None`` for a payload that is not a floorkit message.
    """
    if payload.startswith(b'{"type":"signal","id":"'):
        end = payload.find(b'"', _ID_AT)
        if end > 0:
            return payload[_ID_AT:end]
    return None


def prepare(signal: str, kwargs: dict[str, Any], request: SignalRequest) -> tuple[str, bytes]:
    """
    Encode a message before anything runs; return ``(message_id, payload)``.
    Raise ``InvalidArguments`` for values JSON cannot carry.
    """
    message_id = uuid.uuid4().hex
    try:
        return message_id, encode(signal, kwargs, request, message_id)
    except (TypeError, ValueError) as exc:
        raise InvalidArguments(
            signal, "(browsers)", None, f"arguments sent to browsers must be JSON values: {exc}"
        ) from None


def publish(payload: bytes, addresses: list[str], action: str) -> None:
    """
    Publish ``payload`` once to each address, in one Redis round trip.

    Raise ``RedisUnavailable`` when Redis cannot be reached: then nothing was
    sent.
    """
    if not addresses:
        return
    with redis_errors(action):
        if len(addresses) == 1:
            get_redis().publish(channel(addresses[0]), payload)
        else:
            pipe = get_redis().pipeline(transaction=False)
            for address in addresses:
                pipe.publish(channel(address), payload)
            pipe.execute()


def decode(payload: bytes | str) -> dict[str, Any]:
    """Decode a published message."""
    return json.loads(payload)
