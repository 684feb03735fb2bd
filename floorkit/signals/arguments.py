"""
Checking and converting the keyword arguments of a call against a handler's
signature, before any handler runs.

A handler is ``def handler(request, **params)``: its first parameter receives
the ``SignalRequest``; every other parameter is passed by keyword. Parameters
annotated with ``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``
(optionally parametrized, e.g. ``list[int]``), ``X | None`` / ``Optional[X]``
or ``Any`` are validated and converted from JSON values. A parameter
annotated with any other class accepts instances of that class only (Python
callers may pass model instances); an unannotated parameter accepts anything.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from floorkit.exceptions import InvalidArguments

_MISSING = inspect.Parameter.empty
_INT_RE = re.compile(r"^[+-]?\d+$")


class _Reject(Exception):
    """Internal: a value does not convert; the message says why."""


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Reject(f"expected int, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value)
    raise _Reject(f"expected int, got {_describe(value)}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Reject(f"expected float, got {_describe(value)}")
    if isinstance(value, int | float | str):
        try:
            result = float(value)
        except ValueError:
            raise _Reject(f"expected float, got {_describe(value)}") from None
        except OverflowError:  # an int past the float range
            raise _Reject(f"expected a finite float, got {_describe(value)}") from None
    else:
        raise _Reject(f"expected float, got {_describe(value)}")
    if not math.isfinite(result):
        raise _Reject(f"expected a finite float, got {_describe(value)}")
    return result


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Reject(f"expected str, got {_describe(value)}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _Reject(f"expected bool, got {_describe(value)}")


def _passthrough(value: Any) -> Any:
    return value


_SIMPLE: dict[Any, Callable[[Any], Any]] = {
    int: _to_int,
    float: _to_float,
    str: _to_str,
    bool: _to_bool,
    Any: _passthrough,
    object: _passthrough,
}


def _converter(annotation: Any) -> Callable[[Any], Any]:
    if annotation is _MISSING:
        return _passthrough
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if annotation is None or annotation is type(None):
        return _none_only
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        optional = type(None) in args
        members = [_converter(a) for a in args if a is not type(None)]
        return _union(members, optional, annotation)
    if annotation is list or origin is list:
        item = _converter(args[0]) if args else _passthrough
        return _list_of(item)
    if annotation is dict or origin is dict:
        value_conv = _converter(args[1]) if len(args) == 2 else _passthrough
        return _dict_of(value_conv)
    if origin is typing.Literal:
        return _literal(args)
    if isinstance(annotation, type):
        return _instance_of(annotation)
    return _passthrough


def _none_only(value: Any) -> None:
    if value is not None:
        raise _Reject(f"expected None, got {_describe(value)}")


def _union(members: list[Callable[[Any], Any]], optional: bool, annotation: Any):
    def convert(value: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise _Reject(f"expected {_name(annotation)}, got None")
        if len(members) == 1:  # X | None: X's own, more precise, reason
            return members[0](value)
        for member in members:
            try:
                return member(value)
            except _Reject:
                continue
        raise _Reject(f"expected {_name(annotation)}, got {_describe(value)}")

    return convert


def _list_of(item: Callable[[Any], Any]):
    def convert(value: Any) -> list:
        if not isinstance(value, list | tuple):
            raise _Reject(f"expected list, got {_describe(value)}")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except _Reject as exc:
                raise _Reject(f"item {index}: {exc}") from None
        return out

    return convert


def _dict_of(value_conv: Callable[[Any], Any]):
    def convert(value: Any) -> dict:
        if not isinstance(value, dict):
            raise _Reject(f"expected dict, got {_describe(value)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Reject(f"expected str keys, got key {_describe(k)}")
            try:
                out[k] = value_conv(v)
            except _Reject as exc:
                raise _Reject(f"key {k!r}: {exc}") from None
        return out

    return convert


def _literal(choices: tuple):
    def convert(value: Any) -> Any:
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise _Reject(f"expected one of {list(choices)!r}, got {_describe(value)}")

    return convert


def _instance_of(cls: type):
    def convert(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        raise _Reject(f"expected {cls.__name__}, got {_describe(value)}")

    return convert


def _name(annotation: Any) -> str:
    """A readable name of an annotation: ``int``, ``list[int]``, ``str | None``."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_name(a) for a in args)
    if origin is not None and args:
        return f"{_name(origin)}[{', '.join(_name(a) for a in args)}]"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@dataclass
class Param:
    """One keyword parameter of a handler."""

    name: str
    required: bool
    convert: Callable[[Any], Any]


@dataclass
class HandlerSignature:
    """
    The compiled signature of a handler. ``problems`` lists why it can never
    be satisfied (reported by the system checks); it is empty for a good one.
    """

    params: dict[str, Param]
    var_keyword: bool
    problems: list[str]

    def bind(self, signal: str, handler: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """
        Return ``kwargs`` converted for the handler. Raise ``InvalidArguments``
        naming the signal, the handler and the first bad argument.
        """
        out: dict[str, Any] = {}
        for name, value in kwargs.items():
            param = self.params.get(name)
            if param is None:
                if not self.var_keyword:
                    raise InvalidArguments(signal, handler, name, "unexpected argument")
                out[name] = value
                continue
            try:
                out[name] = param.convert(value)
            except _Reject as exc:
                raise InvalidArguments(signal, handler, name, str(exc)) from None
        for name, param in self.params.items():
            if param.required and name not in out:
                raise InvalidArguments(signal, handler, name, "missing required argument")
        return out


def compile_signature(fn: Callable[..., Any]) -> HandlerSignature:
    """Inspect ``fn`` once, at registration time."""
    problems: list[str] = []
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        return HandlerSignature({}, True, [f"signature cannot be inspected: {exc}"])
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # a NameError in a string annotation, typically
        hints = {}
        problems.append(f"annotations cannot be resolved: {exc}")
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        if not (parameters and parameters[0].kind is inspect.Parameter.VAR_POSITIONAL):
            problems.append("the first parameter must take the SignalRequest positionally")
    params: dict[str, Param] = {}
    var_keyword = False
    for parameter in parameters[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        elif parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            if parameter.default is _MISSING:
                problems.append(
                    f"parameter {parameter.name!r} is positional-only and required, "
                    "but arguments are passed by keyword"
                )
        else:
            params[parameter.name] = Param(
                parameter.name,
                parameter.default is _MISSING,
                _converter(hints.get(parameter.name, parameter.annotation)),
            )
    return HandlerSignature(params, var_keyword, problems)
