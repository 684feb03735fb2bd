"""What is registered: the data behind ``listsignals``, callable from Python."""

from __future__ import annotations

from typing import Any

from floorkit.signals.registry import registry


def describe_signals() -> list[dict[str, Any]]:
    """
    Return every known signal, sorted by name, as JSON-serializable dicts::

        {"signal": "demo.chat.message", "declared": False,
         "allow_from_client": True, "auth_required": True,
         "handlers": [{"handler": "demo.signals.on_message", "delayed": False,
                       "queue": None, "auth_required": True,
                       "allow_from_client": True, "is_async": False}]}

    ``allow_from_client``/``auth_required`` at the signal level say whether a
    browser may call it at all, and whether anonymous browsers are refused.
    """
    return [
        {
            "signal": info.name,
            "declared": info.declared,
            "allow_from_client": info.client_may_call(),
            "auth_required": info.login_required(),
            "handlers": [handler.describe() for handler in info.handlers],
        }
        for info in registry.all()
    ]


def describe_async_signals() -> list[dict[str, Any]]:
    """
    Return every named ``AsyncSignal``, sorted by name, as JSON-serializable
    dicts (``AsyncSignal.describe()``)::

        {"signal": "shop.signals.order_paid", "async": True, "queue": "default",
         "retry": 0, "on_commit": True, "on_missing": "fail",
         "receivers": [{"receiver": "shop.receivers.send_receipt",
                        "sender": "shop.Order", "dispatch_uid": None,
                        "weak": True, "is_async": False}]}
    """
    from floorkit.async_signals.names import all_signals

    return [signal.describe() for signal in all_signals()]


def describe_groups() -> list[dict[str, Any]]:
    """
    Return the group authorizers, in the order they are tried, as
    JSON-serializable dicts::

        {"pattern": "doc.{pk}", "authorizer": "docs.signals.can_join",
         "auth_required": True}
    """
    from floorkit.groups.authorizers import authorizers

    return [authorizer.describe() for authorizer in authorizers.all()]
