"""
The demo's signals, one section per page (``demo/templates/demo/*.html``).

Names starting with ``demo.`` are what browsers and Python call;
``python manage.py listsignals`` lists them all, and
``python manage.py tracesignal 'demo.*'`` follows them live.
"""

import time

from rq import get_current_job

from demo.models import Note
from floorkit import (
    USER,
    WINDOW,
    AsyncSignal,
    Group,
    Window,
    call,
    connect,
    declare,
    group,
)
from floorkit.delivery.redis_client import get_redis
from floorkit.groups.authorizers import authorize

# --- Chat (/) and Rooms (/rooms/) -------------------------------------------------------

declare("demo.chat.show")  # JS handlers only: {text, room, author}

ROOMS = ["lobby", "python", "django"]  # the Rooms page's list; any other name works too
COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#9a6324"]


def room_group(room: str) -> str:
    """The group of a chat room: ``demo.room.<room>``."""
    return f"demo.room.{room}"


@group("demo.room.{name}", auth_required=False)
def can_enter_room(request, name: str):
    """Anyone may enter a room; the presence shows their name and a colour of their own."""
    who = request.username or f"guest {(request.session or request.window or '?')[:4]}"
    return {"name": who, "color": COLORS[sum(map(ord, who)) % len(COLORS)]}


@connect(path="demo.chat.message")
def on_message(request, text: str, room: str = "lobby"):
    """A browser posts a chat line to a room: its members see it, and so does the sender."""
    text = text.strip()[:500]
    if not text:
        return {"sent": False}
    authorize(request, room_group(room))  # only to a room the sender may enter
    to = [Group(room_group(room)), WINDOW] if request.window else Group(room_group(room))
    call("demo.chat.show", request, to, text=text, room=room, author=request.username)
    return {"sent": True}


@connect(path="demo.chat.private")
def on_private(request, to: str, text: str):
    """A private message to one user (every tab of theirs) and back to the sender's tab."""
    call(
        "demo.chat.show",
        request,
        [{USER: [to]}, WINDOW],
        text=text.strip()[:500],
        room=f"@{to}",
        author=request.username,
    )
    return {"sent": True}


# --- Long job (/job/) -----------------------------------------------------------------

declare("demo.job.progress")  # {step, of}: the chat page's quick job reports with it

STEP_SECONDS = 0.3  # the "work" of one step


def cancel_key(window: str, job: str) -> str:
    """The Redis flag that cancels ``job``; keyed by window, so a tab cancels only its own."""
    return f"demo:cancel:{window}:{job}"


@connect(path="demo.job.start", delayed=True, queue="slow")
def long_job(request, steps: int = 10):
    """
    Runs on an RQ worker. The page awaits it (``{wait: true}``): each
    ``request.progress()`` reaches the page's ``onProgress``, and the return
    value resolves its call. Stops between steps when cancelled.
    """
    job = get_current_job().id  # the page learns it from the first progress report
    steps = max(1, min(steps, 100))
    redis = get_redis()
    request.progress(0, steps, "started on a worker")
    for step in range(1, steps + 1):
        time.sleep(STEP_SECONDS)
        if redis.delete(cancel_key(request.window, job)):  # the flag was up: take it down
            return {"outcome": "cancelled", "step": step - 1, "of": steps}
        request.progress(step, steps, f"step {step} of {steps}")
    return {"outcome": "finished", "step": steps, "of": steps}


@connect(path="demo.job.cancel")
def cancel_job(request, job: str):
    """Inline, in the websocket server: raise the flag the job checks between steps."""
    get_redis().set(cancel_key(request.window, job), 1, ex=3600)
    return {"cancelling": job}


@connect(path="demo.report.build", delayed=True, queue="default")
def build_report(request, year: int, steps: int = 5):
    """The chat page's quick job: reports its progress to the calling window at once."""
    for step in range(1, steps + 1):
        request.progress(step, steps, f"report {year}")  # to a call that awaits it, if any
        call(
            "demo.job.progress",
            request,
            WINDOW if request.window else None,
            step=step,
            of=steps,
            year=year,
        )
    return {"year": year, "steps": steps}


# --- AsyncSignal (/notes/) ------------------------------------------------------------

# A Django signal whose receivers run on an RQ worker. Its name, found by the worker:
# "demo.signals.note_saved".
note_saved = AsyncSignal()

declare("demo.notes.log")  # JS handlers only: {line}


@connect(path="demo.notes.save")
def save_note(request, text: str):
    """Save a Note, then send the async signal; returns at once with the job id."""
    text = text.strip()[:200]
    if not text:
        return {"saved": False}
    note = Note.objects.create(author=request.user, text=text)
    # Model instances travel as their primary key; the window id is a plain string.
    job = note_saved.send(sender=Note, note=note, window=request.window)
    return {"saved": True, "note": note.pk, "job": job}


def log(window, line):
    """Push one line to the event log of the tab that saved the note."""
    if window:
        call("demo.notes.log", None, Window(window), line=line)


# The receivers: ordinary Django receivers, run one after another by the worker.
def announce(sender, note, window, **kwargs):
    log(window, f"worker: received note #{note.pk} by {note.author.username}")


def count_words(sender, note, window, **kwargs):
    time.sleep(0.4)  # pretend this takes a while
    log(window, f"count_words: {len(note.text.split())} word(s) in note #{note.pk}")


def count_notes(sender, note, window, **kwargs):
    total = sender.objects.filter(author=note.author).count()
    log(window, f"count_notes: {note.author.username} has saved {total} note(s)")


note_saved.connect(announce, sender=Note)
note_saved.connect(count_words, sender=Note)
note_saved.connect(count_notes, sender=Note)


# --- Resilience (/resilience/) --------------------------------------------------------

declare("demo.resilience.tick")  # JS handlers only: {n, of}

TICK_SECONDS = 0.25


@connect(path="demo.resilience.start", delayed=True, queue="slow")
def send_numbered(request, count: int = 20):
    """Runs on a worker: sends `count` numbered messages to the calling tab, one every 0.25 s,
    whether or not the tab is connected at that moment."""
    count = max(1, min(count, 200))
    for n in range(1, count + 1):
        call("demo.resilience.tick", request, WINDOW, n=n, of=count)
        time.sleep(TICK_SECONDS)
    return {"sent": count}


# --- Trace (/trace/) ------------------------------------------------------------------

declare("demo.trace.pong")  # JS handlers only: {where}


@connect(path="demo.trace.ping")
def ping_here(request):
    """Inline: answers the tab from the websocket server."""
    call("demo.trace.pong", request, WINDOW, where="websocket server")
    return {"pong": "inline"}


@connect(path="demo.trace.ping", delayed=True)
def ping_on_worker(request):
    """The same signal's delayed handler: answers the tab from an RQ worker."""
    call("demo.trace.pong", request, WINDOW, where="worker")
