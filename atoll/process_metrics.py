"""What every Atoll daemon's ``/metrics`` says about its own process: ``process_*`` (CPU,
memory, open files, start time), ``python_*`` (interpreter, garbage collector) and
``atoll_build_info{version,component}`` = 1, on a registry of the daemon's own (no global
registry: tests run several daemons in one process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from atoll import __version__


def register(registry: CollectorRegistry, component: str) -> None:
    """Add the process, interpreter and build series of ``component`` (``hub``,
    ``site-agent``) to ``registry``."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    Info("atoll_build", f"the {component}'s version", registry=registry).info(
        {"version": __version__, "component": component}
    )
