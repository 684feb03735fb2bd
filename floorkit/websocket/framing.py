"""
Websocket frames on the server side (RFC 6455): gevent-websocket 0.10.1's
``WebSocket``, subclassed, reading and writing frames under these contracts:

* ``close(code, reason)`` sends the 2-byte code, then the UTF-8 reason; the
  answer to a peer's close frame carries the peer's code and reason.
* A message over ``max_message_size`` (default 1 MiB; a fragmented message
  counts all its fragments) is answered with close code 1009 as soon as a
  frame header shows it: its payload is never read.
* Invalid UTF-8 in a text message or a close reason is answered with 1007;
  an unmasked client frame or any other protocol error with 1002.
* Unmasking is ``floorkit.websocket.masking.unmask`` (in C); text is checked
  by CPython's strict UTF-8 decoder, fragment by fragment.
* An idle websocket holds no read buffer (``SocketReader``).
* ``last_seen`` records when the peer last sent a frame (pongs included), for
  finding dead peers.

The handshake that creates the ``WebSocket`` is ``floorkit.websocket.handshake``.
"""

from __future__ import annotations

import codecs
import struct
import time
from typing import Any

from geventwebsocket import websocket as _websocket
from geventwebsocket.exceptions import FrameTooLargeException, ProtocolError, WebSocketError

from floorkit.websocket.masking import unmask

__all__ = [
    "CLOSE_INVALID_PAYLOAD",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL_ERROR",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MessageTooBigError",
    "SocketReader",
    "WebSocket",
    "check_max_message_size",
    "is_valid_close_code",
    "unmask",
]

#: Largest message accepted unless configured otherwise, in bytes (1 MiB).
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_MESSAGE_TOO_BIG = 1009

#: A close frame's payload is at most 125 bytes: the 2-byte code, then the reason.
MAX_CLOSE_REASON_SIZE = 123

_Base = _websocket.WebSocket
_DATA_OPCODES = frozenset((_Base.OPCODE_CONTINUATION, _Base.OPCODE_TEXT, _Base.OPCODE_BINARY))
_KNOWN_OPCODES = _DATA_OPCODES | {_Base.OPCODE_CLOSE, _Base.OPCODE_PING, _Base.OPCODE_PONG}
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_UNPACK_H = struct.Struct("!H").unpack
_UNPACK_Q = struct.Struct("!Q").unpack
#: Payloads up to this size are read together with their mask, in one call.
_ONE_READ = 16384


class _Control:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CONTROL"


#: What ``receive(return_control=True)`` returns for a ping or pong read
#: between messages (a ping is answered first).
CONTROL: Any = _Control()


class MessageTooBigError(FrameTooLargeException):
    """
    A data frame, or the fragments of one message, exceed ``max_message_size``.

    ``WebSocket.receive()`` answers it with close code 1009. It subclasses the
    package's ``FrameTooLargeException`` (a ``ProtocolError``), so code that
    catches those keeps working.
    """


class SocketReader:
    """
    ``read(n)``: ``n`` bytes from a socket, fewer only at EOF. Reads ahead up
    to 4 KiB and keeps what it has not handed out yet, as ``BufferedReader``
    does, but holds no buffer while idle (an idle websocket waits with none)
    and waits one C-to-Python call shallower, which is saved with every
    waiting greenlet's stack. ``buffered`` is what an earlier reader of the
    socket had read ahead.
    """

    __slots__ = ("recv", "pending")

    def __init__(self, sock: Any, buffered: bytes = b"") -> None:
        self.recv = sock.recv
        self.pending = buffered

    def read(self, n: int) -> bytes:
        pending = self.pending
        while len(pending) < n:
            chunk = self.recv(max(n - len(pending), 4096))
            if not chunk:
                break
            pending = pending + chunk if pending else chunk
        self.pending = pending[n:]
        return pending[:n]


def is_valid_close_code(code: int) -> bool:
    """
    Return whether ``code`` may be sent in a close frame (RFC 6455 7.4).

    Valid: 1000-1003 and 1007-1014 (the IANA registry), 3000-4999 (registered
    and private use). 1004-1006 and 1015 must never be sent; the other values
    below 3000 are unassigned.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def check_max_message_size(value: Any) -> int | None:
    """
    Return ``value`` if it is a valid ``max_message_size``: a positive int,
    or None for no limit. Raise ``TypeError`` or ``ValueError`` otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_message_size must be an int or None, not {value!r}")
    if value <= 0:
        raise ValueError(f"max_message_size must be positive (or None), not {value!r}")
    return value


