"""
The registry of signals and of the Python handlers connected to them.

A signal name is a dotted identifier (``demo.chat.message``). Handlers of one
name run in registration order. A handler is identified by its dotted path
(``module.qualname``), so registering the same function twice (a double
import, an autoreload) replaces it in place instead of running it twice.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from floorkit.exceptions import InvalidSignalName, UnknownSignal
from floorkit.signals.arguments import HandlerSignature, compile_signature
from floorkit.signals.coroutines import is_async, refuse_async_generator

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def check_name(name: Any) -> str:
    """Return ``name`` if it is a valid signal name, else raise ``InvalidSignalName``."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidSignalName(
            f"invalid signal name {name!r}: use dotted Python identifiers, e.g. 'demo.chat.message'"
        )
    return name


def default_name(fn: Callable[..., Any]) -> str:
    """
    The signal name of ``@connect`` without ``path=``: the function's module,
    less a trailing ``.signals``, then the function's name. ``on_message`` in
    ``demo/signals.py`` is ``demo.on_message``.
    """
    module = fn.__module__
    if module.endswith(".signals"):
        module = module[: -len(".signals")]
    elif module == "signals":
        module = ""
    return f"{module}.{fn.__name__}" if module else fn.__name__


@dataclass
class Handler:
    """A Python function connected to a signal, with its options."""

    signal: str
    fn: Callable[..., Any]
    path: str
    delayed: bool = False
    auth_required: bool = True
    allow_from_client: bool = True
    queue: str | None = None
    retry: int | None = None
    is_async: bool = False
    signature: HandlerSignature = field(repr=False, default=None)  # type: ignore[assignment]

    def bind(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Check and convert ``kwargs`` (``InvalidArguments`` on mismatch)."""
        return self.signature.bind(self.signal, self.path, kwargs)

    def describe(self) -> dict[str, Any]:
        """A JSON-serializable description (``listsignals --json``)."""
        from floorkit import conf

        return {
            "handler": self.path,
            "delayed": self.delayed,
            "queue": (self.queue or conf.get("DEFAULT_QUEUE")) if self.delayed else None,
            "auth_required": self.auth_required,
            "allow_from_client": self.allow_from_client,
            "is_async": self.is_async,
        }


@dataclass
class SignalInfo:
    """A signal name with its handlers, and the options of a declared JS-only signal."""

    name: str
    handlers: list[Handler] = field(default_factory=list)
    declared: bool = False
    auth_required: bool = True
    allow_from_client: bool = False

    _client: tuple[bool, bool, list[Handler]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def client_may_call(self) -> bool:
        """Whether a browser may call this signal at all."""
        if self.declared and self.allow_from_client:
            return True
        return any(h.allow_from_client for h in self.handlers)

    def login_required(self) -> bool:
        """Whether anonymous browsers are refused (any handler they may call requires login)."""
        open_handlers = [h for h in self.handlers if h.allow_from_client]
        if self.declared and self.auth_required:
            return True
        return any(h.auth_required for h in open_handlers)

    def client_access(self) -> tuple[bool, bool, list[Handler]]:
        """
        ``(client_may_call(), login_required(), handlers open to browsers)``,
        computed once per change of the signal (read on every browser call).
        """
        access = self._client
        if access is None:
            access = self._client = (
                self.client_may_call(),
                self.login_required(),
                [h for h in self.handlers if h.allow_from_client],
            )
        return access

    def changed(self) -> None:
        """Forget what ``client_access()`` computed; the registry calls it on every change."""
        self._client = None


class Registry:
    """Signals by name. Thread-safe for registration; lookups take no lock."""

    def __init__(self) -> None:
        self._signals: dict[str, SignalInfo] = {}
        self._lock = threading.Lock()

    def _info(self, name: str) -> SignalInfo:
        info = self._signals.get(name)
        if info is None:
            info = self._signals[name] = SignalInfo(name)
        return info

    def add(self, handler: Handler) -> Handler:
        """Connect ``handler``; a handler with the same path replaces the old one in place."""
        with self._lock:
            info = self._info(handler.signal)
            for index, existing in enumerate(info.handlers):
                if existing.path == handler.path:
                    info.handlers[index] = handler
                    break
            else:
                info.handlers.append(handler)
            info.changed()
        return handler

    def declare(self, name: str, *, allow_from_client: bool, auth_required: bool) -> SignalInfo:
        """Make ``name`` known without a Python handler (JS handlers only)."""
        with self._lock:
            info = self._info(check_name(name))
            info.declared = True
            info.allow_from_client = allow_from_client
            info.auth_required = auth_required
            info.changed()
            return info

    def remove(self, name: str, fn_or_path: Callable[..., Any] | str | None = None) -> None:
        """Disconnect one handler (by function or path), or the whole signal."""
        with self._lock:
            if fn_or_path is None:
                self._signals.pop(name, None)
                return
            info = self._signals.get(name)
            if info is not None:
                path = fn_or_path if isinstance(fn_or_path, str) else handler_path(fn_or_path)
                info.handlers = [h for h in info.handlers if h.path != path]
                info.changed()

    def get(self, name: str) -> SignalInfo:
        """Return the signal ``name``; raise ``UnknownSignal`` if nothing is known of it."""
        info = self._signals.get(name)
        if info is None or not (info.handlers or info.declared):
            raise UnknownSignal(name)
        return info

    def find_handler(self, name: str, path: str) -> Handler:
        """Return the handler ``path`` of signal ``name`` (used by workers)."""
        for handler in self.get(name).handlers:
            if handler.path == path:
                return handler
        raise UnknownSignal(f"{name} (handler {path})")

    def all(self) -> list[SignalInfo]:
        """Every known signal, sorted by name."""
        return [
            self._signals[k]
            for k in sorted(self._signals)
            if self._signals[k].handlers or self._signals[k].declared
        ]

    def snapshot(self) -> dict[str, SignalInfo]:
        """A copy of the registry's state, for ``restore()`` (tests)."""
        with self._lock:
            return {
                k: SignalInfo(
                    v.name, list(v.handlers), v.declared, v.auth_required, v.allow_from_client
                )
                for k, v in self._signals.items()
            }

    def restore(self, state: dict[str, SignalInfo]) -> None:
        with self._lock:
            self._signals = state


registry = Registry()


def handler_path(fn: Callable[..., Any]) -> str:
    """The dotted path that identifies a handler function."""
    return f"{fn.__module__}.{fn.__qualname__}"


def connect(
    fn: Callable[..., Any] | None = None,
    *,
    path: str | None = None,
    delayed: bool = False,
    auth_required: bool = True,
    allow_from_client: bool = True,
    queue: str | None = None,
    retry: int | None = None,
) -> Any:
    """
    Connect a Python function to a signal. Usable bare (``@connect``) or with
    arguments (``@connect(path="demo.chat.message", delayed=True)``).

    ``path`` is the signal name (default: see ``default_name``). ``delayed``
    handlers run on an RQ worker of ``queue`` (default
    ``FLOORKIT["DEFAULT_QUEUE"]``), retried ``retry`` times on failure
    (default ``FLOORKIT["RETRY"]``). ``allow_from_client`` opens the handler to
    browser calls; ``auth_required`` refuses anonymous browsers.

    An ``async def`` handler runs wherever a plain one does: inline, its
    coroutine is run to completion where ``call()`` runs
    (``floorkit.signals.coroutines.call_sync``; ``await acall()`` awaits it on
    the caller's loop), and delayed, on the worker.

    The function is returned unchanged. ``InvalidSignalName`` is raised at
    import time for a bad name; ``TypeError`` for an async generator function
    (nothing would iterate it).
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(func):
            raise TypeError(f"@connect needs a function, got {func!r}")
        refuse_async_generator(func, f"@connect: {handler_path(func)}")
        name = check_name(path if path is not None else default_name(func))
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise ValueError(f"retry must be a non-negative int, got {retry!r}")
        registry.add(
            Handler(
                signal=name,
                fn=func,
                path=handler_path(func),
                delayed=delayed,
                auth_required=auth_required,
                allow_from_client=allow_from_client,
                queue=queue,
                retry=retry,
                is_async=is_async(func),
                signature=compile_signature(func),
            )
        )
        return func

    if fn is not None:
        return decorator(fn)
    return decorator


def declare(name: str, *, allow_from_client: bool = False, auth_required: bool = True) -> str:
    """
    Declare a signal that has JS handlers only (``demo.chat.show``), so that
    Python may call it and, if ``allow_from_client``, browsers may send it to
    other browsers. Return the name.
    """
    registry.declare(name, allow_from_client=allow_from_client, auth_required=auth_required)
    return name
