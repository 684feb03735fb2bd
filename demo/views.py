"""One view per demo page; each page's JavaScript is in its template."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from demo.management.commands.rundemo import DEMO_USERS
from demo.models import Note
from demo.signals import ROOMS, room_group

# (url name, title) of every page, for the navigation bar of demo/base.html
PAGES = [
    ("index", "Chat"),
    ("rooms", "Rooms"),
    ("job", "Long job"),
    ("notes", "AsyncSignal"),
    ("resilience", "Resilience"),
    ("trace", "Trace"),
]


def page(request, name, template, **context):
    return render(
        request,
        template,
        {"pages": PAGES, "current": name, "demo_users": DEMO_USERS, **context},
    )


@ensure_csrf_cookie
def index(request):
    """Chat in the lobby (the session joins it here, in the view), a private message to one user."""
    enter_lobby(request)
    return page(request, "index", "demo/index.html")


def enter_lobby(request) -> None:
    """Put every tab of this session in the lobby's group; the page works without Redis too."""
    from floorkit import SESSION, join
    from floorkit.exceptions import RedisUnavailable
    from floorkit.groups.authorizers import authorize
    from floorkit.signals.request import SignalRequest

    if request.session.session_key is None:
        request.session.save()
    caller = SignalRequest.from_request(request)
    try:
        join(caller, room_group("lobby"), SESSION, authorize(caller, room_group("lobby")))
    except RedisUnavailable:
        pass  # the page says it cannot connect


@ensure_csrf_cookie
def rooms(request):
    """Rooms: pick one, see who is here live, chat with them."""
    return page(request, "rooms", "demo/rooms.html", rooms=ROOMS)


@ensure_csrf_cookie
def job(request):
    """A long job on an RQ worker, with a progress bar and a cancel button."""
    return page(request, "job", "demo/job.html")


@ensure_csrf_cookie
def notes(request):
    """Saving a Note sends an AsyncSignal; its receivers log to the page from the worker."""
    recent = Note.objects.filter(author=request.user)[:5] if request.user.is_authenticated else []
    return page(request, "notes", "demo/notes.html", recent=recent)


@ensure_csrf_cookie
def resilience(request):
    """Messages keep coming while the connection is down; none is lost."""
    return page(request, "resilience", "demo/resilience.html", ticks=range(1, 21))


@ensure_csrf_cookie
def trace(request):
    """What `manage.py tracesignal` prints for the last click."""
    return page(request, "trace", "demo/trace.html")


def trace_tree(request, trace_id):
    """
    JSON for the Trace page: what ``manage.py tracesignal --trace ID`` prints for a demo
    call, the trace's events drawn as a tree. A plain view, not a signal, so that
    reading a trace is not traced itself. (Traces name hosts, pids and windows: a real
    site would show them to its staff only.)
    """
    from floorkit.tracing import reader, recorder

    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in first"}, status=403)
    # A recent click: its events are among the last batches of the trace stream.
    found = reader.select(recorder.read(batches=2000), ["demo.*"], trace=trace_id)
    events = found.get(trace_id, [])
    return JsonResponse(
        {
            "lines": reader.tree(events) if events else [],
            "finished": reader.finished(events),
        }
    )
