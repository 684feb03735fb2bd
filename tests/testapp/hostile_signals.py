"""Handlers open to anonymous browsers, for tests/test_hostile_input.py (loaded via SIGNAL_MODULES)."""

from __future__ import annotations

from floorkit import connect


@connect(path="hostile.echo", auth_required=False)
def echo(request, **kwargs):
    return kwargs


@connect(path="hostile.typed", auth_required=False)
def typed(
    request,
    count: int,
    ratio: float = 1.0,
    name: str = "",
    flag: bool = False,
    items: list[int] | None = None,
    options: dict | None = None,
):
    return {"count": count, "ratio": ratio, "name": name, "flag": flag}


@connect(path="hostile.nan", auth_required=False)
def nan(request):
    return float("nan")


@connect(path="hostile.private", allow_from_client=False)
def private(request):
    return "never from a browser"


@connect(path="hostile.members")
def members(request):
    return request.username
