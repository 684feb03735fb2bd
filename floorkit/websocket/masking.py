"""
Unmasking a client's frame payload (RFC 6455 5.3): the payload XORed with
the frame's 4-byte key, repeated.

``unmask()`` is the C ``apply_mask`` of the ``websockets`` package when its
extension is built for this platform, else ``unmask_in_python()``; both
give the same bytes for every payload and key (tests/test_websocket_protocol.py).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["unmask", "unmask_in_python"]


def unmask_in_python(payload: bytes, mask: bytes) -> bytes:
    """
    Return ``payload`` XORed with the 4-byte ``mask`` repeated.

    Masking and unmasking are the same operation. The XOR is done on two big
    integers: a few linear passes in C instead of a Python loop per byte.
    """
    length = len(payload)
    if not length:
        return b""
    key = mask * (length >> 2) + mask[: length & 3]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


def _c_unmask() -> Callable[[bytes, bytes], bytes] | None:
    try:
        from websockets.speedups import apply_mask
    except ImportError:  # websockets installed without its C extension
        return None
    return apply_mask


#: ``unmask(payload, mask) -> bytes``: ``payload`` XORed with ``mask`` repeated.
unmask: Callable[[bytes, bytes], bytes] = _c_unmask() or unmask_in_python
