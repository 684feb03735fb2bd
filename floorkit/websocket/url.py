"""
``FLOORKIT["WEBSOCKET_URL"]``: where browsers open the websocket.

The setting is either a path (``"/ws/floorkit/"``: the page's own host, for
``runwebsocket --http`` or a proxy routing that path) or an absolute
``ws://``/``wss://`` URL (``"ws://127.0.0.1:8001/ws/floorkit/"``: the site on
``runserver``, the websocket on another port). The template tag gives the
setting to the browser as it is; the server answers on its path only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("ws", "wss", "http", "https")


class WebSocketUrlError(ValueError):
    """The setting is neither a path nor an absolute websocket URL with a path."""


def websocket_path(url: str) -> str:
    """
    Return the path the server answers websocket upgrades on: ``url`` itself
    when it is a path, else the path of the absolute URL. Raise
    ``WebSocketUrlError`` for anything else (no scheme nor leading ``/``, an
    unknown scheme, no host, no path, a query or fragment).
    """
    if not isinstance(url, str) or not url:
        raise WebSocketUrlError(f"{url!r} is not a string")
    if url.startswith("/") and not url.startswith("//"):
        if "?" in url or "#" in url:
            raise WebSocketUrlError(f"{url!r} has a query or fragment")
        return url
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise WebSocketUrlError(f"{url!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise WebSocketUrlError(f"{url!r} is neither a path (/ws/floorkit/) nor a ws:// URL")
    if not parts.netloc:
        raise WebSocketUrlError(f"{url!r} has no host")
    if not parts.path.startswith("/"):
        raise WebSocketUrlError(f"{url!r} has no path (end it with /ws/floorkit/)")
    if parts.query or parts.fragment:
        raise WebSocketUrlError(f"{url!r} has a query or fragment")
    return parts.path
