"""TEMPORARY placeholder until the gevent-websocket fixes land (being written)."""

from geventwebsocket.handler import WebSocketHandler  # noqa: F401
