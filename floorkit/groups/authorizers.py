"""
Which groups a browser may join: ``@floorkit.group("doc.{pk}")`` authorizers.

An authorizer is ``def can_join(request, pk: int) -> bool | dict`` under a
pattern whose ``{placeholders}`` each match one segment of a group name and
are passed by keyword, parsed and checked like handler arguments
(``floorkit.signals.arguments``). It returns ``True`` (may join), a dict
(may join, with that presence metadata) or anything false (refused).

A browser's join, presence request, or call with ``to: {"group": ...}``
runs the first authorizer, in registration order, whose pattern matches the
whole group name. No authorizer matching means refused: a group is closed
to browsers unless one opens it. Python's ``join()`` needs none.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from floorkit.exceptions import LoginRequired, NotAllowed
from floorkit.groups.names import SEGMENT, check_group
from floorkit.signals.arguments import HandlerSignature, compile_signature
from floorkit.signals.registry import handler_path
from floorkit.signals.request import SignalRequest

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Authorizer:
    """A pattern of group names and the function deciding who may join them."""

    pattern: str
    fn: Callable[..., Any]
    path: str
    auth_required: bool = True
    regex: re.Pattern = field(repr=False, default=None)  # type: ignore[assignment]
    signature: HandlerSignature = field(repr=False, default=None)  # type: ignore[assignment]

    def describe(self) -> dict[str, Any]:
        """A JSON-serializable description (``listsignals --json``)."""
        return {
            "pattern": self.pattern,
            "authorizer": self.path,
            "auth_required": self.auth_required,
        }


def compile_pattern(pattern: str) -> tuple[re.Pattern, list[str]]:
    """
    The regex of a group pattern and its placeholder names. Raise
    ``ValueError`` for a pattern that no group name could match.
    """
    names = _PLACEHOLDER.findall(pattern)
    if len(set(names)) != len(names):
        raise ValueError(f"group pattern {pattern!r} repeats a placeholder")
    literal = _PLACEHOLDER.sub("x", pattern)
    check_group(literal)
    parts, position = [], 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]))
        parts.append(f"(?P<{match[1]}>{SEGMENT})")
        position = match.end()
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts) + r"\Z"), names


class Authorizers:
    """The authorizers, in registration order. Registration takes a lock; lookups do not."""

    def __init__(self) -> None:
        self._items: list[Authorizer] = []
        self._lock = threading.Lock()

    def add(self, authorizer: Authorizer) -> Authorizer:
        """Add ``authorizer``; one with the same path and pattern replaces the old one in place."""
        with self._lock:
            items = list(self._items)
            for index, existing in enumerate(items):
                if (existing.path, existing.pattern) == (authorizer.path, authorizer.pattern):
                    items[index] = authorizer
                    break
            else:
                items.append(authorizer)
            self._items = items
        return authorizer

    def remove(self, pattern: str) -> None:
        """Remove the authorizers of ``pattern``."""
        with self._lock:
            self._items = [a for a in self._items if a.pattern != pattern]

    def all(self) -> list[Authorizer]:
        return list(self._items)

    def match(self, group: str) -> tuple[Authorizer, dict[str, str]] | None:
        """The first authorizer matching ``group``, with its placeholders' values."""
        for authorizer in self._items:
            found = authorizer.regex.match(group)
            if found is not None:
                return authorizer, found.groupdict()
        return None


authorizers = Authorizers()


def group(pattern: str, *, auth_required: bool = True) -> Callable[[Callable], Callable]:
    """
    Register the decorated function as the authorizer of the groups matching
    ``pattern`` (``"doc.{pk}"``; each placeholder is a parameter of the
    function). With ``auth_required`` (the default), anonymous browsers are
    refused without calling it. Raise ``ValueError`` at decoration time for a
    bad pattern, or a function whose parameters do not fit it.
    """
    regex, names = compile_pattern(pattern)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = compile_signature(fn)
        problems = list(signature.problems)
        problems += [
            f"no parameter {n!r} for the placeholder" for n in names if n not in signature.params
        ]
        problems += [
            f"parameter {p.name!r} is required but not a placeholder"
            for p in signature.params.values()
            if p.required and p.name not in names
        ]
        if problems:
            raise ValueError(
                f"authorizer {handler_path(fn)} of {pattern!r}: " + "; ".join(problems)
            )
        authorizers.add(Authorizer(pattern, fn, handler_path(fn), auth_required, regex, signature))
        return fn

    return decorate


def authorize(request: SignalRequest, group_name: Any) -> dict[str, Any]:
    """
    Decide whether the browser ``request`` may join ``group_name``; return
    the presence metadata (``{}`` when the authorizer returned ``True``).
    Raise ``InvalidTarget`` for a bad name, ``NotAllowed`` when no authorizer
    matches or it refuses, ``LoginRequired`` for an anonymous caller where
    login is required, ``InvalidArguments`` when a segment does not convert
    (``doc.abc`` for ``pk: int``), ``TypeError`` when the authorizer returns
    metadata that is not a JSON object. Its own exceptions propagate.
    """
    check_group(group_name)
    found = authorizers.match(group_name)
    if found is None:
        raise NotAllowed(f"browsers may not join {group_name!r}: no authorizer matches it")
    authorizer, values = found
    if authorizer.auth_required and not request.is_authenticated:
        raise LoginRequired(f"joining {group_name!r} requires a logged-in user")
    arguments = authorizer.signature.bind(f"group {group_name}", authorizer.path, values)
    verdict = authorizer.fn(request, **arguments)
    if not verdict:
        raise NotAllowed(f"you may not join {group_name!r}")
    if verdict is True:
        return {}
    if not isinstance(verdict, dict):
        raise TypeError(
            f"authorizer {authorizer.path} must return a bool or a dict, got {type(verdict).__name__}"
        )
    return verdict
