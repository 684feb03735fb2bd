"""
floorkit's JSON codec (``floorkit.delivery.wire``): its orjson path gives
exactly what its exact path (the standard library's codec and floorkit's
checks) gives, for generated values and for every refused text.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
import random
import uuid

import pytest
from django.utils.translation import gettext_lazy

from floorkit.delivery import wire
from tests.test_hostile_input import DEEP, HUGE_INT, MALFORMED, NON_FINITE

BOUNDARY_INTS = [
    0,
    -1,
    2**53,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    -(2**64),
    10**18,
    10**19,
    -(10**19),
    10**30,
]
STRINGS = ["", "a", "é", "日本", "😀", "\x00", "\u2028", '"\\/', "\ud7ff", "\ue000", "9" * 25]
FLOATS = [0.0, -0.0, 0.1, 1e-7, 1e16, 1.5e308, 5e-324, -2.5, 1e22, 123456789.123456789]


def generated_values(count: int, seed: int) -> list:
    """Random JSON values: nested arrays and objects of boundary scalars."""
    rng = random.Random(seed)

    def value(depth: int):
        pick = rng.random()
        if depth < 6 and pick < 0.2:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        if depth < 6 and pick < 0.4:
            return {rng.choice(STRINGS) + str(i): value(depth + 1) for i in range(rng.randrange(4))}
        return rng.choice(
            [*BOUNDARY_INTS, *STRINGS, *FLOATS, True, False, None, rng.randrange(-(10**6), 10**6)]
        )

    return [value(0) for _ in range(count)]


def same(a, b) -> bool:
    """Equal, with the same types all the way down (1 and 1.0 differ, so do 0.0 and -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return a == b


@pytest.mark.parametrize("seed", range(20))
def test_decoding_generated_texts_gives_the_exact_paths_values(seed):
    for data in generated_values(50, seed):
        text = json.dumps(data, ensure_ascii=seed % 2 == 0)
        for form in (text, text.encode(), bytearray(text.encode())):
            assert same(wire.decode(form), wire._decode_exactly(form)), text


@pytest.mark.parametrize("number", [str(n) for n in BOUNDARY_INTS] + ["-0", "1e5", "1E-400"])
def test_numbers_decode_to_the_exact_paths_type_and_value(number):
    assert same(wire.decode(number), json.loads(number))


BAD_TEXTS = [
    *MALFORMED,
    *NON_FINITE,
    *DEEP,
    *HUGE_INT,
    '{"a":"\\ud800"}',
    '["\\udfff"]',
    b'["\xc3"]',
]


@pytest.mark.parametrize("text", BAD_TEXTS, ids=range(len(BAD_TEXTS)))
def test_refused_texts_are_refused_with_the_exact_paths_message(text):
    with pytest.raises(wire.BadJSON) as fast:
        wire.decode(text)
    with pytest.raises(wire.BadJSON) as exact:
        wire._decode_exactly(text)
    assert str(fast.value) == str(exact.value)
    assert fast.value.path == exact.value.path


def test_a_lone_surrogate_still_names_its_argument():
    with pytest.raises(wire.BadJSON) as caught:
        wire.decode('{"type":"call","kwargs":{"text":"\\ud800"}}')
    assert wire.refusal(caught.value)[0] == "invalid_arguments"
    assert caught.value.path == ("kwargs", "text")


def exact_encode(data) -> bytes:
    return wire._encoder.encode(data).encode()


@pytest.mark.parametrize("seed", range(20))
def test_encoding_generated_values_reads_back_as_the_exact_paths_text(seed):
    for data in generated_values(50, seed):
        assert same(json.loads(wire.encode_bytes(data)), json.loads(exact_encode(data)))
        assert wire.encode(data) == wire.encode_bytes(data).decode()


class Colour(enum.IntEnum):
    RED = 1


DJANGO_VALUES = [
    datetime.datetime(2026, 12, 3, 12, 0, 1, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 12, 3, 12, 0, 1, 123456),
    datetime.date(2026, 12, 3),
    datetime.time(12, 0, 1, 500),
    datetime.timedelta(days=1, seconds=5),
    decimal.Decimal("1.10"),
    uuid.UUID("12345678123456781234567812345678"),
    gettext_lazy("Hello"),
    Colour.RED,
    (1, 2),
    {1: "int key", None: "none key", 2.5: "float key", False: "bool key"},
]


@pytest.mark.parametrize("value", DJANGO_VALUES, ids=lambda v: type(v).__name__)
def test_django_types_are_written_as_djangos_encoder_writes_them(value):
    assert wire.encode_bytes({"v": value}) == exact_encode({"v": value})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, {"x": math.nan}]])
def test_non_finite_floats_raise_rather_than_become_null(value):
    with pytest.raises(ValueError):
        wire.encode_bytes({"v": value})


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", {(1, 2): "tuple key"}])
def test_values_json_cannot_hold_raise_type_error(value):
    with pytest.raises(TypeError):
        wire.encode_bytes({"v": value})


def test_integers_beyond_64_bits_are_encoded_exactly():
    assert wire.encode_bytes({"v": 2**70}) == b'{"v":%d}' % 2**70
