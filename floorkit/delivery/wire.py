"""
floorkit's JSON on the wire: one strict decoder for what browsers send, one
encoder for what floorkit sends.

Every JSON text a browser sends (websocket frames, HTTP bodies) goes through
``decode()``; every JSON text floorkit writes for a browser or a log goes
through ``encode()``. Both refuse what a browser's ``JSON.parse`` could not
read back or what could hurt the server:

- non-finite numbers (``NaN``, ``Infinity``, ``1e999``): refused when decoded,
  and ``encode()`` raises ``ValueError`` rather than emit them;
- nesting deeper than ``MAX_DEPTH`` levels of arrays and objects;
- lone UTF-16 surrogates (``"\\ud800"``) in strings or keys, which no UTF-8
  text can carry.

``decode()`` raises ``BadJSON`` with a readable message, ``path`` (the keys
leading to the offending value, such as ``("kwargs", "text")``; empty for a
syntax error) and ``data`` (the decoded value when the text parsed but holds
something refused, else ``None``), so that a refusal can name the call and
argument it concerns.

Both run on orjson (a C codec) where its answer is provably the same as
the exact path's (the standard library's codec with the checks above), and
on the exact path otherwise: a text orjson refuses or that could nest too
deep or hold an integer orjson would read as a float; a value orjson cannot
encode, or an encoded text holding ``null`` (where orjson may have written
a non-finite float).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a browser's JSON text."""

_encoder = DjangoJSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# Dates and times go to DjangoJSONEncoder's default (its formats, not
# orjson's); UUIDs, subclasses of str/int/dict/list and enums orjson writes
# as the exact path does (enums by value, where the standard library
# refuses a plain Enum).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode_bytes(data: Any) -> bytes:
    """
    Encode ``data`` compactly as UTF-8 (``DjangoJSONEncoder``: dates,
    decimals, UUIDs as strings). Raise ``ValueError`` for a non-finite float
    and ``TypeError`` for a value JSON cannot hold.
    """
    try:
        text = orjson.dumps(data, default=_encoder.default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: the exact path raises or encodes it
        pass
    else:
        if b"null" not in text:  # a null may be a non-finite float orjson wrote as null
            return text
    return _encoder.encode(data).encode()


def encode(data: Any) -> str:
    """``encode_bytes()`` as a ``str``."""
    return encode_bytes(data).decode()


class BadJSON(ValueError):
    """A JSON text floorkit refuses; ``path`` leads to the offending value."""

    def __init__(
        self, message: str, path: tuple[Any, ...] = (), data: Any = None, *, value: bool = False
    ) -> None:
        super().__init__(message)
        self.path = path
        self.data = data
        self.value = value  # a refused value (not the text's shape): an argument's fault


def refusal(exc: BadJSON) -> tuple[str, str]:
    """
    The error kind and message answering a refused call (a websocket frame or
    an HTTP body): ``invalid_arguments`` naming the argument when a refused
    value (a lone surrogate) lies inside ``kwargs``, else ``bad_request``
    (syntax, non-finite numbers, nesting).
    """
    path = exc.path
    if exc.value and len(path) >= 2 and path[0] == "kwargs":
        return "invalid_arguments", f"argument {path[1]!r}: {exc}"
    return "bad_request", str(exc)


def _refuse_constant(name: str) -> Any:
    raise BadJSON(f"non-finite number {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, _NINF):
        raise BadJSON(f"number {text[:40]} is out of range")
    return value


_INF = float("inf")
_NINF = float("-inf")
_decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


# orjson reads an integer beyond 64 bits as a float; the exact path keeps it.
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")


def decode(text: str | bytes | bytearray) -> Any:
    """
    Decode one JSON text a browser sent. Raise ``BadJSON`` when it is not
    UTF-8 JSON, holds a non-finite number, nests deeper than ``MAX_DEPTH`` or
    holds a lone surrogate.
    """
    # orjson refuses non-finite numbers, lone surrogates and bad UTF-8 as the
    # exact path does; with at most MAX_DEPTH brackets nothing nests too deep.
    brace, bracket, long_digits = (
        ("{", "[", _LONG_DIGITS) if isinstance(text, str) else (b"{", b"[", _LONG_DIGITS_BYTES)
    )
    if text.count(brace) + text.count(bracket) <= MAX_DEPTH and not long_digits.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # the exact path says why
    return _decode_exactly(text)


def _decode_exactly(text: str | bytes | bytearray) -> Any:
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadJSON(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        data = _decoder.decode(text)
    except BadJSON:
        raise
    except RecursionError:
        raise BadJSON(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise BadJSON(f"malformed JSON: {exc}") from None
    try:
        _check(data)
    except BadJSON as exc:
        exc.data = data
        raise
    return data


def _check(data: Any) -> None:
    """Refuse deep nesting and lone surrogates, walking ``data`` without recursion."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(data, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and not _encodable(value):
                raise BadJSON(
                    "a string holds a lone surrogate (not valid Unicode)", path, value=True
                )
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise BadJSON(f"nested deeper than {MAX_DEPTH} levels", path)
            if isinstance(value, dict):
                for key, item in value.items():
                    if not key.isascii() and not _encodable(key):
                        raise BadJSON(
                            "a key holds a lone surrogate (not valid Unicode)", path, value=True
                        )
                    stack.append((item, depth + 1, (*path, key)))
            else:
                stack.extend((item, depth + 1, (*path, i)) for i, item in enumerate(value))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
