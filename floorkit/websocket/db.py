"""
Database connections in ``runwebsocket``: each greenlet gets its own Django
connection (asgiref's ``Local`` is greenlet-local under gevent), so a greenlet
that ran a browser call or identified a peer must close what it opened, or the
connection outlives it.
"""

from __future__ import annotations

import weakref

import gevent
from django.db import connections as db_connections
from django.db.backends.signals import connection_created

_db_users: weakref.WeakSet = weakref.WeakSet()  # greenlets that opened a DB connection


def _note_db_connection(sender, connection, **kwargs) -> None:
    _db_users.add(gevent.getcurrent())


connection_created.connect(_note_db_connection, dispatch_uid="floorkit.websocket.db_users")


def close_db_connections() -> None:
    """
    Close the database connections this greenlet opened (each greenlet has its
    own); free when it opened none, which is the common case of a call.
    """
    if not _db_users:  # no greenlet holds one: skip the lookup
        return
    current = gevent.getcurrent()
    if current in _db_users:
        _db_users.discard(current)
        for connection in db_connections.all(initialized_only=True):
            connection.close()
