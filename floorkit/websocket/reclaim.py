"""
Opening a tab: who the peer is, which window it gets, and where it resumes.

A reconnecting page sends back its window's signed token (``?token=``) and
the last message it got (``?last=SEQ&epoch=EPOCH``). The window is reclaimed
only when the token verifies for the same session; otherwise the peer gets a
new window, and a cursor it sent is answered as unrecoverable (the old
window's messages are not its to resume).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from floorkit.signals import identity
from floorkit.websocket.db import close_db_connections
from floorkit.websocket.replay import UNRECOVERABLE
from floorkit.websocket.tab import Tab


def open_tab(ws, sock, environ: dict) -> tuple[Tab, int | None, str | None]:
    """
    Identify the peer and issue (or reclaim, with ``?token=``) its window.
    Return the tab (holding live messages until ``start()``), the sequence
    number to recover from (``?last=``, honoured with a reclaimed window only;
    ``UNRECOVERABLE`` when it cannot be) and the epoch it counts in
    (``?epoch=``, if given).
    """
    from floorkit.delivery.message_log import valid_cursor
    from floorkit.websocket.auth import identify

    try:
        request = identify(environ)
    finally:
        close_db_connections()
    query = parse_qs(environ.get("QUERY_STRING", ""))
    token = query.get("token", [None])[0]
    window = identity.verify_window(token, request.session)
    try:
        after = int(query["last"][0])
    except (KeyError, ValueError):
        after = None
    if after is not None and not valid_cursor(after):
        after = UNRECOVERABLE  # no such point in the logs: start from now, and say so
    if window is None:
        window, token = identity.new_window(request.session)
        if after is not None:  # the old window is not ours to resume: say so
            after = UNRECOVERABLE
    request.window = window
    epoch = query.get("epoch", [None])[0]
    return Tab(ws, sock, request, token), after, epoch
