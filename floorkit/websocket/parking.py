"""
Parked tabs: an idle websocket waits on an io watcher, with no greenlet.

Once a tab is started, its connection's greenlet returns
(``floorkit.websocket.server``): the tab is *parked*, its socket watched for
reading by the hub, and while it waits it holds no greenlet, no saved stack
and no frame memory. When the socket becomes readable the hub calls
``wake()``, which gives ``read_burst()`` to a call runner
(``floorkit.websocket.runners``). The burst reads and handles every frame
its socket holds, parks the tab again, then handles the last frame itself.

The path of a frame, with ``floorkit.websocket.incoming``::

    wake() -> read_burst() -> WebSocket.receive() -> handle_frame() -> run_call()

Invariants:

* A tab is either parked or read by exactly one burst, never both: ``wake()``
  stops the watcher before the burst starts, and a burst parks the tab only
  when it stops reading.
* A tab is parked only at a frame boundary, with nothing read ahead: a frame
  that arrives in parts is read by the one burst, which waits for the rest.
  Pings and pongs between messages are frames like the others
  (``framing.CONTROL``): an idle tab answering heartbeats holds no greenlet.
* The last frame of a burst is handled after the tab is parked. When it is
  the burst's only frame, a call it carries runs in the burst's own greenlet
  (saving a hand-off); otherwise in a call runner, behind the burst's other
  calls, so that calls start in the order their frames came. Frames that
  arrive while a call waits are read by the next burst: a waiting call
  delays no later frame of its tab.
* When the peer is gone (EOF, a close frame, a protocol error) or the tab was
  closed or aborted, the burst calls ``on_end(tab)``, once, and does not park
  it again: its watcher is closed and nothing reads the socket any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gevent.hub import get_hub

from floorkit.websocket.framing import CONTROL
from floorkit.websocket.incoming import handle_frame
from floorkit.websocket.runners import runners

if TYPE_CHECKING:
    from floorkit.websocket.tab import Tab

OnEnd = Callable[["Tab"], None]


def start_reading(tab: Tab, on_end: OnEnd) -> None:
    """
    Start reading ``tab``'s frames without a greenlet of its own: at once
    in a call runner when frames arrived with the handshake, else when its
    socket becomes readable. ``on_end(tab)`` is called, in a call runner,
    when the tab ends.
    """
    if tab.ws.raw_read.__self__.pending:
        runners.run(read_burst, tab, on_end)
    else:
        park(tab, on_end)


def park(tab: Tab, on_end: OnEnd) -> None:
    """Wait for ``tab``'s socket to become readable, then ``wake()``."""
    watcher = tab.watcher
    if watcher is None:
        watcher = tab.watcher = get_hub().loop.io(tab.writes.sock.fileno(), 1)
    watcher.start(wake, tab, on_end)


def wake(tab: Tab, on_end: OnEnd) -> None:
    """The hub's callback for a parked tab's readable socket: start its burst."""
    tab.watcher.stop()
    runners.run_from_hub(read_burst, tab, on_end)


def call_here(fn: Callable[..., Any], *args: Any) -> None:
    """Run a call in the current greenlet: the burst's last frame."""
    fn(*args)


def read_burst(tab: Tab, on_end: OnEnd) -> None:
    """
    Read and handle ``tab``'s frames until none is left read ahead, then
    park the tab and handle the last one; or, once the tab has ended, end
    it with ``on_end(tab)``. See the module's invariants.
    """
    ws = tab.ws
    read = ws.raw_read
    if read is None:  # closed by us (``Tab.close()``) while parked
        _end(tab, on_end)
        return
    reader = read.__self__
    run = call_here  # until a call was handed to a runner: calls start in frame order
    while (message := tab.next_message(True)) is not None:
        if message is CONTROL:  # a ping or pong, answered: nothing to handle
            if not reader.pending:
                park(tab, on_end)
                return
            continue
        if reader.pending:
            handle_frame(tab, message)
            run = runners.run
        else:
            park(tab, on_end)
            handle_frame(tab, message, run)
            return
    _end(tab, on_end)


def _end(tab: Tab, on_end: OnEnd) -> None:
    watcher, tab.watcher = tab.watcher, None
    if watcher is not None:
        watcher.close()
    on_end(tab)
