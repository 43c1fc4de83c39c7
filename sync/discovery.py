"""Zeroconf (mDNS/DNS-SD) adverts of hubs and unjoined sites, and browsing for them.

- A site agent that has not joined a hub advertises :data:`SITE_SERVICE` (TXT ``name``,
  ``version``, ``fp``: the sha256 pin of its site key); it stops once joined.
- A serving hub advertises :data:`HUB_SERVICE` (TXT ``version``, ``ca``: its CA pin).

An advert is only a hint: anyone on the link can send one. Joining trusts nothing from it
but an address; the CA is checked by the join code's pin or the token's discovery MAC
(:mod:`atoll.sync.join`).

:class:`Advertiser` registers one service while a daemon runs. A host without a multicast
route (a namespace with only loopback, a container) must not stop the daemon: the failure
is logged once and the daemon goes on without its advert (interfaces that are down, or
cannot multicast, are left out before zeroconf ever sends on them). :func:`browse` lists
what answers within a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ifaddr

if TYPE_CHECKING:  # zeroconf is imported when an advert or a browse starts: a joined site
    # agent never advertises, so it never pays for it (about 3 MB of its RSS, measured)
    from zeroconf import ServiceStateChange, Zeroconf
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger(__name__)


class _NoTraceback(logging.Filter):
    """zeroconf logs a socket's error once with its traceback (``QuietLogger``): an
    interface that went away under a running advert (a VPN, a bridge removed) is the host's
    affair, not a bug of ours or zeroconf's, so the daemon's log says it in the one line
    zeroconf's message already makes (which holds the error's text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OSError):
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("zeroconf").addFilter(_NoTraceback())

HUB_SERVICE = "_atoll-hub._tcp.local."
SITE_SERVICE = "_atoll-site._tcp.local."


@dataclass(frozen=True)
class Found:
    """One advert: the instance name, where it answers, and its TXT properties."""

    name: str
    addresses: tuple[str, ...]
    port: int
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else ""


IFF_UP, IFF_LOOPBACK, IFF_MULTICAST = 0x1, 0x8, 0x1000


def _flags(interface: str) -> int:
    try:
        return int(Path(f"/sys/class/net/{interface}/flags").read_text(), 16)
    except (OSError, ValueError):
        return 0


def multicast_addresses() -> list[str]:
    """IPv4 addresses of this host's interfaces that are up and can multicast (loopback
    excepted: an advert there reaches nobody). Empty: no advert can go out."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        flags = _flags(adapter.name)
        if not flags & IFF_UP or not flags & IFF_MULTICAST or flags & IFF_LOOPBACK:
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and ip.ip not in found:
                found.append(ip.ip)
    return found


def _instance(label: str) -> str:
    clean = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:40] or "atoll"
    return f"{clean}-{secrets.token_hex(3)}"


class Advertiser:
    """Advertise one service while the daemon runs (:meth:`start`, :meth:`stop`)."""

    def __init__(self, service: str, label: str, port: int, properties: dict[str, str]) -> None:
        self.service = service
        self.port = port
        self.properties = properties
        instance = _instance(label)
        self.name = f"{instance}.{service}"
        self._server = f"{instance}.local."
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    @property
    def running(self) -> bool:
        return self._info is not None

    async def start(self) -> bool:
        """Register the advert; False (logged once) when this host cannot multicast.

        Registering probes the link for the name first (about a second). Cancelled meanwhile,
        it closes what it opened and advertises nothing."""
        addresses = multicast_addresses()
        if not addresses:
            log.warning(
                "cannot advertise %s by zeroconf (no interface is up with an IPv4 address and "
                "multicast); going on without the advert",
                self.service,
            )
            return False
        from zeroconf import Error as ZeroconfError
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        info = AsyncServiceInfo(
            self.service,
            self.name,
            addresses=[socket.inet_aton(a) for a in addresses],
            port=self.port,
            properties=self.properties,
            server=self._server,
        )
        zc = None
        try:
            zc = AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
            await zc.async_register_service(info)
        except asyncio.CancelledError:
            if zc is not None:
                await zc.async_close()
            raise
        except (OSError, RuntimeError, ValueError, ZeroconfError) as exc:
            log.warning(
                "cannot advertise %s by zeroconf (%s); going on without the advert",
                self.service,
                exc,
            )
            if zc is not None:
                await zc.async_close()
            return False
        self._zc, self._info = zc, info
        log.info("advertising %s on %s port %d", self.name, ", ".join(addresses), self.port)
        return True

    async def stop(self) -> None:
        zc, info = self._zc, self._info
        self._zc = self._info = None
        if zc is None or info is None:
            return
        try:
            await zc.async_unregister_service(info)
        except (OSError, RuntimeError) as exc:
            log.info("could not withdraw the advert %s: %s", self.name, exc)
        finally:
            await zc.async_close()


def _text(value: bytes | None) -> str:
    return value.decode(errors="replace") if value is not None else ""


async def browse(service: str, wait: float = 3.0) -> list[Found]:
    """Every advert of ``service`` that answers within ``wait`` seconds (by name)."""
    from zeroconf import IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    names: set[str] = set()

    def seen(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed:
            names.add(name)

    azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, [service], handlers=[seen])
        await asyncio.sleep(wait)
        await browser.async_cancel()
        found = []
        for name in sorted(names):
            info = AsyncServiceInfo(service, name)
            if not await info.async_request(azc.zeroconf, 3000):
                continue
            props = {_text(k): _text(v) for k, v in (info.properties or {}).items()}
            addresses = tuple(info.parsed_addresses(IPVersion.V4Only))
            instance = name[: -len(service) - 1] if name.endswith(service) else name
            found.append(Found(instance, addresses, info.port or 0, props))
        return found
    finally:
        await azc.async_close()
