"""Background loops: the one way a daemon runs something again and again.

Every periodic or event-driven job in the hub and the site agent (the reconciler, telemetry,
the image pull loop, the compute event dispatchers, the hub's chunk gc, ...) is a
:class:`Loop` around one coroutine function, its *pass*. The contract:

- :meth:`Loop.start` runs the first pass after ``initial_delay`` seconds, then one pass every
  ``interval`` seconds (plus up to ``jitter`` seconds at random, so many sites do not wake
  together). With ``interval=None`` the loop is event-driven: a pass runs only when kicked.
- A pass may return a number of seconds: the next pass runs that soon if it is sooner than
  ``interval`` (the reconciler's "look at this server again in 2 s"). ``None`` keeps the
  interval. A pass returns nothing else (wrap a function that returns, say, a count).
  With ``interval=None`` the first pass still runs at start (after ``initial_delay``).
- :meth:`Loop.kick` asks for a pass now. It ends the initial delay or the wait between
  passes; a kick during a pass makes another pass run right after it. Kicks do not queue up:
  many kicks before a pass starts give one pass. Call it from the event loop's thread (from
  another thread, hand it over with ``loop.call_soon_threadsafe(l.kick)``).
- A pass that raises does not end the loop. The first failure is logged once, with the
  error (a warning with the message for an :class:`~atoll.errors.AtollError` or an
  ``OSError``, which are about the outside world; an error with the traceback for anything
  else, which is a bug), and then nothing while it keeps failing; the first pass that
  succeeds again logs "<name> recovered after N failures" once (Home Assistant's update
  coordinator). After a failure the next pass runs after ``retry`` seconds (default: the
  interval), multiplied by ``backoff`` for each further failure in a row, at most
  ``max_retry``; a :class:`~atoll.errors.TemporaryError` that says to retry sooner
  (``delay``) is retried then.
- :meth:`Loop.stop` is graceful: no new pass starts, a pass in progress may finish for
  ``stop_timeout`` seconds, then it is cancelled. :meth:`Loop.cancel` cancels at once. Both
  are safe to call twice, or on a loop never started; a stopped loop can be started again.
- Observable state: ``passes`` (passes that succeeded), ``failures`` (failed passes in a row,
  0 when healthy), ``last_error`` (the current failure's message, ``""`` when healthy),
  ``next_wait`` (seconds the loop waits after the last pass, before jitter; ``None``: until
  kicked) and ``running``.

Settings are a frozen :class:`LoopSettings`; the owner (a component's settings, or a
constant of its module) decides the values and passes them in.

Metrics: a daemon that counts passes sets :data:`OBSERVER` (a context variable) before it
starts its loops; each :class:`Loop` takes the observer of the context it is started in and
tells it of every pass (:meth:`LoopObserver.ran`: the loop's name and whether the pass
succeeded). One hook here, none in the loops.

A loop that cannot be a :class:`Loop` (a thread a C library requires) keeps the same log-once
rule with a :class:`FailureLog` of its own.

Work for many parties (a hub calling back each tenant's subscribers) is a :class:`Loop`
that dispatches into :class:`Workers`: a bounded pool of tasks, one per *key* at a time (a
subscriber's queue: its work stays in order), at most ``total`` at once and at most
``per_group`` of one *group* (a project), so no party waits for another's slow work and
none takes the whole pool. The pass starts what is ready and returns; each task ends with
a kick of the loop (``done``), which hands the slot on. The task count stays bounded
however many parties there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from atoll.errors import AtollError, TemporaryError, TooSlow

log = logging.getLogger(__name__)

Pass = Callable[[], Awaitable[float | None]]


class LoopObserver(Protocol):
    """Told of every pass of every loop started in its context (a daemon's metrics)."""

    def ran(self, name: str, ok: bool) -> None: ...


OBSERVER: contextvars.ContextVar[LoopObserver | None] = contextvars.ContextVar(
    "atoll_loop_observer", default=None
)


@dataclass(frozen=True)
class LoopSettings:
    """How often a :class:`Loop` runs its pass, and how it retries and stops (seconds)."""

    interval: float | None = None  # between passes; None: only when kicked
    jitter: float = 0.0  # up to this much added to each wait, at random
    initial_delay: float = 0.0  # before the first pass (a kick ends it early)
    retry: float | None = None  # after a failed pass; None: the interval
    backoff: float = 1.0  # the retry is multiplied by this for each further failure in a row
    max_retry: float | None = None  # the longest retry wait; None: no cap
    stop_timeout: float = 10.0  # how long stop() lets a running pass finish before cancelling


class FailureLog:
    """The log-once rule for something that runs again and again (what :class:`Loop` uses).

    :meth:`failed` logs the first failure of a run of failures (a warning with the message
    for an AtollError or OSError, saying "slow" for a :class:`~atoll.errors.TooSlow`; an
    error with the traceback for anything else);
    :meth:`succeeded` logs "<name> recovered after N failures" once when a run ends.
    """

    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        self.name = name
        self._log = logger or log
        self.failures = 0  # in a row; 0 when healthy
        self.last_error = ""  # the current failure's message; "" when healthy

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if isinstance(exc, AtollError):
            self.last_error = exc.message
        else:
            self.last_error = f"{type(exc).__name__}: {exc}"
        if self.failures > 1:
            return
        if isinstance(exc, TooSlow):  # it did answer: what it was asked is done
            self._log.warning("%s is slow, backing off: %s", self.name, self.last_error)
        elif isinstance(exc, AtollError | OSError):
            self._log.warning("%s failed, will retry: %s", self.name, self.last_error)
        else:
            self._log.error("%s hit an internal error, will retry", self.name, exc_info=exc)

    def succeeded(self) -> None:
        if self.failures:
            self._log.info("%s recovered after %d failures", self.name, self.failures)
        self.failures, self.last_error = 0, ""


class Loop:
    """A named background loop running ``step`` on a schedule (see the module docstring)."""

    def __init__(
        self,
        name: str,
        step: Pass,
        settings: LoopSettings | None = None,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or LoopSettings()
        self._step = step
        self._log = logger or log
        self._health = FailureLog(name, self._log)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._observer: LoopObserver | None = None
        self.passes = 0
        self.next_wait: float | None = None

    @property
    def failures(self) -> int:
        """Failed passes in a row; 0 when the last pass succeeded."""
        return self._health.failures

    @property
    def last_error(self) -> str:
        """Why the last pass failed; ``""`` when it succeeded."""
        return self._health.last_error

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop on the running event loop (a no-op if it runs already)."""
        if self.running:
            return
        self._stopping = False
        self._wake.clear()
        self._observer = OBSERVER.get()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def kick(self) -> None:
        """Run a pass now (or right after the one in progress)."""
        self._wake.set()

    async def stop(self, grace: float | None = None) -> None:
        """Start no new pass; let one in progress finish for ``grace`` seconds (default
        ``stop_timeout``), then cancel it."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        if task is asyncio.current_task():  # stopped from inside a pass: it ends after it
            return
        limit = self.settings.stop_timeout if grace is None else grace
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            self._log.warning(
                "%s: the pass did not finish within %g s; cancelling", self.name, limit
            )
        await self.cancel()

    async def cancel(self) -> None:
        """Cancel the loop now, pass in progress included."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # -- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        if self.settings.initial_delay > 0:
            await self._sleep(self.settings.initial_delay)
        while not self._stopping:
            self._wake.clear()
            self.next_wait = await self._pass()
            if not self._stopping:  # stop() may have come during the pass
                await self._sleep(self.next_wait)

    async def _pass(self) -> float | None:
        """Run the step once; the seconds to wait before the next pass (None: until kicked)."""
        try:
            sooner = await self._step()
        except Exception as exc:
            self._health.failed(exc)
            if self._observer is not None:
                self._observer.ran(self.name, False)
            return self._retry_after(exc)
        self._health.succeeded()
        if self._observer is not None:
            self._observer.ran(self.name, True)
        self.passes += 1
        wait = self.settings.interval
        if sooner is not None:
            wait = sooner if wait is None else min(wait, sooner)
        return wait

    def _retry_after(self, exc: Exception) -> float | None:
        s = self.settings
        base = s.interval if s.retry is None else s.retry
        wait = None if base is None else base * s.backoff ** (self.failures - 1)
        if wait is not None and s.max_retry is not None:
            wait = min(wait, s.max_retry)
        if isinstance(exc, TemporaryError):
            wait = exc.delay if wait is None else min(wait, exc.delay)
        return wait

    async def _sleep(self, seconds: float | None) -> None:
        """Until ``seconds`` (plus jitter) pass or a kick or stop comes; None: until then."""
        if seconds is not None:
            seconds = max(seconds, 0.0) + random.uniform(0.0, self.settings.jitter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


@dataclass(frozen=True)
class WorkerLimits:
    """How many :class:`Workers` tasks run at once: in all, and of one group (a tenant)."""

    total: int = 32
    per_group: int = 8


class Workers:
    """A bounded pool of tasks for a dispatching :class:`Loop` (see the module docstring).

    :meth:`start` runs ``work()`` as a task for ``key`` of ``group`` if there is room: no
    task for that key runs (a key's work stays in order), fewer than ``limits.total`` run,
    and fewer than ``limits.per_group`` of that group. When a task ends, ``done`` is called
    (the owner kicks its loop to hand the slot on). The work handles the errors it expects;
    anything else it raises is a bug, logged by the log-once rule (:class:`FailureLog`), and
    the other tasks go on. :meth:`stop` lets running tasks finish for ``grace`` seconds (the
    owner has told its work to stop after the step in progress), then cancels them.
    """

    def __init__(
        self,
        name: str,
        limits: WorkerLimits,
        *,
        done: Callable[[], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.total = max(1, limits.total)
        self.per_group = max(1, min(limits.per_group, self.total))
        self._done = done
        self._log = logger or log
        self._health = FailureLog(name, self._log)
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._groups: dict[Hashable, Hashable] = {}  # key -> group, of the running tasks
        self._per_group: dict[Hashable, int] = {}

    @property
    def running(self) -> int:
        return len(self._tasks)

    def busy(self, key: Hashable) -> bool:
        """Whether a task for ``key`` runs."""
        return key in self._tasks

    def room(self, group: Hashable) -> bool:
        """Whether a task of ``group`` could start now (for a key not busy)."""
        return len(self._tasks) < self.total and self._per_group.get(group, 0) < self.per_group

    def start(self, key: Hashable, group: Hashable, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work()`` for ``key`` if there is room (the class docstring); whether it did."""
        if self.busy(key) or not self.room(group):
            return False
        name = f"{self.name}: {key}"
        task = asyncio.get_running_loop().create_task(self._run(work), name=name)
        self._tasks[key] = task
        self._groups[key] = group
        self._per_group[group] = self._per_group.get(group, 0) + 1
        task.add_done_callback(lambda _: self._ended(key))
        return True

    async def join(self) -> None:
        """Wait until no task runs (the ones started meanwhile included)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def stop(self, grace: float) -> None:
        """Let running tasks finish for ``grace`` seconds, then cancel the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(list(self._tasks.values()), timeout=grace)
        if late:
            self._log.warning(
                "%s: %d tasks did not finish within %g s; cancelling", self.name, len(late), grace
            )
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _run(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception as exc:
            self._health.failed(exc)
        else:
            self._health.succeeded()

    def _ended(self, key: Hashable) -> None:
        self._tasks.pop(key, None)
        group = self._groups.pop(key)
        left = self._per_group[group] - 1
        if left:
            self._per_group[group] = left
        else:
            del self._per_group[group]
        if self._done is not None:
            self._done()
