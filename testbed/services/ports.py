"""Free TCP ports for private service instances."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000  # below: well-known and registered service ports
_TRIES = 500


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A TCP port nothing is bound to right now on any address, chosen below the kernel's
    ephemeral range.

    A port from ``bind(("127.0.0.1", 0))`` comes from the ephemeral range, which every
    outgoing connection on the machine draws its local port from too: between this call and
    the service's own bind, a client socket elsewhere can take it (a site agent failed to bind
    ``0.0.0.0`` in CI that way). Ports below the range are only ever taken by an explicit bind.
    The probe binds the wildcard address, so the port is free for ``0.0.0.0`` and loopback alike.
    """
    high = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(_TRIES):
        port = rng.randrange(_LOWEST, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {_LOWEST}..{high - 1} after {_TRIES} tries")


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)
