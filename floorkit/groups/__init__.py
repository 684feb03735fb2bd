"""
Groups and presence: address everyone in ``doc.42``, and see who is there.

* ``Group("doc.42")`` (``floorkit.signals.targets``) sends a call's message to
  every window in the group: one log write and one publish whatever its size.
* ``join()`` / ``leave()`` (``membership``) put a window, a session or a user
  in a group, from any process.
* ``@group("doc.{pk}")`` (``authorizers``) decides which groups browsers may
  join; ``client_signals`` holds the signals they call to do it.
* ``presence()`` (``presence``) lists who is connected; connected windows
  (``windows``) and their holders' heartbeats (``holders``) keep it true,
  and ``scripts`` holds the Redis scripts that change it atomically.

See ``docs/groups.md``.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Presence": "floorkit.groups.presence",
    "authorize": "floorkit.groups.authorizers",
    "group": "floorkit.groups.authorizers",
    "join": "floorkit.groups.membership",
    "leave": "floorkit.groups.membership",
    "presence": "floorkit.groups.presence",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Loaded on first use: floorkit.signals.targets imports floorkit.groups.names,
    # which must not import the modules that import targets.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'floorkit.groups' has no attribute {name!r}")
    return getattr(import_module(module), name)
