"""
Type mappings: how the arguments of an ``AsyncSignal`` travel to an RQ worker
as JSON, and come back as the same Python types.

``encode()`` turns a value into JSON data; ``decode()`` rebuilds the value in
the worker. Nothing is ever pickled. Built-in mappings:

=============================  =================================================
Python value                   Arrives in the worker as
=============================  =================================================
``None``, ``bool``, ``int``,   the same value (``float`` NaN and infinities
``float``, ``str``             included)
``list``, ``tuple``, ``set``,  the same container type, its items mapped in turn
``frozenset``
``dict`` with ``str`` keys     a ``dict``, in the same order, values mapped
``datetime``, ``date``,        the same type and value; an aware ``datetime``
``time``, ``timedelta``        keeps its UTC offset, and its ``zoneinfo`` zone
                               when it has one
``Decimal``, ``UUID``          the same type and value
a saved model instance         a fresh instance of the same model class, fetched
                               again by primary key (``_base_manager``, same
                               database alias) when the worker decodes it
a model class (a ``sender``)   the same class, looked up in the app registry
``AnonymousUser``              an ``AnonymousUser``
=============================  =================================================

Types are matched exactly: a subclass of a built-in type (an ``IntEnum``, a
``namedtuple``, an ``OrderedDict``) is refused rather than silently turned
into its base type. Register a mapping for it, or for any other type::

    from floorkit import register_mapping

    @register_mapping(Money)
    class MoneyMapping:
        @staticmethod
        def encode(value: Money):           # any value floorkit can encode
            return [value.amount, value.currency]

        @staticmethod
        def decode(data) -> Money:          # gets that value back, decoded
            return Money(*data)

A mapping must be registered in every process, web and worker alike: do it in
a module imported at start-up (an app's ``signals`` module, or
``AppConfig.ready()``).
"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from floorkit.exceptions import FloorkitError

__all__ = [
    "MissingInstance",
    "Mapping",
    "decode",
    "encode",
    "register_mapping",
    "unregister_mapping",
]

#: The key that marks a mapped (tagged) value in the JSON data: ``{"$fk": tag, "v": data}``.
TAG = "$fk"

T = TypeVar("T")
JSON = Any  # None | bool | int | float | str | list[JSON] | dict[str, JSON]

_PRIMITIVES = frozenset({type(None), bool, int, float, str})


class MissingInstance(FloorkitError, LookupError):
    """
    A model instance sent to an ``AsyncSignal`` no longer exists when the
    worker fetches it again (deleted, or rolled back, before the job ran).

    ``model`` is the model label (``"shop.Order"``), ``pk`` the primary key
    and ``argument`` the signal argument that carried it.
    """

    kind = "missing_instance"

    def __init__(self, model: str, pk: Any, argument: str):
        self.model = model
        self.pk = pk
        self.argument = argument
        super().__init__(
            f"argument {argument!r}: {model} with pk {pk!r} does not exist any more "
            "(deleted before the worker ran)"
        )


@dataclass(frozen=True)
class Mapping:
    """How values of ``type`` travel: ``encode`` to data floorkit can encode, ``decode`` back."""

    type: type
    tag: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


_lock = threading.Lock()
_by_type: dict[type, Mapping] = {}
_by_tag: dict[str, Mapping] = {}


def register_mapping(
    type_: type,
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
    *,
    name: str | None = None,
) -> Any:
    """
    Teach floorkit to carry values of ``type_`` (exactly that class, not its
    subclasses) to workers.

    ``encode(value)`` returns anything floorkit can encode itself (JSON data,
    ``Decimal``, a model instance, ...); ``decode(data)`` receives that value,
    already decoded, and returns the rebuilt ``type_`` value. ``name`` is the
    tag stored in jobs (default: ``module.QualifiedName`` of ``type_``); keep
    it stable while jobs are queued.

    Called with ``encode`` and ``decode``, it registers them and returns
    ``type_``. Called with ``type_`` alone, it returns a decorator for an
    object (usually a class) with ``encode`` and ``decode`` attributes, which
    it registers and returns unchanged.

    Registering a type again replaces its mapping. Raise ``TypeError`` for a
    type floorkit maps itself (``str``, ``dict``, ``datetime``, ...), and
    ``ValueError`` when ``name`` is already the tag of another type.
    """
    if not isinstance(type_, type):
        raise TypeError(f"register_mapping() needs a class, got {type_!r}")

    def add(encoder: Callable[[Any], Any], decoder: Callable[[Any], Any]) -> None:
        if not (callable(encoder) and callable(decoder)):
            raise TypeError(f"the mapping of {_type_name(type_)} needs callable encode and decode")
        existing = _by_type.get(type_)
        if type_ in _PRIMITIVES or type_ in (list, dict) or (existing and existing.tag in _BUILTIN):
            raise TypeError(f"{_type_name(type_)} is mapped by floorkit itself")
        tag = name or f"{type_.__module__}.{type_.__qualname__}"
        with _lock:
            other = _by_tag.get(tag)
            if other is not None and other.type is not type_:
                raise ValueError(
                    f"mapping name {tag!r} is already used by {_type_name(other.type)}"
                )
            if existing is not None:
                _by_tag.pop(existing.tag, None)
            mapping = Mapping(type_, tag, encoder, decoder)
            _by_type[type_] = mapping
            _by_tag[tag] = mapping

    if encode is not None or decode is not None:
        add(encode, decode)  # type: ignore[arg-type]
        return type_

    def decorator(obj: T) -> T:
        add(getattr(obj, "encode", None), getattr(obj, "decode", None))  # type: ignore[arg-type]
        return obj

    return decorator


def unregister_mapping(type_: type) -> None:
    """Forget the user mapping of ``type_`` (tests). Built-in mappings stay."""
    with _lock:
        mapping = _by_type.get(type_)
        if mapping is not None and mapping.tag not in _BUILTIN:
            del _by_type[type_]
            _by_tag.pop(mapping.tag, None)


def encode(value: Any, argument: str = "value") -> JSON:
    """
    Return JSON data that ``decode()`` turns back into ``value``.

    Raise ``TypeError`` for a value (or an item inside it) of a type without a
    mapping, for a ``dict`` key that is not a ``str``, and for an unsaved model
    instance; the message names ``argument``, where the value sits inside it,
    and the type.
    """
    return _encode(value, argument, "")


def decode(data: JSON, argument: str = "value") -> Any:
    """
    Rebuild the value that ``encode()`` turned into ``data``.

    Model instances are fetched again: raise ``MissingInstance`` when one no
    longer exists. Raise ``ValueError`` for a tag no mapping of this process
    knows (a ``register_mapping()`` missing from the worker).
    """
    return _decode(data, argument)


# -- encoding ---------------------------------------------------------------------------


def _type_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _refuse(argument: str, where: str, reason: str) -> TypeError:
    at = f" at {where}" if where else ""
    return TypeError(f"argument {argument!r}{at}: {reason}")


def _encode(value: Any, argument: str, where: str) -> JSON:
    cls = type(value)
    if cls in _PRIMITIVES:
        return value
    if cls is list:
        return [_encode(item, argument, f"{where}[{i}]") for i, item in enumerate(value)]
    if cls is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _refuse(
                    argument,
                    where,
                    f"dict key {key!r} is a {_type_name(type(key))}; only str keys can travel",
                )
            out[key] = _encode(item, argument, f"{where}[{key!r}]")
        if TAG in out:  # a user dict that looks like a tagged value: wrap it
            return {TAG: "dict", "v": out}
        return out
    mapping = _by_type.get(cls)
    if mapping is not None:
        return {TAG: mapping.tag, "v": _encode(mapping.encode(value), argument, where)}
    return _encode_django(value, argument, where)


def _encode_django(value: Any, argument: str, where: str) -> JSON:
    from django.db.models import Model

    # isinstance(), not type(): request.user is a SimpleLazyObject around the user.
    if isinstance(value, Model):
        meta = value._meta
        if meta.abstract or value.pk is None:
            raise _refuse(
                argument,
                where,
                f"unsaved {meta.label} instance (pk is None): only saved rows can travel",
            )
        ref = [meta.label, _encode(value.pk, argument, f"{where}.pk")]
        db = value._state.db
        if db and db != "default":
            ref.append(db)
        return {TAG: "model", "v": ref}
    if isinstance(value, type) and issubclass(value, Model):
        if value._meta.abstract:
            raise _refuse(argument, where, f"abstract model {value.__qualname__}")
        return {TAG: "modelclass", "v": value._meta.label}
    anonymous = _anonymous_user_class()
    if anonymous is not None and isinstance(value, anonymous):
        return {TAG: "anonymoususer", "v": None}
    cls = type(value)
    raise _refuse(
        argument,
        where,
        f"{_type_name(cls)} cannot travel to a worker; register a mapping with "
        f"floorkit.register_mapping({cls.__qualname__}, encode, decode)",
    )


def _anonymous_user_class() -> type | None:
    from django.apps import apps

    if not apps.is_installed("django.contrib.auth"):
        return None
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser


# -- decoding ---------------------------------------------------------------------------


def _decode(data: JSON, argument: str) -> Any:
    cls = type(data)
    if cls is list:
        return [_decode(item, argument) for item in data]
    if cls is not dict:
        return data
    tag = data.get(TAG)
    if tag is None:
        return {key: _decode(item, argument) for key, item in data.items()}
    if tag == "dict":
        return {key: _decode(item, argument) for key, item in data["v"].items()}
    if tag == "model":
        return _fetch_instance(_decode(data["v"], argument), argument)
    mapping = _by_tag.get(tag)
    if mapping is None:
        raise ValueError(
            f"argument {argument!r}: no mapping named {tag!r} in this process; call "
            "floorkit.register_mapping() in a module every process imports at start-up"
        )
    return mapping.decode(_decode(data["v"], argument))


def _fetch_instance(ref: list[Any], argument: str) -> Any:
    from django.apps import apps

    label, pk, *rest = ref
    model = apps.get_model(label)
    try:
        return model._base_manager.db_manager(rest[0] if rest else "default").get(pk=pk)
    except model.DoesNotExist:
        raise MissingInstance(label, pk, argument) from None


def _get_model_class(label: str) -> type:
    from django.apps import apps

    return apps.get_model(label)


def _get_anonymous_user(_: None) -> Any:
    return _anonymous_user_class()()  # type: ignore[misc]


def _encode_datetime(value: datetime.datetime) -> Any:
    tz = value.tzinfo
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key:
        return [value.isoformat(), tz.key]
    return value.isoformat()


def _decode_datetime(data: Any) -> datetime.datetime:
    if isinstance(data, list):
        return datetime.datetime.fromisoformat(data[0]).astimezone(zoneinfo.ZoneInfo(data[1]))
    return datetime.datetime.fromisoformat(data)


def _encode_timedelta(value: datetime.timedelta) -> list[int]:
    return [value.days, value.seconds, value.microseconds]


def _decode_timedelta(data: list[int]) -> datetime.timedelta:
    return datetime.timedelta(days=data[0], seconds=data[1], microseconds=data[2])


def _builtin(type_: type | None, tag: str, encoder: Callable, decoder: Callable) -> None:
    mapping = Mapping(type_ or object, tag, encoder, decoder)
    if type_ is not None:
        _by_type[type_] = mapping
    _by_tag[tag] = mapping


_builtin(tuple, "tuple", list, tuple)
_builtin(set, "set", list, set)
_builtin(frozenset, "frozenset", list, frozenset)
_builtin(datetime.datetime, "datetime", _encode_datetime, _decode_datetime)
_builtin(datetime.date, "date", datetime.date.isoformat, datetime.date.fromisoformat)
_builtin(datetime.time, "time", datetime.time.isoformat, datetime.time.fromisoformat)
_builtin(datetime.timedelta, "timedelta", _encode_timedelta, _decode_timedelta)
_builtin(decimal.Decimal, "decimal", str, decimal.Decimal)
_builtin(uuid.UUID, "uuid", lambda value: value.hex, uuid.UUID)
# Matched by isinstance() in _encode_django(); decoded here by tag ("model" is decoded inline).
_builtin(None, "modelclass", None, _get_model_class)  # type: ignore[arg-type]
_builtin(None, "anonymoususer", None, _get_anonymous_user)  # type: ignore[arg-type]
_BUILTIN = frozenset(_by_tag) | {"dict", "model"}
