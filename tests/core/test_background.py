"""Background loops: passes on a schedule, kick, graceful stop, cancel, log once, backoff;
and the bounded pool of workers a dispatching loop hands work to."""

from __future__ import annotations

import asyncio
import logging

import pytest

from atoll.background import FailureLog, Loop, LoopSettings, WorkerLimits, Workers
from atoll.errors import TemporaryError, TooSlow, Unauthenticated

pytestmark = pytest.mark.unit
PATIENCE = 30.0  # generous bound for "this happens": never an assertion about speed
LONG = 3600.0  # an interval no test waits out


async def until(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), PATIENCE)


class Counter:
    """A pass that counts its calls and sets ``reached`` at the ``want``-th."""

    def __init__(self, want: int = 1) -> None:
        self.calls = 0
        self.want = want
        self.reached = asyncio.Event()

    async def __call__(self) -> float | None:
        self.calls += 1
        if self.calls >= self.want:
            self.reached.set()
        return None


async def test_passes_run_every_interval() -> None:
    step = Counter(want=3)
    loop = Loop("ticker", step, LoopSettings(interval=0.01))
    loop.start()
    try:
        await until(step.reached)
        assert loop.passes >= 3 and loop.failures == 0 and loop.last_error == ""
        assert loop.running
    finally:
        await loop.stop()
    assert not loop.running


async def test_kick_runs_a_pass_now_and_ends_the_initial_delay() -> None:
    step = Counter(want=1)
    loop = Loop("kicked", step, LoopSettings(interval=LONG, initial_delay=LONG))
    loop.start()
    try:
        await asyncio.sleep(0)
        assert step.calls == 0  # still in the initial delay
        loop.kick()
        await until(step.reached)
        step.want, step.reached = 2, asyncio.Event()
        loop.kick()  # the interval is an hour: only the kick can run this pass
        await until(step.reached)
        assert loop.passes == 2
    finally:
        await loop.stop()


async def test_event_driven_loop_waits_for_kicks() -> None:
    step = Counter(want=1)
    loop = Loop("events", step)  # no interval: passes only when kicked (and the first)
    loop.start()
    try:
        await until(step.reached)
        assert loop.next_wait is None
        step.want, step.reached = 2, asyncio.Event()
        loop.kick()
        await until(step.reached)
    finally:
        await loop.stop()


async def test_a_pass_may_ask_for_the_next_one_sooner() -> None:
    seen = asyncio.Event()
    calls = 0

    async def step() -> float | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            seen.set()
        return 0.0 if calls == 1 else None

    loop = Loop("soon", step, LoopSettings(interval=LONG))
    loop.start()
    try:
        await until(seen)  # the hour-long interval did not hold the second pass back
        assert loop.next_wait == LONG
    finally:
        await loop.stop()


async def test_stop_lets_the_pass_in_progress_finish() -> None:
    entered, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def step() -> float | None:
        entered.set()
        await release.wait()
        finished.set()
        return None

    loop = Loop("graceful", step, LoopSettings(interval=LONG, stop_timeout=PATIENCE))
    loop.start()
    await until(entered)
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waiting for the pass, not cancelling it
    release.set()
    await asyncio.wait_for(stopping, PATIENCE)
    assert finished.is_set() and loop.passes == 1 and not loop.running


async def test_stop_cancels_a_pass_that_overruns_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def step() -> float | None:
        entered.set()
        try:
            await asyncio.Event().wait()  # never finishes on its own
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    loop = Loop("stuck", step, LoopSettings(interval=LONG))
    loop.start()
    await until(entered)
    await loop.stop(grace=0.01)
    assert cancelled.is_set() and not loop.running
    assert "stuck: the pass did not finish" in caplog.text


async def test_cancel_stops_at_once_and_twice_is_harmless() -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def step() -> float | None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    loop = Loop("cancelled", step)
    await loop.cancel()  # never started: nothing to do
    loop.start()
    await until(entered)
    await loop.cancel()
    await loop.cancel()
    await loop.stop()
    assert cancelled.is_set() and not loop.running


async def test_a_loop_stopped_from_its_own_pass_ends_after_it() -> None:
    loop: Loop
    asked = asyncio.Event()

    async def step() -> float | None:
        await loop.stop()  # returns at once: the pass itself is what stop would wait for
        asked.set()
        return None

    loop = Loop("self-stopping", step, LoopSettings(interval=0.0))
    loop.start()
    await until(asked)
    await loop.stop()
    assert loop.passes == 1  # no second pass, though the interval is 0


async def test_failure_is_logged_once_and_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    seen: list[tuple[int, str]] = []
    healthy = asyncio.Event()

    async def step() -> float | None:
        seen.append((loop.failures, loop.last_error))
        if len(seen) <= 3:
            raise TemporaryError("the hub is away")
        if len(seen) == 5:
            healthy.set()
        return None

    loop = Loop("puller", step, LoopSettings(interval=0.01), logger=logging.getLogger("t.bg"))
    loop.start()
    try:
        await until(healthy)
    finally:
        await loop.stop()
    assert seen[:5] == [
        (0, ""),
        (1, "the hub is away"),
        (2, "the hub is away"),
        (3, "the hub is away"),
        (0, ""),
    ]
    mine = [r for r in caplog.records if r.name == "t.bg"]
    assert [(r.levelname, r.getMessage()) for r in mine] == [
        ("WARNING", "puller failed, will retry: the hub is away"),
        ("INFO", "puller recovered after 3 failures"),
    ]
    assert loop.passes == 2 and loop.failures == 0


async def test_an_internal_error_is_logged_once_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed_twice = asyncio.Event()
    calls = 0

    async def step() -> float | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            failed_twice.set()
        raise KeyError("bug")

    loop = Loop("buggy", step, LoopSettings(interval=0.01), logger=logging.getLogger("t.bug"))
    loop.start()
    try:
        await until(failed_twice)
    finally:
        await loop.stop()
    mine = [r for r in caplog.records if r.name == "t.bug"]
    assert len(mine) == 1 and mine[0].levelname == "ERROR" and mine[0].exc_info is not None
    assert loop.last_error == "KeyError: 'bug'" and loop.failures >= 2


async def test_retries_back_off_up_to_the_cap() -> None:
    waits: list[float | None] = []
    done = asyncio.Event()

    async def step() -> float | None:
        waits.append(loop.next_wait)
        if len(waits) == 5:
            done.set()
        raise Unauthenticated("token expired")

    settings = LoopSettings(interval=LONG, retry=0.001, backoff=2.0, max_retry=0.004)
    loop = Loop("backoff", step, settings)
    loop.start()
    try:
        await until(done)
    finally:
        await loop.stop()
    assert waits == [None, 0.001, 0.002, 0.004, 0.004]


async def test_a_temporary_error_is_retried_after_its_delay() -> None:
    done = asyncio.Event()
    calls = 0

    async def step() -> float | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            done.set()
        raise TemporaryError("libvirtd restarting", delay=0.01)

    loop = Loop("temporary", step, LoopSettings(interval=LONG))
    loop.start()
    try:
        await until(done)  # not an hour later
        assert loop.next_wait == 0.01
    finally:
        await loop.stop()


class Gate:
    """Work that runs until its gate opens, and records that it started."""

    def __init__(self, started: list[str], name: str) -> None:
        self.started, self.name = started, name
        self.open = asyncio.Event()

    async def __call__(self) -> None:
        self.started.append(self.name)
        await self.open.wait()


class Ends:
    """A :class:`Workers` ``done`` hook: counts the tasks that ended, sets ``reached`` at
    the ``want``-th."""

    def __init__(self, want: int) -> None:
        self.count, self.want = 0, want
        self.reached = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        if self.count >= self.want:
            self.reached.set()


async def test_workers_bound_the_tasks_in_all_per_group_and_per_key() -> None:
    ends = Ends(want=1)
    workers = Workers("pool", WorkerLimits(total=3, per_group=2), done=ends)
    started: list[str] = []
    gates = {n: Gate(started, n) for n in ("a1", "a2", "a3", "b1", "c1")}
    assert workers.start("a1", "a", gates["a1"]) and workers.start("a2", "a", gates["a2"])
    assert not workers.start("a3", "a", gates["a3"])  # a's share of the pool is taken
    assert not workers.start("a1", "a", gates["a3"])  # one task per key: its work in order
    assert workers.room("b") and workers.start("b1", "b", gates["b1"])
    assert not workers.room("c") and not workers.start("c1", "c", gates["c1"])  # full
    await asyncio.sleep(0)
    assert sorted(started) == ["a1", "a2", "b1"] and workers.running == 3
    assert workers.busy("a1") and not workers.busy("a3")
    gates["a1"].open.set()
    await until(ends.reached)
    assert not workers.busy("a1") and workers.room("a") and workers.room("c")
    assert workers.start("a3", "a", gates["a3"])
    for gate in gates.values():
        gate.open.set()
    await asyncio.wait_for(workers.join(), PATIENCE)
    assert workers.running == 0 and ends.count == 4
    assert sorted(started) == ["a1", "a2", "a3", "b1"]


async def test_a_worker_that_raises_is_logged_once_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ends = Ends(want=3)
    workers = Workers("pool", WorkerLimits(), done=ends, logger=logging.getLogger("t.pool"))

    async def buggy() -> None:
        raise KeyError("bug")

    started: list[str] = []
    fine = Gate(started, "fine")
    workers.start("fine", "b", fine)
    for n in range(3):
        workers.start(f"bug{n}", "a", buggy)
    await until(ends.reached)
    assert started == ["fine"] and workers.busy("fine") and workers.running == 1
    mine = [r for r in caplog.records if r.name == "t.pool"]
    assert len(mine) == 1 and mine[0].levelname == "ERROR" and mine[0].exc_info is not None
    fine.open.set()
    await asyncio.wait_for(workers.join(), PATIENCE)


async def test_stopping_workers_lets_them_finish_then_cancels_the_late() -> None:
    workers = Workers("pool", WorkerLimits())
    finished: list[str] = []

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.append("quick")

    async def stuck() -> None:
        await asyncio.sleep(LONG)
        finished.append("stuck")

    workers.start("quick", "a", quick)
    workers.start("stuck", "a", stuck)
    await asyncio.wait_for(workers.stop(grace=0.2), PATIENCE)
    assert finished == ["quick"] and workers.running == 0
    await workers.stop(grace=0.2)  # twice, or with nothing running: harmless


def test_a_slow_answer_is_logged_as_slow_not_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    health = FailureLog("calling back", logging.getLogger("t.slow"))
    health.failed(TooSlow("the subscriber", 3.04, 2.0))
    health.failed(TooSlow("the subscriber", 3.5, 2.0))
    health.succeeded()
    mine = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "t.slow"]
    assert mine == [
        ("WARNING", "calling back is slow, backing off: "
                    "the subscriber took 3.0 s to answer (2 s or more is slow)"),
        ("INFO", "calling back recovered after 2 failures"),
    ]  # fmt: skip
