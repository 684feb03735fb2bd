"""The demo's signals: a chat and a long job, called from browsers and from Python."""

from floorkit import BROADCAST, USER, WINDOW, call, connect, declare

# JS-only signals: Python and the server send them, browser handlers show them.
declare("demo.chat.show")
declare("demo.job.progress")


@connect(path="demo.chat.message")
def on_message(request, text: str, room: str = "lobby"):
    """A browser posts a chat line; everyone sees it."""
    text = text.strip()[:500]
    if not text:
        return {"sent": False}
    call("demo.chat.show", request, BROADCAST, text=text, room=room, author=request.username)
    return {"sent": True}


@connect(path="demo.chat.private")
def on_private(request, to: str, text: str):
    """A private message to one user (every tab of theirs) and back to the sender."""
    call(
        "demo.chat.show",
        request,
        [{USER: [to]}, WINDOW],
        text=text.strip()[:500],
        room=f"@{to}",
        author=request.username,
    )
    return {"sent": True}


@connect(path="demo.report.build", delayed=True, queue="default")
def build_report(request, year: int, steps: int = 5):
    """A long job on an RQ worker reporting its progress to the calling window."""
    for step in range(1, steps + 1):
        call(
            "demo.job.progress",
            request,
            WINDOW if request.window else None,
            step=step,
            of=steps,
            year=year,
        )
    return {"year": year, "steps": steps}
