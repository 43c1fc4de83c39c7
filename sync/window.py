"""A sender's window of unacknowledged frames: bounded in flight, cumulative acks, resend.

Sans-IO and used by both ends: the hub for ``changes``/``snapshot`` frames (marked by the
frame's ``revision``, acked by ``ack{revision}``), a site for ``facts`` frames (marked by
the highest ``seq`` in the frame, acked by ``ack{seq}``). Marks grow strictly; one ack
settles every frame at or below its mark. At most ``size`` frames are out at once (the
welcome's ``window``); heartbeats, acks and errors are never windowed. A frame may be any
value (the model, or its encoded bytes).

After a reconnect the new session's opening says how far the peer got (``hello``'s
``applied_revision`` for the hub, ``welcome``'s ``acked_seq`` for the site):
:meth:`Window.reopen` drops what that settles and returns the rest, in order, to send
again. A peer that acks a mark never sent, or says after a reconnect that it has less than
it acked before, raises :class:`WindowError` (the session closes, or the sender goes back
to its durable source: the store's change feed, the site's outbox)::

    window = Window[bytes](welcome.window, acked=welcome.acked_seq)
    while not window.full and ready:
        window.sent(mark, frame); send(frame)
    # on ack{seq}:       window.ack(ack.seq)
    # on a new session:  for frame in window.reopen(welcome.acked_seq): send(frame)
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class WindowError(Exception):
    """An ack that does not fit what was sent; ``code`` goes into the error frame."""

    code = "bad_ack"


class Window(Generic[T]):
    def __init__(self, size: int, *, acked: int = 0) -> None:
        if size < 1:
            raise ValueError(f"a window holds at least one frame, not {size}")
        self.size = size
        self.acked = acked  # every mark at or below this is settled
        self._out: deque[tuple[int, T]] = deque()

    @property
    def in_flight(self) -> int:
        return len(self._out)

    @property
    def full(self) -> bool:
        return len(self._out) >= self.size

    @property
    def last(self) -> int:
        """The highest mark sent (or settled)."""
        return self._out[-1][0] if self._out else self.acked

    def unacked(self) -> list[T]:
        return [frame for _, frame in self._out]

    def sent(self, mark: int, frame: T) -> None:
        """Record ``frame`` as out, under ``mark`` (above every mark before it)."""
        if self.full:
            raise WindowError(f"the window of {self.size} frames is full")
        if mark <= self.last:
            raise WindowError(f"mark {mark} is not above the last one, {self.last}")
        self._out.append((mark, frame))

    def ack(self, mark: int) -> list[T]:
        """Settle every frame at or below ``mark``; the frames settled, oldest first. An
        ack at or below one already had settles nothing (acks may cross frames)."""
        if mark > self.last:
            raise WindowError(f"ack of {mark}: nothing above {self.last} was sent")
        settled: list[T] = []
        while self._out and self._out[0][0] <= mark:
            settled.append(self._out.popleft()[1])
        self.acked = max(self.acked, mark)
        return settled

    def reopen(self, acked: int, *, size: int | None = None) -> list[T]:
        """A new session whose peer has everything up to ``acked``: the frames to send
        again, oldest first (they stay out). ``size``: the new session's window."""
        if acked < self.acked:
            raise WindowError(
                f"the peer has {acked}, below the {self.acked} it acked before: send again "
                "from the durable source"
            )
        if size is not None:
            if size < 1:
                raise ValueError(f"a window holds at least one frame, not {size}")
            self.size = size
        while self._out and self._out[0][0] <= acked:
            self._out.popleft()
        self.acked = acked
        return self.unacked()
