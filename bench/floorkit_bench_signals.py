"""The benchmark's signals: an echo handler, a JS-only broadcast, and open bench rooms."""

from floorkit import connect, declare, group

declare("bench.broadcast")


@connect(path="bench.echo", auth_required=False)
def echo(request, **kwargs):
    return kwargs


@group("bench.{room}", auth_required=False)
def can_join(request, room: str):
    return True
