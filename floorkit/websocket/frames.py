"""Server-to-client websocket frames, built once and written to many sockets."""

from __future__ import annotations

import struct

PING = b"\x89\x00"


def text_frame(payload: bytes) -> bytes:
    """Return an unmasked, final text frame carrying ``payload`` (UTF-8 bytes)."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload
