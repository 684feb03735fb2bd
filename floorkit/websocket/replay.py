"""
A tab's place in the message log, and hold-and-replay on reconnect.

Every routed message carries its sequence number and the epoch the numbers
count in (a Redis restarted empty numbers from 1 again, under a new epoch).
A tab's ``Cursor`` sends each message once: a message whose number is not
above the last one sent, in the same epoch, is a duplicate (the tab was
reached through several of its addresses) and dropped. While missed messages
are replayed (``recover()``) or the tab's session is re-verified
(``floorkit.websocket.revocation``), live messages are held, then sent after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floorkit.delivery.message_log import Missed
    from floorkit.websocket.tab import Tab

UNRECOVERABLE = -1  # the cursor of a reconnect whose window could not be reclaimed


class Cursor:
    """
    The last sequence number sent to one tab (``last_seq``, in ``epoch``) and
    the live messages held meanwhile (``held``, None when not holding).
    ``write`` writes one frame to the tab's socket. A cursor starts holding:
    ``recover()`` releases it.
    """

    __slots__ = ("write", "last_seq", "epoch", "held")

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.write = write
        self.last_seq = 0
        self.epoch: str | None = None  # of the counter ``last_seq`` counts in
        self.held: list[tuple[bytes, int | None, str | None]] | None = []

    def offer(self, frame: bytes, seq: int | None, epoch: str | None = None) -> int:
        """
        Send a routed message unless the tab already got it (its ``seq`` is
        not above ``last_seq``, in the same ``epoch``); return 1 if it was
        sent or held, else 0. A message of a new epoch resets the cursor: it
        is sent, and the page, seeing the new epoch, knows it lost what came
        before. While holding, the message is kept to be offered on
        ``release()``.
        """
        if self.held is not None:
            self.held.append((frame, seq, epoch))
            return 1
        if seq is not None:
            if epoch is not None and epoch != self.epoch:
                self.epoch, self.last_seq = epoch, 0
            if seq <= self.last_seq:
                return 0
            self.last_seq = seq
        self.write(frame)
        return 1

    def hold(self) -> bool:
        """Hold live messages from now on; return whether it was not holding already."""
        if self.held is not None:
            return False
        self.held = []
        return True

    def release(self) -> None:
        """Stop holding, and offer what was held, in order."""
        held, self.held = self.held or [], None
        for frame, seq, epoch in held:
            self.offer(frame, seq, epoch)

    def drop(self) -> None:
        """Stop holding, and forget what was held."""
        self.held = None

    def replay(self, payloads: Iterable[bytes]) -> None:
        """Send the logged ``payloads`` numbered above ``last_seq``, in order."""
        from floorkit.delivery.publish import message_seq
        from floorkit.websocket.frames import text_frame

        for payload in payloads:
            seq = message_seq(payload)
            if seq is not None and seq > self.last_seq:
                self.last_seq = seq
                self.write(text_frame(payload))


def recover(tab: Tab, after: int | None, epoch: str | None = None) -> None:
    """
    Greet ``tab``, then replay in order what its window missed after sequence
    number ``after`` of ``epoch``, then the live messages held meanwhile (the
    tab was routed before), with no duplicate and no gap; a ``recovery``
    frame says how many were replayed and whether some were lost. A cursor of
    another epoch is worth nothing: everything of the current epoch is
    replayed, with ``lost``. Without ``after`` (a first connection), start
    from now; with ``UNRECOVERABLE``, start from now and say some were lost.
    """
    cursor = tab.cursor
    missed, after = _starting_point(cursor, tab, after, epoch)
    tab.hello()
    if missed is not None:
        cursor.replay(missed.payloads)
        tab.send(recovery_frame(after, missed, cursor.epoch))
    cursor.release()


def catch_up(tab: Tab) -> None:
    """
    Replay to ``tab``, in order, what its window was sent while this
    process's pub/sub connection was away, then the live messages held
    meanwhile; a ``recovery`` frame follows when something was replayed or
    lost in the tab's epoch (messages of a new epoch say so themselves). The
    tab's cursor must have been put on hold before the pub/sub connection
    resubscribed (``Router._resubscribed``), so that no live
    message overtakes the replay. A tab whose replay fails (Redis gone
    again) is released with what it holds; the next resubscription retries.
    """
    cursor = tab.cursor
    try:
        after, epoch = cursor.last_seq, cursor.epoch
        result = _missed_since(cursor, tab, after, epoch)
        new_epoch = result.epoch != epoch
        cursor.replay(result.payloads)
        # a new epoch's messages tell the page themselves that it lost the old ones
        if not new_epoch and (result.payloads or result.lost):
            tab.send(recovery_frame(after, result, cursor.epoch))
    finally:
        cursor.release()


def _starting_point(
    cursor: Cursor, tab: Tab, after: int | None, epoch: str | None
) -> tuple[Missed | None, int | None]:
    """
    Set ``cursor`` where the replay starts; return what was missed (None for
    a first connection) and the ``after`` the recovery frame reports.
    """
    from floorkit.delivery.message_log import Missed, current_position

    if after == UNRECOVERABLE:  # nothing to replay: start from now, and say so
        last, current = current_position()
        cursor.last_seq, cursor.epoch = last, current
        return Missed(last=last, lost=True, epoch=current), last
    if after is None:
        cursor.last_seq, cursor.epoch = current_position()
        return None, None
    return _missed_since(cursor, tab, after, epoch), after


def _missed_since(cursor: Cursor, tab: Tab, after: int, epoch: str | None) -> Missed:
    """
    What ``tab``'s window missed after sequence number ``after`` of
    ``epoch``; set ``cursor`` where its replay starts (from nothing when the
    epoch is another).
    """
    from floorkit.delivery.message_log import current_position, missed

    # the groups it is in, and those it left since ``after``, within their ranges
    addresses = list(dict.fromkeys([*tab.addresses, *tab.replay_ranges]))
    result = missed(addresses, after, epoch, tab.replay_ranges)
    if result.epoch is None:  # nothing published yet in this life of Redis
        result.epoch = current_position()[1]
    cursor.last_seq = after if epoch is None or epoch == result.epoch else 0
    cursor.epoch = result.epoch
    return result


def recovery_frame(after: int | None, missed: Missed, epoch: str | None) -> dict[str, Any]:
    """The ``recovery`` frame that ends a replay."""
    return {
        "type": "recovery",
        "after": after,
        "replayed": len(missed.payloads),
        "lost": missed.lost,
        "epoch": epoch,
    }
