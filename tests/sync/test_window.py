"""The sender's window: never more than its size out, cumulative acks settle exactly the
frames at or below the mark, a reconnect resends exactly what the peer lacks, in order."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from atoll.sync.window import Window, WindowError


class WindowMachine(RuleBasedStateMachine):
    """The window against a plain model: the list of (mark, frame) sent and the peer's mark."""

    def __init__(self) -> None:
        super().__init__()
        self.window: Window[str] = Window(4, acked=10)
        self.sent: list[tuple[int, str]] = []  # every frame ever sent, in order
        self.acked = 10
        self.size = 4

    def outstanding(self) -> list[tuple[int, str]]:
        return [(m, f) for m, f in self.sent if m > self.acked]

    @precondition(lambda self: len(self.outstanding()) < self.size)
    @rule(step=st.integers(1, 5))
    def send(self, step: int) -> None:
        mark = max([self.acked, *(m for m, _ in self.sent)]) + step
        frame = f"frame-{mark}"
        self.window.sent(mark, frame)
        self.sent.append((mark, frame))

    @precondition(lambda self: len(self.outstanding()) >= self.size)
    @rule()
    def send_when_full(self) -> None:
        assert self.window.full
        with pytest.raises(WindowError, match="full"):
            self.window.sent(self.window.last + 1, "one too many")

    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        mark = data.draw(st.integers(0, self.window.last))
        before = self.outstanding()
        settled = self.window.ack(mark)
        self.acked = max(self.acked, mark)
        assert settled == [f for m, f in before if m <= self.acked]

    @rule(beyond=st.integers(1, 5))
    def ack_of_what_was_never_sent(self, beyond: int) -> None:
        with pytest.raises(WindowError, match="nothing above"):
            self.window.ack(self.window.last + beyond)

    @rule(data=st.data(), size=st.none() | st.integers(1, 8))
    def reconnect(self, data: st.DataObject, size: int | None) -> None:
        acked = data.draw(st.integers(self.acked, self.window.last + 3))
        again = self.window.reopen(acked, size=size)
        self.acked = acked
        self.size = size or self.size
        assert again == [f for _, f in self.outstanding()]

    @rule(data=st.data())
    def reconnect_to_a_peer_that_lost_acked_frames(self, data: st.DataObject) -> None:
        if self.acked == 0:
            return
        with pytest.raises(WindowError, match="durable source"):
            self.window.reopen(data.draw(st.integers(0, self.acked - 1)))

    @invariant()
    def matches_the_model(self) -> None:
        assert self.window.acked == self.acked
        assert self.window.unacked() == [f for _, f in self.outstanding()]
        assert self.window.in_flight == len(self.outstanding())

    @invariant()
    def unacked_frames_are_in_mark_order_above_the_ack(self) -> None:
        marks = [m for m, _ in self.outstanding()]
        assert marks == sorted(marks) and all(m > self.window.acked for m in marks)


TestWindow = WindowMachine.TestCase
TestWindow.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_marks_must_grow_and_a_window_holds_one_frame_at_least() -> None:
    window: Window[bytes] = Window(2)
    window.sent(5, b"a")
    with pytest.raises(WindowError, match="not above"):
        window.sent(5, b"b")
    with pytest.raises(ValueError):
        Window(0)
