"""Channels 4 peer: one AsyncWebsocketConsumer at ws://HOST:PORT/ws.

Served by daphne (``daphne -v 0 -b 127.0.0.1 -p PORT bench_channels_asgi:application``)
with ``channels_redis.pubsub.RedisPubSubChannelLayer``.

* call: ``{"type":"call","id":N,...,"kwargs":{...}}`` is answered with
  ``{"type":"result","id":N,"ok":true,"results":[kwargs]}``;
* broadcast: every consumer is in the group ``bench`` (joined before the
  handshake is accepted); a separate process calls
  ``channel_layer.group_send("bench", {"type": "bench.broadcast", "text": ...})``
  and each consumer forwards ``text`` verbatim;
* rooms: ``{"join": ROOM}`` adds the consumer to the group ROOM (``group_add``).

No auth/session middleware: this is the framework's floor, as for the other peers.
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_channels_settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "bench"


class BenchConsumer(AsyncWebsocketConsumer):
    groups = [GROUP]

    async def receive(self, text_data=None, bytes_data=None):
        msg = json.loads(text_data)
        if "join" in msg:
            await self.channel_layer.group_add(msg["join"], self.channel_name)
            await self.send(text_data=json.dumps({"joined": msg["join"]}))
        elif msg.get("type") == "call":
            await self.send(
                text_data=json.dumps(
                    {
                        "type": "result",
                        "id": msg["id"],
                        "ok": True,
                        "results": [msg.get("kwargs", {})],
                    }
                )
            )

    async def bench_broadcast(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter([path("ws", BenchConsumer.as_asgi())]),
    }
)
