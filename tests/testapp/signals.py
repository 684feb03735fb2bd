"""Signals the test suite calls. Delayed handlers report to Redis lists so that
tests can see what ran in the worker process."""

import json
import os
from typing import Any, Optional

from floorkit import call, connect, declare
from floorkit.connection import get_redis

declare("tests.jsonly", allow_from_client=True)
declare("tests.jsonly_closed")


def report(name: str, **data: Any) -> None:
    get_redis().rpush(f"tests:{name}", json.dumps({"pid": os.getpid(), **data}))


@connect(path="tests.echo")
def echo(request, **kwargs):
    return kwargs


@connect(path="tests.typed")
def typed(
    request,
    count: int,
    ratio: float = 1.0,
    name: str = "",
    flag: bool = False,
    items: list[int] | None = None,
    options: dict | None = None,
    maybe: Optional[str] = None,  # noqa: UP045 (typing.Optional is supported too)
):
    return {
        "count": count,
        "ratio": ratio,
        "name": name,
        "flag": flag,
        "items": items,
        "options": options,
        "maybe": maybe,
    }


@connect(path="tests.order")
def first(request, value: int):
    report("order", handler="first", value=value)
    return "first"


@connect(path="tests.order")
def second(request, value: int):
    report("order", handler="second", value=value)
    return "second"


@connect(path="tests.delayed", delayed=True)
def delayed(request, value: int, label: str = ""):
    report("delayed", request=request.to_dict(), value=value, label=label)
    return {"value": value}


@connect(path="tests.delayed_fails", delayed=True, retry=1)
def delayed_fails(request, value: int):
    report("delayed_fails", value=value)
    raise RuntimeError(f"boom {value}")


@connect(path="tests.chain")
def chain(request, value: int):
    """An inline handler that calls a delayed one, keeping the request."""
    return call("tests.delayed", request, value=value, label="chained").jobs


@connect(path="tests.private", allow_from_client=False)
def private(request):
    return "private"


@connect(path="tests.anonymous", auth_required=False)
def anonymous(request, text: str = ""):
    return {"user": request.username, "text": text}


@connect(path="tests.delayed_any", delayed=True)
def delayed_any(request, payload):
    report("delayed_any", payload=payload)
