"""libvirt's event loop in a thread, and what libvirt's event and state numbers mean.

libvirt delivers domain events only to a process that registered an event loop
implementation *before* opening the connection. We use libvirt's own default
implementation (``virEventRegisterDefaultImpl``) run by one daemon thread. That
registration is process-wide by libvirt's design, so it happens once per process
(:func:`ensure_event_loop`, guarded by a lock): the one piece of module state here.
Callbacks run in that thread; the driver hands each event to the asyncio loop with
``call_soon_threadsafe`` and never calls libvirt from inside a callback.

That thread is the one background loop here that is not an :class:`atoll.background.Loop`:
``virEventRunDefaultImpl`` blocks in libvirt's own poll(2) until something happens, so it
needs a thread of its own for the life of the process (a Loop would hold a worker thread of
the asyncio loop forever, and could not be stopped any better). It follows the same
log-once rule (:class:`atoll.background.FailureLog`).
"""

from __future__ import annotations

import logging
import threading
import time

import libvirt

from atoll.background import FailureLog
from atoll.site_agent.drivers.compute.base import DomainState, EventKind
from atoll.site_agent.drivers.compute.errors import ComputeTemporary

log = logging.getLogger(__name__)
RETRY_PAUSE = 1.0  # seconds between iterations after one failed, so it cannot spin

_lock = threading.Lock()
_started: list[threading.Thread] = []


def _run() -> None:
    health = FailureLog("libvirt's event loop", log)
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError as exc:  # about libvirt, not a bug here: no traceback
            health.failed(ComputeTemporary(str(exc.get_error_message() or exc)))
            time.sleep(RETRY_PAUSE)
            continue
        health.succeeded()


def ensure_event_loop() -> None:
    """Register libvirt's default event loop and start its thread, once per process."""
    with _lock:
        if _started:
            return
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(target=_run, name="libvirt-events", daemon=True)
        thread.start()
        _started.append(thread)


# virDomainEventType -> (kind, implied state, detail names by virDomainEvent*DetailType)
EVENTS: dict[int, tuple[EventKind, DomainState, tuple[str, ...]]] = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: (
        EventKind.DEFINED,
        DomainState.UNKNOWN,
        ("added", "updated", "renamed", "from_snapshot"),
    ),
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: (
        EventKind.UNDEFINED,
        DomainState.SHUTOFF,
        ("removed", "renamed"),
    ),
    libvirt.VIR_DOMAIN_EVENT_STARTED: (
        EventKind.STARTED,
        DomainState.RUNNING,
        ("booted", "migrated", "restored", "from_snapshot", "wakeup"),
    ),
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: (
        EventKind.SUSPENDED,
        DomainState.PAUSED,
        ("paused", "migrated", "ioerror", "watchdog", "restored", "from_snapshot", "api_error"),
    ),
    libvirt.VIR_DOMAIN_EVENT_RESUMED: (
        EventKind.RESUMED,
        DomainState.RUNNING,
        ("unpaused", "migrated", "from_snapshot", "postcopy"),
    ),
    libvirt.VIR_DOMAIN_EVENT_STOPPED: (
        EventKind.STOPPED,
        DomainState.SHUTOFF,
        ("shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot"),
    ),
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: (
        EventKind.SHUTDOWN,
        DomainState.SHUTTING_DOWN,
        ("finished", "guest", "host"),
    ),
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: (
        EventKind.SUSPENDED,
        DomainState.SUSPENDED,
        ("memory", "disk"),
    ),
    libvirt.VIR_DOMAIN_EVENT_CRASHED: (
        EventKind.CRASHED,
        DomainState.CRASHED,
        ("panicked", "crashloaded"),
    ),
}


def describe(event: int, detail: int) -> tuple[EventKind, DomainState, str]:
    """(kind, implied state, detail name) for a lifecycle event's numbers."""
    kind, state, details = EVENTS.get(event, (EventKind.OTHER, DomainState.UNKNOWN, ()))
    name = details[detail] if 0 <= detail < len(details) else str(detail)
    return kind, state, name


STATES: dict[int, DomainState] = {
    libvirt.VIR_DOMAIN_NOSTATE: DomainState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: DomainState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: DomainState.RUNNING,  # running, waiting on I/O
    libvirt.VIR_DOMAIN_PAUSED: DomainState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: DomainState.SHUTTING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: DomainState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: DomainState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: DomainState.SUSPENDED,
}

SHUTOFF_REASONS = (
    "unknown",
    "shutdown",
    "destroyed",
    "crashed",
    "migrated",
    "saved",
    "failed",
    "from_snapshot",
    "daemon",
)
RUNNING_REASONS = (
    "unknown",
    "booted",
    "migrated",
    "restored",
    "from_snapshot",
    "unpaused",
    "migration_canceled",
    "save_canceled",
    "wakeup",
    "crashed",
    "postcopy",
)


def state_of(state: int, reason: int) -> tuple[DomainState, str]:
    """(state, reason name) for ``virDomain.state()``'s numbers."""
    mapped = STATES.get(state, DomainState.UNKNOWN)
    names: tuple[str, ...] = ()
    if mapped == DomainState.SHUTOFF:
        names = SHUTOFF_REASONS
    elif mapped == DomainState.RUNNING:
        names = RUNNING_REASONS
    return mapped, names[reason] if 0 <= reason < len(names) else ""
