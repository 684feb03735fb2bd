"""floorkit.async_signals.mappings: what an AsyncSignal argument becomes in the worker, through JSON."""

import datetime
import json
import uuid
from collections import OrderedDict, namedtuple
from decimal import Decimal
from enum import IntEnum
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject

from floorkit import register_mapping
from floorkit.async_signals.mappings import MissingInstance, decode, encode, unregister_mapping
from tests.testapp.async_signals import Money
from tests.testapp.models import Order, Ticket


def travel(value, argument="value"):
    """What a worker gets: encode, through a JSON string, decode."""
    return decode(json.loads(json.dumps(encode(value, argument))), argument)


PARIS = ZoneInfo("Europe/Paris")

SAME_TYPE_AND_VALUE = [
    None,
    True,
    0,
    -(2**70),
    1.5,
    "héllo",
    [1, "two", [3.0, None]],
    (1, (2, "x"), []),
    {1, 2, 3},
    frozenset({"a"}),
    {"a": 1, "b": {"c": [1, 2]}},
    {"$fk": "uuid", "v": "a user dict that looks like a tag"},
    datetime.datetime(2026, 3, 29, 2, 30, 0, 7),
    datetime.datetime(2026, 3, 29, 3, 30, tzinfo=PARIS),
    datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),
    datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
    datetime.date(1999, 12, 31),
    datetime.time(23, 59, 59, 999999),
    datetime.timedelta(days=-2, seconds=5, microseconds=7),
    Decimal("19.990"),
    Decimal("-0.000001"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Money(Decimal("5.00"), "EUR"),
    [Money(Decimal("1"), "USD"), (Decimal("2"),)],
]


@pytest.mark.parametrize("value", SAME_TYPE_AND_VALUE, ids=repr)
def test_built_in_and_registered_types_arrive_with_their_type_and_value(value):
    got = travel(value)
    assert got == value and type(got) is type(value)
    assert repr(got) == repr(value)  # nested types (tuple in list, Decimal in tuple...) too


def test_tuple_and_list_and_set_stay_distinct_inside_containers():
    got = travel({"t": (1,), "l": [1], "s": {1}, "f": frozenset({1})})
    assert [type(v) for v in got.values()] == [tuple, list, set, frozenset]


def test_aware_datetime_keeps_its_zone_and_instant():
    value = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS)
    got = travel(value)
    assert got.tzinfo == PARIS and got.utcoffset() == datetime.timedelta(hours=1)
    assert got.timestamp() == value.timestamp()


def test_data_is_plain_json_never_pickle():
    data = encode({"when": datetime.date(2026, 1, 2), "price": Decimal("1.10")}, "x")
    assert json.loads(json.dumps(data)) == {
        "when": {"$fk": "date", "v": "2026-01-02"},
        "price": {"$fk": "decimal", "v": "1.10"},
    }


@pytest.mark.parametrize(
    "value, message",
    [
        (b"raw", r"argument 'payload': bytes cannot travel to a worker; register a mapping"),
        (object(), r"argument 'payload': object cannot travel"),
        ({"a": [1, b"x"]}, r"argument 'payload' at \['a'\]\[1\]: bytes cannot travel"),
        ({1: "x"}, r"argument 'payload': dict key 1 is a int; only str keys can travel"),
        (OrderedDict(a=1), r"argument 'payload': collections.OrderedDict cannot travel"),
        (IntEnum("Level", "LOW")(1), r"argument 'payload': tests.test_mappings.Level cannot"),
        (namedtuple("Point", "x")(1), r"argument 'payload': tests.test_mappings.Point cannot"),
    ],
    ids=["bytes", "object", "nested", "int-key", "OrderedDict", "IntEnum", "namedtuple"],
)
def test_unknown_type_is_a_type_error_naming_the_argument_and_the_type(value, message):
    with pytest.raises(TypeError, match=message):
        encode(value, "payload")


def test_unsaved_instance_cannot_travel():
    with pytest.raises(TypeError, match=r"argument 'order': unsaved testapp.Order instance"):
        encode(Order(number="x"), "order")


def test_model_instances_and_classes_are_fetched_again(db):
    order = Order.objects.create(number="A-1", total=Decimal("3.50"))
    ticket = Ticket.objects.create(order=order, title="t")
    data = encode({"order": order, "ticket": ticket, "model": Ticket}, "x")
    assert data == {
        "order": {"$fk": "model", "v": ["testapp.Order", order.pk]},
        "ticket": {"$fk": "model", "v": ["testapp.Ticket", {"$fk": "uuid", "v": ticket.pk.hex}]},
        "model": {"$fk": "modelclass", "v": "testapp.Ticket"},
    }
    Order.objects.filter(pk=order.pk).update(number="A-1 edited")
    got = decode(json.loads(json.dumps(data)), "x")
    assert type(got["order"]) is Order and got["order"] is not order
    assert got["order"].number == "A-1 edited"  # the row as it is now, not a copy
    assert got["ticket"] == ticket and got["ticket"].order_id == order.pk
    assert got["model"] is Ticket


def test_request_user_lazy_object_and_anonymous_user_travel(db, django_user_model):
    user = django_user_model.objects.create_user("dora", password="x")
    got = travel([SimpleLazyObject(lambda: user), AnonymousUser()])
    assert type(got[0]) is django_user_model and got[0].pk == user.pk
    assert type(got[1]) is AnonymousUser


def test_deleted_instance_raises_missing_instance_naming_model_and_pk(db):
    order = Order.objects.create(number="gone")
    data = json.loads(json.dumps(encode(order, "order")))
    pk = order.pk
    order.delete()
    with pytest.raises(MissingInstance) as info:
        decode(data, "order")
    assert str(info.value) == (
        f"argument 'order': testapp.Order with pk {pk} does not exist any more "
        "(deleted before the worker ran)"
    )
    assert (info.value.model, info.value.pk) == ("testapp.Order", pk)


class Celsius:
    def __init__(self, degrees):
        self.degrees = degrees


def test_register_mapping_with_functions_and_unknown_tag_in_worker():
    register_mapping(Celsius, lambda c: c.degrees, Celsius, name="tests.celsius")
    try:
        data = json.loads(json.dumps(encode(Celsius(Decimal("21.5")), "t")))
        assert data == {"$fk": "tests.celsius", "v": {"$fk": "decimal", "v": "21.5"}}
        got = decode(data, "t")
        assert type(got) is Celsius and got.degrees == Decimal("21.5")
    finally:
        unregister_mapping(Celsius)
    # a worker without the mapping says so instead of passing raw data on
    with pytest.raises(ValueError, match=r"argument 't': no mapping named 'tests.celsius'"):
        decode(data, "t")
    with pytest.raises(TypeError, match="tests.test_mappings.Celsius cannot travel"):
        encode(Celsius(1), "t")


def test_built_in_types_cannot_be_remapped_and_names_are_unique():
    for builtin in (str, dict, list, tuple, datetime.datetime, Decimal):
        with pytest.raises(TypeError, match="is mapped by floorkit itself"):
            register_mapping(builtin, str, str)
    with pytest.raises(ValueError, match="already used by tests.testapp.async_signals.Money"):
        register_mapping(Celsius, str, str, name="tests.testapp.async_signals.Money")