class WebSocket(_websocket.WebSocket):
    """
    A server-side websocket: gevent-websocket's ``WebSocket`` under the
    contracts listed in this module's docstring.

    The API is the package's: ``receive()``, ``send(message, binary=None)``,
    ``close(code=1000, message=b"")``, ``closed``, ``environ``, ``stream``,
    ``handler``, and the ``raw_write``/``raw_read`` callables (which may be
    replaced, e.g. to queue writes). Added:

        max_message_size
            Largest message ``receive()`` accepts, in bytes (for a fragmented
            message, the sum of its fragments), or None for no limit. Control
            frames are limited to 125 bytes by the protocol and not counted.

        last_seen
            ``time.monotonic()`` when the last complete frame was read (any
            frame, pongs included), or when the websocket was created.
    """

    __slots__ = ("max_message_size", "last_seen")

    def __init__(
        self,
        environ: dict[str, Any],
        stream: _websocket.Stream,
        handler: Any,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        super().__init__(environ, stream, handler)
        self.utf8validator = None  # text is checked by CPython's UTF-8 decoder
        self.max_message_size = check_max_message_size(max_message_size)
        self.last_seen = time.monotonic()

    # -- receiving ---------------------------------------------------------

    def receive(self, return_control: bool = False) -> str | bytearray | None:
        """
        Block until the next message arrives and return it: ``str`` for a
        text message, ``bytearray`` for a binary one. Pings are answered with
        pongs on the way; pongs are skipped. With ``return_control``, a ping or
        pong between messages returns ``CONTROL`` (after the ping's pong), so
        that the caller, not a read, decides whether to wait for more.

        Return None when the connection ends: after the peer's close frame
        (answered with the same code and reason) or EOF, or after closing it
        because of the peer: a protocol error (close 1002), invalid UTF-8
        (1007), a message over ``max_message_size`` (1009, sent as soon as a
        frame header shows it: the oversize payload is never read). Raise
        ``WebSocketError`` if the websocket was already closed.
        """
        if self.closed:
            self.current_app.on_close(_websocket.MSG_ALREADY_CLOSED)
            raise WebSocketError(_websocket.MSG_ALREADY_CLOSED)
        try:
            return self.read_message(return_control)
        except MessageTooBigError:
            self.close(CLOSE_MESSAGE_TOO_BIG, "message too big")
        except UnicodeError:
            self.close(CLOSE_INVALID_PAYLOAD, "invalid UTF-8")
        except ProtocolError:
            self.close(CLOSE_PROTOCOL_ERROR)
        except OSError:
            # EOF or a dead socket: there is nobody to send a close frame to.
            self._mark_closed()
            self.current_app.on_close(_websocket.MSG_CLOSED)
        return None

    def read_message(self, return_control: bool = False) -> str | bytearray | None:
        """
        Read frames until a whole message is read and return it, or None
        after a close frame (``CONTROL`` as ``receive()`` says).

        Internal, as in the package: errors are raised, not handled (use
        ``receive()``). Raise ``MessageTooBigError`` before reading the payload
        of a data frame that would take the message over ``max_message_size``,
        ``UnicodeDecodeError`` at the first fragment of a text message that
        cannot be UTF-8, ``ProtocolError`` for a protocol violation and
        ``WebSocketError`` (an ``OSError``) for EOF.
        """
        limit = self.max_message_size
        opcode = None
        size = 0
        message: bytearray | None = None  # a binary message's fragments so far
        text: list[str] | None = None  # a text message's, decoded
        decoder = None
        while True:
            fin, f_opcode, payload = self._read_frame(None if limit is None else limit - size)
            if f_opcode > 7:  # a control frame, between fragments or alone
                header = _websocket.Header(fin=fin, opcode=f_opcode, length=len(payload))
                if f_opcode == self.OPCODE_CLOSE:
                    self.handle_close(header, payload)
                    return None
                if f_opcode == self.OPCODE_PING:
                    self.handle_ping(header, payload)
                else:
                    self.handle_pong(header, payload)
                if return_control and opcode is None:
                    return CONTROL
                continue
            if f_opcode == self.OPCODE_CONTINUATION:
                if not opcode:
                    raise ProtocolError("Unexpected frame with opcode=0")
            elif opcode:
                raise ProtocolError(
                    f"The opcode in non-fin frame is expected to be zero, got {f_opcode!r}"
                )
            elif fin:  # the common case: a whole message in one frame
                if f_opcode == self.OPCODE_TEXT:
                    return payload.decode("utf-8")
                return bytearray(payload)
            else:
                opcode = f_opcode
                if opcode == self.OPCODE_TEXT:
                    decoder = _Utf8Decoder("strict")
                    text = []
                else:
                    message = bytearray()
            size += len(payload)
            if message is not None:
                message += payload
            else:
                text.append(decoder.decode(payload, bool(fin)))
            if fin:
                break
        if decoder is not None:
            return "".join(text)
        return message

    def _read_frame(self, max_length: int | None) -> tuple[bool, int, bytes]:
        """
        Read one frame: ``(fin, opcode, unmasked payload)``. The header is
        parsed here, not by the package's ``Header.decode_header`` (same
        checks, a few reads and objects fewer per frame), and the mask and a
        small payload are read in one call.
        """
        if self.stream is None:  # closed by another greenlet
            raise WebSocketError(_websocket.MSG_ALREADY_CLOSED)
        read = self.raw_read
        head = read(2)
        if len(head) != 2:
            raise WebSocketError("Unexpected EOF while decoding header")
        first, second = head
        fin = bool(first & 0x80)
        opcode = first & 0x0F
        length = second & 0x7F
        if first & 0x70:
            raise ProtocolError(f"Reserved bits set without an extension: {head!r}")
        if opcode not in _KNOWN_OPCODES:
            raise ProtocolError(f"Unexpected opcode={opcode!r}")
        if opcode > 7:
            if not fin:
                raise ProtocolError(f"Received fragmented control frame: {head!r}")
            if length > 125:
                raise FrameTooLargeException(
                    f"Control frame cannot be larger than 125 bytes: {head!r}"
                )
        if not second & 0x80:
            raise ProtocolError("Client frames must be masked")
        if length == 126:
            extended = read(2)
            if len(extended) != 2:
                raise WebSocketError("Unexpected EOF while decoding header")
            (length,) = _UNPACK_H(extended)
        elif length == 127:
            extended = read(8)
            if len(extended) != 8:
                raise WebSocketError("Unexpected EOF while decoding header")
            (length,) = _UNPACK_Q(extended)
        if max_length is not None and length > max_length and opcode < 3:
            raise MessageTooBigError(
                f"Message over max_message_size={self.max_message_size}: a frame of {length} bytes"
            )
        try:
            if length <= _ONE_READ:
                data = read(4 + length)
                mask, payload = data[:4], data[4:]
            else:
                mask = read(4)
                payload = read(length) if len(mask) == 4 else b""
        except Exception:  # as in the package: a dead or closed stream is an EOF
            raise WebSocketError("Unexpected EOF reading frame") from None
        if len(mask) != 4:
            raise WebSocketError("Unexpected EOF while decoding header")
        if len(payload) != length:
            raise WebSocketError("Unexpected EOF reading frame payload")
        self.last_seen = time.monotonic()
        return fin, opcode, unmask(payload, mask) if length else b""

    def handle_close(self, header: _websocket.Header, payload: bytes) -> None:
        """
        Answer the peer's close frame with its code and reason, and mark the
        websocket closed. An empty close frame is answered with 1000.

        Raise ``ProtocolError`` for a 1-byte payload or an invalid code,
        ``UnicodeDecodeError`` for a reason that is not UTF-8.
        """
        if not payload:
            self.close(CLOSE_NORMAL)
            return
        if len(payload) < 2:
            raise ProtocolError(f"Invalid close frame: {header!r} {payload!r}")
        (code,) = struct.unpack("!H", payload[:2])
        reason = payload[2:]
        reason.decode("utf-8")  # strict; UnicodeDecodeError -> 1007
        if not is_valid_close_code(code):
            raise ProtocolError(f"Invalid close code {code}")
        self.close(code, reason)

    # -- sending and closing -------------------------------------------------

    def _encode_bytes(self, text: Any) -> bytes:
        """
        Return ``text`` as bytes: ``str`` UTF-8 encoded, bytes-like objects
        as they are (never their ``repr``), None as ``b""``.
        """
        if isinstance(text, str):
            return text.encode("utf-8")
        if isinstance(text, (bytes, bytearray, memoryview)):
            return bytes(text)
        if text is None:
            return b""
        return str(text).encode("utf-8")

    def close(self, code: int | None = CLOSE_NORMAL, message: str | bytes | None = b"") -> None:
        """
        Send a close frame with ``code`` and ``message`` (the reason), then
        mark the websocket closed. The TCP connection is left to the handler.

        The frame's payload is the 2-byte big-endian ``code`` followed by the
        UTF-8 reason; ``code=None`` sends a close frame without a status.
        Failing to write the frame is ignored: the connection is going away.
        Closing a closed websocket sends nothing.

        Raise ``ValueError``, leaving the websocket open, if ``code`` is not a
        valid close code (see ``is_valid_close_code()``), if the reason is
        over 123 bytes in UTF-8, or if a reason is given without a code.
        """
        if self.closed:
            self.current_app.on_close(_websocket.MSG_ALREADY_CLOSED)
            return
        payload = self._close_payload(code, message)
        try:
            self.send_frame(payload, self.OPCODE_CLOSE)
        except WebSocketError:
            self.logger.debug("Failed to write closing frame -> closing socket")
        finally:
            self._mark_closed()

    def _close_payload(self, code: int | None, message: str | bytes | None) -> bytes:
        reason = self._encode_bytes(message)
        if code is None:
            if reason:
                raise ValueError("A close reason needs a close code")
            return b""
        if isinstance(code, bool) or not isinstance(code, int) or not is_valid_close_code(code):
            raise ValueError(f"Invalid close code {code!r}")
        if len(reason) > MAX_CLOSE_REASON_SIZE:
            raise ValueError(
                f"A close reason is at most {MAX_CLOSE_REASON_SIZE} bytes, not {len(reason)}"
            )
        return struct.pack("!H", code) + reason

    def _mark_closed(self) -> None:
        self.logger.debug("Closed WebSocket")
        self.closed = True
        self.stream = None
        self.raw_write = None
        self.raw_read = None
        self.environ = None
