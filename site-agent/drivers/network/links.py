"""Host links through pyroute2: taps, veth pairs, VLAN subinterfaces, Linux bridges,
addresses, network namespaces, link state and TX checksum offload.

Everything here blocks (netlink and ioctl round trips); the async driver calls it through
``asyncio.to_thread``. Never call it on an event loop's thread: pyroute2's synchronous
``IPRoute`` runs its own loop and fails with "This event loop is already running" there.

A :class:`HostLinks` works in one namespace (the host's by default), each call opening its
own netlink socket so instances are safe to share between threads. Creation is idempotent
(an existing link of the same name is kept), and deletion of a missing link is a no-op, so
the reconciler can replay any step.

Why TX checksum offload matters: with no OVS kernel module the switch is the userspace
(netdev) datapath, which reads frames through AF_PACKET and does not fill in the partial
checksums a device with ``tx-checksumming on`` leaves; TCP to and from guests then silently
fails. :meth:`HostLinks.set_tx_checksum` is ``ethtool -K DEV tx off`` done with pyroute2's
ethtool ioctls (inside the namespace for namespaced links).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from atoll.site_agent.drivers.network.base import IFNAME_MAX
from atoll.site_agent.drivers.network.errors import NetworkFailure, NetworkSpecInvalid
from atoll.site_agent.drivers.network.netlink import (
    IoctlEthtool,
    IPRoute,
    NetlinkError,
    NoSuchDevice,
    NotSupportedError,
    netns,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _forget_parent_signals() -> None:
    """In a child forked by pyroute2 to enter a namespace: leave the parent's signals alone.

    pyroute2 forks a child to open a netlink socket inside a namespace, then stops it with
    SIGTERM. The child inherits asyncio's signal wakeup fd (a socket shared with the parent's
    event loop), so its SIGTERM handler wrote "SIGTERM" into the *parent's* loop, which then
    ran the agent's own SIGTERM handler and shut the agent down. Forget both in the child.
    """
    with contextlib.suppress(ValueError):  # not the main thread: nothing was installed
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)


os.register_at_fork(after_in_child=_forget_parent_signals)


def _check_name(name: str) -> None:
    if not name or len(name.encode()) > IFNAME_MAX or "/" in name or " " in name:
        raise NetworkSpecInvalid(f"{name!r} is not a valid interface name (1..15 bytes)")


def create_netns(name: str) -> None:
    """Create the named network namespace (``ip netns add``); existing is fine."""
    if name in netns.listnetns():
        return
    try:
        netns.create(name)
    except OSError as exc:
        raise NetworkFailure(f"cannot create network namespace {name}: {exc}") from exc


def delete_netns(name: str) -> None:
    """Remove the named network namespace; missing is fine."""
    if name not in netns.listnetns():
        return
    try:
        netns.remove(name)
    except OSError as exc:
        raise NetworkFailure(f"cannot remove network namespace {name}: {exc}") from exc


def list_netns() -> list[str]:
    return sorted(netns.listnetns())


class HostLinks:
    """Link operations in one network namespace (``None``: the host's)."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace
        self._local = threading.local()

    def _where(self) -> str:
        return f" in namespace {self.namespace}" if self.namespace else ""

    def _open(self, what: str) -> Any:
        try:
            return IPRoute(netns=self.namespace) if self.namespace else IPRoute()
        except (OSError, NetlinkError) as exc:
            raise NetworkFailure(f"cannot open netlink{self._where()} to {what}: {exc}") from exc

    @contextlib.contextmanager
    def session(self) -> Iterator[HostLinks]:
        """Share one netlink socket among the calls made inside, on this thread (opening
        one costs more than most requests on it)."""
        if getattr(self._local, "ipr", None) is not None:
            yield self
            return
        self._local.ipr = self._open("open a session")
        try:
            yield self
        finally:
            ipr, self._local.ipr = self._local.ipr, None
            ipr.close()

    @contextlib.contextmanager
    def _ipr(self, what: str) -> Iterator[Any]:
        shared = getattr(self._local, "ipr", None)
        ipr = shared if shared is not None else self._open(what)
        try:
            yield ipr
        except NetlinkError as exc:
            raise NetworkFailure(f"cannot {what}{self._where()}: {exc.args[-1]}") from exc
        finally:
            if shared is None:
                ipr.close()

    def _run(self, what: str, call: Callable[[Any], T]) -> T:
        with self._ipr(what) as ipr:
            return call(ipr)

    # -- queries ------------------------------------------------------------------------

    def index(self, name: str) -> int | None:
        found = self._run(f"look up {name}", lambda ipr: ipr.link_lookup(ifname=name))
        return int(found[0]) if found else None

    def exists(self, name: str) -> bool:
        return self.index(name) is not None

    def info(self, name: str) -> dict[str, Any]:
        """``ifname``, ``kind``, ``mtu``, ``mac``, ``up``, ``master`` (index) of a link."""
        index = self._require(name)
        msg = self._run(f"read {name}", lambda ipr: ipr.link("get", index=index)[0])
        linkinfo = msg.get_attr("IFLA_LINKINFO")
        return {
            "ifname": msg.get_attr("IFLA_IFNAME"),
            "kind": linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None,
            "mtu": msg.get_attr("IFLA_MTU"),
            "mac": msg.get_attr("IFLA_ADDRESS"),
            "up": bool(msg["flags"] & 1),
            "master": msg.get_attr("IFLA_MASTER"),
        }

    def names(self, prefix: str = "") -> list[str]:
        """Names of the links starting with ``prefix`` (for sweeping leftovers)."""
        msgs = self._run("list links", lambda ipr: list(ipr.get_links()))
        found = (m.get_attr("IFLA_IFNAME") for m in msgs)
        return sorted(n for n in found if n and n.startswith(prefix))

    def addresses(self, name: str) -> list[str]:
        """Addresses of a link as ``address/prefix``."""
        index = self._require(name)
        msgs = self._run(f"list addresses of {name}", lambda ipr: ipr.get_addr(index=index))
        return [f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}" for m in msgs]

    def _require(self, name: str) -> int:
        index = self.index(name)
        if index is None:
            where = f" in namespace {self.namespace}" if self.namespace else ""
            raise NetworkFailure(f"link {name} does not exist{where}")
        return index

    # -- creation -----------------------------------------------------------------------

    def create_tap(self, name: str, mtu: int = 1500, uid: int = 0, gid: int = 0) -> None:
        """A persistent tap (IFF_TAP, no packet info) owned by ``uid``/``gid``, with ``mtu``.

        Its file descriptor is opened later by QEMU (libvirt ``<interface type='ethernet'>``).
        """
        _check_name(name)
        if not self.exists(name):
            self._run(
                f"create tap {name}",
                lambda ipr: ipr.link(
                    "add",
                    ifname=name,
                    kind="tuntap",
                    mode="tap",
                    uid=uid,
                    gid=gid,
                    ifr={"no_pi": True},
                ),
            )
        self.set_mtu(name, mtu)

    def create_veth(
        self, name: str, peer: str, peer_namespace: str | None = None, mtu: int = 1500
    ) -> None:
        """A veth pair; the peer end is created straight in ``peer_namespace`` if given."""
        _check_name(name)
        _check_name(peer)
        if not self.exists(name):
            peer_attrs: dict[str, Any] = {"ifname": peer, "mtu": mtu}
            if peer_namespace:
                peer_attrs["net_ns_fd"] = peer_namespace
            self._run(
                f"create veth {name}/{peer}",
                lambda ipr: ipr.link("add", ifname=name, kind="veth", mtu=mtu, peer=peer_attrs),
            )

    def create_vlan(self, parent: str, vlan_id: int, name: str | None = None) -> str:
        """A VLAN subinterface of ``parent`` (``ip link add link P name N type vlan id V``)."""
        if not 1 <= vlan_id <= 4094:
            raise NetworkSpecInvalid(f"vlan id {vlan_id} is outside 1..4094")
        name = name or f"{parent[: IFNAME_MAX - 5]}.{vlan_id}"
        _check_name(name)
        if not self.exists(name):
            link = self._require(parent)
            self._run(
                f"create vlan {name} on {parent}",
                lambda ipr: ipr.link("add", ifname=name, kind="vlan", link=link, vlan_id=vlan_id),
            )
        return name

    def create_bridge(self, name: str) -> None:
        """A Linux bridge (for hosts that wire uplinks through one)."""
        _check_name(name)
        if not self.exists(name):
            self._run(
                f"create bridge {name}", lambda ipr: ipr.link("add", ifname=name, kind="bridge")
            )

    def enslave(self, name: str, bridge: str) -> None:
        index, master = self._require(name), self._require(bridge)
        self._run(
            f"add {name} to {bridge}", lambda ipr: ipr.link("set", index=index, master=master)
        )

    # -- changes ------------------------------------------------------------------------

    def set_up(self, name: str, up: bool = True) -> None:
        index = self._require(name)
        state = "up" if up else "down"
        self._run(f"set {name} {state}", lambda ipr: ipr.link("set", index=index, state=state))

    def set_mtu(self, name: str, mtu: int) -> None:
        index = self._require(name)
        self._run(f"set mtu {mtu} on {name}", lambda ipr: ipr.link("set", index=index, mtu=mtu))

    def set_mac(self, name: str, mac: str) -> None:
        index = self._require(name)
        self._run(f"set mac {mac} on {name}", lambda ipr: ipr.link("set", index=index, address=mac))

    def add_address(self, name: str, cidr: str) -> None:
        """Add ``address/prefix`` to a link; already present is fine."""
        iface = ipaddress.ip_interface(cidr)
        index = self._require(name)
        if str(iface) in self.addresses(name):
            return
        self._run(
            f"add {cidr} to {name}",
            lambda ipr: ipr.addr(
                "add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen
            ),
        )

    def move_to_namespace(self, name: str, namespace: str) -> None:
        index = self._require(name)
        self._run(
            f"move {name} to namespace {namespace}",
            lambda ipr: ipr.link("set", index=index, net_ns_fd=namespace),
        )

    def delete(self, name: str) -> bool:
        """Delete a link; returns whether it existed. (Deleting one veth end removes both.)"""
        index = self.index(name)
        if index is None:
            return False
        try:
            self._run(f"delete {name}", lambda ipr: ipr.link("del", index=index))
        except NetworkFailure as exc:
            if isinstance(exc.__cause__, NetlinkError) and exc.__cause__.code == errno.ENODEV:
                return False
            raise
        return True

    # -- offloads -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _ethtool(self, name: str) -> Iterator[IoctlEthtool]:
        ioc = IoctlEthtool()
        try:
            if self.namespace:
                ioc.sock.close()
                ioc.sock = netns.create_socket(
                    self.namespace, family=socket.AF_INET, socket_type=socket.SOCK_DGRAM
                )
            ioc.change_ifname(name)
            yield ioc
        except NoSuchDevice as exc:
            raise NetworkFailure(f"ethtool: link {name} does not exist") from exc
        except (OSError, NotSupportedError) as exc:
            raise NetworkFailure(f"ethtool on {name} failed: {exc!r}") from exc
        finally:
            ioc.close()

    def tx_checksum(self, name: str) -> bool:
        """Whether any TX checksum offload is on (``ethtool -k``'s tx-checksumming)."""
        with self._ethtool(name) as ioc:
            return any(
                enabled
                for feature, enabled, *_ in ioc.get_features()
                if feature.startswith("tx-checksum")
            )

    def set_tx_checksum(self, name: str, enabled: bool) -> None:
        """``ethtool -K NAME tx on|off``: every changeable tx-checksum-* feature."""
        with self._ethtool(name) as ioc:
            features = ioc.get_features()
            changed = False
            for feature, current, available, *_ in features:
                if feature.startswith("tx-checksum") and available and current != enabled:
                    features[feature] = enabled
                    changed = True
            if changed:
                # the kernel sets what it can and may answer "not all": checked below
                with contextlib.suppress(NotSupportedError):
                    ioc.set_features(features)
        if self.tx_checksum(name) != enabled:
            state = "on" if enabled else "off"
            raise NetworkFailure(f"TX checksum offload on {name} cannot be turned {state}")
