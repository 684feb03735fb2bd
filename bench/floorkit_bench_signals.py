"""The benchmark's signals: an echo handler and a JS-only broadcast."""

from floorkit import connect, declare

declare("bench.broadcast")


@connect(path="bench.echo", auth_required=False)
def echo(request, **kwargs):
    return kwargs
